import ArgumentParser
import Foundation
import IOMMUConformance
import IOMMUSpec
import PropertyCheck

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Judge a recorded JSON Lines trace against the reference model, offline.",
        discussion: helpText("""
        For systems that cannot be linked into the checker (a kernel module, a VMM inside a VM):
        record each operation and the outcome your system gave, one JSON object per line, in the
        format of docs/TRACES.md; the header line names the surface and configuration. verify
        replays the trace on the model and reports the first line whose recorded outcome the
        model does not allow, with the reason. A malformed line is reported with its line number
        and field, and nothing is judged.

        Exit status: 0 the trace conforms, 1 it does not, 64 it cannot be read.

        Examples:
          iommu-check verify my-vmm.jsonl
          iommu-check run --surface address-space --implementation mutant:stale-iotlb --emit-trace bad.jsonl
          iommu-check verify bad.jsonl --json
        """)
    )

    @Argument(help: "The trace file (JSON Lines; '-' reads standard input).")
    var trace: String

    @Flag(help: "Print the verdict as a JSON object: surface, conforms, checkedSteps, line, message.")
    var json = false

    struct Output: Codable {
        var file: String
        var surface: String
        var conforms: Bool
        var checkedSteps: Int
        var line: Int?
        var message: String?
    }

    func run() throws {
        let result: (surface: Surface, verdict: TraceVerdict)
        do {
            result = try verifyStreaming()
        } catch let error as TraceError {
            throw refuse("\(trace): \(error)")
        }
        let verdict = result.verdict
        if json {
            printJSON(Output(file: trace, surface: result.surface.rawValue, conforms: verdict.conforms, checkedSteps: verdict.checkedSteps,
                             line: verdict.problem?.line, message: verdict.problem?.message))
        } else {
            print("\(trace) (\(result.surface)): \(verdict)")
        }
        if !verdict.conforms { throw ExitCode(1) }
    }

    /// Reads the trace a chunk at a time: memory follows the model's state, not the file.
    private func verifyStreaming() throws -> (surface: Surface, verdict: TraceVerdict) {
        let descriptor = trace == "-" ? STDIN_FILENO : open(trace, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw refuse("cannot read '\(trace)': \(String(cString: strerror(errno)))") }
        defer { if descriptor != STDIN_FILENO { close(descriptor) } }
        let reader = RecordedTraceReader()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw refuse("cannot read '\(trace)': \(String(cString: strerror(errno)))")
            }
            if count == 0 { return try reader.finish() }
            try chunk.withUnsafeBufferPointer { try reader.read(UnsafeBufferPointer(rebasing: $0[0..<count])) }
        }
    }
}
