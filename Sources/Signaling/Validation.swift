/// Field checks shared by every message type.
enum Check {
    private static func isIDCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "-"), UInt8(ascii: "@"), UInt8(ascii: ":"):
            true
        default: false
        }
    }

    /// An identifier: 1 to 128 of `A-Z a-z 0-9 . _ - @ :`.
    static func id(_ value: String, _ field: String) throws(ProtocolError) {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= SignalingProtocol.maxIDLength, utf8.allSatisfy(isIDCharacter) else {
            throw ProtocolError(.invalidField, "\(field) must be 1-\(SignalingProtocol.maxIDLength) characters of A-Z a-z 0-9 . _ - @ :")
        }
    }

    static func optionalID(_ value: String?, _ field: String) throws(ProtocolError) {
        if let value { try id(value, field) }
    }

    static func text(_ value: String, _ field: String, max: Int, allowEmpty: Bool = true) throws(ProtocolError) {
        if !allowEmpty && value.isEmpty { throw ProtocolError(.invalidField, "\(field) must not be empty") }
        if value.utf8.count > max { throw ProtocolError(.invalidField, "\(field) is longer than \(max) bytes") }
    }

    static func list(_ values: [String]?, _ field: String) throws(ProtocolError) {
        guard let values else { return }
        if values.count > SignalingProtocol.maxListLength {
            throw ProtocolError(.invalidField, "\(field) has more than \(SignalingProtocol.maxListLength) entries")
        }
        for value in values { try id(value, field) }
    }

    static func attributes(_ attributes: [String: String]?) throws(ProtocolError) {
        guard let attributes else { return }
        if attributes.count > SignalingProtocol.maxAttributes {
            throw ProtocolError(.invalidField, "attributes has more than \(SignalingProtocol.maxAttributes) entries")
        }
        for (key, value) in attributes {
            try id(key, "attributes key")
            try text(key, "attributes key", max: SignalingProtocol.maxAttributeKeyLength)
            try text(value, "attributes[\(key)]", max: SignalingProtocol.maxAttributeValueLength)
        }
    }
}

extension SignalingProtocol {
    /// Whether `value` is an identifier the protocol accepts (participant, track, room ids).
    public static func isValidID(_ value: String) -> Bool { (try? Check.id(value, "id")) != nil }
}
