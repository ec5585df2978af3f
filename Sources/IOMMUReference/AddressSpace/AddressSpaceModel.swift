import IOMMUSpec

/// The reference model of an address space: the specification, written to be read.
///
/// State is a list of mappings ("extents"), each exactly what one map created (or what a
/// `split` or `cutAtEdges` unmap left of it), sorted by IOVA. Every operation is first
/// *decided* (`decide`): its documented outcome, every rule it breaks (real interfaces test
/// their rules in different orders, so any of them conforms), whether the sources leave the
/// answer open, and the change it makes. `commit` applies the change. The rules are those of
/// the configured `AddressSpacePolicy`; docs/SEMANTICS.md gives each its source per preset.
public final class AddressSpaceModel: AddressSpace {
    public let configuration: AddressSpaceConfiguration
    /// The mappings, sorted by IOVA, pairwise disjoint. (Unchecked exclusivity: a model is
    /// used from one thread, and the runtime check cost more than the scans.)
    @exclusivity(unchecked) public private(set) var extents = ExtentList()
    private var policy: AddressSpacePolicy { configuration.policy }

    public init(configuration: AddressSpaceConfiguration) {
        self.configuration = configuration
    }

    /// What the contract says one operation does.
    public struct Decision: Sendable {
        /// The documented outcome.
        public var outcome: AddressSpaceOutcome
        /// Every rule a failing request breaks.
        public var errors = AddressSpaceErrorSet()
        /// Set when the sources leave the answer open (a request that breaks a driver
        /// requirement, a rule the sources disagree on): any error conforms too, changing nothing.
        public var unspecified: String?
        /// Another outcome that conforms (a read of a write-only mapping the policy may allow).
        public var alternative: AddressSpaceOutcome?
        var change = Change.none

        init(_ outcome: AddressSpaceOutcome) { self.outcome = outcome }
    }

    /// What committing a decision does to the list of mappings.
    enum Change: Sendable {
        case none
        case insert(Extent, at: Int)
        /// The mappings at the range are replaced by these (sorted).
        case replace(Range<Int>, [Extent])
    }

    /// Applies the change a decision makes (a success's, or a failure's after partial progress).
    public func commit(_ decision: Decision) {
        switch decision.change {
        case .none: break
        case .insert(let extent, let position): extents.insert(extent, at: position)
        case .replace(let range, let pieces): extents.replaceSubrange(range, with: pieces)
        }
    }

    public func decide(_ operation: AddressSpaceOperation) -> Decision {
        switch operation {
        case .map(let iova, let length, let phys, let permissions): return decideMap(iova, length, phys, permissions)
        case .unmap(let iova, let length): return decideUnmap(iova, length)
        case .unmapAll(let iova, let length): return decideUnmapAll(iova, length)
        case .translate(let iova, let access):
            let (outcome, alternative) = translation(iova, access)
            var decision = Decision(outcome)
            decision.alternative = alternative
            return decision
        }
    }

    // MARK: map

