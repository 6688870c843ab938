import ArgumentParser
import ChildProcess
import Foundation
import IsolatedRecording
import Logging
import Media
import Recorder
import Timestamps

#if canImport(Glibc)
    import Glibc
#endif

/// `ctlive bench recorder`: our compositor against the FFmpeg command line on the same inputs and settings.
struct BenchRecorderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recorder",
        abstract: "CPU per media second: `ctlive compose` against `ffmpeg -filter_complex` (scale + xstack + amix); live capacity, originals only and with live composites.")

    @Option(help: "Seconds of each generated input.") var seconds: Int = 10
    @Option(help: "libx264 preset for both.") var preset: String = "veryfast"
    @Option(help: "libx264 CRF for both.") var crf: Int = 23
    @Option(help: "Alternating rounds of ctlive and ffmpeg (the median is reported).") var rounds: Int = 3
    @Option(help: "Where to put inputs and outputs (a temporary directory by default).") var directory: String?
    @Option(help: "Concurrent sessions to try with the composite deferred (originals only), in order (stops at the first that cannot keep up).")
    var originalsSessions: String = "10,25,50,60"
    @Option(help: "Concurrent sessions to try with live composites, in order (stops at the first that cannot keep up).")
    var liveSessions: String = "1,2,3,4,6"
    @Option(help: "Seconds each live step runs.") var liveSeconds: Double = 8
    @Flag(help: "Skip the compose-versus-ffmpeg comparison.") var skipCompose = false
    @Flag(help: "Skip the live capacity ramp.") var skipLive = false
    @Flag(help: "Go on past the first step that cannot keep up (to see how overload is handled).") var keepGoing = false

    func run() async throws {
        let directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("ctlive-bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Figures depend on what else runs: say so.
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, load average \(loadAverage())")
        if !skipCompose { try compareWithFFmpeg(directory) }
        if !skipLive {
            try liveCapacity(directory, composite: .after, sessions: originalsSessions)
            try liveCapacity(directory, composite: .live, sessions: liveSessions)
        }
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

    /// Live capacity: N concurrent two-party sessions recorded the way the bot records them, each in a
    /// `ctlive record-worker` process of its own, with the default output settings; one thread feeds them
    /// all, like the bot's network thread. The publishers replay content as costly as a camera's: moving
    /// detail with sensor noise (`testsrc2` + `noise`), 640x360 30 fps H.264 and AAC, passed through
    /// without re-encoding. A step keeps up when nothing is dropped or late, fewer than 1% of the pictures
    /// are left out and the composite never falls a second behind its schedule.
    ///
    /// Memory is proportional set size (PSS: shared pages divided among the processes sharing them), per
    /// session: each worker's, plus this process's growth divided by the sessions.
    private func liveCapacity(_ directory: String, composite: CompositeMode, sessions: String) throws {
        let counts = sessions.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard let executable = currentExecutablePath() else { throw ValidationError("cannot find the ctlive executable") }
        print("")
        let defaults = RecordingConfiguration(sessionID: "defaults", contactID: "defaults")
        if composite == .live {
            print("live capacity WITH LIVE COMPOSITES: two-party sessions, each in a recording worker process; publishers 640x360 30 fps H.264 + AAC "
                  + "(moving detail + sensor noise), composite defaults (\(defaults.width)x\(defaults.height) \(defaults.fps) fps "
                  + "\(defaults.preset) crf \(defaults.crf), one x264 thread)")
        } else {
            print("live capacity, ORIGINALS ONLY (composite deferred): two-party sessions, each in a recording worker process; "
                  + "publishers 640x360 30 fps H.264 + AAC (moving detail + sensor noise)")
        }
        var timeline: [(time: Double, participant: Int, track: Int, packet: EncodedPacket)] = []
        var tracks: [[TrackParameters]] = []
        for participant in 0..<2 {
            let path = "\(directory)/camera\(participant).mp4"
            try spawn([
                "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostats", "-y",
                "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=\(Int(liveSeconds.rounded(.up))),hue=h=\(participant * 120),noise=alls=6:allf=t",
                "-f", "lavfi", "-i", "sine=frequency=\(440 + 220 * participant):duration=\(Int(liveSeconds.rounded(.up)))",
                "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", path,
            ])
            let source = try FileSource(path: path)
            tracks.append(source.tracks)
            var origins: [Int: Int64] = [:]
            while let (track, packet) = try source.nextPacket() {
                let origin = origins[track] ?? packet.dts
                origins[track] = origin
                timeline.append((Double(packet.dts - origin) * source.tracks[track].timeBase, participant, track, packet))
            }
        }
        timeline.sort { $0.time < $1.time }
        for count in counts {
            let baseline = proportionalSetBytes(getpid())
            let childrenBefore = usage(RUSAGE_CHILDREN)
            let before = usage(RUSAGE_SELF)
            var configuration = RecordingConfiguration(root: "\(directory)/live", sessionID: "", contactID: "bench", layout: .grid)
            configuration.composite = composite
            let logger = quietLogger
            // Each recording's session runs from its worker's start to its end: its duration is measured against that.
            var opened: [Date] = []
            let recordings = try (0..<count).map { index -> RecordingProcess in
                configuration.sessionID = "bench-\(count)-\(index)"
                let recording = try RecordingProcess(
                    configuration: configuration, command: [executable, RecordingProcess.workerSubcommand, "--room", configuration.sessionID],
                    logger: logger)
                opened.append(Date())
                for participant in 0..<2 {
                    recording.participantJoined(id: "p\(participant)", name: "P\(participant)", role: "customer", colorHint: nil)
                    for (track, parameters) in tracks[participant].enumerated() {
                        recording.trackAnnounced(participantID: "p\(participant)", trackID: "t\(track)", parameters: parameters)
                    }
                }
                return recording
            }
            let start = Date()
            let pacer = Pacer()
            var pss: (workers: Int, bench: Int)?
            for item in timeline {
                pacer.wait(untilMediaTime: item.time)
                if pss == nil && item.time > liveSeconds / 2 {
                    pss = (recordings.map { proportionalSetBytes($0.child.pid) }.reduce(0, +), proportionalSetBytes(getpid()))
                }
                for recording in recordings {
                    recording.receive(participantID: "p\(item.participant)", trackID: "t\(item.track)", packet: item.packet, capturedUs: nil)
                }
            }
            var ended: [Date] = []
            for recording in recordings {
                recording.end(interruptedBy: nil)
                ended.append(Date())
            }
            let results = try recordings.map { try $0.finish(interruptedBy: nil) }
            let wall = Date().timeIntervalSince(start)
            for recording in recordings { recording.child.wait(timeout: .seconds(5)) }
            let cpu = (usage(RUSAGE_SELF).cpu - before.cpu) + (usage(RUSAGE_CHILDREN).cpu - childrenBefore.cpu)
            let dropped = results.map(\.errors.droppedQueueFull).reduce(0, +) + recordings.map(\.droppedPackets).reduce(0, +)
            let sent = timeline.count * count
            let manifests = results.map { try? JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: $0.manifestPath))) }
            let kept = manifests.map { $0?.originals?.tracks.map(\.packets).reduce(0, +) ?? 0 }.reduce(0, +)
            let live = results.filter { $0.composite.state == "rendered" }.count
            // Each recording's session runs from its worker opening it (the manifest's wall-clock start, ms) to its end.
            let durationError = results.indices.map { index -> Double in
                let start = manifests[index].flatMap { ISO8601.parse($0.wallClockStart) } ?? opened[index]
                return abs(results[index].duration - ended[index].timeIntervalSince(start))
            }.max() ?? 0
            let keptUp = dropped == 0 && kept == sent && durationError <= 0.3 && (composite != .live || live == count)
            let perSession = pss.map { Double($0.workers + max(0, $0.bench - baseline)) / Double(count) / 1_048_576 } ?? 0
            print(String(
                format: "%2d sessions: %@  CPU %.2f cores (%.3f per session), packets sent %d kept %d, dropped %d, live composites %d of %d, "
                    + "duration error max %.2f s, PSS %.1f MB per session",
                count, keptUp ? "real time     " : "NOT real time ", cpu / wall, cpu / wall / Double(count), sent, kept, dropped, live, count,
                durationError, perSession))
            let deferred = results.filter { $0.composite.state != "rendered" }
            if composite == .live && !deferred.isEmpty {
                // What the bot's queue does once the load goes: render them, one at a time.
                let renderStart = Date(), renderCPU = usage(RUSAGE_SELF).cpu
                var rendered = 0
                for result in deferred where (try? CompositeJob.render(directory: result.directory, key: nil, logger: logger)) != nil { rendered += 1 }
                let renderWall = Date().timeIntervalSince(renderStart), media = deferred.map(\.duration).reduce(0, +)
                print(String(format: "             then %d of %d deferred composites rendered from their originals: %.1f s of media in %.1f s "
                    + "(%.2f× real time, %.2f CPU s per media s)", rendered, deferred.count, media, renderWall, media / renderWall,
                    (usage(RUSAGE_SELF).cpu - renderCPU) / media))
            }
            if !keptUp && !keepGoing { break }
        }
    }

    /// Proportional set size of a process (`Pss:` in /proc/PID/smaps_rollup), in bytes.
    private func proportionalSetBytes(_ pid: pid_t) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Pss:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    private func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
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
