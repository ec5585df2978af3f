/// What a run did: how many cases ran or were discarded, how often each command kind ran and
/// was accepted, each outcome came back, and each labelled event happened. A run's statistics
/// show whether it tested anything; `HealthCheck` turns a vacuous run into a failure.
public final class Statistics: @unchecked Sendable {
    public private(set) var cases = 0
    public private(set) var discardedCases = 0
    /// Commands run, by kind name.
    public private(set) var commands: [String: Int] = [:]
    /// Commands whose outcome was a success (not an error), by kind name.
    public private(set) var accepted: [String: Int] = [:]
    /// How often each kind of command came back with each outcome.
    public private(set) var outcomes: [OutcomeKey: Int] = [:]
    /// Labelled events (`ChoiceStream.event`).
    public private(set) var events: [String: Int] = [:]
    /// Commands drawn but skipped because their precondition did not hold.
    public private(set) var preconditionSkips = 0
    /// Cases that hit the choice limit.
    public private(set) var overruns = 0
    /// Cases that ended early at a command the implementation could not carry out (`StepResult.stopped`).
    public private(set) var stoppedCases = 0

    // Per-kind counters by index, folded into the name-keyed tables by `fold(kindNames:)`:
    // the stateful loop counts with array stores instead of string hashing. (Unchecked
    // exclusivity: a Statistics counts one worker's cases, and these are counted every step.)
    @exclusivity(unchecked) var commandsByIndex: [Int] = []
    @exclusivity(unchecked) var acceptedByIndex: [Int] = []
    /// Per kind, each outcome seen and its count: a kind has a handful, and comparing short
    /// strings costs less than hashing one every step.
    @exclusivity(unchecked) var outcomesByIndex: [[(outcome: String, count: Int)]] = []

    public init() {}

    /// Counts as a report gave them out (`iommu-check merge` rebuilds a sharded campaign's).
    public init(cases: Int, discardedCases: Int, commands: [String: Int], accepted: [String: Int], outcomes: [OutcomeKey: Int], events: [String: Int],
                preconditionSkips: Int, overruns: Int, stoppedCases: Int) {
        (self.cases, self.discardedCases, self.preconditionSkips, self.overruns, self.stoppedCases) = (cases, discardedCases, preconditionSkips, overruns, stoppedCases)
        (self.commands, self.accepted, self.outcomes, self.events) = (commands, accepted, outcomes, events)
    }

    public var totalCommands: Int { commands.values.reduce(0, +) + commandsByIndex.reduce(0, +) }
    public var totalAccepted: Int { accepted.values.reduce(0, +) + acceptedByIndex.reduce(0, +) }

    public func count(case discarded: Bool, overran: Bool) {
        cases += 1
        if discarded { discardedCases += 1 }
        if overran { overruns += 1 }
    }

    public func count(event name: String) { events[name, default: 0] += 1 }

    public func count(outcome: String, kind: String, times: Int = 1) { outcomes[OutcomeKey(kind: kind, outcome: outcome), default: 0] += times }

    func countPreconditionSkip() { preconditionSkips += 1 }

    func countStoppedCase() { stoppedCases += 1 }

    @inline(__always)
    func count(commandIndex index: Int, outcome: String, accepted wasAccepted: Bool) {
        if index >= commandsByIndex.count {
            commandsByIndex += Array(repeating: 0, count: index + 1 - commandsByIndex.count)
            acceptedByIndex += Array(repeating: 0, count: index + 1 - acceptedByIndex.count)
            outcomesByIndex += Array(repeating: [], count: index + 1 - outcomesByIndex.count)
        }
        commandsByIndex[index] += 1
        if wasAccepted { acceptedByIndex[index] += 1 }
        if let seen = outcomesByIndex[index].firstIndex(where: { $0.outcome == outcome }) {
            outcomesByIndex[index][seen].count += 1
        } else {
            outcomesByIndex[index].append((outcome, 1))
        }
    }

