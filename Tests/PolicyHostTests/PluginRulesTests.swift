import Foundation
import PolicyHost
import PolicyKit
import XCTest

/// Each shipped plugin's rules, through its real shared library and the C ABI.
final class PluginRulesTests: XCTestCase {
    func testAcceptAllAccepts() throws {
        let plugin = try Fixtures.instance("AcceptAll")
        XCTAssertEqual(plugin.verdict(Fixtures.context())?.kind, .accept)
        let custom = try Fixtures.instance("AcceptAll", config: #"{"reason":"night shift"}"#)
        XCTAssertEqual(custom.verdict(Fixtures.context()), .accept("night shift"))
    }

    static let weekdays = #"""
        {"timeZone":"UTC","windows":[{"days":["mon","tue","wed","thu","fri"],"from":"09:00","to":"17:00"}],
         "holidays":["2026-12-25"]}
        """#

    func testBusinessHoursInsideAndOutside() throws {
        let plugin = try Fixtures.instance("BusinessHours", config: Self.weekdays)
        // 2026-11-27 is a Friday.
        XCTAssertEqual(plugin.verdict(Fixtures.context(utc: "2026-11-27T09:00:00Z"))?.kind, .accept)
        XCTAssertEqual(plugin.verdict(Fixtures.context(utc: "2026-11-27T16:59:00Z"))?.kind, .accept)
        XCTAssertEqual(plugin.verdict(Fixtures.context(utc: "2026-11-27T17:00:00Z"))?.kind, .refuse)
        XCTAssertEqual(plugin.verdict(Fixtures.context(utc: "2026-11-27T08:59:00Z"))?.kind, .refuse)
        let saturday = plugin.verdict(Fixtures.context(utc: "2026-11-28T10:00:00Z"))
        XCTAssertEqual(saturday?.kind, .refuse)
        XCTAssertTrue(saturday?.reason.contains("outside business hours (sat 2026-11-28 10:00") ?? false, "\(String(describing: saturday))")
    }

    func testBusinessHoursHoliday() throws {
        let plugin = try Fixtures.instance("BusinessHours", config: Self.weekdays)
        let christmas = plugin.verdict(Fixtures.context(utc: "2026-12-25T10:00:00Z"))  // a Friday
        XCTAssertEqual(christmas?.kind, .refuse)
        XCTAssertTrue(christmas?.reason.hasPrefix("holiday") ?? false)
    }

    func testBusinessHoursTimeZones() throws {
        // Paris is UTC+1 in November: 08:30Z is 09:30 there, 16:30Z is 17:30.
        let paris = try Fixtures.instance("BusinessHours", config: Self.weekdays.replacingOccurrences(of: "\"UTC\"", with: "\"Europe/Paris\""))
        XCTAssertEqual(paris.verdict(Fixtures.context(utc: "2026-11-27T08:30:00Z"))?.kind, .accept)
        XCTAssertEqual(paris.verdict(Fixtures.context(utc: "2026-11-27T16:30:00Z"))?.kind, .refuse)
        // Without timeZone in the config, the agent's zone applies.
        let agentZone = try Fixtures.instance(
            "BusinessHours", config: #"{"windows":[{"days":["fri"],"from":"09:00","to":"17:00"}]}"#)
        XCTAssertEqual(agentZone.verdict(Fixtures.context(timeZone: "Asia/Tokyo", utc: "2026-11-27T01:00:00Z"))?.kind, .accept)
        XCTAssertEqual(agentZone.verdict(Fixtures.context(utc: "2026-11-27T01:00:00Z"))?.kind, .refuse)
    }

    func testBusinessHoursOvernightWindowAndCustomVerdicts() throws {
        let night = try Fixtures.instance(
            "BusinessHours",
            config: #"{"timeZone":"UTC","windows":[{"days":["fri"],"from":"22:00","to":"06:00"}],"inside":"abstain","outside":"refuse"}"#)
        XCTAssertEqual(night.verdict(Fixtures.context(utc: "2026-11-27T23:00:00Z"))?.kind, .abstain)  // Fri 23:00
        XCTAssertEqual(night.verdict(Fixtures.context(utc: "2026-11-28T05:59:00Z"))?.kind, .abstain)  // Sat 05:59
        XCTAssertEqual(night.verdict(Fixtures.context(utc: "2026-11-28T06:00:00Z"))?.kind, .refuse)
        XCTAssertEqual(night.verdict(Fixtures.context(utc: "2026-11-27T05:00:00Z"))?.kind, .refuse)  // Thu night
    }

    func testBusinessHoursRejectsBadConfiguration() throws {
        let library = try PluginLibrary.load(path: Fixtures.library("BusinessHours"))
        let cases = [
            (#"{"timeZone":"Mars/Olympus","windows":[{"days":["mon"],"from":"09:00","to":"17:00"}]}"#, "unknown time zone 'Mars/Olympus'"),
            (#"{"windows":[{"days":["mon"],"from":"25:00","to":"17:00"}]}"#, "'25:00' is not a time"),
            (#"{"windows":[{"days":["funday"],"from":"09:00","to":"17:00"}]}"#, "'funday' is not a day"),
            (#"{"windows":[]}"#, "'windows' is empty"),
            (#"{}"#, "missing key 'windows'"),
            (#"{"windows":[{"days":["mon"],"from":"09:00","to":"17:00"}],"holidays":["25/12"]}"#, "not a date"),
        ]
        for (config, expected) in cases {
            XCTAssertThrowsError(try library.makeInstance(configurationJSON: config), config) { error in
                guard let error = error as? PluginLoadError, case .createFailed(let message) = error.problem else {
                    return XCTFail("\(error)")
                }
                XCTAssertTrue(message.contains(expected), "\(message) should contain \(expected)")
                XCTAssertTrue(error.description.contains("libBusinessHours.so: create failed"), error.description)
            }
        }
    }

    func testCustomerAllowlist() throws {
        let plugin = try Fixtures.instance("CustomerAllowlist", config: #"{"attribute":"tier","values":["gold","Platinum"]}"#)
        XCTAssertEqual(plugin.verdict(Fixtures.context(attributes: ["tier": "gold"]))?.kind, .accept)
        XCTAssertEqual(plugin.verdict(Fixtures.context(attributes: ["tier": "PLATINUM"]))?.kind, .accept)
        XCTAssertEqual(plugin.verdict(Fixtures.context(attributes: ["tier": "silver"]))?.kind, .refuse)
        let missing = plugin.verdict(Fixtures.context())
        XCTAssertEqual(missing?.kind, .refuse)
        XCTAssertEqual(missing?.reason, "customer tier is not set")

        let byID = try Fixtures.instance(
            "CustomerAllowlist", config: #"{"values":["vip-1"],"caseSensitive":true,"otherwise":"abstain"}"#)
        XCTAssertEqual(byID.verdict(Fixtures.context(customerID: "vip-1"))?.kind, .accept)
        XCTAssertEqual(byID.verdict(Fixtures.context(customerID: "VIP-1"))?.kind, .abstain)
        XCTAssertThrowsError(try Fixtures.instance("CustomerAllowlist", config: #"{"values":[]}"#))
    }

    func testCapacityLimit() throws {
        let plugin = try Fixtures.instance("CapacityLimit", config: #"{"maxVideoSessions":2}"#)
        XCTAssertEqual(plugin.verdict(Fixtures.context(activeVideoSessions: 1))?.kind, .abstain)
        let full = plugin.verdict(Fixtures.context(activeVideoSessions: 2))
        XCTAssertEqual(full?.kind, .refuse)
        XCTAssertEqual(full?.reason, "agent A1 has 2 video sessions (maximum 2)")
        XCTAssertEqual(plugin.verdict(Fixtures.context(activeVideoSessions: 5, useVideo: false))?.kind, .abstain)
        XCTAssertThrowsError(try Fixtures.instance("CapacityLimit", config: #"{"maxVideoSessions":-1}"#))
        XCTAssertThrowsError(try Fixtures.instance("CapacityLimit"))  // maxVideoSessions is required
    }

    func testRecordingRequired() throws {
        let plugin = try Fixtures.instance("RecordingRequired")
        XCTAssertEqual(plugin.verdict(Fixtures.context(recordersIdle: 1))?.kind, .abstain)
        let none = plugin.verdict(Fixtures.context(recordersIdle: 0))
        XCTAssertEqual(none?.kind, .refuse)
        XCTAssertEqual(none?.reason, "recording required: 0 recorder(s) idle, 1 needed")
        let two = try Fixtures.instance("RecordingRequired", config: #"{"minimumIdle":2}"#)
        XCTAssertEqual(two.verdict(Fixtures.context(recordersIdle: 1))?.kind, .refuse)
    }

    func testAudioOnly() throws {
        let plugin = try Fixtures.instance("AudioOnly")
        XCTAssertEqual(plugin.verdict(Fixtures.context(useVideo: true))?.kind, .refuse)
        XCTAssertEqual(plugin.verdict(Fixtures.context(useVideo: false))?.kind, .abstain)
        let accepting = try Fixtures.instance("AudioOnly", config: #"{"audio":"accept"}"#)
        XCTAssertEqual(accepting.verdict(Fixtures.context(useVideo: false))?.kind, .accept)
        XCTAssertThrowsError(try Fixtures.instance("AudioOnly", config: #"{"audio":"maybe"}"#))
    }

    func testCWeekdayGateWrittenInC() throws {
        let library = try PluginLibrary.load(path: Fixtures.library("CWeekdayGate"))
        XCTAssertEqual(library.metadata.id, "com.ctlive.policy.c-weekday-gate")
        let plugin = try library.makeInstance(configurationJSON: "{}")
        XCTAssertEqual(plugin.verdict(Fixtures.context(utc: "2026-11-27T10:00:00Z"))?.kind, .abstain)  // Friday
        let saturday = plugin.verdict(Fixtures.context(utc: "2026-11-28T10:00:00Z"))
        XCTAssertEqual(saturday?.kind, .refuse)
        XCTAssertEqual(saturday?.reason, "no upgrades on sat (2026-11-28, agent's time)")
        // The agent's local date decides: 23:30Z Friday is already Saturday in Tokyo.
        XCTAssertEqual(plugin.verdict(Fixtures.context(timeZone: "Asia/Tokyo", utc: "2026-11-27T23:30:00Z"))?.kind, .refuse)
        let fridays = try library.makeInstance(configurationJSON: #"{"refuse": ["fri"]}"#)
        XCTAssertEqual(fridays.verdict(Fixtures.context(utc: "2026-11-27T10:00:00Z"))?.kind, .refuse)
        // Members are found at their own depth: an attribute named like a key changes nothing.
        XCTAssertEqual(plugin.verdict(Fixtures.context(
            attributes: ["agentLocal": "2026-11-27T10:00:00Z", "time": "x"], utc: "2026-11-28T10:00:00Z"))?.kind, .refuse)
        let nested = try library.makeInstance(configurationJSON: #"{"other": {"refuse": ["mon"]}, "refuse": ["sun"]}"#)
        XCTAssertEqual(nested.verdict(Fixtures.context(utc: "2026-11-28T10:00:00Z"))?.kind, .abstain)  // Saturday
        XCTAssertEqual(nested.verdict(Fixtures.context(utc: "2026-11-29T10:00:00Z"))?.kind, .refuse)  // Sunday
        XCTAssertThrowsError(try library.makeInstance(configurationJSON: #"{"refuse": [3]}"#))
        XCTAssertThrowsError(try library.makeInstance(configurationJSON: #"{"refuse": ["someday"]}"#)) { error in
            XCTAssertTrue("\(error)".contains("unknown day 'someday'"), "\(error)")
        }
    }

    func testKitRejectsAnUndecodableRequest() throws {
        let plugin = try Fixtures.instance("AcceptAll")
        XCTAssertEqual(plugin.decide(requestJSON: #"{"contactID": 3}"#), .error("invalid decision context: contactID: expected a string (byte 14)"))
    }

    func testKitCalendarHelpers() {
        XCTAssertEqual(Weekday(name: "Monday"), .mon)
        XCTAssertEqual(Weekday(name: "SUN"), .sun)
        XCTAssertNil(Weekday(name: "monx"))
        XCTAssertNil(Weekday(name: "xyz"))
        XCTAssertEqual(Weekday(gregorianWeekday: 1), .sun)
        XCTAssertEqual(Weekday(gregorianWeekday: 2), .mon)
        XCTAssertEqual(TimeOfDay("24:00")?.minutes, 1440)
        XCTAssertNil(TimeOfDay("24:01"))
        XCTAssertNil(TimeOfDay("9:5"))
        XCTAssertEqual(TimeOfDay("9:05")?.minutes, 545)
    }
}
