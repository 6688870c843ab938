import Foundation
import Media

#if canImport(Glibc)
import Glibc
#endif

/// `originals.ctlo`: the record of a session part. Every packet every participant sent, byte for byte as
/// it arrived, in arrival order, each with its place on the session clock and its arrival time.
///
/// Why a container of our own rather than Matroska or fragmented MP4 (docs/ORIGINALS.md says more):
/// - **Tracks come and go.** A supervisor joins at minute 12 with two new tracks. Matroska and MP4 name
///   every track in a header before the first packet; adding one means rewriting that header, and a
///   rewritten prefix breaks the seals, which sign the file's bytes as it grows.
/// - **Append-only, record by record.** Each record is written whole with one `write(2)`: a SIGKILL
///   loses nothing written, with no cluster or fragment held in memory, and the seals hash a prefix
///   that never changes.
/// - **As received.** Matroska and MP4 store H.264 length-prefixed and would rewrite a browser's Annex
///   B; here the payload is the publisher's bytes, so "sent equals kept" is a byte comparison.
/// - **Two times per packet.** Its place on the session clock (from its capture time) and its arrival.
///
/// `ctlive recordings originals ID --mkv FILE` remuxes it into Matroska for any player.
///
/// Layout: the 8-byte preamble `CTLO`, version 1, three zero bytes; then records, each
/// `u8 type · u32 length (big-endian) · body`. A file cut short ends at its last whole record.
public enum OriginalsFile {
    public static let fileName = "originals.ctlo"
    public static let containerName = "CTLive originals v1 (every packet as received, on the session clock)"
    public static let magic: [UInt8] = Array("CTLO".utf8) + [1, 0, 0, 0]
    /// A record's body (a packet with its header, a JSON description) is never larger.
    public static let maximumRecordBytes = PacketCheck.maximumSize + 64
    /// Bytes of a packet record's fixed header, before the payload.
    static let packetHeaderBytes = 2 + 1 + 8 * 6

    enum RecordType: UInt8 {
        /// JSON ``OriginalsHeader``.
        case header = 1
        /// JSON ``OriginalsTrack``: a track is numbered before its first packet.
        case track = 2
        /// A packet: `u16 track · u8 flags (1 = keyframe) · i64 pts · i64 dts · i64 duration` (the
        /// publisher's ticks) `· i64 placedUs · i64 arrivalUs` (session clock, µs) `· i64 capturedUs`
        /// (the publisher's wall clock, µs since 1970, or i64.min when not sent) `· payload`.
        case packet = 3
        /// JSON ``OriginalsMembership``: a join or a leave.
        case membership = 4
        /// JSON ``OriginalsEnd``: the part ended cleanly here.
        case end = 5
    }
}

/// The first record: what this file is the record of.
public struct OriginalsHeader: Codable, Sendable, Equatable {
    public var recording: String
    public var session: String
    public var part: Int?
    /// When session time zero was, UTC (ISO 8601 with milliseconds).
    public var wallClockStart: String
}

/// A track, numbered from 1 in the order tracks were announced.
public struct OriginalsTrack: Codable, Sendable, Equatable {
    public var number: Int
    public var participant: String
    public var track: String
    public var parameters: TrackParameters
}

/// A participant joining (`join`) or leaving (`leave`) the room, on the session clock.
public struct OriginalsMembership: Codable, Sendable, Equatable {
    public var event: String
    public var participant: String
    public var name: String?
    public var role: String?
    public var color: String?
    public var time: Double
}

public struct OriginalsEnd: Codable, Sendable, Equatable {
    public var time: Double
}

/// One packet as it is kept.
public struct OriginalsPacket: Sendable {
    public var track: Int
    public var packet: EncodedPacket
    /// Where the packet's presentation time lies on the session clock (seconds): its capture time.
    public var placed: Double
    /// When it reached the recorder (seconds, session clock).
    public var arrival: Double
    /// The publisher's capture stamp (µs since 1970, its clock), when it sent one.
    public var capturedUs: Int64?
}

