import IOMMUSpec
import PropertyCheck

extension ShadowCheck: SurfaceDefinition {
    public static var surface: Surface { .shadow }
    static let fixedAxes: Set<String> = ["--address-width", "--domains", "--mapping-limit"]

    static func make(_ implementation: ImplementationChoice, policy: String?, stateful: StatefulOptions, fixed: FixedConfiguration) throws(ImplementationUnavailable) -> ShadowCheck {
        let probe = ShadowConfiguration(domains: fixed.domains ?? 1, addressWidth: fixed.addressWidth ?? 48, host: .vfioType1, mappingLimit: fixed.mappingLimit ?? nil)
        do {
            try probe.validate()
        } catch {
            throw ImplementationUnavailable("the fixed shadow settings: \(error)")
        }
        let (policy, host) = try parse(policy)
        var check = try ShadowCheck(stateful: stateful, policy: policy, host: host, implementation: implementation)
        check.fixed = fixed
        return check
    }

    static func contract(policy text: String?) throws(ImplementationUnavailable) -> String {
        let (policy, host) = try parse(text)
        let hosts = host.map { [$0] } ?? ShadowHostPolicy.allCases
        return contractText + "\n" + (try ShadowPolicy.contractLines(policy?.spelled))
            + "\nhosts (the host IOMMU interface the layer programs):\n" + hosts.map { "  - \($0.rule)" }.joined(separator: "\n")
    }

    private static let contractText = """
        Shadow (docs/SEMANTICS.md, "Shadow"; QEMU intel_iommu.c vtd_page_walk_one / vtd_address_space_sync, VT-d caching mode, QEMU s390-pci-inst.c rpcit, seeds 000 and 004)
        the guest writes its I/O page table (4 KiB, 2 MiB, 1 GiB leaves, IOVAs across a 39-, 48- or
          57-bit space) silently, then invalidates: page-selective (2^order pages), domain, global,
          context-entry removal
        coherence: after an invalidation of range R, the host maps on R exactly the guest's present
          leaves on R, translated through the guest memory map, with their permissions; beside R, where
          the resync may touch, what it mapped before or the guest's current translation
        the resync may touch only R, widened where the policy or the host requires (below)
        a page mapped the same before and after translates at every intermediate host state, unless
          the policy lets it blink (below) or it lies in a host mapping that must go and the host cannot
          split one
        UNMAP-only consumers (vhost) are told about all of R
        a host map that fails with mapping-limit ends the resync: the layer reports insufficient
          resources (ZPCI_RPCIT_ST_INSUFF_RES), and R may then hold old translations or none; a report
          without a failed map is wrong
        device DMA injected between host calls sees only what these rules allow
    """
}
