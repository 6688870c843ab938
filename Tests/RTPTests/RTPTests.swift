import Testing
@testable import RTP

@Suite struct RTPTests {
    /// An access unit like a browser's: SPS, PPS and an IDR slice bigger than one packet.
    private func keyframe(sliceBytes: Int = 5_000, seed: UInt8 = 7) -> [UInt8] {
        let sps: [UInt8] = [0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02]
        let pps: [UInt8] = [0x68, 0xce, 0x3c, 0x80]
        let slice: [UInt8] = [0x65] + (0..<sliceBytes).map { UInt8(truncatingIfNeeded: $0 * 31 + Int(seed)) | 1 }
        return H264.startCode + sps + H264.startCode + pps + [0, 0, 1] + slice
    }

    private func delta(_ seed: UInt8) -> [UInt8] { H264.startCode + [0x41] + (0..<300).map { UInt8(truncatingIfNeeded: $0 &+ Int(seed)) | 1 } }

    private func packets(_ units: [[UInt8]], stream: inout RTPStream) -> [RTPPacket] {
        let packetizer = H264Packetizer(maximumPayload: 1_200)
        return units.enumerated().flatMap { index, unit in
            stream.packets(packetizer.payloads(annexB: unit), timestamp: UInt32(index * 3000))
        }
    }

    @Test func packetsRoundTripThroughBytes() throws {
        let packet = RTPPacket(payloadType: 96, marker: true, sequenceNumber: 65535, timestamp: 0xfedc_ba98, ssrc: 42, payload: [1, 2, 3])
        #expect(try RTPPacket(parsing: packet.bytes) == packet)
        #expect(throws: RTPPacket.Invalid.self) { try RTPPacket(parsing: [0x80, 0x60]) }
        #expect(throws: RTPPacket.Invalid.self) { try RTPPacket(parsing: [0x40] + [UInt8](repeating: 0, count: 11)) }
        // Padding longer than the packet.
        #expect(throws: RTPPacket.Invalid.self) { try RTPPacket(parsing: [0xa0, 96] + [UInt8](repeating: 0, count: 10) + [200]) }
        #expect(RTPPacket.isRTCP(RTCP.pictureLossIndication(sender: 1, source: 2)))
        #expect(!RTPPacket.isRTCP(packet.bytes))
    }

    @Test func accessUnitsSurviveFragmentationUnchanged() {
        var stream = RTPStream(payloadType: 96, clockRate: 90_000)
        let units = [keyframe(), delta(1), delta(2)]
        var depacketizer = H264Depacketizer()
        let out = packets(units, stream: &stream).compactMap { depacketizer.push($0) }
        #expect(out.map(\.isKeyframe) == [true, false, false])
        // The NAL units are the same bytes (the 3-byte start code becomes a 4-byte one).
        for (sent, got) in zip(units, out) { #expect(H264.nalUnits(annexB: sent) == H264.nalUnits(annexB: got.annexB)) }
        #expect(out.map(\.timestamp) == [0, 3000, 6000])
    }

    @Test func aHoleDropsPicturesUntilTheNextKeyframe() {
        var stream = RTPStream(payloadType: 96, clockRate: 90_000)
        var sent = packets([keyframe(), delta(1), delta(2), keyframe(seed: 9), delta(3)], stream: &stream)
        let keyPackets = sent.firstIndex { $0.marker }! + 1
        sent.remove(at: keyPackets) // delta 1 is one packet: gone
        var buffer = ReorderBuffer(maximumWait: .milliseconds(0))
        var depacketizer = H264Depacketizer()
        var out: [H264Depacketizer.AccessUnit] = []
        for packet in sent {
            for released in buffer.insert(packet, at: .now) {
                if let unit = depacketizer.push(released.packet, lost: released.lost) { out.append(unit) }
            }
        }
        #expect(out.map(\.timestamp) == [0, 9000, 12000])
        #expect(depacketizer.needsKeyframe)
        #expect(buffer.lostPackets == 1)
    }

    @Test func reorderingIsUndoneWithinTheWait() {
        var stream = RTPStream(payloadType: 96, clockRate: 90_000, firstSequence: 65_530)
        let sent = packets([keyframe(), delta(1), delta(2)], stream: &stream)
        var shuffled = sent
        shuffled.swapAt(1, 3)
        shuffled.swapAt(4, 5)
        var buffer = ReorderBuffer(maximumWait: .seconds(10))
        let start = ContinuousClock.now
        let released = shuffled.flatMap { buffer.insert($0, at: start) }
        #expect(released.map(\.packet) == sent)
        #expect(!released.contains { $0.lost })
        // A duplicate and a packet from before are dropped.
        #expect(buffer.insert(sent[2], at: start).isEmpty)
        #expect(buffer.droppedLate == 1)
    }

    @Test func aGapIsGivenUpOnAfterTheWait() {
        var stream = RTPStream(payloadType: 111, clockRate: 48_000)
        let sent = (0..<4).flatMap { stream.packets([[UInt8($0)]], timestamp: UInt32($0 * 960)) }
        var buffer = ReorderBuffer(maximumWait: .milliseconds(100))
        let start = ContinuousClock.now
        #expect(buffer.insert(sent[0], at: start).count == 1)
        #expect(buffer.insert(sent[2], at: start).isEmpty)
        #expect(buffer.insert(sent[3], at: start + .milliseconds(50)).isEmpty)
        let late = buffer.release(at: start + .milliseconds(101))
        #expect(late.map(\.packet.payload) == [[2], [3]])
        #expect(late.map(\.lost) == [true, false])
    }

    @Test func keyframeRequestsAreFoundInCompoundRTCP() {
        let report = RTCP.senderReport(ssrc: 1, ntpSeconds: 2, ntpFraction: 3, rtpTimestamp: 4, packets: 5, octets: 6)
        #expect(!RTCP.requestsKeyframe(report))
        #expect(RTCP.requestsKeyframe(report + RTCP.pictureLossIndication(sender: 1, source: 2)))
        #expect(!RTCP.requestsKeyframe(Array(RTCP.pictureLossIndication(sender: 1, source: 2).prefix(6))))
    }

    @Test func timestampsUnwrap() {
        var unwrapper = SequenceUnwrapper()
        #expect(unwrapper.unwrap(UInt32.max - 10) == Int64(UInt32.max) - 10)
        #expect(unwrapper.unwrap(UInt32(5)) == Int64(UInt32.max) + 6)
        #expect(unwrapper.unwrap(UInt32.max - 20) == Int64(UInt32.max) - 20) // a late one from before the wrap
        let stream = RTPStream(payloadType: 96, clockRate: 90_000)
        #expect(stream.rtpTimestamp(1_000_000, numerator: 1, denominator: 1_000_000) == 90_000)
    }
}
