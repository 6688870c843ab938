import Foundation
import Media

/// Cheap structural checks on untrusted packets, before any decoder sees them.
enum PacketCheck {
    static let maximumSize = 4 << 20

    static func isPlausible(_ data: [UInt8], _ parameters: TrackParameters) -> Bool {
        guard !data.isEmpty, data.count <= maximumSize else { return false }
        switch parameters.codec {
        case .h264:
            if parameters.extradata.first == 1, parameters.extradata.count > 4 {
                return isLengthPrefixed(data, lengthSize: Int(parameters.extradata[4] & 3) + 1)
            }
            return isAnnexB(data)
        case .opus:
            // One to 48 frames of at most 1275 bytes; a code-3 packet needs its frame-count byte.
            return data.count <= 48 * 1275 && (data[0] & 3 != 3 || (data.count >= 2 && data[1] & 0x3F > 0))
        case .aac:
            return true
        }
    }

    /// Starts with a start code, then a NAL header with the forbidden bit clear and a defined type.
    private static func isAnnexB(_ data: [UInt8]) -> Bool {
        let header: Int
        if data.count > 4 && data[0] == 0 && data[1] == 0 && data[2] == 1 {
            header = 3
        } else if data.count > 5 && data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 1 {
            header = 4
        } else {
            return false
        }
        let nal = data[header]
        return nal & 0x80 == 0 && (1...23).contains(nal & 0x1F)
    }

    /// NAL units with big-endian length prefixes that exactly fill the packet.
    private static func isLengthPrefixed(_ data: [UInt8], lengthSize: Int) -> Bool {
        var offset = 0
        while offset < data.count {
            guard offset + lengthSize < data.count else { return false }
            var length = 0
            for byte in data[offset..<offset + lengthSize] { length = length << 8 | Int(byte) }
            offset += lengthSize
            guard length > 0, offset + length <= data.count, data[offset] & 0x80 == 0 else { return false }
            offset += length
        }
        return true
    }
}

/// A string made safe as one path component.
func safeFileName(_ text: String) -> String {
    let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    var name = String(text.prefix(64).map { allowed.contains($0) ? $0 : "_" })
    if name.isEmpty || name.allSatisfy({ $0 == "." }) { name = "_" + name }
    return name
}
