import ArgumentParser
import Foundation
import IOMMUConformance
import IOMMUSpec
import PropertyCheck

struct Shrink: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Shrink a failing input (corpus file, libFuzzer crash file) and write the minimal one.",
        discussion: helpText("""
        Replays the input against the implementation; if it fails, shrinks it on its choice
        sequence (deterministically, within the run and time budget) and writes the minimal
        input, which replays to the same kind of failure. Prints the shrunk trace and the
        command that replays it. The fuzz script turns every crash into a regression this way.

        Exit status: 0 shrunk and written, 1 the input does not fail (nothing written), 64 bad input.

        Examples:
          iommu-check shrink crash-1f2e --surface address-space --implementation mutant:stale-iotlb
          iommu-check shrink crash-1f2e --surface shadow --output Corpus/shadow/regressions/window-1
        """)
    )

    @OptionGroup var input: InputFile

    @OptionGroup var target: ImplementationOptions

    @Option(help: "Where to write the shrunk input. Default: FILE.shrunk.")
    var output: String?

    @Option(help: "Also write the shrunk case as a JSON Lines trace (docs/TRACES.md).")
    var emitTrace: String?

    @Option(parsing: .unconditional, help: "Shrinking budget: at most this many re-runs.")
    var runs: Int = 20_000

    @Option(parsing: .unconditional, help: "Shrinking budget: at most this many seconds.")
    var seconds: Double = 60

    func validate() throws {
        try require(runs, in: 1...100_000_000, "--runs", "re-runs of the case")
        try require(seconds, in: 0.001...86_400, "--seconds", "seconds of shrinking")
    }

    @Flag(help: "Print the result as a JSON object (see docs/TRACES.md, 'JSON output').")
    var json = false

    func run() throws {
        let (bytes, surface) = try input.read()
        let check = try target.makeCheck(surface)
        var configuration = input.configuration(bytes, surface, target: target)
        configuration.shrinkBudget = Shrinker.Budget(runs: runs, seconds: seconds)
        let report = check.run(configuration)
        guard let failure = report.failure else {
            if json { printJSON(CheckJSON(surface: surface.rawValue, implementation: "\(target.choice)", report: report)) }
            else { print("\(input.file): does not fail against \(target.choice) (\(surface)): nothing to shrink") }
            throw ExitCode(1)
        }
        let destination = output ?? input.file + ".shrunk"
        try writeBytes(failure.bytes, to: destination)
        let tracePath = try emitTrace.map { path in
            try writeText(check.recordTrace(failure.bytes), to: path)
            return path
        }
        if json {
            var result = CheckJSON(surface: surface.rawValue, implementation: "\(target.choice)", report: report, traceWrittenTo: tracePath)
            result.failure?.savedTo = destination
            printJSON(result)
        } else {
            print(failure)
            print("shrunk input written to \(destination) (\(bytes.count) -> \(failure.bytes.count) bytes)")
            if let tracePath { print("trace written to \(tracePath)") }
        }
    }
}
