import ArgumentParser
import Foundation
import IOMMUConformance
import IOMMUSpec
import PropertyCheck

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a differential campaign: an implementation against the reference model.",
        discussion: helpText("""
        Generates operation sequences from the model's state, runs them on the implementation and
        the model, and compares every result. Prints statistics and throughput (checked
        operations per second), and a progress line on a terminal. Exits 1 on a disagreement,
        after printing the shrunk trace, the seed and the command that replays it.

        Examples:
          iommu-check run                                   every surface, optimized implementation
          iommu-check run --surface address-space --policy iommufd --cases 100000
          iommu-check run --implementation mutant:stale-iotlb   watch a planted bug get caught
          iommu-check run --plugin ./libmyiommu.so --policy vfio-type1   check your own code (docs/PLUGINS.md)
        """)
    )

    @Option(help: "The surface to check: \(SurfaceCheck.available.map(\.rawValue).joined(separator: ", ")). Default: all of them (with --plugin: those it provides).")
    var surface: String?

    @Option(help: "Generated cases per surface.")
    var cases: Int = 10_000

    @Option(help: "Run seed: decimal, 0x-hex, or 'random'. Default: fixed per surface, so runs repeat.")
    var seed: String?

    @OptionGroup var target: ImplementationOptions

    @Option(help: "The index of the first case: cases K ... K+cases-1 of the seed, as a run from 0 makes them (resume a campaign after the case that failed).")
    var firstCase: Int = 0

    @Option(help: "Seconds the shrinker may spend on a failure (default: \(Int(Shrinker.Budget().seconds))).")
    var shrinkSeconds: Double?

    @Option(help: "Replay one base64 choice sequence (as a failure prints) instead of generating cases.")
    var replay: String?

    @Option(help: "Mean operations per case.")
    var steps: Double = Self.defaultSteps
    static let defaultSteps: Double = 40

    @Option(help: "Save a shrunk failure under this directory (Corpus/<surface>/regressions replays it in swift test).")
    var saveRegressions: String?

    @Option(help: "Write the shrunk failure (or the --replay case) as a JSON Lines trace to this file; 'verify' judges it.")
    var emitTrace: String?

    @Option(help: "Threads the cases run on (each with its own plug-in worker). The verdict, the shrunk failure and the statistics are the same for any count. Default: the number of CPUs; 1 for an in-process plug-in, which may not be thread-safe.")
    var jobs: Int?

    @Flag(help: "Print an array of JSON objects, one per surface (see docs/TRACES.md, 'JSON output'), instead of text.")
    var json = false

    func validate() throws {
        guard cases > 0 else { throw ValidationError("--cases must be positive, got \(cases)") }
        guard firstCase >= 0, firstCase <= Int.max - cases else { throw ValidationError("--first-case must be 0 or more, with room for --cases after it, got \(firstCase)") }
        if let shrinkSeconds, !(shrinkSeconds > 0 && shrinkSeconds.isFinite) { throw ValidationError("--shrink-seconds must be a positive number, got \(shrinkSeconds)") }
        if let jobs, !(1...256).contains(jobs) { throw ValidationError("--jobs must be 1 to 256, got \(jobs)") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if let surface, Surface(rawValue: surface) == nil {
            throw ValidationError("--surface must be one of \(Surface.allCases.map(\.rawValue).joined(separator: ", ")), got '\(surface)'")
        }
        if let replay, Data(base64Encoded: replay) == nil {
            throw ValidationError("--replay must be a base64 choice sequence, as a failure prints it")
        }
        if emitTrace != nil, surface == nil {
            throw ValidationError("--emit-trace needs --surface: a trace file holds one surface")
        }
    }

    func run() throws {
        var surfaces = surface.flatMap { Surface(rawValue: $0) }.map { [$0] } ?? SurfaceCheck.available
        if case .plugin(let reference) = target.choice, surface == nil {
            do {
                surfaces = try reference.surfaces()
            } catch {
                throw refuse(error.description)
            }
        }
        if let emitTrace { try checkWritable(emitTrace) }
        let parsedSeed: UInt64?
        do {
            parsedSeed = try seed.map { text throws(ConfigurationError) in try CheckConfiguration.parseSeed(text) }
        } catch {
            throw ValidationError(error.description)
        }
        let jobs = self.jobs ?? (target.plugin != nil && target.inProcess ? 1 : ProcessInfo.processInfo.activeProcessorCount)
        // Worker calls are a ping-pong between two processes: with one job, keep both on one CPU.
        WorkerRoundTrips.configure(jobs: jobs)
        if target.plugin != nil && !target.inProcess && jobs == 1 && WorkerRoundTrips.wantOneCPU { pinToCurrentCPU() }
        var failed = false
        var refusals: [String] = []
        var outputs: [CheckJSON] = []
        for surface in surfaces {
            // A surface that cannot be checked (the plug-in refuses its policy, say) is reported
            // after the others ran; what they found is never lost.
            let check: SurfaceCheck
            do {
                check = try target.makeCheckOrReason(surface, stateful: StatefulOptions(averageSteps: steps, maxSteps: Int(steps * 5)))
            } catch {
                refusals.append("\(surface): \(error)")
                if json { outputs.append(CheckJSON(surface: surface.rawValue, implementation: "\(target.choice)", error: "\(error)")) } else { print("\(surface): cannot be checked: \(error)\n") }
                continue
            }
            var configuration = CheckConfiguration(name: surface.rawValue, seed: parsedSeed, cases: cases)
            // Its own options say what to replay; IOMMU_CHECK_REPLAY is for test runs.
            configuration.readsEnvironmentReplay = false
            configuration.replay = replay.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
            configuration.jobs = jobs
            configuration.firstCase = firstCase
            if let shrinkSeconds { configuration.shrinkBudget.seconds = shrinkSeconds }
            configuration.regressionsDirectory = saveRegressions
            configuration.savesRegressions = saveRegressions != nil
            configuration.replayCommand = { [target] base64 in replayCommandLine(surface: surface, options: target, steps: steps, base64: base64) }
            configuration.progressInterval = max(1, cases / 100)
            let started = ContinuousClock.now
            // A progress line only on a terminal; logs get the summary alone.
            if isatty(STDERR_FILENO) != 0 { configuration.progress = { done, total in
                let seconds = (ContinuousClock.now - started).seconds
                FileHandle.standardError.write(Data("\r\(surface): \(done)/\(total) cases, \(String(format: "%.1f", seconds)) s".utf8))
            } }
            let report = check.run(configuration)
            if configuration.progress != nil { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            var tracePath: String?
            if let emitTrace, let bytes = report.failure?.bytes ?? configuration.replay {
                do {
                    try writeText(check.recordTrace(bytes), to: emitTrace)
                    tracePath = emitTrace
                } catch {
                    refusals.append("\(surface): \(error)")
                }
            }
            if !report.passed { failed = true }
            if json {
                outputs.append(CheckJSON(surface: surface.rawValue, implementation: "\(target.choice)", report: report, traceWrittenTo: tracePath))
                continue
            }
            print(report)
            let operations = report.statistics.totalCommands
            print("throughput: \(operations) checked operations in \(String(format: "%.2f", report.seconds)) s = \(Int(Double(operations) / max(report.seconds, 1e-9))) operations/s (\(target.choice))")
            if let tracePath { print("trace written to \(tracePath)") } else if emitTrace != nil { print("no trace written: the run passed; pass --replay to write the trace of a given case") }
            print()
        }
        if json { printJSON(outputs) }
        let refused = refusals.isEmpty ? nil : refuse(refusals.joined(separator: "\n"))
        if failed { throw ExitCode(1) }
        if let refused { throw refused }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
