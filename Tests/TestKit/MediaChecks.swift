/// Checks on real media files shared by the test targets: probe with ffprobe, decode frames and audio.
import Foundation
import Media
import XCTest

/// A scratch directory, removed when the test ends.
public func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("recorder-\(UUID())").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// Runs a program, returns its standard output; throws when it fails.
@discardableResult
public func runProgram(_ program: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    if process.terminationStatus != 0 { throw MediaError(operation: program, message: "exit \(process.terminationStatus)") }
    return String(decoding: data, as: UTF8.self)
}

/// Generates a participant file with the ffmpeg CLI: a solid colour and a sine tone, H.264 + AAC.
public func generateInput(_ path: String, color: String, tone: Int, seconds: Double, size: String = "640x360", volume: Double = 1) throws {
    try runProgram("/usr/bin/ffmpeg", [
        "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "color=c=\(color):size=\(size):rate=30:duration=\(seconds)",
        "-f", "lavfi", "-i", "sine=frequency=\(tone):duration=\(seconds)",
        "-af", "volume=\(volume)", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", path,
    ])
}

public struct Probe {
    public var videoCodec = "", audioCodec = ""
    public var width = 0, height = 0
    public var duration = 0.0
}

/// What ffprobe says about a file.
public func probe(_ path: String) throws -> Probe {
    let json = try runProgram("/usr/bin/ffprobe", ["-v", "error", "-show_streams", "-show_format", "-of", "json", path])
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
    var result = Probe()
    for stream in object["streams"] as? [[String: Any]] ?? [] {
        if stream["codec_type"] as? String == "video" {
            result.videoCodec = stream["codec_name"] as? String ?? ""
            result.width = stream["width"] as? Int ?? 0
            result.height = stream["height"] as? Int ?? 0
        } else if stream["codec_type"] as? String == "audio" {
            result.audioCodec = stream["codec_name"] as? String ?? ""
        }
    }
    result.duration = Double((object["format"] as? [String: Any])?["duration"] as? String ?? "") ?? 0
    return result
}

/// A decoded recording: the pictures at the asked times, and all of its audio (mono 48 kHz).
public struct Decoded {
    public var pictures: [Double: Frame] = [:]
    public var samples: [Float] = []
    /// Presentation time of `samples[0]`.
    public var audioStart = 0.0
    /// Presentation time of each decoded picture, with its picture (kept only for `picturesAt`).
    public var pictureTimes: [Double] = []
    public var frameCount = 0
    public var lastPictureTime = 0.0
    public var decodeErrors = 0

    /// Audio between two times.
    public func audio(_ from: Double, _ to: Double) -> ArraySlice<Float> {
        samples[min(samples.count, Int(from * 48000))..<min(samples.count, Int(to * 48000))]
    }

    public func hasTone(_ hz: Double, _ from: Double, _ to: Double) -> Bool {
        AudioAnalysis.tonePower(audio(from, to), frequency: hz, sampleRate: 48000) > 0.0005
    }
}

/// Decodes a recording. `watch` is called with every picture and its time (for scans).
public func decode(_ path: String, picturesAt times: [Double] = [], watch: (Frame, Double) -> Void = { _, _ in }) throws -> Decoded {
    let demuxer = try Demuxer(path: path)
    let video = demuxer.bestStream(.video), audio = demuxer.bestStream(.audio)
    let decoders = try [video, audio].map { try $0.map { try demuxer.makeDecoder(stream: $0) } }
    let resampler = Resampler()
    var result = Decoded()
    var wanted = times.sorted()
    func take(_ frames: [Frame], _ stream: Int) throws {
        let tb = demuxer.streams[stream].timeBase
        for frame in frames {
            if stream == video {
                let time = Double(frame.pts ?? 0) * tb
                result.frameCount += 1
                result.pictureTimes.append(time)
                result.lastPictureTime = max(result.lastPictureTime, time)
                watch(frame, time)
                while let first = wanted.first, time >= first - 0.001 {
                    result.pictures[first] = frame
                    wanted.removeFirst()
                }
            } else {
                if result.samples.isEmpty { result.audioStart = Double(frame.pts ?? 0) * tb }
                result.samples += try resampler.convert(frame)
            }
        }
    }
    while let packet = try demuxer.read() {
        let stream = packet.streamIndex
        guard stream == video || stream == audio else { continue }
        do { try take(try decoders[stream == video ? 0 : 1]!.decode(packet), stream) } catch { result.decodeErrors += 1 }
    }
    if let video { try take(try decoders[0]!.flush(), video) }
    return result
}

public let red = RGB(parsing: "red")!, blue = RGB(parsing: "blue")!, green = RGB(parsing: "green")!, yellow = RGB(parsing: "yellow")!

/// Asserts the picture shows `color` around (`x`, `y`).
public func assertColor(_ frame: Frame?, _ x: Int32, _ y: Int32, _ color: RGB, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
    guard let frame else { return XCTFail("no picture: \(message)", file: file, line: line) }
    let seen = frame.averageColor(x: x, y: y, size: 16)
    XCTAssertLessThan(seen.distance(to: color), 40, "\(message): saw \(seen), wanted \(color)", file: file, line: line)
}
