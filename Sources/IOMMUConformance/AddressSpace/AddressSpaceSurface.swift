import IOMMUSpec
import PropertyCheck

extension AddressSpaceCheck: SurfaceDefinition {
    public static var surface: Surface { .addressSpace }
    static let fixedAxes: Set<String> = ["--page-size", "--aperture", "--address-width", "--reserved", "--mapping-limit"]

    static func make(_ implementation: ImplementationChoice, policy: String?, stateful: StatefulOptions, fixed: FixedConfiguration) throws(ImplementationUnavailable) -> AddressSpaceCheck {
        var aperture = fixed.aperture
        if let width = fixed.addressWidth {
            guard (1...64).contains(width) else { throw ImplementationUnavailable("--address-width \(width): expected 1 to 64 bits") }
            guard aperture == nil else { throw ImplementationUnavailable("--address-width and --aperture both set the aperture; give one") }
            aperture = AddressSpaceConfiguration.aperture(width: width)
        }
        var options = AddressSpaceOptions(aperture: aperture, pageSize: fixed.pageSize, mappingLimit: fixed.mappingLimit, reservedRegions: fixed.reservedRegions)
        options.policy = try AddressSpacePolicy.commandLine(policy)
        return try AddressSpaceCheck(options: options, stateful: stateful, implementation: implementation)
    }

    static func contract(policy: String?) throws(ImplementationUnavailable) -> String {
        contractText + "\n" + (try AddressSpacePolicy.contractLines(policy))
    }

    private static let contractText = """
        Address space (docs/SEMANTICS.md, "Address space"; virtio-iommu MAP/UNMAP, vfio_iommu_type1.c, iommufd io_pagetable.c, QEMU iova-tree.c)
        configuration: page size (granule), aperture, reserved regions (reserved or MSI kind), a mapping
          limit where the interface has one, and the policy: one real interface's contract (below)
        every policy: map fails, changing nothing, with zero-length, overflow (the IOVA range wraps past
          2^64; ending exactly at 2^64 - 1 is allowed) and overlap (with an existing mapping); unmap
          fails with zero-length and overflow; a request that breaks several rules may report any of
          them (kernels differ in the order)
        translate(iova, access): phys base + offset, or a fault: outside-aperture, not-mapped,
          permission-denied (the mapping lacks the access)
        the checker compares every outcome, the extents around each change, translations at its
          edges, and the whole extent list at the end of a case
    """
}
