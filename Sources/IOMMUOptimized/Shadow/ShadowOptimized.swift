import IOMMUSpec

/// The optimized shadow layer, shaped like a VMM's: it never reads the host back. It keeps,
/// per domain, the host mappings it has made as the host stores them (one per map, VT-d's as
/// leaves), walks only the invalidated range of the guest table, and follows
/// `ShadowResync.plan` against that record: what is unchanged is skipped, what changed is
/// replaced or unmapped and mapped, whole mappings where the host cannot split one. A map the
/// host has no room for ends the resync with insufficient resources.
public final class ShadowOptimized: ShadowSystem {
    let guest: GuestIOMMU
    let host: ShadowHost
    /// The host mappings this layer has made in each domain: sorted, disjoint, as stored.
    private var trees: [[Extent]]

    /// A planted bug (`IOMMUMutants`); nil in the real implementation.
    package var plantedBug: ShadowBug?

    public init(guest: GuestIOMMU, host: ShadowHost) {
        self.guest = guest
        self.host = host
        trees = Array(repeating: [], count: guest.configuration.domains)
    }

    public func invalidate(_ invalidation: Invalidation) -> ShadowResult {
        let configuration = guest.configuration
        var result = ShadowResult.done
        for domain in 0..<configuration.domains {
            guard var range = invalidation.range(of: domain, addressWidth: configuration.addressWidth) else { continue }
            if case .pageSelective = invalidation { range = pageSelectiveRange(range) }
            let length = range.upperBound - range.lowerBound + 1
            let domainSelective: Bool
            switch invalidation {
            case .domain, .global: domainSelective = true
            case .pageSelective, .context: domainSelective = false
            }
            if plantedBug == .unmapAllThenReplay && domainSelective {
                // The pre-2018 intel-iommu flow (seed 004): unmap the whole domain, then replay.
                host.unmap(domain: domain, iova: range.lowerBound, length: length)
                trees[domain] = []
            }
            if result == .done { result = sync(domain: domain, range) }
            // UNMAP-only consumers (vhost) learn of every invalidation; the planted bug forgets
            // them on domain-selective ones, as intel-iommu once did.
            if !(plantedBug == .domainInvalidationNotifiesNoUnmap && domainSelective) {
                host.notifyUnmap(domain: domain, iova: range.lowerBound, length: length)
            }
        }
        return plantedBug == .insufficientResourcesNotReported ? .done : result
    }

    /// The range a page-selective invalidation syncs; the planted bugs cut or widen it.
    private func pageSelectiveRange(_ range: ClosedRange<UInt64>) -> ClosedRange<UInt64> {
        let pde: UInt64 = 1 << 21
        switch plantedBug {
        case .psiStopsAtPageDirectory:
            return range.lowerBound...min(range.upperBound, (range.lowerBound | (pde - 1)))
        case .syncTouchesOutsideRange:
            return (range.lowerBound & ~(pde - 1))...(range.upperBound | (pde - 1))
        default:
            return range
        }
    }

