import ArgumentParser

// Placeholder until this command is written.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "(not yet built)")
    func run() async throws { throw ValidationError("'demo' is not built yet") }
}
