// swift-tools-version:6.0
import PackageDescription

// Policy plugins written in Swift: each is `Plugins/<Name>/`, built as the dynamic library `lib<Name>.so`.
let swiftPolicyPlugins: [String] = [
    "AcceptAll", "BusinessHours", "CustomerAllowlist", "CapacityLimit", "RecordingRequired", "AudioOnly",
]

// Policy plugins written in C against `ctlive_policy_plugin.h`, to prove the ABI is language-neutral.
let cPolicyPlugins: [String] = [
    "CWeekdayGate",
]

let log: Target.Dependency = .product(name: "Logging", package: "swift-log")

var targets: [Target] = [
    // C system libraries. Nothing else includes C headers.
    // libzmq's pkg-config file pulls in Kerberos' -isystem flags, which SwiftPM refuses with a warning on every
    // build; zmq.h is in the default include path and the module map links libzmq itself.
    .systemLibrary(name: "CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
    .systemLibrary(
        name: "CFFmpeg", pkgConfig: "libavformat",
        providers: [.apt(["libavcodec-dev", "libavformat-dev", "libswscale-dev", "libswresample-dev", "libavutil-dev"])]),

    // Child processes: started and reaped by one long-lived thread (policy workers, recording workers).
    .target(name: "CChildProcess"),
    .target(name: "ChildProcess", dependencies: ["CChildProcess"]),

    // ISO 8601 times, written and read one way everywhere.
    .target(name: "Timestamps"),

    // Transport and protocol.
    .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
    .target(name: "Signaling"),

    // The broker, the client SDK.
    .target(name: "Hub", dependencies: ["ZeroMQ", "Signaling", "AccessToken", "Evidence", log]),
    // The SDK links no media library; publishing test pictures and files (FFmpeg) is CTLiveMedia.
    .target(name: "CTLive", dependencies: ["ZeroMQ", "Signaling", log]),
    .target(name: "CTLiveMedia", dependencies: ["CTLive", "Media", "Signaling"]),

    // Browsers: signed access tokens (HMAC-SHA256, JWT form), and `ctlive web`, the WebSocket gateway to the hub that
    // serves ctlive.js and the customer and agent pages (SwiftNIO's HTTP/1 and WebSocket handlers).
    .target(name: "AccessToken", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
    .target(
        name: "WebGateway",
        dependencies: [
            "ZeroMQ", "Signaling", "AccessToken", "RTP", "Janus", log,
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOWebSocket", package: "swift-nio"),
        ],
        // Embedded in the binary (a `ctlive` copied alone still serves them), kept as files a reader and a linter can open.
        resources: ["ctlive.js", "ctlive.d.ts", "customer.html", "agent.html", "index.html", "style.css"].map { .embedInCode("Site/\($0)") }),

    // WebRTC for browsers, through Janus (docs/WEBRTC.md): RTP (de)packetizing of H.264 and Opus without transcoding,
    // and a client of Janus' HTTP API.
    .target(name: "RTP"),
    .target(name: "Janus", dependencies: [log, .product(name: "AsyncHTTPClient", package: "async-http-client")]),

    // Media: FFmpeg wrappers, then the recording pipeline (knows nothing of sockets).
    // SHA-256 (swift-crypto): hashes of recordings and plugins, with no FFmpeg.
    .target(name: "Digest", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
    // Evidence: signing keys (Ed25519), seals while recording, signed manifests, their checks (docs/EVIDENCE.md).
    .target(name: "Evidence", dependencies: ["Digest", "Timestamps", .product(name: "Crypto", package: "swift-crypto")]),
    .target(name: "Media", dependencies: ["CFFmpeg", log]),
    .target(name: "Recorder", dependencies: ["Media", "Digest", "Evidence", "Timestamps", log]),
    // Seeded fuzzing of the recorder's input path (`ctlive bench fuzz-media`, and a short run in the tests).
    .target(name: "MediaFuzz", dependencies: ["Recorder", "Media", log]),
    // The review page and contact sheet written beside a finished recording.
    .target(name: "Review", dependencies: ["Recorder", "Media", "Evidence", log],
            resources: [.embedInCode("Scripts/error-trap.js"), .embedInCode("Scripts/review.js")]),

    // Policy plugins: the C ABI, the Swift kit for plugin authors, and the host.
    .target(name: "CPolicyPlugin"),
    .target(name: "PolicyKit", dependencies: ["CPolicyPlugin", "Timestamps"]),
    // Under `isolation: process` plugins run in `ctlive policy-worker`, a child of the host.
    .target(name: "PolicyHost", dependencies: ["CPolicyPlugin", "PolicyKit", "ChildProcess", "Digest", "Timestamps", log]),

    // One session's recording in a worker process of its own (`ctlive record-worker`): the bot's side and the worker's.
    .target(name: "IsolatedRecording", dependencies: ["Recorder", "Media", "ChildProcess", log]),

    // The headless participant: records rooms and answers for agents.
    .target(name: "Bot", dependencies: ["CTLive", "CTLiveMedia", "Recorder", "IsolatedRecording", "ChildProcess", "Evidence", "PolicyHost", "PolicyKit", "Catalog", "Review", "Timestamps", "Spool", "FleetCatalog", log]),

    // The recordings catalog (SQLite): indexes manifests and policy decisions, verifies recordings.
    .target(
        name: "Catalog",
        dependencies: ["Recorder", "Media", "Digest", "Evidence", "PolicyHost", "Timestamps", log, .product(name: "GRDB", package: "GRDB.swift")]),

    // The fleet: a small S3 client (SigV4 on async-http-client, tested against SeaweedFS), and the recordings folder
    // as a spool that uploads every finished recording and removes local media only once the store confirms it.
    .target(
        name: "ObjectStore",
        dependencies: [log, .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "Crypto", package: "swift-crypto"),
                       .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                       .product(name: "NIOFoundationCompat", package: "swift-nio")]),
    .target(name: "Spool", dependencies: ["ObjectStore", "Catalog", "Evidence", "Recorder", log, .product(name: "Crypto", package: "swift-crypto")]),
    // The fleet catalog in PostgreSQL (postgres-nio): one schema with migrations, written by every bot through an outbox
    // in its local SQLite catalog, read by `ctlive recordings --catalog postgres://…`.
    .target(name: "FleetCatalog", dependencies: ["Catalog", "Spool", "ObjectStore", "ChildProcess", "Recorder", "Evidence", log, .product(name: "PostgresNIO", package: "postgres-nio")]),

    .executableTarget(
        name: "ctlive",
        dependencies: [
            "Hub", "CTLive", "CTLiveMedia", "Signaling", "ZeroMQ", "Bot", "Recorder", "Media", "PolicyHost", "Catalog", "MediaFuzz", "ChildProcess", "IsolatedRecording", "Evidence", "Review", "PolicyKit", "WebGateway", "AccessToken", "Timestamps", "ObjectStore", "Spool", "FleetCatalog", log,
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

    .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
    .testTarget(name: "SignalingTests", dependencies: ["Signaling"]),
    .testTarget(name: "RTPTests", dependencies: ["RTP"]),
    // The README's SDK example, in a target that may import CTLive and nothing else of ours.
    .testTarget(name: "SDKExampleTests", dependencies: ["CTLive"]),
    .testTarget(name: "HubTests", dependencies: ["Hub", "CTLive", "CTLiveMedia", "Signaling", "ZeroMQ", log]),
    .testTarget(name: "MediaTests", dependencies: ["Media", "Digest"]),
    .testTarget(name: "RecorderTests", dependencies: ["Recorder", "Media", "MediaFuzz", "Digest", "TestKit", log]),
    // Shared by the test targets: checks on media files (ffprobe, decoded colours and tones), running the built ctlive.
    .target(name: "TestKit", dependencies: ["Media", log], path: "Tests/TestKit"),
    // A live hub with SDK clients and an in-process recorder bot, for the tests that run whole sessions.
    .target(name: "SessionKit", dependencies: ["Hub", "CTLive", "CTLiveMedia", "Bot", "Recorder", "Media", "PolicyHost", "Signaling", "TestKit", log], path: "Tests/SessionKit"),
    .testTarget(name: "EndToEndTests", dependencies: ["SessionKit", "Timestamps", "Evidence", "IsolatedRecording", "Hub", "CTLive", "CTLiveMedia", "Bot", "Recorder", "Media", "MediaFuzz", "PolicyHost", "Signaling", "ZeroMQ", "TestKit", log]),
    .testTarget(name: "PolicyHostTests", dependencies: ["PolicyHost", "PolicyKit", "Timestamps", "TestKit"]),
    .testTarget(name: "CatalogTests", dependencies: ["Catalog", "Recorder", "Media", "PolicyHost", "PolicyKit", "TestKit", log, .product(name: "GRDB", package: "GRDB.swift")]),
    .testTarget(name: "EvidenceTests", dependencies: ["Evidence", "Recorder", "Catalog", "IsolatedRecording", "Review", "Media", "TestKit", log]),
    .testTarget(name: "WebGatewayTests", dependencies: ["SessionKit", "WebGateway", "AccessToken", "Hub", "CTLive", "CTLiveMedia", "Bot", "Recorder", "Media", "Signaling", "ZeroMQ", "TestKit", log]),
    .testTarget(name: "FleetTests", dependencies: ["ObjectStore", "Spool", "FleetCatalog", "ChildProcess", "Catalog", "Evidence", "Recorder", "Media", "CTLive", "Bot", "Signaling", "SessionKit", "TestKit", log]),
    .testTarget(name: "ReviewTests", dependencies: ["Review", "Recorder", "Media", "TestKit", log]),
]

var products: [Product] = [
    .executable(name: "ctlive", targets: ["ctlive"]),
    .library(name: "CTLive", targets: ["CTLive"]),
    .library(name: "CTLiveMedia", targets: ["CTLiveMedia"]),
    .library(name: "PolicyKit", targets: ["PolicyKit"]),
]

for name in swiftPolicyPlugins {
    targets.append(.target(name: name, dependencies: ["PolicyKit"], path: "Plugins/\(name)"))
    products.append(.library(name: name, type: .dynamic, targets: [name]))
}
for name in cPolicyPlugins {
    targets.append(.target(name: name, dependencies: ["CPolicyPlugin"], path: "Plugins/\(name)"))
    products.append(.library(name: name, type: .dynamic, targets: [name]))
}

let package = Package(
    name: "CTLiveMedia",
    // Linux only (Glibc, eventfd, pidfd, prctl, flock): SwiftPM has no Linux minimum to declare.
    products: products,
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: targets,
    swiftLanguageModes: [.v6]
)
