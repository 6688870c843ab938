import Bot
import CTLive
import Foundation
import Recorder
import Signaling
import Synchronization
import SessionKit
import TestKit
import XCTest

/// A full disk is a clear error: the room is taken over by another recorder, the members hear why,
/// and the bot takes no room until it can write again, then takes rooms by itself.
final class DiskFullTests: XCTestCase {
    func testAFullDiskHandsTheRoomOverAndTheBotRecoversWhenSpaceReturns() async throws {
        let root = try temporaryDirectory(self)
        let small = root + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        // A small file system of our own (root may mount a tmpfs; elsewhere the test cannot run).
        guard (try? runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", small]))?.status == 0 else {
            throw XCTSkip("cannot mount a tmpfs here (needs root)")
        }
        defer { _ = try? runCommand("/bin/umount", ["-l", small]) }

        let session = try LiveSession()
        var configuration = BotConfiguration(hub: session.endpoint, userId: "full")
        configuration.recordingsRoot = small
        configuration.composite = .live
        (configuration.width, configuration.height) = (640, 360)
        configuration.minimumFreeBytes = 1 << 20
        let full = RecorderBot(configuration: configuration, policy: nil, logger: quietLogger("full"))
        try await full.start()

        let agent = try await session.acceptingAgent("A1", color: "red", tone: 660)
        let customer = try await session.participant(.customer, "C1", color: "blue", tone: 440)
        let heard = RecordingStatusLog(customer)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("recording on the small disk") { heard.all.map(\.status) == [.recording] }
        let spare = try await session.bot(root: root + "/spare", size: (640, 360))

        // Fill the disk: the next fragment cannot be written.
        let filler = small + "/filler"
        _ = try runCommand("/usr/bin/fallocate", ["-l", "16m", filler])
        _ = try? runCommand("/bin/dd", ["if=/dev/zero", "of=\(filler)-rest", "bs=64k"])
        try await eventually("taken over", timeout: .seconds(10)) { heard.all.map(\.status) == [.recording, .interrupted, .recording] }
        let interrupted = heard.all[1]
        XCTAssertEqual(interrupted.recorder, "recorder:full")
        XCTAssertTrue(interrupted.reason?.localizedCaseInsensitiveContains("space") ?? false, interrupted.reason ?? "no reason")
        XCTAssertEqual(heard.all[2].recorder, "recorder:\(spare.configuration.userId)")

        // Space returns: the bot takes rooms again by itself (the spare one is busy, so the next room is the recovered bot's).
        try FileManager.default.removeItem(atPath: filler)
        try? FileManager.default.removeItem(atPath: filler + "-rest")
        try await Task.sleep(for: .seconds(3))
        let second = try await session.acceptingAgent("A2", color: "green", tone: 880)
        let newcomer = try await session.participant(.customer, "C2", color: "yellow", tone: 990)
        let heard2 = RecordingStatusLog(newcomer)
        let contact2 = try await newcomer.openContact(agent: "A2")
        try await contact2.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("recorded by the recovered bot", timeout: .seconds(10)) { heard2.all.last?.status == .recording }
        XCTAssertEqual(heard2.all.last?.recorder, "recorder:full")

        // The part cut by the full disk says so, with the cause and the failed writes counted.
        let cut = try XCTUnwrap(FileManager.default.enumerator(atPath: small)?.compactMap { $0 as? String }
            .first { $0.hasSuffix("/\(contact.roomID ?? "?")/manifest.json") })
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: small + "/" + cut)))
        XCTAssertEqual(manifest.status, "failed")
        XCTAssertGreaterThan(manifest.errors.writeErrors, 0)
        XCTAssertTrue(manifest.problems.contains { $0.localizedCaseInsensitiveContains("space") }, "\(manifest.problems)")
        await full.stop()
        await spare.stop()
        _ = (agent, second, contact)
    }
}
