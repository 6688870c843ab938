import Digest
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A chain's head, signed by the recorder and handed to a party that is not the recorder (the hub, as a
/// witness that cosigns it). A hash chain alone cannot show that its newest entries were cut off together
/// with their recordings; anyone holding a later checkpoint can (docs/EVIDENCE.md, *Checkpoints*).
public struct ChainCheckpoint: Codable, Sendable, Equatable {
    /// The recorder's key: the chain is `chain-<keyID>.jsonl`.
    public var keyID: String
    public var seq: Int
    /// The hash of entry `seq` (SHA-256 of its signing string).
    public var head: String
    public var time: String
    public var signature: String

    public var signingString: String { ["ctlive-checkpoint-v1", keyID, String(seq), head, time].joined(separator: "\n") }

    public init(keyID: String, seq: Int, head: String, time: String, signature: String) {
        self.keyID = keyID; self.seq = seq; self.head = head; self.time = time; self.signature = signature
    }

    /// The head of the chain `key` writes under `root`, signed; nil when the chain is empty.
    public static func make(root: String, key: SigningKey, time: Date = Date()) throws -> ChainCheckpoint? {
        guard let last = try Chain.entries(path: root + "/" + Chain.fileName(keyID: key.keyID)).last else { return nil }
        return try make(head: last, key: key, time: time)
    }

    /// `head` (an entry of the chain `key` writes), signed.
    public static func make(head last: ChainEntry, key: SigningKey, time: Date = Date()) throws -> ChainCheckpoint {
        var checkpoint = ChainCheckpoint(keyID: key.keyID, seq: last.seq, head: last.hash, time: EvidenceTime.string(time), signature: "")
        checkpoint.signature = try key.sign(checkpoint.signingString)
        return checkpoint
    }
}

/// A checkpoint as a witness keeps it: cosigned with the witness' own key, at the time it was received.
public struct WitnessedCheckpoint: Codable, Sendable, Equatable {
    public var checkpoint: ChainCheckpoint
    public var witnessKeyID: String
    public var witnessTime: String
    public var witnessSignature: String

    public var signingString: String {
        ["ctlive-witness-v1", checkpoint.signingString, checkpoint.signature, witnessTime, witnessKeyID].joined(separator: "\n")
    }

    public static func cosign(_ checkpoint: ChainCheckpoint, key: SigningKey, time: Date = Date()) throws -> WitnessedCheckpoint {
        var witnessed = WitnessedCheckpoint(checkpoint: checkpoint, witnessKeyID: key.keyID, witnessTime: EvidenceTime.string(time), witnessSignature: "")
        witnessed.witnessSignature = try key.sign(witnessed.signingString)
        return witnessed
    }

    /// The lines of a witness log (`ctlive hub --witness-log`), in order; a line cut by a crash at the end is left out.
    public static func read(path: String) throws -> [WitnessedCheckpoint] {
        guard let data = FileManager.default.contents(atPath: path) else { throw EvidenceError("cannot read \(path)") }
        let lines = data.split(separator: 0x0a)
        var out: [WitnessedCheckpoint] = []
        for (index, line) in lines.enumerated() {
            guard let record = try? JSONDecoder().decode(WitnessedCheckpoint.self, from: Data(line)) else {
                if index == lines.count - 1 { break }
                throw EvidenceError("\((path as NSString).lastPathComponent): line \(index + 1) is not a witnessed checkpoint")
            }
            out.append(record)
        }
        return out
    }

    /// Appends one line to the witness log at `path` (one `write(2)`, under `flock`).
    public func append(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(self)
        line.append(0x0a)
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw EvidenceError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX) == 0 else { throw EvidenceError("cannot lock \(path)") }
        defer { flock(descriptor, LOCK_UN) }
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == line.count else { throw EvidenceError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }
}

/// Checks chains against witnessed checkpoints: every checkpoint of a trusted recorder key must still be
/// in that key's chain, entry for entry.
public enum CheckpointCheck {
    /// Problems, each naming the chain and the checkpoint; empty when every checkpoint is found.
    /// - Parameters:
    ///   - witness: the witness' public key; nil checks the recorders' signatures only.
    public static func check(root: String, checkpoints: [WitnessedCheckpoint], trusted: [PublicKey], witness: PublicKey?) -> [String] {
        var problems: [String] = []
        var cosigned: [(ChainCheckpoint, String)] = []
        for (index, witnessed) in checkpoints.enumerated() {
            let name = "checkpoint \(index + 1) (chain-\(witnessed.checkpoint.keyID), entry \(witnessed.checkpoint.seq), witnessed \(witnessed.witnessTime))"
            if let witness {
                guard witnessed.witnessKeyID == witness.keyID, witness.verifies(witnessed.witnessSignature, of: witnessed.signingString) else {
                    problems.append("\(name): the witness' signature does not verify")
                    continue
                }
            }
            cosigned.append((witnessed.checkpoint, name))
        }
        return problems + check(root: root, checkpoints: cosigned, trusted: trusted)
    }

    /// Problems with checkpoints the recorders signed alone (as the fleet catalog keeps them), each checkpoint
    /// given with the name it is reported by.
    public static func check(root: String, checkpoints: [(checkpoint: ChainCheckpoint, name: String)], trusted: [PublicKey]) -> [String] {
        let byID = Dictionary(trusted.map { ($0.keyID, $0) }, uniquingKeysWith: { first, _ in first })
        var problems: [String] = []
        var chains: [String: [ChainEntry]] = [:]
        for (checkpoint, name) in checkpoints {
            guard let key = byID[checkpoint.keyID] else { continue }  // another recorder's chain
            guard key.verifies(checkpoint.signature, of: checkpoint.signingString) else {
                problems.append("\(name): the recorder's signature does not verify")
                continue
            }
            let entries = chains[checkpoint.keyID] ?? ((try? Chain.entries(path: root + "/" + Chain.fileName(keyID: checkpoint.keyID))) ?? [])
            chains[checkpoint.keyID] = entries
            guard checkpoint.seq <= entries.count else {
                problems.append("chain-\(checkpoint.keyID) is cut: it ends at entry \(entries.count), but \(name) shows entry \(checkpoint.seq)")
                continue
            }
            if entries[checkpoint.seq - 1].hash != checkpoint.head {
                problems.append("chain-\(checkpoint.keyID) is not the one checkpointed: entry \(checkpoint.seq) differs from \(name)")
            }
        }
        return problems
    }
}
