/// Shrinks a failing choice sequence toward the shortlex-smallest one that still fails:
/// fewer choices first, then lexicographically smaller values.
///
/// Every candidate is re-run through the test case, so every shrunk case is one the generators
/// can produce (Hypothesis's design, `internal/conjecture/shrinker.py`). The passes are small
/// named functions in `Shrinker+Passes.swift`; this type is their loop and their budget.
/// Deterministic: the passes run in a fixed order; only an exhausted time budget cuts a run short.
public struct Shrinker {
    public struct Budget: Sendable {
        /// Test-case runs allowed.
        public var runs: Int
        /// Wall-clock limit.
        public var seconds: Double

        public init(runs: Int = 20_000, seconds: Double = 60) {
            self.runs = runs
            self.seconds = seconds
        }
    }

    /// What shrinking produced.
    public struct Result: Sendable {
        public let choices: [UInt64]
        public let runs: Int
        public let seconds: Double
        /// True when the budget ran out before the passes reached a fixed point.
        public let budgetExhausted: Bool
    }

    let testCase: TestCase
    let maxChoices: Int
    let budget: Budget
    let started: ContinuousClock.Instant
    private(set) var best: [UInt64]
    private(set) var bounds: [UInt64] = []
    private(set) var spans: [Span] = []
    private(set) var runs = 0
    private(set) var exhausted = false
    private var tried: Set<[UInt64]> = []
    /// Told (runs so far, best length in choices) every `progressInterval` runs.
    public var progress: ((Int, Int) -> Void)?
    public var progressInterval = 200

    /// `failing` must fail when replayed.
    public init(testCase: @escaping TestCase, failing: [UInt64], maxChoices: Int = 100_000, budget: Budget = Budget()) {
        self.testCase = testCase
        self.maxChoices = maxChoices
        self.budget = budget
        self.started = .now
        self.best = failing
        // Replay once to learn spans and bounds; if it no longer fails, there is nothing to shrink.
        let stream = ChoiceStream(.replay(failing), maxChoices: maxChoices, recordsSpans: true)
        runs = 1
        if case .fail = testCase(stream) {
            best = stream.choices
            bounds = stream.bounds
            spans = stream.spans
        }
    }

    /// Runs the passes until none improves or the budget is spent.
    public mutating func shrink() -> Result {
        var improved = true
        while improved && !exhausted {
            improved = false
            for pass in Self.passes {
                if exhausted { break }
                if pass(&self) { improved = true }
            }
        }
        let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - started).components.seconds)
        return Result(choices: best, runs: runs, seconds: seconds, budgetExhausted: exhausted)
    }

    /// Runs `candidate` if it is smaller than the best and new; keeps it if it fails.
    /// Returns true when the best improved.
    mutating func consider(_ candidate: [UInt64]) -> Bool {
        if exhausted { return false }
        if runs >= budget.runs || ContinuousClock.now - started >= .seconds(budget.seconds) {
            exhausted = true
            return false
        }
        guard Self.shortlexLess(candidate, best), tried.insert(candidate).inserted else { return false }
        runs += 1
        if let progress, runs % progressInterval == 0 { progress(runs, best.count) }
        let stream = ChoiceStream(.replay(candidate), maxChoices: maxChoices, recordsSpans: true)
        guard case .fail = testCase(stream), !stream.isDiscarded else { return false }
        let used = stream.choices
        guard Self.shortlexLess(used, best) else { return false }
        best = used
        bounds = stream.bounds
        spans = stream.spans
        return true
    }

    /// Shorter is smaller; equal lengths compare lexicographically.
    static func shortlexLess(_ a: [UInt64], _ b: [UInt64]) -> Bool {
        if a.count != b.count { return a.count < b.count }
        for (x, y) in zip(a, b) where x != y { return x < y }
        return false
    }
}
