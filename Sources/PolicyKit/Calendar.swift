import Foundation

/// A day of the week as written in policy files: `mon` ... `sun` (full English names and any case
/// are accepted too).
public enum Weekday: String, Codable, Sendable, CaseIterable {
    case mon, tue, wed, thu, fri, sat, sun

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let day = Weekday(name: text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a day (mon ... sun)"))
        }
        self = day
    }

    /// Parses `mon`, `Monday`, `MON`, ...
    public init?(name: String) {
        let prefix = String(name.lowercased().prefix(3))
        guard let day = Weekday(rawValue: prefix) else { return nil }
        if name.count > 3, !Weekday.fullNames[day.index].hasPrefix(name.lowercased()) { return nil }
        self = day
    }

    /// The day for Foundation's `weekday` component (1 = Sunday).
    public init(gregorianWeekday: Int) {
        self = Weekday.allCases[(gregorianWeekday + 5) % 7]
    }

    /// 0 for Monday ... 6 for Sunday.
    public var index: Int { Weekday.allCases.firstIndex(of: self)! }

    /// The day before.
    public var previous: Weekday { Weekday.allCases[(index + 6) % 7] }

    private static let fullNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
}

/// A time of day written `HH:mm` (00:00 ... 24:00), stored as minutes since midnight.
public struct TimeOfDay: Codable, Sendable, Comparable, CustomStringConvertible {
    public var minutes: Int

    public init(minutes: Int) { self.minutes = minutes }

    /// Parses `HH:mm`; nil when malformed or out of range.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count <= 2, parts[1].count == 2,
            let h = Int(parts[0]), let m = Int(parts[1]), (0...24).contains(h), (0..<60).contains(m),
            h * 60 + m <= 24 * 60
        else { return nil }
        minutes = h * 60 + m
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = TimeOfDay(text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a time HH:mm (00:00 ... 24:00)"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var description: String { String(format: "%02d:%02d", minutes / 60, minutes % 60) }

    public static func < (a: TimeOfDay, b: TimeOfDay) -> Bool { a.minutes < b.minutes }
}

/// A moment seen on a wall clock in some time zone.
public struct LocalTime: Sendable, Equatable {
    public var weekday: Weekday
    public var timeOfDay: TimeOfDay
    /// `YYYY-MM-DD`
    public var date: String

    public init(weekday: Weekday, timeOfDay: TimeOfDay, date: String) {
        self.weekday = weekday
        self.timeOfDay = timeOfDay
        self.date = date
    }

    /// `instant` on the wall clock of `timeZone`.
    public init(_ instant: Date, in timeZone: TimeZone) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .weekday, .hour, .minute], from: instant)
        weekday = Weekday(gregorianWeekday: c.weekday ?? 1)
        timeOfDay = TimeOfDay(minutes: (c.hour ?? 0) * 60 + (c.minute ?? 0))
        date = String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
    }
}

extension TimeZone {
    /// The zone named `identifier`, or a ``PluginConfigurationError`` naming it.
    public static func named(_ identifier: String) throws -> TimeZone {
        guard let zone = TimeZone(identifier: identifier) else {
            throw PluginConfigurationError("unknown time zone '\(identifier)'")
        }
        return zone
    }
}
