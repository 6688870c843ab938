import Bot
import Foundation
import Glibc
import Recorder
import SessionKit
import TestKit
import XCTest

/// The browser SDK as an integrator meets it: pages written from docs/BROWSER.md on an origin of their
/// own, served by Debian's nginx, with `ctlive web` behind nginx too (a reverse proxy that rewrites
/// `Host`), in real Chromium, with the real hub and recorder.
final class IntegratorTests: XCTestCase {
    private static let pages = repositoryRoot.appendingPathComponent("Tests/Browser/integrator").path

    /// nginx serving the integrator's pages on `pagesPort` and proxying `gatewayPort` to `ctlive web`.
    private final class Nginx {
        let process = Process()
        init(_ test: XCTestCase, root: String, pagesPort: Int, proxyPort: Int, upstream: Int) throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") else { throw XCTSkip("nginx is not installed (.ci/install installs it)") }
            let prefix = root + "/nginx"
            try FileManager.default.createDirectory(atPath: prefix + "/logs", withIntermediateDirectories: true)
            let configuration = """
                user root;
                worker_processes 1;
                error_log \(prefix)/logs/error.log;
                pid \(prefix)/nginx.pid;
                events { worker_connections 64; }
                http {
                    access_log \(prefix)/logs/access.log;
                    client_body_temp_path \(prefix)/body; proxy_temp_path \(prefix)/proxy; fastcgi_temp_path \(prefix)/fastcgi;
                    uwsgi_temp_path \(prefix)/uwsgi; scgi_temp_path \(prefix)/scgi;
                    types { text/html html; text/javascript js; }
                    server {
                        listen 127.0.0.1:\(pagesPort);
                        server_name localhost;
                        root \(IntegratorTests.pages);
                    }
                    server {
                        listen 127.0.0.1:\(proxyPort);
                        location / {
                            proxy_pass http://127.0.0.1:\(upstream);
                            proxy_http_version 1.1;
                            proxy_set_header Upgrade $http_upgrade;
                            proxy_set_header Connection "upgrade";
                            proxy_set_header X-Forwarded-Host $http_host;
                            proxy_read_timeout 3600s;
                        }
                    }
                }
                """
            try configuration.write(toFile: prefix + "/nginx.conf", atomically: true, encoding: .utf8)
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
            process.arguments = ["-p", prefix, "-c", prefix + "/nginx.conf", "-g", "daemon off;"]
            process.standardError = FileHandle.nullDevice
            try process.run()
            test.addTeardownBlock { [process] in
                process.terminate()
                process.waitUntilExit()
            }
            // Up when both ports answer.
            for port in [pagesPort, proxyPort] {
                let deadline = Date().addingTimeInterval(10)
                while (try? rawHTTP(port: port, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")) == nil {
                    guard Date() < deadline else { throw NSError(domain: "nginx did not start", code: 1) }
                    Thread.sleep(forTimeInterval: 0.1)
                }
            }
        }
    }

    private func events(_ outcome: Browser.Outcome, _ page: String) -> [[String: Any]] {
        outcome.result(page, "window.events") as? [[String: Any]] ?? []
    }

