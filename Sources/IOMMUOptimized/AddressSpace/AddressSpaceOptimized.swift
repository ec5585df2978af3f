import IOMMUSpec

/// The optimized address space: an ordered extent index answers the policy questions
/// (overlap, bisect, bytes removed), a radix page table with superpages answers translations,
/// and an IOTLB caches them. With a page size below 4 KiB (virtio-iommu, iommufd without a
/// domain, QEMU's IOVA tree) translations come from the index instead, as QEMU's virtio-iommu
/// looks them up in its interval tree. It must agree with `AddressSpaceModel` on every operation.
///
/// Costs: map and unmap O(log n + pages touched at the edges), translate O(1) on an IOTLB hit
/// and O(levels) on a miss (O(log n) without a page table); bookkeeping about 30 bytes per
/// mapping beyond page-table entries.
public final class AddressSpaceOptimized: AddressSpace {
    public let configuration: AddressSpaceConfiguration
    // One address space is used from one thread at a time; dynamic exclusivity checks on these
    // hot fields cost more than the work (see docs/ARCHITECTURE.md).
    @exclusivity(unchecked) var index = ExtentIndex()
    /// nil below 4 KiB pages: a radix table of 4 KiB leaves cannot hold a 1-byte mapping.
    @exclusivity(unchecked) var table: RadixPageTable?
    @exclusivity(unchecked) var iotlb = IOTLB()
    private let policy: AddressSpacePolicy
    private let pageMask: UInt64
    private let aperture: ClosedRange<UInt64>
    /// The lowest and highest reserved IOVA: a translation outside skips the region scan.
    private let reservedSpan: ClosedRange<UInt64>?

    /// A planted bug (`IOMMUMutants`); nil in the real implementation.
    package var plantedBug: AddressSpaceBug? {
        didSet {
            table?.clearsSuperpagesWhole = plantedBug == .superpageNotSplit
            // These bugs map over mapped ranges: the index stays sorted, no longer disjoint.
            index.overlapsAllowed = plantedBug == .overlapAccepted || plantedBug == .offByOneLastPage || plantedBug == .wrapAroundAccepted
        }
    }

    public init(configuration: AddressSpaceConfiguration) {
        self.configuration = configuration
        self.policy = configuration.policy
        self.table = configuration.pageSize >= 4096 ? RadixPageTable(addressWidth: configuration.addressWidth) : nil
        self.pageMask = configuration.pageSize - 1
        self.aperture = configuration.aperture
        let regions = configuration.reservedRegions.map(\.range)
        if let low = regions.map(\.lowerBound).min(), let high = regions.map(\.upperBound).max() { reservedSpan = low...high } else { reservedSpan = nil }
    }

    // MARK: map

