import Foundation
import PropertyCheck

/// What `--json` prints: one object per surface checked (run, replay, shrink) or per trace
/// (verify). Keys are stable; scripts may rely on them (docs/TRACES.md lists them).
struct FailureJSON: Codable {
    var message: String
    var trace: [String]
    var steps: Int
    var choicesBase64: String
    var originalChoices: Int
    var shrunkChoices: Int
    var shrinkRuns: Int
    var shrinkSeconds: Double
    var replay: String
    var savedTo: String?

    init(_ failure: FailureReport) {
        message = failure.message
        trace = failure.trace
        steps = failure.trace.count
        choicesBase64 = failure.base64
        originalChoices = failure.originalChoiceCount
        shrunkChoices = failure.choices.count
        shrinkRuns = failure.shrink.runs
        shrinkSeconds = failure.shrink.seconds
        replay = failure.replayCommand
        savedTo = failure.savedTo
    }
}

struct CheckJSON: Codable {
    var surface: String
    var implementation: String
    var passed: Bool
    var seed: UInt64
    var cases: Int
    /// Cases that ended at a map the implementation accepted and could not carry out.
    var endedEarly: Int
    var operations: Int
    var seconds: Double
    var operationsPerSecond: Int
    var failure: FailureJSON?
    var healthProblems: [String]
    var errors: [String]
    var traceWrittenTo: String?

    init(surface: String, implementation: String, report: CheckReport, traceWrittenTo: String? = nil) {
        self.surface = surface
        self.implementation = implementation
        passed = report.passed
        seed = report.seed
        cases = report.casesRun
        endedEarly = report.statistics.stoppedCases
        operations = report.statistics.totalCommands
        seconds = report.seconds
        operationsPerSecond = Int(Double(operations) / max(report.seconds, 1e-9))
        failure = report.failure.map(FailureJSON.init)
        healthProblems = report.healthProblems
        errors = report.errors
        self.traceWrittenTo = traceWrittenTo
    }

    /// A surface that could not be checked at all.
    init(surface: String, implementation: String, error: String) {
        (self.surface, self.implementation, passed, seed, cases, endedEarly, operations, seconds, operationsPerSecond) = (surface, implementation, false, 0, 0, 0, 0, 0, 0)
        healthProblems = []
        errors = [error]
    }
}

/// Prints `value` as pretty JSON with sorted keys, so output is byte-for-byte repeatable.
func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    print(String(decoding: data, as: UTF8.self))
}
