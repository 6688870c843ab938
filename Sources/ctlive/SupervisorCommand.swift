import ArgumentParser
import CTLive
import Foundation
import Signaling
import Synchronization

/// `ctlive supervisor`: joins a contact's active video room for a while, then leaves.
struct SupervisorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervisor", abstract: "Join a contact's active video room as a supervisor, stay, leave.")

    @Option(help: "The supervisor's id.")
    var id: String

    @Option(help: "The contact whose room to join.")
    var contact: String

    @Option(help: "Seconds to stay in the room.")
    var seconds: Double = 5

    @OptionGroup var client: ClientOptions
    @OptionGroup var media: MediaOptions

    func run() async throws {
        let hello = Hello(role: .supervisor, userId: id)
        do { try hello.validate() } catch { throw ValidationError(error.message) }
        let connection = try await client.connect(hello, label: "ctlive.supervisor", media: try media.options(defaultColor: "#e0a020", defaultTone: 880))
        let json = client.json
        connection.onEvent { Output.print($0, json: json) }
        let roomID = RoomWatcher(connection)
        do { try await connection.superviseRoom(contactID: contact) } catch { Output.fail("cannot join the room of \(contact): \(error)") }
        if case .hubLost(let reason) = await Shutdown.wait(seconds: seconds, client: connection) { Output.fail("lost the hub: \(reason)") }
        try? await connection.leaveRoom(contactID: contact, roomID: roomID.value)
        await connection.close()
    }
}

/// Remembers the room the supervisor was let into.
private final class RoomWatcher: Sendable {
    private let room = Mutex<String?>(nil)
    init(_ client: CTLiveClient) {
        client.onEvent { [weak self] event in
            if case .roomStarted(let started) = event { self?.room.withLock { $0 = started.roomID } }
        }
    }
    var value: String? { room.withLock { $0 } }
}
