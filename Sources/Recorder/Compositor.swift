import Media

/// What to show in one participant's tile: their latest picture, or their colour when they have none.
struct TileContent {
    var frame: Frame?
    /// Changes whenever `frame` does, so unchanged tiles are not scaled again.
    var generation: Int
    var color: RGB
}

/// Draws participants' pictures into one YUV 4:2:0 canvas (libswscale), keeping each picture's aspect ratio.
/// Only tiles whose picture or place changed are redrawn.
final class Compositor {
    let width: Int32, height: Int32
    private let canvas: Frame
    private var lastTiles: [Tile] = []
    private var drawn: [String: Int] = [:]  // participant → generation on the canvas
    private var scalers: [String: Scaler] = [:]
    static let background = RGB(red: 16, green: 16, blue: 16)

    init(width: Int32, height: Int32) throws {
        self.width = width & ~1
        self.height = height & ~1
        canvas = try Frame(width: self.width, height: self.height)
        canvas.fill(x: 0, y: 0, width: self.width, height: self.height, color: Compositor.background)
    }

    /// Draws `tiles` (later ones on top) and returns the canvas. The canvas is reused: encode it before the next call.
    func render(_ tiles: [Tile], content: (String) -> TileContent) throws -> Frame {
        try canvas.makeWritable()
        let relayout = tiles != lastTiles
        if relayout {
            canvas.fill(x: 0, y: 0, width: width, height: height, color: Compositor.background)
            drawn.removeAll()
            let present = Set(tiles.map(\.participantID))
            scalers = scalers.filter { present.contains($0.key) }
            lastTiles = tiles
        }
        var redrawn: [Tile] = []
        for tile in tiles {
            let item = content(tile.participantID)
            let covered = redrawn.contains { $0.overlaps(tile) }
            guard drawn[tile.participantID] != item.generation || covered else { continue }
            try draw(item, in: tile)
            drawn[tile.participantID] = item.generation
            redrawn.append(tile)
        }
        return canvas
    }

    private func draw(_ item: TileContent, in tile: Tile) throws {
        guard let frame = item.frame, frame.width > 0, frame.height > 0 else {
            canvas.fill(x: tile.x, y: tile.y, width: tile.width, height: tile.height, color: item.color)
            return
        }
        // Fit the picture into the tile, centred, on even coordinates.
        let scale = min(Double(tile.width) / Double(frame.width), Double(tile.height) / Double(frame.height))
        let fitWidth = max(2, Int32(Double(frame.width) * scale) & ~1), fitHeight = max(2, Int32(Double(frame.height) * scale) & ~1)
        let x = tile.x + ((tile.width - fitWidth) / 2) & ~1, y = tile.y + ((tile.height - fitHeight) / 2) & ~1
        var scaler = scalers[tile.participantID]
        if scaler == nil || !scaler!.accepts(frame) || scaler!.width != fitWidth || scaler!.height != fitHeight {
            // New geometry: clear the bars around the picture once.
            canvas.fill(x: tile.x, y: tile.y, width: tile.width, height: tile.height, color: Compositor.background)
            scaler = try Scaler(like: frame, width: fitWidth, height: fitHeight)
            scalers[tile.participantID] = scaler
        }
        try scaler!.scale(frame, into: canvas, x: x, y: y)
    }
}
