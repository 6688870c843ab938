import ArgumentParser
import CTLive
import Foundation
import Signaling

/// `ctlive agent`: an agent that serves its contacts and answers upgrade requests.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Serve an agent's contacts and answer video upgrade requests.")

    enum Answer: String, EnumerableFlag {
        case accept, refuse, ask

        static func help(for value: Answer) -> ArgumentHelp? {
            switch value {
            case .accept: "Accept every request."
            case .refuse: "Refuse every request."
            case .ask: "Ask on the terminal and wait for y/n."
            }
        }
    }

    @Option(help: "The agent's id.")
    var id: String

    @Option(name: .customLong("queue"), help: "A queue this agent serves (repeatable).")
    var queues: [String] = []

    @Flag(exclusivity: .exclusive, help: "How to answer requests.")
    var answer: Answer

    @Option(help: "Stop after this many seconds (default: until SIGINT/SIGTERM).")
    var seconds: Double?

    @Option(help: "The divID of the agent's video panel.")
    var div = "videoPanel"

    @OptionGroup var client: ClientOptions
    @OptionGroup var media: MediaOptions

    func run() async throws {
        let hello = Hello(role: .agent, userId: id, queues: queues.isEmpty ? nil : queues)
        do { try hello.validate() } catch { throw ValidationError(error.message) }
        let connection = try await client.connect(hello, label: "ctlive.agent", media: try media.options(defaultColor: "#20a040", defaultTone: 660.0))
        let (json, answer, div) = (client.json, answer, div)
        let prompts = AskQueue()
        connection.onEvent { event in
            Output.print(event, json: json)
            guard case .requestVideoUpgrade(let request) = event, request.facts == nil else { return }
            Task {
                let accept: Bool
                switch answer {
                case .accept: accept = true
                case .refuse: accept = false
                case .ask: accept = await prompts.ask("Accept \(request.from.id)'s request to upgrade contact \(request.contactID) (audio \(request.useAudio), video \(request.useVideo))? [y/N] ")
                }
                do {
                    try await connection.request(ResponseVideoUpgrade(contactID: request.contactID, response: accept, divID: div, requestID: request.requestID))
                } catch {
                    FileHandle.standardError.write(Data("error: answering \(request.contactID): \(error)\n".utf8))
                }
            }
        }
        if json { Output.line(["event": "ready", "participant": connection.participant?.id ?? ""]) } else {
            Output.line("agent \(id) connected to \(client.hub)")
        }
        if case .hubLost(let reason) = await Shutdown.wait(seconds: seconds, client: connection) {
            Output.fail("lost the hub: \(reason)")
        }
        await connection.close()
    }
}

/// Asks one terminal question at a time, reading the answer off the concurrency pool (reading blocks).
actor AskQueue {
    func ask(_ question: String) async -> Bool {
        FileHandle.standardError.write(Data(question.utf8))
        let reply = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: readLine() ?? "") }
        }
        let answer = reply.trimmingCharacters(in: .whitespaces).lowercased()
        return answer == "y" || answer == "yes"
    }
}
