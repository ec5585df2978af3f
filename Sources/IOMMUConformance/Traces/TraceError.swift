/// A trace line that cannot be read: which line, which field, what was expected.
/// A malformed trace changes nothing; it is reported, never half-applied.
public struct TraceError: Error, Hashable, Sendable, CustomStringConvertible {
    public let line: Int
    public let field: String?
    public let message: String

    public init(line: Int, field: String? = nil, _ message: String) {
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String {
        if let field { return "line \(line), field '\(field)': \(message)" }
        return "line \(line): \(message)"
    }
}
