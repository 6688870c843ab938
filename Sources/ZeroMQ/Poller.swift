import CZeroMQ

/// Waits on several sockets and plain file descriptors at once (`zmq_poll`), for the thread that owns them.
public struct Poller {
    public enum Source {
        case socket(Socket)
        case fileDescriptor(Int32)
    }

    private var sources: [Source] = []
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Adds a source to wait for input on; returns its index in ``poll(timeoutMilliseconds:)``'s answer.
    @discardableResult
    public mutating func add(_ source: Source) throws(ZMQError) -> Int {
        var item = zmq_pollitem_t()
        switch source {
        case .socket(let socket):
            guard let handle = socket.handle else { throw ZMQError(operation: "Poller.add", errno: ENOTSOCK) }
            item.socket = handle
        case .fileDescriptor(let fd):
            item.fd = fd
        }
        item.events = Int16(ZMQ_POLLIN)
        sources.append(source)
        items.append(item)
        return items.count - 1
    }

    /// Waits until some source has input or the timeout passes (-1: forever).
    /// Returns the indexes of the ready sources; an interrupted wait returns none.
    public mutating func poll(timeoutMilliseconds: Int) throws(ZMQError) -> [Int] {
        let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32($0.count), timeoutMilliseconds) }
        if rc < 0 {
            let error = ZMQError.last("zmq_poll")
            if error.errno == EINTR { return [] }
            throw error
        }
        var ready: [Int] = []
        for index in items.indices where items[index].revents & Int16(ZMQ_POLLIN) != 0 { ready.append(index) }
        return ready
    }
}

