import Foundation
import Media

/// A contact sheet written to disk: a PNG grid of thumbnails of a recording, each with its time.
public struct ContactSheet: Sendable, Codable, Equatable {
    /// The PNG file.
    public var path: String
    /// Where each thumbnail is on the picture.
    public var layout: ContactSheetLayout
    /// Session time of the frame shown by each thumbnail, in seconds, in sheet order.
    public var times: [Double]

    /// The background and label colours.
    static let background = RGB(red: 0x1b, green: 0x1f, blue: 0x24)
    static let labelColor = RGB(red: 0xe6, green: 0xe6, blue: 0xe6)

    /// Decodes `recordingPath`, picks a frame every few seconds (see ``ContactSheetOptions``), scales each with
    /// swscale onto one picture, and writes it as a PNG at `path`.
    /// - Parameter duration: the recording's length in seconds (from the manifest).
    /// - Throws: ``MediaError`` when the recording cannot be read or has no picture at all.
    public static func write(recordingPath: String, duration: Double, to path: String, options: ContactSheetOptions = .init()) throws -> ContactSheet {
        let wanted = options.times(duration: duration)
        guard !wanted.isEmpty else {
            throw MediaError(operation: "contact sheet", message: "nothing to show: the recording lasts \(duration) s")
        }
        var canvas: (picture: Frame, layout: ContactSheetLayout)?
        var scaler: Scaler?
        var shown: [Double] = []
        let font = BitmapFont()
        try FrameSampler(path: recordingPath, seekThreshold: options.seekThreshold).sample(at: wanted) { index, frame, time in
            if canvas == nil {
                let layout = ContactSheetLayout(count: wanted.count, options: options, sourceWidth: frame.width, sourceHeight: frame.height)
                let picture = try Frame(width: layout.width, height: layout.height)
                picture.fill(x: 0, y: 0, width: layout.width, height: layout.height, color: background)
                canvas = (picture, layout)
            }
            guard let (picture, layout) = canvas else { return }
            if scaler?.accepts(frame) != true {
                scaler = try Scaler(like: frame, width: layout.thumbnailWidth, height: layout.thumbnailHeight)
            }
            let (x, y) = layout.origin(of: index)
            try scaler!.scale(frame, into: picture, x: x, y: y)
            if options.labels {
                let text = clockLabel(time)
                let left = x + (layout.thumbnailWidth - font.width(of: text)) / 2
                let top = y + layout.thumbnailHeight + (layout.labelHeight - font.glyphHeight) / 2
                font.draw(text, on: picture, x: left & ~1, y: top & ~1, color: labelColor)
            }
            shown.append(time)
        }
        guard let (picture, layout) = canvas else {
            throw MediaError(operation: "contact sheet", message: "\(recordingPath) has no decodable picture")
        }
        try ImageEncoder.writePNG(picture, to: path)
        return ContactSheet(path: path, layout: layout, times: shown)
    }
}
