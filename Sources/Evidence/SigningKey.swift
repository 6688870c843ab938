import Crypto
import Foundation

/// An Ed25519 key pair that signs what a recorder writes (docs/EVIDENCE.md).
///
/// The private key file (mode 0600) and the public key file beside it (`FILE.pub`) are JSON:
/// `{"algorithm":"Ed25519","keyID":"…","privateKey":"<base64 of the 32-byte seed>"}` and
/// `{"algorithm":"Ed25519","keyID":"…","publicKey":"<base64 of the 32-byte key>"}`. The key id is the
/// first 16 hex digits of the SHA-256 of the raw public key.
public struct SigningKey: Sendable {
    /// The 32-byte seed (swift-crypto's key types are not Sendable: they are made when used).
    private let raw: Data
    private var key: Curve25519.Signing.PrivateKey { try! Curve25519.Signing.PrivateKey(rawRepresentation: raw) }  // checked in init
    public var publicKey: PublicKey { PublicKey(raw: key.publicKey.rawRepresentation) }
    public var keyID: String { publicKey.keyID }

    private init(_ key: Curve25519.Signing.PrivateKey) { raw = key.rawRepresentation }

    /// A new random key.
    public static func generate() -> SigningKey { SigningKey(Curve25519.Signing.PrivateKey()) }

    /// Signs `text`'s UTF-8 bytes (a record's signing string); base64 of the 64-byte signature.
    public func sign(_ text: String) throws -> String {
        try key.signature(for: Data(text.utf8)).base64EncodedString()
    }

    /// Reads a private key file.
    public static func load(path: String) throws -> SigningKey {
        let file = try KeyFile.read(path)
        guard let encoded = file.privateKey, let raw = Data(base64Encoded: encoded) else {
            throw EvidenceError("\(path): not an Ed25519 private key file")
        }
        do { return SigningKey(try Curve25519.Signing.PrivateKey(rawRepresentation: raw)) } catch {
            throw EvidenceError("\(path): bad Ed25519 private key (\(error))")
        }
    }

    /// Writes the private key to `path` (mode 0600; an existing file is not overwritten) and the public key to `path.pub`.
    public func write(to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw EvidenceError("\(path) exists: not overwriting a key") }
        let file = KeyFile(algorithm: "Ed25519", keyID: keyID, privateKey: raw.base64EncodedString(), publicKey: nil)
        guard FileManager.default.createFile(atPath: path, contents: try file.encoded(), attributes: [.posixPermissions: 0o600]) else {
            throw EvidenceError("cannot write \(path)")
        }
        try publicKey.write(to: path + ".pub")
    }
}

/// An Ed25519 public key: what a verifier trusts.
public struct PublicKey: Sendable, Equatable {
    /// The raw 32-byte key.
    private let raw: Data
    init(raw: Data) { self.raw = raw }

    public var keyID: String { SHA256.hash(data: raw).hex.prefix(16).description }
    /// Base64 of the raw 32-byte key.
    public var base64: String { raw.base64EncodedString() }

    /// Whether `signature` (base64) signs `text`'s UTF-8 bytes.
    public func verifies(_ signature: String, of text: String) -> Bool {
        guard let signature = Data(base64Encoded: signature), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
            return false
        }
        return key.isValidSignature(signature, for: Data(text.utf8))
    }

    public init(base64: String) throws {
        guard let raw = Data(base64Encoded: base64), (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil else {
            throw EvidenceError("not an Ed25519 public key")
        }
        self.raw = raw
    }

    /// Reads a public key file (or the public half of a private key file).
    public static func load(path: String) throws -> PublicKey {
        let file = try KeyFile.read(path)
        if let encoded = file.publicKey { return try PublicKey(base64: encoded) }
        if file.privateKey != nil { return try SigningKey.load(path: path).publicKey }
        throw EvidenceError("\(path): not an Ed25519 key file")
    }

    public func write(to path: String) throws {
        let file = KeyFile(algorithm: "Ed25519", keyID: keyID, privateKey: nil, publicKey: base64)
        try file.encoded().write(to: URL(fileURLWithPath: path))
    }
}

struct KeyFile: Codable {
    var algorithm: String
    var keyID: String
    var privateKey: String?
    var publicKey: String?

    static func read(_ path: String) throws -> KeyFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw EvidenceError("cannot read \(path)") }
        guard let file = try? JSONDecoder().decode(KeyFile.self, from: data), file.algorithm == "Ed25519" else {
            throw EvidenceError("\(path): not an Ed25519 key file")
        }
        return file
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(self) + Data("\n".utf8)
    }
}

/// What is wrong, in a sentence.
public struct EvidenceError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Digest {
    /// Lower-case hex.
    public var hex: String { map { String(format: "%02x", $0) }.joined() }
}
