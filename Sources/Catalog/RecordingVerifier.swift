import Digest
import Evidence
import Foundation
import Recorder

/// The outcome of verifying one recording.
public struct VerificationReport: Sendable, Equatable, Codable {
    /// The recording's id.
    public var id: String
    /// What is wrong, each a short sentence; empty when the recording is intact.
    public var problems: [String]
    /// Video and audio frames decoded (0 when the file could not be read).
    public var videoFrames: Int
    public var audioFrames: Int
    /// Where an interrupted recording (intact up to there) ends, in seconds; nil for a finished one.
    public var interruptedAt: Double?
    /// The key id that signed it, when its seals and manifest verify with a trusted key.
    public var signedBy: String?
    /// Bytes after the last seal (what a crash left unsealed).
    public var unsealedBytes: UInt64 = 0
    /// For a recording whose media retention purged: when, why, and its tombstone in the chain.
    public var purged: String?
    /// For a recording its writer did not finish: who completed it, with which key (the writer's signature is
    /// on the seals only).
    public var completedBy: String?

    /// True when nothing is wrong.
    public var isOK: Bool { problems.isEmpty }

    /// `<id> ok`, `<id> ok (interrupted at N s)` or `<id> FAILED: <what>`: the line `ctlive recordings verify` prints.
    public var line: String {
        guard isOK else { return "\(id) FAILED: \(problems.joined(separator: "; "))" }
        var notes: [String] = []
        if let purged { notes.append(purged) }
        if let interruptedAt { notes.append("interrupted at \(MediaCheck.seconds(interruptedAt)) s") }
        if let completedBy {
            if let signedBy { notes.append("sealed by \(signedBy)") }
            notes.append("completed by \(completedBy), not by its writer")
        } else if let signedBy {
            notes.append("signed by \(signedBy)")
        }
        if unsealedBytes > 0 { notes.append("\(unsealedBytes) bytes after the last seal unsealed") }
        return notes.isEmpty ? "\(id) ok" : "\(id) ok (\(notes.joined(separator: ", ")))"
    }
}

/// Checks that a recording on disk is intact and complete: the manifest reads and says `finished`, the
/// file's SHA-256 is the manifest's (and the catalog's), and the file demuxes and decodes end to end, as
/// long as the manifest says it lasts.
public enum RecordingVerifier {
    /// How much shorter than the manifest's duration the decoded media may end (the last frame's length
    /// and encoder delay), in seconds.
    public static let durationTolerance = 0.5

    /// Verifies the recording in `directory`.
    /// - Parameters:
    ///   - id: the id to report under.
    ///   - catalogued: the catalog's entry, whose hash must match the manifest's and which names the file
    ///     when the manifest cannot be read.
    ///   - trusted: the public keys whose signatures count; empty: signatures are not checked.
    public static func verify(id: String, directory: String, catalogued: CatalogRecording? = nil, trusted: [PublicKey] = []) -> VerificationReport {
        var problems: [String] = []
        var manifest: RecordingManifest?
        // A manifest its dead writer left `recording` is completed first (as `interrupted`), unless it is sealed:
        // then only someone with a key may complete it (the bot, `ctlive recordings complete`), and sign that.
        _ = try? AbandonedRecording.completeIfAbandoned(directory: directory)
        do { manifest = try ManifestFile.read(directory + "/" + ManifestFile.name) } catch { problems.append("\(error)") }
        if let manifest, !["finished", "interrupted"].contains(manifest.status) {
            if manifest.status != "recording" {
                problems.append("status is \(manifest.status), not finished")
            } else if WriterLock.isHeld(directory: directory) {
                problems.append("still being recorded (its writer is alive)")
            } else {
                problems.append("abandoned: its writer stopped without finishing it and nobody has completed it (the bot does when it starts again; or ctlive recordings complete)")
            }
        }
        let interruptedAt = manifest?.status == "interrupted" ? manifest?.durationSeconds ?? 0 : nil

        let path = directory + "/" + (manifest?.file ?? catalogued?.file ?? "recording.mp4")
        guard FileManager.default.fileExists(atPath: path) else {
            problems.append("missing file \(path)")
            return VerificationReport(id: id, problems: problems, videoFrames: 0, audioFrames: 0, interruptedAt: interruptedAt)
        }
        problems += hashProblems(path: path, manifest: manifest, catalogued: catalogued)

        let evidence = EvidenceCheck.check(
            directory: directory, file: manifest?.file ?? "recording.mp4", trusted: trusted, finished: manifest?.status == "finished",
            manifestSHA256: manifest?.sha256, recordingID: manifest?.recordingID, interrupted: manifest?.status == "interrupted")
        problems += evidence.problems
        let media = MediaCheck(path: path)
        if let failure = media.failure { problems.append("\(path): \(failure)") }
        if media.failure == nil, media.videoFrames == 0 { problems.append("\(path): no video frame decodes") }
        if media.failure == nil, let duration = manifest?.durationSeconds, media.end < duration - durationTolerance {
            problems.append("\(path): truncated: media ends at t=\(MediaCheck.seconds(media.end)), the manifest says \(MediaCheck.seconds(duration))")
        }
        if let manifest { problems += compositeProblems(directory: directory, manifest: manifest, trusted: trusted) }
        return VerificationReport(
            id: id, problems: problems, videoFrames: media.videoFrames, audioFrames: media.audioFrames, interruptedAt: interruptedAt,
            signedBy: evidence.problems.isEmpty ? evidence.signedBy : nil, unsealedBytes: evidence.unsealedBytes,
            completedBy: evidence.problems.isEmpty ? evidence.completion.map { "\($0.completedBy) (key \($0.keyID))" } : nil)
    }

