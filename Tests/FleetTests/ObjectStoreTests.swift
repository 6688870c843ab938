import Crypto
import Evidence
import Foundation
import Logging
import Media
import ObjectStore
import Recorder
import Spool
import TestKit
import XCTest

/// The recorder's spool and our S3 client against a real S3 server (SeaweedFS), checked with an S3 client
/// that is not ours (boto3).
final class ObjectStoreTests: XCTestCase {
    let logger = Logger(label: "test.fleet")
    var root = ""
    var keyPath = ""
    var key: SigningKey!

    override func setUpWithError() throws {
        root = try temporaryDirectory(self)
        keyPath = root + "/bot.key"
        key = SigningKey.generate()
        try key.write(to: keyPath)
        try FileManager.default.createDirectory(atPath: root + "/Recordings/keys", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: keyPath + ".pub", toPath: root + "/Recordings/keys/\(key.keyID).pub")
    }

    /// A signed recording written as fast as it can be (no pacing): from `source`, or a small coloured test source.
    private func record(_ session: String, source: (any EncodedMediaSource)? = nil, composite: CompositeMode = .live) throws -> RecordingResult {
        var configuration = RecordingConfiguration(root: root + "/Recordings", sessionID: session, contactID: "contact-1", layout: .grid)
        (configuration.width, configuration.height, configuration.fps) = (320, 180, 15)
        configuration.preset = "ultrafast"
        configuration.signingKey = keyPath
        configuration.composite = composite
        configuration.maximumCompositeLag = nil
        let recording = try LiveRecording(configuration: configuration, logger: logger)
        let source = try source ?? TestSource(color: red, toneHz: 440, width: 160, height: 90, fps: 15, durationSeconds: 2)
        recording.participantJoined(id: "alice", name: "Alice", role: "customer", colorHint: red)
        for (index, track) in source.tracks.enumerated() { recording.trackAnnounced(participantID: "alice", trackID: "t\(index)", parameters: track) }
        while let (track, packet) = try source.nextPacket() { recording.receive(participantID: "alice", trackID: "t\(track)", packet: packet) }
        return try recording.finish()
    }

