import Benchmark
import IOMMUConformance
import IOMMUOptimized
import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// The AddressSpace surface: differential throughput (checked operations per second, one core),
/// and the optimized implementation against the reference model at 10, 1,000 and 100,000 live
/// mappings. Compare ratios within one run.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(2), maxIterations: 1_000_000)

    Benchmark(
        "differential: optimized vs model, checked operations per second",
        configuration: .init(metrics: [.wallClock, .custom("operations per second", polarity: .prefersLarger, useScalingFactor: false)], maxDuration: .seconds(12), maxIterations: 8)
    ) { benchmark in
        let check = try! AddressSpaceCheck(implementation: .optimized)
        var configuration = CheckConfiguration(name: "throughput", seed: 1, cases: 20_000)
        configuration.health.enabled = false
        for _ in benchmark.scaledIterations {
            let report = check.run(configuration)
            benchmark.measurement(.custom("operations per second", polarity: .prefersLarger, useScalingFactor: false), Int(Double(report.statistics.totalCommands) / report.seconds))
        }
    }

    for live in [10, 1_000, 100_000] {
        let make: [(String, (AddressSpaceConfiguration) -> any AddressSpace)] = [
            ("model", { AddressSpaceModel(configuration: $0) }),
            ("optimized", { AddressSpaceOptimized(configuration: $0) }),
        ]
        for (name, factory) in make {
            // `live` 4 KiB mappings, one every 8 KiB, so every other page is a gap.
            func populated() -> any AddressSpace {
                let space = factory(AddressSpaceConfiguration(mappingLimit: 1 << 20))
                for i in 0..<UInt64(live) { _ = space.map(iova: i * 0x2000, length: 0x1000, phys: 0x1_0000_0000 + i * 0x1000, permissions: .readWrite) }
                return space
            }

            // The population is built once per benchmark (setup), outside the measurement.
            Benchmark("translate: \(name), \(live) mappings", configuration: .init(scalingFactor: .kilo), closure: { benchmark, space in
                var rng = Xoshiro256StarStar(seed: 1)
                for _ in benchmark.scaledIterations {
                    let page = rng.next(upTo: UInt64(live - 1))
                    blackHole(space.translate(iova: page * 0x2000 + 0x123, access: .read))
                }
            }, setup: populated)

            Benchmark("map+unmap: \(name), \(live) mappings", configuration: .init(scalingFactor: .kilo), closure: { benchmark, space in
                var rng = Xoshiro256StarStar(seed: 2)
                for _ in benchmark.scaledIterations {
                    let gap = rng.next(upTo: UInt64(live - 1)) * 0x2000 + 0x1000
                    blackHole(space.map(iova: gap, length: 0x1000, phys: 0x2_0000_0000, permissions: .read))
                    blackHole(space.unmap(iova: gap, length: 0x1000))
                }
            }, setup: populated)
        }

        Benchmark("bytes per mapping: \(live) mappings", configuration: .init(metrics: [.custom("optimized bookkeeping bytes"), .custom("model bytes")], maxIterations: 1)) { benchmark in
            let optimized = AddressSpaceOptimized(configuration: AddressSpaceConfiguration(mappingLimit: 1 << 20))
            let model = AddressSpaceModel(configuration: AddressSpaceConfiguration(mappingLimit: 1 << 20))
            for i in 0..<UInt64(live) {
                _ = optimized.map(iova: i * 0x2000, length: 0x1000, phys: i * 0x1000, permissions: .readWrite)
                _ = model.map(iova: i * 0x2000, length: 0x1000, phys: i * 0x1000, permissions: .readWrite)
            }
            benchmark.measurement(.custom("optimized bookkeeping bytes"), optimized.bookkeepingBytes / live)
            benchmark.measurement(.custom("model bytes"), model.extents.storageBytes / live)
        }
    }
}
