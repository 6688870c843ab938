import CZeroMQ
import Foundation

/// The socket types this project uses.
public enum SocketType: Sendable {
    case router, dealer, rep, req, pair, pub, sub, push, pull

    var raw: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .rep: ZMQ_REP
        case .req: ZMQ_REQ
        case .pair: ZMQ_PAIR
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        }
    }
}

/// One received message: its frames, and the `User-Id` the ZAP handler gave the peer, if any.
public struct Message: Sendable {
    public var frames: [Data]
    /// The authenticated identity of the sender (set by a ZAP handler under CURVE), else nil.
    public var userID: String?

    public init(frames: [Data], userID: String? = nil) {
        self.frames = frames
        self.userID = userID
    }
}

/// A ZeroMQ socket. **Belongs to one thread**: create it, use it and close it on the same thread.
///
/// It is closed exactly once, by ``close()`` or else by `deinit`, so a double close cannot happen.
/// Every call after ``close()`` throws `ENOTSOCK`. Linger starts at 0 (libzmq's default, infinite,
/// would let a closed socket hold the process's context open forever): set it when queued messages
/// should outlive the socket.
public final class Socket {
    /// Internal so that ``Poller`` can pass it to `zmq_poll`; it never leaves the module.
    private(set) var handle: UnsafeMutableRawPointer?
    /// Kept so the context outlives its sockets (`zmq_ctx_term` waits for them).
    public let context: Context
    public let type: SocketType

    public init(_ context: Context, _ type: SocketType) throws(ZMQError) {
        guard let socket = zmq_socket(context.handle, type.raw) else { throw ZMQError.last("zmq_socket") }
        var linger: Int32 = 0
        guard zmq_setsockopt(socket, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size) == 0 else {
            let error = ZMQError.last("zmq_setsockopt(ZMQ_LINGER)")
            zmq_close(socket)
            throw error
        }
        self.context = context
        self.type = type
        self.handle = socket
    }

    deinit { close() }

    /// Closes the socket now. Safe to call more than once: only the first call frees the handle.
    public func close() {
        guard let socket = handle else { return }
        handle = nil
        zmq_close(socket)
    }

    public var isClosed: Bool { handle == nil }

    private func live(_ operation: String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let socket = handle else { throw ZMQError(operation: operation, errno: ENOTSOCK) }
        return socket
    }

    // MARK: Endpoints

    public func bind(_ endpoint: String) throws(ZMQError) {
        let socket = try live("zmq_bind")
        guard zmq_bind(socket, endpoint) == 0 else { throw ZMQError.last("zmq_bind(\(endpoint))") }
    }

    public func connect(_ endpoint: String) throws(ZMQError) {
        let socket = try live("zmq_connect")
        guard zmq_connect(socket, endpoint) == 0 else { throw ZMQError.last("zmq_connect(\(endpoint))") }
    }

    /// The endpoint last bound, with the port the system chose for `tcp://host:0` or `:*`.
    public var lastEndpoint: String {
        get throws(ZMQError) { try stringOption(ZMQ_LAST_ENDPOINT, "ZMQ_LAST_ENDPOINT") }
    }

    // MARK: Options

    public func setOption(_ option: Int32, _ value: Int32, _ name: String) throws(ZMQError) {
        let socket = try live("zmq_setsockopt")
        var v = value
        guard zmq_setsockopt(socket, option, &v, MemoryLayout<Int32>.size) == 0 else {
            throw ZMQError.last("zmq_setsockopt(\(name))")
        }
    }

    public func setOption(_ option: Int32, _ value: Int64, _ name: String) throws(ZMQError) {
        let socket = try live("zmq_setsockopt")
        var v = value
        guard zmq_setsockopt(socket, option, &v, MemoryLayout<Int64>.size) == 0 else {
            throw ZMQError.last("zmq_setsockopt(\(name))")
        }
    }

    public func setOption(_ option: Int32, bytes: [UInt8], _ name: String) throws(ZMQError) {
        let socket = try live("zmq_setsockopt")
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(socket, option, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw ZMQError.last("zmq_setsockopt(\(name))") }
    }

    public func setOption(_ option: Int32, string: String, _ name: String) throws(ZMQError) {
        try setOption(option, bytes: Array(string.utf8), name)
    }

    public func intOption(_ option: Int32, _ name: String) throws(ZMQError) -> Int32 {
        let socket = try live("zmq_getsockopt")
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(socket, option, &value, &size) == 0 else { throw ZMQError.last("zmq_getsockopt(\(name))") }
        return value
    }

