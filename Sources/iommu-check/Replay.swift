import ArgumentParser
import Foundation
import IOMMUConformance
import IOMMUSpec
import PropertyCheck

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay one input: a corpus file, a libFuzzer crash file, or a saved regression.",
        discussion: helpText("""
        Decodes the file's bytes into a case, prints its readable trace, and judges it against the
        reference model. A failing input is shrunk first, and printed with its replay command
        (use 'shrink' to also write the shrunk input). The surface comes from --surface, or from
        a path under Corpus/<surface>/.

        Exit status: 0 the input conforms, 1 it fails, 64 bad input.

        Examples:
          iommu-check replay Corpus/address-space/seed-004
          iommu-check replay crash-648926997fcf --surface address-space --implementation mutant:stale-iotlb
          iommu-check replay Corpus/isolation/seed-001 --emit-trace case.jsonl
        """)
    )

    @OptionGroup var input: InputFile

    @OptionGroup var target: ImplementationOptions

    @Option(help: "Write the case (shrunk, if it fails) as a JSON Lines trace (docs/TRACES.md).")
    var emitTrace: String?

    @Flag(help: "Print the result as a JSON object (see docs/TRACES.md, 'JSON output').")
    var json = false

    func run() throws {
        let (bytes, surface) = try input.read()
        let check = try target.makeCheck(surface)
        let report = check.run(input.configuration(bytes, surface, target: target))
        let tracePath = try emitTrace.map { path in
            try writeText(check.recordTrace(report.failure?.bytes ?? bytes), to: path)
            return path
        }
        if json {
            printJSON(CheckJSON(surface: surface.rawValue, implementation: "\(target.choice)", report: report, traceWrittenTo: tracePath))
            if !report.passed { throw ExitCode(1) }
            return
        }
        if let failure = report.failure {
            print(failure)
            if let tracePath { print("trace written to \(tracePath)") }
            throw ExitCode(1)
        }
        let stream = ChoiceStream(.bytes(bytes), recordsTrace: true)
        _ = check.makeTestCase()(stream)
        print("\(input.file): conforms (\(surface), \(target.choice)), \(stream.trace.count) steps:")
        for (index, line) in stream.trace.enumerated() { print("  \(index + 1). \(line)") }
        if let tracePath { print("trace written to \(tracePath)") }
    }
}
