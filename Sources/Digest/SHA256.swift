import CFFmpeg
import Foundation

/// An incremental SHA-256, computed by libavutil (so we need no crypto package).
///
/// One instance owns one `AVSHA` context, freed in `deinit`.
public final class SHA256 {
    private let context: OpaquePointer

    public init() {
        guard let ctx = av_sha_alloc() else { fatalError("av_sha_alloc: out of memory") }
        context = ctx
        av_sha_init(context, 256)
    }

    deinit { av_free(UnsafeMutableRawPointer(context)) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        av_sha_update(context, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    public func update(_ data: some DataProtocol) {
        for region in data.regions { region.withUnsafeBytes { update($0) } }
    }

    /// Finishes the digest and returns it as 64 lowercase hex digits. The instance is spent afterwards.
    public func finalizeHex() -> String {
        var out = [UInt8](repeating: 0, count: 32)
        av_sha_final(context, &out)
        return out.map { String(format: "%02x", $0) }.joined()
    }

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
}
