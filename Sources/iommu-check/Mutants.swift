import ArgumentParser
import Foundation
import IOMMUConformance
import PropertyCheck

struct MutantsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mutants",
        abstract: "Detection-power benchmark: how fast the checker finds every planted bug.",
        discussion: helpText("""
        For every planted bug (IOMMUMutants) runs the differential check against it with several
        seeds, and reports per bug: whether every seed found it, the median cases and seconds
        to find it, the median length of the shrunk trace against the shortest known trace, and
        the same for the baseline generator (uniform random operations: no state awareness, no
        swarm, no edge bias). docs/DETECTION.md holds the table and how it is regenerated
        (scripts/detection adds libFuzzer's time to find each bug).

        Exit status: 0 every bug found in every seed, 1 otherwise.

        Examples:
          iommu-check mutants
          iommu-check mutants --seed 7 --json
          iommu-check mutants --only stale-iotlb --only handover-window --no-baseline
        """)
    )

    @Option(help: "Seed of the first run; the runs use SEED, SEED+1, ... (see --seeds), wrapping past 2^64 - 1.")
    var seed: SeedArgument = SeedArgument(argument: "1")!

    @Option(parsing: .unconditional, help: "Seeds per bug; the medians are over these.")
    var seeds: Int = 5

    @Option(parsing: .unconditional, help: "Cases per seed before a bug counts as not found.")
    var budget: Int = 10_000

    @Option(help: "Only this bug (repeatable).")
    var only: [String] = []

    @Flag(help: "Skip the ablations (no swarm, no edge bias) and the uniform baseline (faster).")
    var noBaseline = false

    @Flag(help: "Print a JSON array: name, surface, detected, cases, seconds, shrunkLength, shortestKnownLength, generator, noSwarm, noEdgeBias, baseline.")
    var json = false

    func validate() throws {
        try require(seeds, in: 1...1_000, "--seeds", "seeds per bug")
        try require(budget, in: 1...100_000_000, "--budget", "cases per seed")
    }

    func run() throws {
        var options = DetectionBenchmark.Options()
        options.seeds = (0..<UInt64(seeds)).map { seed.value &+ $0 }
        options.budget = budget
        options.comparisons = !noBaseline
        options.names = only.isEmpty ? nil : only
        let rows: [DetectionBenchmark.Row]
        do {
            rows = try DetectionBenchmark.run(options) { name in
                if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("\r\u{1B}[K\(name)".utf8)) }
            }
        } catch {
            throw ValidationError(error.description)
        }
        if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        if json {
            printJSON(rows)
        } else {
            print(table(rows))
        }
        if rows.isEmpty { throw ValidationError("no planted bug matches --only \(only)") }
        if rows.contains(where: { !$0.detected }) { throw ExitCode(1) }
    }

    private func table(_ rows: [DetectionBenchmark.Row]) -> String {
        func number<T>(_ value: T?) -> String { value.map { "\($0)" } ?? "-" }
        func time(_ value: Double?) -> String { value.map { String(format: "%.1f", $0 * 1000) } ?? "-" }
        func attempts(_ value: DetectionBenchmark.Attempts?) -> String { value.map { "\($0.found)/\($0.seeds), \(number($0.cases))" } ?? "-" }
        var lines = ["seeds \(seed.value)...\(seed.value &+ UInt64(seeds - 1)), budget \(budget) cases per seed; medians over the seeds that found the bug",
                     "| bug | surface | found | cases | ms | shrunk | shortest | no swarm: found, cases | no edge bias: found, cases | baseline: found, cases |",
                     "|---|---|---|---|---|---|---|---|---|---|"]
        for row in rows {
            lines.append("| \(row.name) | \(row.surface) | \(row.generator.found)/\(row.generator.seeds) | \(number(row.cases)) | \(time(row.seconds)) | \(number(row.shrunkLength)) | \(number(row.shortestKnownLength)) | \(attempts(row.noSwarm)) | \(attempts(row.noEdgeBias)) | \(attempts(row.baseline)) |")
        }
        let found = rows.filter(\.detected).count
        lines.append("")
        lines.append("generator: \(found)/\(rows.count) bugs found in every seed" + (noBaseline ? "" : "; baseline: \(rows.filter { $0.baseline.map { $0.found == $0.seeds } ?? false }.count)/\(rows.count)"))
        return lines.joined(separator: "\n")
    }
}
