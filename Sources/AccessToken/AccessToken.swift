import Crypto
import Foundation

/// Who a browser is, as a contact center's back end vouches for it: a role, a user id and an expiry.
public struct AccessClaims: Sendable, Equatable {
    /// `customer`, `agent` or `supervisor` (checked by whoever admits the token, not here).
    public var role: String
    public var user: String
    /// Seconds since 1970 after which the token is refused.
    public var expires: Int64

    public init(role: String, user: String, expires: Int64) {
        self.role = role; self.user = user; self.expires = expires
    }
}

/// Why a token was refused. The text is safe to send back to the browser: it names no secret.
public struct TokenError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The shared secret that signs tokens: the bytes of a file (trailing whitespace cut), at least 32 of them.
///
/// A back end signs with the same bytes (any JWT library: HS256, the file's text as the key).
public struct TokenSecret: Sendable {
    private let bytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: bytes) }
    public static let minimumBytes = 32

    public init(bytes: some Collection<UInt8>) throws(TokenError) {
        guard bytes.count >= Self.minimumBytes else {
            throw TokenError("a token secret needs at least \(Self.minimumBytes) bytes, this one has \(bytes.count)")
        }
        self.bytes = Array(bytes)
    }

    public static func load(path: String) throws(TokenError) -> TokenSecret {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenError("cannot read the token secret \(path)")
        }
        var bytes = Array(data)
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { bytes.removeLast() }
        do { return try TokenSecret(bytes: bytes) } catch { throw TokenError("\(path): \(error.description)") }
    }

    /// 32 random bytes as base64 text: what `ctlive web secret` writes.
    public static func generateText() -> String {
        Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64EncodedString()
    }
}

/// Signed access tokens in the JSON Web Token form (RFC 7519) with HMAC-SHA256 (`HS256`), so that any
/// back end can make them: `{"alg":"HS256","typ":"JWT"}` . `{"sub": user, "role": role, "exp": seconds}`.
///
/// Verification is strict: the header must say `HS256` (no `none`, no other algorithm), the signature is
/// compared in constant time before the claims are read, and `exp` is required.
public enum AccessToken {
    /// Longer tokens are refused before any work is done on them.
    public static let maximumLength = 4096

    public static func make(_ claims: AccessClaims, secret: TokenSecret) -> String {
        let header = base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payload = try! JSONSerialization.data(
            withJSONObject: ["sub": claims.user, "role": claims.role, "exp": claims.expires], options: [.sortedKeys])
        let signed = header + "." + base64URL(payload)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(signed.utf8), using: secret.key)
        return signed + "." + base64URL(Data(mac))
    }

    public static func verify(_ token: String, secret: TokenSecret, now: Date = Date()) throws(TokenError) -> AccessClaims {
        guard token.utf8.count <= maximumLength else { throw TokenError("the token is longer than \(maximumLength) bytes") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = decodeBase64URL(parts[0]), let payloadData = decodeBase64URL(parts[1]),
              let signature = decodeBase64URL(parts[2]) else {
            throw TokenError("the token is not three base64url parts")
        }
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any],
              header["alg"] as? String == "HS256" else {
            throw TokenError("the token is not signed with HS256")
        }
        let signed = Data(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: secret.key) else {
            throw TokenError("the token's signature is not valid")
        }
        guard let payload = try? JSONSerialization.jsonObject(with: payloadData) as? [String: Any],
              let user = payload["sub"] as? String, let role = payload["role"] as? String,
              let expiry = payload["exp"] as? NSNumber, expiry.doubleValue == Double(expiry.int64Value)
        else {
            throw TokenError("the token's claims need sub, role and exp")
        }
        let claims = AccessClaims(role: role, user: user, expires: expiry.int64Value)
        guard Double(claims.expires) > now.timeIntervalSince1970 else { throw TokenError("the token expired") }
        return claims
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: Substring) -> Data? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
