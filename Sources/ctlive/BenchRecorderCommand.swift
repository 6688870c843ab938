import ArgumentParser

// Placeholder until this command is written.
struct BenchRecorderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recorder", abstract: "(not yet built)")
    func run() async throws { throw ValidationError("'recorder' is not built yet") }
}
