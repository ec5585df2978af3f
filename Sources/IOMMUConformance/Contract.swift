import IOMMUSpec
import Foundation

/// The contract of a surface as the model states it, for `iommu-check explain`: the rules the
/// reference model enforces, each with the section of docs/SEMANTICS.md that gives its sources.
public enum Contract {
    public static func text(_ surface: Surface, policy: String? = nil) throws(ImplementationUnavailable) -> String {
        switch surface {
        case .addressSpace:
            var policies = AddressSpacePolicy.presets
            if let policy {
                do {
                    policies = [(policy, try AddressSpacePolicy(parsing: policy))]
                } catch {
                    throw ImplementationUnavailable(error.description)
                }
            }
            return addressSpace + "\n" + policies.map { describe($0.name, $0.policy.rules) }.joined(separator: "\n")
        case .isolation:
            var policies = IsolationPolicy.presets
            if let policy {
                do {
                    policies = [(policy, try IsolationPolicy(parsing: policy))]
                } catch {
                    throw ImplementationUnavailable(error.description)
                }
            }
            return isolation + "\n" + policies.map { describe($0.name, $0.policy.rules) }.joined(separator: "\n")
        case .interrupts:
            var policies = InterruptPolicy.presets
            if let policy {
                do {
                    policies = [(policy, try InterruptPolicy(parsing: policy))]
                } catch {
                    throw ImplementationUnavailable(error.description)
                }
            }
            return interrupts + "\n" + policies.map { describe($0.name, $0.policy.rules) }.joined(separator: "\n")
        case .shadow:
            var policies = ShadowPolicy.presets
            var hosts = ShadowHostPolicy.allCases
            let (policy, host) = try ShadowCheck.parse(policy)
            if let policy { policies = [(policy.presetName, policy)] }
            if let host { hosts = [host] }
            return shadow + "\n" + policies.map { describe($0.name, $0.policy.rules) }.joined(separator: "\n")
                + "\nhosts (the host IOMMU interface the layer programs):\n" + hosts.map { "  - \($0.rule)" }.joined(separator: "\n")
        }
    }

    /// A policy's rules, one line each, from the same switches the model follows.
    private static func describe(_ name: String, _ rules: [String]) -> String {
        "policy \(name):\n" + rules.map { "  - \($0)" }.joined(separator: "\n")
    }

    /// The evidence table of docs/SEMANTICS.md: for every rule and every preset, its source.
    public static func addressSpaceEvidence() -> String {
        var lines = ["| rule | preset | value | source |", "|---|---|---|---|"]
        let rules = AddressSpacePolicy.switches.map(\.name) + AddressSpacePolicy.commonRules
        for rule in rules {
            for (name, preset) in AddressSpacePolicy.presets {
                let value = AddressSpacePolicy.switches.first { $0.name == rule }?.value(of: preset) ?? "yes"
                let source = AddressSpacePolicy.evidence[name]?[rule] ?? "MISSING"
                lines.append("| \(rule) | \(name) | \(value) | \(source.replacingOccurrences(of: "|", with: "\\|")) |")
            }
        }
        return lines.joined(separator: "\n")
    }

    private static let addressSpace = """
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

    private static let isolation = """
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

    private static let interrupts = """
    Interrupts (docs/SEMANTICS.md, "Interrupts"; QEMU hw/pci/msix.c, hw/vfio/pci.c, linux vfio_pci_intrs.c and pci_write_msg_msix, seed 003)
    a vector is masked if MSI-X is disabled, the function mask is set, or its own mask bit is set
    a raise on a masked vector sets its pending bit; unmasking a vector with its bit set clears it and delivers once
    the raises of one step on one unmasked vector may be one interrupt (an eventfd counts, QEMU
      reads and clears it, then notifies once): at least one delivery where the model has any,
      never more than raises, none that no raise caused, none lost while the host reallocates
      vectors (disable and re-enable, or dynamic grow)
    the message delivered is the entry's at delivery; an entry rewritten while its vector is
      unmasked may deliver the old or the new message until the vector is next masked
      (PCI: "the result is undefined")
    the host latches raises on a vector it has no host vector for, as a pending bit: several are one
    IMS: an entry tagged with a PASID fires only for a raise carrying that PASID; untagged entries use
      the device's default PASID
    the host may or may not grow an enabled index (dynamic MSI-X); both must lose nothing
    raises are injected between any two host calls of one guest operation
    """

    private static let shadow = """
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
