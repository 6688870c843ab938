import CPolicyPlugin
import Foundation

/// A policy plugin written in Swift.
///
/// A plugin is a type built from its configuration (the `config` object of its step in the policy
/// file, decoded as ``Configuration``) that answers each request with a ``Verdict``. Export it with
/// one line in its library:
///
/// ```swift
/// @_cdecl("ctlive_policy_plugin_entry")
/// public func entry() -> UnsafeRawPointer { PolicyKit.export(MyPlugin.self, MyPlugin.metadata) }
/// ```
///
/// `decide` may be called from several threads at once, so a plugin should be an immutable value.
public protocol PolicyPlugin: Sendable {
    /// The configuration, decoded from the step's `config` JSON (`{}` when the policy gives none).
    associatedtype Configuration: Decodable = NoConfiguration

    /// Builds an instance; throw (for instance ``PluginConfigurationError``) to refuse a configuration.
    init(configuration: Configuration) throws

    /// Answers one request.
    func decide(_ request: DecisionContext) -> Verdict
}

/// The configuration of a plugin that takes none (any JSON object is accepted).
public struct NoConfiguration: Decodable, Sendable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
}

/// A configuration the plugin refuses, with the reason the operator will read.
public struct PluginConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The metadata every plugin carries in its descriptor. All fields must be non-empty.
public struct PluginMetadata: Sendable, Equatable, Codable {
    /// Unique reverse-DNS id, e.g. `com.ctlive.policy.accept-all`.
    public var id: String
    public var name: String
    public var version: String
    public var description: String
    /// SPDX license identifier.
    public var license: String

    public init(id: String, name: String, version: String, description: String, license: String) {
        self.id = id
        self.name = name
        self.version = version
        self.description = description
        self.license = license
    }
}

/// Builds (once per library) the constant C descriptor for `plugin` and returns it.
///
/// Call it from the library's `ctlive_policy_plugin_entry`. A library exports one plugin type:
/// exporting a second, different type from the same library is a programming error (trap).
public func export<P: PolicyPlugin>(_ plugin: P.Type, _ metadata: PluginMetadata) -> UnsafeRawPointer {
    ExportState.shared.descriptor(for: plugin, metadata)
}

/// Human-readable text for an error thrown while decoding a configuration or a request.
public func describe(_ error: any Error) -> String {
    guard let error = error as? DecodingError else { return String(describing: error) }
    func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.isEmpty ? "top level" : codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }
            .joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }
    switch error {
    case .keyNotFound(let key, let context):
        let at = context.codingPath.isEmpty ? "" : " in \(path(context.codingPath))"
        return "missing key '\(key.stringValue)'\(at)"
    case .typeMismatch(let type, let context):
        return "\(path(context.codingPath)): expected \(type)"
    case .valueNotFound(let type, let context):
        return "\(path(context.codingPath)): expected \(type), found null"
    case .dataCorrupted(let context):
        return "\(path(context.codingPath)): \(context.debugDescription)"
    @unknown default:
        return String(describing: error)
    }
}

// MARK: - The C side

/// One live plugin instance behind the ABI's `void *instance`.
private final class InstanceBox {
    let decide: (DecisionContext) -> Verdict
    init(decide: @escaping (DecisionContext) -> Verdict) { self.decide = decide }
}

/// The library's exported descriptor and the factory its `create` uses (one per library image).
private final class ExportState: @unchecked Sendable {
    static let shared = ExportState()

    private let lock = NSLock()
    private var descriptorPointer: UnsafeMutablePointer<ctlive_policy_plugin_descriptor>?
    private var exportedType: ObjectIdentifier?
    private var factory: ((Data) throws -> InstanceBox)?

    func descriptor<P: PolicyPlugin>(for plugin: P.Type, _ metadata: PluginMetadata) -> UnsafeRawPointer {
        lock.lock()
        defer { lock.unlock() }
        if let existing = descriptorPointer {
            precondition(exportedType == ObjectIdentifier(plugin), "PolicyKit: one plugin type per library")
            return UnsafeRawPointer(existing)
        }
        factory = { data in
            let configuration = try JSONDecoder().decode(P.Configuration.self, from: data)
            let instance = try P(configuration: configuration)
            return InstanceBox(decide: instance.decide)
        }
        exportedType = ObjectIdentifier(plugin)
        // Lives as long as the process: the host never unloads a plugin.
        let pointer = UnsafeMutablePointer<ctlive_policy_plugin_descriptor>.allocate(capacity: 1)
        pointer.initialize(
            to: ctlive_policy_plugin_descriptor(
                struct_size: UInt32(MemoryLayout<ctlive_policy_plugin_descriptor>.size),
                abi_major: UInt16(CTLIVE_POLICY_ABI_MAJOR), abi_minor: UInt16(CTLIVE_POLICY_ABI_MINOR),
                id: UnsafePointer(strdup(metadata.id)), name: UnsafePointer(strdup(metadata.name)),
                version: UnsafePointer(strdup(metadata.version)),
                description: UnsafePointer(strdup(metadata.description)),
                license: UnsafePointer(strdup(metadata.license)),
                create: kitCreate, decide: kitDecide, free_string: kitFreeString, destroy: kitDestroy))
        descriptorPointer = pointer
        return UnsafeRawPointer(pointer)
    }

    func make(configuration: Data) throws -> InstanceBox {
        lock.lock()
        let factory = self.factory
        lock.unlock()
        guard let factory else { throw PluginConfigurationError("plugin not exported") }
        return try factory(configuration)
    }
}

private func kitCreate(
    _ config: UnsafePointer<CChar>?, _ outInstance: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ outError: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    let text = config.map { String(cString: $0) } ?? "{}"
    do {
        let box = try ExportState.shared.make(configuration: Data((text.isEmpty ? "{}" : text).utf8))
        outInstance?.pointee = Unmanaged.passRetained(box).toOpaque()
        return Int32(CTLIVE_POLICY_OK)
    } catch {
        outError?.pointee = strdup("invalid configuration: \(describe(error))")
        return Int32(CTLIVE_POLICY_ERROR)
    }
}

private func kitDecide(
    _ instance: UnsafeMutableRawPointer?, _ request: UnsafePointer<CChar>?, _ outVerdict: UnsafeMutablePointer<Int32>?,
    _ outReason: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    guard let instance, let request else {
        outReason?.pointee = strdup("decide called without an instance or a request")
        return Int32(CTLIVE_POLICY_ERROR)
    }
    let box = Unmanaged<InstanceBox>.fromOpaque(instance).takeUnretainedValue()
    let context: DecisionContext
    do {
        context = try DecisionContext.decode(json: UnsafeRawBufferPointer(start: request, count: strlen(request)))
    } catch {
        outReason?.pointee = strdup("invalid decision context: \(describe(error))")
        return Int32(CTLIVE_POLICY_ERROR)
    }
    let verdict = box.decide(context)
    outVerdict?.pointee = verdict.kind.abiValue
    outReason?.pointee = strdup(verdict.reason)
    return Int32(CTLIVE_POLICY_OK)
}

private func kitFreeString(_ text: UnsafeMutablePointer<CChar>?) { free(text) }

private func kitDestroy(_ instance: UnsafeMutableRawPointer?) {
    guard let instance else { return }
    Unmanaged<InstanceBox>.fromOpaque(instance).release()
}
