/// H.264 over RTP, packetization mode 1 (RFC 6184): single NAL unit packets, STAP-A and FU-A. The access
/// units on our side are Annex B (start codes), as browsers' WebCodecs and our encoder give them: the
/// bytes are never re-encoded, only re-framed.
public enum H264 {
    public static let startCode: [UInt8] = [0, 0, 0, 1]

    /// NAL unit types that matter here.
    public static let idr: UInt8 = 5, sps: UInt8 = 7, pps: UInt8 = 8, stapA: UInt8 = 24, fuA: UInt8 = 28

    /// The NAL units of an Annex B access unit, without their start codes.
    public static func nalUnits(annexB bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var units: [ArraySlice<UInt8>] = []
        var index = 0, unitStart: Int?
        let count = bytes.count
        while index + 2 < count {
            if bytes[index] == 0, bytes[index + 1] == 0, bytes[index + 2] == 1 {
                if let start = unitStart {
                    var end = index
                    while end > start, bytes[end - 1] == 0 { end -= 1 } // trailing zero of a 4-byte start code
                    if end > start { units.append(bytes[start..<end]) }
                }
                index += 3
                unitStart = index
            } else {
                index += 1
            }
        }
        if let start = unitStart, start < count { units.append(bytes[start..<count]) }
        return units
    }

    public static func isKeyframe(annexB bytes: [UInt8]) -> Bool {
        nalUnits(annexB: bytes).contains { $0.first.map { $0 & 0x1f == idr } ?? false }
    }
}

/// Access units out of in-order RTP packets. A unit with a hole in it is never passed on: the stream then
/// waits for the next keyframe, and `needsKeyframe` says it should be asked for.
public struct H264Depacketizer: Sendable {
    public struct AccessUnit: Sendable, Equatable {
        public var annexB: [UInt8]
        public var timestamp: UInt32
        public var isKeyframe: Bool
    }

    /// Bigger units are refused (the media plane's limit).
    public let maximumBytes: Int
    private var units: [[UInt8]] = []
    private var size = 0
    private var timestamp: UInt32?
    private var broken = false
    private var fragment: [UInt8]?
    /// Set when a unit was dropped and pictures wait for a keyframe; cleared by the caller once asked.
    public var needsKeyframe = false
    private var waitingForKeyframe = true
    public private(set) var droppedUnits = 0

    public init(maximumBytes: Int = 1 << 20) { self.maximumBytes = maximumBytes }

    /// One packet, in sequence order; `lost` says packets were given up on just before it.
    public mutating func push(_ packet: RTPPacket, lost: Bool = false) -> AccessUnit? {
        var finished: AccessUnit?
        if let current = timestamp, current != packet.timestamp {
            // A new picture began without the last one's marker: the marked packet was lost.
            finished = finish(complete: false)
        }
        if lost { broken = true; fragment = nil }
        timestamp = packet.timestamp
        take(packet.payload)
        if packet.marker { return finish(complete: true) ?? finished }
        return finished
    }

    private mutating func take(_ payload: [UInt8]) {
        guard let header = payload.first else { return }
        let type = header & 0x1f
        switch type {
        case 1...23:
            fragment = nil
            append(payload[...])
        case H264.stapA:
            var index = 1
            while index + 2 <= payload.count {
                let length = Int(payload[index]) << 8 | Int(payload[index + 1])
                index += 2
                guard length > 0, index + length <= payload.count else { broken = true; return }
                append(payload[index..<index + length])
                index += length
            }
        case H264.fuA:
            guard payload.count >= 2 else { broken = true; return }
            let fu = payload[1]
            let start = fu & 0x80 != 0, end = fu & 0x40 != 0
            if start {
                fragment = [header & 0xe0 | fu & 0x1f] + payload[2...]
            } else if fragment != nil {
                fragment! += payload[2...]
            } else {
                broken = true // the fragment's start was lost
                return
            }
            if end, let unit = fragment { fragment = nil; append(unit[...]) }
        default:
            broken = true // STAP-B, MTAP, FU-B: not in packetization mode 1
        }
    }

