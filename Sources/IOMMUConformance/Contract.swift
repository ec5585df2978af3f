import IOMMUSpec

/// The contract of a surface as the model states it, for `iommu-check explain`: the rules the
/// reference model enforces, each with the section of docs/SEMANTICS.md that gives its sources.
public enum Contract {
    public static func text(_ surface: Surface, policy: String? = nil) throws(ImplementationUnavailable) -> String {
        switch surface {
        case .addressSpace:
            var policies = UnmapPolicy.presets
            if let policy {
                guard let preset = UnmapPolicy(named: policy) else {
                    throw ImplementationUnavailable("'\(policy)' is not an address-space policy; expected one of \(AddressSpaceTrace.policyNames)")
                }
                policies = [(policy, preset)]
            }
            return addressSpace + "\n" + policies.map { describe($0.name, $0.policy) }.joined(separator: "\n")
        case .isolation:
            if let policy { throw ImplementationUnavailable("the isolation surface has no policies (got '\(policy)')") }
            return isolation
        case .interrupts:
            if let policy { throw ImplementationUnavailable("the interrupts surface has no policies (got '\(policy)')") }
            return interrupts
        case .shadow:
            var policies = ShadowPolicy.allCases
            if let policy {
                guard let parsed = ShadowPolicy(rawValue: policy) else {
                    throw ImplementationUnavailable("'\(policy)' is not a shadow policy; expected one of \(ShadowPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                policies = [parsed]
            }
            return shadow + "\n" + policies.map(describe).joined(separator: "\n")
        }
    }

    private static func describe(_ name: String, _ policy: UnmapPolicy) -> String {
        let partial = switch policy.partial {
        case .rejectBisect: "an unmap whose first or last IOVA falls inside a mapping fails with bisects-mapping and removes nothing"
        case .rejectPartial: "an unmap that covers any mapping only in part fails with partial-unmap and removes nothing"
        case .removeOverlapping: "an unmap removes every mapping it overlaps, whole, and reports their bytes"
        case .split: "an unmap removes the part it covers; what remains of a mapping stays mapped"
        }
        let empty = policy.empty == .succeed ? "an unmap that removes nothing succeeds with 0 bytes" : "an unmap that removes nothing fails with nothing-to-unmap"
        return "policy \(name) (partial \(policy.partial.rawValue), empty \(policy.empty.rawValue)):\n  - \(partial)\n  - \(empty)"
    }

    private static func describe(_ policy: ShadowPolicy) -> String {
        switch policy {
        case .windowForChangedPages:
            "policy \(policy.rawValue) (QEMU vtd_page_walk_one):\n  - a page whose translation changes may be absent between its own unmap and map, never otherwise"
        case .atomicReplace:
            "policy \(policy.rawValue):\n  - a page whose translation changes translates to its old or its new address at every host step"
        }
    }

    private static let addressSpace = """
    Address space (docs/SEMANTICS.md, "Address space"; virtio-iommu MAP/UNMAP, vfio.h, iommufd.h, QEMU iova-tree.h)
    configuration: page size, address width (aperture), reserved regions, mapping-count limit, unmap policy
    map(iova, length, phys, permissions) fails, changing nothing, on: no-permission (neither read
      nor write), zero-length, misaligned (iova, length or phys off the page), overflow (the last
      IOVA or physical address wraps past 2^64; ending exactly at 2^64 - 1 is allowed), overlap
      (with an existing mapping), mapping-limit, outside-aperture, reserved-region (touches one);
      a request that breaks several rules may report any of them (kernels differ in the order)
    unmap(iova, length): zero-length, misaligned, overflow as for map; then the policy below;
      it reports the bytes it removed. unmap-all removes everything and reports the bytes.
    translate(iova, access): phys base + offset, or a fault: outside-aperture, not-mapped,
      permission-denied (the mapping lacks the access)
    the checker compares every outcome, the extents around each change, translations at its
    edges, and the whole extent list at the end of a case
    """

    private static let isolation = """
    Isolation (docs/SEMANTICS.md, "Isolation"; Documentation/driver-api/vfio.rst, drivers/iommu/iommu.c, iommufd.h, seed 002)
    topology: devices partitioned into groups; some devices PASID-capable; contexts; domains
    bind(device, driver): none, kernel or user driver; a kernel driver on a device of a user-owned group fails
    claim(context, group): fails unless every device of the group is unbound or user-bound (not viable),
      or if another context owns it; on success the group is blocked first, then owned (no DMA window)
    attach / detach(context, group[, domain]): owner only; acts on every device of the group;
      attaching while attached elsewhere is detach then attach
    attachPASID / detachPASID(context, device, pasid[, domain]): owner only; DMA tagged with the
      PASID reaches only that domain; untagged DMA uses the group's domain
    release(context, group): owner only; the group returns to blocked; nothing of the old owner is reachable
    dma(device, pasid?, iova, access): the domain in force translates, or a fault: blocked, no-domain,
      not-mapped, permission
    checked at every checkpoint the implementation reports, not only between operations:
      no DMA reaches a domain its group or PASID is not attached to; ownership is all-or-nothing per group
    """

    private static let interrupts = """
    Interrupts (docs/SEMANTICS.md, "Interrupts"; QEMU hw/pci/msix.c, hw/vfio/pci.c, vfio.h SET_IRQS, seed 003)
    a vector is masked if MSI-X is disabled, the function mask is set, or its own mask bit is set
    a raise on a masked vector sets its pending bit; unmasking a vector with its bit set clears it and delivers once
    every raise on an enabled vector is delivered exactly once: at once if unmasked, on unmask if masked;
      none lost while the host reallocates vectors (disable and re-enable, or dynamic grow), none duplicated,
      nothing delivered that no raise caused
    the message delivered is the address/data in the entry at the time of delivery
    IMS: an entry tagged with a PASID fires only for a raise carrying that PASID; untagged entries use
      the device's default PASID
    the host may or may not grow an enabled index (dynamic MSI-X); both must lose nothing
    raises are injected between any two host calls of one guest operation
    """

    private static let shadow = """
    Shadow (docs/SEMANTICS.md, "Shadow"; QEMU intel_iommu.c vtd_page_walk_one / vtd_address_space_sync, VT-d caching mode, seeds 000 and 004)
    the guest writes its I/O page table (4 KiB, 2 MiB, 1 GiB leaves) silently, then invalidates:
      page-selective (2^order pages), domain, global, context-entry removal
    coherence: after an invalidation of range R, the host maps on R exactly the guest's present
      leaves on R, translated through the guest memory map, with their permissions
    no DMA window: a page whose host translation is the same before and after the resync
      translates at every intermediate host state
    locality: host mappings outside R are not touched
    UNMAP-only consumers are told about every range the resync changed
    device DMA injected between host calls never faults on a page present before and after
    """
}
