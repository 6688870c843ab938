import Foundation

// The one JSON reader and writer at the plugin boundary (the decision context and the worker's
// messages): about seven times faster than Foundation's coders on a context (`ctlive bench policy
// --breakdown`), and strict: RFC 8259 numbers only (no `01`, `1.`, `+1`), valid UTF-8 only, no
// trailing text. Foundation's coders stay the reference the tests compare against.

/// Any JSON value: what the reader parses, and a policy file's plugin `config` as written (Codable).
public indirect enum JSON: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSON].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            if n.rounded() == n, abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Compact JSON text, keys sorted, by the one writer.
    public var jsonText: String {
        var w = JSONWriter()
        write(&w)
        return w.text
    }

    private func write(_ w: inout JSONWriter) {
        switch self {
        case .null: w.raw("null")
        case .bool(let b): w.bool(b)
        case .number(let n):
            if n.rounded() == n, abs(n) < 1e15 { w.int(Int(n)) } else { w.double(n) }
        case .string(let s): w.string(s)
        case .array(let elements):
            w.raw("[")
            for (i, element) in elements.enumerated() {
                if i > 0 { w.raw(",") }
                element.write(&w)
            }
            w.raw("]")
        case .object(let members):
            w.raw("{")
            for (i, (key, value)) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { w.raw(",") }
                w.string(key); w.raw(":")
                value.write(&w)
            }
            w.raw("}")
        }
    }

    package subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    package var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    package var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    package var double: Double? {
        if case .number(let n) = self { return n }
        return nil
    }

    /// The number when it is integral.
    package var int: Int? {
        guard case .number(let n) = self, n.rounded(.towardZero) == n, abs(n) < 9e15 else { return nil }
        return Int(n)
    }

    package var array: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    package var object: [String: JSON]? {
        if case .object(let o) = self { return o }
        return nil
    }
}

package struct JSONParseError: Error, CustomStringConvertible {
    package var offset: Int
    package var message: String
    package init(offset: Int, message: String) { self.offset = offset; self.message = message }
    package var description: String { "invalid JSON at byte \(offset): \(message)" }
}

