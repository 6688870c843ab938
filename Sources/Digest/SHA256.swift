import Crypto
import Foundation

/// An incremental SHA-256 (swift-crypto), as hex.
///
/// A class over swift-crypto's value type: it is handed around while a file is read, and a snapshot
/// (``currentHex()``) gives the digest of what was read so far without spending it.
public final class SHA256 {
    private var hasher = Crypto.SHA256()

    public init() {}

    public func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    public func update(_ data: some DataProtocol) {
        for region in data.regions { region.withUnsafeBytes { update($0) } }
    }

    /// The digest of everything so far, as 64 lowercase hex digits; more may be added afterwards.
    public func currentHex() -> String {
        let copy = hasher
        return Self.hex(copy.finalize())
    }

    /// Finishes the digest and returns it as 64 lowercase hex digits.
    public func finalizeHex() -> String { currentHex() }

    /// The SHA-256 of `data`, as hex.
    public static func hex(of data: some DataProtocol) -> String {
        let sha = SHA256()
        sha.update(data)
        return sha.finalizeHex()
    }

    /// The SHA-256 of the file at `path`, read in 1 MiB chunks, as hex.
    public static func hex(ofFileAt path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        let sha = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { sha.update(chunk) }
        return sha.finalizeHex()
    }

    private static func hex(_ digest: Crypto.SHA256.Digest) -> String { digest.map { String(format: "%02x", $0) }.joined() }
}
