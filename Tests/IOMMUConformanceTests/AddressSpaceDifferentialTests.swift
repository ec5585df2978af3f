import IOMMUConformance
import IOMMUConformanceTesting
import IOMMUSpec
import PropertyCheck
import Testing

/// The optimized address space agrees with the reference model on generated operation
/// sequences under every policy. CI runs a few thousand cases; nightly jobs raise
/// IOMMU_CHECK_CASES.
@Suite struct AddressSpaceDifferentialTests {
    @Test(.conformance(cases: 3_000)) func theOptimizedAddressSpaceAgreesWithTheModel() throws {
        let report = Conformance.check(try SurfaceCheck.make(.addressSpace, implementation: .optimized), regressions: regressions(.addressSpace))
        // A replay's statistics are one case's.
        guard report.generated else { return }
        // Every kind of operation ran and succeeded sometimes, and so did every error path.
        for kind in AddressSpaceCheck.kindNames {
            #expect((report.statistics.accepted[kind] ?? 0) > 0, "\(kind) never succeeded")
        }
        // not-supported is a shadow host's answer to replace, unobservable a real kernel's that
        // could not carry out a map: no address-space rule gives either.
        for error in AddressSpaceError.allCases where error != .notSupported && error != .unobservable {
            let seen = report.statistics.outcomes.contains { $0.key.outcome == error.rawValue }
            #expect(seen, "no operation returned \(error)")
        }
        for fault in TranslationFault.allCases {
            #expect((report.statistics.outcomes[OutcomeKey(kind: "translate", outcome: fault.rawValue)] ?? 0) > 0, "no translate faulted with \(fault)")
        }
    }

    @Test(arguments: AddressSpacePolicy.presetNames)
    func eachPolicyIsCheckedOnItsOwn(policy: String) throws {
        let check = try SurfaceCheck.make(.addressSpace, implementation: .optimized, policy: policy)
        let report = check.run(try testConfiguration("address-space-\(policy)", cases: 500))
        #expect(report.passed, "\(report)")
    }

    /// The model against itself: the runner reports no disagreement where there is none.
    @Test func theModelAgreesWithItself() throws {
        let report = try AddressSpaceCheck(implementation: .reference).run(try testConfiguration("address-space-reference", cases: 500))
        #expect(report.passed, "\(report)")
    }
}
