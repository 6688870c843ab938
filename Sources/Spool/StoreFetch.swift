import Foundation
import ObjectStore

/// Brings recordings back from the store into a folder laid out as a recordings folder
/// (`<root>/<day>/<id>/…`, `<root>/keys/`, `<root>/chain-<key id>.jsonl`), so that `verify` judges them
/// exactly as it judges a local folder. Each object is streamed to disk, never held whole in memory.
public enum StoreFetch {
    /// Fetches recording `id` (every recording when nil), the public keys and the chains; returns the
    /// recordings found.
    /// - Parameter folder: the recording's folder under the location (`<day>/<id>`, as a catalog knows it): only it
    ///   is listed, not the whole store.
    @discardableResult
    public static func fetch(from store: S3Client, location: StorageLocation, into root: String, recording id: String? = nil,
                             folder: String? = nil) async throws -> [String] {
        let prefix = location.prefix.isEmpty ? "" : location.prefix + "/"
        var found = Set<String>()
        var objects: [StoredObject] = []
        for listed in folder.map({ [prefix + "keys/", prefix + "chains/", prefix + $0 + "/"] }) ?? [prefix] {
            objects += try await store.listObjects(bucket: location.bucket, prefix: listed)
        }
        for object in objects {
            let parts = object.key.dropFirst(prefix.count).split(separator: "/").map(String.init)
            // Only names a recordings folder has: nothing from the store's keys escapes the folder.
            guard !parts.isEmpty, parts.allSatisfy({ !$0.hasPrefix(".") && $0 != ".." }) else { continue }
            let target: String
            switch parts.count {
            case 2 where parts[0] == "keys" && parts[1].hasSuffix(".pub"): target = root + "/keys/" + parts[1]
            case 2 where parts[0] == "chains" && parts[1].hasPrefix("chain-"): target = root + "/" + parts[1]
            case 3 where id == nil || parts[1] == id:
                guard RecordingUploader.uploadedNames.contains(parts[2]) else { continue }
                target = root + "/" + parts[0] + "/" + parts[1] + "/" + parts[2]
                found.insert(parts[1])
            default: continue
            }
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try await store.getObject(bucket: location.bucket, key: object.key, to: target)
        }
        return found.sorted()
    }
}
