import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// ISO 8601 times, written and read the same way everywhere: manifests, seals and chains, audit
/// records, the policy context, the catalog and the command line.
public enum ISO8601 {
    /// `2026-11-27T10:00:00.123Z`: UTC, milliseconds (cut, not rounded). Written by hand, several times
    /// faster than a formatter (the policy host stamps every decision with it).
    public static func utcMilliseconds(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let ms = min(999, Int(((date.timeIntervalSince1970 - seconds) * 1000).rounded(.down)))
        var out = utcDigits(seconds)
        out.append(UInt8(ascii: "."))
        put(ms, 3, &out)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `2026-11-27T10:00:00Z`: UTC, whole seconds.
    public static func utcSeconds(_ date: Date) -> String {
        var out = utcDigits(date.timeIntervalSince1970.rounded(.down))
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `2026-11-27T11:00:00+01:00`: whole seconds in `timeZone` (UTC when nil or unknown).
    public static func local(_ date: Date, timeZone identifier: String?) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withColonSeparatorInTimeZone]
        formatter.timeZone = identifier.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// A time with or without fractional seconds, any offset; nil when it is not ISO 8601.
    public static func parse(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    private static func utcDigits(_ seconds: Double) -> [UInt8] {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        var out = [UInt8]()
        out.reserveCapacity(24)
        put(Int(parts.tm_year) + 1900, 4, &out); out.append(UInt8(ascii: "-"))
        put(Int(parts.tm_mon) + 1, 2, &out); out.append(UInt8(ascii: "-"))
        put(Int(parts.tm_mday), 2, &out); out.append(UInt8(ascii: "T"))
        put(Int(parts.tm_hour), 2, &out); out.append(UInt8(ascii: ":"))
        put(Int(parts.tm_min), 2, &out); out.append(UInt8(ascii: ":"))
        put(Int(parts.tm_sec), 2, &out)
        return out
    }

    private static func put(_ value: Int, _ digits: Int, _ out: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<digits { divisor *= 10 }
        var v = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(v / divisor % 10))
            v %= divisor
            divisor /= 10
        }
    }
}
