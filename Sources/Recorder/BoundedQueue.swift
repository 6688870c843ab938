import Foundation

/// A bounded multi-producer, single-consumer queue. Producers never block: a full queue refuses.
///
/// `@unchecked Sendable`: every access to `items` happens with `condition` locked.
public final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    public let capacity: Int

    public init(capacity: Int) { self.capacity = capacity }

    /// Adds `item` unless `count` has reached `limit` (the capacity by default). Returns false when refused.
    public func push(_ item: Element, limit: Int? = nil) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard items.count < (limit ?? capacity) else { return false }
        items.append(item)
        condition.signal()
        return true
    }

    /// Takes everything queued, waiting up to `timeout` seconds for something to arrive.
    public func popAll(timeout: Double) -> [Element] {
        condition.lock()
        defer { condition.unlock() }
        if items.isEmpty { _ = condition.wait(until: Date(timeIntervalSinceNow: timeout)) }
        let taken = items
        items.removeAll(keepingCapacity: true)
        return taken
    }
}