    private func decideMap(_ iova: UInt64, _ length: UInt64, _ phys: UInt64, _ permissions: Permissions) -> Decision {
        var broken = AddressSpaceErrorSet()
        var unspecified: String?
        let mask = configuration.pageSize - 1
        // iommufd_ioas_map: `cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX` is EOVERFLOW, first.
        if policy.ulongMaxIsOverflow && (iova == .max || length == .max) { broken.insert(.overflow) }
        // VFIO `!prot` is EINVAL; iommufd_ioas_map EINVAL; iova_tree_insert IOMMU_NONE is
        // IOVA_ERR_INVALID. virtio-iommu has no such requirement; iommufd's VFIO compat map has
        // no such test and leaves it to the IOMMU driver.
        if permissions.intersection(.readWrite).isEmpty {
            switch policy.permissionRequired {
            case .enforced: broken.insert(.noPermission)
            case .unspecified: unspecified = "iommufd_vfio_map_dma has no !prot test; the IOMMU driver decides"
            case .absent: break
            }
        }
        // VFIO `!size`; iommufd iopt_alloc_area_pages `!length`: EINVAL.
        if length == 0 { broken.insert(.zeroLength) }
        let iovaWraps = length > 0 && iova.addingReportingOverflow(length - 1).overflow
        // virtio-iommu driver requirement: "virt_end MUST be strictly greater than virt_start".
        if policy.driverRequirements && (length <= 1 || iovaWraps) {
            unspecified = "virtio-iommu: the driver MUST send virt_end strictly greater than virt_start"
        }
        // VFIO `(size | iova | vaddr) & (pgsize - 1)`; iommufd iova_alignment; virtio-iommu S_RANGE.
        if (iova | length | phys) & mask != 0 { broken.insert(.misaligned) }
        // VFIO "Don't allow IOVA or virtual address wrap"; iommufd check_add_overflow: EOVERFLOW.
        if iovaWraps { broken.insert(.overflow) }
        if length > 0, let reason = physWraps(phys, length) {
            if let reason { unspecified = reason } else { broken.insert(.overflow) }
        }
        guard length > 0, !iovaWraps else {
            // No last IOVA to test against: what the range reaches up to 2^64 - 1 still breaks
            // rules (and the limit holds whatever the range), so those errors conform too.
            if let limit = configuration.mappingLimit, extents.count >= limit { broken.insert(.mappingLimit) }
            guard length > 0 else { return failure(broken, unspecified) }
            if extents.last.map({ $0.last >= iova }) == true { broken.insert(.overlap) }
            if policy.hasAperture {
                if !configuration.aperture.contains(iova) || configuration.aperture != 0...UInt64.max {
                    broken.insert(apertureErrors)
                    if policy.driverRequirements { unspecified = Self.virtioInputRange }
                }
                if configuration.reservedRegions.contains(where: { $0.range.upperBound >= iova || $0.range.lowerBound <= iova &+ (length - 1) }) {
                    broken.insert(reservedErrors)
                }
            }
            return failure(broken, unspecified)
        }
        let last = iova + (length - 1)
        // VFIO vfio_find_dma: EEXIST; iommufd iopt_check_iova: EEXIST; virtio-iommu "a mapping
        // already exists in the requested range": S_INVAL; iova_tree_insert: IOVA_ERR_OVERLAP.
        let position = firstIndex(endingAtOrAfter: iova)
        if position < extents.count && extents[position].iova <= last { broken.insert(.overlap) }
        // VFIO `!iommu->dma_avail` is ENOSPC (dma_entry_limit, CVE-2019-3882).
        if let limit = configuration.mappingLimit, extents.count >= limit { broken.insert(.mappingLimit) }
        if policy.hasAperture {
            let outside = iova < configuration.aperture.lowerBound || last > configuration.aperture.upperBound
            // VFIO vfio_iommu_iova_dma_valid (EINVAL); iommufd reserves IOVA outside the domain
            // aperture (EINVAL); virtio-iommu: "Any mapping request to virtual addresses outside
            // of this range fails", and the driver MUST NOT send one.
            if outside {
                broken.insert(apertureErrors)
                if policy.driverRequirements { unspecified = Self.virtioInputRange }
            }
            // iommufd iopt_check_iova "No reserved IOVA intersects the range" (EINVAL); VFIO iova
            // list (EINVAL); virtio-iommu: "SHOULD reject a MAP request that overlaps a RESV_MEM region".
            if configuration.reservedRegions.contains(where: { $0.range.lowerBound <= last && iova <= $0.range.upperBound }) {
                broken.insert(reservedErrors)
            }
        }
        if !broken.isEmpty { return failure(broken, unspecified) }
        var decision = Decision(.mapped)
        decision.unspecified = unspecified
        decision.change = .insert(Extent(iova: iova, length: length, phys: phys, permissions: permissions.intersection(.readWrite)), at: position)
        return decision
    }

