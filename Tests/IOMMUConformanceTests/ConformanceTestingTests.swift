import Foundation
import IOMMUConformance
import IOMMUConformanceTesting
import IOMMUOptimized
import IOMMUSpec
import PropertyCheck
import Testing

extension AddressSpaceOptimized: BuildableAddressSpace {}
extension IsolationOptimized: BuildableIsolationSystem {}
extension ShadowOptimized: BuildableShadowSystem {}
extension InterruptOptimized: BuildableInterruptSystem {}
extension ProtectedDMAOptimized: BuildableProtectedDMASystem {}

/// A value a @Sendable closure may set.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func set(_ value: Value) { lock.withLock { stored = value } }
}

/// Counts what a `withKnownIssue` matcher saw (the matcher is @Sendable).
final class IssueLog: @unchecked Sendable {
    private let lock = NSLock()
    private var texts: [String] = []

    func add(_ issue: Issue) {
        lock.withLock { texts.append(issue.comments.map(\.rawValue).joined(separator: "\n")) }
    }

    var all: [String] { lock.withLock { texts } }
}

/// The Swift Testing integration: a user's type checked in one line, one issue per failure with
/// what replays it, failures saved into the user's package and replayed first.
@Suite struct ConformanceTestingTests {
    @Test(.conformance(cases: 200, savesRegressions: false))
    func aTypeOfEachSurfaceIsCheckedInOneLine() {
        #expect(Conformance.check(AddressSpaceOptimized.self, policy: .vfioType1).passed)
        #expect(Conformance.check(IsolationOptimized.self).passed)
        #expect(Conformance.check(ShadowOptimized.self).passed)
        #expect(Conformance.check(InterruptOptimized.self).passed)
        #expect(Conformance.check(ProtectedDMAOptimized.self).passed)
    }

    @Test(.conformance(cases: 2_000, savesRegressions: false, replaysCorpus: false))
    func aFailureIsOneIssueWithTheShrunkTraceTheSeedAndTheReplayLine() throws {
        let log = IssueLog()
        let check = try SurfaceCheck.make(.addressSpace, implementation: .mutant("stale-iotlb"))
        let generated = Locked(true)
        withKnownIssue {
            let report = Conformance.check(check)
            generated.set(report.generated)
            #expect(report.failure != nil)
        } matching: { issue in
            log.add(issue)
            return true
        }
        // Replayed by its printed line (scripts/replay-lines), the failure is a replay's.
        guard generated.value else { return }
        #expect(log.all.count == 1)
        let text = log.all.first ?? ""
        #expect(text.contains("trace ("))
        #expect(text.contains("failure in case"))
        #expect(text.contains("of seed "))
        #expect(text.contains("swift run iommu-check replay-test --filter '^IOMMUConformanceTests\\.ConformanceTestingTests/aFailureIsOneIssueWithTheShrunkTraceTheSeedAndTheReplayLine\\(\\)/'"))
        #expect(text.contains("--check 'IOMMUConformanceTests.ConformanceTestingTests/aFailureIsOneIssueWithTheShrunkTraceTheSeedAndTheReplayLine()'"))
        #expect(!text.contains("outcomes:"), "the statistics table belongs in the report, not the issue")
    }

    @Test func aFailureIsSavedInThePackageAndReplayedFirst() throws {
        let package = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: package.appendingPathComponent("Tests/MyTests"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: package) }
        FileManager.default.createFile(atPath: package.appendingPathComponent("Package.swift").path, contents: Data())
        let place = SourceLocation(fileID: "MyTests/MyTests.swift", filePath: package.appendingPathComponent("Tests/MyTests/MyTests.swift").path, line: 1, column: 1)
        let check = try SurfaceCheck.make(.addressSpace, implementation: .mutant("stale-iotlb"))
        ConformanceSettings.$current.withValue(settings(cases: 2_000)) {
            withKnownIssue { _ = Conformance.check(check, sourceLocation: place) }
        }
        let saved = package.appendingPathComponent("Tests/ConformanceRegressions")
        let folders = try FileManager.default.contentsOfDirectory(atPath: saved.path)
        #expect(folders.count >= 1, "the failure was saved under Tests/ConformanceRegressions")
        // A later run of the same check replays the saved failure before generating.
        var later: CheckReport?
        withKnownIssue {
            later = ConformanceSettings.$current.withValue(settings(cases: 1)) { Conformance.check(check, sourceLocation: place) }
        }
        guard case .regression(let path)? = later?.failure?.origin else {
            Issue.record("the saved failure was not replayed first: \(String(describing: later?.failure?.origin))")
            return
        }
        #expect(path.hasPrefix(saved.path))
    }

    @Test(.conformance(seed: 7, cases: 10, savesRegressions: false))
    func theTraitSetsSeedAndCases() {
        let report = Conformance.check(AddressSpaceOptimized.self)
        if ProcessInfo.processInfo.environment["IOMMU_CHECK_SEED"] == nil { #expect(report.seed == 7) }
        if ProcessInfo.processInfo.environment["IOMMU_CHECK_CASES"] == nil && report.generated { #expect(report.casesRun >= 10) }
    }

    @Test(.conformance(cases: 500, savesRegressions: false, replaysCorpus: false))
    func yourOwnInvariantIsAskedAfterEveryStep() {
        withKnownIssue {
            let report = Conformance.check(AddressSpaceOptimized.self, invariant: { $0.mappings(in: 0...UInt64.max).count < 2 ? nil : "two mappings at once" })
            #expect(report.failure?.message.contains("invariant broken after step") == true)
            #expect(report.failure?.message.contains("two mappings at once") == true)
        }
    }

    /// The optimized structures are public, for a user to build on (and check with their own
    /// invariants).
    @Test func theBuildingBlocksArePublic() {
        var index = ExtentIndex()
        index.insert(Extent(iova: 0x1000, length: 0x2000, phys: 0x10_0000, permissions: .readWrite))
        #expect(index.position(containing: 0x2FFF).map { index[$0].phys } == 0x10_0000)
        index.checkInvariants()
        let table = RadixPageTable(addressWidth: 48)
        table.map(iova: 0x20_0000, length: 0x20_0000, phys: 0x40_0000, permissions: .read)
        #expect(table.translate(0x20_1234)?.phys == 0x40_1234)
        #expect(table.translate(0x1000) == nil)
    }

    @Test func aReportDescribesItselfInOneLineToExpectations() {
        let report = CheckReport(name: "x", seed: 1, casesRun: 3, statistics: Statistics(), failure: nil, healthProblems: [], errors: [], seconds: 0)
        #expect(!report.testDescription.contains("\n"))
        #expect(report.testDescription.contains("passed"))
    }

    private func settings(cases: Int) -> ConformanceSettings {
        var settings = ConformanceSettings()
        settings.cases = cases
        settings.replaysCorpus = false
        return settings
    }
}