    /// The composite, when there is one, is the one derived from these originals: its hash is the one the
    /// signed manifest (live) or the signed derivation (rendered after) names, and it decodes.
    private static func compositeProblems(directory: String, manifest: RecordingManifest, trusted: [PublicKey]) -> [String] {
        guard manifest.formatVersion >= 2, let composite = manifest.composite else { return [] }
        let path = directory + "/" + composite.path
        let derivation: Derivation?
        do { derivation = try Derivation.read(directory: directory) } catch { return ["\(error)"] }
        guard composite.state == "rendered" || derivation != nil else {
            return FileManager.default.fileExists(atPath: path) ? ["\(path) exists, but no derivation record or manifest names its hash"] : []
        }
        var problems: [String] = []
        if let derivation {
            if derivation.recording != manifest.recordingID { problems.append("composite.json is the derivation of \(derivation.recording), not of \(manifest.recordingID)") }
            if derivation.originalsSHA256 != manifest.sha256 { problems.append("composite.json derives from other originals (sha256 \(derivation.originalsSHA256.prefix(12))…)") }
            if let listed = composite.sha256, composite.state == "rendered", listed != derivation.compositeSHA256 {
                problems.append("composite.json names another composite than the signed manifest")
            }
            if !trusted.isEmpty && !derivation.isSigned(by: trusted) { problems.append("composite.json is not signed by a trusted key") }
        }
        guard let expected = derivation?.compositeSHA256 ?? composite.sha256 else { return problems + ["no hash to check \(path) against"] }
        guard FileManager.default.fileExists(atPath: path) else { return problems + ["missing composite \(path)"] }
        do {
            let actual = try SHA256.hex(ofFileAt: path)
            if actual != expected { problems.append("hash mismatch: \(path) has sha256 \(actual.prefix(12))…, its derivation says \(expected.prefix(12))…") }
        } catch {
            problems.append("\(path) unreadable: \(error)")
        }
        let media = MediaCheck(path: path)
        if let failure = media.failure { problems.append("\(path): \(failure)") }
        return problems
    }

    private static func hashProblems(path: String, manifest: RecordingManifest?, catalogued: CatalogRecording?) -> [String] {
        let expected = manifest?.sha256 ?? catalogued?.sha256
        var problems: [String] = []
        if let manifest, let listed = manifest.sha256, let catalogued = catalogued?.sha256, listed != catalogued {
            problems.append("the manifest's sha256 \(listed.prefix(12))… differs from the catalog's \(catalogued.prefix(12))… (manifest altered?)")
        }
        guard let expected else { return problems + ["no sha256 to check \(path) against"] }
        do {
            let actual = try SHA256.hex(ofFileAt: path)
            if actual != expected {
                problems.append("hash mismatch: \(path) has sha256 \(actual.prefix(12))…, expected \(expected.prefix(12))…")
            }
        } catch {
            problems.append("\(path) unreadable: \(error.localizedDescription)")
        }
        return problems
    }
}

extension RecordingsCatalog {
    /// Verifies recording `id` (see ``RecordingVerifier``); a recording the catalog does not have is reported as such.
    ///   - trusting: the public keys whose signatures count; nil: those in `<root>/keys/` (none: unsigned recordings pass).
    public func verify(id: String, trusting keys: [PublicKey]? = nil) throws -> VerificationReport {
        guard let entry = try recording(id: id) else {
            return VerificationReport(id: id, problems: ["no recording \(id) in the catalog \(databasePath)"], videoFrames: 0, audioFrames: 0)
        }
        return verify(directory: directoryPath(of: entry), id: id, catalogued: entry, trusted: keys ?? EvidenceCheck.keys(in: root + "/keys"))
    }

