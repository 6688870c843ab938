import Foundation
import Media

#if canImport(Glibc)
import Glibc
#endif

/// The lock a recording's writer holds while it writes: an exclusive `flock` on
/// `<directory>/.writer.lock`.
///
/// The kernel releases it when the writer's process ends, however it ends (SIGKILL included). A
/// manifest that says `recording` while nobody holds the lock was left by a writer that died: a
/// reader may complete it (``isHeld(directory:)``). The descriptor is opened close-on-exec, so child
/// processes never inherit the lock.
public final class WriterLock {
    public static let fileName = ".writer.lock"
    private let descriptor: Int32
    private let path: String

    /// Takes the lock for `directory`; throws when another writer holds it or the file cannot be made.
    public init(directory: String) throws {
        path = directory + "/" + Self.fileName
        descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        // AVERROR(e) is -e: MediaError describes it with the system's text.
        guard descriptor >= 0 else { throw MediaError(operation: "open \(path)", code: -errno) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            throw MediaError(operation: "lock \(path) (another writer holds it)", code: -code)
        }
    }

    /// Releases the lock and removes its file: the recording is finished.
    deinit {
        unlink(path)
        close(descriptor)
    }

    /// Whether a live process holds the writer lock of `directory`.
    public static func isHeld(directory: String) -> Bool {
        let descriptor = open(directory + "/" + fileName, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return false }  // no lock file: no writer (or one that finished)
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { return errno == EWOULDBLOCK }
        flock(descriptor, LOCK_UN)
        return false
    }
}
