import Foundation
import PolicyHost
import XCTest

/// Every loader error, with bad libraries built by `cc -shared` in a temporary directory.
final class LoaderTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = try Fixtures.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func loadError(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> PluginLoadError? {
        do {
            let library = try PluginLibrary.load(path: path)
            XCTFail("\(path) loaded as \(library.metadata.id)", file: file, line: line)
            return nil
        } catch {
            XCTAssertEqual(error.path.hasSuffix((path as NSString).lastPathComponent), true, file: file, line: line)
            XCTAssertTrue(error.description.contains((path as NSString).lastPathComponent), error.description, file: file, line: line)
            return error
        }
    }

    func testAWellFormedCPluginLoads() throws {
        let path = try Fixtures.compileTestPlugin("libGood.so", in: directory)
        let library = try PluginLibrary.load(path: path)
        XCTAssertEqual(library.metadata.id, "com.test.misbehave")
        XCTAssertEqual(library.abiMajor, 1)
        XCTAssertEqual(library.sha256, try PluginLibrary.fileSHA256(path))
        XCTAssertEqual(library.sha256.count, 64)
        XCTAssertTrue(try PluginLibrary.load(path: path) === library, "the same file is loaded once")
    }

    func testNotASharedLibrary() throws {
        let path = "\(directory)/libText.so"
        try "just some text\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(loadError(path)?.problem, .notASharedLibrary("no ELF header"))
        // An ELF file that is not a loadable library: dlopen's own message is kept.
        let object = "\(directory)/libObject.so"
        try Data([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 56)).write(to: URL(fileURLWithPath: object))
        guard case .notASharedLibrary(let message)? = loadError(object)?.problem else { return XCTFail("expected notASharedLibrary") }
        XCTAssertFalse(message.isEmpty)
    }

    func testMissingFile() {
        guard case .unreadable? = loadError("\(directory)/libMissing.so")?.problem else { return XCTFail("expected unreadable") }
    }

    func testNoEntrySymbol() throws {
        let path = try Fixtures.compileTestPlugin("libNoEntry.so", in: directory, defines: ["NO_ENTRY"])
        let error = loadError(path)
        XCTAssertEqual(error?.problem, .noEntrySymbol)
        XCTAssertTrue(error?.description.contains("no entry symbol 'ctlive_policy_plugin_entry'") ?? false)
    }

    func testABIMajorMismatch() throws {
        let path = try Fixtures.compileTestPlugin("libMajor2.so", in: directory, defines: ["ABI_MAJOR=2"])
        XCTAssertEqual(loadError(path)?.problem, .abiMismatch("plugin ABI 2.0, host ABI 1.0 (major must be equal)"))
    }

    func testABIMinorNewerThanHost() throws {
        let path = try Fixtures.compileTestPlugin("libMinor9.so", in: directory, defines: ["ABI_MINOR=9"])
        XCTAssertEqual(loadError(path)?.problem, .abiMismatch("plugin ABI 1.9 is newer than host ABI 1.0"))
    }

    func testEmptyAndMalformedMetadata() throws {
        let empty = try Fixtures.compileTestPlugin("libEmptyName.so", in: directory, defines: [#"PLUGIN_NAME="""#])
        XCTAssertEqual(loadError(empty)?.problem, .badMetadata("'name' is empty"))
        let null = try Fixtures.compileTestPlugin("libNullID.so", in: directory, defines: ["PLUGIN_ID=NULL"])
        XCTAssertEqual(loadError(null)?.problem, .badMetadata("'id' is missing"))
        let notDNS = try Fixtures.compileTestPlugin("libBadID.so", in: directory, defines: [#"PLUGIN_ID="nodots""#])
        XCTAssertEqual(loadError(notDNS)?.problem, .badMetadata("id 'nodots' is not reverse-DNS (like com.example.policy.name)"))
    }

    func testMissingMandatoryFunction() throws {
        let path = try Fixtures.compileTestPlugin("libNoDecide.so", in: directory, defines: ["NO_DECIDE"])
        XCTAssertEqual(loadError(path)?.problem, .missingFunction("decide"))
    }

    func testSmallerDescriptorIsCopiedIntoAZeroedOne() throws {
        // The plugin declares a size that stops before `destroy` (its memory there is not NULL):
        // the host must not read past the declared size, so `destroy` counts as missing.
        let path = try Fixtures.compileTestPlugin(
            "libShort.so", in: directory, defines: ["STRUCT_SIZE=offsetof(ctlive_policy_plugin_descriptor,destroy)"])
        XCTAssertEqual(loadError(path)?.problem, .missingFunction("destroy"))
        let tiny = try Fixtures.compileTestPlugin("libTiny.so", in: directory, defines: ["STRUCT_SIZE=4"])
        guard case .abiMismatch(let message)? = loadError(tiny)?.problem else { return XCTFail("expected abiMismatch") }
        XCTAssertTrue(message.contains("descriptor size 4"), message)
    }

    func testLargerDescriptorFromSameMajorIsAccepted() throws {
        let path = try Fixtures.compileTestPlugin("libBigger.so", in: directory, defines: ["BIGGER"])
        let library = try PluginLibrary.load(path: path)
        XCTAssertGreaterThan(library.descriptorSize, 80)
        XCTAssertEqual(library.metadata.name, "Misbehave")
    }

    func testDuplicateIDsAndOneBadPluginDoesNotStopTheOthers() throws {
        try Fixtures.compileTestPlugin("libA.so", in: directory, defines: [#"PLUGIN_ID="com.test.same""#])
        try Fixtures.compileTestPlugin("libB.so", in: directory, defines: [#"PLUGIN_ID="com.test.same""#])
        try Fixtures.compileTestPlugin("libC.so", in: directory, defines: ["ABI_MAJOR=7"])
        try Fixtures.compileTestPlugin("libD.so", in: directory, defines: [#"PLUGIN_ID="com.test.other""#])
        try "not a library".write(toFile: "\(directory)/libE.so", atomically: true, encoding: .utf8)
        let results = PluginLoader(directories: [directory], logger: Fixtures.logger).scan()
        XCTAssertEqual(results.map { ($0.path as NSString).lastPathComponent }, ["libA.so", "libB.so", "libC.so", "libD.so", "libE.so"])
        func problem(_ i: Int) -> PluginLoadError.Problem? {
            if case .failure(let error) = results[i].result { return error.problem }
            return nil
        }
        if case .success(let a) = results[0].result { XCTAssertEqual(a.metadata.id, "com.test.same") } else { XCTFail("libA") }
        guard case .duplicateID(let id, let other)? = problem(1) else { return XCTFail("libB should be a duplicate") }
        XCTAssertEqual(id, "com.test.same")
        XCTAssertTrue(other.hasSuffix("libA.so"))
        XCTAssertEqual(problem(2), .abiMismatch("plugin ABI 7.0, host ABI 1.0 (major must be equal)"))
        if case .success(let d) = results[3].result { XCTAssertEqual(d.metadata.id, "com.test.other") } else { XCTFail("libD") }
        XCTAssertEqual(problem(4), .notASharedLibrary("no ELF header"))
    }

    func testCreateFailsWithThePluginsOwnMessage() throws {
        let path = try Fixtures.compileTestPlugin("libCreateFails.so", in: directory)
        let library = try PluginLibrary.load(path: path)
        XCTAssertThrowsError(try library.makeInstance(configurationJSON: #"{"mode":"fail"}"#)) { error in
            let error = error as! PluginLoadError
            XCTAssertEqual(error.problem, .createFailed("told to fail: no licence key configured"))
            XCTAssertEqual(error.description, "\(library.path): create failed: told to fail: no licence key configured")
        }
    }

    func testDecideErrorsAndInvalidVerdicts() throws {
        let path = try Fixtures.compileTestPlugin("libVerdicts.so", in: directory)
        let instance = try PluginLibrary.load(path: path).makeInstance(configurationJSON: "{}")
        XCTAssertEqual(instance.decide(requestJSON: Fixtures.json(Fixtures.context(contactID: "error"))), .error("internal error in the test plugin"))
        XCTAssertEqual(instance.decide(requestJSON: Fixtures.json(Fixtures.context(contactID: "badverdict"))), .error("invalid verdict value 7"))
        XCTAssertEqual(instance.decide(requestJSON: Fixtures.json(Fixtures.context(contactID: "refuse"))), .verdict(.refuse("test refuses")))
    }

    func testResolveByLibraryNameIDAndPath() throws {
        let loader = PluginLoader(directories: [Fixtures.buildDirectory], logger: Fixtures.logger)
        XCTAssertEqual(try loader.resolve("AudioOnly").metadata.id, "com.ctlive.policy.audio-only")
        XCTAssertEqual(try loader.resolve("com.ctlive.policy.capacity-limit").metadata.name, "CapacityLimit")
        XCTAssertEqual(try loader.resolve(Fixtures.library("AcceptAll")).metadata.name, "AcceptAll")
        XCTAssertThrowsError(try loader.resolve("NoSuchPlugin")) { error in
            XCTAssertTrue("\(error)".contains("no plugin 'NoSuchPlugin'"), "\(error)")
        }
    }
}
