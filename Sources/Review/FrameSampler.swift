import Media

/// Decodes the video of a recording and hands over the picture shown at each of a list of moments:
/// the first frame at or after each time. Seeks when the next moment is far ahead, so a long
/// recording is not decoded end to end for a dozen pictures.
struct FrameSampler {
    let path: String
    /// Seek when the next moment is further than this ahead of the last decoded frame.
    var seekThreshold: Double

    /// Calls `take(index, frame, frameTime)` once per time in `times` (sorted ascending) that the video reaches.
    /// A moment after the last frame gets the last frame when it is within a second of it.
    /// Returns how many moments were served.
    @discardableResult
    func sample(at times: [Double], _ take: (Int, Frame, Double) throws -> Void) throws -> Int {
        let demuxer = try Demuxer(path: path)
        guard let stream = demuxer.bestStream(.video) else {
            throw MediaError(operation: "contact sheet", message: "\(path) has no video")
        }
        let decoder = try demuxer.makeDecoder(stream: stream)
        let timeBase = demuxer.streams[stream].timeBase
        var next = 0
        var last: (frame: Frame, time: Double)?
        var seekedFor = -1  // the moment the last seek was for: a seek lands on an earlier keyframe, never seek twice for one

        /// Serves every pending moment that `frame` reaches.
        func offer(_ frames: [Frame]) throws {
            for frame in frames {
                let time = Double(frame.pts ?? 0) * timeBase
                while next < times.count && time >= times[next] - 0.001 {
                    try take(next, frame, time)
                    next += 1
                }
                last = (frame, time)
            }
        }

        while next < times.count {
            if next != seekedFor, let decodedUpTo = last?.time, times[next] - decodedUpTo > seekThreshold {
                try demuxer.seek(to: times[next], stream: stream)
                decoder.reset()
                seekedFor = next
            }
            guard let packet = try demuxer.read() else { break }
            guard packet.streamIndex == stream else { continue }
            // A damaged packet costs a picture or two, not the sheet.
            if let frames = try? decoder.decode(packet) { try offer(frames) }
        }
        if next < times.count { try offer(try decoder.flush()) }
        if let last, next < times.count, times[next] - last.time < 1 {
            try take(next, last.frame, last.time)
            next += 1
        }
        return next
    }
}