    /// Verifies the recording in `directory`; `catalogued` (the catalog's entry, when asked by id) adds its hash as a check.
    func verify(directory: String, id: String, catalogued entry: CatalogRecording?, trusted: [PublicKey]) -> VerificationReport {
        if let purge = Retention.purgeRecord(directory: directory) {
            return verifyPurged(id: id, directory: directory, purge: purge, trusted: trusted)
        }
        // A recording its dead writer left unfinished is completed first (by whoever has a key), and the catalog learns how it ended.
        var catalogued = entry
        if (try? AbandonedRecording.completeIfAbandoned(directory: directory, completer: completer)) == true {
            _ = try? index(manifestAt: directory + "/" + ManifestFile.name)
            if entry != nil { catalogued = (try? recording(id: id)) ?? entry }
        }
        return RecordingVerifier.verify(id: id, directory: directory, catalogued: catalogued, trusted: trusted)
    }

    /// `verify --all`: every recording folder under the root, judged from the folder itself, in path order. The
    /// catalog is an index, never a witness: a folder it does not list is judged, a copy of a recording is
    /// named (in every folder it is in), and so is a folder not named for the recording it holds (renamed,
    /// moved, or swapped with another), with or without `catalog.sqlite`.
    public func verifyFolders(trusting keys: [PublicKey]? = nil) -> [VerificationReport] {
        let trusted = keys ?? EvidenceCheck.keys(in: root + "/keys")
        let folders: [(directory: String, manifest: Result<RecordingManifest, any Error>)] = ManifestFile.all(under: root).map { path in
            ((path as NSString).deletingLastPathComponent, Result { try ManifestFile.read(path) })
        }
        var byRecording: [String: [String]] = [:]
        for folder in folders { if let id = try? folder.manifest.get().recordingID { byRecording[id, default: []].append(folder.directory) } }
        let relative = { (directory: String) in String(directory.dropFirst(self.root.count + 1)) }
        return folders.map { directory, read in
            let manifest: RecordingManifest
            do { manifest = try read.get() } catch {
                return VerificationReport(id: relative(directory), problems: ["\(error)"], videoFrames: 0, audioFrames: 0)
            }
            let id = manifest.recordingID
            var report = verify(directory: directory, id: id, catalogued: nil, trusted: trusted)
            var problems: [String] = []
            let leaf = (directory as NSString).lastPathComponent, expected = RecordingManifest.folderName(for: id)
            let day = (relative(directory) as NSString).pathComponents.first ?? ""
            if leaf != expected && !(leaf.hasPrefix(expected + "-") && Int(leaf.dropFirst(expected.count + 1)) != nil) {
                problems.append("it is in \(relative(directory)), a folder not named for its recording id (renamed, moved or swapped)")
            }
            if let all = byRecording[id], all.count > 1 {
                problems.append("recording \(id) is in \(all.count) folders: \(all.map(relative).joined(separator: ", ")) (a copy, or one put in another's place)")
            }
            if relative(directory) != "\(day)/\(expected)" { report.id = "\(id) (\(relative(directory)))" }
            report.problems = problems + report.problems
            return report
        }
    }
}

extension RecordingsCatalog {
    /// A purged recording in this folder, against the chain of its tombstone's key.
    func verifyPurged(id: String, directory: String, purge: Retention.Record, trusted: [PublicKey]) -> VerificationReport {
        let chain = purge.keyID.map { Chain.verify(path: root + "/" + Chain.fileName(keyID: $0), trusted: trusted) } ?? ([], nil)
        return RecordingVerifier.verifyPurged(id: id, directory: directory, purge: purge, trusted: trusted, chain: chain)
    }
}

