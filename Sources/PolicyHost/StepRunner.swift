import Dispatch
import Foundation
import Logging
import PolicyKit

/// One step of a chain as the policy gives it, and what the runner learnt about it.
struct StepSpec: Sendable {
    /// `agents.A1.chain[0]`
    var label: String
    var plugin: String
    var configJSON: String
}

/// What the audit says about the plugin behind a step.
struct StepInfo: Sendable {
    var plugin: String
    var id: String?
    var version: String?
    var path: String?
    var sha256: String?
}

/// How a plugin call failed.
enum FailureKind: String, Sendable {
    case error, timeout, crash, unavailable
}

enum StepOutcome: Sendable {
    case verdict(Verdict)
    case failure(FailureKind, String)
}

/// Runs chain steps: in process, or in a worker process.
protocol StepRunner: AnyObject, Sendable {
    var steps: [StepInfo] { get }
    /// Consults step `index` with the decision-context JSON; the plugin may take `budget`
    /// nanoseconds, past which the call is a timeout. Returns the outcome and the nanoseconds spent
    /// on (re)starting the worker, which do not count against the deadline. Blocking; called
    /// inside `perform`.
    func consult(_ index: Int, request: String, budget: UInt64) -> (StepOutcome, startup: UInt64)
    /// Runs a decision's evaluation where the runner wants it (inline, or on the worker's queue).
    func perform<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T
}

func monotonicNow() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// `isolation: none`: plugins are loaded into the host and called directly.
///
/// A call cannot be interrupted in process: a plugin that answers after the deadline has its
/// verdict discarded (a timeout), and one that never answers hangs its decision. Use it for
/// trusted plugins only.
final class InProcessRunner: StepRunner {
    let steps: [StepInfo]
    private let instances: [PluginInstance]

    init(specs: [StepSpec], directories: [String], logger: Logger) throws {
        let loader = PluginLoader(directories: directories, logger: logger)
        var instances: [PluginInstance] = []
        var infos: [StepInfo] = []
        var errors: [PolicyError] = []
        for spec in specs {
            do {
                let library = try loader.resolve(spec.plugin)
                do {
                    instances.append(try library.makeInstance(configurationJSON: spec.configJSON))
                } catch {
                    throw PolicyError.plugin(step: spec.label, error)
                }
                infos.append(StepInfo(
                    plugin: spec.plugin, id: library.metadata.id, version: library.metadata.version, path: library.path,
                    sha256: library.sha256))
            } catch let error as PolicyError {
                errors.append(error)
            } catch let error as PluginLoadError {
                errors.append(.plugin(step: spec.label, error))
            }
        }
        if !errors.isEmpty { throw errors.count == 1 ? errors[0] : PolicyError.several(errors) }
        self.instances = instances
        steps = infos
    }

    func consult(_ index: Int, request: String, budget: UInt64) -> (StepOutcome, startup: UInt64) {
        let start = monotonicNow()
        let result = instances[index].decide(requestJSON: request)
        let took = monotonicNow() - start
        if took > budget {
            return (.failure(.timeout, "answered \(formatMicros(Double(took - budget) / 1000)) past the deadline (verdict discarded)"), 0)
        }
        switch result {
        case .verdict(let verdict): return (.verdict(verdict), 0)
        case .error(let message): return (.failure(.error, message), 0)
        }
    }

    func perform<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T { body() }
}

func formatMicros(_ micros: Double) -> String {
    micros >= 1000 ? String(format: "%.1f ms", micros / 1000) : String(format: "%.0f µs", micros)
}
