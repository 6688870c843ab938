import Foundation
import Timestamps
import Recorder

/// Reading a recording's `manifest.json`.
public enum ManifestFile {
    public static let name = "manifest.json"

    /// The manifest at `path`, or an error naming the file and what is wrong with it.
    public static func read(_ path: String) throws -> RecordingManifest {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            let missing = !FileManager.default.fileExists(atPath: path)
            throw CatalogError(path: path, problem: missing ? "manifest missing" : "manifest unreadable: \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(RecordingManifest.self, from: data) } catch {
            throw CatalogError(path: path, problem: "manifest unreadable: not a recording manifest (\(describe(error)))")
        }
    }

    /// Every `manifest.json` under `root`, at `<day>/<session>/manifest.json` or deeper, sorted.
    public static func all(under root: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            if (relative as NSString).lastPathComponent == name { found.append(root + "/" + relative) }
        }
        return found.sorted()
    }

    /// A short description of a decoding error: which key, what was wrong.
    private static func describe(_ error: Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .keyNotFound(let key, let context):
            return "no \(path(context.codingPath + [key]))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "bad \(path(context.codingPath)): \(context.debugDescription)"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not JSON" : "bad \(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

/// ISO 8601 times as the recorder and the policy host write them, with or without fractional seconds.
public enum WallClock {
    public static func parse(_ text: String) -> Date? { ISO8601.parse(text) }
}
