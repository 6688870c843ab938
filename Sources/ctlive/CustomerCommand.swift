import ArgumentParser

// Placeholder until this command is written.
struct CustomerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "customer", abstract: "(not yet built)")
    func run() async throws { throw ValidationError("'customer' is not built yet") }
}
