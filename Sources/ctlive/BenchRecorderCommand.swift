import ArgumentParser
import Foundation
import Logging
import Media
import Recorder

#if canImport(Glibc)
    import Glibc
#endif

/// `ctlive bench recorder`: our compositor against the FFmpeg command line on the same inputs and settings.
struct BenchRecorderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recorder",
        abstract: "CPU per media second: `ctlive compose` against `ffmpeg -filter_complex` (scale + xstack + amix).")

    @Option(help: "Seconds of each generated input.") var seconds: Int = 10
    @Option(help: "libx264 preset for both.") var preset: String = "veryfast"
    @Option(help: "libx264 CRF for both.") var crf: Int = 23
    @Option(help: "Alternating rounds of ctlive and ffmpeg (the median is reported).") var rounds: Int = 3
    @Option(help: "Where to put inputs and outputs (a temporary directory by default).") var directory: String?
    @Option(help: "Concurrent live sessions to try, in order (stops at the first that cannot keep up).")
    var liveSessions: String = "1,2,3,4,6,8"
    @Option(help: "Seconds each live step runs.") var liveSeconds: Double = 8
    @Flag(help: "Skip the compose-versus-ffmpeg comparison.") var skipCompose = false
    @Flag(help: "Skip the live capacity ramp.") var skipLive = false

    func run() async throws {
        let directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("ctlive-bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Figures depend on what else runs: say so.
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, load average \(loadAverage())")
        if !skipCompose { try compareWithFFmpeg(directory) }
        if !skipLive { try liveCapacity(directory) }
        print("load average afterwards \(loadAverage())")
    }

    private var quietLogger: Logger {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        return logger
    }

    private func compareWithFFmpeg(_ directory: String) throws {
        let inputs = (0..<4).map { "\(directory)/input\($0).mp4" }
        print("generating four 1280x720 30 fps inputs of \(seconds) s in \(directory) ...")
        for (index, path) in inputs.enumerated() {
            try spawn([
                "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostats", "-y",
                "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=\(seconds),hue=h=\(index * 90)",
                "-f", "lavfi", "-i", "sine=frequency=\(300 + 200 * index):duration=\(seconds)",
                "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "60", "-c:a", "aac", path,
            ])
        }

        // Alternate the two, several rounds, and compare medians: on a shared machine single runs are noisy.
        let ourOutput = "\(directory)/ctlive.mp4", ffmpegOutput = "\(directory)/ffmpeg.mp4"
        var ours: [Double] = [], theirs: [Double] = [], ratios: [Double] = []
        var ourRSS = 0
        print("")
        print("four 1280x720 inputs -> 1280x720 grid, libx264 \(preset) crf \(crf), AAC; \(rounds) alternating rounds")
        for round in 1...rounds {
            // Ours, in process: CPU of this process (all threads) across the composition.
            let before = usage(RUSAGE_SELF)
            let ourStart = Date()
            let result = try Composer.compose(
                inputs: inputs, output: ourOutput, layout: .grid, width: 1280, height: 720, fps: 30, preset: preset, crf: crf,
                logger: quietLogger)
            let ourWall = Date().timeIntervalSince(ourStart)
            let after = usage(RUSAGE_SELF)
            ourRSS = after.maxRSSKB / 1024

            // FFmpeg's command line, as a child: its CPU from wait4.
            let scales = (0..<4).map { "[\($0):v]scale=640:360:flags=bilinear[v\($0)]" }.joined(separator: ";")
            let graph = scales + ";[v0][v1][v2][v3]xstack=inputs=4:layout=0_0|w0_0|0_h0|w0_h0[v];[0:a][1:a][2:a][3:a]amix=inputs=4[a]"
            let ffmpegStart = Date()
            let ffmpeg = try spawn(
                ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostats", "-y"] + inputs.flatMap { ["-i", $0] } + [
                    "-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-r", "30",
                    "-c:v", "libx264", "-preset", preset, "-crf", String(crf), "-g", "60", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "96k", "-ac", "1", "-ar", "48000",
                    "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "1000000", ffmpegOutput,
                ])
            let ffmpegWall = Date().timeIntervalSince(ffmpegStart)

            let media = result.duration
            ours.append((after.cpu - before.cpu) / media)
            theirs.append(ffmpeg.cpu / media)
            ratios.append(ours.last! / theirs.last!)
            print(String(
                format: "round %d: ctlive %.3f CPU s per media s (%.1f s wall), ffmpeg %.3f (%.1f s wall), ratio %.3f  [load %@]",
                round, ours.last!, ourWall, theirs.last!, ffmpegWall, ratios.last!, loadAverage()))
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        print(String(format: "ctlive compose : %6.3f CPU s per media s (median), peak RSS of this process %d MB", median(ours), ourRSS))
        // No peak RSS for ffmpeg: a child spawned with vfork inherits its parent's high-water mark across exec,
        // so wait4's ru_maxrss would report at least ours.
        print(String(format: "ffmpeg         : %6.3f CPU s per media s (median)", median(theirs)))
        print(String(format: "ratio ctlive/ffmpeg: %.3f median of rounds (min %.3f, max %.3f; aim: at most 0.8)", median(ratios), ratios.min()!, ratios.max()!))
        print("outputs: \(ourOutput) (\(fileSize(ourOutput) / 1024) KiB), \(ffmpegOutput) (\(fileSize(ffmpegOutput) / 1024) KiB)")
    }

    /// Live capacity: N concurrent two-party sessions (640x360 publishers, pre-encoded, replayed at real time
    /// without re-encoding) recorded with the default output settings; one thread feeds them all, like the bot's
    /// network thread. A step keeps up when nothing is dropped or late and the composite never falls a second behind
    /// its schedule (a lag that stays bounded is jitter; one that grows means the recorder cannot keep up).
    private func liveCapacity(_ directory: String) throws {
        let counts = liveSessions.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        print("")
        let defaults = RecordingConfiguration(sessionID: "defaults", contactID: "defaults")
        print("live capacity: two-party sessions, publishers 640x360 30 fps H.264 + Opus, output defaults "
              + "(\(defaults.width)x\(defaults.height) \(defaults.fps) fps \(defaults.preset) crf \(defaults.crf))")
        var timeline: [(time: Double, participant: Int, track: Int, packet: EncodedPacket)] = []
        let sources = try [("red", 440.0), ("blue", 660.0)].map {
            try TestSource(color: RGB(parsing: $0.0)!, toneHz: $0.1, width: 640, height: 360, durationSeconds: liveSeconds)
        }
        for (participant, source) in sources.enumerated() {
            var origins: [Int: Int64] = [:]
            while let (track, packet) = try source.nextPacket() {
                let origin = origins[track] ?? packet.pts
                origins[track] = origin
                timeline.append((Double(packet.pts - origin) * source.tracks[track].timeBase, participant, track, packet))
            }
        }
        timeline.sort { $0.time < $1.time }
        for count in counts {
            let baseline = residentBytes()
            var configuration = RecordingConfiguration(root: "\(directory)/live", sessionID: "", contactID: "bench", layout: .grid)
            let logger = quietLogger
            let recordings = try (0..<count).map { index -> LiveRecording in
                configuration.sessionID = "bench-\(count)-\(index)"
                let recording = try LiveRecording(configuration: configuration, logger: logger)
                for (participant, source) in sources.enumerated() {
                    recording.participantJoined(id: "p\(participant)", name: "P\(participant)", role: "customer", colorHint: source.color)
                    for (track, parameters) in source.tracks.enumerated() {
                        recording.trackAnnounced(participantID: "p\(participant)", trackID: "t\(track)", parameters: parameters)
                    }
                }
                return recording
            }
            let before = usage(RUSAGE_SELF)
            let start = Date()
            let pacer = Pacer()
            var middle = baseline
            for item in timeline {
                pacer.wait(untilMediaTime: item.time)
                if middle == baseline && item.time > liveSeconds / 2 { middle = residentBytes() }
                for recording in recordings { recording.receive(participantID: "p\(item.participant)", trackID: "t\(item.track)", packet: item.packet) }
            }
            let results = try recordings.map { try $0.finish() }
            let wall = Date().timeIntervalSince(start)
            let cpu = usage(RUSAGE_SELF).cpu - before.cpu
            let dropped = results.map(\.errors.droppedQueueFull).reduce(0, +)
            let late = results.map(\.errors.latePackets).reduce(0, +)
            let lag = results.map(\.maximumLag).max() ?? 0
            let keptUp = dropped == 0 && late == 0 && lag < 1
            print(String(
                format: "%2d sessions: %@  CPU %.2f cores (%.2f per session), max lag %.3f s, dropped %d, late %d, resident %.0f MB per session",
                count, keptUp ? "real time     " : "NOT real time ", cpu / wall, cpu / wall / Double(count), lag, dropped, late,
                Double(middle - baseline) / Double(count) / 1_048_576))
            if !keptUp { break }
        }
    }

    private func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// Resident set size of this process, from /proc.
    private func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    private struct Usage {
        var cpu: Double
        var maxRSSKB: Int
    }

    private func usage(_ who: __rusage_who) -> Usage {
        var value = rusage()
        getrusage(__rusage_who_t(who.rawValue), &value)
        return Usage(cpu: seconds(value), maxRSSKB: value.ru_maxrss)
    }

    private func seconds(_ value: rusage) -> Double {
        Double(value.ru_utime.tv_sec) + Double(value.ru_utime.tv_usec) / 1e6 + Double(value.ru_stime.tv_sec) + Double(value.ru_stime.tv_usec) / 1e6
    }

    private func fileSize(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }

    /// Runs a program from PATH, waits for it, returns its CPU time and peak memory (from wait4).
    @discardableResult
    private func spawn(_ arguments: [String]) throws -> Usage {
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let spawned = posix_spawnp(&pid, arguments[0], nil, nil, argv, environ)
        guard spawned == 0 else { throw ValidationError("cannot run \(arguments[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        var value = rusage()
        while wait4(pid, &status, 0, &value) < 0 && errno == EINTR {}
        guard status == 0 else { throw ValidationError("\(arguments[0]) failed (status \(status))") }
        return Usage(cpu: seconds(value), maxRSSKB: value.ru_maxrss)
    }
}
