import ArgumentParser
import Foundation
import Logging
import ObjectStore
import Spool

/// `--storage s3://BUCKET/PREFIX --s3-endpoint URL [--s3-region R] [--s3-credentials FILE]`, shared by
/// `ctlive bot`, `ctlive recordings upload` and `ctlive recordings verify`.
struct StorageOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Object storage for recordings: every finished part goes up under PREFIX/<date>/<recording id>/.", valueName: "s3://BUCKET/PREFIX"))
    var storage: String?

    @Option(name: .customLong("s3-endpoint"), help: ArgumentHelp("The S3-compatible store's URL (SeaweedFS, MinIO, AWS).", valueName: "URL"))
    var endpoint: String?

    @Option(name: .customLong("s3-region"), help: "The store's region (SigV4 signs it).")
    var region = "us-east-1"

    @Option(name: .customLong("s3-credentials"), help: ArgumentHelp("A file of AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… lines (default: those environment variables).", valueName: "FILE"))
    var credentials: String?

    func validate() throws {
        guard let storage else {
            if endpoint != nil { throw ValidationError("--s3-endpoint needs --storage s3://BUCKET/PREFIX") }
            return
        }
        do { _ = try StorageLocation(url: storage) } catch { throw ValidationError("\(error)") }
        guard let endpoint, let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ValidationError("--storage needs --s3-endpoint http(s)://HOST:PORT")
        }
    }

    /// The store and where in it, or nil without `--storage`.
    func open() throws -> (client: S3Client, location: StorageLocation)? {
        guard let storage, let endpoint, let url = URL(string: endpoint) else { return nil }
        do {
            return (S3Client(endpoint: url, region: region, credentials: try S3Credentials.load(file: credentials)), try StorageLocation(url: storage))
        } catch { throw CommandFailure.exit("\(error)") }
    }
}
