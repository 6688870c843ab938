import Foundation
import Signaling
import ZeroMQ

/// The hub's CURVE configuration: its own key pair and which client key is which participant.
///
/// ```json
/// { "server":  { "publicKey": "<Z85>", "secretKey": "<Z85>" },
///   "clients": [ { "publicKey": "<Z85>", "role": "agent", "userId": "A1" },
///                { "publicKey": "<Z85>", "role": "recorder", "userId": "bot1", "delegateFor": ["A1"] } ] }
/// ```
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

    public var server: CurveKeyPair
    public var clients: [ClientKey]

    public init(server: CurveKeyPair, clients: [ClientKey]) { self.server = server; self.clients = clients }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads and checks a keys file: every key well-formed, the server pair matching, no key listed twice.
    public static func load(path: String) throws -> KeysFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw Invalid(description: "cannot read keys file \(path): \(error.localizedDescription)")
        }
        let keys: KeysFile
        do { keys = try JSONDecoder().decode(KeysFile.self, from: data) } catch {
            throw Invalid(description: "keys file \(path) is not valid: \(error)")
        }
        try keys.check(path)
        return keys
    }

    func check(_ path: String) throws {
        guard CurveKeyPair.isValidKey(server.publicKey), CurveKeyPair.isValidKey(server.secretKey),
              (try? CurveKeyPair.publicKey(forSecret: server.secretKey)) == server.publicKey else {
            throw Invalid(description: "keys file \(path): the server key pair is not a valid Z85 CURVE pair")
        }
        var seen = Set<String>()
        for client in clients {
            guard CurveKeyPair.isValidKey(client.publicKey) else {
                throw Invalid(description: "keys file \(path): client \(client.userId) has an invalid public key")
            }
            guard seen.insert(client.publicKey).inserted else {
                throw Invalid(description: "keys file \(path): public key of \(client.userId) is listed twice")
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
        Dictionary(clients.map { ($0.publicKey, "\($0.role.rawValue):\($0.userId)") }, uniquingKeysWith: { first, _ in first })
    }
}
