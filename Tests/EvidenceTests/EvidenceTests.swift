import Catalog
import Evidence
import Foundation
import IsolatedRecording
import Logging
import Media
import Recorder
import Review
import TestKit
import XCTest

/// Recordings sealed while written and signed when finished: every tampering is caught and named,
/// every legitimate end (an interruption included) passes, with nothing but a public key.
final class EvidenceTests: XCTestCase {
    var root = ""
    var keyPath = ""
    var key: SigningKey!
    let logger = Logger(label: "test.evidence")

    override func setUpWithError() throws {
        root = try temporaryDirectory(self)
        keyPath = root + "/bot.key"
        key = SigningKey.generate()
        try key.write(to: keyPath)
    }

    private func configuration(_ session: String) -> RecordingConfiguration {
        var configuration = RecordingConfiguration(root: root + "/Recordings", sessionID: session, contactID: "contact-1", layout: .grid)
        (configuration.width, configuration.height, configuration.fps) = (320, 180, 15)
        configuration.preset = "ultrafast"
        configuration.signingKey = keyPath
        return configuration
    }

    /// A signed recording of `seconds`, written in real time (seals every 2 s).
    private func record(_ session: String, seconds: Double = 5) throws -> RecordingResult {
        let recording = try LiveRecording(configuration: configuration(session), logger: logger)
        let source = try TestSource(color: red, toneHz: 440, width: 160, height: 90, fps: 15, durationSeconds: seconds)
        recording.participantJoined(id: "alice", name: "Alice", role: "customer", colorHint: red)
        for (index, track) in source.tracks.enumerated() { recording.trackAnnounced(participantID: "alice", trackID: "t\(index)", parameters: track) }
        let pacer = Pacer()
        while let (track, packet) = try source.nextPacket() {
            pacer.wait(for: packet, track: source.tracks[track], trackIndex: track)
            recording.receive(participantID: "alice", trackID: "t\(track)", packet: packet)
        }
        return try recording.finish()
    }

    private func verify(_ id: String, with keys: [PublicKey]? = nil) throws -> VerificationReport {
        try RecordingsCatalog(root: root + "/Recordings", creatingRoot: true, logger: logger).verify(id: id, trusting: keys ?? [key.publicKey])
    }

    func testASignedRecordingVerifiesWithItsPublicKeyAloneAndNotWithAnother() throws {
        let result = try record("s1")
        let seals = try XCTUnwrap(Seal.read(directory: result.directory))
        XCTAssertGreaterThanOrEqual(seals.count, 3, "sealed at least every 2 s, and at the end")
        let publicKey = try PublicKey.load(path: keyPath + ".pub")
        let report = try verify("s1", with: [publicKey])
        XCTAssertTrue(report.isOK, report.line)
        XCTAssertEqual(report.signedBy, key.keyID)
        XCTAssertEqual(seals.last?.sha256, result.sha256, "the last seal's hash is the file's: no second pass")

        let other = try verify("s1", with: [SigningKey.generate().publicKey])
        XCTAssertFalse(other.isOK)
        XCTAssertTrue(other.line.contains("not trusted"), other.line)
    }

    func testOneChangedByteOfTheFileIsNamed() throws {
        let result = try record("s2")
        var data = try Data(contentsOf: URL(fileURLWithPath: result.originalsPath))
        data[data.count / 3] ^= 0x01
        try data.write(to: URL(fileURLWithPath: result.originalsPath))
        let report = try verify("s2")
        XCTAssertFalse(report.isOK)
        XCTAssertTrue(report.problems.contains { $0.contains("were changed after seal") }, report.line)
    }

    func testARemovedFirstSealAndAnotherRecordingsSealsAreCaught() throws {
        let result = try record("s8", seconds: 5)
        let path = result.directory + "/" + Sealer.fileName
        let original = try String(contentsOfFile: path, encoding: .utf8)
        let lines = original.split(separator: "\n")
        XCTAssertGreaterThanOrEqual(lines.count, 3)
        try (lines.dropFirst().joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let firstRemoved = try verify("s8")
        XCTAssertFalse(firstRemoved.isOK)
        XCTAssertTrue(firstRemoved.problems.contains { $0.contains("starts at seal 2, not 1") }, firstRemoved.line)
        // Another recording's seals, signed by the same key, over the same bytes: they name another recording.
        let other = try record("s9", seconds: 3)
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: other.directory + "/" + Sealer.fileName, toPath: path)
        try FileManager.default.removeItem(atPath: result.originalsPath)
        try FileManager.default.copyItem(atPath: other.originalsPath, toPath: result.originalsPath)
        let foreign = try verify("s8")
        XCTAssertFalse(foreign.isOK)
        XCTAssertTrue(foreign.problems.contains { $0.contains("is a seal of s9, not of s8") }, foreign.line)
    }

