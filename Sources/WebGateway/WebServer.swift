import AccessToken
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Signaling
import Synchronization

/// `ctlive web`: serves the SDK and the pages over HTTP, and bridges each browser's WebSocket (`/ws`)
/// to the hub as one hub client.
///
/// Built on SwiftNIO's HTTP/1 and WebSocket handlers directly: the gateway serves a handful of fixed
/// files and one upgrade route, so a web framework's router, middleware and extra packages (and their
/// build time) would buy nothing.
public final class WebGateway: Sendable {
    public let configuration: GatewayConfiguration
    private let logger: Logger
    private let bridge: HubBridge
    private let site: Site
    private let nextID = Atomic<UInt64>(1)
    private let links = Mutex<[UInt64: BrowserLink]>([:])

    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        try configuration.check()
        self.configuration = configuration
        self.logger = logger
        site = Site.load()
        bridge = try HubBridge(configuration: configuration, logger: logger)
    }

    /// What went through the gateway so far.
    public var statistics: [String: Int] {
        bridge.counters.snapshot
    }

    private enum Connection {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, BrowserLink)
        /// Upgraded only to be told why not: a browser's script cannot read an HTTP refusal, but it can read a close frame.
        case refused(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, Refusal)
        case http(NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>)
    }

    /// Listens, calls `ready` with the port bound, and serves until the calling task is cancelled;
    /// then every browser is told the gateway is going away.
    public func run(ready: @Sendable (Int) -> Void) async throws {
        let maxFrame = MediaLimits.maxPacketBytes + 64 * 1024 + 64
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            // A bounded kernel buffer per browser: what a slow browser cannot take waits in the gateway's
            // own counted queue (and is dropped there), not in megabytes of socket buffer that only add delay.
            // 48 KiB (Linux doubles it): a few hundred milliseconds on a 1 Mbit/s link, 7 Mbit/s at a 100 ms round trip.
            .childChannelOption(.socketOption(.so_sndbuf), value: 48 * 1024)
            .bind(host: configuration.host, port: configuration.port) { [self] channel in
                // BBR, where the kernel has it: loss-based congestion control fills a narrow link's queue with
                // seconds of media before it backs off; BBR keeps about one round trip in flight.
                if let provider = channel as? SocketOptionProvider {
                    _ = provider.unsafeSetSocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_CONGESTION), value: Self.bbr)
                }
                return channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketServerUpgrader<Connection>(
                        maxFrameSize: maxFrame,
                        shouldUpgrade: { channel, head in
                            channel.eventLoop.makeSucceededFuture(Self.isWebSocketRoute(head) ? HTTPHeaders() : nil)
                        },
                        upgradePipelineHandler: { [self] channel, head in
                            channel.eventLoop.makeCompletedFuture {
                                let admission: Admission
                                switch admit(head, peer: channel.remoteAddress?.ipAddress) {
                                case .success(let admitted): admission = admitted
                                case .failure(let refusal): return Connection.refused(try NIOAsyncChannel(wrappingChannelSynchronously: channel), refusal)
                                }
                                try channel.pipeline.syncOperations.addHandler(
                                    NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 64,
                                                                maxAccumulatedFrameSize: maxFrame))
                                let link = BrowserLink(id: nextID.add(1, ordering: .relaxed).oldValue, claims: admission.claims, token: admission.token)
                                return Connection.websocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel), link)
                            }
                        })
                    let configuration = NIOTypedHTTPServerUpgradeConfiguration<Connection>(
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                return Connection.http(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
                            }
                        })
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                        configuration: .init(upgradeConfiguration: configuration))
                }
            }
        ready(server.channel.localAddress?.port ?? configuration.port)
        logger.notice("serving", metadata: ["http": "\(configuration.host):\(server.channel.localAddress?.port ?? 0)", "hub": "\(configuration.hub)",
                                            "tokens": "\(configuration.tokenSecret != nil)"])
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { [self] in
                                switch try? await connection.get() {
                                case .websocket(let channel, let link): await serveBrowser(channel, link)
                                case .refused(let channel, let refusal): await refuse(channel, refusal)
                                case .http(let channel): await serveHTTP(channel, peer: channel.channel.remoteAddress?.ipAddress)
                                case .none: break
                                }
                            }
                        }
                    }
                } catch is CancellationError {
                    // Shutting down.
                } catch {
                    logger.error("listening failed", metadata: ["error": "\(error)"])
                }
            }
        } onCancel: { [self] in
            for link in links.withLock({ Array($0.values) }) { link.close(reason: "the gateway is shutting down") }
            server.channel.close(promise: nil)
        }
        bridge.stop()
    }

    // MARK: Admission

    struct Refusal: Error {
        let status: HTTPResponseStatus
        let reason: String
        /// The WebSocket close code: 4000 + the HTTP status (4401 unauthorized, 4403 forbidden).
        var closeCode: UInt16 { 4000 + UInt16(status.code) }
    }

    static func isWebSocketRoute(_ head: HTTPRequestHead) -> Bool {
        head.method == .GET && URLComponents(string: "http://gateway" + head.uri)?.path == "/ws"
    }

    struct Admission {
        let claims: AccessClaims?
        let token: String?
    }

    /// The host the browser asked for: `Host`, or what a trusted proxy forwarded (`X-Forwarded-Host`, `Forwarded`).
    func requestedHost(_ head: HTTPRequestHead, peer: String?) -> String {
        let host = head.headers.first(name: "host") ?? ""
        guard let peer, configuration.trustedProxies.contains(peer) else { return host }
        return GatewayConfiguration.forwardedHost(xForwardedHost: head.headers.first(name: "x-forwarded-host"),
                                                  forwarded: head.headers.first(name: "forwarded")) ?? host
    }

    /// Whether a page of `origin` may use the gateway: its own pages (the host the browser asked for), or an allowed origin.
    func isAllowed(origin: String, host: String) -> Bool {
        guard let normalized = GatewayConfiguration.normalizedOrigin(origin) else { return false }
        if configuration.allowedOrigins.contains(normalized) { return true }
        let own = ["http", "https"].compactMap { GatewayConfiguration.normalizedOrigin("\($0)://\(host)") }
        return own.contains(normalized)
    }

    /// Who may open `/ws`: with a token secret, the holder of a valid token; without, a page served from loopback.
    /// `peer` is the connection's address (a trusted proxy's forwarded host is believed).
    func admit(_ head: HTTPRequestHead, peer: String? = nil) -> Result<Admission, Refusal> {
        let components = URLComponents(string: "http://gateway" + head.uri)
        guard head.method == .GET, components?.path == "/ws" else { return .failure(Refusal(status: .notFound, reason: "not found")) }
        let host = requestedHost(head, peer: peer)
        if let origin = head.headers.first(name: "origin"), !isAllowed(origin: origin, host: host) {
            return .failure(Refusal(status: .forbidden, reason: "origin \(origin) is not allowed (ctlive web --allow-origin)"))
        }
        guard let secret = configuration.tokenSecret else {
            // No tokens: loopback only, and a Host naming loopback (a rebound DNS name would not).
            guard GatewayConfiguration.isLoopback(GatewayConfiguration.hostName(ofHostHeader: host)) else {
                return .failure(Refusal(status: .forbidden, reason: "host \(host) is not loopback"))
            }
            return .success(Admission(claims: nil, token: nil))
        }
        guard let token = components?.queryItems?.first(where: { $0.name == "token" })?.value else {
            return .failure(Refusal(status: .unauthorized, reason: "a token is required (?token=)"))
        }
        do {
            let claims = try AccessToken.verify(token, secret: secret)
            guard ["customer", "agent", "supervisor"].contains(claims.role) else {
                return .failure(Refusal(status: .forbidden, reason: "a browser cannot be a \(claims.role)"))
            }
            return .success(Admission(claims: claims, token: token))
        } catch {
            return .failure(Refusal(status: .unauthorized, reason: "token refused: \(error.description)"))
        }
    }

    // MARK: WebSocket

    private func refuse(_ channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, _ refusal: Refusal) async {
        logger.info("browser refused", metadata: ["reason": "\(refusal.reason)"])
        try? await channel.executeThenClose { inbound, outbound in
            try await outbound.write(Self.closeFrame(code: refusal.closeCode, reason: refusal.reason, channel.channel.allocator))
            // The closing handshake: read until the browser's own close (at most 2 s). Closing the socket with its
            // frames unread would reset the connection, and the browser could lose our close frame (1006, no reason).
            let giveUp = Task { [channel = channel.channel] in
                try await Task.sleep(for: .seconds(2))
                channel.close(promise: nil)
            }
            defer { giveUp.cancel() }
            do { for try await frame in inbound where frame.opcode == .connectionClose { break } } catch {}
        }
    }

    private func serveBrowser(_ channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, _ link: BrowserLink) async {
        guard links.withLock({ links in
            guard links.count < configuration.browserLimit else { return false }
            links[link.id] = link
            return true
        }) else {
            link.close(reason: "the gateway serves \(configuration.browserLimit) browsers at most")
            try? await channel.executeThenClose { _, outbound in try await Self.writeClose(outbound, link, channel.channel.allocator) }
            return
        }
        logger.info("browser connected", metadata: ["browser": "\(link.id)", "user": "\(link.claims.map { "\($0.role):\($0.user)" } ?? "-")"])
        bridge.open(link)
        link.lastHeard.store(Self.nowMilliseconds(), ordering: .relaxed)
        let allocator = channel.channel.allocator
        let idleMilliseconds = Int64(configuration.idleTimeout / .milliseconds(1))
        do {
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await (frame, queuedAt) in link.frames {
                            try await outbound.write(Self.webSocketFrame(frame, allocator))
                            link.written(frame, queuedAt: queuedAt)
                        }
                        try await Self.writeClose(outbound, link, allocator)
                    }
                    group.addTask {
                        while !link.isClosed {
                            try await Task.sleep(for: .seconds(2))
                            if Self.nowMilliseconds() - link.lastHeard.load(ordering: .relaxed) > idleMilliseconds {
                                link.close(reason: "the browser went silent")
                            } else {
                                link.send(.ping)
                            }
                        }
                    }
                    group.addTask { [self] in
                        for try await frame in inbound {
                            link.lastHeard.store(Self.nowMilliseconds(), ordering: .relaxed)
                            if !handle(frame, from: link) { break }
                        }
                        // However reading ended, the writer says why (a close frame) before the socket goes: the
                        // first task to end cancels the others, so this one waits (at most a second) for the writer.
                        link.close(reason: "closed")
                        try await Task.sleep(for: .seconds(1))
                    }
                    _ = try await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("browser connection ended", metadata: ["browser": "\(link.id)", "error": "\(error)"])
        }
        link.close(reason: "closed")
        links.withLock { _ = $0.removeValue(forKey: link.id) }
        bridge.closed(link)
        logger.info("browser gone", metadata: ["browser": "\(link.id)", "dropped to it": "\(link.droppedToBrowser.load(ordering: .relaxed))"])
    }

    /// One frame from the browser. False ends the connection.
    private func handle(_ frame: WebSocketFrame, from link: BrowserLink) -> Bool {
        switch frame.opcode {
        case .text:
            let data = Data(frame.unmaskedData.readableBytesView)
            guard data.count <= SignalingProtocol.maxMessageBytes else {
                link.send(.text(WireCodec.encode(ErrorReply(ProtocolError(.tooLarge, "more than \(SignalingProtocol.maxMessageBytes) bytes")))))
                return true
            }
            if let refusal = checkIdentity(data, link) {
                link.send(.text(WireCodec.encode(ErrorReply(refusal), re: WireCodec.peekID(data))))
                return true
            }
            if !bridge.fromBrowser(text: data, link) {
                link.send(.text(WireCodec.encode(ErrorReply(ProtocolError(.queueFull, "the gateway is overloaded")), re: WireCodec.peekID(data))))
            }
            return true
        case .binary:
            let decoded: (channel: UInt8, frames: [Data])
            do { decoded = try BinaryFrames.decode(frame.unmaskedData.readableBytesView) } catch {
                link.close(reason: "bad binary message: \(error.description)")
                return false
            }
            // Refused when too much from this browser waits for the hub thread: live media is lost, not queued.
            _ = bridge.fromBrowser(channel: decoded.channel, frames: decoded.frames, link)
            return true
        case .ping:
            link.send(.pong(Data(frame.unmaskedData.readableBytesView)))
            return true
        case .pong:
            return true
        case .connectionClose:
            return false
        default:
            link.close(reason: "unexpected frame")
            return false
        }
    }

    /// With tokens, a browser's `hello` must name the token's role and user, and carry the token itself
    /// (a CURVE hub checks it again: the gateway's key may speak only for users its tokens name).
    private func checkIdentity(_ data: Data, _ link: BrowserLink) -> ProtocolError? {
        guard let claims = link.claims, let envelope = try? WireCodec.clientToHub.decode(data),
              let hello = envelope.message as? Hello else { return nil }
        guard hello.role.rawValue == claims.role, hello.userId == claims.user else {
            return ProtocolError(.identityMismatch, "this browser's token names \(claims.role):\(claims.user), not \(hello.role.rawValue):\(hello.userId)")
        }
        guard hello.token == link.token else {
            return ProtocolError(.identityMismatch, "hello must carry the token this browser connected with")
        }
        return nil
    }

    private static func webSocketFrame(_ frame: BrowserLink.Outbound, _ allocator: ByteBufferAllocator) -> WebSocketFrame {
        switch frame {
        case .text(let data): WebSocketFrame(fin: true, opcode: .text, data: allocator.buffer(bytes: data))
        case .binary(let data): WebSocketFrame(fin: true, opcode: .binary, data: allocator.buffer(bytes: data))
        case .ping: WebSocketFrame(fin: true, opcode: .ping, data: allocator.buffer(capacity: 0))
        case .pong(let data): WebSocketFrame(fin: true, opcode: .pong, data: allocator.buffer(bytes: data))
        }
    }

    private static func writeClose(_ outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>, _ link: BrowserLink,
                                   _ allocator: ByteBufferAllocator) async throws {
        try await outbound.write(closeFrame(code: 1008, reason: link.closeReason.withLock { $0 } ?? "closed", allocator))
    }

    /// A close frame with a reason cut to fit the 125 bytes a control frame may carry.
    private static func closeFrame(code: UInt16, reason: String, _ allocator: ByteBufferAllocator) -> WebSocketFrame {
        var buffer = allocator.buffer(capacity: 125)
        buffer.writeInteger(code)
        var reason = reason
        while reason.utf8.count > 120 { reason.removeLast() }
        buffer.writeString(reason)
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)
    }

    /// "bbr" as `TCP_CONGESTION` takes it: the name's bytes, NUL-terminated.
    private static let bbr: (UInt8, UInt8, UInt8, UInt8) = (98, 98, 114, 0)

    private static func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: HTTP

    private func serveHTTP(_ channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, peer: String?) async {
        try? await channel.executeThenClose { inbound, outbound in
            var request: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let head): request = head
                case .body: continue
                case .end:
                    guard let head = request else { return }
                    let (status, type, body) = response(to: head)
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: type)
                    headers.add(name: "Content-Length", value: String(body.count))
                    headers.add(name: "Cache-Control", value: "no-store")
                    headers.add(name: "X-Content-Type-Options", value: "nosniff")
                    // Page URLs carry tokens: never let them leave in a Referer.
                    headers.add(name: "Referrer-Policy", value: "no-referrer")
                    headers.add(name: "Connection", value: "close")
                    // Integrators' pages on their own origins load the SDK (a module script is a CORS request).
                    headers.add(name: "Vary", value: "Origin")
                    if let origin = head.headers.first(name: "origin"), isAllowed(origin: origin, host: requestedHost(head, peer: peer)) {
                        headers.add(name: "Access-Control-Allow-Origin", value: origin)
                        if head.method == .OPTIONS {
                            headers.add(name: "Access-Control-Allow-Methods", value: "GET, HEAD")
                            headers.add(name: "Access-Control-Max-Age", value: "600")
                        }
                    }
                    try await outbound.write(contentsOf: [
                        .head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)),
                        .body(.byteBuffer(channel.channel.allocator.buffer(bytes: body))), .end(nil),
                    ])
                    return
                }
            }
        }
    }

    private func response(to head: HTTPRequestHead) -> (HTTPResponseStatus, String, Data) {
        let path = URLComponents(string: "http://gateway" + head.uri)?.path ?? ""
        if path == "/ws" { return (.badRequest, "text/plain; charset=utf-8", Data("a WebSocket upgrade is expected here\n".utf8)) }
        if head.method == .OPTIONS { return (.noContent, "text/plain; charset=utf-8", Data()) }  // a CORS preflight
        guard head.method == .GET || head.method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", Data("GET only\n".utf8))
        }
        guard let file = site.file(at: path) else { return (.notFound, "text/plain; charset=utf-8", Data("not found\n".utf8)) }
        return (.ok, file.type, file.body)
    }
}

/// The files the gateway serves, embedded in the binary at build time (`Sources/WebGateway/Site`):
/// fixed names, no paths from the request.
struct Site {
    struct File {
        let type: String
        let body: Data
    }

    private let files: [String: File]

    static func load() -> Site {
        let javascript = "text/javascript; charset=utf-8", html = "text/html; charset=utf-8"
        var files: [String: File] = [
            "/ctlive.js": File(type: javascript, body: Data(PackageResources.ctlive_js)),
            "/customer.html": File(type: html, body: Data(PackageResources.customer_html)),
            "/agent.html": File(type: html, body: Data(PackageResources.agent_html)),
            "/index.html": File(type: html, body: Data(PackageResources.index_html)),
            "/style.css": File(type: "text/css; charset=utf-8", body: Data(PackageResources.style_css)),
            // TypeScript declarations for ctlive.js (docs/BROWSER.md).
            "/ctlive.d.ts": File(type: "application/typescript; charset=utf-8", body: Data(PackageResources.ctlive_d_ts)),
        ]
        files["/"] = files["/index.html"]
        return Site(files: files)
    }

    func file(at path: String) -> File? { files[path] }
}
