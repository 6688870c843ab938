import ArgumentParser
import CTLive
import CTLiveMedia
import Foundation
import Media

/// What a customer or agent publishes once its room starts.
struct MediaOptions: ParsableArguments {
    @Option(help: ArgumentHelp("What to publish: 'testsrc' (a picture in --color, a tone at --tone) or a media file, looped.", valueName: "testsrc|PATH"))
    var source = "testsrc"

    @Option(help: ArgumentHelp("The test picture's colour: a name (red, green, blue, ...) or #RRGGBB.", valueName: "NAME|#RRGGBB"))
    var color: String?

    @Option(help: ArgumentHelp("The test tone's frequency.", valueName: "HZ"))
    var tone: Double?

    @Option(help: "The test picture's size, WxH.")
    var size = "640x360"

    @Option(help: "The test picture's frame rate.")
    var fps: Int32 = 30

    func validate() throws {
        if source != "testsrc" && !FileManager.default.isReadableFile(atPath: source) {
            throw ValidationError("--source \(source): no such readable file")
        }
        if let color, RGB(parsing: color) == nil { throw ValidationError("--color \(color): not a colour name or #RRGGBB") }
        if let tone, !(20...20000).contains(tone) { throw ValidationError("--tone must be 20-20000 Hz") }
        _ = try parseSize(size)
        guard (1...60).contains(fps) else { throw ValidationError("--fps must be 1-60") }
    }

    /// The source options, with the role's default colour and tone where none were given.
    func options(defaultColor: String, defaultTone: Double) throws -> MediaSourceOptions {
        let (width, height) = try parseSize(size)
        return MediaSourceOptions(kind: source == "testsrc" ? .testsrc : .file(source),
                                  color: RGB(parsing: color ?? defaultColor)!, toneHz: tone ?? defaultTone,
                                  width: width, height: height, fps: fps)
    }
}
