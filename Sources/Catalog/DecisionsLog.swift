import Foundation
import Logging
import PolicyHost

/// The policy host's audit log (`decisions.jsonl`, one ``AuditRecord`` per line), read back.
struct DecisionsLog {
    var path: String
    var logger: Logger

    /// Every readable record; a missing file has none, an unreadable line is skipped with a warning naming it.
    func records() -> [AuditRecord] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            logger.warning("catalog: \(path) is unreadable: its decisions are not indexed")
            return []
        }
        let decoder = JSONDecoder()
        var records: [AuditRecord] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do { records.append(try decoder.decode(AuditRecord.self, from: Data(line.utf8))) } catch {
                logger.warning("catalog: skipped \(path) line \(number + 1): not an audit record")
            }
        }
        return records
    }
}
