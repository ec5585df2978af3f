import Benchmark
import Foundation
import IOMMUConformance
import IOMMUSpec
import PropertyCheck

/// The C example plug-ins (Examples/c-plugin) against the Swift optimized implementations, in
/// one run: checked operations per second in process and, where the root package's release
/// iommu-check exists (`swift build -c release` at the root), through a worker process.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock], maxDuration: .seconds(2), maxIterations: 3)
    let perSecond = BenchmarkMetric.custom("operations per second", polarity: .prefersLarger, useScalingFactor: false)
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let worker = root.appendingPathComponent(".build/release/iommu-check").path
    let examples: [(Surface, String, Int)] = [(.addressSpace, "address_space.c", 500), (.isolation, "isolation.c", 250), (.shadow, "shadow.c", 100), (.interrupts, "interrupts.c", 500), (.protectedDMA, "protected_dma.c", 200)]

    func build(_ source: String) -> String? {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(getpid())-\(source).so").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["clang", "-shared", "-fPIC", "-O2", "-I", root.appendingPathComponent("Sources/CIOMMUCheck/include").path,
                             root.appendingPathComponent("Examples/c-plugin/\(source)").path, "-o", output]
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? output : nil
    }

    for (surface, source, cases) in examples {
        guard let library = build(source) else { continue }
        var choices: [(String, ImplementationChoice)] = [("Swift optimized", .optimized), ("C plug-in in process", .plugin(PluginReference(path: library, workerExecutable: nil)))]
        if FileManager.default.isExecutableFile(atPath: worker) {
            choices.append(("C plug-in in a worker", .plugin(PluginReference(path: library, workerExecutable: worker))))
        }
        for (name, choice) in choices {
            Benchmark("\(surface): \(name), checked operations per second", configuration: .init(metrics: [.wallClock, perSecond])) { benchmark in
                // As `iommu-check run --jobs 1` does: the two ends spin on two CPUs, or share one.
                if name.contains("worker") {
                    WorkerRoundTrips.configure(jobs: 1)
                    if WorkerRoundTrips.wantOneCPU { pinToCurrentCPU() }
                }
                guard let check = try? SurfaceCheck.make(surface, implementation: choice) else { return }
                // The same cases for every choice: case sizes grow with the case index, so fewer cases
                // would be a lighter workload, not a fair comparison.
                var configuration = CheckConfiguration(name: surface.rawValue, seed: 1, cases: cases)
                configuration.health.enabled = false
                for _ in benchmark.scaledIterations {
                    let report = check.run(configuration)
                    benchmark.measurement(perSecond, Int(Double(report.statistics.totalCommands) / report.seconds))
                }
            }
        }
    }
}
