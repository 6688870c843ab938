import Foundation
import Timestamps

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

        private enum CodingKeys: String, CodingKey { case utc, agentLocal }

        /// `agentLocal` may be left out: it then equals `utc` (docs/PLUGINS.md).
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            utc = try c.decode(String.self, forKey: .utc)
            agentLocal = try c.decodeIfPresent(String.self, forKey: .agentLocal) ?? utc
        }

        /// The time `date`, written in UTC and in `agentTimeZone` (UTC when nil or unknown).
        public init(_ date: Date, agentTimeZone: String? = nil) {
            utc = ISO8601.utcSeconds(date)
            agentLocal = ISO8601.local(date, timeZone: agentTimeZone)
        }

        /// `utc` parsed (accepts fractional seconds), or nil when it is not ISO 8601.
        public var date: Date? { ISO8601.parse(utc) }
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

    /// The context as compact JSON (the text plugins receive). Equivalent to `JSONEncoder` output,
    /// written without Foundation's encoder because it is on every decision's path.
    public var jsonText: String {
        var w = JSONWriter()
        w.raw("{"); w.key("contactID"); w.string(contactID)
        if let queue { w.raw(","); w.key("queue"); w.string(queue) }
        w.raw(","); w.key("customer"); w.raw("{"); w.key("id"); w.string(customer.id)
        w.raw(","); w.key("attributes"); w.raw("{")
        var first = true
        for (name, value) in customer.attributes.sorted(by: { $0.key < $1.key }) {
            if !first { w.raw(",") }
            first = false
            w.string(name); w.raw(":"); w.string(value)
        }
        w.raw("}}")
        w.raw(","); w.key("agent"); w.raw("{"); w.key("id"); w.string(agent.id)
        w.raw(","); w.key("activeVideoSessions"); w.int(agent.activeVideoSessions)
        if let zone = agent.timeZone { w.raw(","); w.key("timeZone"); w.string(zone) }
        w.raw("}")
        w.raw(","); w.key("request"); w.raw("{"); w.key("useAudio"); w.bool(request.useAudio)
        w.raw(","); w.key("useVideo"); w.bool(request.useVideo)
        w.raw(","); w.key("divID"); w.string(request.divID); w.raw("}")
        w.raw(","); w.key("time"); w.raw("{"); w.key("utc"); w.string(time.utc)
        w.raw(","); w.key("agentLocal"); w.string(time.agentLocal); w.raw("}")
        w.raw(","); w.key("recorders"); w.raw("{"); w.key("idle"); w.int(recorders.idle); w.raw("}")
        w.raw(","); w.key("chat"); w.raw("{"); w.key("messages"); w.int(chat.messages)
        w.raw(","); w.key("durationSeconds"); w.double(chat.durationSeconds); w.raw("}")
        w.raw(","); w.key("agentConnected"); w.bool(agentConnected)
        w.raw("}")
        return w.text
    }

    /// Decodes a context from JSON text in one pass, with the lenient defaults of `init(from:)`: the one
    /// reader on the plugin boundary (about seven times faster than `JSONDecoder`: `ctlive bench policy --breakdown`).
    public static func decode(json bytes: UnsafeRawBufferPointer) throws -> DecisionContext {
        try fastDecode(bytes.assumingMemoryBound(to: UInt8.self))
    }

    /// Decodes a context from JSON text (see ``decode(json:)-(UnsafeRawBufferPointer)``).
    public static func decode(json text: String) throws -> DecisionContext {
        var text = text
        return try text.withUTF8 { try decode(json: UnsafeRawBufferPointer($0)) }
    }

    /// Why a context could not be read: the field, or the JSON error.
    public struct DecodeError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads a context in one pass; throws ``DecodeError`` naming what is missing, or the JSON's fault.
    static func fastDecode(_ bytes: UnsafeBufferPointer<UInt8>) throws -> DecisionContext {
        func missing(_ field: String) -> DecodeError { DecodeError(description: "the decision context has no \(field)") }
        var r = JSONReader(bytes)
        var contactID: String?, queue: String?, customerID: String?, attributes: [String: String] = [:]
        var agentID: String?, sessions = 0, zone: String?, useAudio: Bool?, useVideo: Bool?, divID = ""
        var time: Time?, idle = 0, messages = 0, duration = 0.0, connected = false
        try r.readObject { r, key in
            // A JSON fault is named by the field it is in: "contactID: expected a string".
            do {
                switch key {
                case "contactID": contactID = try r.readString()
                case "queue": queue = r.readNull() ? nil : try r.readString()
                case "customer":
                    try r.readObject { r, key in
                        switch key {
                        case "id": customerID = try r.readString()
                        case "attributes":
                            if !r.readNull() { try r.readObject { r, name in attributes[name] = try r.readString() } }
                        default: try r.skipValue()
                        }
                    }
                case "agent":
                    try r.readObject { r, key in
                        switch key {
                        case "id": agentID = try r.readString()
                        case "activeVideoSessions": sessions = r.readNull() ? 0 : try r.readInt()
                        case "timeZone": zone = r.readNull() ? nil : try r.readString()
                        default: try r.skipValue()
                        }
                    }
                case "request":
                    try r.readObject { r, key in
                        switch key {
                        case "useAudio": useAudio = try r.readBool()
                        case "useVideo": useVideo = try r.readBool()
                        case "divID": divID = r.readNull() ? "" : try r.readString()
                        default: try r.skipValue()
                        }
                    }
                case "time":
                    if r.readNull() { break }
                    var utc: String?, local: String?
                    try r.readObject { r, key in
                        switch key {
                        case "utc": utc = try r.readString()
                        case "agentLocal": local = try r.readString()
                        default: try r.skipValue()
                        }
                    }
                    guard let utc else { throw missing("time.utc") }
                    time = Time(utc: utc, agentLocal: local ?? utc)
                case "recorders":
                    if r.readNull() { break }
                    var seen = false
                    try r.readObject { r, key in
                        if key == "idle" { idle = try r.readInt(); seen = true } else { try r.skipValue() }
                    }
                    if !seen { throw missing("recorders.idle") }
                case "chat":
                    if r.readNull() { break }
                    var seen = (false, false)
                    try r.readObject { r, key in
                        switch key {
                        case "messages": messages = try r.readInt(); seen.0 = true
                        case "durationSeconds": duration = try r.readNumber(); seen.1 = true
                        default: try r.skipValue()
                        }
                    }
                    if !(seen.0 && seen.1) { throw missing("chat.messages and chat.durationSeconds") }
                case "agentConnected": connected = r.readNull() ? false : try r.readBool()
                default: try r.skipValue()
                }
            } catch let fault as JSONParseError {
                throw DecodeError(description: "\(key): \(fault.message) (byte \(fault.offset))")
            }
        }
        try r.finish()
        guard let contactID else { throw missing("contactID") }
        guard let customerID else { throw missing("customer.id") }
        guard let agentID else { throw missing("agent.id") }
        guard let useAudio, let useVideo else { throw missing("request.useAudio and request.useVideo") }
        return DecisionContext(
            contactID: contactID, queue: queue, customer: Customer(id: customerID, attributes: attributes),
            agent: Agent(id: agentID, activeVideoSessions: sessions, timeZone: zone),
            request: Request(useAudio: useAudio, useVideo: useVideo, divID: divID),
            time: time ?? Time(Date(), agentTimeZone: zone), recorders: Recorders(idle: idle),
            chat: Chat(messages: messages, durationSeconds: duration), agentConnected: connected)
    }
}
