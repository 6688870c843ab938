import Foundation

/// The CTLive signaling protocol: JSON objects, one per ZeroMQ message, between a client's DEALER
/// socket and the hub's ROUTER socket. `docs/PROTOCOL.md` is the reference; this module is its code.
public enum SignalingProtocol {
    /// The version every message carries as `"v"`. A message with another version is refused.
    public static let version = 1

    /// The largest message the hub reads and answers; larger ones get `too_large`.
    public static let maxMessageBytes = 64 * 1024
    /// Beyond this libzmq drops the connection without reading the message at all.
    public static let transportMaxMessageBytes: Int64 = 1 << 20
    public static let maxIDLength = 128
    public static let maxTextLength = 4096
    public static let maxAttributes = 32
    public static let maxAttributeKeyLength = 64
    public static let maxAttributeValueLength = 256
    public static let maxListLength = 64
}

/// Who a client is. Sent in `hello`; with CURVE the keys file decides it instead.
public enum Role: String, Codable, Sendable, CaseIterable {
    /// A contact-center supervisor: may join any active room (`joinRoom` with `contactID`) to listen and take part.
    case customer, agent, recorder, supervisor
}

/// The error codes the hub sends in `error` messages.
public enum ErrorCode: String, Codable, Sendable {
    case badJSON = "bad_json"
    case unsupportedVersion = "unsupported_version"
    case unknownType = "unknown_type"
    case invalidField = "invalid_field"
    case tooLarge = "too_large"
    case multipart = "multipart"
    case helloRequired = "hello_required"
    case alreadyHello = "already_hello"
    case identityMismatch = "identity_mismatch"
    case idInUse = "id_in_use"
    case forbidden = "forbidden"
    case unknownContact = "unknown_contact"
    case notMember = "not_member"
    case requestPending = "request_pending"
    case noPendingRequest = "no_pending_request"
    case notInRoom = "not_in_room"
    case noAgentAvailable = "no_agent_available"
    case roomActive = "room_active"
    case queueFull = "queue_full"
}

/// A message refused by the protocol: what the `error` reply says.
public struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// A participant of a video room, as the CTLive page shows it.
public struct Participant: Codable, Sendable, Hashable {
    /// Unique in the room: `role:userId`.
    public var id: String
    public var userId: String
    public var name: String
    public var role: Role

    public init(userId: String, name: String, role: Role) {
        self.id = "\(role.rawValue):\(userId)"
        self.userId = userId
        self.name = name
        self.role = role
    }
}
