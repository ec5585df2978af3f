import IOMMUSpec

/// The reference shadow layer, and the rules it follows: the simplest correct resync. On an
/// invalidation of range R it computes what the guest table asks for on R and installs it with
/// one atomic replace, then tells UNMAP-only consumers that R changed. `docs/SEMANTICS.md`
/// states the rules with their sources (QEMU vtd_page_walk_one / vtd_address_space_sync; VT-d
/// invalidation and caching mode; seed 004).
public final class ShadowModel: ShadowSystem {
    let guest: GuestIOMMU
    let host: ShadowHost

    public init(guest: GuestIOMMU, host: ShadowHost) {
        self.guest = guest
        self.host = host
    }

    public func invalidate(_ invalidation: Invalidation) {
        for domain in 0..<guest.configuration.domains {
            guard let range = invalidation.range(of: domain, addressWidth: guest.configuration.addressWidth) else { continue }
            let length = range.upperBound - range.lowerBound + 1
            host.replace(domain: domain, iova: range.lowerBound, length: length, with: Self.target(guest, domain: domain, range))
            host.notifyUnmap(domain: domain, iova: range.lowerBound, length: length)
        }
    }

    /// What the host must map on `range` of `domain`: each present leaf of the guest table
    /// (none while the domain's context entry is not present) whose guest-physical range is
    /// guest RAM, translated to host-physical through the memory map, with the leaf's
    /// permissions, clipped to `range`. Contiguous pieces are merged.
    public static func target(_ guest: GuestIOMMU, domain: Int, _ range: ClosedRange<UInt64>) -> [Extent] {
        var result: [Extent] = []
        for leaf in guest.leaves(domain: domain, first: range.lowerBound, last: range.upperBound) {
            // A leaf pointing outside guest RAM (MMIO, a hole) has nothing to shadow.
            guard let base = guest.configuration.memory.hostPhysical(leaf.gpa),
                  guest.configuration.memory.hostPhysical(leaf.gpa + (leaf.size - 1)) == base + (leaf.size - 1) else { continue }
            let first = max(leaf.iova, range.lowerBound), last = min(leaf.last, range.upperBound)
            result.append(Extent(iova: first, length: last - first + 1, phys: base + (first - leaf.iova), permissions: leaf.permissions))
        }
        return normalized(result)
    }

    /// Extents sorted and merged where one continues the next (same translation offset and
    /// permissions): two hosts that translate every page alike have equal normalized extents.
    public static func normalized(_ extents: [Extent]) -> [Extent] {
        var result: [Extent] = []
        for extent in extents.sorted(by: { $0.iova < $1.iova }) {
            if let previous = result.last, previous.last &+ 1 == extent.iova, previous.phys &+ previous.length == extent.phys,
               previous.permissions == extent.permissions {
                result[result.count - 1].length += extent.length
            } else {
                result.append(extent)
            }
        }
        return result
    }

    /// `extents` cut to `range`.
    public static func clipped(_ extents: [Extent], to range: ClosedRange<UInt64>) -> [Extent] {
        extents.compactMap { extent in
            let first = max(extent.iova, range.lowerBound), last = min(extent.last, range.upperBound)
            guard first <= last else { return nil }
            return Extent(iova: first, length: last - first + 1, phys: extent.phys + (first - extent.iova), permissions: extent.permissions)
        }
    }
}
