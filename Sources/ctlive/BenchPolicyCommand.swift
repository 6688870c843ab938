import ArgumentParser
import Foundation
import Logging
import PolicyHost
import PolicyKit

/// `ctlive bench policy`: decision latency for a chain of three plugins, in process and in the worker.
struct BenchPolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Decision latency (p50, p99) for a chain of three plugins, in process and with the worker.")

    @Option(help: "Decisions measured per isolation mode.")
    var iterations = 5000

    @Option(help: "Decisions run first and not measured.")
    var warmup = 500

    @Option(name: .customLong("plugins"), help: "A plugin directory (repeatable; default: where the build puts them).")
    var pluginDirectories: [String] = []

    @Flag(help: "Write every decision to an audit log in a temporary directory (measured too).")
    var audit = false

    @Flag(help: "Also time the parts of a decision: encoding the context, decoding it, one direct plugin call.")
    var breakdown = false

    func run() async throws {
        var logger = Logger(label: "ctlive.bench.policy") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error
        let directories = pluginDirectories.isEmpty ? defaultPluginDirectories() : pluginDirectories
        let temp = FileManager.default.temporaryDirectory.appendingPathComponent("ctlive-bench-policy-\(getpid())")
        try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: temp) }

        // CapacityLimit and RecordingRequired abstain, AcceptAll accepts: all three are consulted.
        let chain = """
            [ { "plugin": "CapacityLimit", "config": { "maxVideoSessions": 3 } },
              { "plugin": "RecordingRequired" },
              { "plugin": "AcceptAll" } ]
            """
        let context = DecisionContext(
            contactID: "bench-contact", queue: "support",
            customer: .init(id: "customer-1", attributes: ["tier": "gold", "language": "en"]),
            agent: .init(id: "A1", activeVideoSessions: 1, timeZone: "Europe/Paris"),
            request: .init(useAudio: true, useVideo: true, divID: "video"),
            time: .init(Date(), agentTimeZone: "Europe/Paris"), recorders: .init(idle: 2),
            chat: .init(messages: 12, durationSeconds: 240), agentConnected: true)

        if breakdown { try measureParts(context, directories: directories) }
        print("policy decision latency: chain of 3 plugins (CapacityLimit, RecordingRequired abstain; AcceptAll accepts)")
        print("\(iterations) decisions per mode after \(warmup) warm-up, one at a time, audit log \(audit ? "on" : "off")")
        for isolation in ["none", "process"] {
            let policyPath = temp.appendingPathComponent("policy-\(isolation).json").path
            try Data(#"{ "default": { "chain": \#(chain) }, "isolation": "\#(isolation)", "deadlineMs": 1000 }"#.utf8)
                .write(to: URL(fileURLWithPath: policyPath))
            let engine = try PolicyEngine(
                policyPath: policyPath, pluginDirectories: directories,
                auditLogPath: audit ? temp.appendingPathComponent("audit-\(isolation).jsonl").path : nil, logger: logger)
            for _ in 0..<warmup { _ = await engine.decide(context) }
            var samples: [Double] = []
            samples.reserveCapacity(iterations)
            var fallbacks = 0
            for _ in 0..<iterations {
                let start = DispatchTime.now().uptimeNanoseconds
                let decision = await engine.decide(context)
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
                if decision.answer != .accept || decision.audit.fallbackUsed { fallbacks += 1 }
            }
            samples.sort()
            func percentile(_ p: Double) -> Double { samples[min(samples.count - 1, Int(Double(samples.count) * p))] }
            let mean = samples.reduce(0, +) / Double(samples.count)
            let label = isolation == "none" ? "in process (isolation none)" : "worker (isolation process)"
            print(String(
                format: "  %-28@ p50 %8.1f µs   p99 %8.1f µs   mean %8.1f µs   max %8.1f µs%@", label as NSString,
                percentile(0.50), percentile(0.99), mean, samples.last ?? 0,
                (fallbacks > 0 ? "   (\(fallbacks) unexpected answers!)" : "") as NSString))
        }
    }

    private func measureParts(_ context: DecisionContext, directories: [String]) throws {
        func time(_ label: String, _ body: () throws -> Void) rethrows {
            var samples: [Double] = []
            for i in 0..<(warmup + iterations) {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                if i >= warmup { samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000) }
            }
            samples.sort()
            print(String(format: "  %-44@ p50 %8.1f µs   p99 %8.1f µs", label as NSString,
                samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)]))
        }
        let json = try JSONEncoder().encode(context)
        let text = String(decoding: json, as: UTF8.self)
        let loader = PluginLoader(directories: directories, logger: Logger(label: "bench") { StreamLogHandler.standardError(label: $0) })
        let plugin = try loader.resolve("AcceptAll").makeInstance(configurationJSON: "{}")
        print("parts of a decision (\(json.count) bytes of context):")
        try time("encode the context (JSONEncoder)") { _ = try JSONEncoder().encode(context) }
        try time("decode the context (JSONDecoder)") { _ = try JSONDecoder().decode(DecisionContext.self, from: json) }
        time("write the context (fast writer, used)") { _ = context.jsonText }
        try time("read the context (fast reader, used)") { _ = try DecisionContext.decode(json: text) }
        time("AcceptAll through the C ABI") { _ = plugin.decide(requestJSON: text) }
    }
}
