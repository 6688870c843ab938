import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// What went wrong talking to the store: the operation, the HTTP status and S3's error code when it
/// answered, or why it could not be reached.
public struct ObjectStoreError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var status: Int?
    public var code: String?
    public var detail: String

    public init(operation: String, status: Int? = nil, code: String? = nil, detail: String) {
        (self.operation, self.status, self.code, self.detail) = (operation, status, code, detail)
    }

    public var description: String {
        "\(operation): " + [status.map { "HTTP \($0)" }, code, detail.isEmpty ? nil : detail].compactMap { $0 }.joined(separator: " ")
    }
}

/// `s3://BUCKET/PREFIX`: where a fleet's recordings go.
public struct StorageLocation: Sendable, Equatable, CustomStringConvertible {
    public var bucket: String
    /// No leading or trailing slash; may be empty.
    public var prefix: String

    public init(bucket: String, prefix: String) {
        self.bucket = bucket
        self.prefix = prefix.split(separator: "/").joined(separator: "/")
    }

    public init(url: String) throws {
        guard url.hasPrefix("s3://") else { throw ObjectStoreError(operation: "storage", detail: "\(url) is not s3://BUCKET/PREFIX") }
        let rest = url.dropFirst(5).split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let bucket = String(rest.first ?? "")
        // S3's bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens.
        guard (3...63).contains(bucket.count), bucket.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." }) else {
            throw ObjectStoreError(operation: "storage", detail: "\(url): the bucket name must be 3-63 lower-case letters, digits, dots or hyphens")
        }
        self.init(bucket: bucket, prefix: rest.count > 1 ? String(rest[1]) : "")
    }

    /// The key of `name` under the prefix.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "/" + name }
    public var description: String { "s3://\(bucket)/\(prefix)" }

    /// Where `url` (`s3://BUCKET/KEY…`) is under this location, without slashes at either end; nil when it is
    /// in another bucket or outside the prefix.
    public func relative(of url: String) -> String? {
        guard let other = try? StorageLocation(url: url), other.bucket == bucket else { return nil }
        if prefix.isEmpty { return other.prefix }
        guard other.prefix.hasPrefix(prefix + "/") else { return nil }
        return String(other.prefix.dropFirst(prefix.count + 1))
    }
}

/// Access keys, from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` or a file of `KEY=value` lines.
public struct S3Credentials: Sendable {
    public var accessKey: String
    public var secretKey: String

    public init(accessKey: String, secretKey: String) { (self.accessKey, self.secretKey) = (accessKey, secretKey) }

    /// From `file` (lines `AWS_ACCESS_KEY_ID=…`, `AWS_SECRET_ACCESS_KEY=…`) when given, else the environment.
    public static func load(file: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> S3Credentials {
        var values = environment
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ObjectStoreError(operation: "credentials", detail: "cannot read \(file)")
            }
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2 { values[parts[0]] = parts[1] }
            }
        }
        guard let access = values["AWS_ACCESS_KEY_ID"], !access.isEmpty, let secret = values["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
            throw ObjectStoreError(operation: "credentials", detail: "no AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (environment or credentials file)")
        }
        return S3Credentials(accessKey: access, secretKey: secret)
    }
}

/// An object as the store describes it.
public struct StoredObject: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Our own `x-amz-meta-sha256`: the whole object's SHA-256, hex.
    public var sha256: String?
}

