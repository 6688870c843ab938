import ChildProcess
import Foundation
import PolicyHost

/// Builds the policy plugins a policy names when they are missing from a SwiftPM build folder.
///
/// `swift run ctlive` builds the `ctlive` product alone, not the plugin libraries beside it: a fresh
/// clone's first `swift run ctlive demo` would find no plugin. When the running `ctlive` lives in a
/// package's `.build` folder and a plugin is missing there, this runs `swift build` for that package
/// once, in the same configuration, so that the first command of the README works as written.
enum PluginBuilder {
    /// The plugins `policy` names by library name that no directory in `directories` holds.
    static func missingPlugins(policy: PolicyFile, directories: [String]) -> [String] {
        let names = Set(policy.labelledChains.flatMap { $0.chain.chain.map(\.plugin) })
        // Paths and reverse-DNS ids are the operator's business; library names are ours to build.
        return names.filter { name in
            !name.contains("/") && !name.contains(".")
                && !directories.contains { FileManager.default.fileExists(atPath: "\($0)/lib\(name).so") }
        }.sorted()
    }

    /// The package root and configuration (`debug`, `release`) when `executable` is in a SwiftPM build folder.
    static func package(of executable: String) -> (root: String, configuration: String)? {
        guard let range = executable.range(of: "/.build/") else { return nil }
        let root = String(executable[..<range.lowerBound])
        let configuration = ((executable as NSString).deletingLastPathComponent as NSString).lastPathComponent
        guard ["debug", "release"].contains(configuration), FileManager.default.fileExists(atPath: "\(root)/Package.swift") else {
            return nil
        }
        return (root, configuration)
    }

    /// Builds the missing plugins, if any and if this `ctlive` was built from a package; `say` reports progress.
    static func ensurePlugins(policyPath: String, directories: [String], say: (String) -> Void) throws {
        guard let policy = try? PolicyFile.load(path: policyPath) else { return }  // the engine reports a bad policy
        let missing = missingPlugins(policy: policy, directories: directories)
        guard !missing.isEmpty, let executable = currentExecutablePath(),
            let (root, configuration) = package(of: executable)
        else { return }
        say("building the policy plugins (\(missing.joined(separator: ", "))): swift build -c \(configuration), once")
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ctlive-plugin-build-\(getpid()).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let output = try FileHandle(forWritingTo: log)
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        build.arguments = ["swift", "build", "-c", configuration, "--package-path", root]
        build.standardOutput = output
        build.standardError = output
        try build.run()
        build.waitUntilExit()
        try? output.close()
        guard build.terminationStatus == 0 else {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw PluginBuildError(description: "swift build failed (status \(build.terminationStatus)):\n\(text.suffix(4000))")
        }
    }
}

struct PluginBuildError: Error, CustomStringConvertible {
    let description: String
}