    public func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        let permissions = permissions.intersection(.readWrite)
        // The order of vfio_dma_do_map before 6.18; iommufd tests ULONG_MAX first.
        if policy.ulongMaxIsOverflow && (iova == .max || length == .max) { return .failure(.overflow) }
        if permissions.isEmpty && policy.permissionRequired == .enforced { return .failure(.noPermission) }
        if length == 0 { return .failure(.zeroLength) }
        if (iova | length | phys) & pageMask != 0 { return .failure(.misaligned) }
        let (last, iovaWraps) = iova.addingReportingOverflow(length - 1)
        let physWraps = switch policy.physWrap {
        case .inclusiveEnd: phys.addingReportingOverflow(length - 1).overflow
        case .exclusiveEnd: phys.addingReportingOverflow(length).overflow || length > UInt64.max - 4096
        case .unspecified, .absent: false
        }
        if (iovaWraps || physWraps) && plantedBug != .wrapAroundAccepted { return .failure(.overflow) }
        if overlapsExisting(iova, last) { return .failure(.overlap) }
        if let limit = configuration.mappingLimit, index.count >= limit, plantedBug != .mappingLimitIgnored { return .failure(.mappingLimit) }
        if policy.hasAperture {
            let lastAllowed = plantedBug == .lastApertureUnmappable ? last >= aperture.upperBound : last > aperture.upperBound
            if iova < aperture.lowerBound || lastAllowed || (iovaWraps && !aperture.contains(iova)) { return .failure(.outsideAperture) }
            if configuration.reservedRegions.contains(where: { $0.range.lowerBound <= last && iova <= $0.range.upperBound }) {
                // The bug: the page table is written before the last check, and not rolled back.
                if plantedBug == .failedMapNotRolledBack { writeTable(iova, length, phys, permissions) }
                return .failure(.reservedRegion)
            }
        }
        if iovaWraps {
            // Only the planted wrap-around bug gets here. It records the part below 2^64 and
            // maps what the page table can hold, so the bug shows without crashing the checker.
            let kept = 0 &- iova
            index.insert(Extent(iova: iova, length: kept, phys: phys, permissions: permissions))
            if aperture.contains(iova) { writeTable(iova, min(kept, aperture.upperBound - iova + 1), phys, permissions) }
            return .success(())
        }
        index.insert(Extent(iova: iova, length: length, phys: phys, permissions: permissions))
        writeTable(iova, length, phys, permissions)
        return .success(())
    }

    /// The permissions the page table holds: write implies read where reads of write-only
    /// mappings reach them (ARM LPAE stage 1 makes a write-only request read-write).
    private func effective(_ permissions: Permissions) -> Permissions {
        let readsAllowed = policy.writeOnlyReads != .denied || plantedBug == .writeOnlyReadable
        return permissions == .write && readsAllowed ? .readWrite : permissions
    }

    /// Whether `[first, last]` overlaps a mapping: only the mapping with the greatest start
    /// at or below `last` can, because mappings are disjoint and sorted. O(log n).
    private func overlapsExisting(_ first: UInt64, _ last: UInt64) -> Bool {
        switch plantedBug {
        case .overlapAccepted:
            // The bug: only asks whether the new range's first address is already mapped.
            return index.position(containing: first) != nil
        case .offByOneLastPage:
            // The bug: compares page numbers with `>` where `>=` is due, so the last page of an
            // existing mapping looks free.
            guard let candidate = index.previous(index.upperBound(last)) else { return false }
            return index.last(at: candidate) >> 12 > first >> 12
        default:
            guard let candidate = index.previous(index.upperBound(last)) else { return false }
            return index.last(at: candidate) >= first
        }
    }

    // MARK: unmap

    public func unmap(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        if policy.unmapAll == .sentinel && iova == 0 && length == .max && plantedBug != .unmapAllSentinelRefused { return .success(removeEverything()) }
        if policy.ulongMaxIsOverflow && (iova == .max || length == .max) { return .failure(UnmapFailure(.overflow)) }
        if policy.partial == .cutAtEdges && plantedBug != .straddlersKept, let failure = cut(at: iova &+ length &- 1, iova == 0 ? nil : iova &- 1) {
            return .failure(failure)
        }
        if length == 0 { return .failure(UnmapFailure(.zeroLength)) }
        if (policy.unmapAlignment || plantedBug == .unalignedUnmapRefused) && (iova | length) & pageMask != 0 { return .failure(UnmapFailure(.misaligned)) }
        let (last, wraps) = iova.addingReportingOverflow(length - 1)
        if wraps { return .failure(UnmapFailure(.overflow)) }

        var touched = index.overlapping(iova, last)
        // Only the first and the last touched mapping can stick out of the range.
        let startStraddles = !touched.isEmpty && index.iova(at: touched.lowerBound) < iova
        let endStraddles = !touched.isEmpty && index.last(at: index.previous(touched.upperBound)!) > last
        var failure: AddressSpaceError?
        if (startStraddles || endStraddles) && plantedBug != .straddlersKept {
            switch policy.partial {
            case .rejectBisect: return .failure(UnmapFailure(.bisectsMapping))
            case .rejectPartial: return .failure(UnmapFailure(.partialUnmap))
            case .removeUntilPartial, .cutAtEdges:
                // The areas below the first partly covered one are freed before it is found.
                if startStraddles || plantedBug == .iommufdUnmapAllOrNothing { return .failure(UnmapFailure(.partialUnmap)) }
                touched = touched.lowerBound..<index.previous(touched.upperBound)!
                failure = .partialUnmap
            case .removeStartingInside:
                if startStraddles && plantedBug != .v1OffsetUnmapRemoves { return .success(0) }
            case .removeOverlapping, .split: break
            }
        }
        if touched.isEmpty && failure == nil {
            let failsWhenEmpty = policy.empty == .fail || plantedBug == .emptyUnmapFails
            return failsWhenEmpty ? .failure(UnmapFailure(.nothingToUnmap)) : .success(0)
        }
        if plantedBug == .straddlersKept { touched = coveredOnly(touched, iova, last) }
        if plantedBug == .unmapOnlyExactStart {
            // The bug: looks up the one mapping that starts at iova and removes only it.
            guard !touched.isEmpty, index.iova(at: touched.lowerBound) == iova else { return .success(0) }
            touched = touched.lowerBound..<index.next(touched.lowerBound)
        }

        let extents = index.extents(in: touched)
        index.remove(touched)
        var removed: UInt64 = 0
        if policy.partial == .split && plantedBug != .straddlersKept {
            for extent in extents {
                removed &+= min(extent.last, last) - max(extent.iova, iova) + 1
                if extent.iova < iova {
                    index.insert(Extent(iova: extent.iova, length: iova - extent.iova, phys: extent.phys, permissions: extent.permissions))
                }
                if extent.last > last {
                    index.insert(Extent(iova: last + 1, length: extent.last - last, phys: extent.phys(of: last + 1), permissions: extent.permissions))
                }
            }
            clearPages(iova, last)
        } else {
            for extent in extents {
                removed = add(removed, extent.length)
                clearPages(extent.iova, extent.last)
            }
        }
        if let failure {
            let reported = policy.bytes == .evenOnFailure && plantedBug != .compatFailureBytesLost ? removed : 0
            return .failure(UnmapFailure(failure, bytes: reported))
        }
        return .success(removed)
    }

    /// iopt_cut_iova: splits the mapping holding each address so that the address ends it,
    /// unless it already starts or ends there; a cut off the page grid is EINVAL.
    private func cut(at addresses: UInt64?...) -> UnmapFailure? {
        for case let address? in addresses {
            guard let position = index.position(containing: address) else { continue }
            let extent = index[position]
            if address == extent.iova || address == extent.last { continue }
            if (address &+ 1) & pageMask != 0 { return UnmapFailure(.misaligned) }
            index.remove(position..<index.next(position))
            index.insert(Extent(iova: extent.iova, length: address - extent.iova + 1, phys: extent.phys, permissions: extent.permissions))
            index.insert(Extent(iova: address + 1, length: extent.last - address, phys: extent.phys(of: address + 1), permissions: extent.permissions))
        }
        return nil
    }

    /// Narrows `range` to the mappings inside `[first, last]`.
    private func coveredOnly(_ range: Range<ExtentIndex.Position>, _ first: UInt64, _ last: UInt64) -> Range<ExtentIndex.Position> {
        var lower = range.lowerBound, upper = range.upperBound
        if lower < upper && index.iova(at: lower) < first { lower = index.next(lower) }
        if lower < upper, let final = index.previous(upper), index.last(at: final) > last { upper = final }
        return lower < upper ? lower..<upper : lower..<lower
    }

    private func clearPages(_ first: UInt64, _ last: UInt64) {
        guard let table else { return }
        table.unmap(first: first, last: last)
        if plantedBug != .staleIOTLB { iotlb.invalidate(firstPage: first >> 12, lastPage: last >> 12) }
        #if DEBUG
        assertInvariant(cachedTranslationViolation(firstPage: first >> 12, lastPage: last >> 12), of: "AddressSpaceOptimized")
        #endif
    }

    /// Byte counts wrap modulo 2^64, as the kernels' size_t does.
    private func add(_ total: UInt64, _ bytes: UInt64) -> UInt64 {
        guard plantedBug == .unmappedBytesSaturate else { return total &+ bytes }
        let (sum, overflow) = total.addingReportingOverflow(bytes)
        return overflow ? .max : sum
    }

    public func unmapAll(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        if policy.unmapAll == .flag && (iova != 0 || length != 0) && plantedBug != .unmapAllArgumentsIgnored { return .failure(UnmapFailure(.unmapAllArguments)) }
        return .success(removeEverything())
    }

    private func removeEverything() -> UInt64 {
        var removed: UInt64 = 0
        var p = ExtentIndex.Position(chunk: 0, slot: 0)
        while p < index.end {
            removed = add(removed, index[p].length)
            p = index.next(p)
        }
        index.removeAll()
        table?.removeAll()
        iotlb.invalidateAll()
        #if DEBUG
        assertInvariant(index.count == 0 && iotlb.isEmpty ? nil : "\(index.count) mappings or a cached page left after removing everything", of: "AddressSpaceOptimized")
        #endif
        return removed
    }

    /// Writes a mapping into the page table. One that would take more tables than the budget
    /// (terabytes of 4 KiB leaves, where phys and IOVA are not congruent modulo a superpage)
    /// turns the table off: translations then come from the extent index, as below 4 KiB.
    private func writeTable(_ iova: UInt64, _ length: UInt64, _ phys: UInt64, _ permissions: Permissions) {
        guard let table else { return }
        #if DEBUG
        // A map needs no invalidation (no negative entries): the cache must still agree.
        defer { assertInvariant(cachedTranslationViolation(firstPage: iova >> 12, lastPage: max(iova, iova &+ (length &- 1)) >> 12), of: "AddressSpaceOptimized") }
        #endif
        if table.tablesNeeded(iova: iova, length: length, phys: phys) > RadixPageTable.tableBudget - table.tableCount {
            self.table = nil
            iotlb.invalidateAll()
            return
        }
        table.map(iova: iova, length: length, phys: phys, permissions: effective(permissions))
    }

    // MARK: translate

    public func translate(iova: UInt64, access: Access) -> Result<UInt64, TranslationFault> {
        if policy.hasAperture && !aperture.contains(iova) { return .failure(.outsideAperture) }
        if let reservedSpan, reservedSpan.contains(iova), let region = configuration.reservedRegions.first(where: { $0.range.contains(iova) }) {
            let doorbell = region.kind == .msi && policy.msiDoorbell && plantedBug != .msiDoorbellFaults
            return doorbell ? .success(iova) : .failure(.notMapped)
        }
        guard let table else { return translateFromIndex(iova, access) }
        let page = iova >> 12
        let cached: UInt64
        if let hit = iotlb.lookup(page: page) {
            cached = hit
        } else {
            guard let walk = table.translate(iova) else { return .failure(.notMapped) }
            cached = (walk.phys & ~0xFFF) | UInt64(walk.permissions.rawValue)
            iotlb.fill(page: page, value: cached)
            #if DEBUG
            assertInvariant(cachedTranslationViolation(firstPage: page, lastPage: page), of: "AddressSpaceOptimized")
            #endif
        }
        guard cached & UInt64(access.rawValue) != 0 else { return .failure(.permissionDenied) }
        return .success((cached & ~0xFFF) | (iova & 0xFFF))
    }

    private func translateFromIndex(_ iova: UInt64, _ access: Access) -> Result<UInt64, TranslationFault> {
        guard let position = index.position(containing: iova) else { return .failure(.notMapped) }
        let extent = index[position]
        guard effective(extent.permissions).allows(access) else { return .failure(.permissionDenied) }
        return .success(extent.phys(of: iova))
    }

    public func mappings(in range: ClosedRange<UInt64>) -> [Extent] {
        index.extents(in: index.overlapping(range.lowerBound, range.upperBound))
    }

    // MARK: Measurement and invariants

    /// Mappings currently held.
    public var mappingCount: Int { index.count }

    /// Heap bytes of bookkeeping beyond page-table entries: the extent index and the IOTLB.
    public var bookkeepingBytes: Int { index.memoryFootprint + 2 * IOTLB.slots * 8 + 64 }

    /// Page tables allocated (4 KiB each).
    public var pageTableCount: Int { table?.tableCount ?? 0 }

    // MARK: Invariants
    //
    // Each part checks its own structure after every change (debug builds): the extent index
    // around the extents it changed, the page table in the tables it wrote, the IOTLB in the
    // slots it touched. Only the owner can check that the cache agrees with the table: every
    // cached page translates as a fresh walk does, and nothing is cached without a table (a
    // dropped table's translations come from the index, uncached). A planted bug may break
    // that agreement on purpose (stale-iotlb keeps an entry, overlap-accepted maps over a
    // cached page), so it is checked only without one.

    /// Debug-build check of every invariant of the index, the page table and the IOTLB; O(size).
    public func checkInvariants() {
        #if DEBUG
        assertInvariant(invariantViolation(), of: "AddressSpaceOptimized")
        #endif
    }

    /// The first broken invariant of any part, or nil; visits everything.
    public func invariantViolation() -> String? {
        if let problem = index.invariantViolation() { return "extent index: \(problem)" }
        if let problem = table?.invariantViolation() { return "page table: \(problem)" }
        if let problem = iotlb.invariantViolation() { return "IOTLB: \(problem)" }
        return cachedTranslationViolation(firstPage: 0, lastPage: .max)
    }

    /// Whether the IOTLB slots that can hold a page of `firstPage...lastPage` are sound, and
    /// whether those holding a page of the range cache what a walk of the table finds now.
    func cachedTranslationViolation(firstPage: UInt64, lastPage: UInt64) -> String? {
        guard let table else {
            if iotlb.isEmpty { return nil }
            return "the IOTLB caches translations, but there is no page table"
        }
        let walk: ((UInt64) -> UInt64?)? = plantedBug != nil ? nil : { page in
            table.translate(page << 12).map { ($0.phys & ~0xFFF) | UInt64($0.permissions.rawValue) }
        }
        return iotlb.invariantViolation(firstPage: firstPage, lastPage: lastPage, translation: walk).map { "IOTLB: \($0)" }
    }
}

/// Planted bugs of the optimized address space. Each imitates a real failure; `IOMMUMutants`
/// names them and says where they come from. `package` access: only this package can plant one.
package enum AddressSpaceBug: String, CaseIterable, Sendable {
    case unmapOnlyExactStart
    case straddlersKept
    case overlapAccepted
    case offByOneLastPage
    case wrapAroundAccepted
    case staleIOTLB
    case superpageNotSplit
    case lastApertureUnmappable
    case emptyUnmapFails
    case mappingLimitIgnored
    case failedMapNotRolledBack
    case iommufdUnmapAllOrNothing
    case unalignedUnmapRefused
    case writeOnlyReadable
    case msiDoorbellFaults
    case unmapAllArgumentsIgnored
    case unmapAllSentinelRefused
    case unmappedBytesSaturate
    case v1OffsetUnmapRemoves
    case compatFailureBytesLost
}
