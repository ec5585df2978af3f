/// The event prefix of a case the implementation refused (its configuration follows).
public let refusedEvent = "refused: "

/// Thresholds that make a vacuous run fail: a property that passes because it tested nothing is
/// a defect, not a pass (Hypothesis's `filter_too_much`; QuickCheck's coverage checks).
public struct HealthCheck: Sendable {
    /// Fail when more than this share of cases was discarded.
    public var maxDiscardedShare = 0.9
    /// Fail when more than this share of cases was refused by the implementation.
    public var maxRefusedShare = 0.5
    /// Fail when more than this share of cases ended early at a command the implementation
    /// could not carry out (`StepResult.stopped`): such a run checked little past that command.
    public var maxStoppedShare = 0.5
    /// Fail when fewer than this share of all commands was accepted (returned success).
    public var minAcceptedShare = 0.1
    /// Fail when a command kind ran at least `kindSampleSize` times and was never accepted.
    public var requireEveryKindAccepted = true
    public var kindSampleSize = 100
    public var enabled = true

    public init() {}

    /// The problems in `statistics`, each a sentence that says what was vacuous.
    public func problems(in statistics: Statistics) -> [String] {
        guard enabled, statistics.cases > 0 else { return [] }
        var problems: [String] = []
        let discardedShare = Double(statistics.discardedCases) / Double(statistics.cases)
        if discardedShare > maxDiscardedShare {
            problems.append("\(statistics.discardedCases) of \(statistics.cases) cases (\(percent(discardedShare))) were discarded: the generator rarely produces a valid case, so the property was barely tested")
        }
        let refused = statistics.refusals
        let refusedCount = refused.reduce(0) { $0 + $1.count }
        if Double(refusedCount) > maxRefusedShare * Double(statistics.cases) {
            let examples = refused.prefix(3).map { "\($0.configuration) (\($0.count))" }.joined(separator: "; ")
            problems.append("\(refusedCount) of \(statistics.cases) cases (\(percent(Double(refusedCount) / Double(statistics.cases)))) were refused by the implementation (it could not be created for their configuration), in \(refused.count) configurations, most often: \(examples). Fix the settings it supports (--page-size, --address-width, --vectors, ...: docs/PLUGINS.md) so cases draw only those")
        }
        let stoppedShare = Double(statistics.stoppedCases) / Double(statistics.cases)
        if stoppedShare > maxStoppedShare {
            problems.append("\(statistics.stoppedCases) of \(statistics.cases) cases (\(percent(stoppedShare))) ended early at a request the implementation accepted but could not carry out (unobservable): the run checked little past those requests; give the implementation what it needs (memory to pin, a smaller aperture or --steps) so cases run to their end")
        }
        let commands = statistics.totalCommands
        if commands > 0 {
            let acceptedShare = Double(statistics.totalAccepted) / Double(commands)
            if acceptedShare < minAcceptedShare {
                problems.append("only \(statistics.totalAccepted) of \(commands) commands (\(percent(acceptedShare))) were accepted: almost every command was rejected, so the run exercised error paths only")
            }
        }
        if requireEveryKindAccepted {
            for name in statistics.commands.keys.sorted() {
                let n = statistics.commands[name] ?? 0
                if n >= kindSampleSize && (statistics.accepted[name] ?? 0) == 0 {
                    problems.append("command '\(name)' ran \(n) times and was never accepted: its success path was never tested")
                }
            }
        }
        return problems
    }
}
