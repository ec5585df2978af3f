/// What one case concluded.
public enum CaseVerdict: Sendable {
    case pass
    /// The case could not be generated validly (an exhausted filter); counted, not judged.
    case discard
    case fail(CaseFailure)
}

/// Why a case failed, and, when the stream `recordsTrace`, the readable steps that led there.
public struct CaseFailure: Sendable, Equatable {
    public var message: String
    public var trace: [String]

    public init(message: String, trace: [String] = []) {
        self.message = message
        self.trace = trace
    }
}

/// A test case as the engine sees it: draw from the stream, run, judge. Properties and state
/// machines both compile down to this, so generation, shrinking and replay are shared.
public typealias TestCase = (ChoiceStream) -> CaseVerdict
