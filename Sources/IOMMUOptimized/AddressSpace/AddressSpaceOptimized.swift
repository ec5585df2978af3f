import IOMMUSpec

/// The optimized address space: an ordered extent index answers the policy questions
/// (overlap, bisect, bytes removed), a radix page table with superpages answers translations,
/// and an IOTLB caches them. It must agree with `AddressSpaceModel` on every operation.
///
/// Costs: map and unmap O(log n + pages touched at the edges), translate O(1) on an IOTLB hit
/// and O(levels) on a miss; bookkeeping about 30 bytes per mapping beyond page-table entries.
public final class AddressSpaceOptimized: AddressSpace {
    public let configuration: AddressSpaceConfiguration
    // One address space is used from one thread at a time; dynamic exclusivity checks on these
    // hot fields cost more than the work (see docs/ARCHITECTURE.md).
    @exclusivity(unchecked) var index = ExtentIndex()
    @exclusivity(unchecked) var table: RadixPageTable
    @exclusivity(unchecked) var iotlb = IOTLB()
    private let pageMask: UInt64
    private let apertureLast: UInt64

    /// A planted bug (`IOMMUMutants`); nil in the real implementation.
    package var plantedBug: AddressSpaceBug? {
        didSet { table.clearsSuperpagesWhole = plantedBug == .superpageNotSplit }
    }

    public init(configuration: AddressSpaceConfiguration) {
        self.configuration = configuration
        self.table = RadixPageTable(addressWidth: configuration.addressWidth)
        self.pageMask = configuration.pageSize - 1
        self.apertureLast = configuration.apertureLast
    }

    // MARK: map

    public func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        let permissions = permissions.intersection(.readWrite)
        if permissions.isEmpty { return .failure(.noPermission) }
        if length == 0 { return .failure(.zeroLength) }
        if (iova | length | phys) & pageMask != 0 { return .failure(.misaligned) }
        let (last, iovaWraps) = iova.addingReportingOverflow(length - 1)
        let physWraps = phys.addingReportingOverflow(length - 1).overflow
        if (iovaWraps || physWraps) && plantedBug != .wrapAroundAccepted { return .failure(.overflow) }
        if overlapsExisting(iova, last) { return .failure(.overlap) }
        if index.count >= configuration.mappingLimit && plantedBug != .mappingLimitIgnored { return .failure(.mappingLimit) }
        if plantedBug == .lastApertureUnmappable ? last >= apertureLast : last > apertureLast { return .failure(.outsideAperture) }
        if iovaWraps && iova > apertureLast { return .failure(.outsideAperture) }
        let touchesReserved = configuration.reservedRegions.contains { $0.lowerBound <= last && iova <= $0.upperBound }
        if touchesReserved && plantedBug == .failedMapNotRolledBack {
            // The bug: the page table is written before the last check, and not rolled back.
            table.map(iova: iova, length: length, phys: phys, permissions: permissions)
            return .failure(.reservedRegion)
        }
        if touchesReserved { return .failure(.reservedRegion) }
        if iovaWraps || physWraps {
            // Only the planted wrap-around bug gets here. It records the part below 2^64 and
            // maps what the page table can hold, so the bug shows without crashing the checker.
            let kept = iovaWraps ? 0 &- iova : length
            index.insert(Extent(iova: iova, length: kept, phys: phys, permissions: permissions))
            if iova <= apertureLast {
                table.map(iova: iova, length: min(kept, apertureLast - iova + 1), phys: phys, permissions: permissions)
            }
            return .success(())
        }
        index.insert(Extent(iova: iova, length: length, phys: phys, permissions: permissions))
        table.map(iova: iova, length: length, phys: phys, permissions: permissions)
        return .success(())
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

