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
        (.pasidAttachedOnOneDevice, Mutant(
            name: "pasid-attached-on-one-device", surface: .isolation,
            summary: "a PASID attach programs only the device named, so another PASID-capable device of the group tagged with it reaches no domain",
            source: "iommu.c __iommu_set_group_pasid: set_dev_pasid on every device of the group with max_pasids > 0")),
        (.pasidSecondDomainAccepted, Mutant(
            name: "pasid-second-domain-accepted", surface: .isolation,
            summary: "a second device of the group may attach the same PASID to another domain, as if PASID tables were per device",
            source: "iommu.c iommu_attach_device_pasid (group->pasid_array keyed by PASID alone); iommufd_hw_pagetable_attach EINVAL")),
        (.secondClaimBySameContainerAccepted, Mutant(
            name: "second-claim-by-same-container-accepted", surface: .isolation,
            summary: "the group API accepts a second claim of a group by the container that holds it",
            source: "iommu.c iommu_group_claim_dma_owner: `if (group->owner_cnt) ret = -EPERM` (\"Only a single owner may exist for a group\")")),
        (.lastReleaseKeepsBlocking, Mutant(
            name: "last-release-keeps-blocking", surface: .isolation,
            summary: "releasing the last claimed device of a group leaves it in the blocking domain instead of restoring the default domain",
            source: "iommu.c __iommu_release_dma_ownership: __iommu_group_set_domain_nofail(group, group->default_domain)")),
        (.firstReleaseDropsOwnership, Mutant(
            name: "first-release-drops-ownership", surface: .isolation,
            summary: "ownership is not counted: releasing one claimed device gives the whole group back while its other devices are still claimed",
            source: "iommu.c iommu_device_release_dma_owner: `if (group->owner_cnt > 1) group->owner_cnt--`")),
        (.bypassAfterDetach, Mutant(
            name: "bypass-after-detach", surface: .isolation,
            summary: "detach leaves the devices in bypass (identity) where the policy says blocked",
            source: "iommufd_device_detach: \"The device returns back to a blocked DMA translation\"; virtio-iommu bypass only with bypass = 1")),
        (.driverManagedBreaksViability, Mutant(
            name: "driver-managed-breaks-viability", surface: .isolation,
            summary: "a driver that manages no DMA (pci-stub, pcieport) counts as a kernel DMA user, so a group behind a bridge bound to pcieport cannot be claimed",
            source: "pci_dma_configure: no iommu_device_use_default_domain for driver_managed_dma; \"PCI: portdrv: Set driver_managed_dma\"")),
        (.pasidTableAliases, Mutant(
            name: "pasid-table-aliases", surface: .isolation,
            summary: "the PASID table is indexed by the PASID's low three bits, so PASID p + 8 reaches p's domain",
            source: "seed 003 (IMS: PASIDs of one device are distinct address spaces); a PASID table sized too small")),
        (.attachSecondDeviceReplaces, Mutant(
            name: "attach-second-device-replaces", surface: .isolation,
            summary: "attaching a second, unattached device of a group to another domain moves the whole group instead of failing",
            source: "iommufd_hw_pagetable_attach: `if (old_hwpt && old_hwpt != hwpt) { rc = -EINVAL`")),
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
