import CZeroMQ

/// A ZeroMQ context: owns the I/O threads every socket of a process shares.
///
/// Thread-safe, as libzmq's context is. It is terminated in `deinit`, which happens only after its
/// last socket is gone because every ``Socket`` keeps its context alive.
public final class Context: @unchecked Sendable {
    // libzmq documents the context as thread-safe; the pointer never changes after init.
    let handle: UnsafeMutableRawPointer

    public init(ioThreads: Int32 = 1) throws(ZMQError) {
        guard let ctx = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        handle = ctx
        if zmq_ctx_set(ctx, ZMQ_IO_THREADS, ioThreads) != 0 {
            let error = ZMQError.last("zmq_ctx_set(ZMQ_IO_THREADS)")
            zmq_ctx_term(ctx)
            throw error
        }
    }

    deinit {
        // EINTR is the only retryable failure; anything else means a bug we cannot report from deinit.
        while zmq_ctx_term(handle) != 0 && ctlive_zmq_errno() == EINTR {}
    }
}
