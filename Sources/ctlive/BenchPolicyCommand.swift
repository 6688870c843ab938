import ArgumentParser

// Placeholder until this command is written.
struct BenchPolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policy", abstract: "(not yet built)")
    func run() async throws { throw ValidationError("'policy' is not built yet") }
}
