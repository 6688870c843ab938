import CTLive  // and nothing else: everything the SDK's public API takes and returns comes with it
import Foundation
import XCTest

/// The README's SDK example, compiled in a target that imports `CTLive` alone.
///
/// The example is copied between the markers below; ``testTheREADMEShowsThisExample`` fails when
/// the README's example and this copy differ, so the README never shows code that does not compile.
final class SDKExampleTests: XCTestCase {
    // Never called: the example talks to a hub and waits for events forever. Compiling it is the test.
    func readmeExample() async throws {
        // README example begin
        let customer = CTLiveClient(configuration: ClientConfiguration(
            hub: "tcp://127.0.0.1:5555", hello: Hello(role: .customer, userId: "C1")))
        try await customer.connect()
        let contact = try await customer.openContact(agent: "A1", attributes: ["tier": "gold"])

        contact.on("responseVideoUpgrade") { event in
            print("answer:", event.response!)          // media is engaged automatically on true
        }
        contact.bindVideoParticipantEvent { event, eventName, participant in
            print(eventName, participant.participants.map(\.name))   // onJoined, onLeft, onDynamicChanged, onLoudestChanged
        }
        try await contact.sendChat("Can we talk on video?")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        // ... later
        try await contact.videoDisconnectAndDestruct()   // the page's videoDisconnecAndDestruct() is kept as a deprecated alias
        for await event in customer.events { print(event.name) }   // or every event as an AsyncStream
        // README example end
    }

    func testTheREADMEShowsThisExample() throws {
        let here = URL(fileURLWithPath: #filePath)
        let readme = try String(contentsOf: here.appendingPathComponent("../../../README.md").standardized, encoding: .utf8)
        let source = try String(contentsOf: here, encoding: .utf8)
        guard let start = source.range(of: "// README example begin\n"), let end = source.range(of: "        // README example end") else {
            return XCTFail("markers not found")
        }
        let copied = source[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : String($0) }.joined(separator: "\n")
        XCTAssertTrue(readme.contains("```swift\nimport CTLive\n\n" + copied + "```"), "README's SDK example differs from this test's copy")
    }
}
