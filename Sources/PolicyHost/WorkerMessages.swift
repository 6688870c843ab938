import Foundation
import PolicyKit

/// The policy worker protocol (docs/PLUGINS.md): one JSON object per line, host → worker `setup` and
/// `chain`, worker → host a setup reply and one ``StepReply`` per step. Each message is written and
/// read here, and nowhere else. `setup` happens once per worker (Codable); `chain` and its replies
/// are on every decision's path (the fast reader and writer).
enum WorkerMessage {
    struct Setup: Codable {
        struct Step: Codable {
            var label: String
            var plugin: String
            /// The step's configuration, as JSON text.
            var config: String
        }
        var op = "setup"
        var directories: [String]
        var steps: [Step]
    }

    struct SetupReply: Codable {
        struct Step: Codable {
            var ok: Bool
            var path: String?
            var id: String?
            var version: String?
            var error: String?
        }
        var op = "setup"
        var steps: [Step]
    }

    struct Chain: Equatable {
        var seq: Int
        /// Step indexes, in order.
        var steps: [Int]
        /// Whether a failed step lets the chain go on (`failMode: open`).
        var continueOnFailure: Bool
        /// Steps whose failure stops the chain whatever `continueOnFailure` says.
        var failClosed: [Int]
        /// The decision context, as JSON text.
        var request: String

        func encoded() -> [UInt8] {
            var w = JSONWriter(capacity: request.utf8.count + 128)
            w.raw("{"); w.key("op"); w.string("chain")
            w.raw(","); w.key("seq"); w.int(seq)
            w.raw(","); w.key("steps"); w.ints(steps)
            w.raw(","); w.key("continue"); w.bool(continueOnFailure)
            w.raw(","); w.key("failClosed"); w.ints(failClosed)
            w.raw(","); w.key("request"); w.string(request); w.raw("}")
            return w.bytes   // WorkerProcess.send ends the line
        }

        static func decode(_ line: UnsafeBufferPointer<UInt8>) throws -> Chain {
            var r = JSONReader(line)
            var chain = Chain(seq: 0, steps: [], continueOnFailure: false, failClosed: [], request: "{}")
            var op: String?
            try r.readObject { r, key in
                switch key {
                case "op": op = try r.readString()
                case "seq": chain.seq = try r.readInt()
                case "steps": chain.steps = try r.readInts()
                case "continue": chain.continueOnFailure = try r.readBool()
                case "failClosed": chain.failClosed = try r.readInts()
                case "request": chain.request = try r.readString()
                default: try r.skipValue()
                }
            }
            try r.finish()
            guard op == "chain" else { throw JSONParseError(offset: 0, message: "not a chain request") }
            return chain
        }
    }

    /// One step's result; the last of a chain says `done`.
    struct StepReply: Equatable {
        var seq: Int
        var step: Int
        /// nil: the step failed with `error`.
        var verdict: Verdict?
        var error: String?
        var micros: Double
        var done: Bool

        func encoded() -> [UInt8] {
            var w = JSONWriter()
            w.raw("{"); w.key("seq"); w.int(seq); w.raw(","); w.key("step"); w.int(step)
            if let verdict {
                w.raw(","); w.key("ok"); w.bool(true)
                w.raw(","); w.key("verdict"); w.string(verdict.kind.rawValue)
                w.raw(","); w.key("reason"); w.string(verdict.reason)
            } else {
                w.raw(","); w.key("ok"); w.bool(false)
                w.raw(","); w.key("error"); w.string(error ?? "")
            }
            w.raw(","); w.key("us"); w.double((micros * 10).rounded() / 10)
            if done { w.raw(","); w.key("done"); w.bool(true) }
            w.raw("}\n")
            return w.bytes
        }

        /// Reads a reply; throws on anything malformed (the worker runs untrusted code).
        static func decode(_ line: UnsafeBufferPointer<UInt8>) throws -> StepReply {
            var r = JSONReader(line)
            var seq: Int?, step: Int?, ok: Bool?, kind: String?, reason = "", error: String?, micros = 0.0, done = false
            try r.readObject { r, key in
                switch key {
                case "seq": seq = try r.readInt()
                case "step": step = try r.readInt()
                case "ok": ok = try r.readBool()
                case "verdict": kind = try r.readString()
                case "reason": reason = try r.readString()
                case "error": error = try r.readString()
                case "us": micros = try r.readNumber()
                case "done": done = try r.readBool()
                default: try r.skipValue()
                }
            }
            try r.finish()
            guard let seq, let step, let ok else { throw JSONParseError(offset: 0, message: "a step reply needs seq, step and ok") }
            var verdict: Verdict?
            if ok {
                guard let kind = kind.flatMap(VerdictKind.init(rawValue:)) else {
                    throw JSONParseError(offset: 0, message: "a successful step reply needs a verdict")
                }
                verdict = Verdict(kind, reason)
            }
            return StepReply(seq: seq, step: step, verdict: verdict, error: ok ? nil : (error ?? "the worker reported an error"),
                             micros: micros, done: done)
        }
    }
}
