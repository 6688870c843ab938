import CPolicyPlugin
import Digest
import Foundation
import Synchronization
import Logging
import PolicyKit

#if canImport(Glibc)
import Glibc
#endif

/// Why a plugin file could not be used. Its description names the file and the problem.
public struct PluginLoadError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong.
    public enum Problem: Sendable, Equatable {
        /// The file does not exist or cannot be read (with the errno text).
        case unreadable(String)
        /// Not an ELF shared library, or `dlopen` refused it (with its message).
        case notASharedLibrary(String)
        /// The library does not export `ctlive_policy_plugin_entry`.
        case noEntrySymbol
        /// The entry point returned NULL.
        case nullDescriptor
        /// The descriptor's ABI version is not one this host speaks.
        case abiMismatch(String)
        /// A metadata field is missing, empty or malformed.
        case badMetadata(String)
        /// A mandatory function pointer is NULL.
        case missingFunction(String)
        /// Another library already has this id.
        case duplicateID(id: String, otherPath: String)
        /// `create` failed, with the plugin's own message.
        case createFailed(String)
    }

    /// The plugin file.
    public var path: String
    public var problem: Problem

    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    public var description: String {
        switch problem {
        case .unreadable(let why): "\(path): cannot read the file: \(why)"
        case .notASharedLibrary(let why): "\(path): not a shared library: \(why)"
        case .noEntrySymbol: "\(path): no entry symbol '\(CTLIVE_POLICY_ENTRY_SYMBOL)' (not a CTLive policy plugin)"
        case .nullDescriptor: "\(path): the entry point returned no descriptor"
        case .abiMismatch(let why): "\(path): ABI mismatch: \(why)"
        case .badMetadata(let why): "\(path): bad metadata: \(why)"
        case .missingFunction(let name): "\(path): bad descriptor: mandatory function '\(name)' is missing"
        case .duplicateID(let id, let other): "\(path): duplicate plugin id '\(id)' (already provided by \(other))"
        case .createFailed(let message): "\(path): create failed: \(message)"
        }
    }
}

/// One loaded plugin library: its checked descriptor, metadata and file hash.
///
/// The `dlopen` handle is owned here and deliberately never closed: Swift's ABI is not stable on
/// Linux and unloading a Swift library can crash its host. Libraries are cached by real path, so
/// loading the same file twice returns the same object.
public final class PluginLibrary: @unchecked Sendable {
    /// The real path of the file.
    public let path: String
    /// SHA-256 of the file when it was loaded, as hex.
    public let sha256: String
    public let metadata: PluginMetadata
    public let abiMajor: Int
    public let abiMinor: Int
    /// `struct_size` as the plugin declared it.
    public let descriptorSize: Int

    let descriptor: ctlive_policy_plugin_descriptor
    private let handle: UnsafeMutableRawPointer

    private init(
        path: String, sha256: String, metadata: PluginMetadata, descriptor: ctlive_policy_plugin_descriptor,
        handle: UnsafeMutableRawPointer
    ) {
        self.path = path
        self.sha256 = sha256
        self.metadata = metadata
        self.descriptor = descriptor
        self.handle = handle
        abiMajor = Int(descriptor.abi_major)
        abiMinor = Int(descriptor.abi_minor)
        descriptorSize = Int(descriptor.struct_size)
    }

    /// The ABI version this host speaks.
    public static let hostABI = (major: Int(CTLIVE_POLICY_ABI_MAJOR), minor: Int(CTLIVE_POLICY_ABI_MINOR))

    /// Loaded once per real path, never unloaded: their code may still be running in a deadline-missed call.
    private static let cache = Mutex<[String: PluginLibrary]>([:])

    /// Loads (or returns the already loaded) plugin at `path`, checking its descriptor.
    public static func load(path: String) throws(PluginLoadError) -> PluginLibrary {
        guard let real = realpath(path, nil) else {
            throw PluginLoadError(path: path, problem: .unreadable(String(cString: strerror(errno))))
        }
        let realPath = String(cString: real)
        free(real)
        return try cache.withLock { (cache: inout [String: PluginLibrary]) throws(PluginLoadError) -> PluginLibrary in
            if let cached = cache[realPath] { return cached }
            let library = try loadUncached(path: realPath)
            cache[realPath] = library
            return library
        }
    }

