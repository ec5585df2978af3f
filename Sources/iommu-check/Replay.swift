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

    @Argument(help: "The input file (bytes of a choice sequence).")
    var file: String

    @Option(help: "The surface the input belongs to. Default: taken from a Corpus/<surface>/ path.")
    var surface: String?

    @OptionGroup var target: ImplementationOptions

    @Option(help: "Write the case (shrunk, if it fails) as a JSON Lines trace (docs/TRACES.md).")
    var emitTrace: String?

    @Flag(help: "Print the result as a JSON object (see docs/TRACES.md, 'JSON output').")
    var json = false

    func run() throws {
        let bytes = try readInput(file)
        let surface = try resolveSurface(surface, path: file)
        let check = try target.makeCheck(surface)
        var configuration = CheckConfiguration(name: surface.rawValue, cases: 0)
        configuration.replay = bytes
        configuration.replayCommand = { [target] base64 in replayCommandLine(surface: surface, options: target, base64: base64) }
        let report = check.run(configuration)
        let tracePath = try emitTrace.map { path in
            try writeText(check.traceText(report.failure?.bytes ?? bytes, surface: surface), to: path)
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
        print("\(file): conforms (\(surface), \(target.choice)), \(stream.trace.count) steps:")
        for (index, line) in stream.trace.enumerated() { print("  \(index + 1). \(line)") }
        if let tracePath { print("trace written to \(tracePath)") }
    }
}

/// The bytes of an input file, or a clear error.
func readInput(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read '\(path)': no such file, or not readable")
    }
    return [UInt8](data)
}

/// The surface named by `--surface`, or by a `Corpus/<surface>/` component of `path`.
func resolveSurface(_ name: String?, path: String) throws -> Surface {
    if let name {
        guard let surface = Surface(rawValue: name) else {
            throw ValidationError("--surface must be one of \(Surface.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
        }
        return surface
    }
    let components = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
    if let index = components.lastIndex(of: "Corpus"), index + 1 < components.count, let surface = Surface(rawValue: components[index + 1]) {
        return surface
    }
    throw ValidationError("cannot tell the surface of '\(path)': pass --surface (\(Surface.allCases.map(\.rawValue).joined(separator: ", ")))")
}

/// The one command that replays a shrunk failure: same surface, implementation and policy.
func replayCommandLine(surface: Surface, options: ImplementationOptions, base64: String) -> String {
    "swift run -c release iommu-check run --surface \(surface.rawValue) \(options.commandLine) --replay '\(base64)'"
}
