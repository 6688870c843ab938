import Foundation
import Media
import Recorder

#if canImport(Glibc)
import Glibc
#endif

/// One message between the bot and a recording worker, over a pipe.
///
/// On the pipe a message is a frame: the header's length and the payload's length (each a big-endian
/// `UInt32`), the header, then the payload (a packet's bytes; empty for every other message). The
/// header of a media packet is binary and starts with a zero byte (see ``WorkerWire/packetFrame``):
/// packets are most of the traffic, and JSON per packet cost more than the recording itself. Every
/// other message's header is JSON. Frames over ``WorkerWire/maximumFrameBytes`` end the connection:
/// the other side is broken.
struct WorkerMessage: Codable, Sendable {
    enum Operation: String, Codable, Sendable {
        // Bot → worker.
        case start, joined, left, track, packet, event, end
        // Worker → bot.
        case started, alive, loudest, keyframe, writeFailed, finished, failed
    }

    var op: Operation
    var configuration: RecordingConfiguration?
    var participant: String?
    var name: String?
    var role: String?
    var color: RGB?
    var track: String?
    var parameters: TrackParameters?
    var pts: Int64?
    var dts: Int64?
    var duration: Int64?
    var key: Bool?
    var capturedUs: Int64?
    var event: TimelineEvent?
    var interruption: String?
    var directory: String?
    var ranking: [String]?
    var error: String?
    var result: RecordingResult?

    init(_ op: Operation) { self.op = op }
}

enum WorkerWire {
    /// A media packet (at most 1 MiB on the hub) plus its JSON.
    static let maximumFrameBytes = 2 << 20

    private static let encoder = JSONEncoder()
    private static let decoder = JSONDecoder()

    /// A media packet's frame: `0 · u16 length · participant · u16 length · track · i64 pts · i64 dts ·
    /// i64 duration · u8 flags (1 = keyframe) · i64 capturedUs (i64.min: none)`, then its bytes.
    static func packetFrame(participant: String, track: String, packet: EncodedPacket, capturedUs: Int64?) -> [UInt8] {
        let participantBytes = Array(participant.utf8.prefix(0xFFFF)), trackBytes = Array(track.utf8.prefix(0xFFFF))
        let headerLength = 1 + 2 + participantBytes.count + 2 + trackBytes.count + 8 * 3 + 1 + 8
        var out: [UInt8] = []
        out.reserveCapacity(8 + headerLength + packet.data.count)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) } }
        append(UInt32(headerLength))
        append(UInt32(packet.data.count))
        out.append(0)
        append(UInt16(participantBytes.count))
        out += participantBytes
        append(UInt16(trackBytes.count))
        out += trackBytes
        for value in [packet.pts, packet.dts, packet.duration] { append(value) }
        out.append(packet.isKeyframe ? 1 : 0)
        append(capturedUs ?? .min)
        out += packet.data
        return out
    }

    /// Reads a packet frame's binary header; nil when malformed.
    static func packetMessage(_ header: ArraySlice<UInt8>) -> WorkerMessage? {
        var index = header.startIndex + 1
        func integer(_ count: Int) -> UInt64? {
            guard index + count <= header.endIndex else { return nil }
            defer { index += count }
            return header[index..<index + count].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
        func text() -> String? {
            guard let length = integer(2).map(Int.init), index + length <= header.endIndex else { return nil }
            defer { index += length }
            return String(decoding: header[index..<index + length], as: UTF8.self)
        }
        guard let participant = text(), let track = text(), let pts = integer(8), let dts = integer(8), let duration = integer(8),
            let flags = integer(1), let captured = integer(8), index == header.endIndex
        else { return nil }
        var message = WorkerMessage(.packet)
        (message.participant, message.track) = (participant, track)
        (message.pts, message.dts, message.duration) = (Int64(bitPattern: pts), Int64(bitPattern: dts), Int64(bitPattern: duration))
        message.key = flags & 1 != 0
        message.capturedUs = Int64(bitPattern: captured) == .min ? nil : Int64(bitPattern: captured)
        return message
    }

    static func frame(_ message: WorkerMessage, payload: [UInt8] = []) -> [UInt8] {
        let json = [UInt8]((try? encoder.encode(message)) ?? Data("{\"op\":\"failed\"}".utf8))
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count + payload.count)
        for length in [json.count, payload.count] {
            withUnsafeBytes(of: UInt32(length).bigEndian) { out.append(contentsOf: $0) }
        }
        out += json
        out += payload
        return out
    }

    /// Writes all of `bytes` to `descriptor`; false when the other end is gone.
    static func write(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }
}

/// Reads frames from a descriptor (blocking), one at a time.
struct WorkerFrameReader {
    let descriptor: Int32
    private var buffer: [UInt8] = []
    /// Where the next frame starts in `buffer`: consumed bytes are dropped in bulk, not per frame.
    private var start = 0
    private static let readSize = 1 << 16
    private let decoder = JSONDecoder()

    init(descriptor: Int32) { self.descriptor = descriptor }

    /// The next message and its payload; nil at the end of the stream or on a malformed frame.
    mutating func next() -> (WorkerMessage, [UInt8])? {
        while true {
            if buffer.count - start >= 8 {
                let headerLength = Int(buffer[start..<start + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                let payloadLength = Int(buffer[start + 4..<start + 8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                guard headerLength > 0, headerLength + payloadLength <= WorkerWire.maximumFrameBytes else { return nil }
                let total = 8 + headerLength + payloadLength
                if buffer.count - start >= total {
                    let header = buffer[start + 8..<start + 8 + headerLength]
                    let payload = Array(buffer[start + 8 + headerLength..<start + total])
                    start += total
                    let message = header.first == 0 ? WorkerWire.packetMessage(header) : try? decoder.decode(WorkerMessage.self, from: Data(header))
                    guard let message else { return nil }
                    return (message, payload)
                }
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let count = buffer.count
            buffer.reserveCapacity(count + Self.readSize)
            buffer.append(contentsOf: repeatElement(0, count: Self.readSize))
            let (n, error) = buffer.withUnsafeMutableBytes { raw -> (Int, Int32) in
                let n = read(descriptor, raw.baseAddress! + count, Self.readSize)
                return (n, errno)
            }
            buffer.removeLast(Self.readSize - max(0, n))
            if n == 0 || (n < 0 && error != EINTR) { return nil }
        }
    }
}
