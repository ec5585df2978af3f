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

    @Option(help: "The surface to check. Default: all of them (with --plugin: those it provides).")
    var surface: Surface?

    @Option(parsing: .unconditional, help: "Generated cases per surface.")
    var cases: Int = 10_000

    @Option(help: "Run seed: decimal, 0x-hex, or 'random' (a fresh one, printed first). Default: fixed per surface, so runs repeat.")
    var seed: SeedArgument?

    @OptionGroup var target: ImplementationOptions

    @Option(parsing: .unconditional, help: "The index of the first case: cases K ... K+cases-1 of the seed, as a run from 0 makes them (resume a campaign after the case that failed).")
    var firstCase: Int = 0

    @Option(parsing: .unconditional, help: "Seconds the shrinker may spend on a failure (default: \(Int(Shrinker.Budget().seconds))).")
    var shrinkSeconds: Double?

    @Option(help: "Run the K-th of N slices of the campaign (K/N, 1-based): N machines, one slice each, together run exactly the cases one would. 'iommu-check merge' joins their --json outputs. Needs a fixed --seed or the default one.")
    var shard: Shard?

    @Option(help: "Replay one base64 choice sequence (as a failure prints) instead of generating cases.")
    var replay: String?

    @Option(parsing: .unconditional, help: "Mean operations per case (at least 1).")
    var steps: Double = Self.defaultSteps
    /// The library's default: a case continues after each operation with probability 39/40.
    static let defaultSteps: Double = 39

    @Option(help: "Save a shrunk failure under this directory (Corpus/<surface>/regressions replays it in swift test).")
    var saveRegressions: String?

    @Option(help: "Write the shrunk failure (or the --replay case) as a JSON Lines trace to this file; 'verify' judges it.")
    var emitTrace: String?

    @Option(parsing: .unconditional, help: "Threads the cases run on (each with its own plug-in worker). The verdict, the shrunk failure and the statistics are the same for any count. Default: the number of CPUs; 1 for an in-process plug-in, which may not be thread-safe.")
    var jobs: Int?

    @Flag(help: "Print an array of JSON objects, one per surface (see docs/TRACES.md, 'JSON output'), instead of text.")
    var json = false

    func validate() throws {
        try require(cases, in: 1...Int(Int32.max), "--cases", "cases per surface")
        guard firstCase >= 0, firstCase <= Int.max - cases else { throw ValidationError("--first-case must be 0 or more, with room for --cases after it, got \(firstCase)") }
        if let shrinkSeconds { try require(shrinkSeconds, in: 0.001...86_400, "--shrink-seconds", "seconds of shrinking") }
        if let jobs { try require(jobs, in: 1...256, "--jobs", "threads") }
        try require(steps, in: 1...10_000, "--steps", "mean operations per case")
        if let shard {
            guard shard.count <= cases else { throw ValidationError("--shard \(shard): \(shard.count) shards of \(cases) cases leave some empty") }
            if seed?.random == true { throw ValidationError("--shard needs the same seed on every shard: give --seed N, not random") }
            if replay != nil { throw ValidationError("--shard slices generated cases; --replay runs one given case") }
        }
        if let replay, Data(base64Encoded: replay) == nil {
            throw ValidationError("--replay must be a base64 choice sequence, as a failure prints it")
        }
        if emitTrace != nil, surface == nil {
            throw ValidationError("--emit-trace needs --surface: a trace file holds one surface")
        }
    }

    func run() throws {
        var surfaces = surface.map { [$0] } ?? SurfaceCheck.available
        if case .plugin(let reference) = target.choice, surface == nil {
            do {
                surfaces = try reference.surfaces()
            } catch {
                throw refuse(error.description)
            }
        }
        if let emitTrace { try checkWritable(emitTrace) }
        let parsedSeed = seed?.value
        let jobs = self.jobs ?? (target.plugin != nil && target.inProcess ? 1 : ProcessInfo.processInfo.activeProcessorCount)
        // Worker calls are a ping-pong between two processes: with one job, keep both on one CPU.
        WorkerRoundTrips.configure(jobs: jobs)
        if target.plugin != nil && !target.inProcess && jobs == 1 && WorkerRoundTrips.wantOneCPU { pinToCurrentCPU() }
        var failed = false
        var interrupted: (surface: Surface, next: Int, seed: UInt64)?
        Interruption.install()
        var refusals: [String] = []
        var outputs: [CheckJSON] = []
        for surface in surfaces where interrupted == nil {
            // A surface that cannot be checked (the plug-in refuses its policy, say) is reported
            // after the others ran; what they found is never lost.
            let check: SurfaceCheck
            do {
                check = try target.makeCheckOrReason(surface, stateful: Self.stateful(steps: steps))
            } catch {
                refusals.append("\(surface): \(error)")
                if json { outputs.append(CheckJSON(surface: surface.rawValue, implementation: "\(target.choice)", error: "\(error)")) } else { print("\(surface): cannot be checked: \(error)\n") }
                continue
            }
            let slice = shard?.slice(of: firstCase..<(firstCase + cases)) ?? firstCase..<(firstCase + cases)
            var configuration = CheckConfiguration(name: surface.rawValue, seed: parsedSeed, cases: slice.count)
            // Its own options say what to replay; IOMMU_CHECK_REPLAY is for test runs.
            configuration.readsEnvironmentReplay = false
            configuration.replay = replay.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
            configuration.jobs = jobs
            configuration.firstCase = slice.lowerBound
            if let shrinkSeconds { configuration.shrinkBudget.seconds = shrinkSeconds }
            configuration.regressionsDirectory = saveRegressions
            configuration.savesRegressions = saveRegressions != nil
            configuration.replayCommand = { [target] base64 in replayCommandLine(surface: surface, options: target, steps: steps, base64: base64) }
            // The seed first, on standard error: a campaign killed midway leaves it behind.
            FileHandle.standardError.write(Data("\(surface): seed \(configuration.seed) (0x\(String(configuration.seed, radix: 16))), cases \(slice.lowerBound) ... \(slice.upperBound - 1)\(shard.map { " (shard \($0))" } ?? ""), \(target.choice)\n".utf8))
            let progress = ProgressLine(surface: surface)
            configuration.progressInterval = max(1, min(cases / 100, 1_000))
            configuration.progress = { done, total in progress.cases(done, total) }
            configuration.shrinkProgress = { runs, length in progress.shrinking(runs, length) }
            configuration.stopRequested = { Interruption.requested }
            let report = check.run(configuration)
            progress.clear()
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
            if report.interrupted { interrupted = (surface, firstCase + report.casesRun, configuration.seed) }
            if json {
                var output = CheckJSON(surface: surface.rawValue, implementation: "\(target.choice)", report: report, traceWrittenTo: tracePath)
                (output.firstCase, output.plannedCases, output.shard) = (slice.lowerBound, slice.count, shard?.description)
                outputs.append(output)
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
        if let interrupted {
            FileHandle.standardError.write(Data("interrupted: \(interrupted.surface), seed \(interrupted.seed), before case \(interrupted.next); resume with --seed \(interrupted.seed) --first-case \(interrupted.next)\n".utf8))
            throw ExitCode(130)
        }
        if let refused { throw refused }
    }
}

extension Run {
    /// Cases of `steps` operations on average: the engine continues after each operation with
    /// probability 1 - 1/averageSteps, so its mean is averageSteps - 1.
    static func stateful(steps: Double) -> StatefulOptions {
        StatefulOptions(averageSteps: steps + 1, maxSteps: Int((steps + 1) * 5))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Progress on standard error: a line rewritten in place on a terminal; elsewhere (a CI log) a
/// line every ten seconds, so a long or hanging run is never silent. Shrinking reports too.
final class ProgressLine: @unchecked Sendable {
    private let surface: Surface
    private let terminal = isatty(STDERR_FILENO) != 0
    private let started = ContinuousClock.now
    private let lock = NSLock()
    private var lastLine = ContinuousClock.now
    private var shrinkStarted: ContinuousClock.Instant?
    private var wrote = false

    init(surface: Surface) { self.surface = surface }

    func cases(_ done: Int, _ total: Int) {
        show("\(surface): \(done)/\(total) cases, \(format(ContinuousClock.now - started)) s")
    }

    func shrinking(_ runs: Int, _ length: Int) {
        let since = lock.withLock {
            if shrinkStarted == nil { shrinkStarted = .now }
            return shrinkStarted!
        }
        show("\(surface): shrinking a failure: \(runs) runs, \(length) choices left, \(format(ContinuousClock.now - since)) s")
    }

    /// Clears an in-place line before the report.
    func clear() {
        if terminal && wrote { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    private func show(_ text: String) {
        lock.withLock {
            if terminal {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
                wrote = true
            } else if ContinuousClock.now - lastLine >= .seconds(10) {
                lastLine = .now
                FileHandle.standardError.write(Data("\(text)\n".utf8))
            }
        }
    }

    private func format(_ duration: Duration) -> String { String(format: "%.1f", duration.seconds) }
}

/// SIGINT stops a run between cases: the first asks the checks to finish the cases running and
/// report; a second ends the process at once.
enum Interruption {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var count = 0
    nonisolated(unsafe) private static var source: DispatchSourceSignal?

    static var requested: Bool { lock.withLock { count > 0 } }

    static func install() {
        guard source == nil else { return }
        signal(SIGINT, SIG_IGN)
        let handler = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        handler.setEventHandler {
            let seen = lock.withLock {
                count += 1
                return count
            }
            if seen > 1 { _exit(130) }
            FileHandle.standardError.write(Data("\ninterrupt: finishing the cases running, then the report (interrupt again to quit now)\n".utf8))
        }
        handler.resume()
        source = handler
    }
}
