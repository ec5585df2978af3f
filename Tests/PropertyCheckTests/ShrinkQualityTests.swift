import Testing
@testable import PropertyCheck
import PropertyCheckFixtures

/// Shrink quality on properties with known minimal counterexamples (Hypothesis reaches each).
@Suite struct ShrinkQualityTests {
    static let sumExceeds1000: @Sendable ([Int]) -> Bool = { $0.reduce(0, +) <= 1000 }

    func shrunkValue<Value>(_ generator: Gen<Value>, seed: UInt64, _ property: @escaping (Value) -> Bool) -> Value? {
        var configuration = CheckConfiguration(name: "shrink-quality", seed: seed, cases: 1_000)
        configuration.health.enabled = false
        let report = check(generator, configuration, property)
        return report.failure.map { generator.replay($0.choices) }
    }

    @Test func listsWhoseSumExceeds1000ShrinkToOneAndOneThousand() {
        let generator = Gen.int(in: 0...1000).array(count: 0...20)
        let results = (1...20).map { shrunkValue(generator, seed: UInt64($0), Self.sumExceeds1000) }
        let canonical = results.filter { $0 == [1, 1000] }.count
        #expect(canonical >= 19, "shrunk results: \(results)")
    }

    @Test func aFailureBehindFlatMapShrinksAsWell() {
        let generator = Gen.int(in: 0...20).flatMap { n in Gen.int(in: 0...1000).array(count: n...n) }
        let results = (1...20).map { shrunkValue(generator, seed: UInt64($0), Self.sumExceeds1000) }
        let canonical = results.filter { $0 == [1, 1000] }.count
        #expect(canonical >= 19, "shrunk results: \(results)")
    }

    @Test func aStoreDroppingTheEighthKeyShrinksToNineCommands() {
        var lengths: [Int] = []
        for seed in 1...5 as ClosedRange<UInt64> {
            let report = check(CheckConfiguration(name: "kv-store", seed: seed, cases: 2_000), machine: KeyValueMachine.init)
            guard let failure = report.failure else {
                Issue.record("seed \(seed): the dropped key was not found\n\(report)")
                continue
            }
            lengths.append(failure.trace.count)
            #expect(failure.trace.count == 9, "\(failure)")
            #expect(failure.trace.filter { $0.hasPrefix("put") }.count == 8)
            #expect(failure.trace.last?.hasPrefix("get") == true)
        }
        #expect(lengths.count == 5)
    }

    @Test func shrinkingReportsItsRunsAndStaysInBudget() {
        var configuration = CheckConfiguration(name: "budget", seed: 3, cases: 1_000)
        configuration.shrinkBudget = Shrinker.Budget(runs: 25, seconds: 60)
        let report = check(Gen.int(in: 0...1000).array(count: 0...20), configuration, Self.sumExceeds1000)
        let failure = try! #require(report.failure)
        #expect(failure.shrink.runs <= 26)
        #expect(failure.shrink.budgetExhausted)
        #expect(failure.description.contains("budget exhausted"))
    }
}
