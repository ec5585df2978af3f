import IOMMUConformance
import IOMMUMutants
import IOMMUSpec
import PropertyCheck
import Testing

/// The detection benchmark measures what it says: both generators run real cases, and every
/// planted bug has a shortest known trace to compare the shrinker against.
@Suite struct DetectionBenchmarkTests {
    @Test func everyPlantedBugHasAShortestKnownTrace() {
        for mutant in Mutants.all {
            #expect(DetectionBenchmark.shortestKnownTrace[mutant.name] != nil, "\(mutant.name) has no shortest known trace")
        }
        #expect(Mutants.all.count >= 20)
    }

    @Test func theBenchmarkReportsFindsWithCasesSecondsAndLengths() throws {
        var options = DetectionBenchmark.Options()
        options.seeds = [1, 2]
        options.budget = 2_000
        options.names = ["stale-iotlb", "handover-window", "pending-delivered-twice", "dsi-no-unmap-notify"]
        let rows = try DetectionBenchmark.run(options)
        #expect(rows.map(\.name).sorted() == options.names!.sorted())
        for row in rows {
            #expect(row.detected, "\(row.name) not found")
            #expect((row.cases ?? 0) >= 1)
            // Two local minima are known (docs/DETECTION.md); none is more than two steps longer.
            #expect((row.shrunkLength ?? 99) <= (row.shortestKnownLength ?? 0) + 2, "\(row.name): shrunk \(row.shrunkLength ?? -1), \(row.generator.casesPerSeed)")
            #expect(row.baseline != nil)
        }
    }

    /// The baseline is a real generator, not a broken one: its cases are long, run every kind,
    /// pass against the correct implementation, and find a bug that needs no aim.
    @Test(arguments: Surface.allCases)
    func theBaselineGeneratorRunsEveryKindAndPassesTheCorrectImplementation(surface: Surface) throws {
        let check = try SurfaceCheck.make(surface, implementation: .optimized, stateful: StatefulOptions(baseline: true))
        var configuration = CheckConfiguration(name: "baseline-\(surface)", seed: 3, cases: 200)
        configuration.health.enabled = false
        let report = check.run(configuration)
        #expect(report.passed, "\(report)")
        #expect(report.statistics.totalCommands > 200 * 20)
        for kind in check.kindNames {
            #expect(report.statistics.summary.contains("  \(kind): "), "\(surface): the baseline never drew \(kind)")
        }
    }
}
