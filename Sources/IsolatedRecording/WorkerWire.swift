import Foundation
import Media
import Recorder

#if canImport(Glibc)
import Glibc
#endif

/// One message between the bot and a recording worker, over a pipe.
///
/// On the pipe a message is a frame: the JSON's length and the payload's length (each a big-endian
/// `UInt32`), the JSON, then the payload (a packet's bytes; empty for every other message). Frames
/// over ``WorkerWire/maximumFrameBytes`` end the connection: the other side is broken.
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

    init(descriptor: Int32) { self.descriptor = descriptor }

    /// The next message and its payload; nil at the end of the stream or on a malformed frame.
    mutating func next() -> (WorkerMessage, [UInt8])? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if buffer.count >= 8 {
                let jsonLength = Int(buffer[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                let payloadLength = Int(buffer[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                guard jsonLength + payloadLength <= WorkerWire.maximumFrameBytes else { return nil }
                let total = 8 + jsonLength + payloadLength
                if buffer.count >= total {
                    let json = Data(buffer[8..<8 + jsonLength])
                    let payload = Array(buffer[8 + jsonLength..<total])
                    buffer.removeFirst(total)
                    guard let message = try? JSONDecoder().decode(WorkerMessage.self, from: json) else { return nil }
                    return (message, payload)
                }
            }
            let n = read(descriptor, &chunk, chunk.count)
            if n > 0 {
                buffer.append(contentsOf: chunk[..<n])
            } else if n == 0 || errno != EINTR {
                return nil
            }
        }
    }
}
