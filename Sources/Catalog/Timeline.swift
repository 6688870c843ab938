import Foundation
import PolicyHost
import Recorder

/// A recording's timeline in words: what `ctlive recordings show` prints.
public struct Timeline: Sendable, Codable {
    /// One event on the session clock.
    public struct Entry: Sendable, Codable, Equatable {
        /// Seconds on the session clock.
        public var time: Double
        /// The event's kind (`request`, `answer`, `decision`, `chat`, `join`, `leave`, `loudest`, `end`...).
        public var kind: String
        /// What happened, in a sentence.
        public var text: String
        /// Further lines (a decision's plugin verdicts).
        public var details: [String]
    }

    public var entries: [Entry]

    /// The timeline of `manifest`'s events, in time order.
    public init(manifest: RecordingManifest) {
        let names = Dictionary(manifest.participants.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let describe = EventDescription(names: names)
        entries = manifest.events.enumerated()
            .sorted { ($0.element.time ?? 0, $0.offset) < ($1.element.time ?? 0, $1.offset) }
            .map { describe($0.element) }
    }

    /// The timeline as text lines: `mm:ss.s  kind      text`, details indented below.
    public var lines: [String] {
        entries.flatMap { entry in
            let head = "\(Self.clock(entry.time))  \(entry.kind.padding(toLength: 9, withPad: " ", startingAt: 0)) \(entry.text)"
            return [head] + entry.details.map { String(repeating: " ", count: 19) + $0 }
        }
    }

    /// Seconds on the session clock as `mm:ss.s`.
    public static func clock(_ seconds: Double) -> String {
        let tenths = Int((max(0, seconds) * 10).rounded())
        return String(format: "%02d:%02d.%d", tenths / 600, (tenths / 10) % 60, tenths % 10)
    }
}

/// Turns one timeline event into words, naming participants by name.
private struct EventDescription {
    var names: [String: String]

    func callAsFunction(_ event: TimelineEvent) -> Timeline.Entry {
        let f = event.fields
        var details: [String] = []
        let text: String
        switch event.kind {
        case "request":
            let media = [f["useAudio"] == "true" ? "audio" : nil, f["useVideo"] == "true" ? "video" : nil].compactMap { $0 }
            text = "\(who(f["from"])) asks for \(media.isEmpty ? "media" : media.joined(separator: " + ")) (request \(f["requestID"] ?? "?"))"
        case "answer":
            let verdict = f["response"] == "true" ? "accepted" : "refused"
            let how = f["automatic"] == "true" ? " automatically" : ""
            let reason = (f["reason"] ?? "").isEmpty ? "" : ": \(f["reason"]!)"
            text = "\(verdict) by \(who(f["by"]))\(how)\(reason)"
        case DecisionEvent.kind:
            if let audit = DecisionEvent.audit(in: event) {
                let fallback = audit.fallbackUsed ? " (fallback: \(audit.fallbackCause ?? "a plugin failed"))" : ""
                text = "policy says \(audit.answer.rawValue) (chain \(audit.chain))\(fallback): \(audit.reason)"
                details = audit.plugins.map { "\($0.plugin): \($0.verdict)\($0.reason.isEmpty ? "" : " — \($0.reason)")" }
            } else {
                text = "decision \(f["decisionID"] ?? "?") (audit record unreadable)"
            }
        case "chat":
            text = "\(who(f["from"])): \(f["text"] ?? "")"
        case "join":
            text = "\(f["name"] ?? who(f["participant"])) joins (\(f["role"] ?? "?"), \(f["participant"] ?? "?"))"
        case "leave":
            text = "\(who(f["participant"])) leaves"
        case "loudest":
            text = "\(who(f["participant"])) is the loudest"
        case "end":
            text = "session ends: \(f["reason"] ?? "?")"
        default:
            text = f.keys.sorted().map { "\($0)=\(f[$0]!)" }.joined(separator: " ")
        }
        return Timeline.Entry(time: event.time ?? 0, kind: event.kind, text: text, details: details)
    }

    /// A participant's name (and id when they differ), or the id alone when unknown.
    private func who(_ id: String?) -> String {
        guard let id else { return "?" }
        guard let name = names[id], name != id else { return id }
        return "\(name) (\(id))"
    }
}
