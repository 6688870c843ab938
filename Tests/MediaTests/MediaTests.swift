import Foundation
import XCTest

@testable import Media

/// Decodes every packet of `source`: the video frames and the audio as mono 48 kHz samples.
func decodeAll(_ source: some EncodedMediaSource) throws -> (frames: [Frame], samples: [Float], keyframes: [Int]) {
    let decoders = try source.tracks.map { try Decoder(parameters: $0) }
    let resampler = Resampler()
    var frames: [Frame] = [], samples: [Float] = [], keyframes: [Int] = []
    var videoPackets = 0
    func take(_ output: [Frame], _ track: Int) throws {
        if source.tracks[track].kind == .video { frames += output } else { for f in output { samples += try resampler.convert(f) } }
    }
    while let (track, encoded) = try source.nextPacket() {
        if source.tracks[track].kind == .video {
            if encoded.isKeyframe { keyframes.append(videoPackets) }
            videoPackets += 1
        }
        try take(try decoders[track].decode(try Packet(encoded)), track)
    }
    for (track, decoder) in decoders.enumerated() { try take(try decoder.flush(), track) }
    return (frames, samples, keyframes)
}

final class MediaTests: XCTestCase {
    func testColorParsing() {
        XCTAssertEqual(RGB(parsing: "red"), RGB(red: 255, green: 0, blue: 0))
        XCTAssertEqual(RGB(parsing: " Blue "), RGB(red: 0, green: 0, blue: 255))
        XCTAssertEqual(RGB(parsing: "#12aBef"), RGB(red: 0x12, green: 0xab, blue: 0xef))
        XCTAssertEqual(RGB(parsing: "#12aBef")?.description, "#12abef")
        XCTAssertNil(RGB(parsing: "#12ab"))
        XCTAssertNil(RGB(parsing: "chartreuse-ish"))
        XCTAssertNil(RGB(parsing: "#gg0000"))
        // YUV conversion round trip stays within rounding.
        for color in RGB.named.values { XCTAssertLessThanOrEqual(RGB(y: color.yuv.y, u: color.yuv.u, v: color.yuv.v).distance(to: color), 3, "\(color)") }
    }

    func testVideoEncoderDecoderRoundTripKeepsColour() throws {
        var settings = VideoEncoderSettings(width: 320, height: 240, fps: 25)
        settings.preset = "ultrafast"
        let encoder = try Encoder(video: settings)
        let decoder = try Decoder(parameters: encoder.parameters)
        let picture = try Frame(width: 320, height: 240)
        let colors = [RGB(parsing: "red")!, RGB(parsing: "#2040c0")!]
        var decoded: [Frame] = []
        for index in 0..<20 {
            try picture.makeWritable()
            picture.fill(x: 0, y: 0, width: 320, height: 240, color: colors[index / 10])
            picture.pts = Int64(index)
            for packet in try encoder.encode(picture) { decoded += try decoder.decode(packet) }
        }
        for packet in try encoder.encode(nil) { decoded += try decoder.decode(packet) }
        decoded += try decoder.flush()
        XCTAssertEqual(decoded.count, 20)
        XCTAssertEqual(decoded.map(\.pts), (0..<20).map { Int64($0) })
        XCTAssertLessThan(decoded[5].averageColor(x: 160, y: 120).distance(to: colors[0]), 12)
        XCTAssertLessThan(decoded[15].averageColor(x: 160, y: 120).distance(to: colors[1]), 12)
    }

    func testAudioEncoderDecoderRoundTripKeepsTone() throws {
        for codec in [MediaCodec.opus, .aac] {
            let encoder = try Encoder(audio: AudioEncoderSettings(codec: codec))
            let decoder = try Decoder(parameters: encoder.parameters)
            let resampler = Resampler()
            let tone = (0..<48000).map { Float(0.5 * sin(2 * Double.pi * 1000 * Double($0) / 48000)) }
            var out: [Float] = []
            for packet in try encoder.encode(monoSamples: tone) + (try encoder.finishAudio()) {
                for frame in try decoder.decode(packet) { out += try resampler.convert(frame) }
            }
            XCTAssertGreaterThan(out.count, 40000, "\(codec)")
            let middle = out[10000..<30000]
            XCTAssertGreaterThan(AudioAnalysis.tonePower(middle, frequency: 1000, sampleRate: 48000), 0.03, "\(codec)")
            XCTAssertLessThan(AudioAnalysis.tonePower(middle, frequency: 700, sampleRate: 48000), 0.001, "\(codec)")
        }
    }

    func testTestSourceDecodesToItsColourAndTone() throws {
        let source = try TestSource(color: RGB(parsing: "green")!, toneHz: 440, width: 320, height: 180, fps: 30, durationSeconds: 3)
        XCTAssertEqual(source.tracks.map(\.codec), [.h264, .opus])
        XCTAssertTrue(source.tracks[0].extradata.isEmpty, "parameter sets travel in band")
        let (frames, samples, keyframes) = try decodeAll(source)
        XCTAssertEqual(frames.count, 90)
        XCTAssertEqual(keyframes, [0, 60], "a keyframe every 2 s")
        for frame in [frames[0], frames[45], frames[89]] {
            XCTAssertLessThan(frame.averageColor(x: 160, y: 90).distance(to: source.color), 12)
        }
        // The moving marker is near the bottom edge and moves.
        let markerY: Int32 = 180 - 9 - 4
        XCTAssertGreaterThan(frames[0].averageColor(x: 4, y: markerY, size: 4).red, 200)
        XCTAssertLessThan(frames[30].averageColor(x: 4, y: markerY, size: 4).red, 100)
        XCTAssertEqual(Double(samples.count) / 48000, 3, accuracy: 0.05)
        let middle = samples[24000..<120000]
        XCTAssertGreaterThan(AudioAnalysis.tonePower(middle, frequency: 440, sampleRate: 48000), 0.01)
        XCTAssertLessThan(AudioAnalysis.tonePower(middle, frequency: 660, sampleRate: 48000), 0.0005)
    }

