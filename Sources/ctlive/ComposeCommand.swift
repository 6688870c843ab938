import ArgumentParser
import Foundation
import Logging
import Media
import Recorder

/// `ctlive compose`: the recorder's compositor fed from files, one participant per input.
struct ComposeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose",
        abstract: "Composite and mix media files (each one participant with video and audio) into one recording.")

    @Option(help: "grid or speaker.") var layout: String = "grid"
    @Option(help: "Canvas size, WxH.") var size: String = "1280x720"
    @Option(help: "Frames per second.") var fps: Int32 = 30
    @Option(help: "libx264 preset.") var preset: String = "veryfast"
    @Option(help: "libx264 constant rate factor.") var crf: Int = 23
    @Option(name: .short, help: "Output file (fragmented MP4).") var output: String
    /// Work at real time, like a live recording (used to test crash safety).
    @Flag(name: .customLong("realtime"), help: .hidden) var realTime = false
    @Argument(help: "Input files, one per participant.") var inputs: [String]

    func validate() throws {
        guard Layout(rawValue: layout) != nil else { throw ValidationError("--layout must be grid or speaker") }
        guard (try? parseSize(size)) != nil else { throw ValidationError("--size must be WxH, e.g. 1280x720") }
        guard (1...120).contains(fps) else { throw ValidationError("--fps must be between 1 and 120") }
        guard (0...51).contains(crf) else { throw ValidationError("--crf must be between 0 and 51") }
        guard !inputs.isEmpty else { throw ValidationError("give at least one input") }
    }

    func run() async throws {
        let (width, height) = try parseSize(size)
        let result = try Composer.compose(
            inputs: inputs, output: output, layout: Layout(rawValue: layout)!, width: width, height: height, fps: fps,
            preset: preset, crf: crf, realTime: realTime, logger: Logger(label: "ctlive.compose"))
        print("\(result.output): \(String(format: "%.2f", result.duration)) s, \(result.errors.total) problems")
    }
}

/// Parses `WxH` (even, 16...4096 each side).
func parseSize(_ text: String) throws -> (Int32, Int32) {
    let parts = text.lowercased().split(separator: "x").compactMap { Int32($0) }
    guard parts.count == 2, parts.allSatisfy({ (16...4096).contains($0) }) else { throw ValidationError("bad size \(text)") }
    return (parts[0] & ~1, parts[1] & ~1)
}
