/// How to bring a host in step with the guest on one invalidated range, keeping the no-window
/// rule of every policy on every host (docs/SEMANTICS.md, "Shadow"): the plan both shadow
/// layers follow. Only what differs is touched: a run of pages whose translation changes,
/// appears or disappears is replaced atomically (where the host can, and the policy asks),
/// or unmapped and mapped again. A host that cannot split a mapping has each mapping that
/// holds such a page unmapped whole, and what it held outside that run mapped back.
public enum ShadowResync {
    /// Host calls for `range`: `current` is what the host maps there (whole mappings, sorted,
    /// as the host stores them), `wanted` the guest's leaves on the range (translated to
    /// host-physical, clipped to it, sorted). Contiguous wanted pages are one map, so a host
    /// holds few mappings (QEMU maps one per leaf; either conforms).
    public static func plan(range: ClosedRange<UInt64>, current: [Extent], wanted: [Extent], host: ShadowHostPolicy, atomic: Bool) -> [ShadowHost.Call.Request] {
        let runs = changedRuns(range, current, wanted)
        guard !runs.isEmpty else { return [] }
        var requests: [ShadowHost.Call.Request] = []
        func wantedOn(_ span: ClosedRange<UInt64>) -> [Extent] { merged(clipped(wanted, to: span)) }
        if host.canSplit {
            for run in runs {
                let length = run.upperBound - run.lowerBound + 1
                if atomic && host.hasReplace {
                    requests.append(.replace(iova: run.lowerBound, length: length, with: wantedOn(run)))
                    continue
                }
                if current.contains(where: { $0.overlaps(run.lowerBound, run.upperBound) }) { requests.append(.unmap(iova: run.lowerBound, length: length)) }
                requests += wantedOn(run).map(map)
            }
            return requests
        }
        // Whole mappings that hold a changing page go; then their pages come back: inside the
        // range as the guest wants them, outside it as they were.
        var removed: [Extent] = []
        for mapping in current where runs.contains(where: { mapping.overlaps($0.lowerBound, $0.upperBound) }) {
            removed.append(mapping)
        }
        var covered: [ClosedRange<UInt64>] = []
        for mapping in removed {
            requests.append(.unmap(iova: mapping.iova, length: mapping.length))
            let span = mapping.iova...mapping.last
            covered.append(span)
            if mapping.iova < range.lowerBound { requests.append(map(clipped([mapping], to: mapping.iova...(range.lowerBound - 1))[0])) }
            if let inside = intersection(span, range) { requests += wantedOn(inside).map(map) }
            if mapping.last > range.upperBound { requests.append(map(clipped([mapping], to: (range.upperBound + 1)...mapping.last)[0])) }
        }
        // Pages that change and no removed mapping held (they were unmapped): mapped as wanted.
        for run in runs {
            for piece in uncovered(run, by: covered) { requests += wantedOn(piece).map(map) }
        }
        return requests
    }

    /// The pages of `range` where `current` and `wanted` translate differently, as maximal runs.
    public static func changedRuns(_ range: ClosedRange<UInt64>, _ current: [Extent], _ wanted: [Extent]) -> [ClosedRange<UInt64>] {
        let held = clipped(current, to: range)
        // Every address where what is held or wanted may change, in order, each once: both
        // lists are sorted and disjoint, so their edges merge in one pass (no sort).
        let starts = edges([held, wanted], in: range, with: [range.lowerBound])
        var runs: [ClosedRange<UInt64>] = []
        var have = Cursor(held), want = Cursor(wanted)
        for (index, start) in starts.enumerated() {
            let end = index + 1 < starts.count ? starts[index + 1] - 1 : range.upperBound
            let a = have.at(start), b = want.at(start)
            let same: Bool = switch (a, b) {
            case (nil, nil): true
            case (let x?, let y?): x.phys &- x.iova == y.phys &- y.iova && x.permissions == y.permissions
            default: false
            }
            if same { continue }
            if let last = runs.last, last.upperBound &+ 1 == start { runs[runs.count - 1] = last.lowerBound...end } else { runs.append(start...end) }
        }
        return runs
    }

    /// Every address inside `range` where a mapping of one of `lists` starts or one ends (the
    /// address after its last), and the addresses of `extra`: sorted, each once. The lists are
    /// sorted and disjoint, so each one's edges come in order and merge without a sort; a list
    /// that is not is sorted, so the answer never depends on it.
    public static func edges(_ lists: [[Extent]], in range: ClosedRange<UInt64>, with extra: [UInt64]) -> [UInt64] {
        var merged = distinctSorted(extra.filter { range.contains($0) })
        for list in lists {
            var edges: [UInt64] = []
            edges.reserveCapacity(2 * list.count)
            for extent in list {
                if range.contains(extent.iova) { edges.append(extent.iova) }
                if extent.last < range.upperBound, extent.last + 1 >= range.lowerBound { edges.append(extent.last + 1) }
            }
            if zip(edges, edges.dropFirst()).contains(where: { $0 > $1 }) { edges.sort() }
            merged = mergedDistinct(merged, edges)
        }
        return merged
    }