    func testAManifestFieldChangedWithItsPlainHashKeptIsCaught() throws {
        let result = try record("s3")
        // The forger changes a participant's name and keeps the recording's hash consistent: only the signature tells.
        let text = try String(contentsOfFile: result.manifestPath, encoding: .utf8).replacingOccurrences(of: "\"Alice\"", with: "\"Mallory\"")
        try text.write(toFile: result.manifestPath, atomically: true, encoding: .utf8)
        let report = try verify("s3")
        XCTAssertFalse(report.isOK)
        XCTAssertTrue(report.problems.contains { $0.contains("manifest.json was changed after it was signed") }, report.line)
    }

    func testAFileSwappedInFromAnotherSessionIsCaught() throws {
        let first = try record("s4", seconds: 4)
        let second = try record("s5", seconds: 4)
        try FileManager.default.removeItem(atPath: first.originalsPath)
        try FileManager.default.copyItem(atPath: second.originalsPath, toPath: first.originalsPath)
        let report = try verify("s4")
        XCTAssertFalse(report.isOK)
        XCTAssertTrue(report.problems.contains { $0.contains("changed after seal 1") || $0.contains("hash mismatch") }, report.line)
    }

    func testARecordingCutByAKilledWorkerVerifiesUpToItsLastSeal() throws {
        var configuration = configuration("s6")
        configuration.part = 1
        let process = try RecordingProcess(
            configuration: configuration, command: [ctliveExecutable, RecordingProcess.workerSubcommand, "--room", "s6"], logger: logger)
        let source = try TestSource(color: red, toneHz: 440, width: 160, height: 90, fps: 15, durationSeconds: 5)
        process.participantJoined(id: "alice", name: "Alice", role: "customer", colorHint: red)
        for (index, track) in source.tracks.enumerated() { process.trackAnnounced(participantID: "alice", trackID: "t\(index)", parameters: track) }
        let pacer = Pacer()
        while let (track, packet) = try source.nextPacket() {
            pacer.wait(for: packet, track: source.tracks[track], trackIndex: track)
            process.receive(participantID: "alice", trackID: "t\(track)", packet: packet, capturedUs: nil)
        }
        process.child.kill()  // SIGKILL: no final seal, no signed manifest
        process.child.wait(timeout: .seconds(5))
        // Nobody with a key has completed it: verify says so, and changes nothing (an unsigned completion
        // would let anyone's edit of the manifest pass).
        let abandoned = try verify("s6")
        XCTAssertFalse(abandoned.isOK)
        XCTAssertTrue(abandoned.line.contains("abandoned"), abandoned.line)
        XCTAssertNil(try Completion.read(directory: process.directory))

        // Someone with a key completes it (the bot does the same when it starts again), and signs that:
        // completion.json and a chain entry.
        let complete = try runCommand(ctliveExecutable, ["recordings", "complete", "s6", "--recordings", root + "/Recordings",
                                                         "--signing-key", keyPath, "--as", "ctlive bot"])
        XCTAssertEqual(complete.status, 0, complete.stderr)
        XCTAssertTrue(complete.stdout.contains("s6 completed as interrupted, signed by \(key.keyID)"), complete.stdout)
        let again = try runCommand(ctliveExecutable, ["recordings", "complete", "s6", "--recordings", root + "/Recordings", "--signing-key", keyPath])
        XCTAssertNotEqual(again.status, 0, "a completed recording is not completed twice")
        XCTAssertTrue(again.stderr.contains("not abandoned"), again.stderr)
        let completion = try XCTUnwrap(Completion.read(directory: process.directory))
        let seals = try XCTUnwrap(Seal.read(directory: process.directory))
        XCTAssertEqual(completion.lastSeal, seals.last?.seq, "it names the last seal it stands on")
        XCTAssertNil(try ManifestSignature.read(directory: process.directory), "never presented as the writer's signature")
        let chained = try Chain.entries(path: root + "/Recordings/" + Chain.fileName(keyID: key.keyID))
        XCTAssertEqual(chained.last?.kind, "completion")
        XCTAssertEqual(chained.last?.manifestSHA256, completion.manifestSHA256)
        let report = try verify("s6")
        XCTAssertTrue(report.isOK, report.line)
        XCTAssertNotNil(report.interruptedAt, report.line)
        XCTAssertTrue(report.line.contains("interrupted at"), report.line)
        XCTAssertTrue(report.line.contains("completed by ctlive bot (key \(key.keyID)), not by its writer"), report.line)

        // It exports to a bundle that verifies alone.
        let catalog = try RecordingsCatalog(root: root + "/Recordings", creatingRoot: true, logger: logger)
        try catalog.exportBundle(id: "s6", to: root + "/s6.tar")
        let bundled = try BundleVerifier.verify(bundle: root + "/s6.tar", trusting: key.publicKey)
        XCTAssertTrue(bundled.isOK, bundled.line)
        XCTAssertTrue(bundled.line.contains("completed by ctlive bot"), bundled.line)
        let repacked = try BundleVerifier.verify(bundle: try repackedWithGNUTar(root + "/s6.tar"), trusting: key.publicKey)
        XCTAssertTrue(repacked.isOK, repacked.line)

        // The document's Python verifier, with no code of ours, agrees.
        let script = try documentsPythonVerifier()
        try FileManager.default.copyItem(atPath: keyPath + ".pub", toPath: process.directory + "/bot.key.pub")
        let python = try runPython(script, in: process.directory)
        XCTAssertEqual(python.status, 0, python.stderr)

        // A participant renamed in the completed manifest is caught, by both.
        let manifestPath = process.directory + "/manifest.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: manifestPath))
        try Data(String(decoding: original, as: UTF8.self).replacingOccurrences(of: "\"Alice\"", with: "\"Mallory\"").utf8)
            .write(to: URL(fileURLWithPath: manifestPath))
        let renamed = try verify("s6")
        XCTAssertFalse(renamed.isOK)
        XCTAssertTrue(renamed.problems.contains { $0.contains("changed after its completion was signed") }, renamed.line)
        let renamedPython = try runPython(script, in: process.directory)
        XCTAssertNotEqual(renamedPython.status, 0)
        XCTAssertTrue(renamedPython.stderr.contains("changed after its completion was signed"), renamedPython.stderr)
        try original.write(to: URL(fileURLWithPath: manifestPath))

        // Bytes changed inside the sealed part of the cut recording are still caught.
        let path = process.directory + "/" + OriginalsFile.fileName
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[1000] ^= 0x40
        try data.write(to: URL(fileURLWithPath: path))
        let tampered = try verify("s6")
        XCTAssertFalse(tampered.isOK)
        XCTAssertTrue(tampered.problems.contains { $0.contains("were changed after seal") }, tampered.line)
    }