/// A small S3 client (path-style, SigV4) with what a recorder needs: put with a SHA-256 the store checks,
/// multipart uploads, head, streamed get, list, and bucket creation. Tested against SeaweedFS.
public struct S3Client: Sendable {
    public let endpoint: URL
    public let signer: SigV4Signer
    let http: HTTPClient
    /// Parts of a multipart upload (S3's minimum is 5 MiB, but for the last).
    public static let partSize = 8 << 20
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// One client for the process: connections to the store are reused, and a store that is down fails a
    /// request within seconds (the caller retries with backoff), instead of the default minute and a half.
    public static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(60))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(endpoint: URL, region: String = "us-east-1", credentials: S3Credentials, http: HTTPClient = S3Client.http) {
        self.endpoint = endpoint
        signer = SigV4Signer(SigV4(accessKey: credentials.accessKey, secretKey: credentials.secretKey, region: region))
        self.http = http
    }

    // MARK: Objects

    /// Puts `body` at `key`; the store checks `x-amz-checksum-sha256` and refuses a body that does not match.
    public func putObject(bucket: String, key: String, body: Data, contentType: String = "application/octet-stream") async throws {
        let digest = Data(SHA256.hash(data: body))
        _ = try await send("PUT", bucket: bucket, key: key, body: body, bodySHA256: digest, headers: [
            "Content-Type": contentType, "x-amz-checksum-sha256": digest.base64EncodedString(), "x-amz-meta-sha256": SigV4.hex(digest),
        ], operation: "put \(key)")
    }

    public func headObject(bucket: String, key: String) async throws -> StoredObject? {
        do {
            let reply = try await send("HEAD", bucket: bucket, key: key, operation: "head \(key)")
            return StoredObject(key: key, size: Int64(reply.headers.first(name: "content-length") ?? "") ?? -1, sha256: reply.headers.first(name: "x-amz-meta-sha256"))
        } catch let error as ObjectStoreError where error.status == 404 {
            return nil
        }
    }

    /// Streams `key` into the file at `path` (never whole in memory); returns its size.
    @discardableResult
    public func getObject(bucket: String, key: String, to path: String) async throws -> Int64 {
        let request = try request("GET", bucket: bucket, key: key, query: [], headers: [:], bodySHA256: nil, body: nil)
        let response = try await execute(request, operation: "get \(key)")
        guard response.status == .ok else {
            let body = try await response.body.collect(upTo: 64 << 10)
            throw Self.failure("get \(key)", status: response.status, body: Data(buffer: body))
        }
        guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
            throw ObjectStoreError(operation: "get \(key)", detail: "cannot write \(path)")
        }
        defer { try? file.close() }
        var size: Int64 = 0
        for try await chunk in response.body {
            try file.write(contentsOf: Data(buffer: chunk))
            size += Int64(chunk.readableBytes)
        }
        return size
    }

    public func deleteObject(bucket: String, key: String) async throws {
        _ = try await send("DELETE", bucket: bucket, key: key, operation: "delete \(key)")
    }

    /// Every object under `prefix` (ListObjectsV2, following continuation tokens).
    public func listObjects(bucket: String, prefix: String) async throws -> [StoredObject] {
        var out: [StoredObject] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let reply = try await send("GET", bucket: bucket, query: query, operation: "list \(prefix)")
            let xml = try XMLRecords(reply.body, record: "Contents")
            out += xml.records.compactMap { record in record["Key"].map { StoredObject(key: $0, size: Int64(record["Size"] ?? "") ?? -1) } }
            token = xml.top["IsTruncated"] == "true" ? xml.top["NextContinuationToken"] : nil
        } while token != nil
        return out
    }

    /// Creates `bucket`; one that exists already (and is ours) is fine.
    public func createBucket(_ bucket: String) async throws {
        do { _ = try await send("PUT", bucket: bucket, operation: "create bucket \(bucket)") } catch let error as ObjectStoreError
            where ["BucketAlreadyOwnedByYou", "BucketAlreadyExists"].contains(error.code ?? "") {}
    }

    // MARK: Multipart

    public struct UploadedPart: Sendable, Equatable, Codable {
        public var number: Int
        public var etag: String
        public var sha256: String
    }

    public func createMultipartUpload(bucket: String, key: String, sha256: String) async throws -> String {
        let reply = try await send("POST", bucket: bucket, key: key, query: [("uploads", "")],
                                   headers: ["x-amz-checksum-algorithm": "SHA256", "x-amz-meta-sha256": sha256], operation: "start upload of \(key)")
        guard let id = try XMLRecords(reply.body, record: "-").top["UploadId"], !id.isEmpty else {
            throw ObjectStoreError(operation: "start upload of \(key)", detail: "no UploadId in the reply")
        }
        return id
    }

    /// Uploads part `number`; the store checks its SHA-256.
    public func uploadPart(bucket: String, key: String, uploadID: String, number: Int, body: Data) async throws -> UploadedPart {
        let digest = Data(SHA256.hash(data: body))
        let reply = try await send("PUT", bucket: bucket, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: body,
                                   bodySHA256: digest, headers: ["x-amz-checksum-sha256": digest.base64EncodedString()], operation: "upload part \(number) of \(key)")
        guard let etag = reply.headers.first(name: "etag") else { throw ObjectStoreError(operation: "upload part \(number) of \(key)", detail: "no ETag") }
        return UploadedPart(number: number, etag: etag, sha256: digest.base64EncodedString())
    }

    public func completeMultipartUpload(bucket: String, key: String, uploadID: String, parts: [UploadedPart]) async throws {
        let body = "<CompleteMultipartUpload>" + parts.sorted { $0.number < $1.number }.map {
            "<Part><PartNumber>\($0.number)</PartNumber><ETag>\($0.etag)</ETag><ChecksumSHA256>\($0.sha256)</ChecksumSHA256></Part>"
        }.joined() + "</CompleteMultipartUpload>"
        let data = Data(body.utf8)
        let reply = try await send("POST", bucket: bucket, key: key, query: [("uploadId", uploadID)], body: data, bodySHA256: Data(SHA256.hash(data: data)),
                                   headers: ["Content-Type": "application/xml"], operation: "complete upload of \(key)")
        // S3 may answer 200 with an <Error> body when the completion failed late.
        if let code = try? XMLRecords(reply.body, record: "-").top["Code"], !code.isEmpty {
            throw ObjectStoreError(operation: "complete upload of \(key)", status: 200, code: code, detail: "")
        }
    }

    public func abortMultipartUpload(bucket: String, key: String, uploadID: String) async throws {
        do { _ = try await send("DELETE", bucket: bucket, key: key, query: [("uploadId", uploadID)], operation: "abort upload of \(key)") } catch let error as ObjectStoreError
            where error.code == "NoSuchUpload" {}
    }

    /// Multipart uploads begun under `prefix` and neither completed nor aborted.
    public func listMultipartUploads(bucket: String, prefix: String) async throws -> [(key: String, uploadID: String)] {
        let reply = try await send("GET", bucket: bucket, query: [("uploads", ""), ("prefix", prefix)], operation: "list uploads under \(prefix)")
        return try XMLRecords(reply.body, record: "Upload").records.compactMap { record in
            guard let key = record["Key"], let id = record["UploadId"] else { return nil }
            return (key, id)
        }
    }

    /// The parts the store holds of an upload: number → ETag.
    public func listParts(bucket: String, key: String, uploadID: String) async throws -> [Int: String] {
        let reply = try await send("GET", bucket: bucket, key: key, query: [("uploadId", uploadID)], operation: "list parts of \(key)")
        var parts: [Int: String] = [:]
        for record in try XMLRecords(reply.body, record: "Part").records {
            if let number = Int(record["PartNumber"] ?? ""), let etag = record["ETag"] { parts[number] = etag }
        }
        return parts
    }

    // MARK: Requests

    struct Reply {
        var headers: HTTPHeaders
        var body: Data
    }

    private func send(_ method: String, bucket: String, key: String? = nil, query: [(String, String)] = [], body: Data? = nil, bodySHA256: Data? = nil,
                      headers: [String: String] = [:], operation: String) async throws -> Reply {
        let request = try request(method, bucket: bucket, key: key, query: query, headers: headers, bodySHA256: bodySHA256, body: body)
        let response = try await execute(request, operation: operation)
        // Replies are small XML documents; object bodies come through getObject, streamed.
        let data = Data(buffer: try await response.body.collect(upTo: 16 << 20))
        guard (200..<300).contains(Int(response.status.code)) else { throw Self.failure(operation, status: response.status, body: data) }
        return Reply(headers: response.headers, body: data)
    }

    private func execute(_ request: HTTPClientRequest, operation: String) async throws -> HTTPClientResponse {
        do { return try await http.execute(request, timeout: .seconds(120)) } catch {
            throw ObjectStoreError(operation: operation, detail: "\(endpoint.absoluteString) unreachable: \(error)")
        }
    }

    private func request(_ method: String, bucket: String, key: String?, query: [(String, String)], headers: [String: String], bodySHA256: Data?,
                         body: Data?) throws -> HTTPClientRequest {
        let path = "/" + bucket + (key.map { "/" + $0 } ?? "")
        var host = endpoint.host ?? "localhost"
        if let port = endpoint.port { host += ":\(port)" }
        let signed = signer.sign(method: method, host: host, path: path, query: query, headers: headers,
                                 payloadSHA256: bodySHA256.map { SigV4.hex($0) } ?? Self.emptySHA256)
        let queryString = query.map { $0.1.isEmpty && $0.0 == "uploads" ? "uploads" : "\(SigV4.encode($0.0))=\(SigV4.encode($0.1))" }.joined(separator: "&")
        let base = endpoint.absoluteString.hasSuffix("/") ? String(endpoint.absoluteString.dropLast()) : endpoint.absoluteString
        var request = HTTPClientRequest(url: base + SigV4.encode(path, keepSlash: true) + (queryString.isEmpty ? "" : "?" + queryString))
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in signed { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(data: body))
            request.headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
        }
        return request
    }

    private static func failure(_ operation: String, status: HTTPResponseStatus, body: Data) -> ObjectStoreError {
        let xml = try? XMLRecords(body, record: "-")
        return ObjectStoreError(operation: operation, status: Int(status.code), code: xml?.top["Code"], detail: xml?.top["Message"] ?? "")
    }
}

/// The signer, shareable across tasks.
public struct SigV4Signer: Sendable {
    let sigV4: SigV4
    init(_ sigV4: SigV4) { self.sigV4 = sigV4 }
    func sign(method: String, host: String, path: String, query: [(String, String)], headers: [String: String], payloadSHA256: String) -> [String: String] {
        sigV4.sign(method: method, host: host, path: path, query: query, headers: headers, payloadSHA256: payloadSHA256)
    }
}
