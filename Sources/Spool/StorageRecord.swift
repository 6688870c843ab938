import Foundation
import ObjectStore

/// `storage.json` beside a recording: where each of its files is in the object store, and in what state.
/// The signed manifest never changes, so where its files went is kept here (and in the catalog); the
/// manifest's hashes bind the files wherever they are.
public struct StorageRecord: Codable, Sendable, Equatable {
    public static let fileName = "storage.json"
    public var format = "ctlive-storage-v1"
    /// `s3://BUCKET/PREFIX/<day>/<recording id>/`.
    public var location: String
    public var files: [StoredFile] = []
    /// The files this folder no longer holds, since the store holds them, verified.
    public var removedLocally: [String] = []

    public struct StoredFile: Codable, Sendable, Equatable {
        public var name: String
        public var key: String
        public var bytes: Int64
        public var sha256: String
        /// The file's modification time when hashed: a file rewritten since (a review page) goes up again.
        public var modified: Double
        /// `uploading` (a multipart upload under way: `uploadID`), `uploaded` (the store confirmed its size and hash).
        public var state: String
        public var uploadID: String?
        public var parts: [S3Client.UploadedPart]?
    }

    public init(location: String) { self.location = location }

    /// Whether every file is in the store, confirmed.
    public var isStored: Bool { !files.isEmpty && files.allSatisfy { $0.state == "uploaded" } }

    public static func read(directory: String) -> StorageRecord? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + fileName) else { return nil }
        return try? JSONDecoder().decode(StorageRecord.self, from: data)
    }

    func write(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(self).write(to: URL(fileURLWithPath: directory + "/" + Self.fileName), options: .atomic)
    }
}
