import Foundation

/// A message type of the protocol. `type` is its `"type"` on the wire.
public protocol WireMessage: Codable, Sendable {
    static var type: String { get }
    /// Checks field values beyond their JSON types. Called on every message read from the network.
    func validate() throws(ProtocolError)
}

extension WireMessage {
    public func validate() throws(ProtocolError) {}
}

/// A decoded message with its envelope: `id` names a request, `re` the request a reply answers.
public struct Envelope: Sendable {
    public var id: Int?
    public var re: Int?
    public var message: any WireMessage
}

/// Encodes and decodes the protocol's messages for one direction.
public struct WireCodec: Sendable {
    /// Decodes messages of this direction's types in one parse.
    private let decoder: JSONDecoder

    /// Messages clients send; the hub decodes with this.
    public static let clientToHub = WireCodec([
        Hello.self, Ping.self, Bye.self, OpenContact.self, SendChat.self, RequestVideoUpgrade.self,
        ResponseVideoUpgrade.self, VideoDisconnect.self, LeaveContact.self, JoinRoom.self, SpeakerRanking.self, RecordingReport.self, RecorderState.self,
        SetPrivacy.self, ChainCheckpointMessage.self,
    ])

    /// Messages the hub sends; clients decode with this.
    public static let hubToClient = WireCodec([
        Welcome.self, OK.self, ErrorReply.self, Pong.self, ContactOpened.self, ContactClosed.self, ChatEvent.self,
        VideoUpgradeRequested.self, VideoUpgradeAnswered.self, VideoUpgradeCancelled.self, RoomStarted.self,
        RoomEnded.self, RecordRoom.self, ParticipantEvent.self, RecordingStatus.self,
    ])

    init(mediaTypes list: [any WireMessage.Type]) { self.init(list) }

    private init(_ list: [any WireMessage.Type]) {
        decoder = JSONDecoder()
        decoder.userInfo[.wireTypes] = TypeTable(Dictionary(uniqueKeysWithValues: list.map { ($0.type, $0) }))
    }

    /// The envelope, read field by field so that one field of the wrong type does not hide the others.
    private struct Header: Decodable {
        var v: Int?
        var type: String?
        var id: Int?
        var re: Int?
        var wrongType: [String] = []

        enum Keys: String, CodingKey { case v, type, id, re }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            func field<T: Decodable>(_ key: Keys, _: T.Type, _ wrong: inout [String]) -> T? {
                guard container.contains(key) else { return nil }
                if let value = try? container.decode(T.self, forKey: key) { return value }
                wrong.append(key.rawValue)
                return nil
            }
            var wrong: [String] = []
            v = field(.v, Int.self, &wrong)
            type = field(.type, String.self, &wrong)
            id = field(.id, Int.self, &wrong)
            re = field(.re, Int.self, &wrong)
            wrongType = wrong
        }
    }

    /// The envelope and, when it names a known type, the message: both from one parse of the JSON.
    private struct Parsed: Decodable {
        var header: Header
        var message: Result<any WireMessage, any Error>?

        init(from decoder: any Decoder) throws {
            header = try Header(from: decoder)
            guard header.wrongType.isEmpty, header.v == SignalingProtocol.version, let name = header.type,
                  let type = (decoder.userInfo[.wireTypes] as? TypeTable)?.types[name] else { return }
            do { message = .success(try type.init(from: decoder)) } catch { message = .failure(error) }
        }
    }

    /// The message types of one direction, handed to ``Parsed`` through the decoder's user info.
    private final class TypeTable: Sendable {
        let types: [String: any WireMessage.Type]
        init(_ types: [String: any WireMessage.Type]) { self.types = types }
    }

    // Foundation's JSON coders are thread-safe: their settings are copied into each call.
    private static let plainDecoder = JSONDecoder()
    private static let encoder = JSONEncoder()

    /// The envelope's `id`, read leniently so that an error reply can name the request even when the rest is bad.
    public static func peekID(_ data: Data) -> Int? {
        try? plainDecoder.decode(Header.self, from: data).id
    }

    /// Decodes and validates one message. Unknown fields are ignored.
    public func decode(_ data: Data) throws(ProtocolError) -> Envelope {
        if data.count > SignalingProtocol.maxMessageBytes {
            throw ProtocolError(.tooLarge, "message of \(data.count) bytes; the limit is \(SignalingProtocol.maxMessageBytes)")
        }
        // Every message is UTF-8 JSON. Foundation's parser would otherwise take some invalid sequences, and
        // read text with NUL bytes (never in JSON, where U+0000 is written \u0000) as UTF-16 or UTF-32.
        guard !data.contains(0), String(validating: data, as: UTF8.self) != nil else {
            throw ProtocolError(.badJSON, "not valid UTF-8 JSON text")
        }
        let parsed: Parsed
        do { parsed = try decoder.decode(Parsed.self, from: data) } catch {
            throw ProtocolError(.badJSON, "not a JSON object")
        }
        let header = parsed.header
        if let field = header.wrongType.first {
            throw ProtocolError(.invalidField, "field \(field) has the wrong type (v and id are integers, type a string)")
        }
        guard let version = header.v else { throw ProtocolError(.invalidField, "missing field v (protocol version)") }
        guard version == SignalingProtocol.version else {
            throw ProtocolError(.unsupportedVersion, "protocol version \(version) is not supported; this hub speaks \(SignalingProtocol.version)")
        }
        guard let typeName = header.type else { throw ProtocolError(.invalidField, "missing field type") }
        guard let result = parsed.message else {
            throw ProtocolError(.unknownType, "unknown message type '\(typeName.prefix(64))'")
        }
        let message: any WireMessage
        do { message = try result.get() } catch {
            throw ProtocolError(.invalidField, "\(typeName): \(Self.describe(error))")
        }
        try message.validate()
        return Envelope(id: header.id, re: header.re, message: message)
    }

    /// A short, client-safe description of a decoding failure: the field path and what was wrong.
    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "malformed" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _): return "missing field \(key.stringValue)"
        case .typeMismatch(_, let context): return "field \(path(context)) has the wrong type"
        case .valueNotFound(_, let context): return "field \(path(context)) is null"
        case .dataCorrupted(let context): return "field \(path(context)) is invalid"
        @unknown default: return "malformed"
        }
    }

    /// Encodes a message with its envelope.
    public static func encode(_ message: some WireMessage, id: Int? = nil, re: Int? = nil) -> Data {
        // Encoding our own value types cannot fail: they hold only strings, numbers, bools and arrays of them.
        try! encoder.encode(Outgoing(message: message, id: id, re: re))
    }

    private struct Outgoing<M: WireMessage>: Encodable {
        let message: M
        let id: Int?
        let re: Int?

        enum Keys: String, CodingKey { case v, type, id, re }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(SignalingProtocol.version, forKey: .v)
            try container.encode(M.type, forKey: .type)
            try container.encodeIfPresent(id, forKey: .id)
            try container.encodeIfPresent(re, forKey: .re)
            try message.encode(to: encoder)   // the message's fields go in the same object
        }
    }
}

extension CodingUserInfoKey {
    fileprivate static let wireTypes = CodingUserInfoKey(rawValue: "ctlive.wireTypes")!
}
