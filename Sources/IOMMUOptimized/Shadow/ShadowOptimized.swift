import IOMMUSpec

/// The optimized shadow layer, shaped like QEMU's since seed 004: it keeps, per domain, the
/// ranges it has mapped (merged where contiguous, QEMU's IOVA tree), walks only the invalidated
/// range of the guest table, skips what is unchanged, unmaps what is gone, maps what is new,
/// and for what changed either unmaps then maps (window policy) or replaces atomically.
public final class ShadowOptimized: ShadowSystem {
    let guest: GuestIOMMU
    let host: ShadowHost
    /// What this layer has mapped in each domain: sorted, disjoint, merged.
    private var trees: [[Extent]]

    /// A planted bug (`IOMMUMutants`); nil in the real implementation.
    package var plantedBug: ShadowBug?

    public init(guest: GuestIOMMU, host: ShadowHost) {
        self.guest = guest
        self.host = host
        trees = Array(repeating: [], count: guest.configuration.domains)
    }

    public func invalidate(_ invalidation: Invalidation) {
        let width = guest.configuration.addressWidth
        for domain in 0..<guest.configuration.domains {
            guard var range = invalidation.range(of: domain, addressWidth: width) else { continue }
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
            sync(domain: domain, range)
            // UNMAP-only consumers (vhost) learn of every invalidation; the planted bug forgets
            // them on domain-selective ones, as intel-iommu once did.
            if !(plantedBug == .domainInvalidationNotifiesNoUnmap && domainSelective) {
                host.notifyUnmap(domain: domain, iova: range.lowerBound, length: length)
            }
        }
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
    private func sync(domain: Int, _ range: ClosedRange<UInt64>) {
        let target = walk(domain: domain, range)
        let current = Self.clip(slice(domain: domain, range), to: range)
        for run in Self.difference(current, target) {
            switch run {
            case .removed(let extent):
                host.unmap(domain: domain, iova: extent.iova, length: extent.length)
            case .added(let extent):
                host.map(domain: domain, iova: extent.iova, length: extent.length, phys: extent.phys, permissions: extent.permissions)
            case .changed(let extent):
                if plantedBug == .mapsOnlyNewPages { continue }
                if guest.configuration.policy == .atomicReplace {
                    host.replace(domain: domain, iova: extent.iova, length: extent.length, with: [extent])
                } else {
                    host.unmap(domain: domain, iova: extent.iova, length: extent.length)
                    host.map(domain: domain, iova: extent.iova, length: extent.length, phys: extent.phys, permissions: extent.permissions)
                }
            }
        }
        // The tree records what the layer believes the host holds (with the planted
        // maps-only-new-pages bug, that belief is wrong for changed pages).
        replaceSlice(domain: domain, range, with: target)
    }

    /// The guest leaves in `range`, translated to host-physical and clipped, merged.
    private func walk(domain: Int, _ range: ClosedRange<UInt64>) -> [Extent] {
        var result: [Extent] = []
        let memory = guest.configuration.memory
        for leaf in guest.leaves(domain: domain, first: range.lowerBound, last: range.upperBound) {
            guard let base = memory.hostPhysical(leaf.gpa), memory.hostPhysical(leaf.gpa + (leaf.size - 1)) == base + (leaf.size - 1) else { continue }
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

    // MARK: The per-domain tree

    /// Index range of tree extents overlapping `range` (binary search on the sorted tree).
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

    /// Replaces what the tree holds on `range` by `extents`, keeping the parts of boundary
    /// extents outside the range, and merges at the seams.
    private func replaceSlice(domain: Int, _ range: ClosedRange<UInt64>, with extents: [Extent]) {
        let span = indices(domain: domain, range)
        var pieces: [Extent] = []
        if let first = trees[domain][span].first, first.iova < range.lowerBound {
            pieces.append(Extent(iova: first.iova, length: range.lowerBound - first.iova, phys: first.phys, permissions: first.permissions))
        }
        pieces += extents
        // The planted bug forgets the tail of an extent that sticks out past the range: the tree
        // then no longer knows the host still maps it, and a later sync never unmaps it.
        if plantedBug != .treeDropsRangeTail, let last = trees[domain][span].last, last.last > range.upperBound {
            let offset = range.upperBound + 1 - last.iova
            pieces.append(Extent(iova: range.upperBound + 1, length: last.last - range.upperBound, phys: last.phys + offset, permissions: last.permissions))
        }
        let lower = max(0, span.lowerBound - 1), upper = min(trees[domain].count, span.upperBound + 1)
        var neighbourhood = Array(trees[domain][lower..<span.lowerBound]) + pieces + Array(trees[domain][span.upperBound..<upper])
        neighbourhood = Self.merged(neighbourhood)
        trees[domain].replaceSubrange(lower..<upper, with: neighbourhood)
    }

    private static func merged(_ extents: [Extent]) -> [Extent] {
        var result: [Extent] = []
        for extent in extents {
            if let previous = result.last, previous.last &+ 1 == extent.iova, previous.phys &+ previous.length == extent.phys, previous.permissions == extent.permissions {
                result[result.count - 1].length += extent.length
            } else {
                result.append(extent)
            }
        }
        return result
    }

    private static func clip(_ extents: [Extent], to range: ClosedRange<UInt64>) -> [Extent] {
        extents.compactMap { extent in
            let first = max(extent.iova, range.lowerBound), last = min(extent.last, range.upperBound)
            guard first <= last else { return nil }
            return Extent(iova: first, length: last - first + 1, phys: extent.phys + (first - extent.iova), permissions: extent.permissions)
        }
    }

    // MARK: Difference of two sorted extent lists

    enum Run {
        case removed(Extent)
        case added(Extent)
        case changed(Extent)
    }

    /// Splits the union of `current` and `target` at every boundary of either and classifies
    /// each piece: only in `current` (removed), only in `target` (added), in both with another
    /// translation or permissions (changed; the extent is the target's), or equal (skipped).
    /// Adjacent pieces of one class that continue each other are joined into one run.
    static func difference(_ current: [Extent], _ target: [Extent]) -> [Run] {
        var points: [UInt64] = []
        for extent in current + target {
            points.append(extent.iova)
            if extent.last < .max { points.append(extent.last + 1) }
        }
        points = Array(Set(points)).sorted()
        var runs: [Run] = []
        var c = 0, t = 0
        for (index, start) in points.enumerated() {
            let end = index + 1 < points.count ? points[index + 1] - 1 : UInt64.max
            while c < current.count && current[c].last < start { c += 1 }
            while t < target.count && target[t].last < start { t += 1 }
            let had = c < current.count && current[c].iova <= start ? current[c] : nil
            let wants = t < target.count && target[t].iova <= start ? target[t] : nil
            func piece(_ extent: Extent) -> Extent {
                Extent(iova: start, length: end - start + 1, phys: extent.phys + (start - extent.iova), permissions: extent.permissions)
            }
            let run: Run
            switch (had, wants) {
            case (nil, nil): continue
            case (let h?, nil): run = .removed(piece(h))
            case (nil, let w?): run = .added(piece(w))
            case (let h?, let w?):
                if h.phys &- h.iova == w.phys &- w.iova && h.permissions == w.permissions { continue }
                run = .changed(piece(w))
            }
            if let joined = join(runs.last, run) { runs[runs.count - 1] = joined } else { runs.append(run) }
        }
        return runs
    }

    private static func join(_ previous: Run?, _ next: Run) -> Run? {
        switch (previous, next) {
        case (.removed(let a)?, .removed(let b)) where a.last &+ 1 == b.iova:
            return .removed(Extent(iova: a.iova, length: a.length + b.length, phys: a.phys, permissions: a.permissions))
        case (.added(let a)?, .added(let b)) where a.last &+ 1 == b.iova && a.phys &+ a.length == b.phys && a.permissions == b.permissions:
            return .added(Extent(iova: a.iova, length: a.length + b.length, phys: a.phys, permissions: a.permissions))
        case (.changed(let a)?, .changed(let b)) where a.last &+ 1 == b.iova && a.phys &+ a.length == b.phys && a.permissions == b.permissions:
            return .changed(Extent(iova: a.iova, length: a.length + b.length, phys: a.phys, permissions: a.permissions))
        default:
            return nil
        }
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
}
