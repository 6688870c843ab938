import CFFmpeg

/// How chatty FFmpeg's own logging (to standard error) is. Process-wide.
public enum FFmpegLog {
    public enum Level: Sendable {
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

    /// Sets the level below which FFmpeg's messages are not printed.
    public static func setLevel(_ level: Level) { av_log_set_level(level.value) }
}
