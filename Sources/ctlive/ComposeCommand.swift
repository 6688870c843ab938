import ArgumentParser

// Placeholder until this command is written.
struct ComposeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compose", abstract: "(not yet built)")
    func run() async throws { throw ValidationError("'compose' is not built yet") }
}
