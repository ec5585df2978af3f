import IOMMUOptimized
import IOMMUSpec

/// Planted bugs of the Isolation surface, each a switch on `IsolationOptimized`.
public enum IsolationMutants {
    static let catalogue: [(bug: IsolationBug, mutant: Mutant)] = [
        (.claimChecksFirstDevice, Mutant(
            name: "claim-checks-first-device", surface: .isolation,
            summary: "claim tests only the group's first device for a kernel driver, so a group with a kernel-bound second device is handed to a user",
            source: "seed 002 (a group is the unit of isolation: every device counts); vfio.rst group viability")),
        (.attachMovesOneDevice, Mutant(
            name: "attach-moves-one-device", surface: .isolation,
            summary: "attach programs only the first device of a multi-device group; the others stay blocked or on the old domain",
            source: "seed 002 (PCIe switch without ACS: the group shares one domain); virtio-iommu ATTACH per endpoint")),
        (.releaseLeavesDomainAttached, Mutant(
            name: "release-leaves-domain-attached", surface: .isolation,
            summary: "release drops ownership but leaves the devices' entries on the user's domain",
            source: "iommu.c __iommu_release_dma_ownership must reattach the default domain")),
        (.pasidFallsThrough, Mutant(
            name: "pasid-falls-through", surface: .isolation,
            summary: "PASID lookups ignore the device, so one sub-device's PASID reaches another context's domain",
            source: "seed 002 / seed 003 (mdev and IMS: one sub-device must never reach another's domain)")),
        (.handoverWindow, Mutant(
            name: "handover-window", surface: .isolation,
            summary: "claim records the new owner before blocking the devices, leaving a window where a user owns a group still in the kernel's domain",
            source: "iommu.c __iommu_take_dma_ownership: block first, then record the owner")),
        (.kernelBindOnOwnedGroup, Mutant(
            name: "kernel-bind-on-owned-group", surface: .isolation,
            summary: "a kernel driver may bind to a device of a user-owned group",
            source: "iommu.c iommu_device_use_default_domain returns EBUSY while a user owns the group")),
        (.nonOwnerCanDetach, Mutant(
            name: "non-owner-can-detach", surface: .isolation,
            summary: "detach does not check the caller owns the group, so another context can cut a user's device off",
            source: "ownership is all-or-nothing: a context that does not own a group can change nothing about it")),
        (.releaseKeepsLaterPASIDs, Mutant(
            name: "release-keeps-later-pasids", surface: .isolation,
            summary: "release clears the PASID table of the group's first device only; when another context claims the group, a later device's PASID still reaches the old owner's domain",
            source: "seed 002 (after release nothing of the old owner is reachable); iommu.c release must detach every device's PASIDs")),
    ]

    public static var all: [Mutant] { catalogue.map(\.mutant) }

    /// The optimized isolation layer with the named bug planted, or nil for an unknown name.
    public static func make(_ name: String, topology: Topology, checkpoint: @escaping () -> Void) -> IsolationOptimized? {
        guard let entry = catalogue.first(where: { $0.mutant.name == name }) else { return nil }
        let system = IsolationOptimized(topology: topology, checkpoint: checkpoint)
        system.plantedBug = entry.bug
        return system
    }
}