    public func unmap(iova: UInt64, length: UInt64) -> Result<UInt64, AddressSpaceError> {
        if length == 0 { return .failure(.zeroLength) }
        if (iova | length) & pageMask != 0 { return .failure(.misaligned) }
        let (last, wraps) = iova.addingReportingOverflow(length - 1)
        if wraps { return .failure(.overflow) }

        var touched = index.overlapping(iova, last)
        // Only the first and the last touched mapping can stick out of the range.
        let straddles = !touched.isEmpty && (index.iova(at: touched.lowerBound) < iova || index.last(at: index.previous(touched.upperBound)!) > last)
        if straddles && plantedBug != .straddlersKept {
            switch configuration.unmapPolicy.partial {
            case .rejectBisect: return .failure(.bisectsMapping)
            case .rejectPartial: return .failure(.partialUnmap)
            case .removeOverlapping, .split: break
            }
        }
        if touched.isEmpty {
            let failsWhenEmpty = configuration.unmapPolicy.empty == .fail || plantedBug == .emptyUnmapFails
            return failsWhenEmpty ? .failure(.nothingToUnmap) : .success(0)
        }
        if plantedBug == .straddlersKept { touched = coveredOnly(touched, iova, last) }
        if plantedBug == .unmapOnlyExactStart {
            // The bug: looks up the one mapping that starts at iova and removes only it.
            guard index.iova(at: touched.lowerBound) == iova else { return .success(0) }
            touched = touched.lowerBound..<index.next(touched.lowerBound)
        }

        let extents = index.extents(in: touched)
        index.remove(touched)
        var removed: UInt64 = 0
        if configuration.unmapPolicy.partial == .split && plantedBug != .straddlersKept {
            for extent in extents {
                removed += min(extent.last, last) - max(extent.iova, iova) + 1
                if extent.iova < iova {
                    index.insert(Extent(iova: extent.iova, length: iova - extent.iova, phys: extent.phys, permissions: extent.permissions))
                }
                if extent.last > last {
                    index.insert(Extent(iova: last + 1, length: extent.last - last, phys: extent.phys + (last + 1 - extent.iova), permissions: extent.permissions))
                }
            }
            clearPages(iova, last)
        } else {
            for extent in extents {
                removed = removed.addingReportingOverflow(extent.length).overflow ? .max : removed + extent.length
                clearPages(extent.iova, extent.last)
            }
        }
        return .success(removed)
    }

    /// Narrows `range` to the mappings inside `[first, last]`.
    private func coveredOnly(_ range: Range<ExtentIndex.Position>, _ first: UInt64, _ last: UInt64) -> Range<ExtentIndex.Position> {
        var lower = range.lowerBound, upper = range.upperBound
        if lower < upper && index.iova(at: lower) < first { lower = index.next(lower) }
        if lower < upper, let final = index.previous(upper), index.last(at: final) > last { upper = final }
        return lower < upper ? lower..<upper : lower..<lower
    }

    private func clearPages(_ first: UInt64, _ last: UInt64) {
        table.unmap(first: first, last: last)
        if plantedBug != .staleIOTLB { iotlb.invalidate(firstPage: first >> 12, lastPage: last >> 12) }
    }

    public func unmapAll() -> UInt64 {
        var removed: UInt64 = 0
        var p = ExtentIndex.Position(chunk: 0, slot: 0)
        while p < index.end {
            let length = index[p].length
            removed = removed.addingReportingOverflow(length).overflow ? .max : removed + length
            p = index.next(p)
        }
        index.removeAll()
        table.removeAll()
        iotlb.invalidateAll()
        return removed
    }

    // MARK: translate

    public func translate(iova: UInt64, access: Access) -> Result<UInt64, TranslationFault> {
        if iova > apertureLast { return .failure(.outsideAperture) }
        let page = iova >> 12
        let cached: UInt64
        if let hit = iotlb.lookup(page: page) {
            cached = hit
        } else {
            guard let walk = table.translate(iova) else { return .failure(.notMapped) }
            cached = (walk.phys & ~0xFFF) | UInt64(walk.permissions.rawValue)
            iotlb.fill(page: page, value: cached)
        }
        guard cached & UInt64(access.rawValue) != 0 else { return .failure(.permissionDenied) }
        return .success((cached & ~0xFFF) | (iova & 0xFFF))
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
    public var pageTableCount: Int { table.tableCount }

    /// Debug-build invariants of the index (ordering, counts).
    public func checkInvariants() { index.checkInvariants() }
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
}