extension RecordingVerifier {
    /// A purged recording passes when its kept manifest still verifies and a trusted tombstone in the
    /// chain (`chain`: its entries that hold, and the first problem) accounts for the media removed.
    static func verifyPurged(id: String, directory: String, purge: Retention.Record, trusted: [PublicKey],
                             chain: (entries: [ChainEntry], problem: String?)) -> VerificationReport {
        var problems: [String] = []
        let byID = Dictionary(trusted.map { ($0.keyID, $0) }, uniquingKeysWith: { first, _ in first })
        guard let keyID = purge.keyID, let key = byID[keyID] else {
            return VerificationReport(id: id, problems: ["purged, but its tombstone's key is not trusted"], videoFrames: 0, audioFrames: 0)
        }
        let bytes = FileManager.default.contents(atPath: directory + "/manifest.json") ?? Data()
        if let signature = try? ManifestSignature.read(directory: directory) {
            if SHA256.hex(of: bytes) != signature.manifestSHA256 || !key.verifies(signature.signature, of: signature.signingString) {
                problems.append("the kept manifest no longer verifies")
            }
        }
        if let broken = chain.problem { problems.append(broken) }
        let tombstone = chain.entries.first { $0.kind == "tombstone" && $0.recording == id && $0.seq == purge.tombstone }
        if tombstone == nil {
            problems.append("media removed with no signed tombstone in the chain")
        } else if tombstone?.manifestSHA256 != SHA256.hex(of: bytes) {
            problems.append("the tombstone names another manifest")
        }
        var report = VerificationReport(id: id, problems: problems, videoFrames: 0, audioFrames: 0)
        report.purged = "media purged \(purge.time) (\(purge.reason ?? "retention")), tombstone \(purge.tombstone ?? 0)"
        report.signedBy = problems.isEmpty ? keyID : nil
        return report
    }
}

/// The chains of a recordings folder, checked whole (`verify --all`).
public struct ChainReport: Sendable {
    /// `chain-<key id> ok (N entries)` or `chain-<key id> FAILED: <what>`, one per chain file.
    public var lines: [String] = []
    public var isOK = true
}

extension RecordingsCatalog {
    /// Checks every chain file under the root against the trusted keys: signatures and links, that
    /// each entry's recording is still there with the manifest it had, and that every signed recording
    /// is in a chain. Nil keys: those in `<root>/keys/`.
    public func verifyChains(trusting keys: [PublicKey]? = nil) throws -> ChainReport {
        let trusted = keys ?? EvidenceCheck.keys(in: root + "/keys")
        var report = ChainReport()
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("chain-") && $0.hasSuffix(".jsonl") }.sorted()
        var chained: Set<String> = []
        for file in files {
            let name = String(file.dropLast(".jsonl".count))
            let (entries, broken) = Chain.verify(path: root + "/" + file, trusted: trusted)
            var problems = broken.map { [$0] } ?? []
            // A tombstone while the chain shows a hold that was never released: a purge of held media.
            var held: [String: Int] = [:]
            for entry in entries {
                if entry.kind == "hold" { held[entry.recording] = entry.seq }
                if entry.kind == "release" { held[entry.recording] = nil }
                if entry.kind == "tombstone", let since = held[entry.recording] {
                    problems.append("entry \(entry.seq): recording \(entry.recording) was purged while on legal hold (held at entry \(since), never released)")
                }
            }
            for entry in entries where ["recording", "tombstone", "completion"].contains(entry.kind) {
                chained.insert(entry.recording)
                guard let recording = try self.recording(id: entry.recording) else {
                    problems.append("entry \(entry.seq): recording \(entry.recording) is gone (removed from the middle of the chain)")
                    continue
                }
                let bytes = FileManager.default.contents(atPath: manifestPath(of: recording)) ?? Data()
                if SHA256.hex(of: bytes) != entry.manifestSHA256 {
                    problems.append("entry \(entry.seq): recording \(entry.recording)'s manifest is not the one chained (substituted or altered)")
                }
            }
            report.lines.append(problems.isEmpty ? "\(name) ok (\(entries.count) entries)" : "\(name) FAILED: \(problems.joined(separator: "; "))")
            report.isOK = report.isOK && problems.isEmpty
        }
        // A signed, finished recording that no chain holds was slipped in (or its entry removed).
        guard !trusted.isEmpty else { return report }
        let trustedIDs = Set(trusted.map(\.keyID))
        for recording in try list() where recording.status == "finished" && !chained.contains(recording.id) {
            guard let signature = try? ManifestSignature.read(directory: directoryPath(of: recording)), trustedIDs.contains(signature.keyID) else {
                continue
            }
            report.lines.append("\(recording.id) FAILED: signed but in no chain (inserted, or its chain entry removed)")
            report.isOK = false
        }
        return report
    }
}

