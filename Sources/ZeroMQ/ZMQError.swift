import CZeroMQ

/// A failed libzmq call: the operation, the errno it left, and `zmq_strerror`'s text.
public struct ZMQError: Error, CustomStringConvertible, Equatable, Sendable {
    public let operation: String
    public let errno: Int32
    public let message: String

    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
        self.message = String(cString: zmq_strerror(errno))
    }

    /// The error libzmq reports for the last call on this thread.
    static func last(_ operation: String) -> ZMQError { ZMQError(operation: operation, errno: ctlive_zmq_errno()) }

    public var description: String { "\(operation): \(message) (errno \(errno))" }

    /// The call would have blocked (non-blocking send/receive).
    public var isWouldBlock: Bool { errno == EAGAIN }
    /// The context was terminated under the socket.
    public var isTerminated: Bool { errno == ETERM }
}
