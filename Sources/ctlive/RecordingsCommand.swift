import ArgumentParser

// Placeholder until this command is written.
struct RecordingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recordings", abstract: "(not yet built)")
    func run() async throws { throw ValidationError("'recordings' is not built yet") }
}
