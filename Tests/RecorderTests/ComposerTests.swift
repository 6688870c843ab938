import Foundation
import Logging
import Media
import TestKit
import XCTest

@testable import Recorder

final class ComposerTests: XCTestCase {
    let logger = Logger(label: "test.composer")

    func testGridOfThreeFilesShowsEachColourAndHoldsEachTone() throws {
        let directory = try temporaryDirectory(self)
        let inputs = [("red", 500), ("blue", 700), ("green", 1100)].enumerated().map { index, spec in
            (path: "\(directory)/in\(index).mp4", color: spec.0, tone: spec.1)
        }
        for input in inputs { try generateInput(input.path, color: input.color, tone: input.tone, seconds: 4) }
        let output = directory + "/out.mp4"
        let result = try Composer.compose(inputs: inputs.map(\.path), output: output, layout: .grid, preset: "ultrafast", logger: logger)
        XCTAssertEqual(result.errors, RecordingErrorCounts())

        let info = try probe(output)
        XCTAssertEqual(info.videoCodec, "h264")
        XCTAssertEqual(info.audioCodec, "aac")
        XCTAssertEqual(info.width, 1280)
        XCTAssertEqual(info.height, 720)
        XCTAssertEqual(info.duration, 4, accuracy: 0.5)

        let decoded = try decode(output, picturesAt: [0.5, 3.5])
        XCTAssertEqual(decoded.decodeErrors, 0)
        XCTAssertEqual(decoded.frameCount, 120)
        for time in [0.5, 3.5] {
            // Three in a 2x2 grid: two on top, the third centred below.
            assertColor(decoded.pictures[time], 320, 180, red, "top left at \(time)")
            assertColor(decoded.pictures[time], 960, 180, blue, "top right at \(time)")
            assertColor(decoded.pictures[time], 640, 540, green, "bottom centre at \(time)")
            assertColor(decoded.pictures[time], 160, 540, Compositor.background, "empty bottom left at \(time)")
        }
        for input in inputs { XCTAssertTrue(decoded.hasTone(Double(input.tone), 0.5, 3.5), "tone \(input.tone)") }
        XCTAssertFalse(decoded.hasTone(900, 0.5, 3.5), "a tone nobody sent")
    }

    func testSpeakerLayoutFollowsTheLoudestInput() throws {
        let directory = try temporaryDirectory(self)
        let quiet = directory + "/quiet.mp4", loud = directory + "/loud.mp4"
        try generateInput(quiet, color: "red", tone: 500, seconds: 4, volume: 0.2)
        try generateInput(loud, color: "blue", tone: 800, seconds: 4, volume: 4)
        let output = directory + "/speaker.mp4"
        _ = try Composer.compose(inputs: [quiet, loud], output: output, layout: .speaker, width: 640, height: 360, preset: "ultrafast", logger: logger)
        XCTAssertEqual(try probe(output).width, 640)
        let decoded = try decode(output, picturesAt: [3])
        // The loud one fills the canvas, the quiet one is the thumbnail at the bottom right.
        assertColor(decoded.pictures[3], 200, 120, blue, "speaker")
        let thumbWidth: Int32 = 128, thumbHeight: Int32 = 72
        assertColor(decoded.pictures[3], 640 - 16 - thumbWidth / 2, 360 - 16 - thumbHeight / 2, red, "thumbnail")
    }