    private static func loadUncached(path: String) throws(PluginLoadError) -> PluginLibrary {
        func fail(_ problem: PluginLoadError.Problem) -> PluginLoadError { PluginLoadError(path: path, problem: problem) }

        // A clear message for files that are not ELF at all, before dlopen's terse one.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fail(.unreadable(String(cString: strerror(errno)))) }
        var magic = [UInt8](repeating: 0, count: 4)
        let n = read(fd, &magic, 4)
        close(fd)
        guard n == 4, magic == [0x7f, 0x45, 0x4c, 0x46] else { throw fail(.notASharedLibrary("no ELF header")) }

        let sha: String
        do { sha = try SHA256.hex(ofFileAt: path) } catch { throw fail(.unreadable("\(error)")) }

        _ = dlerror()
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw fail(.notASharedLibrary(dlerror().map { String(cString: $0) } ?? "dlopen failed"))
        }
        // From here on the handle is never closed (see the type's documentation).
        guard let entry = dlsym(handle, CTLIVE_POLICY_ENTRY_SYMBOL) else { throw fail(.noEntrySymbol) }
        guard let raw = ctlive_policy_call_entry(entry) else { throw fail(.nullDescriptor) }

        let declaredSize = UnsafeRawPointer(raw).loadUnaligned(as: UInt32.self)
        let headerSize = MemoryLayout<ctlive_policy_plugin_descriptor>.offset(of: \.id)!
        guard declaredSize >= UInt32(headerSize) else {
            throw fail(.abiMismatch("descriptor size \(declaredSize) is smaller than its header (\(headerSize) bytes)"))
        }
        var descriptor = ctlive_policy_plugin_descriptor()
        ctlive_policy_copy_descriptor(raw, &descriptor)
        let (major, minor) = (Int(descriptor.abi_major), Int(descriptor.abi_minor))
        guard major == hostABI.major else {
            throw fail(.abiMismatch("plugin ABI \(major).\(minor), host ABI \(hostABI.major).\(hostABI.minor) (major must be equal)"))
        }
        guard minor <= hostABI.minor else {
            throw fail(.abiMismatch("plugin ABI \(major).\(minor) is newer than host ABI \(hostABI.major).\(hostABI.minor)"))
        }

        func text(_ pointer: UnsafePointer<CChar>?, _ field: String) throws(PluginLoadError) -> String {
            guard let pointer else { throw fail(.badMetadata("'\(field)' is missing")) }
            let value = String(cString: pointer)
            guard !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw fail(.badMetadata("'\(field)' is empty"))
            }
            return value
        }
        let metadata = PluginMetadata(
            id: try text(descriptor.id, "id"), name: try text(descriptor.name, "name"),
            version: try text(descriptor.version, "version"), description: try text(descriptor.description, "description"),
            license: try text(descriptor.license, "license"))
        guard isReverseDNS(metadata.id) else {
            throw fail(.badMetadata("id '\(metadata.id)' is not reverse-DNS (like com.example.policy.name)"))
        }
        if descriptor.create == nil { throw fail(.missingFunction("create")) }
        if descriptor.decide == nil { throw fail(.missingFunction("decide")) }
        if descriptor.free_string == nil { throw fail(.missingFunction("free_string")) }
        if descriptor.destroy == nil { throw fail(.missingFunction("destroy")) }
        return PluginLibrary(path: path, sha256: sha, metadata: metadata, descriptor: descriptor, handle: handle)
    }

    /// The SHA-256 of the file at `path`, as hex.
    public static func fileSHA256(_ path: String) throws -> String { try SHA256.hex(ofFileAt: path) }

    static func isReverseDNS(_ id: String) -> Bool {
        let labels = id.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
    }

    /// Creates an instance from `configurationJSON` (a JSON object text).
    public func makeInstance(configurationJSON: String) throws(PluginLoadError) -> PluginInstance {
        var instance: UnsafeMutableRawPointer?
        var error: UnsafeMutablePointer<CChar>?
        let status = configurationJSON.withCString { descriptor.create!($0, &instance, &error) }
        let message = takeString(error)
        guard status == CTLIVE_POLICY_OK else {
            if let instance { descriptor.destroy!(instance) }
            throw PluginLoadError(path: path, problem: .createFailed(message ?? "status \(status), no message"))
        }
        return PluginInstance(library: self, pointer: instance)
    }

    /// Copies (at most ``PluginInstance/maximumReasonBytes``, cut at a character boundary and marked
    /// with `…`) and releases (with the plugin's `free_string`) a string the plugin returned.
    func takeString(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        defer { descriptor.free_string!(pointer) }
        let limit = PluginInstance.maximumReasonBytes
        let length = strnlen(pointer, limit + 1)
        let bytes = UnsafeRawBufferPointer(start: pointer, count: min(length, limit))
        var text = String(decoding: bytes, as: UTF8.self)
        if length > limit {
            // A multi-byte character cut in two decodes as U+FFFD: drop it.
            if text.last == "\u{FFFD}" { text.removeLast() }
            text += "…"
        }
        return text
    }
}