    /// nil if the physical range is fine; `.some(nil)` if it wraps and that is an error;
    /// `.some(reason)` if it wraps and the sources leave the answer open.
    private func physWraps(_ phys: UInt64, _ length: UInt64) -> String?? {
        switch policy.physWrap {
        case .inclusiveEnd:
            // VFIO: `vaddr + size - 1 < vaddr` (check_add_overflow(vaddr, size - 1) since 6.18).
            return phys.addingReportingOverflow(length - 1).overflow ? .some(nil) : nil
        case .exclusiveEnd:
            // iommufd iopt_alloc_user_pages: check_add_overflow(uptr, length) is EOVERFLOW, so a
            // user range may not end at 2^64 - 1; iopt_alloc_pages: `length > SIZE_MAX - PAGE_SIZE`.
            return phys.addingReportingOverflow(length).overflow || length > UInt64.max - 4096 ? .some(nil) : nil
        case .unspecified:
            // virtio-iommu MAP: the physical range "should be within the guest-physical address space".
            return phys.addingReportingOverflow(length - 1).overflow ? .some("virtio-iommu: a physical range that wraps is outside the guest-physical address space") : nil
        case .absent:
            // iova_tree_insert tests only `map->iova + map->size < map->iova`.
            return nil
        }
    }

    /// Outside the aperture: one test with the reserved regions where the interface makes it one.
    private var apertureErrors: AddressSpaceErrorSet { policy.apertureIsReserved ? [.outsideAperture, .reservedRegion] : [.outsideAperture] }
    private var reservedErrors: AddressSpaceErrorSet { policy.apertureIsReserved ? [.reservedRegion, .outsideAperture] : [.reservedRegion] }

    private func failure(_ broken: AddressSpaceErrorSet, _ unspecified: String?) -> Decision {
        var decision = Decision(.failed(broken.first ?? .zeroLength))
        decision.errors = broken
        decision.unspecified = unspecified
        return decision
    }

    // MARK: unmap

    private func decideUnmap(_ iova: UInt64, _ length: UInt64) -> Decision {
        // iommufd_ioas_unmap: `cmd->iova == 0 && cmd->length == U64_MAX` is iopt_unmap_all.
        if policy.unmapAll == .sentinel && iova == 0 && length == .max { return removeAll() }
        if policy.partial == .cutAtEdges { return cutThenUnmap(iova, length) }
        var broken = AddressSpaceErrorSet()
        if policy.ulongMaxIsOverflow && (iova == .max || length == .max) { broken.insert(.overflow) }
        // VFIO vfio_dma_do_unmap `!size || size & (pgsize - 1)`, `iova & (pgsize - 1)`: EINVAL;
        // iommufd iopt_unmap_iova `!length`: EINVAL (and no alignment test).
        if length == 0 { broken.insert(.zeroLength) }
        if policy.unmapAlignment && (iova | length) & (configuration.pageSize - 1) != 0 { broken.insert(.misaligned) }
        // VFIO check_add_overflow(iova, size - 1) (EINVAL before 6.18); iommufd: EOVERFLOW.
        let wraps = length > 0 && iova.addingReportingOverflow(length - 1).overflow
        if wraps { broken.insert(.overflow) }
        guard broken.isEmpty else { return failure(broken, policy.driverRequirements && (length == 0 || wraps) ? Self.virtioEmptyUnmap : nil) }
        let last = iova + (length - 1)
        var unspecified: String?
        if policy.driverRequirements && (iova < configuration.aperture.lowerBound || last > configuration.aperture.upperBound) {
            unspecified = Self.virtioInputRange
        }
        let touched = touchedRange(iova, last)
        let straddles = touched.contains { extents[$0].iova < iova || extents[$0].last > last }
        if policy.driverRequirements && straddles {
            unspecified = "virtio-iommu: the first and last address of an UNMAP range MUST each be a mapping's first or last address, or outside any mapping"
        }
        var decision: Decision
        switch policy.partial {
        case .rejectBisect where straddles:
            // VFIO type1 v2: "there must not be any previous mappings bisected by the range".
            return failure([.bisectsMapping], unspecified)
        case .rejectPartial where straddles:
            // virtio-iommu: "the device SHOULD set ... VIRTIO_IOMMU_S_RANGE, and SHOULD NOT remove any mapping".
            return failure([.partialUnmap], unspecified)
        case .removeUntilPartial:
            // iopt_unmap_iova_range: areas lowest first, each covered one freed before the next
            // is looked at; `area_first < start || area_last > last` ends the loop with -ENOENT.
            let covered = touched.prefix { extents[$0].iova >= iova && extents[$0].last <= last }
            decision = removing(covered.lowerBound..<covered.upperBound)
            if covered.upperBound < touched.upperBound {
                let bytes = decision.bytes
                decision.outcome = policy.bytes == .evenOnFailure && bytes > 0 ? .partlyUnmapped(.partialUnmap, bytes: bytes) : .failed(.partialUnmap)
                decision.errors = [.partialUnmap]
                return decision
            }
        case .removeStartingInside:
            // VFIO type1 v1 loop: `if (!iommu->v2 && iova > dma->iova) break;` on the first
            // mapping found; every mapping starting inside the range is removed whole.
            if let first = touched.first, extents[first].iova < iova {
                decision = Decision(.unmapped(bytes: 0))
            } else {
                decision = removing(touched)
            }
        case .split:
            decision = splitting(touched, iova, last)
        case .rejectBisect, .rejectPartial, .removeOverlapping, .cutAtEdges:
            // QEMU iova_tree_remove: `while ((overlap = iova_tree_find(tree, &map))) g_tree_remove(...)`.
            decision = removing(touched)
        }
        decision.unspecified = unspecified
        // iommufd_ioas_unmap: `if (!unmapped) rc = -ENOENT` (afb47765f923).
        if touched.isEmpty && policy.empty == .fail { return failure([.nothingToUnmap], unspecified) }
        return decision
    }

