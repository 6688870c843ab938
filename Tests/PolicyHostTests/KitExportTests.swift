import CPolicyPlugin
import Foundation
import PolicyKit
import XCTest

/// A plugin with no configuration, exported by the kit inside the test binary (the only `export`
/// call of this process: a library exports one plugin type).
struct EchoPlugin: PolicyPlugin {
    init(configuration: NoConfiguration) {}
    func decide(_ request: DecisionContext) -> Verdict {
        request.customer.attributes["say"] == "no" ? .refuse("customer said no") : .abstain("echo \(request.contactID)")
    }
}

/// The kit's side of the ABI, driven through the descriptor it builds.
final class KitExportTests: XCTestCase {
    func testExportBuildsAConstantDescriptorWhoseFunctionsWork() throws {
        let metadata = PluginMetadata(
            id: "com.test.echo", name: "Echo", version: "2.0.0", description: "Echoes.", license: "MIT")
        let raw = PolicyKit.export(EchoPlugin.self, metadata)
        XCTAssertEqual(PolicyKit.export(EchoPlugin.self, metadata), raw, "the same constant pointer on every call")
        let d = raw.assumingMemoryBound(to: ctlive_policy_plugin_descriptor.self).pointee
        XCTAssertEqual(Int(d.struct_size), MemoryLayout<ctlive_policy_plugin_descriptor>.size)
        XCTAssertEqual(Int32(d.abi_major), CTLIVE_POLICY_ABI_MAJOR)
        XCTAssertEqual(String(cString: d.id), "com.test.echo")
        XCTAssertEqual(String(cString: d.license), "MIT")

        var instance: UnsafeMutableRawPointer?
        var error: UnsafeMutablePointer<CChar>?
        XCTAssertEqual(d.create!("{\"anything\": [1, 2]}", &instance, &error), CTLIVE_POLICY_OK)
        XCTAssertNil(error)
        defer { d.destroy!(instance) }

        let context = DecisionContext(
            contactID: "c-9", customer: .init(id: "x", attributes: ["say": "no"]), agent: .init(id: "A"),
            request: .init(useAudio: true, useVideo: true), time: .init(Date()), recorders: .init(idle: 1),
            chat: .init(messages: 0, durationSeconds: 0), agentConnected: false)
        var verdict: Int32 = -1
        var reason: UnsafeMutablePointer<CChar>?
        XCTAssertEqual(d.decide!(instance, context.jsonText, &verdict, &reason), CTLIVE_POLICY_OK)
        XCTAssertEqual(verdict, Int32(CTLIVE_POLICY_REFUSE.rawValue))
        XCTAssertEqual(reason.map { String(cString: $0) }, "customer said no")
        d.free_string!(reason)

        XCTAssertEqual(d.decide!(instance, "not json", &verdict, &reason), CTLIVE_POLICY_ERROR)
        XCTAssertTrue(reason.map { String(cString: $0) }?.hasPrefix("invalid decision context") ?? false)
        d.free_string!(reason)

        var bad: UnsafeMutableRawPointer?
        XCTAssertEqual(d.create!("[not an object", &bad, &error), CTLIVE_POLICY_ERROR)
        XCTAssertTrue(error.map { String(cString: $0) }?.hasPrefix("invalid configuration") ?? false)
        d.free_string!(error)
    }
}
