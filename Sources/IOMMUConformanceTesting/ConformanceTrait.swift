import Foundation
import Testing

/// How the checks of a test run, set by the `.conformance(...)` trait.
public struct ConformanceSettings: Sendable {
    /// The run seed (default: fixed per check name, or `IOMMU_CHECK_SEED`).
    public var seed: UInt64?
    /// Generated cases per check (default: `Conformance.defaultCases`, or `IOMMU_CHECK_CASES`).
    public var cases: Int?
    /// A choice sequence to replay instead of generating (as a failure prints it, in bytes).
    public var replay: [UInt8]?
    /// Whether a failure is saved into the package's `Tests/ConformanceRegressions/` and saved
    /// failures replayed first.
    public var savesRegressions = true
    /// Whether the corpus this package ships for the surface is replayed before generation.
    public var replaysCorpus = true

    public init() {}

    @TaskLocal public static var current = ConformanceSettings()
}

/// Sets seed, cases and replay for the checks of a test, or of every test of a suite.
///
/// ```swift
/// @Test(.conformance(seed: 7, cases: 20_000)) func longer() { Conformance.check(MyAddressSpace.self) }
/// ```
public struct ConformanceTrait: TestTrait, SuiteTrait, TestScoping {
    public var settings: ConformanceSettings

    public var isRecursive: Bool { true }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await ConformanceSettings.$current.withValue(settings, operation: function)
    }
}

extension Trait where Self == ConformanceTrait {
    /// `replay` is a base64 choice sequence as a failure prints it; a malformed one is ignored
    /// with an issue recorded by the check.
    public static func conformance(seed: UInt64? = nil, cases: Int? = nil, replay: String? = nil, savesRegressions: Bool = true, replaysCorpus: Bool = true) -> Self {
        var settings = ConformanceSettings()
        settings.seed = seed
        settings.cases = cases
        settings.replay = replay.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
        settings.savesRegressions = savesRegressions
        settings.replaysCorpus = replaysCorpus
        return ConformanceTrait(settings: settings)
    }
}
