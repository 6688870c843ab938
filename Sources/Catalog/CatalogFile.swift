import Foundation
import GRDB
import Logging

/// Opens the catalog's SQLite file: migrates it to the current schema, and replaces a missing or damaged
/// one with a new empty file that the caller must fill by a rebuild.
enum CatalogFile {
    struct Opened {
        var database: DatabaseQueue
        /// True when the file was created just now or replaced: its contents must be rebuilt.
        var needsRebuild: Bool
    }

    static func open(_ path: String, logger: Logger) throws -> Opened {
        if !FileManager.default.fileExists(atPath: path) {
            logger.warning("catalog \(path) is missing: rebuilding it from the manifests on disk")
            return Opened(database: try create(path, logger: logger), needsRebuild: true)
        }
        do {
            return Opened(database: try migrated(path, logger: logger), needsRebuild: false)
        } catch {
            let aside = path + ".damaged"
            logger.warning("catalog \(path) is damaged (\(error)): moved to \(aside), rebuilding it from the manifests on disk")
            try moveAside(path, to: aside)
            return Opened(database: try create(path, logger: logger), needsRebuild: true)
        }
    }

    /// A new catalog file at the current schema.
    private static func create(_ path: String, logger: Logger) throws -> DatabaseQueue {
        do { return try migrated(path, logger: logger) } catch {
            throw CatalogError(path: path, problem: "cannot create the catalog: \(error)")
        }
    }

    /// The file opened and migrated to the current schema; throws when it is not a catalog.
    private static func migrated(_ path: String, logger: Logger) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        let database = try DatabaseQueue(path: path, configuration: configuration)
        try database.write { db in
            // Reading the schema first fails at once on a file that is not a database.
            _ = try db.tableExists("recordings")
        }
        let migrator = CatalogSchema.migrator
        try migrator.migrate(database)
        try database.read(CatalogSchema.check)
        if try database.read(migrator.hasBeenSuperseded) {
            logger.warning("catalog \(path) was written by a newer version (migrations unknown here): using it as it is")
        }
        return database
    }

    /// Moves a damaged file (and SQLite's side files) out of the way, keeping it for inspection.
    private static func moveAside(_ path: String, to aside: String) throws {
        let manager = FileManager.default
        for suffix in ["", "-journal", "-wal", "-shm"] where manager.fileExists(atPath: path + suffix) {
            try? manager.removeItem(atPath: aside + suffix)
            do { try manager.moveItem(atPath: path + suffix, toPath: aside + suffix) } catch {
                throw CatalogError(path: path + suffix, problem: "damaged catalog cannot be moved aside: \(error.localizedDescription)")
            }
        }
    }
}
