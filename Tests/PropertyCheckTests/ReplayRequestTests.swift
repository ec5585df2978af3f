import Foundation
import Testing
@testable import PropertyCheck

/// A replay asked for in the environment reaches every check, bound to the one it names.
@Suite struct ReplayRequestTests {
    private let failing = Gen.int(in: 0...1000).array(count: 0...20)

    private func configuration(_ name: String, _ environment: [String: String]) -> CheckConfiguration {
        var configuration = CheckConfiguration(name: name, seed: 5, cases: 500)
        configuration.environment = environment
        return configuration
    }

    @Test func aCheckBuiltWithoutTheEnvironmentHelperReplaysTheChoices() throws {
        let found = check(failing, configuration("sum", [:])) { $0.reduce(0, +) <= 1000 }
        let failure = try #require(found.failure)
        let replayed = check(failing, configuration("sum", ["IOMMU_CHECK_REPLAY": failure.base64])) { $0.reduce(0, +) <= 1000 }
        #expect(replayed.replayed && !replayed.generated)
        #expect(replayed.failure?.origin == .replay)
        #expect(replayed.failure?.trace == failure.trace)
        #expect(replayed.casesRun == 1)
    }

    @Test func aReplayBoundToAnotherCheckRunsNothingHere() {
        let report = check(failing, configuration("sum", ["IOMMU_CHECK_REPLAY": "AQID", "IOMMU_CHECK_REPLAY_CHECK": "other"])) { $0.reduce(0, +) <= 1000 }
        #expect(report.passed && !report.generated)
        #expect(report.casesRun == 0)
        #expect(report.notRun?.contains("'other'") == true)
        #expect(report.description.contains("not run"))
    }

    @Test func aReplayIsRecordedForTheRunnerThatAskedForIt() throws {
        let record = FileManager.default.temporaryDirectory.appendingPathComponent("replay-record-\(UInt32.random(in: 0 ... .max))")
        FileManager.default.createFile(atPath: record.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: record) }
        let failure = try #require(check(failing, configuration("sum", [:])) { $0.reduce(0, +) <= 1000 }.failure)
        let environment = ["IOMMU_CHECK_REPLAY": failure.base64, "IOMMU_CHECK_REPLAY_CHECK": "sum", "IOMMU_CHECK_REPLAY_RECORD": record.path]
        _ = check(failing, configuration("sum", environment)) { $0.reduce(0, +) <= 1000 }
        _ = check(failing, configuration("else", environment)) { $0.reduce(0, +) <= 1000 }
        #expect(try String(contentsOf: record, encoding: .utf8) == "failed sum\n")
    }

    @Test func aMalformedReplayIsAnErrorNamingTheVariable() {
        let report = check(failing, configuration("sum", ["IOMMU_CHECK_REPLAY": "not base64!"])) { $0.reduce(0, +) <= 1000 }
        #expect(!report.passed)
        #expect(report.errors.first?.contains("IOMMU_CHECK_REPLAY='not base64!'") == true)
        #expect(report.casesRun == 0)
    }

    @Test func theDefaultReplayCommandBindsTheReplayToTheCheck() throws {
        let found = check(failing, configuration("sum of a list", [:])) { $0.reduce(0, +) <= 1000 }
        let failure = try #require(found.failure)
        #expect(failure.replayCommand == "IOMMU_CHECK_REPLAY=\(failure.base64) IOMMU_CHECK_REPLAY_CHECK='sum of a list' swift test")
    }
}