    static let virtioInputRange = "virtio-iommu: the driver MUST NOT send requests outside input_range"
    static let virtioEmptyUnmap = "virtio-iommu states nothing for an UNMAP whose virt_end is below virt_start"

    /// iommufd's VFIO compat for VFIO_TYPE1_IOMMU (iommufd_vfio_unmap_dma): first
    /// `iopt_cut_iova` at `iova + size - 1` and `iova - 1` (unless iova is 0), each cut
    /// splitting the area that holds it unless the address is the area's first or last, and
    /// failing with EINVAL where the new boundary is not aligned; then iopt_unmap_iova. Cuts
    /// made before a failure stay.
    private func cutThenUnmap(_ iova: UInt64, _ length: UInt64) -> Decision {
        let cuts = iova == 0 ? [iova &+ length &- 1] : [iova &+ length &- 1, iova &- 1]
        let wraps = length > 0 && iova.addingReportingOverflow(length - 1).overflow
        // The mappings the cuts and the unmap can touch; the rest of the list stays as it is.
        var window = cuts.map { touchedRange($0, $0) }
        if length > 0 && !wraps { window.append(touchedRange(iova, iova + (length - 1))) }
        let lower = window.map(\.lowerBound).min() ?? 0, upper = window.map(\.upperBound).max() ?? 0
        let before = Array(extents[lower..<upper])
        var pieces = before
        var cutError: AddressSpaceError?
        for address in cuts {
            guard let index = pieces.firstIndex(where: { $0.contains(address) }) else { continue }
            let area = pieces[index]
            if address == area.iova || address == area.last { continue }
            // iopt_area_split: `new_start & (alignment - 1)` is EINVAL.
            if (address &+ 1) & (configuration.pageSize - 1) != 0 {
                cutError = .misaligned
                break
            }
            let lower = Extent(iova: area.iova, length: address - area.iova + 1, phys: area.phys, permissions: area.permissions)
            let upper = Extent(iova: address + 1, length: area.last - address, phys: area.phys(of: address + 1), permissions: area.permissions)
            pieces.replaceSubrange(index...index, with: [lower, upper])
        }
        var decision: Decision
        if let cutError {
            decision = failure([cutError], nil)
        } else if length == 0 {
            decision = failure([.zeroLength], nil)
        } else if wraps {
            decision = failure([.overflow], nil)
        } else {
            let last = iova + (length - 1)
            let touched = pieces.indices.filter { pieces[$0].overlaps(iova, last) }
            let covered = touched.prefix { pieces[$0].iova >= iova && pieces[$0].last <= last }
            let bytes = covered.reduce(UInt64(0)) { $0 &+ pieces[$1].length }
            let kept = pieces.indices.filter { !covered.contains($0) }.map { pieces[$0] }
            if covered.count < touched.count {
                decision = Decision(policy.bytes == .evenOnFailure && bytes > 0 ? .partlyUnmapped(.partialUnmap, bytes: bytes) : .failed(.partialUnmap))
                decision.errors = [.partialUnmap]
            } else {
                decision = Decision(.unmapped(bytes: bytes))
            }
            if kept != before { decision.change = .replace(lower..<upper, kept) }
            return decision
        }
        if pieces != before { decision.change = .replace(lower..<upper, pieces) }
        return decision
    }

