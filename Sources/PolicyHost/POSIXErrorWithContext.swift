#if canImport(Glibc)
import Glibc
#endif

/// An errno with the operation that failed.
public struct POSIXErrorWithContext: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var code: Int32
    public init(operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }
    public var description: String { "\(operation): \(String(cString: strerror(code))) (errno \(code))" }
}
