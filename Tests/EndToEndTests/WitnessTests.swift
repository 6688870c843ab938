import Bot
import CTLive
import Evidence
import Foundation
import Hub
import SessionKit
import Signaling
import TestKit
import XCTest

/// The chain's head leaves the recorder: a bot with a signing key checkpoints its chain to the hub, which
/// cosigns each checkpoint into its witness log with its own key.
final class WitnessTests: XCTestCase {
    func testTheHubWitnessesTheRecordersChainHeadAtEachRecordingsEnd() async throws {
        let root = try temporaryDirectory(self)
        let witnessKey = SigningKey.generate()
        let log = root + "/witness.jsonl"
        let session = try LiveSession(witness: ChainWitness(key: witnessKey, logPath: log))
        let keyPath = root + "/bot.key"
        let key = SigningKey.generate()
        try key.write(to: keyPath)
        let recordings = root + "/Recordings"
        let bot = try await session.bot(root: recordings, signingKey: keyPath)
        let agent = try await session.acceptingAgent("A1", color: "red", tone: 660)
        let customer = try await session.participant(.customer, "C1", color: "blue", tone: 440)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await Task.sleep(for: .seconds(2))
        try await contact.videoDisconnectAndDestruct()
        try await agent.contacts[contact.id]?.videoDisconnectAndDestruct()
        try await eventually("the recording", timeout: .seconds(20)) { !bot.finished.isEmpty }

        // Within the bot's report interval the hub holds a cosigned checkpoint of the chain's new head.
        let chain = recordings + "/" + Chain.fileName(keyID: key.keyID)
        try await eventually("a witnessed checkpoint of the head", timeout: .seconds(15)) {
            guard let head = try? Chain.entries(path: chain).last, let witnessed = try? WitnessedCheckpoint.read(path: log) else { return false }
            return witnessed.contains { $0.checkpoint.seq == head.seq && $0.checkpoint.head == head.hash }
        }
        let witnessed = try WitnessedCheckpoint.read(path: log)
        XCTAssertTrue(witnessed.allSatisfy { $0.witnessKeyID == witnessKey.keyID })
        XCTAssertEqual(CheckpointCheck.check(root: recordings, checkpoints: witnessed, trusted: [key.publicKey], witness: witnessKey.publicKey), [])
        // Signed by the recorder's key, cosigned by the hub's: neither alone could have made it.
        XCTAssertFalse(CheckpointCheck.check(root: recordings, checkpoints: witnessed, trusted: [key.publicKey], witness: key.publicKey).isEmpty)
    }
}
