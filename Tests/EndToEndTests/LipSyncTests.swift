import Bot
import CTLive
import CTLiveMedia
import Foundation
import Media
import Recorder
import Signaling
import SessionKit
import TestKit
import XCTest

/// Lip sync on the live path, as a viewer judges it: a participant publishes a file whose picture
/// flashes white exactly when its audio beeps; in the bot's recording, each beep must come within
/// EBU R37 of its flash (audio at most 40 ms early, 60 ms late).
final class LipSyncTests: XCTestCase {
    /// A flash (100 ms of white) and a 1 kHz beep (100 ms) at the start of every second, H.264 with
    /// B-frames and AAC, as a camera file would be.
    private func flashAndBeep(_ path: String, seconds: Int) throws {
        _ = try runProgram("/usr/bin/ffmpeg", [
            "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "color=c=black:size=320x180:rate=30:duration=\(seconds),drawbox=c=white:t=fill:enable='lt(mod(t\\,1)\\,0.1)'",
            "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=\(seconds)",
            "-af", "volume='if(lt(mod(t\\,1)\\,0.1)\\,0.8\\,0)':eval=frame",
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", path,
        ])
    }

    /// Onsets (seconds) where `values`, sampled at `times`, rises above `threshold` after being below it.
    private func onsets(_ values: [(time: Double, value: Double)], threshold: Double) -> [Double] {
        var out: [Double] = []
        var below = true
        for (time, value) in values.sorted(by: { $0.time < $1.time }) {
            if below && value > threshold { out.append(time) }
            below = value <= threshold
        }
        return out
    }

    func testBeepsComeWithTheirFlashesThroughHubAndBot() async throws {
        let root = try temporaryDirectory(self)
        let input = root + "/flash-beep.mp4"
        try flashAndBeep(input, seconds: 8)
        let session = try LiveSession()
        let bot = try await session.bot(root: root)
        // The agent publishes nothing: the recording's picture and sound are the customer's alone.
        let agent = CTLiveClient(configuration: ClientConfiguration(hub: session.endpoint, hello: Hello(role: .agent, userId: "A1")),
                                 logger: quietLogger("A1"))
        try await agent.connect()
        agent.onEvent { [weak agent] event in
            guard case .requestVideoUpgrade(let request) = event, let agent else { return }
            Task { try await agent.request(ResponseVideoUpgrade(contactID: request.contactID, response: true, divID: "p")) }
        }
        var configuration = ClientConfiguration(hub: session.endpoint, hello: Hello(role: .customer, userId: "C1"))
        configuration.media = MediaSourceOptions(kind: .file(input))
        let customer = CTLiveClient(configuration: configuration, logger: quietLogger("C1"))
        try await customer.connect()
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("the room") { contact.roomID != nil }
        try await Task.sleep(for: .seconds(7))
        try await contact.videoDisconnectAndDestruct()
        try await agent.contacts[contact.id]!.videoDisconnectAndDestruct()
        try await eventually("the recording") { !bot.finished.isEmpty }

        let result = bot.finished[0]
        XCTAssertEqual(result.composite.state, "rendered", "made live: \(result.composite.reason ?? "")")
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        var brightness: [(time: Double, value: Double)] = []
        let decoded = try decode(result.recordingPath) { frame, time in
            guard let tile = tiles(manifest, at: time).first(where: { $0.participantID == "customer:C1" }) else { return }
            let color = frame.averageColor(x: tile.x + tile.width / 2, y: tile.y + tile.height / 2, size: 16)
            brightness.append((time, Double(Int(color.red) + Int(color.green) + Int(color.blue)) / 3))
        }
        let window = 240  // 5 ms
        let beeps = stride(from: 0, to: decoded.samples.count - window, by: window).map { start -> (time: Double, value: Double) in
            let power = AudioAnalysis.tonePower(decoded.samples[start..<start + window], frequency: 1000, sampleRate: 48000)
            return (decoded.audioStart + Double(start) / 48000, power)
        }
        let flashes = onsets(brightness, threshold: 128)
        let loudest = beeps.map(\.value).max() ?? 0
        XCTAssertGreaterThan(loudest, 1e-5, "the beeps were recorded")
        let sounds = onsets(beeps, threshold: loudest / 4)
        XCTAssertGreaterThanOrEqual(flashes.count, 4, "flashes seen: \(flashes)")
        var offsets: [Double] = []
        for flash in flashes {
            guard let beep = sounds.min(by: { abs($0 - flash) < abs($1 - flash) }), abs(beep - flash) < 0.5 else { continue }
            offsets.append(beep - flash)
        }
        XCTAssertGreaterThanOrEqual(offsets.count, 4, "flashes \(flashes), beeps \(sounds)")
        let mean = offsets.reduce(0, +) / Double(max(1, offsets.count))
        // A picture lasts 33 ms at 30 fps: the flash's onset is known to a frame, the beep's to 5 ms.
        XCTAssertGreaterThanOrEqual(mean, -0.040, "audio early by \(Int(-mean * 1000)) ms: offsets \(offsets)")
        XCTAssertLessThanOrEqual(mean, 0.060, "audio late by \(Int(mean * 1000)) ms: offsets \(offsets)")
        print(String(format: "lip sync: beep - flash = %+.0f ms on average over %d flashes (%@)", mean * 1000, offsets.count,
                     offsets.map { String(format: "%+.0f", $0 * 1000) }.joined(separator: ", ")))
    }
}
