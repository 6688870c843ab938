import Foundation

/// What went wrong with the catalog or a recording's files, naming the file involved.
public struct CatalogError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file or directory the problem is about.
    public var path: String
    /// What is wrong with it.
    public var problem: String

    /// A problem with the file at `path`.
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
