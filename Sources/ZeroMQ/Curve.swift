import CZeroMQ
import Foundation

/// A CURVE key pair, both keys as 40-character Z85 text.
/// CURVE settings of a client: the server's public key and the client's own pair (all Z85).
/// The `--curve FILE` of every client command, the SDK's and the web gateway's.
public struct CurveClientKeys: Codable, Sendable {
    public var serverPublicKey: String
    public var publicKey: String
    public var secretKey: String

    public init(serverPublicKey: String, publicKey: String, secretKey: String) {
        self.serverPublicKey = serverPublicKey; self.publicKey = publicKey; self.secretKey = secretKey
    }
}

public struct CurveKeyPair: Sendable, Equatable, Codable {
    public var publicKey: String
    public var secretKey: String

    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A new random key pair (libzmq built with libsodium).
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        return CurveKeyPair(publicKey: String(z85: publicKey), secretKey: String(z85: secretKey))
    }

    /// The public key that belongs to a secret key.
    public static func publicKey(forSecret secretKey: String) throws(ZMQError) -> String {
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else { throw ZMQError.last("zmq_curve_public") }
        return String(z85: publicKey)
    }

    /// The Z85 text of a binary key (32 bytes), as ZAP hands keys over.
    public static func z85(_ key: Data) -> String {
        var text = [CChar](repeating: 0, count: key.count * 5 / 4 + 1)
        _ = key.withUnsafeBytes { zmq_z85_encode(&text, $0.bindMemory(to: UInt8.self).baseAddress, $0.count) }
        return String(z85: text)
    }

    /// Whether `key` is a well-formed Z85 CURVE key (40 characters decoding to 32 bytes).
    public static func isValidKey(_ key: String) -> Bool {
        guard key.utf8.count == 40 else { return false }
        var raw = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&raw, key) != nil
    }
}

extension String {
    fileprivate init(z85 buffer: [CChar]) {
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