    /// Two ascending lists as one, strictly ascending.
    private static func mergedDistinct(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        var result: [UInt64] = []
        result.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            let next: UInt64
            if j == b.count || (i < a.count && a[i] <= b[j]) {
                next = a[i]
                i += 1
            } else {
                next = b[j]
                j += 1
            }
            if result.last != next { result.append(next) }
        }
        return result
    }

    /// `values` sorted, each once (cheaper than a set for the few thousand a resync has).
    public static func distinctSorted(_ values: [UInt64]) -> [UInt64] {
        var sorted = values.sorted()
        var kept = 0
        for value in sorted where kept == 0 || sorted[kept - 1] != value {
            sorted[kept] = value
            kept += 1
        }
        return Array(sorted.prefix(kept))
    }

    /// Walks a sorted, disjoint list of extents in address order: what holds each address
    /// asked for, in increasing order, in amortized constant time.
    public struct Cursor {
        private let extents: [Extent]
        private var index = 0

        public init(_ extents: [Extent]) { self.extents = extents }

        public mutating func at(_ address: UInt64) -> Extent? {
            while index < extents.count && extents[index].last < address { index += 1 }
            return index < extents.count && extents[index].iova <= address ? extents[index] : nil
        }
    }

    /// `extents` cut to `range`.
    public static func clipped(_ extents: [Extent], to range: ClosedRange<UInt64>) -> [Extent] {
        extents.compactMap { extent in
            let first = max(extent.iova, range.lowerBound), last = min(extent.last, range.upperBound)
            guard first <= last else { return nil }
            return Extent(iova: first, length: last - first + 1, phys: extent.phys &+ (first - extent.iova), permissions: extent.permissions)
        }
    }

    /// Sorted extents joined where one continues the next (same offset and permissions).
    public static func merged(_ extents: [Extent]) -> [Extent] {
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

    private static func map(_ extent: Extent) -> ShadowHost.Call.Request {
        .map(iova: extent.iova, length: extent.length, phys: extent.phys, permissions: extent.permissions)
    }

    private static func intersection(_ a: ClosedRange<UInt64>, _ b: ClosedRange<UInt64>) -> ClosedRange<UInt64>? {
        let low = max(a.lowerBound, b.lowerBound), high = min(a.upperBound, b.upperBound)
        return low <= high ? low...high : nil
    }

    /// The parts of `range` no range of `cover` contains.
    private static func uncovered(_ range: ClosedRange<UInt64>, by cover: [ClosedRange<UInt64>]) -> [ClosedRange<UInt64>] {
        var result: [ClosedRange<UInt64>] = []
        var next = range.lowerBound
        for piece in cover.sorted(by: { $0.lowerBound < $1.lowerBound }) where piece.upperBound >= next && piece.lowerBound <= range.upperBound {
            if piece.lowerBound > next { result.append(next...(piece.lowerBound - 1)) }
            if piece.upperBound >= range.upperBound { return result }
            next = piece.upperBound + 1
        }
        result.append(next...range.upperBound)
        return result
    }

    /// Runs `requests` on `host` for `domain`, stopping at the first map the host has no room
    /// for (QEMU s390 rpcit: `if (!s390_pci_dma_avail) ... ZPCI_RPCIT_ST_INSUFF_RES`).
    public static func run(_ requests: [ShadowHost.Call.Request], on host: ShadowHost, domain: Int) -> ShadowResult {
        for request in requests {
            let failed: AddressSpaceError?
            switch request {
            case .map(let iova, let length, let phys, let permissions):
                if case .failure(let error) = host.map(domain: domain, iova: iova, length: length, phys: phys, permissions: permissions) { failed = error } else { failed = nil }
            case .unmap(let iova, let length):
                if case .failure(let error) = host.unmap(domain: domain, iova: iova, length: length) { failed = error } else { failed = nil }
            case .replace(let iova, let length, let extents):
                if case .failure(let error) = host.replace(domain: domain, iova: iova, length: length, with: extents) { failed = error } else { failed = nil }
            }
            if failed == .mappingLimit { return .insufficientResources }
        }
        return .done
    }
}
