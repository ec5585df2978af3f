import Benchmark
import Foundation
import IOMMUConformance
import IOMMUSpec

/// The figures of issue 17 that are not a campaign's: `verify`'s lines per second on a small
/// state and with 65,535 live mappings (the per-line cost of a large state against a small
/// one), and one fuzz input's cost through the fuzz entry (the harness's share of a libFuzzer
/// execution, without libFuzzer's instrumentation). Compare ratios within one run.
let benchmarks: @Sendable () -> Void = {
    let perSecond = BenchmarkMetric.custom("lines per second", polarity: .prefersLarger, useScalingFactor: false)
    let header = #"{"trace":"iommu-conformance","version":2,"surface":"address-space","configuration":{"pageSize":"0x1000","aperture":["0x0","0xffffffffffff"],"reserved":[],"policy":"iommufd"}}"#
    func map(_ iova: UInt64) -> String { #"{"op":"map","iova":"\#(hex(iova))","length":"0x1000","phys":"0x100000","permissions":"rw","outcome":"ok"}"# }
    func unmap(_ iova: UInt64) -> String { #"{"op":"unmap","iova":"\#(hex(iova))","length":"0x1000","outcome":"ok","bytes":"0x1000"}"# }
    func translate(_ iova: UInt64) -> String { #"{"op":"translate","iova":"\#(hex(iova))","access":"read","outcome":"ok","phys":"0x100000"}"# }

    // 100,000 lines of map, translate, unmap over 64 pages: the state stays small.
    let small = Array(([header] + (0..<33_333).flatMap { i -> [String] in
        let iova = UInt64(i % 64) * 0x2000
        return [map(iova), translate(iova), unmap(iova)]
    }).joined(separator: "\n").utf8)
    // 65,535 mappings, then 100,000 lines of map and unmap in the gaps between them.
    let large = Array(([header] + (0..<65_535).map { map(UInt64($0) * 0x2000) } + (0..<50_000).flatMap { j -> [String] in
        let iova = UInt64(j % 65_535) * 0x2000 + 0x1000
        return [map(iova), unmap(iova)]
    }).joined(separator: "\n").utf8)

    for (name, bytes, lines) in [("100,000 lines, small state", small, 100_000), ("65,535 live mappings, then 100,000 lines", large, 165_535)] {
        Benchmark("verify: \(name)", configuration: .init(metrics: [.wallClock, perSecond, .peakMemoryResident], maxDuration: .seconds(10), maxIterations: 3)) { benchmark in
            for _ in benchmark.scaledIterations {
                let started = ContinuousClock.now
                let result = try? RecordedTrace.verify(bytes)
                precondition(result?.verdict.conforms == true, "the benchmark trace must conform")
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                benchmark.measurement(perSecond, Int(Double(lines) / seconds))
            }
        }
    }

    // Each surface's seed corpus through the fuzz entry, as a fuzz target runs it.
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let inputsPerSecond = BenchmarkMetric.custom("inputs per second", polarity: .prefersLarger, useScalingFactor: false)
    for surface in Surface.allCases {
        let folder = root.appendingPathComponent("Corpus/\(surface.rawValue)")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix("seed-") }.sorted()
        let inputs = names.compactMap { FileManager.default.contents(atPath: folder.appendingPathComponent($0).path).map { [UInt8]($0) } }
        guard !inputs.isEmpty else { continue }
        Benchmark("fuzz entry: \(surface), seed corpus inputs per second (no libFuzzer instrumentation)", configuration: .init(metrics: [.wallClock, inputsPerSecond], maxDuration: .seconds(5), maxIterations: 3)) { benchmark in
            for _ in benchmark.scaledIterations {
                let started = ContinuousClock.now
                var runs = 0
                while ContinuousClock.now - started < .seconds(1) {
                    for input in inputs { _ = input.withUnsafeBytes { FuzzEntry.run(surface, $0) } }
                    runs += inputs.count
                }
                let elapsed = ContinuousClock.now - started
                benchmark.measurement(inputsPerSecond, Int(Double(runs) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)))
            }
        }
    }
}
