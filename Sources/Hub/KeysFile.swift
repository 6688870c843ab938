import AccessToken
import Foundation
import Signaling
import ZeroMQ

/// The hub's CURVE configuration: its own key pair and which client key is which participant.
///
/// ```json
/// { "server":  { "publicKey": "<Z85>", "secretKey": "<Z85>" },
///   "clients": [ { "publicKey": "<Z85>", "role": "agent", "userId": "A1" },
///                { "publicKey": "<Z85>", "role": "recorder", "userId": "bot1", "delegateFor": ["A1"] } ],
///   "gateways": [ { "publicKey": "<Z85>", "name": "web1", "tokenSecretFile": "web-token.secret" } ] }
/// ```
///
/// A gateway (`ctlive web`) is one key that many connections share, one per browser: each may speak only
/// for the customer, agent or supervisor that the access token in its `hello` names, signed with the
/// gateway's token secret (a path relative to the keys file).
public struct KeysFile: Codable, Sendable {
    public struct ClientKey: Codable, Sendable {
        public var publicKey: String
        public var role: Role
        public var userId: String
        /// Recorders: the agents this key may answer upgrade requests for.
        public var delegateFor: [String]?
        public init(publicKey: String, role: Role, userId: String, delegateFor: [String]? = nil) {
            self.publicKey = publicKey; self.role = role; self.userId = userId; self.delegateFor = delegateFor
        }
    }

    public struct GatewayKey: Codable, Sendable {
        public var publicKey: String
        public var name: String
        public var tokenSecretFile: String
        public init(publicKey: String, name: String, tokenSecretFile: String) {
            self.publicKey = publicKey; self.name = name; self.tokenSecretFile = tokenSecretFile
        }
    }

    public var server: CurveKeyPair
    public var clients: [ClientKey]
    public var gateways: [GatewayKey]?
    /// `gateway:<name>` → its token secret, read by ``load(path:)``.
    var gatewaySecrets: [String: TokenSecret] = [:]

    enum CodingKeys: String, CodingKey { case server, clients, gateways }

    public init(server: CurveKeyPair, clients: [ClientKey], gateways: [GatewayKey]? = nil) {
        self.server = server; self.clients = clients; self.gateways = gateways
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads and checks a keys file: every key well-formed, the server pair matching, no key listed twice.
    public static func load(path: String) throws -> KeysFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw Invalid(description: "cannot read keys file \(path): \(error.localizedDescription)")
        }
        var keys: KeysFile
        do { keys = try JSONDecoder().decode(KeysFile.self, from: data) } catch {
            throw Invalid(description: "keys file \(path) is not valid: \(error)")
        }
        try keys.check(path)
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        for gateway in keys.gateways ?? [] {
            let secretPath = gateway.tokenSecretFile.hasPrefix("/") ? gateway.tokenSecretFile
                : folder.appendingPathComponent(gateway.tokenSecretFile).path
            do { keys.gatewaySecrets["gateway:\(gateway.name)"] = try TokenSecret.load(path: secretPath) } catch {
                throw Invalid(description: "keys file \(path): gateway \(gateway.name): \(error.description)")
            }
        }
        return keys
    }

    func check(_ path: String) throws {
        guard CurveKeyPair.isValidKey(server.publicKey), CurveKeyPair.isValidKey(server.secretKey),
              (try? CurveKeyPair.publicKey(forSecret: server.secretKey)) == server.publicKey else {
            throw Invalid(description: "keys file \(path): the server key pair is not a valid Z85 CURVE pair")
        }
        var seen = Set<String>()
        for (publicKey, owner) in clients.map({ ($0.publicKey, $0.userId) }) + (gateways ?? []).map({ ($0.publicKey, "gateway \($0.name)") }) {
            guard CurveKeyPair.isValidKey(publicKey) else {
                throw Invalid(description: "keys file \(path): \(owner) has an invalid public key")
            }
            guard seen.insert(publicKey).inserted else {
                throw Invalid(description: "keys file \(path): public key of \(owner) is listed twice")
            }
        }
        for gateway in gateways ?? [] {
            guard !gateway.name.isEmpty, gateway.name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw Invalid(description: "keys file \(path): gateway name \(gateway.name) is not 1+ of A-Z a-z 0-9 . _ -")
            }
        }
    }

    /// `recorder:<id>` → the agents it may answer for.
    var delegations: [String: Set<String>] {
        Dictionary(clients.filter { $0.role == .recorder }.map { ("recorder:\($0.userId)", Set($0.delegateFor ?? [])) },
                   uniquingKeysWith: { $0.union($1) })
    }

    /// Public key (Z85) → `role:userId`.
    var identities: [String: String] {
        Dictionary(clients.map { ($0.publicKey, "\($0.role.rawValue):\($0.userId)") } + (gateways ?? []).map { ($0.publicKey, "gateway:\($0.name)") },
                   uniquingKeysWith: { first, _ in first })
    }
}
