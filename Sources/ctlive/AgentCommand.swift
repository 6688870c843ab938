import ArgumentParser

// Placeholder until this command is written.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent", abstract: "(not yet built)")
    func run() async throws { throw ValidationError("'agent' is not built yet") }
}
