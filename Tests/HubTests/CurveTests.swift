import CTLive
import Foundation
import Hub
import Signaling
import XCTest
import ZeroMQ

final class CurveTests: XCTestCase {
    func testKeysDecideIdentityAndUnknownKeysCannotConnect() async throws {
        let server = try CurveKeyPair.generate()
        let customerKey = try CurveKeyPair.generate()
        let agentKey = try CurveKeyPair.generate()
        let strangerKey = try CurveKeyPair.generate()
        let keys = KeysFile(server: server, clients: [
            .init(publicKey: customerKey.publicKey, role: .customer, userId: "C1"),
            .init(publicKey: agentKey.publicKey, role: .agent, userId: "A1"),
        ])
        let harness = try HubHarness(keys: keys)
        func curve(_ pair: CurveKeyPair) -> CurveClientKeys {
            CurveClientKeys(serverPublicKey: server.publicKey, publicKey: pair.publicKey, secretKey: pair.secretKey)
        }

        let agent = harness.client(.agent, "A1", curve: curve(agentKey))
        try await agent.connect()
        let agentEvents = EventReader(agent)
        let customer = harness.client(.customer, "C1", curve: curve(customerKey))
        try await customer.connect()
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        try await agentEvents.next("request over CURVE") { $0.name == "requestVideoUpgrade" }

        // The customer's key cannot claim to be agent A2, nor customer C2.
        for (role, id) in [(Role.agent, "A2"), (.customer, "C2")] {
            let forged = harness.client(role, id, curve: curve(customerKey))
            do {
                try await forged.connect()
                XCTFail("\(role):\(id) accepted with C1's key")
            } catch {
                guard case .refused(let refusal) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(refusal.code, .identityMismatch)
            }
        }

        // An unknown key gets no answer at all: the handshake is refused.
        let stranger = harness.client(.customer, "C9", curve: curve(strangerKey))
        do {
            try await stranger.connect()
            XCTFail("unknown key connected")
        } catch {
            guard case .timedOut = error else { return XCTFail("\(error)") }
        }
        // A plain-text client cannot talk to a CURVE hub either.
        let plain = harness.client(.customer, "C1")
        do {
            try await plain.connect()
            XCTFail("plain client connected")
        } catch {
            guard case .timedOut = error else { return XCTFail("\(error)") }
        }
    }

    func testKeysFileIsChecked() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("keys.json").path
        let server = try CurveKeyPair.generate()
        let other = try CurveKeyPair.generate()
        let mismatched = #"{"server":{"publicKey":"\#(other.publicKey)","secretKey":"\#(server.secretKey)"},"clients":[]}"#
        try mismatched.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try KeysFile.load(path: path))
        let good = #"{"server":{"publicKey":"\#(server.publicKey)","secretKey":"\#(server.secretKey)"},"clients":[{"publicKey":"short","role":"agent","userId":"A1"}]}"#
        try good.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try KeysFile.load(path: path)) { XCTAssertTrue("\($0)".contains("A1")) }
    }
}
