import Crypto
import Foundation
import Logging
import ObjectStore
import Catalog
import Evidence
import Recorder
import Synchronization

/// The recordings folder as a spool for the object store. In the background, one file at a time, every
/// finished (or interrupted, or failed) recording goes up under `PREFIX/<day>/<recording id>/`: the
/// originals, the composite when rendered, the manifest, its signature or completion, the seals, the
/// review page; the recorders' public keys under `PREFIX/keys/` and their chains under `PREFIX/chains/`.
///
/// Nothing is removed locally until the store has confirmed every file of the recording (its size and
/// SHA-256, which the store also checked on the way in), and only the media (the originals, the composite,
/// the contact sheet); `keepLocal` keeps them too. Progress is in each folder's `storage.json`, written
/// after every step, so a bot killed mid-upload goes on where it was when it starts again: parts the store
/// already holds are not sent twice, and a multipart upload no `storage.json` knows (begun just before a
/// kill) is aborted. A store that is down is tried again with backoff; recording goes on meanwhile.
public final class RecordingUploader: Sendable {
    public let root: String
    public let store: S3Client
    public let location: StorageLocation
    public let keepLocal: Bool
    /// At most this many bytes a second, when set: the uplink stays free for live media.
    public let bytesPerSecond: Int?
    let logger: Logger
    private let wakeUp = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    private let backlog = Mutex<Int64>(0)
    private let stored = Mutex<(@Sendable (_ relativeDirectory: String) -> Void)?>(nil)
    /// The files a recording uploads, when present; everything else in its folder stays local.
    public static let uploadedNames = ["originals.ctlo", "recording.mp4", "composite.json", "manifest.json", "manifest.sig", "completion.json",
                                       "seals.jsonl", "review.html", "contactsheet.png", "purged.json"]
    /// What the spool removes once the store holds it: the large files.
    public static let mediaNames: Set<String> = ["originals.ctlo", "recording.mp4", "contactsheet.png"]

    public init(root: String, store: S3Client, location: StorageLocation, keepLocal: Bool, bytesPerSecond: Int? = nil, logger: Logger) {
        self.root = root
        self.bytesPerSecond = bytesPerSecond
        self.store = store
        self.location = location
        self.keepLocal = keepLocal
        self.logger = logger
    }

    /// Bytes waiting to go up, as of the last pass.
    public var backlogBytes: Int64 { backlog.withLock { $0 } }

    /// Called with a recording's folder (relative to the root) whenever its files reached the store or its
    /// local media went: the catalog learns where it is.
    public func onRecordingStored(_ handler: @escaping @Sendable (_ relativeDirectory: String) -> Void) { stored.withLock { $0 = handler } }

    /// Asks for a pass soon (a recording just finished).
    public func wake() { wakeUp.continuation.yield() }

