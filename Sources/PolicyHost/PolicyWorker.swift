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

        func setup(_ message: [String: Any]) {
            var plugins = PluginSet(loader: PluginLoader(directories: message["directories"] as? [String] ?? [], logger: logger))
            var results: [[String: Any]] = []
            instances = [:]
            setupErrors = [:]
            for (index, step) in (message["steps"] as? [[String: Any]] ?? []).enumerated() {
                do {
                    let library = try plugins.resolve(step["plugin"] as? String ?? "")
                    instances[index] = try library.makeInstance(configurationJSON: step["config"] as? String ?? "{}")
                    results.append(["ok": true, "path": library.path, "id": library.metadata.id, "version": library.metadata.version])
                } catch {
                    setupErrors[index] = "\(error)"
                    results.append(["ok": false, "error": "\(error)"])
                }
            }
            guard var data = try? JSONSerialization.data(withJSONObject: ["op": "setup", "steps": results]) else { exit(4) }
            data.append(0x0a)
            write(Array(data))
        }

        /// Runs a chain, writing each step's result as soon as it is known (so that a crash or a
        /// hang is attributed to the right plugin); the last line carries `"done":true`.
        func chain(_ message: JSON) {
            let seq = message["seq"]?.int ?? 0
            let steps = message["steps"]?.array?.compactMap(\.int) ?? []
            let continueOnFailure = message["continue"]?.bool ?? false
            let failClosed = Set(message["failClosed"]?.array?.compactMap(\.int) ?? [])
            let request = message["request"]?.string ?? "{}"
            for (position, step) in steps.enumerated() {
                let start = monotonicNow()
                let result: PluginCallResult
                if let instance = instances[step] {
                    result = instance.decide(requestJSON: request)
                } else {
                    result = .error(setupErrors[step] ?? "no such step \(step)")
                }
                let micros = Double(monotonicNow() - start) / 1000
                var w = JSONWriter()
                w.raw("{"); w.key("seq"); w.int(seq); w.raw(","); w.key("step"); w.int(step)
                let stop: Bool
                switch result {
                case .verdict(let verdict):
                    w.raw(","); w.key("ok"); w.bool(true)
                    w.raw(","); w.key("verdict"); w.string(verdict.kind.rawValue)
                    w.raw(","); w.key("reason"); w.string(verdict.reason)
                    stop = verdict.kind != .abstain
                case .error(let text):
                    w.raw(","); w.key("ok"); w.bool(false)
                    w.raw(","); w.key("error"); w.string(text)
                    stop = !continueOnFailure || failClosed.contains(step)
                }
                w.raw(","); w.key("us"); w.double((micros * 10).rounded() / 10)
                if stop || position == steps.count - 1 { w.raw(","); w.key("done"); w.bool(true) }
                w.raw("}\n")
                write(w.bytes)
                if stop { return }
            }
            if steps.isEmpty { write(Array("{\"seq\":\(seq),\"step\":-1,\"ok\":false,\"error\":\"empty chain\",\"done\":true}\n".utf8)) }
        }

        while true {
            while let newline = buffer.firstIndex(of: 0x0a) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if let message = line.withUnsafeBufferPointer({ try? JSONReader.parse($0) }), message["op"]?.string == "chain" {
                    chain(message)
                } else if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                    object["op"] as? String == "setup"
                {
                    setup(object)
                } else {
                    exit(5)  // a protocol error: the host restarts us
                }
            }
            let n = read(0, &chunk, chunk.count)
            if n > 0 { buffer.append(contentsOf: chunk[..<n]) } else if n == 0 { exit(0) } else if errno != EINTR { exit(2) }
        }
    }
}
