import Foundation
import NIOCore
import NIOPosix

/// One UDP socket on SwiftNIO's event loops: what arrives is handed to `receive` on the socket's own loop
/// thread (so per-socket state needs no lock); sends may come from any thread. Closed once.
final class UDPPort: Sendable {
    private let channel: Channel
    let port: Int

    /// Datagrams larger than this are not RTP we take (Janus sends ≤ 1500).
    static let maximumDatagram = 2048

    static func bind(host: String, receive: @escaping @Sendable (_ bytes: [UInt8], _ from: SocketAddress) -> Void) async throws -> UDPPort {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: maximumDatagram))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Receiver(receive: receive)) }
            }
            .bind(host: host, port: 0).get()
        return UDPPort(channel: channel, port: channel.localAddress?.port ?? 0)
    }

    private init(channel: Channel, port: Int) { self.channel = channel; self.port = port }

    func send(_ bytes: [UInt8], to address: SocketAddress) {
        let buffer = channel.allocator.buffer(bytes: bytes)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
    }

    func close() { channel.close(promise: nil) }

    private final class Receiver: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let receive: @Sendable ([UInt8], SocketAddress) -> Void
        init(receive: @escaping @Sendable ([UInt8], SocketAddress) -> Void) { self.receive = receive }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            receive(Array(envelope.data.readableBytesView), envelope.remoteAddress)
        }

        // A refused send (ICMP port unreachable while Janus restarts) is no reason to close the socket.
        func errorCaught(context: ChannelHandlerContext, error: Error) {}
    }
}
