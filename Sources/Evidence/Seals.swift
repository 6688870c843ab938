import Digest
import Foundation
import Timestamps

/// Seals while recording: every couple of seconds, a signed record of how many bytes the recording
/// has and the SHA-256 of those bytes, appended to `seals.jsonl` beside it (docs/EVIDENCE.md). The
/// hash runs over the file as it grows, once: no second pass at the end.
public final class Sealer {
    public static let fileName = "seals.jsonl"
    private let recordingPath: String
    private let sealsPath: String
    private let recordingID: String
    private let key: SigningKey
    private let hash = SHA256()
    private var hashed: UInt64 = 0
    private var sequence = 0
    private var input: FileHandle?

    public init(recordingPath: String, recordingID: String, key: SigningKey) {
        self.recordingPath = recordingPath
        self.recordingID = recordingID
        self.key = key
        sealsPath = (recordingPath as NSString).deletingLastPathComponent + "/" + Self.fileName
    }

    /// Bytes sealed so far.
    public var sealedBytes: UInt64 { hashed }

    /// Hashes what was written since the last seal and appends a seal of the whole prefix. Returns the
    /// prefix's SHA-256 (hex). Throws when the seal cannot be written (a full disk).
    @discardableResult
    public func seal(time: Date = Date()) throws -> String {
        if input == nil { input = FileHandle(forReadingAtPath: recordingPath) }
        if let input {
            try input.seek(toOffset: hashed)
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                hash.update(chunk)
                hashed += UInt64(chunk.count)
            }
        }
        let digest = hash.currentHex()
        sequence += 1
        let seal = Seal(recording: recordingID, seq: sequence, bytes: hashed, sha256: digest, time: EvidenceTime.string(time), keyID: key.keyID,
                        signature: "")
        var signed = seal
        signed.signature = try key.sign(seal.signingString)
        var line = try Seal.encoder.encode(signed)
        line.append(0x0a)
        try Self.append(line, to: sealsPath)
        return digest
    }

    private static func append(_ data: Data, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw EvidenceError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == data.count else { throw EvidenceError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }
}

/// One line of `seals.jsonl`.
public struct Seal: Codable, Sendable, Equatable {
    public var recording: String
    public var seq: Int
    public var bytes: UInt64
    public var sha256: String
    public var time: String
    public var keyID: String
    public var signature: String

    /// What is signed: these lines, joined by `\n`, as UTF-8 (docs/EVIDENCE.md).
    public var signingString: String {
        ["ctlive-seal-v1", recording, String(seq), String(bytes), sha256, time, keyID].joined(separator: "\n")
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// The seals in `directory`, in order; nil when there is no seals file.
    public static func read(directory: String) throws -> [Seal]? {
        let path = directory + "/" + Sealer.fileName
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        var seals: [Seal] = []
        for (number, line) in data.split(separator: 0x0a).enumerated() where !line.isEmpty {
            // A line cut by a crash is the end of the seals, not an error.
            guard let seal = try? JSONDecoder().decode(Seal.self, from: Data(line)) else {
                if number == data.split(separator: 0x0a).count - 1 { break }
                throw EvidenceError("\(path): line \(number + 1) is not a seal")
            }
            seals.append(seal)
        }
        return seals
    }
}

/// The signature of a recording's final manifest: `manifest.sig` beside `manifest.json`.
public struct ManifestSignature: Codable, Sendable {
    public static let fileName = "manifest.sig"
    public var algorithm = "Ed25519"
    public var keyID: String
    /// SHA-256 of `manifest.json`'s bytes, exactly as they are on disk.
    public var manifestSHA256: String
    public var signature: String

    public var signingString: String { ["ctlive-manifest-v1", manifestSHA256, keyID].joined(separator: "\n") }

    /// Signs the manifest in `directory` as it is on disk; returns the manifest's SHA-256.
    @discardableResult
    public static func sign(directory: String, key: SigningKey) throws -> String {
        guard let bytes = FileManager.default.contents(atPath: directory + "/manifest.json") else {
            throw EvidenceError("cannot read \(directory)/manifest.json")
        }
        var record = ManifestSignature(keyID: key.keyID, manifestSHA256: SHA256.hex(of: bytes), signature: "")
        record.signature = try key.sign(record.signingString)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(record).write(to: URL(fileURLWithPath: directory + "/" + fileName), options: .atomic)
        return record.manifestSHA256
    }

    public static func read(directory: String) throws -> ManifestSignature? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + fileName) else { return nil }
        do { return try JSONDecoder().decode(ManifestSignature.self, from: data) } catch {
            throw EvidenceError("\(directory)/\(fileName) is not a manifest signature")
        }
    }
}

/// Times in evidence records: ISO 8601, UTC, milliseconds.
public enum EvidenceTime {
    public static func string(_ date: Date) -> String { ISO8601.utcMilliseconds(date) }
}