    func stringOption(_ option: Int32, _ name: String) throws(ZMQError) -> String {
        let socket = try live("zmq_getsockopt")
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        guard zmq_getsockopt(socket, option, &buffer, &size) == 0 else { throw ZMQError.last("zmq_getsockopt(\(name))") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Milliseconds a closed socket keeps trying to deliver queued messages (0: drop them).
    public func setLinger(milliseconds: Int32) throws(ZMQError) { try setOption(ZMQ_LINGER, milliseconds, "ZMQ_LINGER") }
    public func setSendHighWaterMark(_ messages: Int32) throws(ZMQError) { try setOption(ZMQ_SNDHWM, messages, "ZMQ_SNDHWM") }
    public func setReceiveHighWaterMark(_ messages: Int32) throws(ZMQError) { try setOption(ZMQ_RCVHWM, messages, "ZMQ_RCVHWM") }
    /// The largest message libzmq accepts from a peer; a larger one drops the connection.
    public func setMaxMessageSize(_ bytes: Int64) throws(ZMQError) { try setOption(ZMQ_MAXMSGSIZE, bytes, "ZMQ_MAXMSGSIZE") }
    public func setRoutingID(_ id: [UInt8]) throws(ZMQError) { try setOption(ZMQ_ROUTING_ID, bytes: id, "ZMQ_ROUTING_ID") }
    /// A ROUTER reports unroutable messages as `EHOSTUNREACH` instead of dropping them silently.
    public func setRouterMandatory(_ on: Bool) throws(ZMQError) { try setOption(ZMQ_ROUTER_MANDATORY, Int32(on ? 1 : 0), "ZMQ_ROUTER_MANDATORY") }
    public func setSubscribe(_ prefix: [UInt8]) throws(ZMQError) { try setOption(ZMQ_SUBSCRIBE, bytes: prefix, "ZMQ_SUBSCRIBE") }

    /// ZMTP heartbeats: a PING every `interval`; the connection is dropped when no traffic arrives within `timeout`.
    public func setHeartbeat(intervalMilliseconds: Int32, timeoutMilliseconds: Int32, ttlMilliseconds: Int32? = nil) throws(ZMQError) {
        try setOption(ZMQ_HEARTBEAT_IVL, intervalMilliseconds, "ZMQ_HEARTBEAT_IVL")
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, timeoutMilliseconds, "ZMQ_HEARTBEAT_TIMEOUT")
        try setOption(ZMQ_HEARTBEAT_TTL, ttlMilliseconds ?? timeoutMilliseconds, "ZMQ_HEARTBEAT_TTL")
    }

    /// Makes this socket a CURVE server with the given key pair; clients are then authenticated by ZAP.
    public func makeCurveServer(_ keys: CurveKeyPair, zapDomain: String = "ctlive") throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVER, Int32(1), "ZMQ_CURVE_SERVER")
        try setOption(ZMQ_CURVE_SECRETKEY, string: keys.secretKey, "ZMQ_CURVE_SECRETKEY")
        try setOption(ZMQ_ZAP_DOMAIN, string: zapDomain, "ZMQ_ZAP_DOMAIN")
    }

    /// Makes this socket a CURVE client of a server whose public key is `serverKey` (Z85).
    public func makeCurveClient(_ keys: CurveKeyPair, serverKey: String) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVERKEY, string: serverKey, "ZMQ_CURVE_SERVERKEY")
        try setOption(ZMQ_CURVE_PUBLICKEY, string: keys.publicKey, "ZMQ_CURVE_PUBLICKEY")
        try setOption(ZMQ_CURVE_SECRETKEY, string: keys.secretKey, "ZMQ_CURVE_SECRETKEY")
    }

    /// The file descriptor that becomes readable when the socket's events may have changed.
    public var fileDescriptor: Int32 {
        get throws(ZMQError) {
            let socket = try live("zmq_getsockopt")
            var fd: Int32 = -1
            var size = MemoryLayout<Int32>.size
            guard zmq_getsockopt(socket, ZMQ_FD, &fd, &size) == 0 else { throw ZMQError.last("zmq_getsockopt(ZMQ_FD)") }
            return fd
        }
    }

    // MARK: Send and receive

    /// Sends all frames as one multipart message.
    ///
    /// - Parameter wait: false makes the call fail with `EAGAIN` (``ZMQError/isWouldBlock``) instead of blocking.
    public func send(_ frames: [Data], wait: Bool = true) throws(ZMQError) {
        let socket = try live("zmq_send")
        for (index, frame) in frames.enumerated() {
            var flags: Int32 = wait ? 0 : ZMQ_DONTWAIT
            if index < frames.count - 1 { flags |= ZMQ_SNDMORE }
            let rc = frame.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, flags) }
            if rc < 0 { throw ZMQError.last("zmq_send") }
        }
    }

    /// Receives one whole multipart message, or nil when `wait` is false and none is queued.
    ///
    /// - Parameter maxFrames: frames past this count are read and discarded (not kept in the returned
    ///   ``Message``, which then has `truncated` set). Note that libzmq itself buffers a whole multipart
    ///   message before delivering it, each frame bounded by `ZMQ_MAXMSGSIZE` but not their number:
    ///   off loopback, only CURVE keeps strangers from sending one.
    public func receive(wait: Bool = true, maxFrames: Int = 16) throws(ZMQError) -> (message: Message, truncated: Bool)? {
        let socket = try live("zmq_msg_recv")
        var frames: [Data] = []
        var userID: String?
        var truncated = false
        var msg = zmq_msg_t()
        zmq_msg_init(&msg)
        defer { zmq_msg_close(&msg) }
        while true {
            let rc = zmq_msg_recv(&msg, socket, wait || !frames.isEmpty || truncated ? 0 : ZMQ_DONTWAIT)
            if rc < 0 {
                let error = ZMQError.last("zmq_msg_recv")
                if error.isWouldBlock && frames.isEmpty && !truncated { return nil }
                throw error
            }
            if frames.count < maxFrames {
                frames.append(Data(bytes: zmq_msg_data(&msg), count: zmq_msg_size(&msg)))
                // A ROUTER's routing-id frame is made locally and carries no metadata: ask every frame.
                if userID == nil, let property = zmq_msg_gets(&msg, "User-Id") {
                    userID = String(cString: property)
                }
            } else {
                truncated = true
            }
            if zmq_msg_more(&msg) == 0 { break }
        }
        return (Message(frames: frames, userID: userID), truncated)
    }
}
