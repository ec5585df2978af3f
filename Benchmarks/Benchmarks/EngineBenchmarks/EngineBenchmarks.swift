import Benchmark
import PropertyBased
import PropertyCheck
import PropertyCheckFixtures

/// Benchmark closures run once per sample; a global counter gives every run its own seed, so
/// the shrink figures are medians over different failures.
nonisolated(unsafe) var nextSeed: UInt64 = 0

/// The engine against x-sheep/swift-property-based 2.0.1 on the same shape (lists of 0...20
/// integers in 0...1000), and the shrinker on two properties with known minimal counterexamples.
/// Compare the two generation benchmarks' throughput within one run; absolute numbers vary by machine.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(3),
        maxIterations: 1_000_000
    )

    Benchmark("generate: PropertyCheck lists 0...20 of 0...1000", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let generator = PropertyCheck.Gen.int(in: 0...1000).array(count: 0...20)
        let stream = ChoiceStream(.random(seed: 0))
        var seed: UInt64 = 0
        for _ in benchmark.scaledIterations {
            seed &+= 1
            stream.reset(.random(seed: seed))
            blackHole(generator.generate(stream))
        }
    }

    Benchmark("generate: swift-property-based lists 0...20 of 0...1000", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let generator = PropertyBased.Gen.int(in: 0...1000).array(of: 0...20)
        var rng = Xoshiro(seed: (1, 2, 3, 4))
        for _ in benchmark.scaledIterations {
            blackHole(generator.run(using: &rng))
        }
    }

    let shrinkMetrics: [BenchmarkMetric] = [.wallClock, .custom("shrink runs"), .custom("shrunk length")]

    Benchmark("shrink: sum of list > 1000 to [1, 1000]", configuration: .init(metrics: shrinkMetrics, maxIterations: 200)) { benchmark in
        let generator = PropertyCheck.Gen.int(in: 0...1000).array(count: 0...20)
        for _ in benchmark.scaledIterations {
            nextSeed += 1
            var configuration = CheckConfiguration(name: "sum", seed: nextSeed, cases: 1_000)
            configuration.health.enabled = false
            benchmark.startMeasurement()
            let report = check(generator, configuration) { $0.reduce(0, +) <= 1000 }
            benchmark.stopMeasurement()
            if let failure = report.failure {
                benchmark.measurement(.custom("shrink runs"), failure.shrink.runs)
                benchmark.measurement(.custom("shrunk length"), generator.replay(failure.choices).count)
            }
        }
    }

    Benchmark("shrink: key-value store dropping the 8th key to 9 commands", configuration: .init(metrics: shrinkMetrics, maxIterations: 50)) { benchmark in
        for _ in benchmark.scaledIterations {
            nextSeed += 1
            benchmark.startMeasurement()
            let report = check(CheckConfiguration(name: "kv", seed: nextSeed, cases: 5_000), machine: KeyValueMachine.init)
            benchmark.stopMeasurement()
            if let failure = report.failure {
                benchmark.measurement(.custom("shrink runs"), failure.shrink.runs)
                benchmark.measurement(.custom("shrunk length"), failure.trace.count)
            }
        }
    }
}
