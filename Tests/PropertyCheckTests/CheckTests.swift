import Foundation
import Testing
@testable import PropertyCheck
import PropertyCheckFixtures

@Suite struct CheckTests {
    @Test func theSameSeedGivesTheSameCasesAndTheSameShrunkResult() {
        let generator = Gen.int(in: 0...1000).array(count: 0...20)
        func run() -> CheckReport {
            check(generator, CheckConfiguration(name: "determinism", seed: 42, cases: 500)) { $0.reduce(0, +) <= 1000 }
        }
        let first = run(), second = run()
        #expect(first.failure?.choices == second.failure?.choices)
        #expect(first.failure?.bytes == second.failure?.bytes)
        #expect(first.failure?.trace == second.failure?.trace)
        #expect(first.failure?.shrink.runs == second.failure?.shrink.runs)
        #expect(first.failure?.origin == second.failure?.origin)
        let a = ChoiceStream(.random(seed: caseSeed(runSeed: 42, caseIndex: 17)))
        let b = ChoiceStream(.random(seed: caseSeed(runSeed: 42, caseIndex: 17)))
        #expect(generator.generate(a) == generator.generate(b))
        #expect(a.choices == b.choices)

        let stateful1 = check(CheckConfiguration(name: "kv", seed: 9, cases: 2_000), machine: KeyValueMachine.init)
        let stateful2 = check(CheckConfiguration(name: "kv", seed: 9, cases: 2_000), machine: KeyValueMachine.init)
        #expect(stateful1.failure?.trace == stateful2.failure?.trace)
        #expect(stateful1.statistics.summary == stateful2.statistics.summary)
    }

    /// A run from case K is that part of the run from 0: a campaign resumed after the case that
    /// failed (iommu-check run --first-case) checks what one uninterrupted run would have.
    @Test(arguments: [1, 4])
    func aRunFromALaterCaseIsThatPartOfTheRunFromZero(jobs: Int) throws {
        let generator = Gen.int(in: 0...1000).array(count: 0...20)
        let property: ([Int]) -> Bool = { $0.filter { $0 % 10 == 7 }.count < 3 }
        var fromZero = CheckConfiguration(name: "first-case", seed: 11, cases: 2000)
        fromZero.jobs = jobs
        let first = try #require(check(generator, fromZero, property).failure)
        guard case .generated(let index) = first.origin else { Issue.record("not a generated case: \(first.origin)"); return }
        var resumed = fromZero
        resumed.firstCase = index
        let again = try #require(check(generator, resumed, property).failure)
        #expect(again.origin == first.origin && again.choices == first.choices)
        resumed.firstCase = index + 1
        let next = check(generator, resumed, property).failure
        if case .generated(let later) = next?.origin { #expect(later > index) }
    }

    @Test func aFailureReportPrintsSeedTraceChoicesAndReplayCommand() throws {
        let report = check(Gen.int(in: 0...1000).array(count: 0...20), CheckConfiguration(name: "report", seed: 5, cases: 500)) { $0.reduce(0, +) <= 1000 }
        let failure = try #require(report.failure)
        let text = report.description
        #expect(text.contains("seed 5"))
        #expect(text.contains("value: [1, 1000]"))
        #expect(text.contains("choices (base64): \(failure.base64)"))
        #expect(text.contains("IOMMU_CHECK_REPLAY=\(failure.base64) IOMMU_CHECK_REPLAY_CHECK=report swift test"))

        // The printed choices replay to the same failure.
        var replay = CheckConfiguration(name: "report", seed: 5, cases: 500)
        replay.replay = [UInt8](Data(base64Encoded: failure.base64)!)
        let replayed = check(Gen.int(in: 0...1000).array(count: 0...20), replay) { $0.reduce(0, +) <= 1000 }
        #expect(replayed.failure?.origin == .replay)
        #expect(replayed.failure?.trace == failure.trace)
        #expect(replayed.casesRun == 1)
    }

    @Test func failuresAreSavedAndReplayedFirstByLaterRuns() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("regressions-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = CheckConfiguration(name: "saved", seed: 1, cases: 500)
        configuration.regressionsDirectory = directory
        configuration.savesRegressions = true
        let generator = Gen.int(in: 0...1000).array(count: 0...20)
        let first = check(generator, configuration) { $0.reduce(0, +) <= 1000 }
        let saved = try #require(first.failure?.savedTo)
        #expect(FileManager.default.fileExists(atPath: saved))

        // A later run with no generated cases still finds the failure, from the saved file.
        configuration.cases = 0
        configuration.savesRegressions = false
        let second = check(generator, configuration) { $0.reduce(0, +) <= 1000 }
        #expect(second.failure?.origin == .regression(path: saved))
        #expect(generator.replay(second.failure!.choices) == [1, 1000])
    }

    @Test func aPassingPropertyPassesWithStatistics() {
        let report = check(Gen.int(in: -50...50).array(count: 0...10), CheckConfiguration(name: "reverse", seed: 2, cases: 300)) { xs in
            Array(xs.reversed().reversed()) == xs
        }
        #expect(report.passed, "\(report)")
        #expect(report.statistics.cases == 300)
        #expect(report.casesRun == 300)
    }

    @Test func thrownErrorsAreFailures() {
        struct Boom: Error {}
        let report = check(Gen.uint64(in: 0...10), CheckConfiguration(name: "throws", seed: 1, cases: 100)) { value in
            if value > 4 { throw Boom() }
            return true
        }
        #expect(report.failure?.message.contains("Boom") == true)
        #expect(report.failure.map { Gen.uint64(in: 0...10).replay($0.choices) } == 5)
    }
}

/// `jobs` splits the generated cases across threads without changing the run (issue 15).
@Suite struct ParallelCheckTests {
    @Test(arguments: [2, 3, 8])
    func anyNumberOfJobsGivesTheSameVerdictFailureAndStatistics(jobs: Int) {
        func run(_ jobs: Int, cases: Int) -> CheckReport {
            var configuration = CheckConfiguration(name: "kv", seed: 9, cases: cases)
            configuration.jobs = jobs
            return check(configuration, machine: KeyValueMachine.init)
        }
        for cases in [2_000, 37] {
            let serial = run(1, cases: cases), parallel = run(jobs, cases: cases)
            #expect(serial.passed == parallel.passed)
            #expect(serial.failure?.choices == parallel.failure?.choices)
            #expect(serial.failure?.trace == parallel.failure?.trace)
            #expect(serial.failure?.origin == parallel.failure?.origin)
            #expect(serial.casesRun == parallel.casesRun)
            #expect(serial.statistics.summary == parallel.statistics.summary)
        }
    }

    @Test func aPassingParallelRunCountsEveryCase() {
        var configuration = CheckConfiguration(name: "passing", seed: 1, cases: 1_000)
        configuration.jobs = 4
        let report = check(Gen.int(in: 0...10).array(count: 0...5), configuration) { $0.count <= 5 }
        #expect(report.passed)
        #expect(report.casesRun == 1_000)
        #expect(report.statistics.cases == 1_000)
    }
}