/// Parses one JSON text (UTF-8).
package struct JSONReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    package init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    // MARK: Streaming reads (no intermediate values), for decoders on the hot path.

    /// Reads an object, calling `member` with each key; `member` must consume the value.
    package mutating func readObject(_ member: (inout JSONReader, String) throws -> Void) throws {
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw error("expected an object") }
        index += 1
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
            let key = try string()
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipSpace()
            try member(&self, key)
            skipSpace()
            guard index < bytes.count else { throw error("unexpected end") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return }
            throw error("expected ',' or '}'")
        }
    }

    /// Reads an array of integers.
    package mutating func readInts() throws -> [Int] {
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else { throw error("expected an array") }
        index += 1
        skipSpace()
        var values: [Int] = []
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return values
        }
        while true {
            values.append(try readInt())
            skipSpace()
            guard index < bytes.count else { throw error("unexpected end") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return values }
            throw error("expected ',' or ']'")
        }
    }

    package mutating func readString() throws -> String {
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string") }
        return try string()
    }

    package mutating func readBool() throws -> Bool {
        skipSpace()
        guard index < bytes.count else { throw error("unexpected end") }
        if bytes[index] == UInt8(ascii: "t") { try literal("true"); return true }
        try literal("false")
        return false
    }

    package mutating func readNumber() throws -> Double {
        skipSpace()
        return try number()
    }

    package mutating func readInt() throws -> Int {
        let n = try readNumber()
        guard n.rounded(.towardZero) == n, abs(n) < 9e15 else { throw error("expected an integer") }
        return Int(n)
    }

    /// Consumes a `null` and returns true, or returns false leaving anything else in place.
    package mutating func readNull() -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "n"), (try? literal("null")) != nil else { return false }
        return true
    }

    package mutating func skipValue() throws { _ = try value(depth: 0) }

    /// Checks that only white space is left.
    package mutating func finish() throws {
        skipSpace()
        guard index == bytes.count else { throw error("trailing characters") }
    }

    package static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws -> JSON {
        var reader = JSONReader(bytes)
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.index == bytes.count else { throw reader.error("trailing characters") }
        return value
    }

    package static func parse(_ text: String) throws -> JSON {
        var text = text
        return try text.withUTF8 { try parse($0) }
    }

    private func error(_ message: String) -> JSONParseError { JSONParseError(offset: index, message: message) }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0a, 0x0d: index += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) throws -> JSON {
        guard depth < 64 else { throw error("nested too deeply") }
        guard index < bytes.count else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            var members: [String: JSON] = [:]
            try readObject { reader, key in members[key] = try reader.value(depth: depth + 1) }
            return .object(members)
        case UInt8(ascii: "["):
            index += 1
            var elements: [JSON] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipSpace()
                elements.append(try value(depth: depth + 1))
                skipSpace()
                guard index < bytes.count else { throw error("unexpected end") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default:
            return .number(try number())
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end") }
        for i in 0..<count where bytes[index + i] != word.utf8Start[i] { throw error("invalid literal") }
        index += count
    }

    private mutating func number() throws -> Double {
        let start = index
        while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
        guard index > start else { throw error("unexpected character") }
        let scanned = UnsafeBufferPointer(rebasing: bytes[start..<index])
        let text = String(decoding: scanned, as: UTF8.self)
        guard Self.isJSONNumber(scanned), let value = Double(text), value.isFinite
        else { throw JSONParseError(offset: start, message: "invalid number '\(text)'") }
        return value
    }

    /// RFC 8259's number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` (no `01`, `1.`, `.5`, `+1`).
    private static func isJSONNumber(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        func digit(_ at: Int) -> Bool { at < text.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[at]) }
        if i < text.count, text[i] == UInt8(ascii: "-") { i += 1 }
        guard digit(i) else { return false }
        if text[i] == UInt8(ascii: "0") { i += 1 } else { while digit(i) { i += 1 } }
        if i < text.count, text[i] == UInt8(ascii: ".") {
            i += 1
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        if i < text.count, text[i] == UInt8(ascii: "e") || text[i] == UInt8(ascii: "E") {
            i += 1
            if i < text.count, text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-") { i += 1 }
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        return i == text.count
    }

    private static func isNumberByte(_ b: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+")
            || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
    }

    /// Reads a string; `index` is on the opening quote.
    private mutating func string() throws -> String {
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                // Invalid UTF-8 is an error, not repaired: what a plugin reads is what was sent.
                guard let s = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self) else {
                    throw error("invalid UTF-8 in a string")
                }
                index += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character in a string") }
            index += 1
        }
        var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                guard let s = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
                index += 1
                return s
            }
            if b < 0x20 { throw error("control character in a string") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { break }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5c)
            case UInt8(ascii: "/"): out.append(0x2f)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                    else { throw error("lone surrogate") }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("lone surrogate")
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default:
                throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}

/// Writes compact JSON into a byte buffer.
package struct JSONWriter {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    package var text: String { String(decoding: bytes, as: UTF8.self) }

    package mutating func raw(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    package mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case 0x22: bytes.append(0x5c); bytes.append(0x22)
            case 0x5c: bytes.append(0x5c); bytes.append(0x5c)
            case 0x0a: bytes.append(0x5c); bytes.append(UInt8(ascii: "n"))
            case 0x0d: bytes.append(0x5c); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(0x5c); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5c, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    package mutating func key(_ k: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        raw(k)
        raw("\":")
    }

    /// Appends a text that is already JSON.
    package mutating func json(_ text: String) { bytes.append(contentsOf: text.utf8) }

    package mutating func int(_ n: Int) { bytes.append(contentsOf: String(n).utf8) }

    package mutating func double(_ d: Double) {
        if d.rounded() == d, abs(d) < 1e15 { int(Int(d)) } else { bytes.append(contentsOf: "\(d)".utf8) }
    }

    package mutating func bool(_ b: Bool) { b ? raw("true") : raw("false") }

    package mutating func ints(_ values: [Int]) {
        raw("[")
        for (i, value) in values.enumerated() {
            if i > 0 { raw(",") }
            int(value)
        }
        raw("]")
    }
}