    /// A noisy H.264 clip of about `megabytes` (noise does not compress): an originals file large enough for multipart.
    private func noisyClip(megabytes: Int) throws -> String {
        let path = root + "/noisy.mp4"
        let run = try runCommand("/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=6,noise=alls=40:allf=t",
                                                      "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "\(megabytes * 8 / 6)M", "-maxrate", "\(megabytes * 8 / 6)M",
                                                      "-bufsize", "4M", "-pix_fmt", "yuv420p", path])
        XCTAssertEqual(run.status, 0, run.stderr)
        return path
    }

    private func credentialsFile(_ store: SeaweedFS) throws -> String {
        let path = root + "/s3.credentials"
        try "AWS_ACCESS_KEY_ID=\(store.credentials.accessKey)\nAWS_SECRET_ACCESS_KEY=\(store.credentials.secretKey)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// What boto3 sees under `prefix`: key → (size, SHA-256 of the bytes it reads back). Also any multipart upload left open.
    private func boto3(_ store: SeaweedFS, bucket: String, prefix: String) throws -> (objects: [String: (Int, String)], openUploads: Int) {
        let script = """
            import boto3, hashlib, json, sys
            s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3], region_name="us-east-1")
            out = {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[4], Prefix=sys.argv[5]):
                for o in page.get("Contents", []):
                    body = s3.get_object(Bucket=sys.argv[4], Key=o["Key"])["Body"].read()
                    out[o["Key"]] = [len(body), hashlib.sha256(body).hexdigest()]
            uploads = s3.list_multipart_uploads(Bucket=sys.argv[4], Prefix=sys.argv[5]).get("Uploads", [])
            print(json.dumps({"objects": out, "openUploads": len(uploads)}))
            """
        try script.write(toFile: root + "/list.py", atomically: true, encoding: .utf8)
        let run = try runCommand("/usr/bin/env", ["python3", root + "/list.py", store.endpoint.absoluteString, store.credentials.accessKey,
                                                   store.credentials.secretKey, bucket, prefix])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let objects = (json["objects"] as? [String: [Any]] ?? [:]).mapValues { ($0[0] as! Int, $0[1] as! String) }
        return (objects, json["openUploads"] as? Int ?? -1)
    }

    func testTheS3ClientSignsPutsGetsListsAndMultipartsAgainstSeaweedFS() async throws {
        let store = try SeaweedFS(self)
        try await store.start()
        let client = S3Client(endpoint: store.endpoint, credentials: store.credentials)
        try await client.createBucket("ctlive-test")
        try await client.createBucket("ctlive-test")  // a second time is fine

        let body = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try await client.putObject(bucket: "ctlive-test", key: "a/b c+d.bin", body: body)  // a key that needs encoding
        let head = try await client.headObject(bucket: "ctlive-test", key: "a/b c+d.bin")
        XCTAssertEqual(head?.size, Int64(body.count))
        XCTAssertEqual(head?.sha256, SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined())
        let missing = try await client.headObject(bucket: "ctlive-test", key: "a/none")
        XCTAssertNil(missing)
        let copy = root + "/copy.bin"
        try await client.getObject(bucket: "ctlive-test", key: "a/b c+d.bin", to: copy)
        XCTAssertEqual(FileManager.default.contents(atPath: copy), body)

        // Multipart: two parts (S3's minimum part is 5 MiB), one left open then aborted.
        let large = Data((0..<(S3Client.partSize + 1000)).map { UInt8(truncatingIfNeeded: $0 >> 3) })
        let sha = SHA256.hash(data: large).map { String(format: "%02x", $0) }.joined()
        let upload = try await client.createMultipartUpload(bucket: "ctlive-test", key: "a/large", sha256: sha)
        let first = try await client.uploadPart(bucket: "ctlive-test", key: "a/large", uploadID: upload, number: 1, body: large.prefix(S3Client.partSize))
        let held = try await client.listParts(bucket: "ctlive-test", key: "a/large", uploadID: upload)
        XCTAssertEqual(held, [1: first.etag])
        let second = try await client.uploadPart(bucket: "ctlive-test", key: "a/large", uploadID: upload, number: 2, body: large.suffix(1000))
        try await client.completeMultipartUpload(bucket: "ctlive-test", key: "a/large", uploadID: upload, parts: [first, second])
        let stray = try await client.createMultipartUpload(bucket: "ctlive-test", key: "a/stray", sha256: sha)
        let open = try await client.listMultipartUploads(bucket: "ctlive-test", prefix: "a/")
        XCTAssertEqual(open.map(\.uploadID), [stray])
        try await client.abortMultipartUpload(bucket: "ctlive-test", key: "a/stray", uploadID: stray)

        let listed = try await client.listObjects(bucket: "ctlive-test", prefix: "a/")
        XCTAssertEqual(Set(listed.map(\.key)), ["a/b c+d.bin", "a/large"])
        // boto3 reads back what we wrote, byte for byte.
        let seen = try boto3(store, bucket: "ctlive-test", prefix: "a/")
        XCTAssertEqual(seen.objects["a/large"]?.1, sha)
        XCTAssertEqual(seen.objects["a/b c+d.bin"]?.0, body.count)
        XCTAssertEqual(seen.openUploads, 0)

        // A wrong secret is refused by the store: the signature is checked.
        let impostor = S3Client(endpoint: store.endpoint, credentials: S3Credentials(accessKey: store.credentials.accessKey, secretKey: "wrong"))
        do {
            try await impostor.putObject(bucket: "ctlive-test", key: "a/forged", body: Data("x".utf8))
            XCTFail("a request signed with the wrong secret was accepted")
        } catch let error as ObjectStoreError {
            XCTAssertEqual(error.status, 403, "\(error)")
        }
        XCTAssertThrowsError(try S3Credentials.load(environment: [:]))
        XCTAssertEqual(try S3Credentials.load(environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"]).secretKey, "b")
    }

    /// The spool: nothing leaves the folder while the store is down; once it is up, every file goes up, the
    /// store holds exactly the files the manifests name with their hashes (read back by boto3), local media
    /// goes only then, and the recordings verify from the store alone with the public key.
    func testTheSpoolUploadsThroughAnOutageAndRecordingsVerifyFromTheStoreAlone() async throws {
        let first = try record("f1")
        let second = try record("f2")
        let store = try SeaweedFS(self)
        let client = S3Client(endpoint: store.endpoint, credentials: store.credentials)
        let location = StorageLocation(bucket: "fleet", prefix: "site-a/recordings")
        let uploader = RecordingUploader(root: root + "/Recordings", store: client, location: location, keepLocal: false, logger: logger)

        // The store is down (not started): the pass fails, and nothing local is touched.
        do { try await uploader.pass(); XCTFail("a pass with the store down succeeded") } catch {}
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.originalsPath))
        XCTAssertGreaterThan(uploader.backlogBytes, 0, "the backlog is counted")

        try await store.start()
        try await client.createBucket("fleet")
        let stored = try await uploader.pass()
        XCTAssertEqual(stored, ["f1", "f2"])
        XCTAssertEqual(uploader.backlogBytes, 0)
        for result in [first, second] {
            let record = try XCTUnwrap(StorageRecord.read(directory: result.directory))
            XCTAssertTrue(record.isStored)
            XCTAssertFalse(FileManager.default.fileExists(atPath: result.originalsPath), "local media goes once the store confirmed it")
            XCTAssertTrue(FileManager.default.fileExists(atPath: result.manifestPath), "the manifest stays")
            XCTAssertEqual(Set(record.removedLocally), ["originals.ctlo", "recording.mp4", "contactsheet.png"].filter { name in record.files.contains { $0.name == name } }.reduce(into: Set<String>()) { $0.insert($1) })
        }

        // boto3: the bucket holds exactly the files named, with the hashes recorded; the originals' is the manifest's.
        let seen = try boto3(store, bucket: "fleet", prefix: "site-a/recordings/")
        var expected: [String: (Int, String)] = [:]
        for result in [first, second] {
            for file in try XCTUnwrap(StorageRecord.read(directory: result.directory)).files { expected[file.key] = (Int(file.bytes), file.sha256) }
            let originals = try XCTUnwrap(StorageRecord.read(directory: result.directory)?.files.first { $0.name == "originals.ctlo" })
            XCTAssertEqual(originals.sha256, result.sha256, "the originals in the store are the ones the manifest signs")
        }
        let shared = Set(seen.objects.keys.filter { $0.contains("/keys/") || $0.contains("/chains/") })
        XCTAssertEqual(shared, ["site-a/recordings/keys/\(key.keyID).pub", "site-a/recordings/chains/chain-\(key.keyID).jsonl"])
        XCTAssertEqual(Set(seen.objects.keys).subtracting(shared), Set(expected.keys))
        for (objectKey, value) in expected { XCTAssertTrue(seen.objects[objectKey].map { $0 == value } ?? false, objectKey) }

        // Verified from the store alone, somewhere with nothing but the public key.
        let elsewhere = try temporaryDirectory(self)
        let arguments = ["--recordings", elsewhere, "--storage", "s3://fleet/site-a/recordings", "--s3-endpoint", store.endpoint.absoluteString,
                         "--s3-credentials", try credentialsFile(store), "--public-key", keyPath + ".pub"]
        let one = try runCommand(ctliveExecutable, ["recordings", "verify", "f1"] + arguments)
        XCTAssertEqual(one.status, 0, one.stdout + one.stderr)
        XCTAssertTrue(one.stdout.contains("f1 ok"), one.stdout)
        let all = try runCommand(ctliveExecutable, ["recordings", "verify", "--all"] + arguments)
        XCTAssertEqual(all.status, 0, all.stdout + all.stderr)
        XCTAssertTrue(all.stdout.contains("chain-\(key.keyID) ok (2 entries)"), all.stdout)

        // The originals replaced in the store: verify from the store says so.
        let replacement = FileManager.default.temporaryDirectory.appendingPathComponent("x-\(UUID())").path
        try await client.getObject(bucket: "fleet", key: location.key(String(second.directory.dropFirst(root.count + "/Recordings/".count)) + "/originals.ctlo"), to: replacement)
        try await client.putObject(bucket: "fleet", key: location.key(String(first.directory.dropFirst(root.count + "/Recordings/".count)) + "/originals.ctlo"),
                                   body: try Data(contentsOf: URL(fileURLWithPath: replacement)))
        let swapped = try runCommand(ctliveExecutable, ["recordings", "verify", "f1"] + arguments)
        XCTAssertNotEqual(swapped.status, 0, swapped.stdout)
        XCTAssertTrue(swapped.stdout.contains("f1 FAILED"), swapped.stdout)
    }

    /// `ctlive recordings upload` killed (SIGKILL) in the middle of a multipart upload: the next run keeps the
    /// parts the store holds, completes the file, and aborts the multipart upload nobody carries on.
    func testAnUploadKilledMidMultipartResumesAndTheOrphanIsAborted() async throws {
        let clip = try noisyClip(megabytes: 12)
        let big = try record("m1", source: try FileSource(path: clip), composite: .onDemand)
        let size = try XCTUnwrap((try FileManager.default.attributesOfItem(atPath: big.originalsPath))[.size] as? NSNumber).intValue
        XCTAssertGreaterThan(size, S3Client.partSize, "the originals need more than one part")
        let store = try SeaweedFS(self)
        try await store.start()
        let client = S3Client(endpoint: store.endpoint, credentials: store.credentials)
        try await client.createBucket("fleet")
        // A multipart upload of this recording begun by a bot killed before it could note it, and another bot's
        // upload under way of a recording this folder does not hold (left alone).
        let relative = String(big.directory.dropFirst(root.count + "/Recordings/".count))
        let orphan = try await client.createMultipartUpload(bucket: "fleet", key: "site-b/\(relative)/originals.ctlo", sha256: String(repeating: "0", count: 64))
        let othersUpload = try await client.createMultipartUpload(bucket: "fleet", key: "site-b/2026-12-07/another-bots/originals.ctlo",
                                                                 sha256: String(repeating: "0", count: 64))

        let arguments = ["recordings", "upload", "--recordings", root + "/Recordings", "--storage", "s3://fleet/site-b", "--s3-endpoint",
                         store.endpoint.absoluteString, "--s3-credentials", try credentialsFile(store)]
        let slow = Process()
        slow.executableURL = URL(fileURLWithPath: ctliveExecutable)
        slow.arguments = arguments + ["--bandwidth", String(S3Client.partSize / 4)]  // a part every 4 s
        try slow.run()
        // Killed once the first part is in the store and noted.
        let deadline = Date().addingTimeInterval(60)
        var noted: StorageRecord.StoredFile?
        while Date() < deadline, noted == nil {
            noted = StorageRecord.read(directory: big.directory)?.files.first { $0.name == "originals.ctlo" && ($0.parts?.count ?? 0) >= 1 }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(slow.processIdentifier, SIGKILL)
        slow.waitUntilExit()
        let cut = try XCTUnwrap(noted, "the first part was never noted")
        XCTAssertEqual(cut.state, "uploading")
        XCTAssertTrue(FileManager.default.fileExists(atPath: big.originalsPath), "nothing local goes before the store holds it")

        let resumed = try runCommand(ctliveExecutable, arguments)
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("1 recordings stored"), resumed.stdout)
        let record = try XCTUnwrap(StorageRecord.read(directory: big.directory))
        XCTAssertTrue(record.isStored)
        let originals = try XCTUnwrap(record.files.first { $0.name == "originals.ctlo" })
        let seen = try boto3(store, bucket: "fleet", prefix: "site-b/")
        XCTAssertEqual(seen.objects[originals.key]?.1, big.sha256, "the store holds the originals whole")
        let uploads = try await client.listMultipartUploads(bucket: "fleet", prefix: "site-b/")
        XCTAssertEqual(uploads.map(\.uploadID), [othersUpload], "the orphan was aborted, ours completed, another bot's left alone")
        XCTAssertEqual(seen.openUploads, 1)
        XCTAssertNotEqual(orphan, othersUpload)
        XCTAssertFalse(FileManager.default.fileExists(atPath: big.originalsPath), "local media went once stored")
    }
}
