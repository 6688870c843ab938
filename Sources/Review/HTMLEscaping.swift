/// Text safely placed into an HTML document.
enum HTMLEscaping {
    /// `text` as HTML text or a quoted attribute value: `& < > " '` become character references.
    static func text(_ text: String) -> String {
        escape(text) {
            switch $0 {
            case "&": "&amp;"
            case "<": "&lt;"
            case ">": "&gt;"
            case "\"": "&quot;"
            case "'": "&#39;"
            default: nil
            }
        }
    }

    /// JSON text made safe inside `<script type="application/json">`: `<`, `>` and `&` only occur inside JSON strings,
    /// where `\u003c`, `\u003e` and `\u0026` mean the same, so `</script>` and `<!--` can never appear.
    /// U+2028 and U+2029 are escaped too, for older JavaScript parsers.
    static func scriptJSON(_ json: String) -> String {
        escape(json) {
            switch $0 {
            case "<": "\\u003c"
            case ">": "\\u003e"
            case "&": "\\u0026"
            case "\u{2028}": "\\u2028"
            case "\u{2029}": "\\u2029"
            default: nil
            }
        }
    }

    /// `text` with each scalar that `replacement` maps replaced by its replacement.
    private static func escape(_ text: String, _ replacement: (Unicode.Scalar) -> String?) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if let replaced = replacement(scalar) { escaped += replaced } else { escaped.unicodeScalars.append(scalar) }
        }
        return escaped
    }
}