/// Appends records to a new originals file. Single-threaded: its owner calls it from one thread.
public final class OriginalsWriter {
    public let path: String
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    /// Bytes written so far (the preamble included).
    public private(set) var bytes: UInt64 = 0
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// Creates `path` (never overwrites) and writes the preamble and the header.
    public init(path: String, header: OriginalsHeader) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw MediaError(operation: "open(\(path))", message: String(cString: strerror(errno))) }
        buffer = OriginalsFile.magic
        do { try appendJSON(.header, header) } catch {
            close(descriptor)
            throw error
        }
    }

    deinit { close(descriptor) }

    public func announce(_ track: OriginalsTrack) throws { try appendJSON(.track, track) }
    public func record(_ membership: OriginalsMembership) throws { try appendJSON(.membership, membership) }
    public func end(at time: Double) throws { try appendJSON(.end, OriginalsEnd(time: time)) }

    /// Appends a packet, its payload untouched.
    public func write(_ kept: OriginalsPacket) throws {
        let packet = kept.packet
        begin(.packet, length: OriginalsFile.packetHeaderBytes + packet.data.count)
        appendInteger(UInt16(truncatingIfNeeded: kept.track))
        buffer.append(packet.isKeyframe ? 1 : 0)
        for value in [packet.pts, packet.dts, packet.duration, microseconds(kept.placed), microseconds(kept.arrival), kept.capturedUs ?? .min] {
            appendInteger(UInt64(bitPattern: value))
        }
        buffer += packet.data
        try flush()
    }

    private func microseconds(_ seconds: Double) -> Int64 {
        guard seconds.isFinite, abs(seconds) < 1e12 else { return 0 }
        return Int64((seconds * 1e6).rounded())
    }

    private func appendJSON<T: Encodable>(_ type: OriginalsFile.RecordType, _ value: T) throws {
        let json = try Self.encoder.encode(value)
        begin(type, length: json.count)
        buffer += json
        try flush()
    }

    private func begin(_ type: OriginalsFile.RecordType, length: Int) {
        buffer.append(type.rawValue)
        appendInteger(UInt32(length))
    }

    private func appendInteger<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }

    /// One `write(2)` per record (retried only for what a signal interrupted): a process killed at any
    /// moment leaves whole records, the last one at worst cut short, which readers ignore.
    private func flush() throws {
        defer { buffer.removeAll(keepingCapacity: true) }
        var offset = 0
        try buffer.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw MediaError(operation: "write(\(path))", message: String(cString: strerror(errno)))
                }
                offset += n
            }
        }
        bytes += UInt64(buffer.count)
    }
}

/// Reads an originals file record by record, from the start. A record cut short (a writer killed
/// mid-write) ends the file: ``truncated`` says so. Anything else malformed throws, naming the byte.
public final class OriginalsReader {
    public enum Record: Sendable {
        case header(OriginalsHeader)
        case track(OriginalsTrack)
        case packet(OriginalsPacket)
        case membership(OriginalsMembership)
        case end(OriginalsEnd)
    }

    public let path: String
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0  // in `buffer`
    /// Offset in the file of the next record.
    public private(set) var offset: UInt64 = 0
    /// True once the file ended inside a record (its writer was killed).
    public private(set) var truncated = false
    private var atEnd = false

    public init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw MediaError(operation: "open(\(path))", message: "cannot read the originals")
        }
        self.handle = handle
        guard try take(OriginalsFile.magic.count) == OriginalsFile.magic else {
            throw MediaError(operation: "read(\(path))", message: "not a CTLive originals file (version 1)")
        }
    }

    /// The next record, or nil at the end of the file (or where it was cut short).
    public func next() throws -> Record? {
        let start = offset
        guard let head = try take(5) else { return nil }
        guard let type = OriginalsFile.RecordType(rawValue: head[0]) else { throw damaged(start, "unknown record type \(head[0])") }
        let length = Int(head[1...4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        guard length <= OriginalsFile.maximumRecordBytes else { throw damaged(start, "a record of \(length) bytes") }
        guard let body = try take(length) else { return nil }
        let decoder = JSONDecoder()
        do {
            switch type {
            case .header: return .header(try decoder.decode(OriginalsHeader.self, from: Data(body)))
            case .track: return .track(try decoder.decode(OriginalsTrack.self, from: Data(body)))
            case .membership: return .membership(try decoder.decode(OriginalsMembership.self, from: Data(body)))
            case .end: return .end(try decoder.decode(OriginalsEnd.self, from: Data(body)))
            case .packet:
                guard body.count >= OriginalsFile.packetHeaderBytes else { throw damaged(start, "a packet record of \(body.count) bytes") }
                return .packet(Self.decodePacket(body))
            }
        } catch let error as MediaError {
            throw error
        } catch {
            throw damaged(start, "\(error)")
        }
    }

    /// A packet record's body (at least ``OriginalsFile/packetHeaderBytes`` long).
    static func decodePacket(_ body: [UInt8]) -> OriginalsPacket {
        func integer(_ at: Int, _ count: Int) -> UInt64 { body[at..<at + count].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        func signed(_ at: Int) -> Int64 { Int64(bitPattern: integer(at, 8)) }
        let captured = signed(43)
        let packet = EncodedPacket(
            data: Array(body[OriginalsFile.packetHeaderBytes...]), pts: signed(3), dts: signed(11), duration: signed(19),
            isKeyframe: body[2] & 1 != 0)
        return OriginalsPacket(
            track: Int(integer(0, 2)), packet: packet, placed: Double(signed(27)) / 1e6, arrival: Double(signed(35)) / 1e6,
            capturedUs: captured == .min ? nil : captured)
    }

    private func damaged(_ at: UInt64, _ what: String) -> MediaError {
        MediaError(operation: "read(\(path))", message: "damaged originals at byte \(at): \(what)")
    }

    /// The next `count` bytes, or nil (and `truncated` when some were there) at the end of the file.
    private func take(_ count: Int) throws -> [UInt8]? {
        while buffer.count - position < count && !atEnd {
            guard let chunk = try handle.read(upToCount: max(1 << 20, count)), !chunk.isEmpty else {
                atEnd = true
                break
            }
            if position > 0 {
                buffer.removeFirst(position)
                position = 0
            }
            buffer += chunk
        }
        guard buffer.count - position >= count else {
            truncated = buffer.count > position
            return nil
        }
        defer {
            position += count
            offset += UInt64(count)
        }
        return Array(buffer[position..<position + count])
    }
}
