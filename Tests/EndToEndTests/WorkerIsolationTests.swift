import Bot
import CTLive
import Foundation
import Recorder
import Signaling
import SessionKit
import TestKit
import Timestamps
import XCTest

/// Each session is recorded in a worker process: a decoder crash (SIGSEGV) costs its session a moment
/// of recording, continued as the next part, and costs the other sessions nothing.
final class WorkerIsolationTests: XCTestCase {
    /// The pid of the recording worker whose command line names `roomID`.
    private func worker(of roomID: String) -> pid_t? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.contains("record-worker"), arguments.contains(roomID) { return pid }
        }
        return nil
    }

    private func manifest(_ path: String) throws -> RecordingManifest {
        try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func testAWorkerKilledWithSIGSEGVCostsItsSessionAMomentAndTheOthersNothing() async throws {
        let root = try temporaryDirectory(self)
        let session = try LiveSession()
        let bot = try await session.bot(root: root, size: (640, 360))
        var contacts: [(customer: CTLiveClient, agent: CTLiveClient, contact: Contact)] = []
        for index in 1...3 {
            let agent = try await session.acceptingAgent("A\(index)", color: "red", tone: 660)
            let customer = try await session.participant(.customer, "C\(index)", color: "blue", tone: 440)
            let contact = try await customer.openContact(agent: "A\(index)")
            try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
            contacts.append((customer, agent, contact))
        }
        for entry in contacts { try await eventually("the room of \(entry.contact.id)") { entry.contact.roomID != nil } }
        let rooms = contacts.map { $0.contact.roomID! }
        try await eventually("three workers") { rooms.allSatisfy { self.worker(of: $0) != nil } }
        try await Task.sleep(for: .seconds(2))

        let victim = rooms[1]
        let pid = try XCTUnwrap(worker(of: victim))
        kill(pid, SIGSEGV)
        try await eventually("a new worker for the victim") { self.worker(of: victim).map { $0 != pid } ?? false }
        try await Task.sleep(for: .seconds(3))
        for entry in contacts {
            try await entry.contact.videoDisconnectAndDestruct()
            try await entry.agent.contacts[entry.contact.id]!.videoDisconnectAndDestruct()
        }
        try await eventually("three finished recordings", timeout: .seconds(20)) { bot.finished.count == 3 }

        for result in bot.finished {
            let part = try manifest(result.manifestPath)
            if part.session == victim {
                XCTAssertEqual(part.part, 2, "the victim's session goes on as its second part")
                let previous = try XCTUnwrap(part.previousPart)
                let first = try manifest(result.directory + "/../" + previous + "/manifest.json")
                XCTAssertEqual(first.status, "interrupted", "the killed part is completed as interrupted")
                XCTAssertEqual(first.part, 1)
                XCTAssertGreaterThan(first.durationSeconds ?? 0, 1, "the part before the crash is kept")
                let end = try XCTUnwrap(first.wallClockEnd.flatMap(parseTime)), start = try XCTUnwrap(parseTime(part.wallClockStart))
                XCTAssertLessThan(start.timeIntervalSince(end), 2, "at most 2 s of the session unrecorded")
                XCTAssertEqual(try probe(result.recordingPath).duration, 3.5, accuracy: 1.2)
            } else {
                XCTAssertEqual(part.status, "finished")
                XCTAssertNil(part.part.flatMap { $0 > 1 ? $0 : nil }, "the other sessions were not touched")
                XCTAssertEqual(try probe(result.recordingPath).duration, 5.5, accuracy: 1.2, "the other sessions are recorded whole")
            }
        }
        _ = contacts
    }

    func testAHungWorkerIsReplacedWithinSeconds() async throws {
        let root = try temporaryDirectory(self)
        let session = try LiveSession()
        let bot = try await session.bot(root: root, size: (640, 360))
        let agent = try await session.acceptingAgent("A1", color: "red", tone: 660)
        let customer = try await session.participant(.customer, "C1", color: "blue", tone: 440)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("the room") { contact.roomID != nil }
        let room = contact.roomID!
        try await eventually("the worker") { self.worker(of: room) != nil }
        try await Task.sleep(for: .seconds(1))
        let pid = try XCTUnwrap(worker(of: room))
        kill(pid, SIGSTOP)  // hung: alive, silent
        let stopped = ContinuousClock.now
        try await eventually("a new worker", timeout: .seconds(6)) { self.worker(of: room).map { $0 != pid } ?? false }
        XCTAssertLessThan(ContinuousClock.now - stopped, .seconds(4), "the watchdog replaces a silent worker in about 2 s")
        try await Task.sleep(for: .seconds(1))
        try await contact.videoDisconnectAndDestruct()
        try await agent.contacts[contact.id]!.videoDisconnectAndDestruct()
        try await eventually("the second part") { bot.finished.count == 1 }
        XCTAssertEqual(try manifest(bot.finished[0].manifestPath).part, 2)
    }

    private func parseTime(_ text: String) -> Date? { ISO8601.parse(text) }
}
