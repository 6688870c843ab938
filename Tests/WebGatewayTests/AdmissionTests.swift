import AccessToken
import CTLive
import Foundation
import Hub
import SessionKit
import Signaling
import TestKit
import XCTest
import ZeroMQ

/// Who `ctlive web` lets in: loopback pages without tokens, token holders with them, and on a CURVE hub
/// its key speaks only for the users its tokens name.
final class AdmissionTests: XCTestCase {
    private func secretFile(_ root: String) throws -> (path: String, secret: TokenSecret) {
        let path = root + "/web-token.secret"
        let run = try runCommand(ctliveExecutable, ["web", "secret", path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600, "the secret is the owner's only")
        return (path, try TokenSecret.load(path: path))
    }

    private func token(_ secretPath: String, role: String, user: String) throws -> String {
        let run = try runCommand(ctliveExecutable, ["web", "token", "--secret", secretPath, "--role", role, "--user", user, "--ttl", "600"])
        XCTAssertEqual(run.status, 0, run.stderr)
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testWithoutTokensOnlyLoopbackPagesAreServed() throws {
        let session = try LiveSession()
        let web = try WebProcess(self, hub: session.endpoint)
        let host = "127.0.0.1:\(web.port)"
        let sdk = try rawHTTP(port: web.port, "GET /ctlive.js HTTP/1.1\r\nHost: \(host)\r\n\r\n")
        XCTAssertEqual(sdk.status, 200)
        XCTAssertTrue(sdk.text.contains("Content-Type: text/javascript"), sdk.text.prefix(300).description)
        XCTAssertTrue(sdk.text.contains("export async function connect"))
        XCTAssertTrue(sdk.text.contains("Referrer-Policy: no-referrer"), "page URLs carry tokens")
        for page in ["/customer.html", "/agent.html", "/"] {
            XCTAssertEqual(try rawHTTP(port: web.port, "GET \(page) HTTP/1.1\r\nHost: \(host)\r\n\r\n").status, 200, page)
        }
        XCTAssertEqual(try rawHTTP(port: web.port, "GET /../Package.swift HTTP/1.1\r\nHost: \(host)\r\n\r\n").status, 404)
        XCTAssertEqual(try rawHTTP(port: web.port, "POST /customer.html HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 0\r\n\r\n").status, 405)
        let admitted = try rawHTTP(port: web.port, upgradeRequest("/ws", host: host, origin: "http://\(host)"))
        XCTAssertEqual(admitted.status, 101)
        XCTAssertNil(closeFrame(after: admitted.bytes), "admitted: not closed")
        // Refusals upgrade and then close with 4000 + the HTTP status and the reason: a page's script can read that.
        let rebound = try rawHTTP(port: web.port, upgradeRequest("/ws", host: "evil.example:\(web.port)"))
        XCTAssertEqual(closeFrame(after: rebound.bytes)?.code, 4403, "a DNS name rebound to loopback is not loopback")
        XCTAssertEqual(closeFrame(after: rebound.bytes)?.reason, "host evil.example:\(web.port) is not loopback")
        let crossSite = try rawHTTP(port: web.port, upgradeRequest("/ws", host: host, origin: "http://evil.example"))
        XCTAssertEqual(closeFrame(after: crossSite.bytes)?.code, 4403, "another site's page may not use this gateway")
        XCTAssertEqual(closeFrame(after: crossSite.bytes)?.reason, "origin http://evil.example is not allowed (ctlive web --allow-origin)")
        // A forwarded host is believed only from a trusted proxy: here nobody is one.
        let forwarded = try rawHTTP(port: web.port, upgradeRequest("/ws", host: host, origin: "http://\(host)")
            .replacingOccurrences(of: "\r\n\r\n", with: "\r\nX-Forwarded-Host: evil.example\r\n\r\n"))
        XCTAssertEqual(forwarded.status, 101)
        XCTAssertNil(closeFrame(after: forwarded.bytes), "X-Forwarded-Host from an untrusted peer is ignored")

        // Another origin, allowed by name; and behind a trusted proxy, the host the browser asked for is the forwarded one.
        let proxied = try WebProcess(self, hub: session.endpoint, arguments: ["--allow-origin", "https://crm.example.com", "--trusted-proxy", "127.0.0.1"])
        let proxiedHost = "127.0.0.1:\(proxied.port)"
        let crm = try rawHTTP(port: proxied.port, upgradeRequest("/ws", host: proxiedHost, origin: "https://crm.example.com"))
        XCTAssertEqual(crm.status, 101)
        XCTAssertNil(closeFrame(after: crm.bytes), "an allowed origin is admitted")
        let throughProxy = try rawHTTP(port: proxied.port, upgradeRequest("/ws", host: "upstream:8080", origin: "http://localhost:9000")
            .replacingOccurrences(of: "\r\n\r\n", with: "\r\nX-Forwarded-Host: localhost:9000\r\n\r\n"))
        XCTAssertNil(closeFrame(after: throughProxy.bytes), "a proxy's rewritten Host: the forwarded host is the page's own")
        let rebinding = try rawHTTP(port: proxied.port, upgradeRequest("/ws", host: proxiedHost)
            .replacingOccurrences(of: "\r\n\r\n", with: "\r\nForwarded: for=1.2.3.4;host=evil.example\r\n\r\n"))
        XCTAssertEqual(closeFrame(after: rebinding.bytes)?.reason, "host evil.example is not loopback", "a forwarded host is checked like Host")
        let module = try rawHTTP(port: proxied.port, "GET /ctlive.js HTTP/1.0\r\nHost: \(proxiedHost)\r\nOrigin: https://crm.example.com\r\n\r\n")
        XCTAssertTrue(module.text.contains("Access-Control-Allow-Origin: https://crm.example.com"), "CORS for the allowed origin's module import")
        let badOrigin = try runCommand(ctliveExecutable, ["web", "--http", "127.0.0.1:0", "--hub", session.endpoint, "--allow-origin", "crm.example.com/path"])
        XCTAssertNotEqual(badOrigin.status, 0)
        XCTAssertTrue(badOrigin.stderr.contains("expected scheme://host[:port]"), badOrigin.stderr)

        let open = try runCommand(ctliveExecutable, ["web", "--http", "0.0.0.0:0", "--hub", session.endpoint])
        XCTAssertNotEqual(open.status, 0)
        XCTAssertTrue(open.stderr.contains("without --token-secret, ctlive web listens on loopback only"), open.stderr)
    }

    func testWithTokensABrowserNeedsAValidOneAndSpeaksOnlyAsItsUser() throws {
        let root = try temporaryDirectory(self)
        let (secretPath, secret) = try secretFile(root)
        let session = try LiveSession()
        let web = try WebProcess(self, hub: session.endpoint, arguments: ["--token-secret", secretPath])
        let host = "127.0.0.1:\(web.port)"
        func upgrade(_ query: String) throws -> (code: Int, reason: String)? {
            closeFrame(after: try rawHTTP(port: web.port, upgradeRequest("/ws\(query)", host: host)).bytes)
        }
        XCTAssertEqual(try upgrade("")?.code, 4401)
        XCTAssertEqual(try upgrade("")?.reason, "a token is required (?token=)")
        let other = try TokenSecret(bytes: Array("a secret that is not the gateway's".utf8))
        let forged = AccessToken.make(AccessClaims(role: "customer", user: "C1", expires: Int64(Date().timeIntervalSince1970) + 60), secret: other)
        XCTAssertEqual(try upgrade("?token=\(forged)")?.reason, "token refused: the token's signature is not valid")
        let expired = AccessToken.make(AccessClaims(role: "customer", user: "C1", expires: Int64(Date().timeIntervalSince1970) - 1), secret: secret)
        XCTAssertEqual(try upgrade("?token=\(expired)")?.reason, "token refused: the token expired")
        let recorder = AccessToken.make(AccessClaims(role: "recorder", user: "bot", expires: Int64(Date().timeIntervalSince1970) + 60), secret: secret)
        XCTAssertEqual(try upgrade("?token=\(recorder)")?.code, 4403, "a browser is never a recorder")
        let good = try token(secretPath, role: "customer", user: "C1")
        let admitted = try rawHTTP(port: web.port, upgradeRequest("/ws?token=\(good)", host: host))
        XCTAssertEqual(admitted.status, 101)
        XCTAssertNil(closeFrame(after: admitted.bytes))

        // In a browser: the token's user gets in; the same token claiming another user, or a forged token, does not.
        let outcome = try Browser(timeout: 20).run([
            Browser.Page(name: "good", url: "\(web.base)/customer.html?user=C1&token=\(good)",
                         until: "window.ctliveEvents?.some(e => e.type === 'welcome')", results: ["window.ctliveEvents"]),
            Browser.Page(name: "impostor", url: "\(web.base)/customer.html?user=C2&token=\(good)",
                         until: "window.ctliveEvents?.some(e => e.type === 'refused')", results: ["window.ctliveEvents"]),
            Browser.Page(name: "forged", url: "\(web.base)/customer.html?user=C1&token=\(forged)",
                         until: "window.ctliveEvents?.some(e => e.type === 'refused')", results: ["window.ctliveEvents"]),
        ])
        XCTAssertTrue(outcome.ok, "\(outcome.pages)")
        func refusal(_ page: String) -> String { (outcome.result(page, "window.ctliveEvents") as? [[String: Any]])?.first?["message"] as? String ?? "" }
        XCTAssertEqual(refusal("impostor"), "identity_mismatch: this browser's token names customer:C1, not customer:C2")
        XCTAssertEqual(refusal("forged"), "token refused: the token's signature is not valid", "the page is told why")
    }

    func testOnACurveHubTheGatewaysKeySpeaksOnlyForTheUsersItsTokensName() async throws {
        let root = try temporaryDirectory(self)
        let (secretPath, secret) = try secretFile(root)
        let server = try CurveKeyPair.generate(), gateway = try CurveKeyPair.generate()
        let keysJSON: [String: Any] = [
            "server": ["publicKey": server.publicKey, "secretKey": server.secretKey],
            "clients": [] as [Any],
            "gateways": [["publicKey": gateway.publicKey, "name": "web1", "tokenSecretFile": "web-token.secret"]],
        ]
        try JSONSerialization.data(withJSONObject: keysJSON).write(to: URL(fileURLWithPath: root + "/keys.json"))
        var configuration = HubConfiguration()
        configuration.signalingEndpoint = "tcp://127.0.0.1:0"
        configuration.mediaEndpoint = "tcp://127.0.0.1:0"
        configuration.keys = try KeysFile.load(path: root + "/keys.json")
        let hub = Hub(configuration: configuration, logger: quietLogger("hub"))
        let endpoint = try hub.start()
        defer { hub.stop() }
        let curve = CurveClientKeys(serverPublicKey: server.publicKey, publicKey: gateway.publicKey, secretKey: gateway.secretKey)

        // What the hub itself refuses from the gateway's key (ctlive web refuses these before the hub sees them).
        func hello(_ hello: Hello) async -> String {
            var configuration = ClientConfiguration(hub: endpoint, hello: hello, curve: curve)
            configuration.reconnect = nil
            let client = CTLiveClient(configuration: configuration, logger: quietLogger("gw"))
            let outcome: String
            do { try await client.connect(); outcome = "welcome" } catch { outcome = "\(error)" }
            await client.close()
            return outcome
        }
        let forC1 = AccessToken.make(AccessClaims(role: "customer", user: "C1", expires: Int64(Date().timeIntervalSince1970) + 60), secret: secret)
        let withoutToken = await hello(Hello(role: .customer, userId: "C1"))
        XCTAssertTrue(withoutToken.contains("hello needs its token"), withoutToken)
        let otherUser = await hello(Hello(role: .customer, userId: "C2", token: forC1))
        XCTAssertTrue(otherUser.contains("the token names customer:C1, not customer:C2"), otherUser)
        let asRecorder = await hello(Hello(role: .recorder, userId: "C1", token: forC1))
        XCTAssertTrue(asRecorder.contains("speaks for customers, agents and supervisors only"), asRecorder)
        let forged = AccessToken.make(AccessClaims(role: "customer", user: "C1", expires: Int64(Date().timeIntervalSince1970) + 60),
                                      secret: try TokenSecret(bytes: Array("a secret that is not the gateway's".utf8)))
        let forgedHello = await hello(Hello(role: .customer, userId: "C1", token: forged))
        XCTAssertTrue(forgedHello.contains("signature is not valid"), forgedHello)

        // Through ctlive web and its key, a browser with a token is welcomed on the CURVE hub, media included.
        let keysPath = root + "/web-curve.json"
        try JSONEncoder().encode(curve).write(to: URL(fileURLWithPath: keysPath))
        let web = try WebProcess(self, hub: endpoint, arguments: ["--token-secret", secretPath, "--curve", keysPath])
        let good = try token(secretPath, role: "customer", user: "C1")
        let outcome = try Browser(timeout: 20).run([
            Browser.Page(name: "c", url: "\(web.base)/customer.html?user=C1&token=\(good)",
                         until: "window.ctliveEvents?.some(e => e.type === 'welcome')", results: ["window.ctliveEvents"]),
        ])
        XCTAssertTrue(outcome.ok, "\(outcome.pages)")
    }
}
