import ChildProcess
import Foundation
import Logging
import PolicyKit

#if canImport(Glibc)
import Glibc
#endif

/// The worker side of process isolation: `ctlive policy-worker` calls ``PolicyWorker/run()``.
public enum PolicyWorker {
    /// Serves JSON-line requests on stdin until it closes; replies on stdout. Plugins' own writes to
    /// stdout are redirected to stderr so they cannot corrupt the protocol.
    public static func run() -> Never {
        // Die with the host: it holds our only purpose (and the kernel would otherwise keep us when it crashes).
        if !ChildProcess.dieWithParent() { exit(0) }
        let out = dup(1)
        dup2(2, 1)
        var logger = Logger(label: "ctlive.policy.worker") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        var instances: [Int: PluginInstance] = [:]
        var setupErrors: [Int: String] = [:]
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)

        func write(_ data: [UInt8]) {
            data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(out, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 { if errno == EINTR { continue }; exit(3) }
                    offset += n
                }
            }
        }

        func setup(_ message: WorkerMessage.Setup) {
            var plugins = PluginSet(loader: PluginLoader(directories: message.directories, logger: logger))
            var results: [WorkerMessage.SetupReply.Step] = []
            instances = [:]
            setupErrors = [:]
            for (index, step) in message.steps.enumerated() {
                do {
                    let library = try plugins.resolve(step.plugin)
                    instances[index] = try library.makeInstance(configurationJSON: step.config)
                    results.append(.init(ok: true, path: library.path, id: library.metadata.id, version: library.metadata.version))
                } catch {
                    setupErrors[index] = "\(error)"
                    results.append(.init(ok: false, error: "\(error)"))
                }
            }
            guard var data = try? JSONEncoder().encode(WorkerMessage.SetupReply(steps: results)) else { exit(4) }
            data.append(0x0a)
            write(Array(data))
        }

        /// Runs a chain, writing each step's result as soon as it is known (so that a crash or a
        /// hang is attributed to the right plugin); the last line says `done`.
        func run(_ chain: WorkerMessage.Chain) {
            let failClosed = Set(chain.failClosed)
            for (position, step) in chain.steps.enumerated() {
                let start = monotonicNow()
                let result: PluginCallResult = instances[step].map { $0.decide(requestJSON: chain.request) }
                    ?? .error(setupErrors[step] ?? "no such step \(step)")
                var reply = WorkerMessage.StepReply(seq: chain.seq, step: step, verdict: nil, error: nil,
                                                    micros: Double(monotonicNow() - start) / 1000, done: false)
                let stop: Bool
                switch result {
                case .verdict(let verdict):
                    reply.verdict = verdict
                    stop = verdict.kind != .abstain
                case .error(let text):
                    reply.error = text
                    stop = !chain.continueOnFailure || failClosed.contains(step)
                }
                reply.done = stop || position == chain.steps.count - 1
                write(reply.encoded())
                if stop { return }
            }
            if chain.steps.isEmpty {
                write(WorkerMessage.StepReply(seq: chain.seq, step: -1, verdict: nil, error: "empty chain", micros: 0, done: true).encoded())
            }
        }

        while true {
            while let newline = buffer.firstIndex(of: 0x0a) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if let chain = line.withUnsafeBufferPointer({ try? WorkerMessage.Chain.decode($0) }) {
                    run(chain)
                } else if let message = try? JSONDecoder().decode(WorkerMessage.Setup.self, from: Data(line)), message.op == "setup" {
                    setup(message)
                } else {
                    exit(5)  // a protocol error: the host restarts us
                }
            }
            let n = read(0, &chunk, chunk.count)
            if n > 0 { buffer.append(contentsOf: chunk[..<n]) } else if n == 0 { exit(0) } else if errno != EINTR { exit(2) }
        }
    }
}