    /// docs/EVIDENCE.md's Python verifier, run as it is printed there: a third party needs no ctlive.
    func testTheDocumentsPythonVerifierAgreesWithoutOurCode() throws {
        let result = try record("s7", seconds: 3)
        let script = try documentsPythonVerifier()
        try FileManager.default.copyItem(atPath: keyPath + ".pub", toPath: result.directory + "/bot.key.pub")
        let intact = try runPython(script, in: result.directory)
        XCTAssertEqual(intact.status, 0, intact.stderr)
        XCTAssertTrue(intact.stdout.contains("verified"))
        // The composite swapped for another: its signed derivation names another file.
        let composite = try Data(contentsOf: URL(fileURLWithPath: result.recordingPath))
        var swapped = composite
        swapped[swapped.count / 2] ^= 0x01
        try swapped.write(to: URL(fileURLWithPath: result.recordingPath))
        let altered = try runPython(script, in: result.directory)
        XCTAssertNotEqual(altered.status, 0)
        XCTAssertTrue(altered.stderr.contains("the composite changed"), altered.stderr)
        try composite.write(to: URL(fileURLWithPath: result.recordingPath))
        var data = try Data(contentsOf: URL(fileURLWithPath: result.originalsPath))
        data[data.count / 2] ^= 0x01
        try data.write(to: URL(fileURLWithPath: result.originalsPath))
        let tampered = try runPython(script, in: result.directory)
        XCTAssertNotEqual(tampered.status, 0)
        XCTAssertTrue(tampered.stderr.contains("changed"), tampered.stderr)
    }

