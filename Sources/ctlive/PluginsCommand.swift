import ArgumentParser

// Placeholder until this command is written.
struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plugins", abstract: "(not yet built)")
    func run() async throws { throw ValidationError("'plugins' is not built yet") }
}
