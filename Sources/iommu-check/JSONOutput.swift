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
    /// The generated case that failed (nil: a replayed or saved input).
    var caseIndex: Int?

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
        if case .generated(let index) = failure.origin { caseIndex = index }
    }
}

/// A run's statistics: per operation kind how often it ran and succeeded, per "kind: outcome"
/// how often it came back, and the labelled events.
struct StatisticsJSON: Codable {
    struct Kind: Codable {
        var run: Int
        var accepted: Int
    }

    var cases: Int
    var kinds: [String: Kind]
    var outcomes: [String: Int]
    var events: [String: Int]
    var discardedCases: Int
    var overruns: Int
    var preconditionSkips: Int

    init(_ statistics: Statistics) {
        cases = statistics.cases
        kinds = statistics.commands.reduce(into: [:]) { $0[$1.key] = Kind(run: $1.value, accepted: statistics.accepted[$1.key] ?? 0) }
        outcomes = Dictionary(uniqueKeysWithValues: statistics.outcomes.map { ($0.key.description, $0.value) })
        events = statistics.events
        discardedCases = statistics.discardedCases
        overruns = statistics.overruns
        preconditionSkips = statistics.preconditionSkips
    }

    /// The statistics these were made from (`stoppedCases` is the report's `endedEarly`).
    func statistics(stoppedCases: Int) -> Statistics {
        Statistics(cases: cases, discardedCases: discardedCases, commands: kinds.mapValues(\.run), accepted: kinds.mapValues(\.accepted),
                   outcomes: Dictionary(outcomes.compactMap { key, count in OutcomeKey(spelled: key).map { ($0, count) } }, uniquingKeysWith: +), events: events, preconditionSkips: preconditionSkips, overruns: overruns, stoppedCases: stoppedCases)
    }
}

struct CheckJSON: Codable {
    var surface: String
    var implementation: String
    var passed: Bool
    /// A string: seeds go past 2^53, where JSON readers that use doubles (jq) change them.
    var seed: String
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
    var statistics: StatisticsJSON?
    /// The run stopped at SIGINT: the statistics are those of the cases before it.
    var interrupted: Bool?
    /// The cases this run was asked for: `firstCase` ..< `firstCase + plannedCases` of the seed.
    var firstCase: Int?
    var plannedCases: Int?
    /// "K/N" for one of N shards of a campaign (`run --shard`), merged by `iommu-check merge`.
    var shard: String?

    init(surface: String, implementation: String, report: CheckReport, traceWrittenTo: String? = nil) {
        self.surface = surface
        self.implementation = implementation
        passed = report.passed
        seed = String(report.seed)
        cases = report.casesRun
        endedEarly = report.statistics.stoppedCases
        operations = report.statistics.totalCommands
        seconds = report.seconds
        operationsPerSecond = Int(Double(operations) / max(report.seconds, 1e-9))
        failure = report.failure.map(FailureJSON.init)
        healthProblems = report.healthProblems
        errors = report.errors
        self.traceWrittenTo = traceWrittenTo
        statistics = StatisticsJSON(report.statistics)
        interrupted = report.interrupted ? true : nil
    }

    /// A surface that could not be checked at all.
    init(surface: String, implementation: String, error: String) {
        (self.surface, self.implementation, passed, seed, cases, endedEarly, operations, seconds, operationsPerSecond) = (surface, implementation, false, "0", 0, 0, 0, 0, 0)
        healthProblems = []
        errors = [error]
    }
}

/// Prints `value` as pretty JSON with sorted keys: the same run prints the same bytes, but for
/// its timings (`seconds`, `operationsPerSecond`, `shrinkSeconds`).
func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    print(String(decoding: data, as: UTF8.self))
}
