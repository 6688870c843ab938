import CTLive
import Foundation
import Logging
import PolicyHost
import PolicyKit
import Recorder
import Signaling
import Synchronization

/// The bot's second job: answering upgrade requests for the agents it is a delegate of, through the
/// policy engine. Accepted decisions wait here, by contact, for the recording their answer starts.
final class PolicyDelegate: Sendable {
    private let policy: PolicyEngine
    private let records: Bool
    private let logger: Logger
    /// Audit records of decisions, by contact, waiting for the contact's recording.
    private let decisions = Mutex<[String: [AuditRecord]]>([:])
    /// Where each decision is indexed (the catalog), if anywhere.
    private let indexDecision: @Sendable (AuditRecord) -> Void

    init(policy: PolicyEngine, records: Bool, logger: Logger, indexDecision: @escaping @Sendable (AuditRecord) -> Void) {
        self.policy = policy
        self.records = records
        self.logger = logger
        self.indexDecision = indexDecision
    }

    var delegatedAgents: [String] { policy.delegatedAgents }

    /// Decides `request` and answers it on the agent's behalf through `client` (unless the policy asks the agent).
    func decide(_ request: VideoUpgradeRequested, facts: DecisionFacts, client: CTLiveClient) async {
        let context = DecisionContext(
            contactID: request.contactID, queue: facts.queue,
            customer: .init(id: facts.customer, attributes: facts.attributes),
            agent: .init(id: facts.agent, activeVideoSessions: facts.agentActiveVideoSessions),
            request: .init(useAudio: request.useAudio, useVideo: request.useVideo, divID: request.divID),
            time: .init(Date()), recorders: .init(idle: facts.idleRecorders),
            chat: .init(messages: facts.chatMessages, durationSeconds: facts.chatDurationSeconds),
            agentConnected: facts.agentConnected)
        let decision = await policy.decide(context)
        logger.info("policy decision", metadata: ["contact": "\(request.contactID)", "answer": "\(decision.answer.rawValue)", "reason": "\(decision.reason)"])
        // Kept for the recording's timeline only when this bot may record the room the answer starts.
        if records && decision.answer == .accept {
            decisions.withLock { state in
                if state.count >= 1000 { state.removeAll() }   // rooms recorded by another bot never claim theirs
                state[request.contactID, default: []].append(decision.audit)
            }
        }
        indexDecision(decision.audit)
        guard decision.answer != .askAgent else { return }
        do {
            try await client.request(ResponseVideoUpgrade(contactID: request.contactID, response: decision.answer == .accept,
                                                          divID: request.divID, onBehalfOf: facts.agent, reason: decision.reason,
                                                          requestID: request.requestID,
                                                          recordingRequired: decision.recordingRequired ? true : nil))
        } catch {
            logger.warning("policy answer for \(request.contactID) not taken: \(error)")
        }
    }

    /// The decisions that led to the contact's room, for its recording's timeline (taken once).
    func takeDecisions(contactID: String) -> [AuditRecord] {
        decisions.withLock { $0.removeValue(forKey: contactID) ?? [] }
    }

    /// The contact closed, or its request was cancelled: no room will claim its decisions.
    func forget(contactID: String) {
        _ = decisions.withLock { $0.removeValue(forKey: contactID) }
    }

    /// A decision on the recording's timeline: the final answer, its reasons, and each plugin consulted.
    static func timelineEvent(_ audit: AuditRecord) -> TimelineEvent {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(audit)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return TimelineEvent(kind: "decision", fields: ["decisionID": audit.decisionID, "audit": json])
    }
}