    /// A customer page and an agent page of an integrator's origin escalate, see each other, mute and
    /// unmute (the other side hears it, the recording says when), and the customer's teardown ends the
    /// room for the agent and finishes the recording at once.
    func testAnIntegratorsPagesOnTheirOwnOriginBehindNginxCallMuteAndTearDown() async throws {
        let root = try temporaryDirectory(self)
        let session = try LiveSession()
        let bot = try await session.bot(root: root, size: (640, 360))
        let (pagesPort, proxyPort) = (try freePort(), try freePort())
        let pagesOrigin = "http://localhost:\(pagesPort)"
        let web = try WebProcess(self, hub: session.endpoint, arguments: ["--allow-origin", pagesOrigin, "--trusted-proxy", "127.0.0.1"])
        _ = try Nginx(self, root: root, pagesPort: pagesPort, proxyPort: proxyPort, upstream: web.port)
        let gateway = "http://127.0.0.1:\(proxyPort)"

        // The SDK answers another origin's module import with CORS headers, through the proxy; an origin not allowed gets none.
        let allowed = try rawHTTP(port: proxyPort, "GET /ctlive.js HTTP/1.0\r\nHost: 127.0.0.1:\(proxyPort)\r\nOrigin: \(pagesOrigin)\r\n\r\n")
        XCTAssertEqual(allowed.status, 200)
        XCTAssertTrue(allowed.text.contains("Access-Control-Allow-Origin: \(pagesOrigin)"), allowed.text.prefix(600).description)
        let foreign = try rawHTTP(port: proxyPort, "GET /ctlive.js HTTP/1.0\r\nHost: 127.0.0.1:\(proxyPort)\r\nOrigin: http://evil.example\r\n\r\n")
        XCTAssertFalse(foreign.text.contains("Access-Control-Allow-Origin"), "no CORS for an origin not allowed")
        let types = try rawHTTP(port: proxyPort, "GET /ctlive.d.ts HTTP/1.0\r\nHost: 127.0.0.1:\(proxyPort)\r\n\r\n")
        XCTAssertEqual(types.status, 200)
        XCTAssertTrue(types.text.contains("export declare function connect"), "the TypeScript declarations are served")

        var browser = Browser()
        browser.timeout = 90
        browser.chromiumArguments = ["--use-file-for-fake-audio-capture=\(try toneFile(root))"]
        // The customer mutes once video flows both ways, unmutes a second later, then leaves the room while the agent stays.
        let script = """
            (async () => {
              if (window.step) return window.step === 'done';
              window.step = 'running';
              try {
                await window.contact.setMicrophonePrivacy(true);
                window.mutedAt = Date.now();
                await new Promise((r) => setTimeout(r, 1000));
                await window.contact.setMicrophonePrivacy(false);
                await new Promise((r) => setTimeout(r, 1000));
                window.leftAt = Date.now();
                await window.contact.videoDisconnecAndDestruct();
              } catch (error) {
                window.stepError = String(error);
              }
              window.step = 'done';
            })(), window.step === 'done'
            """
        let bothSee = "window.contact?.mediaStats()?.peers && Object.values(window.contact.mediaStats().peers).some(p => p.framesDecoded > 30)"
        let outcome = try browser.run([
            Browser.Page(name: "agent", url: "\(pagesOrigin)/agent.html?gateway=\(gateway)&user=A9",
                         until: "window.failure || window.events.some(e => e.name === 'roomEnded')",
                         results: ["window.events", "window.failure"]),
            Browser.Page(name: "customer", url: "\(pagesOrigin)/customer.html?gateway=\(gateway)&user=C9&agent=A9",
                         until: "window.failure || window.step === 'done' || ((\(bothSee)) && window.events.some(e => e.status === 'recording') && (\(script)))",
                         results: ["window.events", "window.failure", "window.leftAt", "window.mutedAt", "window.stepError"]),
        ])
        XCTAssertTrue(outcome.ok, "\(outcome.error ?? "") \(outcome.console("customer")) \(outcome.console("agent"))")
        XCTAssertTrue(outcome.result("customer", "window.stepError") is NSNull, "\(outcome.result("customer", "window.stepError") ?? "")")
        XCTAssertTrue(outcome.result("customer", "window.failure") is NSNull, "\(outcome.result("customer", "window.failure") ?? "")")
        let agent = events(outcome, "agent"), customer = events(outcome, "customer")
        XCTAssertTrue(customer.contains { $0["name"] as? String == "responseVideoUpgrade" && $0["response"] as? Bool == true })
        XCTAssertTrue(agent.contains { $0["name"] as? String == "chat" && $0["text"] as? String == "hello from Acme" }, "chat: \(agent)")

        // The agent heard the mute and the unmute, in order.
        let privacy = agent.filter { $0["name"] as? String == "onPrivacyChanged" }.compactMap { ($0["privacy"] as? [String: Any])?["microphone"] as? Bool }
        XCTAssertEqual(privacy, [true, false], "the agent heard the customer mute, then unmute: \(agent.map { $0["name"] ?? "" })")
        // Then the customer's teardown: onLeft, then the room's end, while the agent's page stays open.
        let names = agent.compactMap { $0["name"] as? String }
        let left = names.firstIndex(of: "onLeft"), ended = names.firstIndex(of: "roomEnded")
        XCTAssertNotNil(left)
        XCTAssertNotNil(ended)
        if let left, let ended { XCTAssertLessThan(left, ended) }
        XCTAssertEqual(agent.first { $0["name"] as? String == "roomEnded" }?["reason"] as? String, "the customer left")

        // The recording finished within 2 s of the teardown, and its timeline says when the customer muted.
        let leftAt = try XCTUnwrap(outcome.result("customer", "window.leftAt") as? Double) / 1000
        try await eventually("the recording", timeout: .seconds(10)) { !bot.finished.isEmpty }
        let result = bot.finished[0]
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        XCTAssertEqual(manifest.status, "finished")
        let finishedAt = try XCTUnwrap(manifest.wallClockEnd.flatMap(parseTime)).timeIntervalSince1970
        XCTAssertLessThan(finishedAt - leftAt, 2, "finished within 2 s of the customer's videoDisconnecAndDestruct")
        let muted = manifest.events.filter { $0.kind == "privacy" && $0.fields["participant"] == "customer:C9" }.map { $0.fields["microphone"] ?? "" }
        XCTAssertEqual(muted, ["off", "on"], "the record says the customer muted and unmuted")
    }

