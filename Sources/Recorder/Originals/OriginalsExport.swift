import Foundation
import Media

/// Remuxes an originals file into Matroska for any player (`ctlive recordings originals ID --mkv FILE`):
/// every track, every packet, at its place on the session clock; nothing decoded or re-encoded.
///
/// Matroska stores H.264 length-prefixed: FFmpeg's muxer rewrites Annex B start codes as lengths (the NAL
/// units themselves are unchanged). The originals file stays the record; this is a copy for viewing.
public enum OriginalsExport {
    /// What was exported: packets per track number.
    public struct Result: Sendable {
        public var packets: [Int: Int]
    }

    /// The SPS and PPS NAL units of an Annex B access unit, as Annex B.
    static func parameterSets(annexB data: [UInt8]) -> [UInt8] {
        var starts: [(code: Int, payload: Int)] = []
        var index = 0
        while index + 3 < data.count {
            if data[index] == 0, data[index + 1] == 0, data[index + 2] == 1 {
                starts.append((index, index + 3))
                index += 3
            } else {
                index += 1
            }
        }
        var out: [UInt8] = []
        for (position, start) in starts.enumerated() {
            let end = position + 1 < starts.count ? starts[position + 1].code : data.count
            var units = Array(data[start.payload..<end])
            while units.last == 0 { units.removeLast() }  // the next start code's leading zero
            guard let header = units.first, [7, 8].contains(header & 0x1F) else { continue }
            out += [0, 0, 0, 1] + units
        }
        return out
    }

    public static func matroska(originals: String, output: String) throws -> Result {
        // Every track is in the header, before any packet: find them first.
        // An H.264 track whose parameter sets travel in band (browsers, our SDK) gets them from its first keyframe:
        // Matroska wants them in the header.
        let scan = try OriginalsReader(path: originals)
        var tracks: [OriginalsTrack] = []
        while let record = try scan.next() {
            switch record {
            case .track(let track): tracks.append(track)
            case .packet(let kept):
                guard let index = tracks.lastIndex(where: { $0.number == kept.track }), tracks[index].parameters.codec == .h264,
                    tracks[index].parameters.extradata.isEmpty, kept.packet.isKeyframe
                else { continue }
                tracks[index].parameters.extradata = parameterSets(annexB: kept.packet.data)
            default: continue
            }
        }
        let muxer = try Muxer(path: output, format: "matroska")
        var streams: [Int: (stream: Int, timeBase: Double, lastDts: Int64?)] = [:]
        for track in tracks {
            var parameters = track.parameters
            // Packets are stamped in microseconds of the session clock.
            (parameters.timeBaseNum, parameters.timeBaseDen) = (1, 1_000_000)
            streams[track.number] = (try muxer.addStream(parameters: parameters), track.parameters.timeBase, nil)
        }
        try muxer.writeHeader()
        var result = Result(packets: [:])
        let reader = try OriginalsReader(path: originals)
        while let record = try reader.next() {
            guard case .packet(let kept) = record, var stream = streams[kept.track] else { continue }
            let packet = try Packet(kept.packet)
            let pts = Int64((max(0, kept.placed) * 1e6).rounded())
            var dts = pts - Int64((Double(kept.packet.pts &- kept.packet.dts) * stream.timeBase * 1e6).rounded())
            if let last = stream.lastDts, dts <= last { dts = last + 1 }  // the muxer wants each track's times to grow
            packet.pts = max(pts, dts)
            packet.dts = dts
            packet.duration = Int64((Double(max(0, kept.packet.duration)) * stream.timeBase * 1e6).rounded())
            stream.lastDts = dts
            streams[kept.track] = stream
            try muxer.write(packet, stream: stream.stream)
            result.packets[kept.track, default: 0] += 1
        }
        try muxer.finish()
        return result
    }
}