extension RecordingsCatalog {
    /// Writes recording `id` as an evidence bundle (``EvidenceBundle``) at `path`.
    public func exportBundle(id: String, to path: String) throws {
        guard let recording = try recording(id: id) else { throw CatalogError(path: root, problem: "no recording \(id)") }
        let directory = directoryPath(of: recording)
        var files: [(String, Data)] = []
        for name in EvidenceBundle.memberNames {
            // A recording from before the originals (manifest format 1) has its composite as its file.
            let source = name == "recording.mp4" && recording.file != OriginalsFile.fileName ? recording.file : name
            if let data = FileManager.default.contents(atPath: directory + "/" + source) {
                files.append((name, data))
            }
        }
        let keyID = (try? ManifestSignature.read(directory: directory))?.keyID ?? (try? Seal.read(directory: directory))??.first?.keyID
        if let keyID {
            if let key = FileManager.default.contents(atPath: "\(root)/keys/\(keyID).pub") { files.append(("public-key.pub", key)) }
            // Every chain entry about the recording (finished, completed, held, released, exported, purged), each with
            // the entries on both sides: where it stands in the recorder's chain, and that nothing was cut around it.
            let lines = (FileManager.default.contents(atPath: root + "/" + Chain.fileName(keyID: keyID)) ?? Data()).split(separator: 0x0a)
            var wanted = IndexSet()
            for (index, line) in lines.enumerated() where (try? JSONDecoder().decode(ChainEntry.self, from: Data(line)))?.recording == id {
                wanted.insert(integersIn: max(0, index - 1)...min(lines.count - 1, index + 1))
            }
            if !wanted.isEmpty {
                files.append(("chain.jsonl", Data(wanted.map { lines[$0] }.joined(separator: [0x0a])) + Data([0x0a])))
            }
        }
        try EvidenceBundle.write(path: path, folder: id, files: files)
    }
}

/// Verifies an evidence bundle with nothing but a public key: no catalog, no recordings folder.
public enum BundleVerifier {
    public static func verify(bundle path: String, trusting key: PublicKey) throws -> VerificationReport {
        let (id, files) = try EvidenceBundle.read(path: path)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ctlive-bundle-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, data) in files { try data.write(to: URL(fileURLWithPath: directory + "/" + name)) }
        let entries = (files["chain.jsonl"] ?? Data()).split(separator: 0x0a).compactMap { try? JSONDecoder().decode(ChainEntry.self, from: Data($0)) }
        let links = chainLinkProblems(id: id, entries: entries, key: key)
        var report: VerificationReport
        if let purge = Retention.purgeRecord(directory: directory) {
            report = RecordingVerifier.verifyPurged(id: id, directory: directory, purge: purge, trusted: [key], chain: (entries, links.first))
            report.problems += links.dropFirst()
        } else {
            report = RecordingVerifier.verify(id: id, directory: directory, catalogued: nil, trusted: [key])
            report.problems += links
            // The entry that stands for the manifest as it is: the writer's (`recording`) or its completer's (`completion`).
            let manifest = files["manifest.json"].map { SHA256.hex(of: $0) }
            let standing = entries.filter { $0.recording == id && ($0.kind == "recording" || $0.kind == "completion") }
            if standing.isEmpty {
                if report.signedBy != nil || report.completedBy != nil { report.problems.append("the bundle has no chain entry for \(id)") }
            } else if !standing.contains(where: { $0.manifestSHA256 == manifest }) {
                report.problems.append("chain entry \(standing.last!.seq) chains another manifest")
            }
        }
        if report.problems.isEmpty, let signedBy = report.signedBy, signedBy != key.keyID { report.problems.append("signed by \(signedBy), not the trusted key") }
        return report
    }

    /// The bundled chain entries about `id`: each signed by the trusted key, each shown following the entry
    /// before it (bundled too, unless it is the chain's first), and followed by the next one when that is bundled.
    static func chainLinkProblems(id: String, entries: [ChainEntry], key: PublicKey) -> [String] {
        var problems: [String] = []
        let bySeq = Dictionary(entries.map { ($0.seq, $0) }, uniquingKeysWith: { first, _ in first })
        for entry in entries where !(entry.keyID == key.keyID && key.verifies(entry.signature, of: entry.signingString)) {
            problems.append("chain entry \(entry.seq) does not verify with the trusted key")
        }
        for entry in entries where entry.recording == id {
            if entry.seq == 1 {
                if entry.previous != ChainEntry.genesis { problems.append("chain entry 1 does not start a chain") }
            } else if let before = bySeq[entry.seq - 1] {
                if before.hash != entry.previous { problems.append("chain entry \(entry.seq) does not follow the entry bundled before it") }
            } else {
                problems.append("chain entry \(entry.seq) comes without entry \(entry.seq - 1), so its link to the chain is not shown")
            }
            if let after = bySeq[entry.seq + 1], after.previous != entry.hash {
                problems.append("the entry bundled after chain entry \(entry.seq) does not follow it")
            }
        }
        return problems
    }
}
