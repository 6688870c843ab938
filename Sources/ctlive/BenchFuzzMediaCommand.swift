import ArgumentParser
import ChildProcess
import Foundation
import Logging
import MediaFuzz
import Recorder

/// `ctlive bench fuzz-media`: seeded fuzzing of the recorder's input path (see ``MediaFuzzer``).
///
/// Sessions run in child processes (`--worker`), a batch each, so that a crash (a trap, SIGSEGV in a
/// decoder) is counted, reported with the command that replays it, and the run goes on.
struct BenchFuzzMediaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz-media",
        abstract: "Fuzz the recorder's input path with mutated announcements, timestamps and real H.264/Opus/AAC payloads; print inputs tried and crashes.")

    @Option(help: "Inputs (announcements, packets, joins and leaves) in all.")
    var inputs = 100_000

    @Option(help: "The run's seed: the same seed tries the same inputs.")
    var seed: UInt64 = 1

    @Option(help: "Inputs per session (one recording each).")
    var perSession = 1000

    @Option(help: "Sessions per worker process.")
    var sessionsPerWorker = 25

    @Option(help: "Replay this one session in this process (as a crash report names it).")
    var session: Int?

    @Flag(help: .hidden)
    var worker = false

    @Option(help: .hidden)
    var first = 0

    @Option(help: .hidden)
    var count = 0

    func validate() throws {
        guard inputs > 0, perSession > 0, sessionsPerWorker > 0 else { throw ValidationError("counts must be positive") }
    }

    func run() throws {
        var logger = Logger(label: "ctlive.fuzz") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .critical
        if worker || session != nil {
            return try runSessions(first: session ?? first, count: session == nil ? count : 1, logger: logger)
        }
        try supervise()
    }

    /// In a worker: runs sessions and reports each on stdout (`start K`, then `done K …`).
    private func runSessions(first: Int, count: Int, logger: Logger) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ctlive-fuzz-\(getpid())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fuzzer = MediaFuzzer(seed: seed, corpus: try .make(), root: root, logger: logger)
        for index in first..<first + count {
            Output.line("start \(index)")
            let report = try fuzzer.runSession(index, inputs: perSession)
            Output.line(String(format: "done %d %d %.3f %.3f %d %@", index, report.inputs, report.sessionSeconds, report.recordedSeconds,
                               report.errors.total, report.errors.summaries.joined(separator: "; ")))
        }
    }

    /// Runs every session in worker processes and prints the figures.
    private func supervise() throws {
        let sessions = (inputs + perSession - 1) / perSession
        let started = Date()
        var next = 0
        var tried = 0
        var crashes: [(session: Int, how: String)] = []
        var overruns: [(index: Int, recorded: Double, session: Double)] = []
        var counted = 0
        while next < sessions {
            let batch = min(sessionsPerWorker, sessions - next)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: currentExecutablePath() ?? CommandLine.arguments[0])
            process.arguments = ["bench", "fuzz-media", "--worker", "--seed", "\(seed)", "--first", "\(next)", "--count", "\(batch)",
                                 "--per-session", "\(perSession)"]
            var environment = ProcessInfo.processInfo.environment
            environment["SWIFT_BACKTRACE"] = "enable=no"  // a crash is reported here; the backtracer would only slow it
            process.environment = environment
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            var inProgress: Int?
            var finished = next
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ", maxSplits: 6, omittingEmptySubsequences: false)
                if fields.first == "start", fields.count > 1 { inProgress = Int(fields[1]) }
                if fields.first == "done", fields.count >= 6, let index = Int(fields[1]), let count = Int(fields[2]),
                    let session = Double(fields[3]), let recorded = Double(fields[4]), let errors = Int(fields[5])
                {
                    inProgress = nil
                    finished = index + 1
                    tried += count
                    counted += errors
                    if recorded > session + 0.15 { overruns.append((index, recorded, session)) }
                }
            }
            if process.terminationReason == .uncaughtSignal || process.terminationStatus != 0 || inProgress != nil {
                let crashed = inProgress ?? finished
                let how = process.terminationReason == .uncaughtSignal
                    ? "killed by signal \(process.terminationStatus)" : "exited with status \(process.terminationStatus)"
                crashes.append((crashed, how))
                Output.line("CRASH session \(crashed): \(how); replay: ctlive bench fuzz-media --seed \(seed) --per-session \(perSession) --session \(crashed)")
                tried += perSession  // its inputs were tried too (up to the crash)
                next = crashed + 1
            } else {
                next = finished
            }
            let elapsed = Date().timeIntervalSince(started)
            FileHandle.standardError.write(Data(String(format: "\r%d/%d sessions, %d inputs, %.0f inputs/s ", next, sessions, tried, Double(tried) / max(elapsed, 0.001)).utf8))
        }
        FileHandle.standardError.write(Data("\n".utf8))
        let elapsed = Date().timeIntervalSince(started)
        Output.line(String(format: "fuzz-media: seed %llu, %d inputs in %d sessions of %d, %.1f s (%.0f inputs/s)", seed, tried, sessions, perSession, elapsed,
                     Double(tried) / max(elapsed, 0.001)))
        Output.line("crashes: \(crashes.count)")
        for crash in crashes { Output.line("  session \(crash.session): \(crash.how)") }
        Output.line("timeline longer than the session: \(overruns.count)")
        for overrun in overruns.prefix(10) {
            Output.line(String(format: "  session %d: recorded %.2f s of a %.2f s session", overrun.index, overrun.recorded, overrun.session))
        }
        Output.line("bad inputs dropped and counted by the recorder: \(counted)")
        if !crashes.isEmpty || !overruns.isEmpty { throw ExitCode(1) }
    }
}
