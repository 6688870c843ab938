import Media

/// A tiny 3x5 pixel font for the digits and `:` of time labels, drawn with solid rectangles.
/// Enough to stamp `1:02` under a thumbnail without a font library.
struct BitmapFont {
    /// Each glyph is 5 rows of 3 bits, most significant bit on the left.
    private static let glyphs: [Character: [UInt8]] = [
        "0": [0b111, 0b101, 0b101, 0b101, 0b111], "1": [0b010, 0b110, 0b010, 0b010, 0b111],
        "2": [0b111, 0b001, 0b111, 0b100, 0b111], "3": [0b111, 0b001, 0b111, 0b001, 0b111],
        "4": [0b101, 0b101, 0b111, 0b001, 0b001], "5": [0b111, 0b100, 0b111, 0b001, 0b111],
        "6": [0b111, 0b100, 0b111, 0b101, 0b111], "7": [0b111, 0b001, 0b010, 0b010, 0b010],
        "8": [0b111, 0b101, 0b111, 0b101, 0b111], "9": [0b111, 0b101, 0b111, 0b001, 0b111],
        ":": [0b000, 0b010, 0b000, 0b010, 0b000],
    ]

    /// Size of one font pixel on the picture (even, so fills stay on chroma samples).
    var scale: Int32 = 2

    var glyphWidth: Int32 { 3 * scale }
    var glyphHeight: Int32 { 5 * scale }
    var advance: Int32 { 4 * scale }

    /// Width of `text` when drawn.
    func width(of text: String) -> Int32 { max(0, Int32(text.count) * advance - scale) }

    /// Draws `text` with its top-left corner at (`x`, `y`). Characters without a glyph leave a gap.
    func draw(_ text: String, on picture: Frame, x: Int32, y: Int32, color: RGB) {
        for (index, character) in text.enumerated() {
            guard let rows = Self.glyphs[character] else { continue }
            let left = x + Int32(index) * advance
            for (row, bits) in rows.enumerated() {
                for column in 0..<3 where bits & (0b100 >> UInt8(column)) != 0 {
                    picture.fill(x: left + Int32(column) * scale, y: y + Int32(row) * scale, width: scale, height: scale, color: color)
                }
            }
        }
    }
}

/// `m:ss` for a time in seconds (whole seconds, rounded down).
func clockLabel(_ seconds: Double) -> String {
    let total = Int(max(0, seconds))
    let minutes = total / 60, rest = total % 60
    return "\(minutes):" + (rest < 10 ? "0" : "") + "\(rest)"
}
