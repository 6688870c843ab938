import Media

/// How participants share the canvas.
public enum Layout: String, Sendable, Codable, CaseIterable {
    /// Equal tiles, rows and columns, the last row centred.
    case grid
    /// The active speaker fills the canvas; the others are thumbnails along the bottom.
    case speaker
}

/// Where one participant is drawn on the canvas. Coordinates are even, so they fall on chroma samples.
public struct Tile: Sendable, Codable, Equatable {
    public var participantID: String
    public var x: Int32, y: Int32, width: Int32, height: Int32

    public var centerX: Int32 { x + width / 2 }
    public var centerY: Int32 { y + height / 2 }

    func overlaps(_ other: Tile) -> Bool {
        x < other.x + other.width && other.x < x + width && y < other.y + other.height && other.y < y + height
    }
}

extension Layout {
    /// The tiles for `participants` (in join order) on a `width`x`height` canvas.
    /// `speaker` is the participant shown large in the speaker layout (the first one when nil or absent).
    public func tiles(for participants: [String], speaker: String?, width: Int32, height: Int32) -> [Tile] {
        guard !participants.isEmpty else { return [] }
        if participants.count == 1 { return [Tile(participantID: participants[0], x: 0, y: 0, width: width, height: height)] }
        switch self {
        case .grid:
            let n = participants.count
            let columns = Int32((Double(n).squareRoot()).rounded(.up))
            let rows = Int32((n + Int(columns) - 1) / Int(columns))
            let tileWidth = (width / columns) & ~1, tileHeight = (height / rows) & ~1
            return participants.enumerated().map { index, id in
                let row = Int32(index) / columns, column = Int32(index) % columns
                let inRow = min(columns, Int32(n) - row * columns)
                let left = ((width - inRow * tileWidth) / 2) & ~1
                return Tile(participantID: id, x: left + column * tileWidth, y: row * tileHeight, width: tileWidth, height: tileHeight)
            }
        case .speaker:
            let main = speaker.flatMap { participants.contains($0) ? $0 : nil } ?? participants[0]
            let others = participants.filter { $0 != main }
            let thumbWidth = (width / 5) & ~1, thumbHeight = (height / 5) & ~1, margin: Int32 = 16
            var tiles = [Tile(participantID: main, x: 0, y: 0, width: width, height: height)]
            for (index, id) in others.enumerated() {
                let x = width - Int32(index + 1) * (thumbWidth + margin)
                guard x >= 0 else { break }  // more thumbnails than fit: the rest are heard, not seen
                tiles.append(Tile(participantID: id, x: x & ~1, y: (height - thumbHeight - margin) & ~1, width: thumbWidth, height: thumbHeight))
            }
            return tiles
        }
    }
}
