import ArgumentParser
import IsolatedRecording
import Logging

/// `ctlive record-worker --room ID`: records one session for a bot, in a process of its own.
///
/// Not for people: the bot starts it (re-executing `ctlive`) and feeds it the room's media on stdin
/// (docs/ARCHITECTURE.md). The room id on the command line names the session in `ps`.
struct RecordWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: RecordingProcess.workerSubcommand,
        abstract: "Record one session for a bot (started by the bot, not by hand).",
        shouldDisplay: false)

    @Option(help: "The room this worker records.")
    var room: String

    @Option(help: "Log level on stderr.")
    var logLevel: Logger.Level = .error

    func run() throws {
        RecordingWorkerMain.run(logger: LogSetup.logger("ctlive.record-worker[\(room)]", level: logLevel))
    }
}
