/// The result of judging a recorded trace offline: how many steps were checked, and the first
/// line whose recorded outcome the model does not accept.
public struct TraceVerdict: Sendable, CustomStringConvertible {
    public struct Problem: Sendable {
        public let line: Int
        public let message: String
    }

    public let checkedSteps: Int
    public let problem: Problem?

    public var conforms: Bool { problem == nil }

    public var description: String {
        guard let problem else { return "conforms: \(checkedSteps) steps checked" }
        return "does not conform at line \(problem.line) (after \(checkedSteps) conforming steps): \(problem.message)"
    }
}
