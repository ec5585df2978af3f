import Testing
@testable import PropertyCheck
import PropertyCheckFixtures

/// A check that cannot fail is a defect: vacuous runs must fail their health check.
@Suite struct HealthCheckTests {
    /// A property over a broken absolute value passes only because its filter throws away every
    /// negative input; the statistics show the run was vacuous and the check fails.
    @Test func aPropertyThatOnlyPassesBecauseItDiscardsEverythingFails() {
        let brokenAbs: (Int) -> Int = { $0 }
        let generator = Gen.int(in: -1000...1000).filter { $0 > 990 }
        let report = check(generator, CheckConfiguration(name: "vacuous-filter", seed: 4, cases: 300)) { brokenAbs($0) >= 0 }
        #expect(report.failure == nil)
        #expect(!report.passed)
        #expect(report.healthProblems.contains { $0.contains("discarded") }, "\(report)")
    }

    @Test func aMachineWhoseCommandsAreAlmostAllRejectedFails() {
        let report = check(CheckConfiguration(name: "vacuous-machine", seed: 4, cases: 200), machine: VacuousAccountMachine.init)
        #expect(report.failure == nil, "the planted bug is unreachable by this generator")
        #expect(!report.passed)
        #expect(report.healthProblems.contains { $0.contains("almost every command was rejected") }, "\(report)")
        #expect(report.healthProblems.contains { $0.contains("'withdraw'") && $0.contains("never accepted") }, "\(report)")
    }

    @Test func aHealthyRunHasNoProblems() {
        var configuration = CheckConfiguration(name: "healthy", seed: 4, cases: 200)
        configuration.health.kindSampleSize = 10
        let report = check(Gen.int(in: 0...10), configuration) { $0 <= 10 }
        #expect(report.passed)
        #expect(report.healthProblems.isEmpty)
    }
}
