/// The text of `review.html`: one file with its style, script and data inside, nothing fetched from anywhere
/// but the recording and the contact sheet beside it (relative paths).
struct ReviewDocument {
    /// The manifest as JSON text (embedded as is, after escaping for a script block).
    var manifestJSON: String
    var session: String
    /// The recording's file name, relative to the page.
    var videoFile: String
    /// The contact sheet's file name relative to the page, with its layout; nil when there is none.
    var contactSheet: (file: String, info: String)?
    /// The evidence state, a line each: signed by, sealed up to, chain position, hold.
    var evidence: [String] = []

    func render() -> String {
        let sheetSection: String
        if let contactSheet {
            sheetSection = """
                <section id="sheet"><h2>Contact sheet</h2>
                <img id="contact-sheet" src="\(HTMLEscaping.text(contactSheet.file))" alt="Frames of the recording every few seconds (click one to play from there)"></section>
                """
        } else {
            sheetSection = #"<section id="sheet"><h2>Contact sheet</h2><p class="muted">No contact sheet could be made for this recording.</p></section>"#
        }
        let evidenceSection = evidence.isEmpty
            ? #"<section id="evidence"><h2>Evidence</h2><p class="muted">Not signed: this recording was made without a signing key.</p></section>"#
            : #"<section id="evidence"><h2>Evidence</h2><ul>"# + evidence.map { "<li>\(HTMLEscaping.text($0))</li>" }.joined() + "</ul></section>"
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Review: session \(HTMLEscaping.text(session))</title>
            <style>
            \(ReviewStyle.css)
            </style>
            </head>
            <body>
            <script>
            \(ReviewScript.errorTrap)
            </script>
            <main>
            <header id="header"></header>
            <section id="player"><video id="video" controls preload="auto" src="\(HTMLEscaping.text(videoFile))"></video><div id="now"></div></section>
            <section id="decision"></section>
            <section id="timeline"></section>
            <section id="events"><h2>Events</h2><table id="event-list"></table></section>
            \(sheetSection)
            \(evidenceSection)
            <section id="problems"></section>
            </main>
            <script type="application/json" id="manifest">\(HTMLEscaping.scriptJSON(manifestJSON))</script>
            <script type="application/json" id="contact-sheet-info">\(HTMLEscaping.scriptJSON(contactSheet?.info ?? "null"))</script>
            <script>
            \(ReviewScript.main)
            </script>
            </body>
            </html>

            """
    }
}
