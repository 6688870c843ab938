import ArgumentParser
import Evidence
import Foundation
import Hub
import Signaling
import ZeroMQ

/// `ctlive keys`: makes the CURVE files `ctlive hub --keys` and the clients' `--curve` read.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make key files: CURVE keys for the hub and its clients, or a recorder's Ed25519 signing key.",
        discussion: """
        ctlive keys --hub-file hub-keys.json --client agent:A1 --client customer:C1 --out-dir keys/
        writes hub-keys.json (for `ctlive hub --keys`) and keys/agent-A1.json, keys/customer-C1.json (for `--curve`).
        ctlive keys --signing-key bot.key
        writes bot.key (Ed25519, mode 0600, for `ctlive bot --signing-key`) and bot.key.pub (for verifiers).
        """)

    @Option(help: ArgumentHelp("The hub's keys file to write (for `ctlive hub --keys`).", valueName: "FILE"))
    var hubFile: String?

    @Option(help: ArgumentHelp("Write an Ed25519 signing key here (mode 0600) and its public key to FILE.pub.", valueName: "FILE"))
    var signingKey: String?

    @Option(name: .customLong("client"), help: ArgumentHelp("A client to admit (repeatable).", valueName: "ROLE:ID"))
    var clients: [String] = []

    @Option(name: .customLong("delegate"), help: ArgumentHelp("Let a recorder answer for an agent (repeatable).", valueName: "RECORDER_ID=AGENT_ID"))
    var delegations: [String] = []

    @Option(help: "Where to write each client's `--curve` file.")
    var outDir = "."

    func validate() throws {
        guard hubFile != nil || signingKey != nil else { throw ValidationError("give --hub-file, --signing-key, or both") }
        if hubFile == nil && !clients.isEmpty { throw ValidationError("--client needs --hub-file") }
        for client in clients { _ = try parse(client) }
        _ = try delegationMap()
    }

    /// Recorder id → the agents it answers for.
    private func delegationMap() throws -> [String: [String]] {
        var map: [String: [String]] = [:]
        for text in delegations {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, clients.contains("recorder:\(parts[0])") else {
                throw ValidationError("--delegate takes RECORDER_ID=AGENT_ID for a recorder also given with --client recorder:ID, got '\(text)'")
            }
            map[parts[0], default: []].append(parts[1])
        }
        return map
    }

    private func parse(_ text: String) throws -> (Role, String) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let role = Role(rawValue: parts[0]) else {
            throw ValidationError("--client takes ROLE:ID with ROLE one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        }
        do { try Hello(role: role, userId: parts[1]).validate() } catch { throw ValidationError(error.message) }
        return (role, parts[1])
    }

    func run() throws {
        if let signingKey {
            let key = SigningKey.generate()
            do { try key.write(to: signingKey) } catch { throw ValidationError("\(error)") }
            print("wrote \(signingKey) and \(signingKey).pub (Ed25519, key id \(key.keyID))")
        }
        guard let hubFile else { return }
        let server = try CurveKeyPair.generate()
        var admitted: [KeysFile.ClientKey] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        for client in clients {
            let (role, id) = try parse(client)
            let pair = try CurveKeyPair.generate()
            admitted.append(.init(publicKey: pair.publicKey, role: role, userId: id, delegateFor: role == .recorder ? try delegationMap()[id] : nil))
            let path = "\(outDir)/\(role.rawValue)-\(id).json"
            try write(encoder.encode(CurveClientKeysFile(serverPublicKey: server.publicKey, publicKey: pair.publicKey, secretKey: pair.secretKey)), to: path)
            print("wrote \(path)")
        }
        try write(encoder.encode(KeysFile(server: server, clients: admitted)), to: hubFile)
        print("wrote \(hubFile) (hub public key \(server.publicKey))")
    }

    /// Secret keys: readable by the owner only.
    private func write(_ data: Data, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(path)")
        }
    }
}

/// The client side's file, as `CurveClientKeys` reads it.
private struct CurveClientKeysFile: Encodable {
    var serverPublicKey: String
    var publicKey: String
    var secretKey: String
}
