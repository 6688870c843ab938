
import Foundation
import XCTest
@testable import WebGateway
@testable import AccessToken

final class AccessTokenTests: XCTestCase {
    let secret = try! TokenSecret(bytes: Array("0123456789abcdef0123456789abcdef".utf8))

    func testATokenNamesItsRoleUserAndExpiry() throws {
        let token = AccessToken.make(AccessClaims(role: "customer", user: "C1", expires: 2_000_000_000), secret: secret)
        XCTAssertEqual(token.split(separator: ".").count, 3, "the JWT form")
        let claims = try AccessToken.verify(token, secret: secret, now: Date(timeIntervalSince1970: 1_900_000_000))
        XCTAssertEqual(claims, AccessClaims(role: "customer", user: "C1", expires: 2_000_000_000))
    }

    func testRefusedTokens() throws {
        let now = Date(timeIntervalSince1970: 1_900_000_000)
        let token = AccessToken.make(AccessClaims(role: "agent", user: "A1", expires: 2_000_000_000), secret: secret)
        let other = try TokenSecret(bytes: Array("another secret of thirty-two bytes!".utf8))
        func refusal(_ token: String, secret: TokenSecret? = nil, now: Date = now) -> String {
            do { _ = try AccessToken.verify(token, secret: secret ?? self.secret, now: now); return "accepted" } catch { return error.description }
        }
        XCTAssertEqual(refusal(token, secret: other), "the token's signature is not valid")
        XCTAssertEqual(refusal(token, now: Date(timeIntervalSince1970: 2_000_000_001)), "the token expired")
        // A changed claim (another user) with the old signature.
        let parts = token.split(separator: ".").map(String.init)
        let forged = AccessToken.base64URL(Data(#"{"exp":2000000000,"role":"agent","sub":"A2"}"#.utf8))
        XCTAssertEqual(refusal([parts[0], forged, parts[2]].joined(separator: ".")), "the token's signature is not valid")
        // "alg": "none" with no signature, the classic JWT forgery.
        let none = AccessToken.base64URL(Data(#"{"alg":"none","typ":"JWT"}"#.utf8))
        XCTAssertEqual(refusal([none, parts[1], ""].joined(separator: ".")), "the token is not signed with HS256")
        XCTAssertEqual(refusal("not a token"), "the token is not three base64url parts")
        XCTAssertEqual(refusal(String(repeating: "a", count: 5000)), "the token is longer than 4096 bytes")
        XCTAssertEqual(refusal(parts[0] + ".+/=." + parts[2]), "the token is not three base64url parts")
    }

    func testASecretIsAFileOfAtLeast32Bytes() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "short\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TokenSecret.load(path: path)) { error in
            XCTAssertTrue("\(error)".contains("at least 32 bytes"), "\(error)")
        }
        try (TokenSecret.generateText() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = try TokenSecret.load(path: path)
        let token = AccessToken.make(AccessClaims(role: "customer", user: "C1", expires: Int64(Date().timeIntervalSince1970) + 60), secret: loaded)
        XCTAssertEqual(try AccessToken.verify(token, secret: loaded).user, "C1")
    }

    func testTheHostOfAHostHeaderAndWhetherItIsLoopback() {
        for (header, host) in [("127.0.0.1:8080", "127.0.0.1"), ("[::1]:8080", "::1"), ("localhost", "localhost"),
                               ("localhost:80", "localhost"), ("evil.example:8080", "evil.example"), ("", "")] {
            XCTAssertEqual(GatewayConfiguration.hostName(ofHostHeader: header), host, header)
        }
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost"] { XCTAssertTrue(GatewayConfiguration.isLoopback(host), host) }
        // A name that starts like a loopback address is a name: it could resolve anywhere (DNS rebinding).
        for host in ["127.evil.example", "128.0.0.1", "evil.example", "0.0.0.0", ""] {
            XCTAssertFalse(GatewayConfiguration.isLoopback(host), host)
        }
    }

    func testBinaryFramesRoundTripAndRefuseWhatTheMediaPlaneWould() throws {
        let message = BinaryFrames.encode(channel: 2, frames: [Data("{}".utf8), Data([1, 2, 3])])
        let decoded = try BinaryFrames.decode(message)
        XCTAssertEqual(decoded.channel, 2)
        XCTAssertEqual(decoded.frames, [Data("{}".utf8), Data([1, 2, 3])])
        func refusal(_ bytes: [UInt8]) -> String {
            do { _ = try BinaryFrames.decode(bytes); return "accepted" } catch { return error.description }
        }
        XCTAssertEqual(refusal([0]), "a binary message starts with a channel and a frame count")
        XCTAssertEqual(refusal([4, 0]), "channel 4: at most 4 media channels")
        XCTAssertEqual(refusal([0, 3]), "a browser sends at most 2 frames (packet header, payload)")
        XCTAssertEqual(refusal([0, 1, 0, 0, 0, 5, 1, 2]), "frame 0: cut off")
        XCTAssertEqual(refusal([0, 1, 0, 1, 0, 1]), "frame 0: 65537 bytes, more than 65536")
        XCTAssertEqual(refusal([0, 1, 0, 0, 0, 1, 9, 9]), "1 bytes after the last frame")
        XCTAssertEqual(try BinaryFrames.decode([1, 0]).frames, [], "no frames: the browser closes the channel")
    }
}