    func testKeyframeRequestForcesAnIDR() throws {
        let source = try TestSource(color: RGB(parsing: "blue")!, toneHz: 300, width: 160, height: 90, useAudio: false, durationSeconds: 1)
        var keyframes: [Int64] = []
        while let (_, packet) = try source.nextPacket() {
            if packet.isKeyframe { keyframes.append(packet.pts) }
            if packet.pts == 10 { source.keyframeRequested() }
        }
        XCTAssertEqual(keyframes, [0, 11])
    }

    func testMuxerThenFileSourcePassesThroughAndLoops() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("media-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/in.ts"  // in-band parameter sets suit MPEG-TS
        let source = try TestSource(color: RGB(parsing: "yellow")!, toneHz: 500, width: 320, height: 180, durationSeconds: 2)
        let muxer = try Muxer(path: path)
        let streams = try source.tracks.map { try muxer.addStream(parameters: $0) }
        while let (track, packet) = try source.nextPacket() { try muxer.write(try Packet(packet), stream: streams[track]) }
        try muxer.finish()

        let demuxer = try Demuxer(path: path)
        XCTAssertEqual(demuxer.streams.compactMap(\.parameters?.codec), [.h264, .opus])
        let file = try FileSource(path: path, loop: true)
        XCTAssertEqual(file.tracks.map(\.codec), [.h264, .opus])
        var lastVideo: Double = 0
        var count = 0
        while count < 400, let (track, packet) = try file.nextPacket() {
            if file.tracks[track].kind == .video { lastVideo = Double(packet.pts) * file.tracks[track].timeBase }
            count += 1
        }
        XCTAssertEqual(count, 400, "looping never ends")
        XCTAssertGreaterThan(lastVideo, 2.5, "timestamps keep growing across loops")
    }

    func testFileSourceReencodesOtherCodecs() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("media-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/in.avi"
        try runFFmpeg([
            "-f", "lavfi", "-i", "color=c=blue:size=320x240:rate=25:duration=2", "-f", "lavfi", "-i", "sine=frequency=800:duration=2",
            "-c:v", "mpeg4", "-c:a", "mp3", path,
        ])
        let file = try FileSource(path: path)
        XCTAssertEqual(file.tracks.map(\.codec), [.h264, .opus])
        let (frames, samples, _) = try decodeAll(file)
        XCTAssertEqual(frames.count, 50)
        XCTAssertLessThan(frames[25].averageColor(x: 160, y: 120).distance(to: RGB(parsing: "blue")!), 16)
        // lavfi's sine has amplitude 1/8: power about 0.004.
        XCTAssertGreaterThan(AudioAnalysis.tonePower(samples[20000..<80000], frequency: 800, sampleRate: 48000), 0.002)
        XCTAssertLessThan(AudioAnalysis.tonePower(samples[20000..<80000], frequency: 1200, sampleRate: 48000), 0.0002)
    }

    func testErrorsCarryOperationCodeAndText() throws {
        XCTAssertThrowsError(try Demuxer(path: "/nonexistent/file.mp4")) { error in
            let error = error as! MediaError
            XCTAssertTrue(error.operation.hasPrefix("avformat_open_input"))
            XCTAssertEqual(error.code, -ENOENT)
            XCTAssertEqual(error.message, "No such file or directory")
        }
        XCTAssertThrowsError(try Muxer(path: "/nonexistent/directory/out.mp4")) { error in
            XCTAssertEqual((error as? MediaError)?.code, -ENOENT)
        }
        var bad = TrackParameters(kind: .audio, codec: .opus, timeBaseNum: 1, timeBaseDen: 48000, sampleRate: 48000, channels: 1)
        bad.extradata = [1, 2, 3]  // not an OpusHead
        XCTAssertThrowsError(try Decoder(parameters: bad)) { XCTAssertLessThan(($0 as! MediaError).code, 0) }
    }
}

func runFFmpeg(_ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
    process.arguments = ["-hide_banner", "-loglevel", "error", "-y"] + arguments
    try process.run()
    process.waitUntilExit()
    if process.terminationStatus != 0 { throw MediaError(operation: "ffmpeg", message: "exit \(process.terminationStatus)") }
}

final class PacerTests: XCTestCase {
    func testPacerReleasesPacketsAtRealTime() throws {
        let source = try TestSource(color: RGB(parsing: "red")!, toneHz: 440, width: 160, height: 90, durationSeconds: 0.5)
        let pacer = Pacer()
        let start = Date()
        var last: Double = 0
        while let (track, packet) = try source.nextPacket() {
            pacer.wait(for: packet, track: source.tracks[track], trackIndex: track)
            last = Date().timeIntervalSince(start)
        }
        // The last packets are due at about 0.5 s (never earlier); an unpaced source takes a few milliseconds.
        XCTAssertGreaterThan(last, 0.45)
    }
}
