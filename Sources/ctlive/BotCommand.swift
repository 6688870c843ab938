import ArgumentParser

// Placeholder until this command is written.
struct BotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bot", abstract: "(not yet built)")
    func run() async throws { throw ValidationError("'bot' is not built yet") }
}
