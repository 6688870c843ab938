import Foundation
import Synchronization

/// How busy this machine's processors are: the share of time not idle since the previous reading
/// (`/proc/stat`), over all cores. What `auto` composites and the render queue decide by.
final class MachineLoad: Sendable {
    private let previous = Mutex<(busy: UInt64, total: UInt64)?>(nil)
    private let latest = Mutex<Double>(0)
    /// Above this share of the processors busy, composites are queued rather than made live, and the
    /// queue waits.
    static let headroomLimit = 0.6

    /// The busy share since the last call that was at least a second ago (0...1).
    func busy() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8), let line = text.split(separator: "\n").first else { return 0 }
        let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 5 else { return 0 }
        let total = fields.reduce(0, +), idle = fields[3] + fields[4]
        return previous.withLock { previous in
            defer { if previous == nil || total - previous!.total >= 100 { previous = (total - idle, total) } }
            guard let before = previous, total > before.total else { return latest.withLock { $0 } }
            let share = Double((total - idle) - before.busy) / Double(total - before.total)
            latest.withLock { $0 = share }
            return share
        }
    }

    var hasHeadroom: Bool { busy() < Self.headroomLimit }
}
