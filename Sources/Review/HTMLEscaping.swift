/// Text safely placed into an HTML document.
enum HTMLEscaping {
    /// `text` as HTML text or a quoted attribute value: `& < > " '` become character references.
    static func text(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// JSON text made safe inside `<script type="application/json">`: `<`, `>` and `&` only occur inside JSON strings,
    /// where `\u003c`, `\u003e` and `\u0026` mean the same, so `</script>` and `<!--` can never appear.
    /// U+2028 and U+2029 are escaped too, for older JavaScript parsers.
    static func scriptJSON(_ json: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(json.utf8.count)
        for character in json.unicodeScalars {
            switch character {
            case "<": escaped += "\\u003c"
            case ">": escaped += "\\u003e"
            case "&": escaped += "\\u0026"
            case "\u{2028}": escaped += "\\u2028"
            case "\u{2029}": escaped += "\\u2029"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }
}
