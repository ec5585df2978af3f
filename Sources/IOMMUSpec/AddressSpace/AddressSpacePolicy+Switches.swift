/// The policy's switches by name, each value with the rule it states: the one table that
/// `iommu-check explain`, policy names in traces and on the command line, and the evidence
/// table of docs/SEMANTICS.md are all generated from.
extension AddressSpacePolicy: SwitchedPolicy {
    public typealias Switch = PolicySwitch<AddressSpacePolicy>

    public static let switches: [Switch] = [
        Switch(name: "granules", values: ["FIRST...LAST"], get: { "\(hex($0.granules.lowerBound))...\(hex($0.granules.upperBound))" },
               set: { policy, text in
                   let parts = text.split(separator: "...").map(String.init)
                   guard parts.count == 2, let low = parseAddress(parts[0]), let high = parseAddress(parts[1]), low >= 1, low <= high else { return false }
                   policy.granules = low...high
                   return true
               }, rule: { "the page size (granule) is a power of two in \($0.replacing("...", with: " ... ")) bytes; IOVA, length and physical address of a map are multiples of it (misaligned)" }),
        .choice("permission", \.permissionRequired) {
            switch $0 {
            case .enforced: "a map that requests neither read nor write fails with no-permission"
            case .absent: "a map may request no access: the mapping exists, and every access to it faults permission-denied"
            case .unspecified: "a map that requests no access may succeed (a mapping every access faults) or fail with any error"
            }
        },
        .choice("phys-wrap", \.physWrap) {
            switch $0 {
            case .inclusiveEnd: "phys + length - 1 must not wrap past 2^64 (overflow): a physical range may end at 2^64 - 1"
            case .exclusiveEnd: "phys + length must not wrap (overflow): a physical range may not end at 2^64 - 1, and length may not exceed 2^64 - 4097"
            case .unspecified: "a physical range that wraps past 2^64 may be mapped (translations wrap) or fail with any error"
            case .absent: "the physical range is not tested: one that wraps is mapped, and translations wrap modulo 2^64"
            }
        },
        .flag("mapping-limit", \.hasMappingLimit, yes: "a map fails with mapping-limit once the configured number of mappings exists", no: "there is no limit on the number of mappings"),
        .flag("ulong-max-overflow", \.ulongMaxIsOverflow, yes: "an iova or length of 2^64 - 1 is overflow, tested before anything else", no: nil),
        .flag("aperture", \.hasAperture,
             yes: "a map outside the aperture fails with outside-aperture, one touching a reserved region with reserved-region; DMA outside the aperture faults outside-aperture",
             no: "there is no aperture and there are no reserved regions: all of 0 ... 2^64 - 1 is mappable"),
        .flag("aperture-is-reserved", \.apertureIsReserved, yes: "the aperture and the reserved regions are one test: outside-aperture and reserved-region both conform for either", no: nil),
        .choice("write-only-reads", \.writeOnlyReads) {
            switch $0 {
            case .denied: "a read of a write-only mapping faults permission-denied"
            case .allowed: "a read of a write-only mapping reaches it (write implies read)"
            case .either: "a read of a write-only mapping may reach it or fault permission-denied"
            }
        },
        .flag("msi-doorbell", \.msiDoorbell,
             yes: "a DMA into an MSI-kind reserved region reaches the doorbell untranslated (phys = iova); into a reserved-kind region it faults not-mapped",
             no: "a DMA into a reserved region of either kind faults not-mapped"),
        .flag("driver-requirements", \.driverRequirements,
             yes: "a request that breaks a driver requirement (virt_end not above virt_start; outside input_range; an UNMAP range whose first or last address falls inside a mapping it does not start or end) has an unspecified answer: any error conforms and changes nothing, and so does the documented outcome",
             no: nil),
        .choice("partial", \.partial) {
            switch $0 {
            case .rejectBisect: "an unmap whose first or last IOVA falls inside a mapping it does not start or end fails with bisects-mapping and removes nothing"
            case .rejectPartial: "an unmap that covers any mapping only in part fails with partial-unmap and removes nothing"
            case .removeUntilPartial: "an unmap removes the mappings it covers, lowest first, until one it covers only in part: there it fails with partial-unmap, and what it removed stays removed"
            case .removeStartingInside: "an unmap removes whole every mapping that starts inside its range; if its first IOVA falls inside a mapping it removes nothing and succeeds with 0 bytes"
            case .cutAtEdges: "an unmap first cuts the mappings at its last IOVA and at the IOVA before its first (misaligned if a cut is not page-aligned; cuts made stay), then removes what it covers"
            case .removeOverlapping: "an unmap removes every mapping it overlaps, whole, and counts their bytes"
            case .split: "an unmap removes the part it covers; what remains of a mapping stays mapped"
            }
        },
        .choice("empty", \.empty) {
            switch $0 {
            case .succeed: "an unmap that removes nothing succeeds with 0 bytes"
            case .fail: "an unmap that removes nothing fails with nothing-to-unmap"
            }
        },
        .flag("unmap-alignment", \.unmapAlignment, yes: "an unmap's iova and length must be page-aligned (misaligned)", no: "an unmap needs no alignment"),
        .choice("unmap-all", \.unmapAll) {
            switch $0 {
            case .flag: "unmap-all is VFIO_DMA_UNMAP_FLAG_ALL: with a non-zero iova or size it fails with unmap-all-arguments and removes nothing"
            case .sentinel: "an unmap of (0, 2^64 - 1) is unmap-all: it removes everything and never fails"
            case .reset: "the interface has no unmap-all; the checker's unmap-all removes everything"
            }
        },
        .choice("bytes", \.bytes) {
            switch $0 {
            case .notReported: "the bytes an unmap removes are not reported (not compared)"
            case .onSuccess: "a successful unmap reports the bytes it removed, modulo 2^64"
            case .evenOnFailure: "an unmap reports the bytes it removed, modulo 2^64, also when it fails after removing some"
            }
        },
    ]

    /// Parses a preset name, optionally with overrides: `virtio-iommu:write-only-reads=denied,bytes=on-success`.
    /// Version 1 traces also name a policy `PARTIAL/EMPTY` (vfio-type1 with those two halves).
    public init(parsing text: String) throws(ConfigurationProblem) {
        try self.init(parsingSwitches: text) { AddressSpacePolicy(named: $0) ?? Self.versionOneCombination($0) }
    }

    private static func versionOneCombination(_ text: String) -> AddressSpacePolicy? {
        let halves = text.split(separator: "/").map(String.init)
        guard halves.count == 2, let partial = PartialUnmap(rawValue: halves[0]), let empty = EmptyUnmap(rawValue: halves[1]) else { return nil }
        return vfioType1.with {
            $0.partial = partial
            $0.empty = empty
        }
    }
}