    private mutating func append(_ unit: ArraySlice<UInt8>) {
        size += 4 + unit.count
        if size > maximumBytes { broken = true; return }
        units.append(Array(unit))
    }

    private mutating func finish(complete: Bool) -> AccessUnit? {
        defer { units = []; size = 0; timestamp = nil; broken = false; fragment = nil }
        guard let timestamp, !units.isEmpty else { return nil }
        let key = units.contains { ($0.first ?? 0) & 0x1f == H264.idr }
        if broken || !complete || fragment != nil {
            droppedUnits += 1
            if !waitingForKeyframe { needsKeyframe = true }
            waitingForKeyframe = true
            return nil
        }
        if waitingForKeyframe && !key {
            droppedUnits += 1
            needsKeyframe = true
            return nil
        }
        waitingForKeyframe = false
        var annexB: [UInt8] = []
        annexB.reserveCapacity(size)
        for unit in units { annexB += H264.startCode; annexB += unit }
        return AccessUnit(annexB: annexB, timestamp: timestamp, isKeyframe: key)
    }
}

/// RTP payloads for one Annex B access unit: a NAL unit that fits goes alone, a larger one in FU-A
/// fragments. The last payload carries the marker.
public struct H264Packetizer: Sendable {
    public let maximumPayload: Int
    public init(maximumPayload: Int = 1_200) { self.maximumPayload = max(maximumPayload, 16) }

    public func payloads(annexB: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for unit in H264.nalUnits(annexB: annexB) {
            guard let header = unit.first else { continue }
            let type = header & 0x1f
            if type == 9 { continue } // access unit delimiters: RTP's marker does their job
            if unit.count <= maximumPayload { out.append(Array(unit)); continue }
            var rest = unit.dropFirst()
            var first = true
            while !rest.isEmpty {
                let take = min(rest.count, maximumPayload - 2)
                let last = take == rest.count
                let fu: UInt8 = (first ? 0x80 : 0) | (last ? 0x40 : 0) | type
                out.append([header & 0xe0 | H264.fuA, fu] + rest.prefix(take))
                rest = rest.dropFirst(take)
                first = false
            }
        }
        return out
    }
}

extension H264 {
    /// Access units stored length-prefixed (MP4's AVCC, `avcC` extradata) as Annex B; nil if the lengths do not add up.
    public static func annexB(lengthPrefixed bytes: [UInt8], lengthSize: Int = 4) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        var index = 0
        while index < bytes.count {
            guard index + lengthSize <= bytes.count else { return nil }
            let length = bytes[index..<index + lengthSize].reduce(0) { $0 << 8 | Int($1) }
            index += lengthSize
            guard length > 0, index + length <= bytes.count else { return nil }
            out += startCode
            out += bytes[index..<index + length]
            index += length
        }
        return out
    }

    /// An `avcC` record's SPS and PPS as Annex B, and its NAL length size; nil if it is not one.
    public static func parameterSets(avcC: [UInt8]) -> (annexB: [UInt8], lengthSize: Int)? {
        guard avcC.count >= 7, avcC[0] == 1 else { return nil }
        let lengthSize = Int(avcC[4] & 0x03) + 1
        var out: [UInt8] = []
        var index = 5
        for isPPS in [false, true] {
            guard index < avcC.count else { return nil }
            let count = Int(avcC[index] & (isPPS ? 0xff : 0x1f))
            index += 1
            for _ in 0..<count {
                guard index + 2 <= avcC.count else { return nil }
                let length = Int(avcC[index]) << 8 | Int(avcC[index + 1])
                index += 2
                guard index + length <= avcC.count else { return nil }
                out += startCode
                out += avcC[index..<index + length]
                index += length
            }
        }
        return (out, lengthSize)
    }
}
