/// The RTCP this edge reads and writes: keyframe requests (PLI, FIR: RFC 4585, RFC 5104) in, and a sender
/// report out, so the engine on the other side knows where to send its feedback.
public enum RTCP {
    /// Whether a compound RTCP packet asks for a keyframe. Malformed input is simply not a request.
    public static func requestsKeyframe(_ bytes: [UInt8]) -> Bool {
        var index = 0
        while index + 4 <= bytes.count {
            guard bytes[index] >> 6 == 2 else { return false }
            let format = bytes[index] & 0x1f
            let type = bytes[index + 1]
            let length = ((Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])) + 1) * 4
            guard index + length <= bytes.count else { return false }
            if type == 206, format == 1 || format == 4 { return true }
            index += length
        }
        return false
    }

    /// A sender report with no report blocks (RFC 3550 §6.4.1).
    public static func senderReport(ssrc: UInt32, ntpSeconds: UInt32, ntpFraction: UInt32, rtpTimestamp: UInt32,
                                    packets: UInt32, octets: UInt32) -> [UInt8] {
        var out: [UInt8] = [0x80, 200, 0, 6]
        for word in [ssrc, ntpSeconds, ntpFraction, rtpTimestamp, packets, octets] {
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
        }
        return out
    }

    /// A picture loss indication from `sender` about `source` (RFC 4585 §6.3.1).
    public static func pictureLossIndication(sender: UInt32, source: UInt32) -> [UInt8] {
        var out: [UInt8] = [0x81, 206, 0, 2]
        for word in [sender, source] {
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
        }
        return out
    }
}

/// One outgoing RTP stream: its SSRC, sequence numbers, and media time turned into RTP time.
public struct RTPStream: Sendable {
    public let payloadType: UInt8
    public let clockRate: Int64
    public let ssrc: UInt32
    private var sequence: UInt16
    public private(set) var packets: UInt32 = 0
    public private(set) var octets: UInt32 = 0
    public private(set) var lastTimestamp: UInt32 = 0

    public init(payloadType: UInt8, clockRate: Int64, ssrc: UInt32 = .random(in: 1...UInt32.max), firstSequence: UInt16 = .random(in: 0...UInt16.max)) {
        self.payloadType = payloadType; self.clockRate = clockRate; self.ssrc = ssrc; self.sequence = firstSequence
    }

    /// A media time (`value` × `numerator`/`denominator` seconds) in this stream's clock, wrapped to 32 bits.
    public func rtpTimestamp(_ value: Int64, numerator: Int64, denominator: Int64) -> UInt32 {
        let ticks = value.multipliedFullWidth(by: clockRate * numerator)
        let (quotient, _) = denominator.dividingFullWidth(ticks)
        return UInt32(truncatingIfNeeded: quotient)
    }

    /// Packets for one frame's payloads, the marker on the last.
    public mutating func packets(_ payloads: [[UInt8]], timestamp: UInt32) -> [RTPPacket] {
        lastTimestamp = timestamp
        return payloads.enumerated().map { index, payload in
            defer { sequence &+= 1 }
            packets &+= 1
            octets &+= UInt32(truncatingIfNeeded: payload.count)
            return RTPPacket(payloadType: payloadType, marker: index == payloads.count - 1, sequenceNumber: sequence,
                             timestamp: timestamp, ssrc: ssrc, payload: payload)
        }
    }
}
