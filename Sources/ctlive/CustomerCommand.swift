import ArgumentParser
import CTLive
import Foundation
import Signaling

/// `ctlive customer`: opens a contact, chats, optionally escalates, stays a while, leaves.
struct CustomerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customer", abstract: "Open a contact as a customer, chat, and optionally escalate to audio/video.")

    @Option(help: "The customer's id.")
    var id: String

    @Option(help: "Open the contact with this agent.")
    var agent: String?

    @Option(help: "Open the contact through this queue.")
    var queue: String?

    @Option(help: "Send this chat line first (repeatable).")
    var chat: [String] = []

    @Option(name: .customLong("attr"), help: ArgumentHelp("A customer attribute the contact carries (repeatable).", valueName: "KEY=VALUE"))
    var attributes: [String] = []

    @Flag(help: "Ask to upgrade the chat to audio/video.")
    var requestVideo = false

    @Flag(help: "Do not ask for audio.")
    var noAudio = false

    @Flag(help: "Do not ask for video.")
    var noVideo = false

    @Option(help: "The divID of the customer's video panel.")
    var div = "videoPanel"

    @Option(help: "Seconds to stay (in the room, once the upgrade is accepted) before leaving.")
    var seconds: Double = 5

    @OptionGroup var client: ClientOptions
    @OptionGroup var media: MediaOptions

    func validate() throws {
        guard (agent == nil) != (queue == nil) else { throw ValidationError("give exactly one of --agent or --queue") }
        if requestVideo && noAudio && noVideo { throw ValidationError("--no-audio and --no-video leave nothing to request") }
        guard seconds >= 0 else { throw ValidationError("--seconds must not be negative") }
        _ = try parsedAttributes()
    }

    func parsedAttributes() throws -> [String: String] {
        var result: [String: String] = [:]
        for pair in attributes {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw ValidationError("--attr takes KEY=VALUE, got '\(pair)'")
            }
            result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        return result
    }

    func run() async throws {
        let hello = Hello(role: .customer, userId: id)
        do { try hello.validate() } catch { throw ValidationError(error.message) }
        // A customer's session is its contact, which a hub forgets with the connection: losing the hub ends the command.
        let connection = try await client.connect(
            hello, label: "ctlive.customer", media: try media.options(defaultColor: "#2060e0", defaultTone: 440.0), reconnects: false)
        let json = client.json
        connection.onEvent { Output.print($0, json: json) }
        let contact: Contact
        do { contact = try await connection.openContact(agent: agent, queue: queue, attributes: try parsedAttributes()) } catch {
            Output.fail("cannot open the contact: \(error)")
        }
        if json { Output.line(["event": "contact", "contactID": contact.id]) } else { Output.line("contact \(contact.id) opened") }
        do {
            for line in chat { try await contact.sendChat(line) }
            if requestVideo {
                let answer = AsyncStream.makeStream(of: Bool.self)
                contact.on("responseVideoUpgrade") { event in answer.continuation.yield(event.response ?? false) }
                contact.on("contactClosed") { _ in answer.continuation.finish() }
                contact.on("requestVideoUpgradeCancelled") { _ in answer.continuation.finish() }
                connection.onEvent { if case .disconnected = $0 { answer.continuation.finish() } }
                try await contact.requestVideoUpgrade(divID: div, useAudio: !noAudio, useVideo: !noVideo)
                var iterator = answer.stream.makeAsyncIterator()
                if await iterator.next() == true {
                    if case .hubLost(let reason) = await Shutdown.wait(seconds: seconds, client: connection) { Output.fail("lost the hub: \(reason)") }
                    if contact.roomID != nil { try? await contact.videoDisconnectAndDestruct() }
                }
            } else {
                if case .hubLost(let reason) = await Shutdown.wait(seconds: seconds, client: connection) { Output.fail("lost the hub: \(reason)") }
            }
        } catch {
            Output.fail("\(error)")
        }
        await connection.close()
    }
}
