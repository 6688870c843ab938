/// How a contact sheet is made: which moments, how large, how many per row.
public struct ContactSheetOptions: Sendable {
    /// Seconds between thumbnails; stretched when the recording is too long for ``maxThumbnails``.
    public var interval: Double = 2
    /// At most this many thumbnails.
    public var maxThumbnails = 12
    /// Width of each thumbnail in pixels (the height follows the recording's aspect ratio).
    public var thumbnailWidth: Int32 = 256
    /// Thumbnails per row.
    public var columns = 4
    /// Draw the time of each thumbnail under it.
    public var labels = true
    /// Seek instead of decoding through when the next thumbnail is further ahead than this many seconds.
    public var seekThreshold: Double = 8

    /// The defaults: every 2 s, at most 12 thumbnails of 256 px, 4 per row, with times.
    public init() {}

    /// The moments to show for a recording of `duration` seconds: every ``interval`` from 0, at most ``maxThumbnails``.
    public func times(duration: Double) -> [Double] {
        guard duration > 0, maxThumbnails > 0 else { return [] }
        let step = max(interval, 0.1, (duration / Double(maxThumbnails)).rounded(.up))
        return Array(stride(from: 0, to: duration, by: step).prefix(maxThumbnails))
    }
}

/// Where each thumbnail and its label go on the sheet. Every coordinate is even (chroma-aligned).
public struct ContactSheetLayout: Sendable, Equatable, Codable {
    /// Thumbnails on the sheet.
    public var count: Int
    /// Thumbnails per row.
    public var columns: Int
    /// Size of each thumbnail, in pixels.
    public var thumbnailWidth: Int32, thumbnailHeight: Int32
    /// Space around and between thumbnails, in pixels.
    public var padding: Int32
    /// Height of the band under each thumbnail where its time is written (0 without labels).
    public var labelHeight: Int32

    /// Lays out `count` thumbnails of `thumbnailWidth`, for pictures of `sourceWidth`x`sourceHeight`.
    public init(count: Int, options: ContactSheetOptions, sourceWidth: Int32, sourceHeight: Int32) {
        self.count = count
        columns = max(1, min(options.columns, count))
        thumbnailWidth = max(2, options.thumbnailWidth & ~1)
        let ratio = Double(max(1, sourceHeight)) / Double(max(1, sourceWidth))
        thumbnailHeight = max(2, Int32((Double(thumbnailWidth) * ratio).rounded()) & ~1)
        padding = 8
        labelHeight = options.labels ? 24 : 0
    }

    /// Rows of thumbnails.
    public var rows: Int { (count + columns - 1) / max(1, columns) }
    /// Horizontal distance from one thumbnail to the next.
    public var cellWidth: Int32 { thumbnailWidth + padding }
    /// Vertical distance from one row to the next.
    public var cellHeight: Int32 { thumbnailHeight + labelHeight + padding }
    /// The whole sheet.
    public var width: Int32 { padding + Int32(columns) * cellWidth }
    public var height: Int32 { padding + Int32(rows) * cellHeight }

    /// Top-left corner of thumbnail `index`.
    public func origin(of index: Int) -> (x: Int32, y: Int32) {
        (padding + Int32(index % columns) * cellWidth, padding + Int32(index / columns) * cellHeight)
    }

    /// The thumbnail at a point of the sheet, if any.
    public func index(atX x: Int32, y: Int32) -> Int? {
        guard x >= padding, y >= padding else { return nil }
        let column = Int((x - padding) / cellWidth), row = Int((y - padding) / cellHeight)
        let index = row * columns + column
        return column < columns && index < count ? index : nil
    }
}
