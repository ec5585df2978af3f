import IOMMUConformance
import IOMMUSpec
import Testing

/// `iommu-check explain` states each policy's rules, and refuses a policy a surface lacks.
@Suite struct ContractTests {
    @Test func everyAddressSpacePolicyStatesItsUnmapRules() throws {
        let all = try Contract.text(.addressSpace)
        for preset in UnmapPolicy.presets { #expect(all.contains("policy \(preset.name) ")) }
        let iommufd = try Contract.text(.addressSpace, policy: "iommufd")
        #expect(iommufd.contains("fails with partial-unmap") && iommufd.contains("fails with nothing-to-unmap"))
        #expect(!iommufd.contains("policy vfio-type1"))
    }

    @Test(arguments: Surface.allCases)
    func everySurfaceHasAContractNamingItsSources(surface: Surface) throws {
        let text = try Contract.text(surface)
        #expect(text.contains("docs/SEMANTICS.md"))
        #expect(text.split(separator: "\n").count >= 8)
    }

    @Test func aPolicyTheSurfaceLacksIsRefused() {
        #expect(throws: ImplementationUnavailable.self) { try Contract.text(.isolation, policy: "iommufd") }
        #expect(throws: ImplementationUnavailable.self) { try Contract.text(.shadow, policy: "split") }
        #expect((try? Contract.text(.shadow, policy: "atomic-replace"))?.contains("old or its new address") == true)
    }
}
