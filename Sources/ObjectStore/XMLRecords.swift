import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// S3's XML replies, read as flat records: each element named `record` becomes a dictionary of its
/// children's text (`Key`, `UploadId`, `PartNumber`, …). Enough for S3's list and error replies, which
/// are one level of records under the root.
struct XMLRecords {
    /// The records, in document order.
    var records: [[String: String]] = []
    /// The text of every element not inside a record (the last one wins), such as `UploadId` or `IsTruncated`.
    var top: [String: String] = [:]

    init(_ data: Data, record: String) throws {
        let delegate = Collector(record: record)
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        guard parser.parse() else { throw ObjectStoreError(operation: "parse", detail: "a reply that is not XML: \(String(decoding: data.prefix(200), as: UTF8.self))") }
        records = delegate.records
        top = delegate.top
    }

    private final class Collector: NSObject, XMLParserDelegate {
        let record: String
        var records: [[String: String]] = []
        var top: [String: String] = [:]
        var current: [String: String]?
        var text = ""

        init(record: String) { self.record = record }

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            if name == record { current = [:] }
            text = ""
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == record, let done = current {
                records.append(done)
                current = nil
            } else if current != nil {
                current?[name] = text
            } else {
                top[name] = text
            }
            text = ""
        }
    }
}
