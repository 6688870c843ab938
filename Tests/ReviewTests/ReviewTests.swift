import Foundation
import Media
import TestKit
import Recorder
import XCTest

@testable import Review

final class ReviewTests: XCTestCase {
    /// One recording and its review files, shared by the tests of this class (made once: it costs a few seconds).
    nonisolated(unsafe) private static var shared: (session: RecordedSession, files: ReviewFiles)?

    private func reviewed() throws -> (session: RecordedSession, files: ReviewFiles) {
        if let shared = Self.shared { return shared }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("review-\(UUID())").path
        let session = try RecordedSession.make(root: root)
        let files = try ReviewPage.write(manifestPath: session.manifestPath)
        Self.shared = (session, files)
        return (session, files)
    }

    override class func tearDown() {
        if let root = shared?.session.root { try? FileManager.default.removeItem(atPath: root) }
        shared = nil
        super.tearDown()
    }

    // MARK: Contact sheet

    func testContactSheetIsAPNGOfTheRecordingsColours() throws {
        let (session, files) = try reviewed()
        XCTAssertNil(files.contactSheetError)
        let path = try XCTUnwrap(files.contactSheet)
        XCTAssertEqual(path, URL(fileURLWithPath: session.manifestPath).deletingLastPathComponent().appendingPathComponent("contactsheet.png").path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature")

        // Every 2 s of a 6 s recording (and a frame at its very end when it is a little longer): 256x144 thumbnails
        // in one row, with a label band under each.
        let sheet = try XCTUnwrap(files.sheet)
        let duration = try XCTUnwrap(manifest(session).durationSeconds)
        let count = duration > 6 ? 4 : 3
        XCTAssertEqual(sheet.times.count, count)
        for (index, wanted) in [0.0, 2, 4, 6].prefix(count).enumerated() { XCTAssertEqual(sheet.times[index], wanted, accuracy: 0.05) }
        XCTAssertEqual([sheet.layout.thumbnailWidth, sheet.layout.thumbnailHeight], [256, 144])
        let sheetWidth = 8 + Int32(count) * (256 + 8), sheetHeight: Int32 = 8 + 144 + 24 + 8
        XCTAssertEqual([sheet.layout.width, sheet.layout.height], [sheetWidth, sheetHeight])

        let picture = try decodePNG(path)
        XCTAssertEqual([picture.width, picture.height], [sheet.layout.width, sheet.layout.height])
        // At 2 s the customer (red) and the agent (blue) share the picture; at 4 s the supervisor (green) is there too.
        let second = sheet.layout.origin(of: 1), third = sheet.layout.origin(of: 2)
        assertColor(picture, second.x + 64, second.y + 72, red, "customer at 2 s")
        assertColor(picture, second.x + 192, second.y + 72, blue, "agent at 2 s")
        assertColor(picture, third.x + 64, third.y + 36, red, "customer at 4 s")
        assertColor(picture, third.x + 192, third.y + 36, blue, "agent at 4 s")
        assertColor(picture, third.x + 128, third.y + 108, green, "supervisor at 4 s")
        // The time is written under each thumbnail: brighter than the bare background.
        let label = picture.averageColor(x: second.x + 128, y: second.y + 144 + 12, size: 16)
        let bare = picture.averageColor(x: second.x + 20, y: second.y + 144 + 12, size: 8)
        XCTAssertGreaterThan(Int(label.green), Int(bare.green) + 20, "a label under the thumbnail")
        XCTAssertLessThan(bare.distance(to: ContactSheet.background), 12, "label band background")
    }

    func testSeekingGivesTheSamePictures() throws {
        let (session, files) = try reviewed()
        var options = ContactSheetOptions()
        options.seekThreshold = 0.5  // seek before every thumbnail
        options.labels = false
        let directory = try temporaryDirectory(self)
        let sheet = try ContactSheet.write(recordingPath: session.recordingPath, duration: try manifest(session).durationSeconds ?? 0,
                                           to: directory + "/seek.png", options: options)
        XCTAssertEqual(sheet.times.count, files.sheet?.times.count)
        for (seeked, decodedThrough) in zip(sheet.times, files.sheet!.times) { XCTAssertEqual(seeked, decodedThrough, accuracy: 0.001) }
        let picture = try decodePNG(sheet.path)
        let third = sheet.layout.origin(of: 2)
        assertColor(picture, third.x + 128, third.y + 108, green, "supervisor at 4 s, after a seek")
        assertColor(picture, third.x + 64, third.y + 36, red, "customer at 4 s, after a seek")
    }

    func testLayoutAndTimes() {
        var options = ContactSheetOptions()
        XCTAssertEqual(options.times(duration: 5), [0, 2, 4])
        XCTAssertEqual(options.times(duration: 0), [])
        XCTAssertEqual(options.times(duration: 3600).count, 12, "a long recording: at most 12, spread over it")
        XCTAssertEqual(options.times(duration: 3600)[1], 300)
        options.columns = 4
        let layout = ContactSheetLayout(count: 6, options: options, sourceWidth: 1280, sourceHeight: 720)
        XCTAssertEqual([layout.rows, Int(layout.thumbnailHeight)], [2, 144])
        XCTAssertEqual(layout.index(atX: layout.origin(of: 5).x + 10, y: layout.origin(of: 5).y + 10), 5)
        XCTAssertNil(layout.index(atX: layout.origin(of: 3).x + 10, y: layout.origin(of: 3).y + layout.cellHeight + 10), "no 8th thumbnail")
        XCTAssertEqual(clockLabel(62.9), "1:02")
    }

    func testAPageIsWrittenEvenWithoutAPicture() throws {
        let (session, _) = try reviewed()
        let directory = try temporaryDirectory(self)
        let manifest = directory + "/manifest.json"
        try FileManager.default.copyItem(atPath: session.manifestPath, toPath: manifest)
        let files = try ReviewPage.write(manifestPath: manifest)  // no recording.mp4 beside it
        XCTAssertNil(files.contactSheet)
        XCTAssertNotNil(files.contactSheetError)
        let html = try String(contentsOfFile: files.html, encoding: .utf8)
        XCTAssertTrue(html.contains("No contact sheet could be made"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/contactsheet.png"))
        XCTAssertThrowsError(try ReviewPage.write(manifestPath: directory + "/missing.json"))
    }

    // MARK: Page

    func testPageEmbedsTheManifestAndEscapesChat() throws {
        let (session, files) = try reviewed()
        let html = try String(contentsOfFile: files.html, encoding: .utf8)
        XCTAssertEqual(files.html, URL(fileURLWithPath: session.manifestPath).deletingLastPathComponent().appendingPathComponent("review.html").path)

        // Self-contained: nothing loaded from elsewhere; the video and the sheet are beside the page.
        XCTAssertTrue(html.contains(#"<video id="video" controls preload="auto" src="recording.mp4">"#))
        XCTAssertTrue(html.contains(#"src="contactsheet.png""#))
        for remote in ["http://", "https://", "//cdn", "<link", "@import", "src=\"/"] { XCTAssertFalse(html.contains(remote), remote) }

        // Exactly our four scripts: hostile text cannot open or close one.
        XCTAssertEqual(html.components(separatedBy: "<script").count - 1, 4)
        XCTAssertEqual(html.components(separatedBy: "</script>").count - 1, 4)
        XCTAssertFalse(html.contains("<script>alert(1)"))
        XCTAssertFalse(html.contains("<img src=x"))
        XCTAssertTrue(html.contains("<title>Review: session room-&lt;b&gt;7&lt;/b&gt;</title>"))

        // The embedded manifest parses back to the one on disk.
        let embedded = try XCTUnwrap(Self.between(html, #"<script type="application/json" id="manifest">"#, "</script>"))
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(embedded.utf8))
        let onDisk = try self.manifest(session)
        XCTAssertEqual(manifest.session, "room-<b>7</b>")
        XCTAssertEqual(manifest.events, onDisk.events)
        XCTAssertEqual(manifest.participants.map(\.id), ["cust-1", "agent-1", "sup-1"])
        XCTAssertEqual(manifest.events.filter { $0.kind == "chat" }.compactMap { $0.fields["text"] },
                       RecordedSession.hostileChat + [RecordedSession.friendlyChat])
        XCTAssertTrue(manifest.events.contains { $0.kind == "loudest" }, "the recorder found a speaker")
    }

    func testEscaping() {
        XCTAssertEqual(HTMLEscaping.text(#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
        let json = #"{"t":"</script><!-- & \u2028"}"#
        let escaped = HTMLEscaping.scriptJSON(json)
        XCTAssertFalse(escaped.contains("<") || escaped.contains(">") || escaped.contains("&"))
        let back = try? JSONSerialization.jsonObject(with: Data(escaped.utf8)) as? [String: String]
        XCTAssertEqual(back?["t"], "</script><!-- & \u{2028}")
    }

    // MARK: In a real browser

    func testPageRunsInHeadlessChromium() throws {
        guard let browser = Browser.find() else { throw XCTSkip("no chromium found (Debian: apt-get install chromium)") }
        let (session, files) = try reviewed()
        let profile = try temporaryDirectory(self)
        let dom = try browser.dumpDOM(of: files.html, profile: profile)

        XCTAssertTrue(dom.contains(#"data-ok="1""#), "the page's script ran to the end")
        XCTAssertFalse(dom.contains("data-error=\""), "script error: \(Self.between(dom, "data-error=\"", "\"") ?? "")")
        XCTAssertFalse(dom.contains("data-pwned=\""), "chat text ran as HTML")
        // The browser reads the recording itself (H.264 + AAC in fragmented MP4).
        XCTAssertFalse(dom.contains("data-video-error=\""), "the browser cannot play the recording")
        let videoDuration = try XCTUnwrap(Self.between(dom, "data-video-duration=\"", "\"").flatMap(Double.init), "video metadata loaded")
        XCTAssertEqual(videoDuration, try manifest(session).durationSeconds ?? 0, accuracy: 0.2)
        XCTAssertFalse(dom.contains("<img src=\"x\""), "chat text became an element")

        // The timeline: a lane per participant with presence bars, speaking segments, and every event as a seekable element.
        for id in ["cust-1", "agent-1", "sup-1"] {
            XCTAssertTrue(dom.contains(#"data-kind="presence" data-start="#) && dom.contains(#"data-participant="\#(id)""#), id)
        }
        XCTAssertGreaterThanOrEqual(Self.count(#"class="bar speaking""#, in: dom), 1, "who spoke when")
        let supervisor = try XCTUnwrap(Self.element(#"class="bar presence" data-kind="presence" data-start="3.000""#, in: dom))
        XCTAssertTrue(supervisor.contains(#"data-end="5.000""#), supervisor)
        for kind in ["request", "answer", "decision", "chat", "layout", "end"] {
            XCTAssertGreaterThanOrEqual(Self.count(#"class="marker marker-\#(kind)""#, in: dom), 1, "timeline marker \(kind)")
            XCTAssertGreaterThanOrEqual(Self.count(#"<tr class="event" data-kind="\#(kind)""#, in: dom), 1, "event row \(kind)")
        }
        XCTAssertEqual(Self.count(#"<tr class="event" data-kind="chat""#, in: dom), 3)
        XCTAssertEqual(Self.count(#"class="marker marker-layout""#, in: dom), 3, "two, three, then two tiles")
        XCTAssertEqual(Self.count(#"data-kind="verdict""#, in: dom), 2, "one row per plugin consulted")
        XCTAssertTrue(dom.contains(#"data-verdict="abstain""#))
        XCTAssertTrue(dom.contains("inside business hours &lt;09:00-18:00&gt;"), "the plugin's reason, as text")
        XCTAssertTrue(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "hostile chat shown as text")
        XCTAssertTrue(dom.contains(#"id="playhead""#))
        XCTAssertFalse(dom.contains("[object "), "an element rendered as text")
        XCTAssertFalse(dom.contains(">undefined<") || dom.contains(">NaN"), "a missing value rendered")
        XCTAssertTrue(dom.contains(#"<img id="contact-sheet" src="contactsheet.png""#))

        // Opened at a moment (as a click on an event does): the playhead and the current event follow.
        let atThree = try browser.dumpDOM(of: files.html, fragment: "t=3.2", profile: profile)
        XCTAssertTrue(atThree.contains(#"data-ok="1""#))
        let duration = try XCTUnwrap(manifest(session).durationSeconds)
        let left = try XCTUnwrap(Self.between(atThree, #"id="playhead" style="left: "#, "%").flatMap(Double.init))
        XCTAssertEqual(left, 3.2 / duration * 100, accuracy: 0.01)
        let current = try XCTUnwrap(Self.element(#"<tr class="event current""#, in: atThree))
        XCTAssertTrue(current.contains(#"data-kind="layout""#) && current.contains(#"data-time="3.0"#), current)
        XCTAssertEqual(Self.count("event current", in: atThree), 1)
        XCTAssertTrue(dom.contains(#"<div id="now">0:00.0 / "#), "the page opens at the start")
        XCTAssertTrue(atThree.contains(#"<div id="now">0:03.2 / "#))

        // And what it looks like (kept when CTLIVE_REVIEW_SCREENSHOT names a file).
        let shot = profile + "/review.png"
        try browser.screenshot(of: files.html, to: shot, width: 1280, height: 1900, profile: profile)
        let picture = try decodePNG(shot)
        XCTAssertEqual([picture.width, picture.height], [1280, 1900])
        if let keep = ProcessInfo.processInfo.environment["CTLIVE_REVIEW_SCREENSHOT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: shot, toPath: keep)
        }
    }

    // MARK: Helpers

    private func manifest(_ session: RecordedSession) throws -> RecordingManifest {
        try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: session.manifestPath)))
    }

    /// Decodes an image file with our own FFmpeg wrappers, as a YUV 4:2:0 picture.
    private func decodePNG(_ path: String) throws -> Frame {
        let demuxer = try Demuxer(path: path)
        let stream = try XCTUnwrap(demuxer.bestStream(.video))
        let decoder = try demuxer.makeDecoder(stream: stream)
        var frames: [Frame] = []
        while let packet = try demuxer.read() {
            if packet.streamIndex == stream { frames += try decoder.decode(packet) }
        }
        frames += try decoder.flush()
        let frame = try XCTUnwrap(frames.first, "no picture in \(path)")
        return try Scaler(like: frame, width: frame.width, height: frame.height).scale(frame)
    }

    private static func between(_ text: String, _ start: String, _ end: String) -> String? {
        guard let from = text.range(of: start), let to = text.range(of: end, range: from.upperBound..<text.endIndex) else { return nil }
        return String(text[from.upperBound..<to.lowerBound])
    }

    private static func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// The opening tag containing `needle`.
    private static func element(_ needle: String, in text: String) -> String? {
        guard let range = text.range(of: needle), let end = text.range(of: ">", range: range.upperBound..<text.endIndex) else { return nil }
        return String(text[range.lowerBound..<end.upperBound])
    }
}