    /// Brings the host in step with the guest on `range`, touching only what differs.
    private func sync(domain: Int, _ range: ClosedRange<UInt64>) -> ShadowResult {
        let configuration = guest.configuration
        let wanted = walk(domain: domain, range)
        let current = slice(domain: domain, range)
        // The planted bug leaves pages whose translation changed as they were (it believes
        // they are done): it plans against a guest that kept their old translation.
        let planned = plantedBug == .mapsOnlyNewPages ? keepingChanged(range, current, wanted) : wanted
        // The planted bug is QEMU's with VFIO: it unmaps just the pages that changed, as if the
        // host could split a mapping, and does not look at what the host answers.
        let splits = configuration.host.canSplit || plantedBug == .unmapInsideHostMapping
        let plan = ShadowResync.plan(range: range, current: current, wanted: planned, host: splits ? .pageTable : configuration.host,
                                     atomic: configuration.policy.window == .none && configuration.host.hasReplace)
        #if DEBUG
        // The record changes only where the plan acts, and the plan acts on whole recorded
        // mappings overlapping the range: check the record across all of it, ahead of any return.
        let touched = plan.reduce(range) { span, request in
            let (iova, length) = switch request {
            case .map(let iova, let length, _, _), .unmap(let iova, let length), .replace(let iova, let length, _): (iova, length)
            }
            return min(span.lowerBound, iova)...max(span.upperBound, iova &+ (length &- 1))
        }
        defer { assertInvariant(recordViolation(domain: domain, around: touched), of: "ShadowOptimized") }
        #endif
        for request in plan {
            switch request {
            case .map(let iova, let length, let phys, let permissions):
                let extent = Extent(iova: iova, length: length, phys: phys, permissions: permissions)
                switch host.map(domain: domain, iova: iova, length: length, phys: phys, permissions: permissions) {
                case .success: record(domain, adding: configuration.host.stored(extent))
                case .failure(.mappingLimit): return .insufficientResources
                case .failure: if plantedBug == .unmapInsideHostMapping { record(domain, adding: [extent]) }
                }
            case .unmap(let iova, let length):
                if case .success = host.unmap(domain: domain, iova: iova, length: length) {
                    forget(domain, iova...(iova + (length - 1)), withinRange: range)
                } else if plantedBug == .unmapInsideHostMapping {
                    forget(domain, iova...(iova + (length - 1)), withinRange: range)
                }
            case .replace(let iova, let length, let extents):
                if case .success = host.replace(domain: domain, iova: iova, length: length, with: extents) {
                    forget(domain, iova...(iova + (length - 1)), withinRange: range)
                    record(domain, adding: extents)
                }
            }
        }
        if plantedBug == .mapsOnlyNewPages {
            // The record says the changed pages were done.
            forget(domain, range, withinRange: range)
            record(domain, adding: wanted)
        }
        return .done
    }

    /// `wanted`, with each page the host maps already given its current translation.
    private func keepingChanged(_ range: ClosedRange<UInt64>, _ current: [Extent], _ wanted: [Extent]) -> [Extent] {
        var result: [Extent] = []
        for piece in wanted {
            var next = piece.iova
            for old in ShadowResync.clipped(current, to: piece.iova...piece.last) {
                if old.iova > next { result += ShadowResync.clipped([piece], to: next...(old.iova - 1)) }
                result.append(old)
                next = old.last &+ 1
            }
            if next > piece.iova && next == 0 { continue }
            if next <= piece.last { result += ShadowResync.clipped([piece], to: next...piece.last) }
        }
        return result
    }

    /// The guest leaves in `range`, translated to host-physical and clipped; leaves that
    /// continue one another (a demoted superpage's 512) as one extent, which is all the plan
    /// compares and maps.
    private func walk(domain: Int, _ range: ClosedRange<UInt64>) -> [Extent] {
        var result: [Extent] = []
        let memory = guest.configuration.memory
        for leaf in guest.leaves(domain: domain, first: range.lowerBound, last: range.upperBound) {
            // The planted bug walks a 3-level table only: nothing at or above 2^39 is shadowed.
            if plantedBug == .highIOVADropped && leaf.iova >= 1 << 39 { continue }
            guard let base = memory.hostPhysical(leaf.gpa, size: leaf.size) else { continue }
            // The planted bug shadows a superpage as its first 4 KiB page only.
            let size = plantedBug == .superpageShadowedAs4K ? min(leaf.size, 4096) : leaf.size
            let first = max(leaf.iova, range.lowerBound), last = min(leaf.iova + (size - 1), range.upperBound)
            guard first <= last else { continue }
            let extent = Extent(iova: first, length: last - first + 1, phys: base + (first - leaf.iova), permissions: leaf.permissions)
            if let previous = result.last, previous.last &+ 1 == extent.iova, previous.phys &+ previous.length == extent.phys, previous.permissions == extent.permissions {
                result[result.count - 1].length += extent.length
            } else {
                result.append(extent)
            }
        }
        return result
    }

    // MARK: The record of host mappings

    /// Index range of recorded mappings overlapping `range` (binary search on the sorted list).
    private func indices(domain: Int, _ range: ClosedRange<UInt64>) -> Range<Int> {
        let tree = trees[domain]
        var low = 0, high = tree.count
        while low < high {
            let middle = (low + high) / 2
            if tree[middle].last < range.lowerBound { low = middle + 1 } else { high = middle }
        }
        var end = low
        while end < tree.count && tree[end].iova <= range.upperBound { end += 1 }
        return low..<end
    }

    private func slice(domain: Int, _ range: ClosedRange<UInt64>) -> [Extent] { Array(trees[domain][indices(domain: domain, range)]) }

