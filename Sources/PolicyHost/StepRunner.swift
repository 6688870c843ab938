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
    /// A compliance control: its failure refuses even when the policy fails open.
    var failClosed = false
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

    /// Whether the chain stops here: a decision, a timeout (no time left), or any failure when
    /// failures do not let the chain go on.
    func stopsChain(continueOnFailure: Bool) -> Bool {
        switch self {
        case .verdict(let verdict): verdict.kind != .abstain
        case .failure(.timeout, _): true
        case .failure: !continueOnFailure
        }
    }
}

/// One consulted step: its index, what it said, and how long the call took.
struct StepResult: Sendable {
    var index: Int
    var outcome: StepOutcome
    var micros: Double
}

/// Runs chains of steps: in process, or in a worker process.
protocol StepRunner: AnyObject, Sendable {
    var steps: [StepInfo] { get }
    /// Consults the steps of `chain` in order with the decision-context JSON until one accepts or
    /// refuses, a failure stops the chain (see ``StepOutcome/stopsChain(continueOnFailure:)``; a
    /// failure of a step in `failClosed` always stops it) or the chain ends. The plugins together may take `budget` nanoseconds; time spent (re)starting
    /// the worker does not count. Blocking; called inside `perform`.
    func run(_ chain: [Int], request: String, budget: UInt64, continueOnFailure: Bool, failClosed: Set<Int>) -> [StepResult]
    /// Runs a decision's evaluation where the runner wants it (inline, or on the worker's queue).
    func perform<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T
}

func monotonicNow() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// The outcome for a step the deadline left no time for.
func deadlinePassed(_ budget: UInt64) -> StepOutcome {
    .failure(.timeout, "the decision deadline (\(budget / 1_000_000) ms) passed before this plugin was consulted")
}

/// `isolation: none`: plugins are loaded into the host and called directly.
///
/// A call cannot be interrupted in process: a plugin that answers after the deadline has its
/// verdict discarded (a timeout), and one that never answers hangs its decision. Use it for
/// trusted plugins only.
final class InProcessRunner: StepRunner {
    let steps: [StepInfo]
    private let instances: [PluginInstance]

    init(specs: [StepSpec], directories: [String], logger: Logger) throws {
        var plugins = PluginSet(loader: PluginLoader(directories: directories, logger: logger))
        var instances: [PluginInstance] = []
        var infos: [StepInfo] = []
        var errors: [PolicyError] = []
        for spec in specs {
            do {
                let library = try plugins.resolve(spec.plugin)
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

    func run(_ chain: [Int], request: String, budget: UInt64, continueOnFailure: Bool, failClosed: Set<Int>) -> [StepResult] {
        let deadline = monotonicNow() + budget
        var results: [StepResult] = []
        for index in chain {
            let start = monotonicNow()
            guard start < deadline else {
                results.append(StepResult(index: index, outcome: deadlinePassed(budget), micros: 0))
                break
            }
            let result = instances[index].decide(requestJSON: request)
            let end = monotonicNow()
            let outcome: StepOutcome
            if end > deadline {
                outcome = .failure(.timeout, "answered \(formatMicros(Double(end - deadline) / 1000)) past the deadline (verdict discarded)")
            } else {
                switch result {
                case .verdict(let verdict): outcome = .verdict(verdict)
                case .error(let message): outcome = .failure(.error, message)
                }
            }
            results.append(StepResult(index: index, outcome: outcome, micros: Double(end - start) / 1000))
            if outcome.stopsChain(continueOnFailure: continueOnFailure && !failClosed.contains(index)) { break }
        }
        return results
    }

    func perform<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T { body() }
}

func formatMicros(_ micros: Double) -> String {
    micros >= 1000 ? String(format: "%.1f ms", micros / 1000) : String(format: "%.0f µs", micros)
}
