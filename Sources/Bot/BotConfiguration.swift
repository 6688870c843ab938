import CTLive
import Recorder
import Spool

/// How a bot runs.
public struct BotConfiguration: Sendable {
    public var hub: String
    public var userId: String
    public var curve: CurveClientKeys?
    /// Where recordings go (`<root>/<yyyy-mm-dd>/<room>/`).
    public var recordingsRoot = "Recordings"
    public var layout: Layout = .grid
    public var width: Int32 = 1280
    public var height: Int32 = 720
    public var fps: Int32 = 30
    /// When composites are made: `auto` makes them live while the machine has headroom, else queues
    /// them for this bot to render when it is idle. The originals are always written.
    public var composite: CompositeMode = .auto
    /// Whether this bot records rooms (a pure policy delegate says false).
    public var records = true
    /// Rooms this bot records at once at most: the hub assigns no more (see `ctlive bench recorder`
    /// for what a machine sustains). Nil: no limit.
    public var capacity: Int?
    /// An Ed25519 private key file: recordings are sealed while written and their manifests signed;
    /// its public key is copied to `<recordingsRoot>/keys/<key id>.pub` for verifiers.
    public var signingKey: String?
    /// Free bytes the recordings' file system needs for the bot to take rooms (after a write failure,
    /// it takes none until there are this many again).
    public var minimumFreeBytes: Int64 = 256 << 20
    /// Object storage: finished recordings go up in the background, local media goes once the store confirmed it.
    public var spool: RecordingUploader?
    /// With `spool`: bytes waiting for the store above which the bot takes no rooms. Nil: no limit.
    public var spoolLimitBytes: Int64?
    /// The fleet catalog, `postgres://USER@HOST:PORT/DB`: every recording indexed here is written there too,
    /// through the local catalog's outbox (kept while PostgreSQL is unreachable). Nil: this machine's catalog only.
    public var fleetCatalog: String?
    /// With `fleetCatalog` and `spool`: while this bot records no room, no composite of its own waits, it takes rooms
    /// and the machine has headroom, it takes the fleet's render jobs too (deferred composites recorded anywhere), as
    /// `ctlive render-worker` does.
    public var rendersFleetComposites = true
    /// Agents this bot answers upgrade requests for, beyond those its policy names.
    public var agents: [String] = []
    /// Index every finished recording and every decision in `<recordingsRoot>/catalog.sqlite`.
    public var catalog = true
    /// The command of a recording worker (`ctlive record-worker`; the room id is appended): each
    /// session is recorded in a process of its own, so that a decoder crashing on a hostile stream costs
    /// that session a moment, not the bot. Nil records in this process. Default: the `ctlive` that runs,
    /// or the one beside the running executable.
    public var recordingWorker: [String]? = RecorderBot.defaultRecordingWorker()

    public init(hub: String, userId: String) {
        self.hub = hub
        self.userId = userId
    }
}
