import Foundation

/// An evidence bundle: one tar file holding a recording and everything needed to check it on a
/// machine with nothing else (docs/EVIDENCE.md). Files sit in one folder named after the recording.
public enum EvidenceBundle {
    /// What a bundle holds, when present: the record (the originals), the composite and its signed
    /// derivation, its manifest, seals and signature, the review page, the signer's public key, and
    /// its chain entries with their neighbours (`chain.jsonl`).
    public static let memberNames = ["originals.ctlo", "recording.mp4", "composite.json", "manifest.json", "manifest.sig", "completion.json", "seals.jsonl", "review.html", "contactsheet.png",
                                     "purged.json", "public-key.pub", "chain.jsonl"]

    /// Writes `files` (name → contents) under `folder/` into a tar file at `path`.
    public static func write(path: String, folder: String, files: [(name: String, data: Data)]) throws {
        var out = Data()
        for (name, data) in files {
            out += try header(name: "\(folder)/\(name)", size: data.count)
            out += data
            out += Data(count: (512 - data.count % 512) % 512)
        }
        out += Data(count: 1024)  // two empty blocks end the archive
        guard FileManager.default.createFile(atPath: path, contents: out) else { throw EvidenceError("cannot write \(path)") }
    }

    /// Reads a bundle: the folder name and its files. Only regular files in one folder (its folder entry, as
    /// GNU tar writes it, is accepted), at most 4 GiB in all; any other member (a link, a path out of the
    /// folder, a second folder) is refused.
    public static func read(path: String) throws -> (folder: String, files: [String: Data]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw EvidenceError("cannot read \(path)") }
        var files: [String: Data] = [:]
        var folder: String?
        var offset = 0
        while offset + 512 <= data.count {
            let block = data[offset..<offset + 512]
            if block.allSatisfy({ $0 == 0 }) { break }
            let name = field(block, 0, 100)
            let prefix = field(block, 345, 155)
            let full = prefix.isEmpty ? name : prefix + "/" + name
            guard let size = Int(field(block, 124, 12).trimmingCharacters(in: .whitespaces), radix: 8), size >= 0,
                offset + 512 + size <= data.count
            else { throw EvidenceError("\(path): a damaged tar header at byte \(offset)") }
            let type = block[block.startIndex + 156]
            var parts = full.split(separator: "/").map(String.init)
            if parts.first == "." { parts.removeFirst() }  // `tar -C dir -cf b.tar .` writes ./rm-…/…
            // Folder entries, as GNU tar and others write them: the one folder (and `./`) only, nothing kept.
            if type == UInt8(ascii: "5") {
                guard parts.count <= 1, !parts.contains("..") else { throw EvidenceError("\(path): unexpected member \(full)") }
                if let name = parts.first {
                    if folder == nil { folder = name }
                    guard folder == name else { throw EvidenceError("\(path): members of more than one recording") }
                }
                offset += 512 + (size + 511) / 512 * 512
                continue
            }
            guard type == UInt8(ascii: "0") || type == 0, parts.count == 2, !parts.contains(".."), !parts[1].hasPrefix(".") else {
                throw EvidenceError("\(path): unexpected member \(full)")
            }
            if folder == nil { folder = parts[0] }
            guard folder == parts[0] else { throw EvidenceError("\(path): members of more than one recording") }
            files[parts[1]] = data[offset + 512..<offset + 512 + size]
            offset += 512 + (size + 511) / 512 * 512
        }
        guard let folder else { throw EvidenceError("\(path): an empty bundle") }
        return (folder, files)
    }

    private static func header(name: String, size: Int) throws -> Data {
        guard name.utf8.count < 100 else { throw EvidenceError("name too long for a bundle: \(name)") }
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ at: Int, _ length: Int) {
            for (index, byte) in text.utf8.prefix(length).enumerated() { block[at + index] = byte }
        }
        put(name, 0, 100)
        put("0000644", 100, 8)
        put("0000000", 108, 8)
        put("0000000", 116, 8)
        put(String(format: "%011o", size), 124, 12)
        put(String(format: "%011o", Int(Date().timeIntervalSince1970)), 136, 12)
        put("        ", 148, 8)  // the checksum counts its own field as spaces
        block[156] = UInt8(ascii: "0")
        put("ustar", 257, 6)
        put("00", 263, 2)
        let checksum = block.reduce(0) { $0 + Int($1) }
        put(String(format: "%06o", checksum) + "\0 ", 148, 8)
        return Data(block)
    }

    private static func field(_ block: Data, _ at: Int, _ length: Int) -> String {
        let bytes = block[(block.startIndex + at)..<(block.startIndex + at + length)].prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}
