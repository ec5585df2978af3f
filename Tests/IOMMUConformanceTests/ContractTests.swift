import IOMMUConformance
import IOMMUSpec
import Testing

/// `iommu-check explain` states each policy's rules, and refuses a policy a surface lacks.
@Suite struct ContractTests {
    @Test func everyAddressSpacePolicyStatesItsRules() throws {
        let all = try Contract.text(.addressSpace)
        for preset in AddressSpacePolicy.presets { #expect(all.contains("policy \(preset.name):\n")) }
        let iommufd = try Contract.text(.addressSpace, policy: "iommufd")
        #expect(iommufd.contains("what it removed stays removed") && iommufd.contains("fails with nothing-to-unmap"))
        #expect(!iommufd.contains("policy vfio-type1"))
        // The text comes from the switches: an override changes exactly its rule.
        let denied = try Contract.text(.addressSpace, policy: "virtio-iommu:write-only-reads=denied")
        #expect(denied.contains("a read of a write-only mapping faults permission-denied"))
        #expect(!denied.contains("may reach it or fault"))
    }

    /// docs/SEMANTICS.md holds the evidence table exactly as the code states it, and every
    /// rule of every preset has a source.
    @Test func theEvidenceTableIsCompleteAndMatchesTheDocumentation() throws {
        let table = Contract.addressSpaceEvidence()
        #expect(!table.contains("MISSING"), "a rule without a source:\n\(table.split(separator: "\n").filter { $0.contains("MISSING") }.joined(separator: "\n"))")
        let semantics = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/SEMANTICS.md"), encoding: .utf8)
        #expect(semantics.contains(table), "docs/SEMANTICS.md's evidence table differs from `iommu-check explain --surface address-space --evidence`")
    }

    @Test(arguments: Surface.allCases)
    func everySurfaceHasAContractNamingItsSources(surface: Surface) throws {
        let text = try Contract.text(surface)
        #expect(text.contains("docs/SEMANTICS.md"))
        #expect(text.split(separator: "\n").count >= 8)
    }

    @Test func aPolicyTheSurfaceLacksIsRefused() {
        #expect(throws: ImplementationUnavailable.self) { try Contract.text(.isolation, policy: "vfio") }
        #expect(throws: ImplementationUnavailable.self) { try Contract.text(.shadow, policy: "split") }
        #expect((try? Contract.text(.shadow, policy: "atomic-replace"))?.contains("old or its new address") == true)
    }
}