    private func decideUnmapAll(_ iova: UInt64, _ length: UInt64) -> Decision {
        if iova != 0 || length != 0 {
            switch policy.unmapAll {
            case .flag:
                // VFIO vfio_dma_do_unmap: `if (unmap_all) { if (iova || size) goto unlock;` (EINVAL);
                // iommufd_vfio_unmap_dma: `unmap.iova != 0 || unmap.size != 0` is EINVAL.
                return failure([.unmapAllArguments], nil)
            case .sentinel, .reset:
                var decision = removeAll()
                decision.unspecified = "unmap-all with an iova or length is VFIO_DMA_UNMAP_FLAG_ALL's form; \(policy) has no such request"
                return decision
            }
        }
        return removeAll()
    }

    /// VFIO_DMA_UNMAP_FLAG_ALL; iommufd iopt_unmap_all ("If the IOVAs are empty then unmap all succeeds").
    private func removeAll() -> Decision { removing(extents.indices) }

    /// The contiguous positions of the mappings overlapping `[first, last]`.
    private func touchedRange(_ first: UInt64, _ last: UInt64) -> Range<Int> {
        let lower = firstIndex(endingAtOrAfter: first)
        var upper = lower
        while upper < extents.count && extents[upper].iova <= last { upper += 1 }
        return lower..<upper
    }

    /// The position of the first mapping whose last IOVA is at or after `address` (the
    /// mappings are sorted and disjoint, so their last IOVAs are sorted too): binary search.
    private func firstIndex(endingAtOrAfter address: UInt64) -> Int { extents.firstIndex(endingAtOrAfter: address) }

    /// Removes the mappings at `range` whole. Byte counts wrap modulo 2^64, as the kernels'
    /// do (VFIO `size_t unmapped += dma->size`; iommufd `unsigned long unmapped_bytes`).
    private func removing(_ range: Range<Int>) -> Decision {
        let bytes = extents[range].reduce(UInt64(0)) { $0 &+ $1.length }
        var decision = Decision(.unmapped(bytes: bytes))
        if !range.isEmpty { decision.change = .replace(range, []) }
        return decision
    }

    /// A raw page table unmaps exactly the covered part; the pieces on either side keep their
    /// translation (phys moves with the IOVA) and permissions.
    private func splitting(_ range: Range<Int>, _ first: UInt64, _ last: UInt64) -> Decision {
        var bytes: UInt64 = 0
        var kept: [Extent] = []
        for extent in extents[range] {
            bytes &+= min(extent.last, last) - max(extent.iova, first) + 1
            if extent.iova < first {
                kept.append(Extent(iova: extent.iova, length: first - extent.iova, phys: extent.phys, permissions: extent.permissions))
            }
            if extent.last > last {
                kept.append(Extent(iova: last + 1, length: extent.last - last, phys: extent.phys(of: last + 1), permissions: extent.permissions))
            }
        }
        var decision = Decision(.unmapped(bytes: bytes))
        if !range.isEmpty { decision.change = .replace(range, kept) }
        return decision
    }

