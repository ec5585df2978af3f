/// The guest's I/O page tables, one per domain, owned by the checker. The guest writes them
/// directly; the implementation under test reads them (as QEMU walks guest memory) when an
/// invalidation tells it to.
public final class GuestIOMMU {
    public let configuration: ShadowConfiguration
    /// Present leaves of each domain, sorted by IOVA, pairwise disjoint.
    public private(set) var tables: [[GuestLeaf]]
    /// Whether each domain's device has a present context entry; without one the domain
    /// translates nothing.
    public private(set) var contextPresent: [Bool]
    /// Counts the guest's writes, so a copy elsewhere (a plug-in worker's) knows when it is stale.
    public private(set) var version = 0

    public init(configuration: ShadowConfiguration) {
        self.configuration = configuration
        tables = Array(repeating: [], count: configuration.domains)
        contextPresent = Array(repeating: true, count: configuration.domains)
    }

    /// The present leaves of `domain` that overlap `first ... last`, in IOVA order; none while
    /// the domain's context entry is not present.
    public func leaves(domain: Int, first: UInt64, last: UInt64) -> ArraySlice<GuestLeaf> {
        guard tables.indices.contains(domain), contextPresent[domain] else { return [] }
        return tables[domain][overlapping(domain, first, last)]
    }

    /// Positions of the leaves of `domain` overlapping `first ... last` (binary search: the
    /// leaves are sorted and disjoint).
    private func overlapping(_ domain: Int, _ first: UInt64, _ last: UInt64) -> Range<Int> {
        let table = tables[domain]
        var low = 0, high = table.count
        while low < high {
            let middle = (low + high) / 2
            if table[middle].last < first { low = middle + 1 } else { high = middle }
        }
        var end = low
        while end < table.count && table[end].iova <= last { end += 1 }
        return low..<end
    }

    // MARK: Guest writes (no notification)

    /// Writes a leaf. Smaller leaves it covers are replaced (superpage promotion); a larger leaf
    /// that contains it is first demoted to leaves of the next size with the same translation,
    /// as a guest does when it replaces a superpage entry with a table.
    public func write(domain: Int, _ leaf: GuestLeaf) {
        guard tables.indices.contains(domain) else { return }
        version += 1
        demote(domain: domain, around: leaf.iova, to: leaf.size)
        // After the demotion every leaf overlapping the new one lies inside it.
        tables[domain].replaceSubrange(overlapping(domain, leaf.iova, leaf.last), with: CollectionOfOne(leaf))
    }

    /// Clears the `size`-aligned region at `iova` (every leaf inside it becomes not present;
    /// a larger leaf containing it is demoted first).
    public func clear(domain: Int, iova: UInt64, size: UInt64) {
        guard tables.indices.contains(domain) else { return }
        version += 1
        demote(domain: domain, around: iova, to: size)
        tables[domain].removeSubrange(overlapping(domain, iova, iova + (size - 1)))
    }

    /// Replaces every leaf larger than `size` that contains `iova` by leaves one size smaller
    /// with the same translation, down to `size`. No translation changes.
    public func demote(domain: Int, around iova: UInt64, to size: UInt64) {
        guard tables.indices.contains(domain) else { return }
        version += 1
        while let index = overlapping(domain, iova, iova).first, tables[domain][index].size > size {
            let big = tables[domain][index]
            let smaller = big.size >> 9
            let pieces = (0..<UInt64(512)).lazy.map { GuestLeaf(iova: big.iova + $0 * smaller, size: smaller, gpa: big.gpa + $0 * smaller, permissions: big.permissions) }
            tables[domain].replaceSubrange(index...index, with: pieces)
        }
    }

    public func setContextPresent(domain: Int, _ present: Bool) {
        guard contextPresent.indices.contains(domain) else { return }
        version += 1
        contextPresent[domain] = present
    }

    /// Replaces every table and context entry (a copy catching up with the original); the
    /// tables must hold as many domains as the configuration, each sorted and disjoint.
    public func load(tables: [[GuestLeaf]], contextPresent: [Bool]) {
        guard tables.count == self.tables.count, contextPresent.count == self.contextPresent.count else { return }
        self.tables = tables
        self.contextPresent = contextPresent
        version += 1
    }
}
