/// One RTP packet (RFC 3550 §5.1), parsed from untrusted bytes or built to be sent.
///
/// Only what moving H.264 and Opus between Janus and the media plane needs: the fixed header, CSRCs and a
/// header extension are skipped over, padding is removed.
public struct RTPPacket: Sendable, Equatable {
    public var payloadType: UInt8
    public var marker: Bool
    public var sequenceNumber: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32
    public var payload: [UInt8]

    public init(payloadType: UInt8, marker: Bool, sequenceNumber: UInt16, timestamp: UInt32, ssrc: UInt32, payload: [UInt8]) {
        self.payloadType = payloadType; self.marker = marker; self.sequenceNumber = sequenceNumber
        self.timestamp = timestamp; self.ssrc = ssrc; self.payload = payload
    }

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Parses one datagram. RTCP (payload types 64–95 after the marker bit, RFC 5761) is refused here.
    public init(parsing bytes: some Collection<UInt8>) throws(Invalid) {
        let data = Array(bytes)
        guard data.count >= 12 else { throw Invalid(description: "an RTP packet has at least 12 bytes, this one \(data.count)") }
        guard data[0] >> 6 == 2 else { throw Invalid(description: "RTP version \(data[0] >> 6), expected 2") }
        let padding = data[0] & 0x20 != 0
        let hasExtension = data[0] & 0x10 != 0
        let csrcCount = Int(data[0] & 0x0f)
        marker = data[1] & 0x80 != 0
        payloadType = data[1] & 0x7f
        guard !(64...95).contains(payloadType) else { throw Invalid(description: "payload type \(payloadType) is RTCP") }
        sequenceNumber = UInt16(data[2]) << 8 | UInt16(data[3])
        timestamp = data[4..<8].reduce(0) { $0 << 8 | UInt32($1) }
        ssrc = data[8..<12].reduce(0) { $0 << 8 | UInt32($1) }
        var start = 12 + 4 * csrcCount
        if hasExtension {
            guard data.count >= start + 4 else { throw Invalid(description: "cut off in its header extension") }
            let words = Int(data[start + 2]) << 8 | Int(data[start + 3])
            start += 4 + 4 * words
        }
        var end = data.count
        if padding {
            guard let count = data.last, count > 0, Int(count) <= end - start else { throw Invalid(description: "bad padding") }
            end -= Int(count)
        }
        guard start <= end else { throw Invalid(description: "cut off in its header") }
        payload = Array(data[start..<end])
    }

    /// The datagram: fixed header, no CSRCs, no extension, no padding.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(12 + payload.count)
        out.append(0x80)
        out.append((marker ? 0x80 : 0) | payloadType & 0x7f)
        out.append(UInt8(sequenceNumber >> 8)); out.append(UInt8(sequenceNumber & 0xff))
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: timestamp >> UInt32(shift))) }
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: ssrc >> UInt32(shift))) }
        out.append(contentsOf: payload)
        return out
    }

    /// Whether a datagram on a port that carries both (rtcp-mux) is RTCP: its second byte is 192–223 (RFC 5761 §4).
    public static func isRTCP(_ bytes: some Collection<UInt8>) -> Bool {
        guard bytes.count >= 2 else { return false }
        let second = bytes[bytes.index(after: bytes.startIndex)]
        return (192...223).contains(second)
    }
}

/// Sequence numbers and timestamps wrap; these extend them to 64 bits, in arrival order.
public struct SequenceUnwrapper: Sendable {
    private var last: Int64?
    public init() {}

    /// The extended value of a 16-bit sequence number: the one nearest the last.
    public mutating func unwrap(_ value: UInt16) -> Int64 { unwrap(Int64(value), modulus: 1 << 16) }
    /// The extended value of a 32-bit timestamp.
    public mutating func unwrap(_ value: UInt32) -> Int64 { unwrap(Int64(value), modulus: 1 << 32) }

    private mutating func unwrap(_ value: Int64, modulus: Int64) -> Int64 {
        guard let last else { self.last = value; return value }
        let base = last - last.remainderModulo(modulus)
        var candidate = base + value
        if candidate - last > modulus / 2 { candidate -= modulus } else if last - candidate > modulus / 2 { candidate += modulus }
        if candidate > last { self.last = candidate }
        return candidate
    }
}

extension Int64 {
    fileprivate func remainderModulo(_ modulus: Int64) -> Int64 { ((self % modulus) + modulus) % modulus }
}
