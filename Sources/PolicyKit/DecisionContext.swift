import Foundation

/// Everything a policy plugin is told about one upgrade request: the decision context.
///
/// It crosses the plugin ABI as JSON (documented in `docs/PLUGINS.md`); Swift plugins receive it
/// decoded. The key names of the JSON are exactly the property names below.
public struct DecisionContext: Codable, Sendable, Equatable {
    /// The customer of the contact and the attributes the customer client set (tier, language, ...).
    public struct Customer: Codable, Sendable, Equatable {
        public var id: String
        public var attributes: [String: String]
        public init(id: String, attributes: [String: String] = [:]) {
            self.id = id
            self.attributes = attributes
        }
        private enum CodingKeys: String, CodingKey { case id, attributes }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            attributes = try c.decodeIfPresent([String: String].self, forKey: .attributes) ?? [:]
        }
    }

    /// The agent the request is addressed to.
    public struct Agent: Codable, Sendable, Equatable {
        public var id: String
        /// How many video sessions the agent has right now.
        public var activeVideoSessions: Int
        /// The agent's IANA time zone (e.g. `Europe/Paris`), when known.
        public var timeZone: String?
        public init(id: String, activeVideoSessions: Int = 0, timeZone: String? = nil) {
            self.id = id
            self.activeVideoSessions = activeVideoSessions
            self.timeZone = timeZone
        }
        private enum CodingKeys: String, CodingKey { case id, activeVideoSessions, timeZone }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            activeVideoSessions = try c.decodeIfPresent(Int.self, forKey: .activeVideoSessions) ?? 0
            timeZone = try c.decodeIfPresent(String.self, forKey: .timeZone)
        }
    }

    /// What the customer asked for (the arguments of `requestVideoUpgrade`).
    public struct Request: Codable, Sendable, Equatable {
        public var useAudio: Bool
        public var useVideo: Bool
        public var divID: String
        public init(useAudio: Bool, useVideo: Bool, divID: String = "") {
            self.useAudio = useAudio
            self.useVideo = useVideo
            self.divID = divID
        }
        private enum CodingKeys: String, CodingKey { case useAudio, useVideo, divID }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            useAudio = try c.decode(Bool.self, forKey: .useAudio)
            useVideo = try c.decode(Bool.self, forKey: .useVideo)
            divID = try c.decodeIfPresent(String.self, forKey: .divID) ?? ""
        }
    }

    /// When the request is decided: ISO 8601 in UTC and in the agent's time zone.
    public struct Time: Codable, Sendable, Equatable {
        /// e.g. `2026-11-27T10:00:00Z`
        public var utc: String
        /// e.g. `2026-11-27T11:00:00+01:00` (equal to `utc` when the agent's zone is unknown)
        public var agentLocal: String
        public init(utc: String, agentLocal: String) {
            self.utc = utc
            self.agentLocal = agentLocal
        }

        /// The time `date`, written in UTC and in `agentTimeZone` (UTC when nil or unknown).
        public init(_ date: Date, agentTimeZone: String? = nil) {
            let utcFormatter = ISO8601DateFormatter()
            utcFormatter.timeZone = TimeZone(identifier: "UTC")
            utc = utcFormatter.string(from: date)
            let localFormatter = ISO8601DateFormatter()
            localFormatter.formatOptions = [.withInternetDateTime, .withColonSeparatorInTimeZone]
            localFormatter.timeZone = agentTimeZone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")
            agentLocal = localFormatter.string(from: date)
        }

        /// `utc` parsed (accepts fractional seconds), or nil when it is not ISO 8601.
        public var date: Date? { DecisionContext.parseISO8601(utc) }
    }

    /// The recorder bots available.
    public struct Recorders: Codable, Sendable, Equatable {
        public var idle: Int
        public init(idle: Int) { self.idle = idle }
    }

    /// The chat so far.
    public struct Chat: Codable, Sendable, Equatable {
        public var messages: Int
        public var durationSeconds: Double
        public init(messages: Int, durationSeconds: Double) {
            self.messages = messages
            self.durationSeconds = durationSeconds
        }
    }

    public var contactID: String
    /// The queue the contact came through, when any.
    public var queue: String?
    public var customer: Customer
    public var agent: Agent
    public var request: Request
    public var time: Time
    public var recorders: Recorders
    public var chat: Chat
    /// Whether the human agent's own client is connected (decides what "all abstain" means).
    public var agentConnected: Bool

    public init(
        contactID: String, queue: String? = nil, customer: Customer, agent: Agent, request: Request,
        time: Time, recorders: Recorders, chat: Chat, agentConnected: Bool
    ) {
        self.contactID = contactID
        self.queue = queue
        self.customer = customer
        self.agent = agent
        self.request = request
        self.time = time
        self.recorders = recorders
        self.chat = chat
        self.agentConnected = agentConnected
    }

    private enum CodingKeys: String, CodingKey {
        case contactID, queue, customer, agent, request, time, recorders, chat, agentConnected
    }

    /// Decodes leniently, so hand-written requests (`ctlive policy test`) stay short: only
    /// `contactID`, `customer.id`, `agent.id`, `request.useAudio` and `request.useVideo` are
    /// required. Defaults: no queue, no attributes, 0 video sessions, `divID` "", time now,
    /// 0 idle recorders, an empty chat, agent not connected.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        contactID = try c.decode(String.self, forKey: .contactID)
        queue = try c.decodeIfPresent(String.self, forKey: .queue)
        customer = try c.decode(Customer.self, forKey: .customer)
        agent = try c.decode(Agent.self, forKey: .agent)
        request = try c.decode(Request.self, forKey: .request)
        time = try c.decodeIfPresent(Time.self, forKey: .time) ?? Time(Date(), agentTimeZone: agent.timeZone)
        recorders = try c.decodeIfPresent(Recorders.self, forKey: .recorders) ?? Recorders(idle: 0)
        chat = try c.decodeIfPresent(Chat.self, forKey: .chat) ?? Chat(messages: 0, durationSeconds: 0)
        agentConnected = try c.decodeIfPresent(Bool.self, forKey: .agentConnected) ?? false
    }

    static func parseISO8601(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
