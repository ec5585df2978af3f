import ArgumentParser
import Foundation
import IOMMUConformance
import IOMMUSpec
import PropertyCheck

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a differential campaign: an implementation against the reference model.",
        discussion: """
        Generates operation sequences from the model's state, runs them on the implementation and
        the model, and compares every result. Prints a progress line, statistics and throughput
        (checked operations per second). Exits 1 on a disagreement, after printing the shrunk
        trace, the seed and the command that replays it.

        Examples:
          iommu-check run                                   every surface, optimized implementation
          iommu-check run --surface address-space --policy iommufd --cases 100000
          iommu-check run --implementation mutant:stale-iotlb   watch a planted bug get caught
        """
    )

    @Option(help: "The surface to check: \(SurfaceCheck.available.map(\.rawValue).joined(separator: ", ")). Default: all of them.")
    var surface: String?

    @Option(help: "Generated cases per surface.")
    var cases: Int = 10_000

    @Option(help: "Run seed: decimal, 0x-hex, or 'random'. Default: fixed per surface, so runs repeat.")
    var seed: String?

    @Option(help: "The contract the implementation claims (address space: vfio-type1, virtio-iommu, iommufd, iova-tree, page-table). Default: drawn per case.")
    var policy: String?

    @Option(help: "What to check: reference, optimized, or mutant:NAME.")
    var implementation: String = "optimized"

    @Option(help: "Replay one base64 choice sequence (as a failure prints) instead of generating cases.")
    var replay: String?

    @Option(help: "Mean operations per case.")
    var steps: Double = 40

    @Option(help: "Save a shrunk failure under this directory (Corpus/<surface>/regressions replays it in swift test).")
    var saveRegressions: String?

    func validate() throws {
        guard cases > 0 else { throw ValidationError("--cases must be positive, got \(cases)") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard ImplementationChoice(parsing: implementation) != nil else {
            throw ValidationError("--implementation must be reference, optimized or mutant:NAME, got '\(implementation)'")
        }
        if let surface, Surface(rawValue: surface) == nil {
            throw ValidationError("--surface must be one of \(Surface.allCases.map(\.rawValue).joined(separator: ", ")), got '\(surface)'")
        }
        if let replay, Data(base64Encoded: replay) == nil {
            throw ValidationError("--replay must be a base64 choice sequence, as a failure prints it")
        }
    }

    func run() throws {
        let choice = ImplementationChoice(parsing: implementation)!
        let surfaces = surface.map { [Surface(rawValue: $0)!] } ?? SurfaceCheck.available
        let parsedSeed: UInt64?
        do {
            parsedSeed = try seed.map { text throws(ConfigurationError) in try CheckConfiguration.parseSeed(text) }
        } catch {
            throw ValidationError(error.description)
        }
        var failed = false
        for surface in surfaces {
            let check: SurfaceCheck
            do {
                check = try SurfaceCheck.make(surface, implementation: choice, policy: policy, stateful: StatefulOptions(averageSteps: steps, maxSteps: Int(steps * 5)))
            } catch {
                throw ValidationError(error.description)
            }
            var configuration = CheckConfiguration(name: surface.rawValue, seed: parsedSeed, cases: cases)
            configuration.replay = replay.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
            configuration.regressionsDirectory = saveRegressions
            configuration.savesRegressions = saveRegressions != nil
            configuration.replayCommand = { [implementation, policy] base64 in
                replayCommandLine(surface: surface, implementation: implementation, policy: policy, base64: base64)
            }
            configuration.progressInterval = max(1, cases / 100)
            let started = ContinuousClock.now
            // A progress line only on a terminal; logs get the summary alone.
            if isatty(STDERR_FILENO) != 0 { configuration.progress = { done, total in
                let seconds = (ContinuousClock.now - started).seconds
                FileHandle.standardError.write(Data("\r\(surface): \(done)/\(total) cases, \(String(format: "%.1f", seconds)) s".utf8))
            } }
            let report = check.run(configuration)
            if configuration.progress != nil { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            print(report)
            let seconds = report.seconds
            let operations = report.statistics.totalCommands
            print("throughput: \(operations) checked operations in \(String(format: "%.2f", seconds)) s = \(Int(Double(operations) / max(seconds, 1e-9))) operations/s (\(choice))")
            print()
            if !report.passed { failed = true }
        }
        if failed { throw ExitCode(1) }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
