import ArgumentParser
import PolicyHost

/// `ctlive policy-worker`: the process policy plugins run in under `isolation: process`.
///
/// Not for people: the policy engine starts it (re-executing `ctlive` itself, as browsers start their
/// helper processes) and speaks JSON lines with it on stdin and stdout (docs/PLUGINS.md).
struct PolicyWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: PolicyEngine.workerSubcommand,
        abstract: "Run policy plugins for a policy engine (started by the engine, not by hand).",
        shouldDisplay: false)

    func run() throws {
        PolicyWorker.run()
    }
}
