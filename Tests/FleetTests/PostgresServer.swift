import ChildProcess
import Foundation
import TestKit
import XCTest

/// A PostgreSQL cluster of one test (Debian's `postgresql`): `initdb` in a folder of its own, the server on a
/// free port, run as the `postgres` user (setpriv) when the test runs as root (the server refuses root), stopped when
/// the test ends. It can be stopped and started again on the same cluster (a restarted database).
final class PostgresServer {
    let directory: String
    let port: Int
    private let test: XCTestCase
    private let bin: String
    var url: String { "postgres://ctlive@127.0.0.1:\(port)/postgres" }

    init(_ test: XCTestCase) throws {
        self.test = test
        guard let version = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.sorted().last,
              FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\(version)/bin/postgres")
        else { throw XCTSkip("PostgreSQL is not installed (Debian's postgresql: .ci/install installs it)") }
        bin = "/usr/lib/postgresql/\(version)/bin"
        directory = try temporaryDirectory(test) + "/cluster"
        port = try freePort()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 {
            // The server will not run as root: the cluster belongs to `postgres`.
            let chown = try runCommand("/bin/chown", ["-R", "postgres:postgres", (directory as NSString).deletingLastPathComponent])
            XCTAssertEqual(chown.status, 0, chown.stderr)
        }
        let initdb = try runCommand(Self.asServerUser(), Self.asServerUserArguments([bin + "/initdb", "-D", directory + "/data", "-U", "ctlive", "-A", "trust",
                                                                                     "--no-sync", "-E", "UTF8"]))
        guard initdb.status == 0 else { throw NSError(domain: "initdb failed: \(initdb.stderr)", code: 1) }
        try start()
    }

    /// As `postgres` when root: setpriv execs the command itself (no parent left waiting, as runuser would be).
    private static func asServerUser() -> String { getuid() == 0 ? "/usr/bin/setpriv" : "/usr/bin/env" }
    private static func asServerUserArguments(_ command: [String]) -> [String] {
        getuid() == 0 ? ["--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env"] + command : command
    }

    /// Starts the server with `pg_ctl` (which waits until it accepts connections); stopped when the test ends.
    func start() throws {
        // pg_ctl leaves the server running as a daemon: Foundation's Process never saw pg_ctl end then, so our own
        // child-process supervisor runs it.
        let status = try pgctl(["start", "-w", "-t", "30", "-D", directory + "/data", "-l", directory + "/postgres.log",
                                "-o", "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off"])
        guard status == .exited(0) else {
            throw NSError(domain: "PostgreSQL did not start: \((try? String(contentsOfFile: directory + "/postgres.log", encoding: .utf8)) ?? "")", code: 1)
        }
        if !stopsAtTeardown {
            stopsAtTeardown = true
            test.addTeardownBlock { [self] in stop() }
        }
    }
    private var stopsAtTeardown = false

    /// Stops the server (a fast shutdown, waited for): the database is down until `start()`.
    func stop() {
        _ = try? pgctl(["stop", "-w", "-m", "fast", "-D", directory + "/data"])
    }

    private func pgctl(_ arguments: [String]) throws -> ExitStatus? {
        let child = try ChildProcess.spawn(executable: Self.asServerUser(), arguments: Self.asServerUserArguments([bin + "/pg_ctl"] + arguments),
                                           environment: ["PATH=/usr/bin:/bin"])
        return child.wait(timeout: .seconds(60))
    }

    /// `psql -c` against the cluster: its output, unaligned, tuples only.
    func psql(_ sql: String) throws -> String {
        let run = try runCommand("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "ctlive", "-d", "postgres", "-At", "-c", sql])
        guard run.status == 0 else { throw NSError(domain: "psql: \(run.stderr)", code: 1) }
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
