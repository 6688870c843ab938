import CFFmpeg
import Foundation

/// How chatty FFmpeg's own logging (to standard error) is. Process-wide.
///
/// FFmpeg logs at "info" by default (encoder statistics on every close). The first codec or format
/// object we make lowers that to errors, which we report ourselves anyway; `CTLIVE_FFMPEG_LOG`
/// (quiet, error, warning, info) chooses another default.
public enum FFmpegLog {
    public enum Level: String, Sendable {
        case quiet, error, warning, info

        var value: Int32 {
            switch self {
            case .quiet: AV_LOG_QUIET
            case .error: AV_LOG_ERROR
            case .warning: AV_LOG_WARNING
            case .info: AV_LOG_INFO
            }
        }
    }

    private static let defaultApplied: Void = {
        let level = ProcessInfo.processInfo.environment["CTLIVE_FFMPEG_LOG"].flatMap(Level.init(rawValue:)) ?? .error
        av_log_set_level(level.value)
    }()

    /// Applies the default level once; every wrapper that talks to FFmpeg calls this first.
    static func applyDefault() { _ = defaultApplied }

    /// Sets the level below which FFmpeg's messages are not printed.
    public static func setLevel(_ level: Level) {
        applyDefault()
        av_log_set_level(level.value)
    }
}

/// The FFmpeg libraries this process runs with, for records of what made a file.
public enum MediaLibraries {
    public static var versions: String {
        func text(_ version: UInt32) -> String { "\(version >> 16).\(version >> 8 & 0xFF).\(version & 0xFF)" }
        return "libavcodec \(text(avcodec_version())), libavformat \(text(avformat_version())), libswscale \(text(swscale_version())), libswresample \(text(swresample_version()))"
    }
}