    /// Moves the per-index counters into the name-keyed tables.
    func fold(kindNames: [String]) {
        func name(_ index: Int) -> String { index < kindNames.count ? kindNames[index] : "kind \(index)" }
        for (index, n) in commandsByIndex.enumerated() where n > 0 {
            commands[name(index), default: 0] += n
            accepted[name(index), default: 0] += acceptedByIndex[index]
        }
        for (index, seen) in outcomesByIndex.enumerated() {
            for (outcome, n) in seen { count(outcome: outcome, kind: name(index), times: n) }
        }
        commandsByIndex = []
        acceptedByIndex = []
        outcomesByIndex = []
    }

    /// Adds another run's counts (campaigns split across workers merge this way).
    public func merge(_ other: Statistics) {
        cases += other.cases
        discardedCases += other.discardedCases
        preconditionSkips += other.preconditionSkips
        overruns += other.overruns
        stoppedCases += other.stoppedCases
        commands.merge(other.commands, uniquingKeysWith: +)
        accepted.merge(other.accepted, uniquingKeysWith: +)
        outcomes.merge(other.outcomes, uniquingKeysWith: +)
        events.merge(other.events, uniquingKeysWith: +)
    }

    /// Configurations the implementation refused, most often first (ties by name).
    public var refusals: [(configuration: String, count: Int)] {
        events.filter { $0.key.hasPrefix(refusedEvent) }
            .map { (String($0.key.dropFirst(refusedEvent.count)), $0.value) }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
    }

    /// A plain-text table, sorted by name so two runs diff cleanly.
    public var summary: String {
        var lines: [String] = []
        let discardShare = cases == 0 ? 0 : Double(discardedCases) / Double(cases)
        lines.append("cases: \(cases), discarded: \(discardedCases) (\(percent(discardShare))), overruns: \(overruns)" + (stoppedCases == 0 ? "" : ", ended early (unobservable): \(stoppedCases)"))
        if !commands.isEmpty {
            lines.append("commands: \(totalCommands), accepted: \(totalAccepted), precondition skips: \(preconditionSkips)")
            for name in commands.keys.sorted() {
                let n = commands[name] ?? 0, ok = accepted[name] ?? 0
                lines.append("  \(name): \(n) run, \(ok) accepted (\(percent(n == 0 ? 0 : Double(ok) / Double(n))))")
            }
        }
        if !outcomes.isEmpty {
            lines.append("outcomes:")
            for key in outcomes.keys.sorted() { lines.append("  \(key): \(outcomes[key] ?? 0)") }
        }
        let plain = events.keys.filter { !$0.hasPrefix(refusedEvent) }
        if !plain.isEmpty {
            lines.append("events:")
            for key in plain.sorted() { lines.append("  \(key): \(events[key] ?? 0)") }
        }
        let refused = refusals
        if !refused.isEmpty {
            lines.append("refused configurations: \(refused.reduce(0) { $0 + $1.count }) cases in \(refused.count) configurations, most often:")
            for item in refused.prefix(5) { lines.append("  \(item.configuration): \(item.count)") }
        }
        return lines.joined(separator: "\n")
    }
}

func percent(_ share: Double) -> String {
    let tenths = Int((share * 1000).rounded())
    return "\(tenths / 10).\(tenths % 10)%"
}

/// A command kind and one outcome it came back with: a key of `Statistics.outcomes`.
public struct OutcomeKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var kind: String
    public var outcome: String

    public init(kind: String, outcome: String) {
        self.kind = kind
        self.outcome = outcome
    }

    /// As reports and JSON spell it: "map: overlap".
    public var description: String { kind + ": " + outcome }

    /// Reads `description` back (`iommu-check merge`); nil without the separator.
    public init?(spelled text: String) {
        guard let separator = text.range(of: ": ") else { return nil }
        self.init(kind: String(text[..<separator.lowerBound]), outcome: String(text[separator.upperBound...]))
    }

    /// In the order of the spelled keys, as the tables have always been sorted.
    public static func < (a: OutcomeKey, b: OutcomeKey) -> Bool { a.description < b.description }
}
