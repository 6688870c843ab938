import CZeroMQ
import Glibc

/// An eventfd that other threads raise to wake a thread blocked in ``Poller/poll(timeoutMilliseconds:)``.
///
/// ZeroMQ sockets must not be shared between threads; a socket's owner thread instead polls this
/// descriptor beside its sockets, and other threads hand it work through a bounded queue plus ``raise()``.
/// Thread-safe. Closed once, in `deinit`.
public final class WakeupSignal: Sendable {
    public let fileDescriptor: Int32

    public init() throws(ZMQError) {
        let fd = ctlive_eventfd_nonblocking()
        guard fd >= 0 else { throw ZMQError(operation: "eventfd", errno: errno) }
        fileDescriptor = fd
    }

    deinit { Glibc.close(fileDescriptor) }

    /// Wakes the polling thread. Never blocks.
    public func raise() {
        var one: UInt64 = 1
        _ = write(fileDescriptor, &one, 8)
    }

    /// Clears the signal; the polling thread calls this before draining its queue.
    public func clear() {
        var value: UInt64 = 0
        _ = read(fileDescriptor, &value, 8)
    }
}
