import IOMMUSpec
import PropertyCheck

extension IsolationCheck: SurfaceDefinition {
    public static var surface: Surface { .isolation }
    static let fixedAxes: Set<String> = []

    static func make(_ implementation: ImplementationChoice, policy: String?, stateful: StatefulOptions, fixed: FixedConfiguration) throws(ImplementationUnavailable) -> IsolationCheck {
        try IsolationCheck(stateful: stateful, policy: IsolationPolicy.commandLine(policy), implementation: implementation)
    }

    static func contract(policy: String?) throws(ImplementationUnavailable) -> String {
        contractText + "\n" + (try IsolationPolicy.contractLines(policy))
    }

    private static let contractText = """
        Isolation (docs/SEMANTICS.md, "Isolation"; drivers/iommu/iommu.c, drivers/iommu/iommufd/device.c, drivers/vfio, Documentation/driver-api/vfio.rst, the virtio-iommu spec, seed 002)
        topology: devices partitioned into groups; some devices PASID-capable; contexts (users); two
          domains per context; the policy of the interface (below)
        drivers: none, kernel (uses the DMA API: holds a count of the group's default domain),
          user-access (vfio-pci) and driver-managed (pci-stub, pcieport: no count)
        bind(device, driver): a kernel driver on a device of a user-owned group fails with group-owned;
          the driver of a claimed device cannot change (device-in-use)
        ownership is counted as the kernel counts it: a group with a kernel driver bound is not viable;
          one owner at a time (owned-by-other); the group is blocked before the owner is recorded, and
          the default domain returns when the last claim goes (nothing of the old owner stays reachable)
        a group claimed through the group API and a device cdev of it exclude each other (other-interface)
        attach-pasid / detach-pasid(context, device, pasid[, domain]): the holder of the device only;
          DMA tagged with a PASID reaches only that PASID's domain, never the group's
        dma(device, pasid?, iova, access): the domain in force translates, or: kernel-domain (not owned),
          blocked or bypass (owned, no domain), no-domain (tagged, no domain for the PASID), a fault
        a failure may report any rule it breaks, or another rule with the same errno
        checked at every checkpoint the implementation reports, not only between operations: no DMA
          reaches a domain of a context that does not own the group; an owned group never reaches the
          kernel's domain; nothing bypasses translation unless the policy says so
    """
}
