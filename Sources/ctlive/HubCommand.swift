import ArgumentParser

// Placeholder until this command is written.
struct HubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hub", abstract: "(not yet built)")
    func run() async throws { throw ValidationError("'hub' is not built yet") }
}
