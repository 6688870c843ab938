import Foundation
import CFFmpeg

/// FFmpeg's own log goes to stderr at "info" by default (encoder statistics on every close).
/// The first codec or format object we make lowers it to errors, which we report ourselves anyway.
/// `CTLIVE_FFMPEG_LOG=info` (or debug, warning) restores more.
enum LibraryLog {
    static let configured: Void = {
        let levels: [String: Int32] = ["quiet": AV_LOG_QUIET, "error": AV_LOG_ERROR, "warning": AV_LOG_WARNING, "info": AV_LOG_INFO, "debug": AV_LOG_DEBUG]
        let wanted = ProcessInfo.processInfo.environment["CTLIVE_FFMPEG_LOG"].flatMap { levels[$0] }
        av_log_set_level(wanted ?? AV_LOG_ERROR)
    }()
}
