import Digest
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The chain across recordings: `<recordings>/chain-<key id>.jsonl`, one signed entry per finished
/// recording (and, later, per deletion), each carrying the hash of the one before. Removing,
/// reordering or substituting a recording breaks it at a named entry (docs/EVIDENCE.md).
///
/// Appending takes an `flock` on the file: several writers with the same key (workers of one bot, or
/// bots sharing a folder) extend one chain in turn. The chain is the file: a restarted bot goes on from
/// its last entry.
public enum Chain {
    public static func fileName(keyID: String) -> String { "chain-\(keyID).jsonl" }

    /// Appends an entry for `recording` (whose final manifest has SHA-256 `manifestSHA256`).
    /// - Parameters:
    ///   - kind: `recording` (a finished recording) or `tombstone` (its media was removed, `reason` says why).
    public static func append(root: String, key: SigningKey, kind: String = "recording", recording: String, manifestSHA256: String,
                              reason: String? = nil, time: Date = Date()) throws -> ChainEntry {
        let path = root + "/" + fileName(keyID: key.keyID)
        let descriptor = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw EvidenceError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX) == 0 else { throw EvidenceError("cannot lock \(path)") }
        defer { flock(descriptor, LOCK_UN) }
        let last = try entries(path: path).last
        var entry = ChainEntry(seq: (last?.seq ?? 0) + 1, kind: kind, recording: recording, manifestSHA256: manifestSHA256,
                               previous: last?.hash ?? ChainEntry.genesis, time: EvidenceTime.string(time), keyID: key.keyID, reason: reason,
                               signature: "")
        entry.signature = try key.sign(entry.signingString)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(entry)
        line.append(0x0a)
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == line.count else { throw EvidenceError("cannot write \(path): \(String(cString: strerror(errno)))") }
        return entry
    }

    /// The entries of a chain file, in order (a line cut by a crash at the end is left out).
    public static func entries(path: String) throws -> [ChainEntry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return try entries(data: data, name: (path as NSString).lastPathComponent)
    }

    /// The entries of a chain file's bytes, `name` naming it in errors.
    public static func entries(data: Data, name: String) throws -> [ChainEntry] {
        let lines = data.split(separator: 0x0a)
        var out: [ChainEntry] = []
        for (index, line) in lines.enumerated() {
            guard let entry = try? JSONDecoder().decode(ChainEntry.self, from: Data(line)) else {
                if index == lines.count - 1 { break }
                throw EvidenceError("\(name): line \(index + 1) is not a chain entry")
            }
            out.append(entry)
        }
        return out
    }

    /// Checks a chain file against trusted keys: signatures, sequence, links. Returns the entries that
    /// hold and the first problem, naming the entry where the chain breaks.
    public static func verify(path: String, trusted: [PublicKey]) -> (entries: [ChainEntry], problem: String?) {
        let name = (path as NSString).lastPathComponent
        let all: [ChainEntry]
        do { all = try entries(path: path) } catch { return ([], "\(error)") }
        let byID = Dictionary(trusted.map { ($0.keyID, $0) }, uniquingKeysWith: { first, _ in first })
        var previous = ChainEntry.genesis
        var held: [ChainEntry] = []
        for (index, entry) in all.enumerated() {
            guard let key = byID[entry.keyID] else { return (held, "\(name) entry \(entry.seq): signed by key \(entry.keyID), which is not trusted") }
            guard key.verifies(entry.signature, of: entry.signingString) else {
                return (held, "\(name) entry \(entry.seq): the signature does not verify (the entry was altered)")
            }
            guard entry.seq == index + 1, entry.previous == previous else {
                return (held, "\(name) entry \(entry.seq) (line \(index + 1)): it does not follow the entry before it (an entry removed or reordered)")
            }
            previous = entry.hash
            held.append(entry)
        }
        return (held, nil)
    }
}

/// One line of a chain file.
public struct ChainEntry: Codable, Sendable, Equatable {
    public static let genesis = String(repeating: "0", count: 64)
    public var seq: Int
    /// `recording` (a finished recording's manifest).
    public var kind: String
    public var recording: String
    public var manifestSHA256: String
    /// The hash of the entry before (``genesis`` for the first).
    public var previous: String
    public var time: String
    public var keyID: String
    /// Why, for a tombstone (`retention: older than 30 days`).
    public var reason: String?
    public var signature: String

    public var signingString: String {
        ["ctlive-chain-v1", String(seq), kind, recording, manifestSHA256, previous, time, keyID, reason ?? ""].joined(separator: "\n")
    }

    /// This entry's hash: SHA-256 of its signing string, as the next entry's `previous`.
    public var hash: String { SHA256.hex(of: Data(signingString.utf8)) }
}
