import ChildProcess
import Evidence
import Foundation
import Logging
import Recorder
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Composites waiting to be rendered from their originals: one at a time, at low priority, while the
/// machine has headroom. Each is rendered in a child process (`ctlive render-composite`), since
/// FFmpeg's decoders parse what members sent; a failed render is tried again later.
final class CompositeQueue: Sendable {
    private let pending = Mutex<[(directory: String, attempts: Int)]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let command: [String]?
    private let signingKey: String?
    private let load: MachineLoad
    private let logger: Logger
    private let onRendered: @Sendable (String) -> Void
    static let maximumAttempts = 3

    /// - Parameter command: the renderer (`ctlive render-composite`); nil renders in this process.
    init(command: [String]?, signingKey: String?, load: MachineLoad, logger: Logger, onRendered: @escaping @Sendable (String) -> Void) {
        self.command = command
        self.signingKey = signingKey
        self.load = load
        self.logger = logger
        self.onRendered = onRendered
        let thread = Thread { [self] in run() }
        thread.name = "composite-queue"
        thread.start()
    }

    /// Composites waiting, the one being rendered included.
    var depth: Int { pending.withLock { $0.count } }

    func enqueue(directory: String) {
        let added = pending.withLock { queue -> Bool in
            guard !queue.contains(where: { $0.directory == directory }) else { return false }
            queue.append((directory, 0))
            return true
        }
        if added {
            logger.info("composite queued", metadata: ["directory": "\(directory)"])
            wake.signal()
        }
    }

    private func run() {
        while true {
            guard let job = pending.withLock({ $0.first }) else {
                wake.wait()
                continue
            }
            // Idle time only: new sessions' originals come first.
            while !load.hasHeadroom { Thread.sleep(forTimeInterval: 1) }
            let problem = render(job.directory)
            pending.withLock { queue in
                guard let index = queue.firstIndex(where: { $0.directory == job.directory }) else { return }
                let attempt = queue.remove(at: index)
                if problem != nil, attempt.attempts + 1 < Self.maximumAttempts { queue.append((attempt.directory, attempt.attempts + 1)) }
            }
            if let problem {
                logger.error("cannot render the composite", metadata: ["directory": "\(job.directory)", "error": "\(problem)"])
                Thread.sleep(forTimeInterval: 1)
            } else {
                onRendered(job.directory)
            }
        }
    }

    /// Nil when rendered; else what went wrong.
    private func render(_ directory: String) -> String? {
        guard let command else {
            do {
                try CompositeJob.render(directory: directory, key: try signingKey.map { try SigningKey.load(path: $0) }, logger: logger)
                return nil
            } catch {
                return "\(error)"
            }
        }
        var arguments = Array(command.dropFirst()) + ["--directory", directory, "--nice", "10"]
        if let signingKey { arguments += ["--signing-key", signingKey] }
        do {
            let child = try ChildProcess.spawn(executable: command[0], arguments: arguments,
                                               environment: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" })
            let status = child.wait()
            return status == .exited(0) ? nil : "the renderer \(status?.description ?? "did not end")"
        } catch {
            return "\(error)"
        }
    }
}
