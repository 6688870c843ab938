import ArgumentParser

// Placeholder until this command is written.
struct BenchSignalingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "signaling", abstract: "(not yet built)")
    func run() async throws { throw ValidationError("'signaling' is not built yet") }
}
