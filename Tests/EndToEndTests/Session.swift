import Bot
import CTLive
import Foundation
import Hub
import Logging
import Media
import PolicyHost
import TestKit
import Recorder
import Signaling
import Synchronization
import XCTest

/// The `recordingStatus` events a client heard, in order.
final class RecordingStatusLog: Sendable {
    private let log = Mutex<[RecordingStatus]>([])
    init(_ client: CTLiveClient) {
        client.onEvent { [weak self] event in
            if case .recordingStatus(let status) = event { self?.log.withLock { $0.append(status) } }
        }
    }
    var all: [RecordingStatus] { log.withLock { $0 } }
    var statuses: [String] { all.map(\.status.rawValue) }
}

/// The tiles of the layout in force at `time`, from the manifest.
func tiles(_ manifest: RecordingManifest, at time: Double) -> [Tile] {
    manifest.layoutChanges.last { $0.time <= time }?.tiles ?? []
}

/// Asserts each tile in force at `time` shows its participant's colour at its centre.
func assertTiles(_ decoded: Decoded, _ manifest: RecordingManifest, at time: Double, colors: [String: RGB], expected: Set<String>,
                 file: StaticString = #filePath, line: UInt = #line) {
    let shown = tiles(manifest, at: time)
    XCTAssertEqual(Set(shown.map(\.participantID)), expected, "participants tiled at \(time) s", file: file, line: line)
    for tile in shown {
        guard let color = colors[tile.participantID] else { continue }
        assertColor(decoded.pictures[time], tile.x + tile.width / 2, tile.y + tile.height / 2, color,
                    "\(tile.participantID) at \(time) s", file: file, line: line)
    }
}