    /// Runs passes until cancelled: at once, on `wake()`, and every `interval`; after a failure, with
    /// backoff from 1 s up to a minute.
    public func run(interval: Duration = .seconds(5)) async {
        var failures = 0
        var first = true
        while !Task.isCancelled {
            do {
                if first {
                    // Counted before the store is reached: a store down since the start still fills the spool.
                    countBacklog()
                    try await store.createBucket(location.bucket)
                    try await abortOrphanUploads()
                }
                first = false
                try await pass()
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                logger.warning("uploads wait for the store", metadata: ["error": "\(error)", "attempt": "\(failures)"])
            }
            let delay: Duration = failures == 0 ? interval : .seconds(min(60, 1 << min(failures - 1, 6)))
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await Task.sleep(for: delay) }
                group.addTask { [wakeUp] in for await _ in wakeUp.stream { return } }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// One pass over the folder: every recording that is done goes up, file by file. Throws at the first
    /// failure (the next pass goes on from there). Returns the recordings the store holds whole.
    @discardableResult
    public func pass() async throws -> [String] {
        let directories = countBacklog()
        try await uploadSharedFiles()
        var stored: [String] = []
        for directory in directories {
            try Task.checkCancellation()
            guard let manifest = try? ManifestFile.read(directory + "/" + ManifestFile.name), manifest.status != "recording" else { continue }
            try await upload(directory: directory, manifest: manifest)
            stored.append(manifest.recordingID)
        }
        // Counted once before and once after a pass, not per recording: a walk of the whole spool.
        backlog.withLock { $0 = Self.waitingBytes(directories) }
        return stored
    }

    /// Counts the bytes waiting (``backlogBytes``); returns the recording folders.
    @discardableResult
    func countBacklog() -> [String] {
        let directories = Self.recordingDirectories(root: root)
        backlog.withLock { $0 = Self.waitingBytes(directories) }
        return directories
    }

    /// Bytes of recordings not yet confirmed by the store: what a full spool is measured by.
    static func waitingBytes(_ directories: [String]) -> Int64 {
        var total: Int64 = 0
        for directory in directories {
            let record = StorageRecord.read(directory: directory)
            for name in uploadedNames where record?.files.contains(where: { $0.name == name && $0.state == "uploaded" }) != true {
                total += ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + name))?[.size] as? NSNumber)?.int64Value ?? 0
            }
        }
        return total
    }

    /// Uploads what changed in one recording's folder, and removes local media the store confirmed.
    func upload(directory: String, manifest: RecordingManifest) async throws {
        let relative = String(directory.dropFirst(root.count + 1))  // <day>/<recording id>
        var record = StorageRecord.read(directory: directory) ?? StorageRecord(location: "s3://\(location.bucket)/\(location.key(relative))/")
        var changed = false
        for name in Self.uploadedNames where !record.removedLocally.contains(name) {
            let path = directory + "/" + name
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { continue }
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            let bytes = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            if let known = record.files.first(where: { $0.name == name }), known.state == "uploaded", known.bytes == bytes, known.modified == modified { continue }
            let key = location.key(relative + "/" + name)
            var file = try record.files.first(where: { $0.name == name && $0.bytes == bytes && $0.modified == modified })
                ?? StorageRecord.StoredFile(name: name, key: key, bytes: bytes, sha256: try Self.sha256(path: path), modified: modified, state: "uploading")
            try await upload(path: path, file: &file) { progress in
                record.files.removeAll { $0.name == name }
                record.files.append(progress)
                try record.write(directory: directory)
            }
            changed = true
        }
        // A deferred composite still to be rendered here needs the originals: the media stays until then.
        let compositePending = manifest.composite?.state == "queued" && !FileManager.default.fileExists(atPath: directory + "/composite.json")
        guard record.isStored, !keepLocal, !compositePending else {
            if changed {
                logger.info("recording stored", metadata: ["recording": "\(relative)", "location": "\(record.location)"])
                stored.withLock { $0 }?(relative)
            }
            return
        }
        var removed = false
        for file in record.files where Self.mediaNames.contains(file.name) && !record.removedLocally.contains(file.name) {
            // Confirmed by the store before anything goes: its size and our SHA-256, as it keeps them.
            guard let stored = try await store.headObject(bucket: location.bucket, key: file.key), stored.size == file.bytes, stored.sha256 == file.sha256 else {
                throw ObjectStoreError(operation: "confirm \(file.key)", detail: "the store does not hold it as uploaded; it goes up again")
            }
            record.removedLocally.append(file.name)
            try record.write(directory: directory)
            try? FileManager.default.removeItem(atPath: directory + "/" + file.name)
            removed = true
        }
        guard changed || removed else { return }
        logger.info("recording stored", metadata: ["recording": "\(relative)", "location": "\(record.location)", "localMediaRemoved": "\(removed)"])
        stored.withLock { $0 }?(relative)
    }

    /// Puts the file at `path` under `key` (multipart when large), with no spool state: a render worker's
    /// composite. Returns its SHA-256.
    @discardableResult
    public func put(path: String, key: String) async throws -> String {
        let bytes = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
        var file = StorageRecord.StoredFile(name: (path as NSString).lastPathComponent, key: key, bytes: bytes, sha256: try Self.sha256(path: path),
                                            modified: 0, state: "uploading")
        try await upload(path: path, file: &file) { _ in }
        return file.sha256
    }

    /// Puts one file, multipart when large; `save` keeps each step in `storage.json`.
    private func upload(path: String, file: inout StorageRecord.StoredFile, save: (StorageRecord.StoredFile) throws -> Void) async throws {
        if file.bytes <= Int64(S3Client.partSize) {
            guard let data = FileManager.default.contents(atPath: path) else { throw ObjectStoreError(operation: "upload", detail: "cannot read \(path)") }
            guard Self.hex(SHA256.hash(data: data)) == file.sha256 else { throw ObjectStoreError(operation: "upload", detail: "\(path) changed while uploading") }
            let started = ContinuousClock.now
            try await store.putObject(bucket: location.bucket, key: file.key, body: data)
            try await pace(bytes: data.count, since: started)
        } else {
            try await uploadMultipart(path: path, file: &file, save: save)
        }
        file.state = "uploaded"
        (file.uploadID, file.parts) = (nil, nil)
        try save(file)
    }

    private func uploadMultipart(path: String, file: inout StorageRecord.StoredFile, save: (StorageRecord.StoredFile) throws -> Void) async throws {
        if file.uploadID == nil {
            file.uploadID = try await store.createMultipartUpload(bucket: location.bucket, key: file.key, sha256: file.sha256)
            file.parts = []
            try save(file)
        }
        guard let uploadID = file.uploadID, let handle = FileHandle(forReadingAtPath: path) else {
            throw ObjectStoreError(operation: "upload", detail: "cannot read \(path)")
        }
        defer { try? handle.close() }
        // Parts the store already holds (a restart after a kill) are kept when their bytes are ours.
        let held = try await store.listParts(bucket: location.bucket, key: file.key, uploadID: uploadID)
        var parts = (file.parts ?? []).filter { held[$0.number] == $0.etag }
        let count = Int((file.bytes + Int64(S3Client.partSize) - 1) / Int64(S3Client.partSize))
        for number in 1...count where !parts.contains(where: { $0.number == number }) {
            try Task.checkCancellation()
            try handle.seek(toOffset: UInt64(number - 1) * UInt64(S3Client.partSize))
            let body = try handle.read(upToCount: S3Client.partSize) ?? Data()
            let started = ContinuousClock.now
            parts.append(try await store.uploadPart(bucket: location.bucket, key: file.key, uploadID: uploadID, number: number, body: body))
            file.parts = parts
            try save(file)
            try await pace(bytes: body.count, since: started)
        }
        try await store.completeMultipartUpload(bucket: location.bucket, key: file.key, uploadID: uploadID, parts: parts)
        guard let stored = try await store.headObject(bucket: location.bucket, key: file.key), stored.size == file.bytes else {
            throw ObjectStoreError(operation: "upload \(file.key)", detail: "the completed object has another size")
        }
    }

    /// Waits, under `bytesPerSecond`, until `bytes` sent since `started` keep to the rate.
    private func pace(bytes: Int, since started: ContinuousClock.Instant) async throws {
        guard let bytesPerSecond else { return }
        let due = started + .milliseconds(bytes * 1000 / bytesPerSecond)
        if due > .now { try await Task.sleep(until: due) }
    }

    /// The recorders' public keys and their chains, whenever they change (a chain only grows).
    private func uploadSharedFiles() async throws {
        let keys = (try? FileManager.default.contentsOfDirectory(atPath: root + "/keys")) ?? []
        let shared = keys.filter { $0.hasSuffix(".pub") }.map { ("keys/" + $0, root + "/keys/" + $0) }
            + ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("chain-") && $0.hasSuffix(".jsonl") }
            .map { ("chains/" + $0, root + "/" + $0) }
        for (name, path) in shared {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let digest = Self.hex(SHA256.hash(data: data))
            if sharedUploaded.withLock({ $0[name] }) == digest { continue }
            try await store.putObject(bucket: location.bucket, key: location.key(name), body: data)
            sharedUploaded.withLock { $0[name] = digest }
            if name.hasPrefix("chains/"), let head = try? Chain.entries(data: data, name: name).last {
                storedChainHeads.withLock { $0[head.keyID] = head }
            }
        }
    }
    private let sharedUploaded = Mutex<[String: String]>([:])
    private let storedChainHeads = Mutex<[String: ChainEntry]>([:])

    /// The newest entry of `keyID`'s chain the store holds (put by this uploader since it started): a checkpoint
    /// of the chain in the store must not be ahead of it.
    public func storedChainHead(keyID: String) -> ChainEntry? { storedChainHeads.withLock { $0[keyID] } }

    /// Aborts multipart uploads of this folder's recordings that no `storage.json` carries on (begun by a bot
    /// killed before it could note them). Uploads of recordings this folder does not hold are another bot's.
    public func abortOrphanUploads() async throws {
        var known = Set<String>()
        for directory in Self.recordingDirectories(root: root) {
            for file in StorageRecord.read(directory: directory)?.files ?? [] { if let id = file.uploadID { known.insert(id) } }
        }
        let prefix = location.prefix.isEmpty ? "" : location.prefix + "/"
        for upload in try await store.listMultipartUploads(bucket: location.bucket, prefix: prefix) where !known.contains(upload.uploadID) {
            let folder = upload.key.dropFirst(prefix.count).split(separator: "/").dropLast().joined(separator: "/")
            guard !folder.isEmpty, !folder.contains(".."), FileManager.default.fileExists(atPath: root + "/" + folder + "/" + ManifestFile.name) else { continue }
            logger.notice("aborting an orphan multipart upload", metadata: ["key": "\(upload.key)"])
            try await store.abortMultipartUpload(bucket: location.bucket, key: upload.key, uploadID: upload.uploadID)
        }
    }

    /// `<root>/<day>/<id>` folders, in path order.
    static func recordingDirectories(root: String) -> [String] {
        ManifestFile.all(under: root).map { ($0 as NSString).deletingLastPathComponent }.sorted()
    }

    static func sha256(path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ObjectStoreError(operation: "hash", detail: "cannot read \(path)") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hex(hasher.finalize())
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 { digest.map { String(format: "%02x", $0) }.joined() }
}
