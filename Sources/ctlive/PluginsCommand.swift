import ArgumentParser
import Foundation
import Logging
import PolicyHost
import PolicyKit

/// `ctlive plugins list [DIR]` and `ctlive plugins inspect PATH`.
struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins", abstract: "List and inspect policy plugins.",
        subcommands: [List.self, Inspect.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load every plugin in a directory and show its metadata or why it was rejected.")

        @Argument(help: "Directory of plugin libraries (default: where the build puts them).")
        var directory: String?

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let directories = directory.map { [$0] } ?? defaultPluginDirectories()
            var logger = Logger(label: "ctlive.plugins") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .critical
            let results = PluginLoader(directories: directories, logger: logger).scan()
            if json {
                printJSON(results.map { PluginReport(path: $0.path, result: $0.result) })
                return
            }
            print("plugins in \(directories.joined(separator: ", ")): \(results.count) file(s)")
            for (path, result) in results {
                switch result {
                case .success(let library):
                    let m = library.metadata
                    print("  ok     \(m.id) \(m.version)  \(m.name)  ABI \(library.abiMajor).\(library.abiMinor)  \((path as NSString).lastPathComponent)  sha256 \(library.sha256.prefix(16))…")
                case .failure(let error):
                    print("  error  \(error)")
                }
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load one plugin file and show its metadata, ABI, file hash, or its load error.")

        @Argument(help: "Path of the plugin library.")
        var path: String

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let result = Result { () throws(PluginLoadError) in try PluginLibrary.load(path: path) }
            let report = PluginReport(path: path, result: result)
            if json {
                printJSON(report)
            } else {
                print("file:        \(path)")
                print("sha256:      \(report.sha256 ?? "(unreadable)")")
                if case .success(let library) = result {
                    let m = library.metadata
                    print("id:          \(m.id)")
                    print("name:        \(m.name)")
                    print("version:     \(m.version)")
                    print("description: \(m.description)")
                    print("license:     \(m.license)")
                    print("abi:         \(library.abiMajor).\(library.abiMinor) (host \(PluginLibrary.hostABI.major).\(PluginLibrary.hostABI.minor)), descriptor \(library.descriptorSize) bytes")
                }
            }
            if case .failure(let error) = result {
                if !json { FileHandle.standardError.write(Data("error: \(error)\n".utf8)) }
                throw ExitCode(1)
            }
        }
    }
}

/// What `plugins list/inspect --json` print for one file.
struct PluginReport: Encodable {
    var path: String
    var ok: Bool
    var sha256: String?
    var metadata: PluginMetadata?
    var abi: String?
    var descriptorSize: Int?
    var error: String?

    init(path: String, result: Result<PluginLibrary, PluginLoadError>) {
        self.path = path
        switch result {
        case .success(let library):
            ok = true
            sha256 = library.sha256
            metadata = library.metadata
            abi = "\(library.abiMajor).\(library.abiMinor)"
            descriptorSize = library.descriptorSize
        case .failure(let failure):
            ok = false
            sha256 = FileManager.default.fileExists(atPath: path) ? try? PluginLibrary.fileSHA256(path) : nil
            error = failure.description
        }
    }
}

func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
}
