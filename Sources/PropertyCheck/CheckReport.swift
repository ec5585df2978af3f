import Foundation

/// The outcome of a check: statistics, and the shrunk failure or the health problems, if any.
public struct CheckReport: Sendable, CustomStringConvertible {
    public let name: String
    public let seed: UInt64
    public let casesRun: Int
    public let statistics: Statistics
    public let failure: FailureReport?
    public let healthProblems: [String]
    /// Problems that kept the run from starting or finishing normally (an unreadable regression
    /// directory, say).
    public let errors: [String]
    public let seconds: Double
    /// The run replayed one given choice sequence instead of generating cases: its statistics
    /// are one case's, so coverage expectations do not apply.
    public let replayed: Bool
    /// Why the check ran nothing (a replay asked for another check), if it did not run.
    public let notRun: String?
    /// A stop was requested (`CheckConfiguration.stopRequested`) before every case ran: the
    /// statistics are those of the cases before it.
    public let interrupted: Bool

    public init(name: String, seed: UInt64, casesRun: Int, statistics: Statistics, failure: FailureReport?, healthProblems: [String], errors: [String],
                seconds: Double, replayed: Bool = false, notRun: String? = nil, interrupted: Bool = false) {
        self.name = name
        self.seed = seed
        self.casesRun = casesRun
        self.statistics = statistics
        self.failure = failure
        self.healthProblems = healthProblems
        self.errors = errors
        self.seconds = seconds
        self.replayed = replayed
        self.notRun = notRun
        self.interrupted = interrupted
    }

    public var passed: Bool { failure == nil && healthProblems.isEmpty && errors.isEmpty }

    /// Whether the run generated cases, so its statistics mean something (not a replay, and not
    /// a check that ran nothing because a replay asked for another).
    public var generated: Bool { !replayed && notRun == nil }

    public var description: String {
        if let notRun { return "check '\(name)': not run: \(notRun)" }
        let verdict = interrupted && passed ? "interrupted, no failure" : passed ? "passed" : "FAILED"
        var lines = ["check '\(name)': \(verdict) after \(casesRun) cases in \(String(format: "%.2f", seconds)) s (seed \(seed))"]
        lines += errors.map { "error: \($0)" }
        if let failure { lines.append(failure.description) }
        if !healthProblems.isEmpty {
            lines.append("health check failed: the run was vacuous")
            lines += healthProblems.map { "  - \($0)" }
        }
        lines.append(statistics.summary)
        return lines.joined(separator: "\n")
    }
}

/// A failure after shrinking: everything needed to understand and replay it.
public struct FailureReport: Sendable, CustomStringConvertible {
    public enum Origin: Sendable, Equatable {
        case generated(caseIndex: Int)
        case regression(path: String)
        /// A shipped corpus input (`CheckConfiguration.corpus`).
        case corpus(name: String)
        case replay
    }

    public let origin: Origin
    public let seed: UInt64
    public let message: String
    /// Readable steps of the shrunk case.
    public let trace: [String]
    public let choices: [UInt64]
    /// `choices` in the byte format of corpus files.
    public let bytes: [UInt8]
    public let originalChoiceCount: Int
    public let shrink: Shrinker.Result
    public let replayCommand: String
    public let savedTo: String?

    public var base64: String { Data(bytes).base64EncodedString() }

    public var description: String {
        var lines: [String] = []
        switch origin {
        case .generated(let index): lines.append("failure in case \(index) of seed \(seed) (0x\(String(seed, radix: 16)))")
        case .regression(let path): lines.append("failure replaying saved regression \(path)")
        case .corpus(let name): lines.append("failure replaying corpus input \(name)")
        case .replay: lines.append("failure replaying the given choice sequence")
        }
        lines.append("  \(message)")
        lines.append("shrunk from \(originalChoiceCount) to \(choices.count) choices in \(shrink.runs) runs, \(String(format: "%.3f", shrink.seconds)) s\(shrink.budgetExhausted ? " (budget exhausted: may not be minimal)" : "")")
        lines.append("trace (\(trace.count) steps):")
        lines += trace.enumerated().map { "  \($0.offset + 1). \($0.element)" }
        lines.append("choices (base64): \(base64)")
        lines.append("replay: \(replayCommand)")
        if let savedTo { lines.append("saved: \(savedTo)") }
        return lines.joined(separator: "\n")
    }
}