    /// Adds mappings (sorted, disjoint, touching nothing recorded): one binary search per run.
    private func record(_ domain: Int, adding extents: [Extent]) {
        guard let first = extents.first else { return }
        let position = indices(domain: domain, first.iova...first.iova).lowerBound
        if position == trees[domain].count || extents.last!.last < trees[domain][position].iova {
            trees[domain].insert(contentsOf: extents, at: position)
            return
        }
        for extent in extents {
            let at = indices(domain: domain, extent.iova...extent.iova).lowerBound
            trees[domain].insert(extent, at: at)
        }
    }

    /// What an unmap of `span` removed, as the host does it: a page table keeps the parts of a
    /// mapping outside the span, VT-d drops every leaf it touches, VFIO and iommufd whole
    /// mappings (the plan only asks for those).
    private func forget(_ domain: Int, _ span: ClosedRange<UInt64>, withinRange range: ClosedRange<UInt64>) {
        let positions = indices(domain: domain, span)
        var kept: [Extent] = []
        if guest.configuration.host.canSplit || plantedBug == .unmapInsideHostMapping {
            for extent in trees[domain][positions] {
                if extent.iova < span.lowerBound { kept += ShadowResync.clipped([extent], to: extent.iova...(span.lowerBound - 1)) }
                // The planted bug forgets the tail of a mapping that sticks out past the range:
                // it no longer knows the host still maps it, and a later sync never unmaps it.
                if extent.last > span.upperBound && !(plantedBug == .treeDropsRangeTail && extent.last > range.upperBound) {
                    kept += ShadowResync.clipped([extent], to: (span.upperBound + 1)...extent.last)
                }
            }
        }
        trees[domain].replaceSubrange(positions, with: kept)
    }

    // MARK: Invariants
    //
    // - one record per guest domain;
    // - a record's mappings are non-empty, do not run past 2^64 - 1, and are sorted and
    //   disjoint (each starts past the previous one's last byte): `indices` binary-searches
    //   on that, and `record` inserts where it finds.
    // The record is not checked against the host: it is this layer's belief, and several
    // planted bugs are precisely a wrong belief (tree-drops-range-tail).

    /// The first broken invariant in any domain's record, or nil.
    public func invariantViolation() -> String? {
        if trees.count != guest.configuration.domains { return "\(trees.count) records for \(guest.configuration.domains) domains" }
        for domain in trees.indices {
            if let problem = recordViolation(domain: domain, positions: trees[domain].indices) { return problem }
        }
        return nil
    }

    /// The record of `domain` where it overlaps `span`, and one mapping either side.
    func recordViolation(domain: Int, around span: ClosedRange<UInt64>) -> String? {
        if trees.count != guest.configuration.domains { return "\(trees.count) records for \(guest.configuration.domains) domains" }
        let near = indices(domain: domain, span)
        return recordViolation(domain: domain, positions: max(0, near.lowerBound - 1)..<min(trees[domain].count, near.upperBound + 1))
    }

    private func recordViolation(domain: Int, positions: Range<Int>) -> String? {
        let tree = trees[domain]
        for position in positions {
            let extent = tree[position]
            if extent.length == 0 { return "domain \(domain) record \(position) is empty at 0x\(String(extent.iova, radix: 16))" }
            if extent.iova.addingReportingOverflow(extent.length - 1).overflow { return "domain \(domain) record \(position) runs past 2^64 - 1: \(extent)" }
            if position + 1 < tree.count && tree[position + 1].iova <= extent.last {
                return "domain \(domain) records \(position) and \(position + 1) overlap or are out of order: \(extent), \(tree[position + 1])"
            }
        }
        return nil
    }

    /// Test hook: replaces a domain's record as is, bypassing every rule.
    func overwriteRecordForTesting(domain: Int, _ extents: [Extent]) {
        trees[domain] = extents
    }
}

/// Planted bugs of the optimized shadow layer; `IOMMUMutants` names them and their sources.
package enum ShadowBug: String, CaseIterable, Sendable {
    case unmapAllThenReplay
    case psiStopsAtPageDirectory
    case mapsOnlyNewPages
    case syncTouchesOutsideRange
    case superpageShadowedAs4K
    case domainInvalidationNotifiesNoUnmap
    case treeDropsRangeTail
    case unmapInsideHostMapping
    case insufficientResourcesNotReported
    case highIOVADropped
}