/// What one plugin call produced.
public enum PluginCallResult: Sendable, Equatable {
    case verdict(Verdict)
    /// `decide` reported an error, or answered something that is not a verdict.
    case error(String)
}

/// One instance created by a plugin's `create`; destroyed (with the plugin's `destroy`) when released.
public final class PluginInstance: @unchecked Sendable {
    public let library: PluginLibrary
    private let pointer: UnsafeMutableRawPointer?

    init(library: PluginLibrary, pointer: UnsafeMutableRawPointer?) {
        self.library = library
        self.pointer = pointer
    }

    deinit { library.descriptor.destroy!(pointer) }

    /// Reasons and error texts longer than this are cut: a reason is for a person to read, and a
    /// plugin answering with megabytes must not cost the decision its deadline.
    public static let maximumReasonBytes = 2048

    /// Calls the plugin's `decide` with a decision-context JSON text.
    public func decide(requestJSON: String) -> PluginCallResult {
        var verdict: Int32 = -1
        var reason: UnsafeMutablePointer<CChar>?
        let status = requestJSON.withCString { library.descriptor.decide!(pointer, $0, &verdict, &reason) }
        let text = library.takeString(reason) ?? ""
        guard status == CTLIVE_POLICY_OK else { return .error(text.isEmpty ? "decide failed (status \(status))" : text) }
        guard let kind = VerdictKind(abiValue: verdict) else { return .error("invalid verdict value \(verdict)") }
        return .verdict(Verdict(kind, text))
    }
}

/// Finds and loads plugins in directories.
public struct PluginLoader: Sendable {
    /// The directories searched, in order.
    public var directories: [String]
    let logger: Logger

    public init(directories: [String], logger: Logger) {
        self.directories = directories
        self.logger = logger
    }

    /// The candidate plugin files of a directory (`*.so`), sorted.
    public static func pluginFiles(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".so") }.sorted().map { (directory as NSString).appendingPathComponent($0) }
    }

    /// Loads every plugin file of every directory. One bad file does not stop the others; a second
    /// library with an id already seen is rejected as a duplicate.
    public func scan() -> [(path: String, result: Result<PluginLibrary, PluginLoadError>)] {
        var seen: [String: String] = [:]  // id -> path
        var out: [(String, Result<PluginLibrary, PluginLoadError>)] = []
        var seenPaths = Set<String>()
        for directory in directories {
            for file in Self.pluginFiles(in: directory) {
                do throws(PluginLoadError) {
                    let library = try PluginLibrary.load(path: file)
                    guard seenPaths.insert(library.path).inserted else { continue }
                    if let other = seen[library.metadata.id] {
                        throw PluginLoadError(path: file, problem: .duplicateID(id: library.metadata.id, otherPath: other))
                    }
                    seen[library.metadata.id] = library.path
                    out.append((file, .success(library)))
                } catch {
                    logger.warning("policy plugin rejected", metadata: ["error": "\(error)"])
                    out.append((file, .failure(error)))
                }
            }
        }
        return out
    }

    /// Finds the plugin a policy step names: a path, a library name (`AcceptAll` for
    /// `libAcceptAll.so`, first directory first), or a plugin id (scanning the directories).
    public func resolve(_ reference: String) throws -> PluginLibrary {
        if reference.contains("/") { return try PluginLibrary.load(path: reference) }
        let fm = FileManager.default
        for directory in directories {
            for name in ["lib\(reference).so", reference.hasSuffix(".so") ? reference : nil].compactMap({ $0 }) {
                let candidate = (directory as NSString).appendingPathComponent(name)
                if fm.fileExists(atPath: candidate) { return try PluginLibrary.load(path: candidate) }
            }
        }
        var matches: [PluginLibrary] = []
        for (_, result) in scan() {
            if case .success(let library) = result, library.metadata.id == reference { matches.append(library) }
        }
        if let first = matches.first { return first }
        throw PolicyError.pluginNotFound(reference: reference, directories: directories)
    }
}

/// The plugins one policy uses: resolves each step's plugin and rejects two different files
/// claiming the same id (the second is a duplicate, as in ``PluginLoader/scan()``).
struct PluginSet {
    let loader: PluginLoader
    private var pathsByID: [String: String] = [:]

    init(loader: PluginLoader) { self.loader = loader }

    mutating func resolve(_ reference: String) throws -> PluginLibrary {
        let library = try loader.resolve(reference)
        if let other = pathsByID[library.metadata.id], other != library.path {
            throw PluginLoadError(path: library.path, problem: .duplicateID(id: library.metadata.id, otherPath: other))
        }
        pathsByID[library.metadata.id] = library.path
        return library
    }
}