    /// The page's microphone keeps real time with both cores busy (two CPU hogs) and the page's own
    /// main thread busy 80 % of the time: packets sent against seconds elapsed.
    func testSoundKeepsRealTimeOnABusyMachineAndABusyPage() async throws {
        let root = try temporaryDirectory(self)
        let session = try LiveSession()
        _ = try await session.acceptingAgent("A8", color: "blue", tone: 440)
        let pagesPort = try freePort(), proxyPort = try freePort()
        let pagesOrigin = "http://localhost:\(pagesPort)"
        let web = try WebProcess(self, hub: session.endpoint, arguments: ["--allow-origin", pagesOrigin, "--trusted-proxy", "127.0.0.1"])
        _ = try Nginx(self, root: root, pagesPort: pagesPort, proxyPort: proxyPort, upstream: web.port)
        let hogs = try (0..<2).map { _ -> Process in
            // Bounded in time, with no pipe of ours: a hog outlives nothing, whatever happens to the test.
            let hog = Process()
            hog.executableURL = URL(fileURLWithPath: "/bin/bash")
            hog.arguments = ["-c", "while [ $SECONDS -lt 60 ]; do :; done"]
            hog.standardOutput = FileHandle.nullDevice
            hog.standardError = FileHandle.nullDevice
            try hog.run()
            return hog
        }
        defer { for hog in hogs { kill(hog.processIdentifier, SIGKILL) } }
        var browser = Browser()
        browser.timeout = 60
        browser.chromiumArguments = ["--use-file-for-fake-audio-capture=\(try toneFile(root))"]
        // Ten seconds from the first audio packet, counted in the page.
        let measure = """
            (() => {
              const sent = window.contact?.mediaStats()?.sent?.sentAudio || 0;
              if (!sent) return false;
              if (!window.firstAudio) window.firstAudio = { at: performance.now(), sent };
              const seconds = (performance.now() - window.firstAudio.at) / 1000;
              if (seconds < 10) return false;
              window.audioRate = { seconds, packets: sent - window.firstAudio.sent };
              return true;
            })()
            """
        let outcome = try browser.run([Browser.Page(
            name: "customer", url: "\(pagesOrigin)/customer.html?gateway=http://127.0.0.1:\(proxyPort)&user=C8&agent=A8&busy=1",
            until: "window.failure || \(measure)", results: ["window.audioRate", "window.failure"])])
        XCTAssertTrue(outcome.ok, "\(outcome.error ?? "") \(outcome.console("customer"))")
        let rate = try XCTUnwrap(outcome.result("customer", "window.audioRate") as? [String: Any])
        let seconds = try XCTUnwrap(rate["seconds"] as? Double), packets = try XCTUnwrap(rate["packets"] as? Double)
        // 20 ms Opus frames: 50 a second of real time.
        let share = packets / (seconds * 50)
        print("audio under load: \(Int(packets)) packets in \(String(format: "%.2f", seconds)) s = \(String(format: "%.1f", share * 100)) % of real time")
        XCTAssertGreaterThanOrEqual(share, 0.99, "the page's sound keeps real time under load")
    }

    /// docs/BROWSER.md's TypeScript example type-checks against the served declarations, and a misuse does not.
    func testTheTypeScriptDeclarationsCheckAnIntegratorsExample() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tsc") else { throw XCTSkip("tsc is not installed (.ci/install installs node-typescript)") }
        let root = try temporaryDirectory(self)
        try FileManager.default.copyItem(atPath: Self.pages + "/example.ts", toPath: root + "/example.ts")
        try FileManager.default.copyItem(atPath: repositoryRoot.appendingPathComponent("Sources/WebGateway/Site/ctlive.d.ts").path, toPath: root + "/ctlive.d.ts")
        let options = ["--noEmit", "--strict", "--target", "es2020", "--module", "es2020", "--moduleResolution", "node", "--lib", "es2020,dom"]
        let good = try runCommand("/usr/bin/tsc", options + [root + "/example.ts"])
        XCTAssertEqual(good.status, 0, good.stdout + good.stderr)
        try """
            import { connect } from "./ctlive";
            async function wrong() {
              const client = await connect({ role: "customer", user: "C1" });
              const contact = await client.openContact({ agent: "A1" });
              await contact.requestVideoUpgrade(42, true, true);
              contact.setMicrophonePrivacy("yes");
            }
            export { wrong };
            """.write(toFile: root + "/wrong.ts", atomically: true, encoding: .utf8)
        let bad = try runCommand("/usr/bin/tsc", options + [root + "/wrong.ts"])
        XCTAssertNotEqual(bad.status, 0, "a misuse is caught")
        XCTAssertTrue(bad.stdout.contains("wrong.ts"), bad.stdout)
    }

    private func toneFile(_ root: String) throws -> String {
        let path = root + "/mic-660.wav"
        try runProgram("/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=660:duration=60", "-ac", "1", "-ar", "48000", path])
        return path
    }

    private func parseTime(_ text: String) -> Date? { ISO8601DateFormatter.withFractions.date(from: text) }
}

private extension ISO8601DateFormatter {
    nonisolated(unsafe) static let withFractions: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