    /// One table of tampered and intact bundles, judged by `ctlive recordings verify --bundle` and by the
    /// document's Python verifier (no code of ours): they agree on every case, and on the verdict expected.
    func testTheDocumentsVerifierAndVerifyAgreeOnATableOfTamperedBundles() throws {
        for id in ["v1", "v2", "v3", "v4"] { _ = try record(id, seconds: id == "v2" ? 5 : 2) }
        let catalog = try RecordingsCatalog(root: root + "/Recordings", creatingRoot: true, logger: logger)
        try catalog.rebuild()
        for id in ["v1", "v2", "v3"] { try Retention.hold(catalog, id: id, reason: "case 7", key: key) }
        XCTAssertEqual(try Retention.purge(catalog, olderThanDays: 0, dryRun: false, key: key).map(\.recording), ["v4"])
        try catalog.exportBundle(id: "v2", to: root + "/v2.tar")
        try catalog.exportBundle(id: "v4", to: root + "/v4.tar")
        let script = try documentsPythonVerifier()
        let publicKey = keyPath + ".pub"

        typealias Files = [String: Data]
        func lines(_ data: Data?) -> [String] { String(decoding: data ?? Data(), as: UTF8.self).split(separator: "\n").map(String.init) }
        func joined(_ lines: [String]) -> Data { Data((lines.joined(separator: "\n") + "\n").utf8) }
        func flip(_ data: Data?, at fraction: Double) -> Data {
            var data = Data(data ?? Data())  // rebased: a bundle's members are slices of the whole tar
            data[Int(Double(data.count) * fraction)] ^= 0x01
            return data
        }
        let otherSeals = try Data(contentsOf: URL(fileURLWithPath: try XCTUnwrap(catalog.recording(id: "v1")).map(catalog.directoryPath)! + "/seals.jsonl"))
        let cases: [(name: String, bundle: String, passes: Bool, change: (inout Files) -> Void)] = [
            ("intact", "v2", true, { _ in }),
            ("first seal removed", "v2", false, { $0["seals.jsonl"] = joined(Array(lines($0["seals.jsonl"]).dropFirst())) }),
            ("middle seal removed", "v2", false, { var l = lines($0["seals.jsonl"]); l.remove(at: 1); $0["seals.jsonl"] = joined(l) }),
            ("a seal repeated", "v2", false, { var l = lines($0["seals.jsonl"]); l.insert(l[1], at: 1); $0["seals.jsonl"] = joined(l) }),
            ("seals reordered", "v2", false, { var l = lines($0["seals.jsonl"]); l.swapAt(0, 1); $0["seals.jsonl"] = joined(l) }),
            ("another recording's seals", "v2", false, { $0["seals.jsonl"] = otherSeals }),
            ("a byte of the originals", "v2", false, { $0["originals.ctlo"] = flip($0["originals.ctlo"], at: 0.5) }),
            ("the composite", "v2", false, { $0["recording.mp4"] = flip($0["recording.mp4"], at: 0.5) }),
            ("a participant renamed", "v2", false, {
                $0["manifest.json"] = Data(String(decoding: $0["manifest.json"]!, as: UTF8.self).replacingOccurrences(of: "\"Alice\"", with: "\"Mallory\"").utf8)
            }),
            ("the signature removed", "v2", false, { $0["manifest.sig"] = nil }),
            ("its chain entry removed", "v2", false, { $0["chain.jsonl"] = joined(lines($0["chain.jsonl"]).filter { !$0.contains("\"kind\":\"recording\",\"manifestSHA256\"") || !$0.contains("\"v2\"") }) }),
            ("the entry before it removed", "v2", false, { $0["chain.jsonl"] = joined(Array(lines($0["chain.jsonl"]).dropFirst())) }),
            ("a chain entry's reason edited", "v2", false, {
                $0["chain.jsonl"] = Data(String(decoding: $0["chain.jsonl"]!, as: UTF8.self).replacingOccurrences(of: "case 7", with: "case 8").utf8)
            }),
            ("purged, intact", "v4", true, { _ in }),
            ("purged, its tombstone removed", "v4", false, { $0["chain.jsonl"] = joined(lines($0["chain.jsonl"]).filter { !$0.contains("tombstone") }) }),
            ("purged.json removed (media missing)", "v4", false, { $0["purged.json"] = nil }),
        ]
        var disagreements: [String] = []
        for (index, testCase) in cases.enumerated() {
            var (folder, files) = try EvidenceBundle.read(path: root + "/\(testCase.bundle).tar")
            testCase.change(&files)
            let bundle = root + "/case\(index).tar"
            try EvidenceBundle.write(path: bundle, folder: folder, files: files.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            let ours = try runCommand(ctliveExecutable, ["recordings", "verify", "--bundle", bundle, "--public-key", publicKey])
            // The Python verifier runs in the unpacked folder, the trusted key copied in by hand.
            let unpacked = try temporaryDirectory(self)
            XCTAssertEqual(try runCommand("/bin/tar", ["-xf", bundle, "-C", unpacked]).status, 0)
            folder = unpacked + "/" + folder
            try FileManager.default.copyItem(atPath: publicKey, toPath: folder + "/bot.key.pub")
            let python = try runPython(script, in: folder)
            let verdicts = (ours: ours.status == 0, python: python.status == 0)
            if verdicts.ours != testCase.passes || verdicts.python != testCase.passes {
                disagreements.append("\(testCase.name): expected \(testCase.passes ? "pass" : "fail"), verify \(verdicts.ours ? "passed" : "failed: " + ours.stdout + ours.stderr), "
                    + "python \(verdicts.python ? "passed" : "failed: " + (python.stderr.split(separator: "\n").last.map(String.init) ?? ""))")
            }
        }
        XCTAssertEqual(disagreements, [], disagreements.joined(separator: "\n"))
    }

    /// docs/EVIDENCE.md's Python verifier, as printed there, in a file.
    private func documentsPythonVerifier() throws -> String {
        let doc = try String(contentsOf: URL(fileURLWithPath: #filePath).appendingPathComponent("../../../docs/EVIDENCE.md").standardized, encoding: .utf8)
        guard let start = doc.range(of: "```python\n"), let end = doc.range(of: "```", range: start.upperBound..<doc.endIndex) else {
            throw NSError(domain: "no Python verifier in docs/EVIDENCE.md", code: 1)
        }
        let script = root + "/verify.py"
        try (String(doc[start.upperBound..<end.lowerBound]) + "print('verified')\n").write(toFile: script, atomically: true, encoding: .utf8)
        return script
    }

    private func runPython(_ script: String, in directory: String) throws -> CommandRun {
        try runCommand("/bin/sh", ["-c", "cd \"$1\" && python3 \"$2\"", "sh", directory, script])
    }

    func testTheChainNamesARemovedRecordingAReorderingAndSurvivesARestart() throws {
        for session in ["c1", "c2"] { _ = try record(session, seconds: 2) }
        // Another recorder process with the same key (a restarted bot) goes on from the chain's last entry.
        _ = try record("c3", seconds: 2)
        let catalog = try RecordingsCatalog(root: root + "/Recordings", creatingRoot: true, logger: logger)
        try catalog.rebuild()
        let intact = try catalog.verifyChains(trusting: [key.publicKey])
        XCTAssertTrue(intact.isOK, "\(intact.lines)")
        XCTAssertEqual(intact.lines, ["chain-\(key.keyID) ok (3 entries)"])

        let chainPath = root + "/Recordings/" + Chain.fileName(keyID: key.keyID)
        let original = try String(contentsOfFile: chainPath, encoding: .utf8)
        var lines = original.split(separator: "\n").map(String.init)
        lines.swapAt(1, 2)
        try (lines.joined(separator: "\n") + "\n").write(toFile: chainPath, atomically: true, encoding: .utf8)
        let reordered = try catalog.verifyChains(trusting: [key.publicKey])
        XCTAssertFalse(reordered.isOK)
        XCTAssertTrue(reordered.lines.joined().contains("entry 3 (line 2): it does not follow"), "\(reordered.lines)")
        try original.write(toFile: chainPath, atomically: true, encoding: .utf8)

        let middle = try XCTUnwrap(catalog.recording(id: "c2"))
        try FileManager.default.removeItem(atPath: catalog.directoryPath(of: middle))
        try catalog.rebuild()
        let removed = try catalog.verifyChains(trusting: [key.publicKey])
        XCTAssertFalse(removed.isOK)
        XCTAssertTrue(removed.lines.joined().contains("entry 2: recording c2 is gone"), "\(removed.lines)")
    }

    func testABundleRepackedWithGNUTarStillVerifiesAndASecondFolderIsRefused() throws {
        _ = try record("g1", seconds: 2)
        let catalog = try RecordingsCatalog(root: root + "/Recordings", creatingRoot: true, logger: logger)
        try catalog.rebuild()
        let bundle = root + "/g1.tar"
        try catalog.exportBundle(id: "g1", to: bundle)
        let unpacked = try temporaryDirectory(self)
        XCTAssertEqual(try runCommand("/bin/tar", ["-xf", bundle, "-C", unpacked]).status, 0)
        let publicKey = try PublicKey.load(path: keyPath + ".pub")
        // GNU tar's own format, with the folder entry; and the `./` form of `tar -C dir .`.
        for (name, arguments) in [("gnu.tar", ["-cf", unpacked + "/gnu.tar", "-C", unpacked, "g1"]),
                                  ("dot.tar", ["--format=ustar", "-cf", unpacked + "/dot.tar", "-C", unpacked, "./g1"])] {
            let run = try runCommand("/bin/tar", arguments)
            XCTAssertEqual(run.status, 0, run.stderr)
            let report = try BundleVerifier.verify(bundle: unpacked + "/" + name, trusting: publicKey)
            XCTAssertTrue(report.isOK, "\(name): \(report.line)")
        }
        try FileManager.default.createDirectory(atPath: unpacked + "/other", withIntermediateDirectories: true)
        XCTAssertEqual(try runCommand("/bin/tar", ["-cf", unpacked + "/two.tar", "-C", unpacked, "g1", "other"]).status, 0)
        XCTAssertThrowsError(try BundleVerifier.verify(bundle: unpacked + "/two.tar", trusting: publicKey)) { error in
            XCTAssertTrue("\(error)".contains("members of more than one recording"), "\(error)")
        }
    }

    /// `bundle` unpacked and packed again by GNU tar in its own format (folder entry included).
    private func repackedWithGNUTar(_ bundle: String) throws -> String {
        let unpacked = try temporaryDirectory(self)
        XCTAssertEqual(try runCommand("/bin/tar", ["-xf", bundle, "-C", unpacked]).status, 0)
        let folder = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: unpacked).first)
        let repacked = unpacked + "/repacked.tar"
        let run = try runCommand("/bin/tar", ["--format=gnu", "-cf", repacked, "-C", unpacked, folder])
        XCTAssertEqual(run.status, 0, run.stderr)
        return repacked
    }

    /// Bundles of a held and of a purged recording verify alone, repacked by GNU tar too; a bundle whose
    /// chain lost the entry before the recording's is refused, since its link is no longer shown.
    func testBundlesOfHeldAndPurgedRecordingsShowTheirChainLinks() throws {
        for id in ["p1", "p2", "p3"] { _ = try record(id, seconds: 2) }
        let catalog = try RecordingsCatalog(root: root + "/Recordings", creatingRoot: true, logger: logger)
        try catalog.rebuild()
        try Retention.hold(catalog, id: "p1", reason: "case 2026-201", key: key)
        try Retention.hold(catalog, id: "p3", reason: "case 2026-201", key: key)
        XCTAssertEqual(try Retention.purge(catalog, olderThanDays: 0, dryRun: false, key: key).map(\.recording), ["p2"])

        for id in ["p1", "p2", "p3"] {
            let bundle = root + "/\(id).tar"
            try catalog.exportBundle(id: id, to: bundle)
            try Retention.recordExport(catalog, id: id, bundle: bundle, key: key)
            for path in [bundle, try repackedWithGNUTar(bundle)] {
                let report = try BundleVerifier.verify(bundle: path, trusting: key.publicKey)
                XCTAssertTrue(report.isOK, "\(id) \(path): \(report.line)")
                XCTAssertEqual(id == "p2", report.line.contains("media purged"), report.line)
            }
        }
        // p2's bundle holds its recording entry, its tombstone, and the entries on both sides of each.
        let p2 = try EvidenceBundle.read(path: root + "/p2.tar")
        let chained = String(decoding: try XCTUnwrap(p2.files["chain.jsonl"]), as: UTF8.self).split(separator: "\n")
            .compactMap { try? JSONDecoder().decode(ChainEntry.self, from: Data($0.utf8)) }
        XCTAssertEqual(chained.filter { $0.recording == "p2" }.map(\.kind), ["recording", "tombstone"])

        // The entry before p3's recording entry left out: the bundle no longer shows where p3 stands.
        let p3 = try EvidenceBundle.read(path: root + "/p3.tar")
        var lines = String(decoding: try XCTUnwrap(p3.files["chain.jsonl"]), as: UTF8.self).split(separator: "\n").map(String.init)
        let first = try XCTUnwrap(lines.firstIndex { $0.contains("\"recording\":\"p3\"") })
        lines.remove(at: first - 1)
        let cut = root + "/p3-cut.tar"
        try EvidenceBundle.write(path: cut, folder: "p3", files: p3.files.map { name, data in
            (name, name == "chain.jsonl" ? Data((lines.joined(separator: "\n") + "\n").utf8) : data)
        })
        let report = try BundleVerifier.verify(bundle: cut, trusting: key.publicKey)
        XCTAssertFalse(report.isOK)
        XCTAssertTrue(report.problems.contains { $0.contains("its link to the chain is not shown") }, report.line)
    }

    func testABundleVerifiesAloneWithThePublicKeyAndNotWithAnother() throws {
        _ = try record("b1", seconds: 2)
        _ = try record("b2", seconds: 2)
        let catalog = try RecordingsCatalog(root: root + "/Recordings", creatingRoot: true, logger: logger)
        try catalog.rebuild()
        let bundle = root + "/b1.tar"
        try catalog.exportBundle(id: "b1", to: bundle)
        // Elsewhere: nothing but the bundle and the public key.
        let elsewhere = try temporaryDirectory(self)
        try FileManager.default.copyItem(atPath: bundle, toPath: elsewhere + "/b1.tar")
        let report = try BundleVerifier.verify(bundle: elsewhere + "/b1.tar", trusting: try PublicKey.load(path: keyPath + ".pub"))
        XCTAssertTrue(report.isOK, report.line)
        XCTAssertEqual(report.signedBy, key.keyID)
        XCTAssertTrue(try EvidenceBundle.read(path: bundle).files.keys.contains("chain.jsonl"), "the chain links around it travel too")

        let other = try BundleVerifier.verify(bundle: bundle, trusting: SigningKey.generate().publicKey)
        XCTAssertFalse(other.isOK)
        XCTAssertTrue(other.line.contains("not trusted"), other.line)

        var data = try Data(contentsOf: URL(fileURLWithPath: bundle))
        data[2048] ^= 0x01  // inside the recording, the bundle's first member
        try data.write(to: URL(fileURLWithPath: bundle))
        let tampered = try BundleVerifier.verify(bundle: bundle, trusting: key.publicKey)
        XCTAssertFalse(tampered.isOK)
        XCTAssertTrue(tampered.problems.contains { $0.contains("were changed after seal") }, tampered.line)
    }

    func testAPurgeKeepsHeldRecordingsAndLeavesSignedTombstonesThatVerifyAccountsFor() throws {
        _ = try record("r1", seconds: 2)
        let second = try record("r2", seconds: 2)
        let catalog = try RecordingsCatalog(root: root + "/Recordings", creatingRoot: true, logger: logger)
        try catalog.rebuild()
        try Retention.hold(catalog, id: "r1", reason: "case 2026-117")

        let dry = try Retention.purge(catalog, olderThanDays: 0, dryRun: true, key: nil)
        XCTAssertEqual(dry.map(\.recording), ["r2"], "a dry run names what a purge would remove, the held one not")
        XCTAssertTrue(FileManager.default.fileExists(atPath: second.recordingPath), "and changes nothing")

        let purged = try Retention.purge(catalog, olderThanDays: 0, dryRun: false, key: key)
        XCTAssertEqual(purged.map(\.recording), ["r2"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: second.recordingPath), "the media is gone")
        XCTAssertTrue(FileManager.default.fileExists(atPath: second.manifestPath), "the signed manifest stays")
        let report = try catalog.verify(id: "r2", trusting: [key.publicKey])
        XCTAssertTrue(report.isOK, report.line)
        XCTAssertTrue(report.line.contains("media purged"), report.line)
        XCTAssertTrue(try catalog.verify(id: "r1", trusting: [key.publicKey]).isOK, "the held recording is intact")
        let chains = try catalog.verifyChains(trusting: [key.publicKey])
        XCTAssertTrue(chains.isOK, "\(chains.lines)")
        XCTAssertEqual(chains.lines, ["chain-\(key.keyID) ok (3 entries)"], "two recordings and a tombstone")

        // Media removed by hand, with no tombstone, is no purge.
        try Retention.release(catalog, id: "r1")
        let first = try XCTUnwrap(catalog.recording(id: "r1"))
        try FileManager.default.removeItem(atPath: catalog.filePath(of: first))
        XCTAssertFalse(try catalog.verify(id: "r1", trusting: [key.publicKey]).isOK)

        let audit = try String(contentsOfFile: root + "/Recordings/" + Retention.auditFile, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(audit.compactMap { try? JSONDecoder().decode(Retention.Record.self, from: Data($0.utf8)).action }, ["hold", "purge", "release"])
    }

    /// Holds and releases signed into the chain: deleting hold.json lifts nothing, and a purge that ignored
    /// a standing hold is named by `verify --all`; released first, the purge is clean.
    func testAPurgeOfAHeldRecordingIsShownImpossibleByTheChain() throws {
        let held = try record("h1", seconds: 2)
        let catalog = try RecordingsCatalog(root: root + "/Recordings", creatingRoot: true, logger: logger)
        try catalog.rebuild()
        try Retention.hold(catalog, id: "h1", reason: "case 7", key: key)
        let chainPath = root + "/Recordings/" + Chain.fileName(keyID: key.keyID)
        XCTAssertEqual(try Chain.entries(path: chainPath).map(\.kind), ["recording", "hold"])

        // hold.json deleted by hand: the purge still keeps the recording, because the chain says it is held.
        try FileManager.default.removeItem(atPath: held.directory + "/" + Retention.holdFile)
        XCTAssertEqual(try Retention.purge(catalog, olderThanDays: 0, dryRun: false, key: key).map(\.recording), [])
        XCTAssertTrue(FileManager.default.fileExists(atPath: held.recordingPath))

        // A tombstone written while the hold stands (a purge that ignored it) is named.
        let forged = root + "/forged"
        try FileManager.default.createDirectory(atPath: forged, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: chainPath, toPath: forged + "/" + Chain.fileName(keyID: key.keyID))
        _ = try Chain.append(root: forged, key: key, kind: "tombstone", recording: "h1", manifestSHA256: "0", reason: "retention")
        let forgedCatalog = root + "/Recordings/" + Chain.fileName(keyID: key.keyID)
        let saved = try Data(contentsOf: URL(fileURLWithPath: forgedCatalog))
        try FileManager.default.removeItem(atPath: forgedCatalog)
        try FileManager.default.copyItem(atPath: forged + "/" + Chain.fileName(keyID: key.keyID), toPath: forgedCatalog)
        let chains = try catalog.verifyChains(trusting: [key.publicKey])
        XCTAssertFalse(chains.isOK)
        XCTAssertTrue(chains.lines.joined().contains("h1 was purged while on legal hold (held at entry 2, never released)"), "\(chains.lines)")
        try saved.write(to: URL(fileURLWithPath: forgedCatalog))

        // Released (signed) first: then the purge goes through and the chain holds.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: held.directory + "/" + Retention.holdFile))
        try Retention.release(catalog, id: "h1", key: key)
        XCTAssertEqual(try Retention.purge(catalog, olderThanDays: 0, dryRun: false, key: key).map(\.recording), ["h1"])
        XCTAssertEqual(try Chain.entries(path: chainPath).map(\.kind), ["recording", "hold", "release", "tombstone"])
        let after = try catalog.verifyChains(trusting: [key.publicKey])
        XCTAssertTrue(after.isOK, "\(after.lines)")
    }

    /// `verify --all` judges folders, not catalog rows: a copy is named in both places, two folders swapped are
    /// both named, with the catalog and without it, and the verdicts come in path order.
    func testVerifyAllJudgesEveryFolderAndNamesCopiesAndSwapsWithOrWithoutTheCatalog() throws {
        let first = try record("f1", seconds: 2)
        let second = try record("f2", seconds: 2)
        let recordings = root + "/Recordings"
        let catalog = try RecordingsCatalog(root: recordings, creatingRoot: true, logger: logger)
        try catalog.rebuild()
        XCTAssertEqual(catalog.verifyFolders(trusting: [key.publicKey]).map(\.isOK), [true, true])

        let copy = (first.directory as NSString).deletingLastPathComponent + "/f1-copy"
        try FileManager.default.copyItem(atPath: first.directory, toPath: copy)
        let withCopy = catalog.verifyFolders(trusting: [key.publicKey])
        XCTAssertEqual(withCopy.count, 3, withCopy.map(\.line).joined(separator: "\n"))
        XCTAssertEqual(withCopy.filter { $0.line.contains("recording f1 is in 2 folders") }.count, 2, withCopy.map(\.line).joined(separator: "\n"))
        let copyReport = try XCTUnwrap(withCopy.first { $0.line.contains("/f1-copy)") }, withCopy.map(\.line).joined(separator: "\n"))
        XCTAssertTrue(copyReport.line.contains("not named for its recording id"), copyReport.line)
        try FileManager.default.removeItem(atPath: copy)

        // Swapped: each folder holds the other's recording.
        let parking = recordings + "/parking"
        try FileManager.default.moveItem(atPath: first.directory, toPath: parking)
        try FileManager.default.moveItem(atPath: second.directory, toPath: first.directory)
        try FileManager.default.moveItem(atPath: parking, toPath: second.directory)
        for pass in ["with the catalog", "without it"] {
            if pass == "without it" { try FileManager.default.removeItem(atPath: recordings + "/" + RecordingsCatalog.defaultFileName) }
            let reopened = try RecordingsCatalog(root: recordings, logger: logger)
            let swapped = reopened.verifyFolders(trusting: [key.publicKey])
            XCTAssertEqual(swapped.map(\.isOK), [false, false], "\(pass): \(swapped.map(\.line))")
            XCTAssertTrue(swapped.allSatisfy { $0.line.contains("not named for its recording id") }, "\(pass): \(swapped.map(\.line))")
        }
    }

    /// The newest recordings removed with the chain's last lines and the catalog: the chain alone still
    /// verifies, a witnessed checkpoint of its head does not let it pass.
    func testACutChainTailIsCaughtByAWitnessedCheckpoint() throws {
        _ = try record("k1", seconds: 2)
        let newest = try record("k2", seconds: 2)
        let recordings = root + "/Recordings"
        let witness = SigningKey.generate()
        let log = root + "/witness.jsonl"
        let checkpoint = try XCTUnwrap(ChainCheckpoint.make(root: recordings, key: key))
        XCTAssertEqual(checkpoint.seq, 2)
        try WitnessedCheckpoint.cosign(checkpoint, key: witness).append(to: log)
        let witnessed = try WitnessedCheckpoint.read(path: log)
        XCTAssertEqual(CheckpointCheck.check(root: recordings, checkpoints: witnessed, trusted: [key.publicKey], witness: witness.publicKey), [])

        let chainPath = recordings + "/" + Chain.fileName(keyID: key.keyID)
        let first = try XCTUnwrap(String(contentsOfFile: chainPath, encoding: .utf8).split(separator: "\n").first)
        try (first + "\n").write(toFile: chainPath, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: newest.directory)
        try? FileManager.default.removeItem(atPath: recordings + "/" + RecordingsCatalog.defaultFileName)
        XCTAssertNil(Chain.verify(path: chainPath, trusted: [key.publicKey]).problem, "a hash chain alone cannot show its cut tail")
        let cut = CheckpointCheck.check(root: recordings, checkpoints: witnessed, trusted: [key.publicKey], witness: witness.publicKey)
        XCTAssertEqual(cut.count, 1, "\(cut)")
        XCTAssertTrue(cut.first?.contains("chain-\(key.keyID) is cut: it ends at entry 1, but checkpoint 1") == true, "\(cut)")

        // A checkpoint whose cosignature does not verify counts for nothing.
        var forged = witnessed[0]
        forged.witnessTime = "2020-01-01T00:00:00.000Z"
        XCTAssertTrue(CheckpointCheck.check(root: recordings, checkpoints: [forged], trusted: [key.publicKey], witness: witness.publicKey)
            .first?.contains("the witness' signature does not verify") == true)
    }

    func testTheReviewPageShowsTheEvidenceState() throws {
        let result = try record("v1", seconds: 2)
        let catalog = try RecordingsCatalog(root: root + "/Recordings", creatingRoot: true, logger: logger)
        try catalog.rebuild()
        try Retention.hold(catalog, id: "v1", reason: "case 42")
        let files = try ReviewPage.write(manifestPath: result.manifestPath)
        let html = try String(contentsOfFile: files.html, encoding: .utf8)
        XCTAssertTrue(html.contains("Manifest signed by key \(key.keyID)"), "signed by which key")
        XCTAssertTrue(html.contains("Sealed "), "sealed up to when")
        XCTAssertTrue(html.contains("Entry 1 of 1 in the recorder&#39;s chain") || html.contains("Entry 1 of 1 in the recorder"), "chain position")
        XCTAssertTrue(html.contains("Under legal hold since"), "the hold")
    }

    func testTheKeyFileIsTheOwnersAlone() throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: keyPath)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual(try PublicKey.load(path: keyPath + ".pub"), key.publicKey)
        XCTAssertThrowsError(try key.write(to: keyPath), "an existing key is never overwritten")
    }
}
