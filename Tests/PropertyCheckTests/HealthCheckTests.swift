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

    /// A machine whose implementation cannot carry out a command it accepts (`.stopped`): the
    /// case ends there, passed and counted, and `finish` (whose bug would fail it) never runs.
    private struct StoppingMachine: StateMachine {
        enum Command { case step, carryOutFails }
        static let commandKinds = ["step", "carry-out-fails"]
        let stopShare: Int
        var stopped = false
        mutating func drawCommand(_ stream: ChoiceStream, enabled: KindSet) -> Command {
            stream.drawWeightedIndex([100 - stopShare, stopShare]) == 1 ? .carryOutFails : .step
        }
        func kind(of command: Command) -> Int { command == .step ? 0 : 1 }
        mutating func step(_ command: Command) -> StepResult {
            if command == .step { return .agreed(outcome: "ok", accepted: true) }
            stopped = true
            return .stopped(outcome: "unobservable")
        }
        mutating func finish() -> String? { stopped ? "finish ran after the case stopped" : nil }
        func describe(_ command: Command) -> String { "\(command)" }
    }

    @Test func aStoppedCaseEndsPassedAndCounted() {
        var configuration = CheckConfiguration(name: "stopping", seed: 4, cases: 200)
        configuration.health.maxStoppedShare = 1
        let report = check(configuration) { StoppingMachine(stopShare: 100) }
        #expect(report.failure == nil, "\(report)")
        #expect(report.statistics.stoppedCases > 100, "\(report.statistics.summary)")
        #expect(report.statistics.summary.contains("ended early (unobservable)"))
    }

    @Test func aRunMostlyStoppedFailsItsHealthCheck() {
        let report = check(CheckConfiguration(name: "mostly-stopping", seed: 4, cases: 200)) { StoppingMachine(stopShare: 10) }
        #expect(!report.passed)
        #expect(report.healthProblems.contains { $0.contains("ended early") }, "\(report)")
        var rarely = CheckConfiguration(name: "rarely-stopping", seed: 4, cases: 200)
        rarely.health.requireEveryKindAccepted = false
        let rare = check(rarely) { StoppingMachine(stopShare: 1) }
        #expect(rare.passed, "\(rare)")
    }

    @Test func aHealthyRunHasNoProblems() {
        var configuration = CheckConfiguration(name: "healthy", seed: 4, cases: 200)
        configuration.health.kindSampleSize = 10
        let report = check(Gen.int(in: 0...10), configuration) { $0 <= 10 }
        #expect(report.passed)
        #expect(report.healthProblems.isEmpty)
    }
}
