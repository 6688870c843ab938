import GRDB

/// The catalog's tables, created and changed only through versioned migrations.
///
/// A migration, once released, is never edited: a change of schema is a new migration appended here.
enum CatalogSchema {
    /// Every migration, oldest first.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: recordings, participants, decisions") { db in
            try db.create(table: "recordings") { t in
                t.primaryKey("id", .text)
                t.column("contact", .text).notNull().indexed()
                t.column("directory", .text).notNull().unique()
                t.column("file", .text).notNull()
                t.column("status", .text).notNull()
                t.column("wallClockStart", .text).notNull()
                t.column("wallClockEnd", .text)
                // Seconds since 1970 of wallClockStart, for `--since`.
                t.column("startTime", .double).indexed()
                t.column("durationSeconds", .double)
                t.column("sha256", .text)
                t.column("participantList", .text).notNull()
            }
            try db.create(table: "participants") { t in
                t.column("recordingID", .text).notNull().references("recordings", onDelete: .cascade)
                t.column("participantID", .text).notNull().indexed()
                t.column("name", .text).notNull()
                t.column("role", .text).notNull()
                t.column("joinedAt", .double).notNull()
                t.column("leftAt", .double)
            }
            try db.create(table: "decisions") { t in
                t.primaryKey("decisionID", .text)
                t.column("contact", .text).notNull().indexed()
                t.column("time", .text).notNull()
                t.column("answer", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("fallbackUsed", .boolean).notNull()
                t.column("fallbackCause", .text)
                t.column("chain", .text).notNull()
                t.column("pluginsJSON", .text).notNull()
            }
        }
        migrator.registerMigration("v2: fleet outbox") { db in
            // Recordings indexed here and not yet written to the fleet catalog (PostgreSQL): drained by FleetSync,
            // kept while the fleet catalog is unreachable, so that nothing indexed here is missing there.
            try db.create(table: "fleetOutbox") { t in
                t.primaryKey("directory", .text)
                t.column("queuedAt", .double).notNull()
            }
        }
        return migrator
    }

    /// The columns each table must have; a catalog without them is treated as damaged.
    static let expectedColumns: [String: Set<String>] = [
        "recordings": ["id", "contact", "directory", "file", "status", "wallClockStart", "wallClockEnd", "startTime",
                       "durationSeconds", "sha256", "participantList"],
        "participants": ["recordingID", "participantID", "name", "role", "joinedAt", "leftAt"],
        "decisions": ["decisionID", "contact", "time", "answer", "reason", "fallbackUsed", "fallbackCause", "chain", "pluginsJSON"],
        "fleetOutbox": ["directory", "queuedAt"],
    ]

    /// Throws when `db` lacks a table or column the current schema has.
    static func check(_ db: Database) throws {
        for (table, columns) in expectedColumns {
            guard try db.tableExists(table) else { throw SchemaMismatch(detail: "no table \(table)") }
            let present = Set(try db.columns(in: table).map(\.name))
            let missing = columns.subtracting(present)
            if !missing.isEmpty { throw SchemaMismatch(detail: "table \(table) lacks \(missing.sorted().joined(separator: ", "))") }
        }
    }

    struct SchemaMismatch: Error, CustomStringConvertible {
        var detail: String
        var description: String { "wrong schema: \(detail)" }
    }
}
