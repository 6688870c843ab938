import ArgumentParser
import Foundation
import Logging
import PolicyHost
import PolicyKit

/// `ctlive policy test --policy FILE --request FILE.json [--plugins DIR]...`
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Work with policy files.", subcommands: [Test.self])

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Dry-run one decision and print its audit record as JSON.")

        @Option(help: "The policy file (JSON).")
        var policy: String

        @Option(help: "The decision context (JSON, see docs/PLUGINS.md).")
        var request: String

        @Option(name: .customLong("plugins"), help: "A plugin directory (repeatable; default: where the build puts them).")
        var pluginDirectories: [String] = []

        @Option(help: "Also append the record to this audit log (JSON lines).")
        var audit: String?

        @Flag(help: "Log what the engine does to stderr.")
        var verbose = false

        func run() async throws {
            var logger = Logger(label: "ctlive.policy") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = verbose ? .debug : .error
            guard let data = FileManager.default.contents(atPath: request) else {
                throw ValidationError("cannot read the request file \(request)")
            }
            let context: DecisionContext
            do { context = try JSONDecoder().decode(DecisionContext.self, from: data) } catch {
                throw ValidationError("\(request): invalid decision context: \(describe(error))")
            }
            let engine: PolicyEngine
            do {
                engine = try PolicyEngine(
                    policyPath: policy,
                    pluginDirectories: pluginDirectories.isEmpty ? defaultPluginDirectories() : pluginDirectories,
                    auditLogPath: audit, logger: logger)
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode(1)
            }
            let decision = await engine.decide(context)
            printJSON(decision.audit)
        }
    }
}