    func testInputWithoutVideoGetsAPlaceholderInItsColour() throws {
        let directory = try temporaryDirectory(self)
        let video = directory + "/video.mp4", voice = directory + "/voice.m4a"
        try generateInput(video, color: "yellow", tone: 500, seconds: 3)
        try runProgram("/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=900:duration=3", "-c:a", "aac", voice])
        let output = directory + "/out.mp4"
        _ = try Composer.compose(inputs: [video, voice], output: output, width: 640, height: 360, preset: "ultrafast", logger: logger)
        let decoded = try decode(output, picturesAt: [2])
        assertColor(decoded.pictures[2], 160, 180, yellow, "the input with video")
        assertColor(decoded.pictures[2], 480, 180, Composer.palette[1], "the placeholder of the input without video")
        XCTAssertTrue(decoded.hasTone(500, 0.5, 2.5) && decoded.hasTone(900, 0.5, 2.5))
    }

    func testUnreadableInputFailsWithAMediaError() throws {
        let directory = try temporaryDirectory(self)
        let garbage = directory + "/garbage.mp4"
        try Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: garbage))
        XCTAssertThrowsError(try Composer.compose(inputs: [garbage], output: directory + "/out.mp4", logger: logger)) { error in
            XCTAssertTrue(error is MediaError, "\(error)")
        }
    }

    func testAFullDiskFailsWithAMediaError() throws {
        let directory = try temporaryDirectory(self)
        let input = directory + "/in.mp4"
        try generateInput(input, color: "red", tone: 500, seconds: 2)
        XCTAssertThrowsError(try Composer.compose(inputs: [input], output: "/dev/full", width: 320, height: 180, preset: "ultrafast", logger: logger)) { error in
            XCTAssertEqual((error as? MediaError)?.code, -ENOSPC, "\(error)")
        }
    }

    func testAudioAndVideoStayInSyncWithinOneFrame() throws {
        let directory = try temporaryDirectory(self)
        // At exactly 1 s the picture turns blue and a tone starts.
        let input = directory + "/sync.mp4"
        try runProgram("/usr/bin/ffmpeg", [
            "-v", "error", "-y",
            "-f", "lavfi", "-i", "color=c=red:size=320x240:rate=30:duration=3,drawbox=x=0:y=0:w=iw:h=ih:color=blue:t=fill:enable='gte(t,1)'",
            "-f", "lavfi", "-i", "sine=frequency=1000:duration=3,volume=volume=0:enable='lt(t,1)'",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", input,
        ])
        let output = directory + "/out.mp4"
        _ = try Composer.compose(inputs: [input], output: output, width: 320, height: 240, preset: "veryfast", logger: logger)
        let (inputVideo, inputAudio) = try changeTimes(input)
        let (video, audio) = try changeTimes(output)
        // Whatever offset the input has (AAC onset smearing, the 5 ms scan), the recording adds at most a frame to it.
        XCTAssertEqual(video - audio, inputVideo - inputAudio, accuracy: 1.0 / 30, "picture changes at \(video) s, sound at \(audio) s")
        XCTAssertEqual(video, 1, accuracy: 0.1)
    }

    /// When the picture turns blue and when the sound starts, in a file's presentation times.
    private func changeTimes(_ path: String) throws -> (video: Double, audio: Double) {
        var turnedBlue: Double?
        let decoded = try decode(path) { frame, time in
            if turnedBlue == nil && frame.averageColor(x: frame.width / 2, y: frame.height / 2, size: 16).distance(to: blue) < 40 { turnedBlue = time }
        }
        let window = 240  // 5 ms
        let onset = stride(from: 0, to: decoded.samples.count - window, by: window).first {
            AudioAnalysis.rms(decoded.samples[$0..<$0 + window]) > 0.05
        }.map { decoded.audioStart + Double($0) / 48000 }
        return (try XCTUnwrap(turnedBlue), try XCTUnwrap(onset))
    }

    func testLayouts() {
        let grid = Layout.grid.tiles(for: ["a", "b"], speaker: nil, width: 1280, height: 720)
        XCTAssertEqual(grid.map { [$0.x, $0.y, $0.width, $0.height] }, [[0, 0, 640, 720], [640, 0, 640, 720]])
        let five = Layout.grid.tiles(for: ["a", "b", "c", "d", "e"], speaker: nil, width: 1280, height: 720)
        XCTAssertEqual(five.map(\.width), Array(repeating: 426, count: 5))
        XCTAssertEqual(five.map(\.y), [0, 0, 0, 360, 360])
        let speaker = Layout.speaker.tiles(for: ["a", "b", "c"], speaker: "c", width: 1280, height: 720)
        XCTAssertEqual(speaker.map(\.participantID), ["c", "a", "b"])
        XCTAssertEqual(speaker[0].width, 1280)
        XCTAssertTrue(speaker.dropFirst().allSatisfy { $0.width == 256 && $0.y + $0.height <= 720 })
    }
}