    // MARK: translate

    /// Where a DMA access goes: the documented outcome, and another that also conforms.
    public func translation(_ iova: UInt64, _ access: Access) -> (outcome: AddressSpaceOutcome, alternative: AddressSpaceOutcome?) {
        // The device cannot address IOVAs outside the aperture.
        if policy.hasAperture && !configuration.aperture.contains(iova) { return (.faulted(.outsideAperture), nil) }
        // QEMU virtio_iommu_translate: inside a VIRTIO_IOMMU_RESV_MEM_T_MSI region `entry.perm =
        // flag` (the doorbell, untranslated); inside a RESERVED one VIRTIO_IOMMU_FAULT_R_MAPPING.
        for region in configuration.reservedRegions where region.range.contains(iova) {
            return (region.kind == .msi && policy.msiDoorbell ? .translated(phys: iova) : .faulted(.notMapped), nil)
        }
        let position = firstIndex(endingAtOrAfter: iova)
        guard position < extents.count, extents[position].iova <= iova else { return (.faulted(.notMapped), nil) }
        let extent = extents[position]
        // virtio-iommu MAP: PA = VA - virt_start + phys_start.
        let reached = AddressSpaceOutcome.translated(phys: extent.phys(of: iova))
        if extent.permissions.allows(access) { return (reached, nil) }
        // virtio-iommu: "MUST NOT allow writes to a range mapped without F_WRITE. However, if the
        // underlying architecture does not support write-only mappings, the device MAY allow
        // reads to a range mapped with VIRTIO_IOMMU_MAP_F_WRITE but not VIRTIO_IOMMU_MAP_F_READ."
        if access == .read && extent.permissions == .write {
            switch policy.writeOnlyReads {
            case .denied: break
            case .allowed: return (reached, nil)
            case .either: return (.faulted(.permissionDenied), reached)
            }
        }
        return (.faulted(.permissionDenied), nil)
    }

    // MARK: AddressSpace

    public func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        let decision = decide(.map(iova: iova, length: length, phys: phys, permissions: permissions))
        commit(decision)
        if let error = decision.outcome.error { return .failure(error) }
        return .success(())
    }

    public func unmap(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        Self.unmapResult(run(.unmap(iova: iova, length: length)))
    }

    public func unmapAll(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        Self.unmapResult(run(.unmapAll(iova: iova, length: length)))
    }

    public func translate(iova: UInt64, access: Access) -> Result<UInt64, TranslationFault> {
        switch translation(iova, access).outcome {
        case .translated(let phys): .success(phys)
        case .faulted(let fault): .failure(fault)
        default: .failure(.notMapped)
        }
    }

    public func mappings(in range: ClosedRange<UInt64>) -> [Extent] {
        Array(extents[touchedRange(range.lowerBound, range.upperBound)])
    }

    private func run(_ operation: AddressSpaceOperation) -> AddressSpaceOutcome {
        let decision = decide(operation)
        commit(decision)
        return decision.outcome
    }

    private static func unmapResult(_ outcome: AddressSpaceOutcome) -> Result<UInt64, UnmapFailure> {
        switch outcome {
        case .unmapped(let bytes): .success(bytes)
        case .partlyUnmapped(let error, let bytes): .failure(UnmapFailure(error, bytes: bytes))
        case .failed(let error): .failure(UnmapFailure(error))
        default: .failure(UnmapFailure(.zeroLength))
        }
    }
}

extension AddressSpaceModel.Decision {
    /// The bytes the decision removes (a removal's documented count).
    var bytes: UInt64 {
        if case .unmapped(let bytes) = outcome { return bytes }
        return 0
    }
}
