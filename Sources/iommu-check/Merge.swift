import ArgumentParser
import Foundation
import PropertyCheck

/// Joins the `run --shard K/N --json` outputs of one campaign into its verdict and statistics.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join the --json outputs of a sharded campaign (run --shard K/N) into one verdict.",
        discussion: helpText("""
        Reads every shard's `run --json` output, checks that they are the shards of one campaign
        (the same surface, seed, implementation and case range, every slice present once), and
        prints what one machine running the whole campaign would have: the first failure (the
        failing case with the lowest index), and the statistics of every case up to it, or of
        all cases if none failed; then the health check on them. Shards after the one that failed
        ran cases the single run would not have, and are left out of the statistics.

        Exit status: 0 the campaign passed, 1 it failed, 64 the outputs are not one campaign.

        Example:
          iommu-check run --surface shadow --seed 7 --cases 1000000 --shard 1/4 --json > shard-1.json   (and 2/4 ... 4/4)
          iommu-check merge shard-*.json
        """)
    )

    @Argument(help: "The shards' `run --json` outputs ('-' reads standard input).")
    var files: [String]

    @Flag(help: "Print the merged result in run --json's form.")
    var json = false

    func run() throws {
        var bySurface: [String: [CheckJSON]] = [:]
        for file in files {
            let data = Data(try readInput(file, limit: 1 << 30))
            let outputs: [CheckJSON]
            do {
                outputs = try JSONDecoder().decode([CheckJSON].self, from: data)
            } catch {
                throw refuse("'\(file)' is not a run --json output: \(error)")
            }
            for output in outputs { bySurface[output.surface, default: []].append(output) }
        }
        guard !bySurface.isEmpty else { throw refuse("no run outputs to merge") }
        var merged: [CheckJSON] = []
        for surface in bySurface.keys.sorted() {
            do {
                merged.append(try Self.merge(bySurface[surface]!))
            } catch let error as ValidationError {
                throw refuse("\(surface): \(error.message)")
            }
        }
        if json {
            printJSON(merged)
        } else {
            for output in merged { print(Self.text(output)) }
        }
        if merged.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }

    /// One surface's shards as the whole campaign.
    static func merge(_ shards: [CheckJSON]) throws -> CheckJSON {
        let ordered = shards.sorted { ($0.firstCase ?? 0) < ($1.firstCase ?? 0) }
        guard let first = ordered.first else { throw ValidationError("no shard") }
        for shard in ordered {
            guard shard.firstCase != nil, shard.plannedCases != nil, shard.statistics != nil else {
                throw ValidationError("an output without its case range or statistics (from an older iommu-check, or not a run --json)")
            }
            guard shard.seed == first.seed, shard.implementation == first.implementation else {
                throw ValidationError("shards of different campaigns: seed \(first.seed) with \(first.implementation), and seed \(shard.seed) with \(shard.implementation)")
            }
        }
        // Every slice once, end to end.
        for (earlier, later) in zip(ordered, ordered.dropFirst()) {
            let end = earlier.firstCase! + earlier.plannedCases!
            guard later.firstCase! == end else {
                throw ValidationError(later.firstCase! < end ? "two shards both ran case \(later.firstCase!)" : "no shard ran cases \(end) ..< \(later.firstCase!)")
            }
        }
        let shardCount = ordered.compactMap { $0.shard?.split(separator: "/").last.flatMap { Int($0) } }.first
        if let shardCount, shardCount != ordered.count {
            throw ValidationError("\(ordered.count) of \(shardCount) shards: every shard's output is needed")
        }
        // The single run stops at its first failure: count the shards up to the first that failed.
        let counted = ordered.prefix { $0.failure == nil } + ordered.drop(while: { $0.failure == nil }).prefix(1)
        let statistics = Statistics()
        for shard in counted { statistics.merge(shard.statistics!.statistics(stoppedCases: shard.endedEarly)) }
        var result = first
        result.cases = counted.reduce(0) { $0 + $1.cases }
        result.endedEarly = counted.reduce(0) { $0 + $1.endedEarly }
        result.operations = counted.reduce(0) { $0 + $1.operations }
        result.seconds = counted.reduce(0) { $0 + $1.seconds }
        result.operationsPerSecond = Int(Double(result.operations) / max(result.seconds, 1e-9))
        result.failure = counted.last?.failure
        result.errors = counted.flatMap(\.errors)
        result.healthProblems = result.failure == nil && result.errors.isEmpty ? HealthCheck().problems(in: statistics) : []
        result.passed = result.failure == nil && result.errors.isEmpty && result.healthProblems.isEmpty
        result.statistics = StatisticsJSON(statistics)
        result.firstCase = first.firstCase
        result.plannedCases = ordered.reduce(0) { $0 + ($1.plannedCases ?? 0) }
        result.shard = nil
        result.traceWrittenTo = nil
        return result
    }

    static func text(_ output: CheckJSON) -> String {
        let statistics = output.statistics?.statistics(stoppedCases: output.endedEarly) ?? Statistics()
        var lines = ["check '\(output.surface)': \(output.passed ? "passed" : "FAILED") after \(output.cases) cases, merged from shards (seed \(output.seed))"]
        lines += output.errors.map { "error: \($0)" }
        if let failure = output.failure {
            lines.append("failure in case \(failure.caseIndex.map(String.init) ?? "?") of seed \(output.seed)")
            lines.append("  \(failure.message)")
            lines.append("trace (\(failure.steps) steps):")
            lines += failure.trace.enumerated().map { "  \($0.offset + 1). \($0.element)" }
            lines.append("choices (base64): \(failure.choicesBase64)")
            lines.append("replay: \(failure.replay)")
        }
        if !output.healthProblems.isEmpty {
            lines.append("health check failed: the run was vacuous")
            lines += output.healthProblems.map { "  - \($0)" }
        }
        lines.append(statistics.summary)
        return lines.joined(separator: "\n")
    }
}
