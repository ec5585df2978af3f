import IOMMUSpec

/// The reference shadow layer: the simplest correct resync on every host. On an invalidation
/// of range R it reads what the host maps there and what the guest table asks for, and follows
/// `ShadowResync.plan`: only pages whose translation differs are touched, by one atomic
/// replace per run where the policy asks for it, else unmapped and mapped again (whole host
/// mappings where the host cannot split one). Then it tells UNMAP-only consumers that R
/// changed. `docs/SEMANTICS.md` states the rules with their sources (QEMU vtd_page_walk_one /
/// vtd_address_space_sync; VT-d invalidation and caching mode; seeds 000 and 004).
public final class ShadowModel: ShadowSystem {
    let guest: GuestIOMMU
    let host: ShadowHost

    public init(guest: GuestIOMMU, host: ShadowHost) {
        self.guest = guest
        self.host = host
    }

    public func invalidate(_ invalidation: Invalidation) -> ShadowResult {
        let configuration = guest.configuration
        var result = ShadowResult.done
        for domain in 0..<configuration.domains {
            guard let range = invalidation.range(of: domain, addressWidth: configuration.addressWidth) else { continue }
            if result == .done {
                let plan = ShadowResync.plan(range: range, current: host.domains[domain].mappings(in: range), wanted: Self.targetLeaves(guest, domain: domain, range),
                                             host: configuration.host, atomic: configuration.policy.window == .none)
                result = ShadowResync.run(plan, on: host, domain: domain)
            }
            host.notifyUnmap(domain: domain, iova: range.lowerBound, length: range.upperBound - range.lowerBound + 1)
        }
        return result
    }

    /// What the host must map on `range` of `domain`: each present leaf of the guest table
    /// (none while the domain's context entry is not present) whose guest-physical range is
    /// guest RAM, translated to host-physical through the memory map, with the leaf's
    /// permissions, clipped to `range`. Contiguous pieces are merged.
    public static func target(_ guest: GuestIOMMU, domain: Int, _ range: ClosedRange<UInt64>) -> [Extent] {
        normalized(targetLeaves(guest, domain: domain, range))
    }

    /// The same, one extent per guest leaf (clipped to `range` unless `clip` is false).
    public static func targetLeaves(_ guest: GuestIOMMU, domain: Int, _ range: ClosedRange<UInt64>, clip: Bool = true) -> [Extent] {
        var result: [Extent] = []
        let memory = guest.configuration.memory
        for leaf in guest.leaves(domain: domain, first: range.lowerBound, last: range.upperBound) {
            // A leaf pointing outside guest RAM (MMIO, a hole) has nothing to shadow.
            guard let base = memory.hostPhysical(leaf.gpa, size: leaf.size) else { continue }
            let first = clip ? max(leaf.iova, range.lowerBound) : leaf.iova, last = clip ? min(leaf.last, range.upperBound) : leaf.last
            result.append(Extent(iova: first, length: last - first + 1, phys: base + (first - leaf.iova), permissions: leaf.permissions))
        }
        return result
    }

    /// Extents sorted and merged where one continues the next (same translation offset and
    /// permissions): two hosts that translate every page alike have equal normalized extents.
    public static func normalized(_ extents: [Extent]) -> [Extent] {
        var result: [Extent] = []
        result.reserveCapacity(extents.count)
        // Callers mostly pass sorted lists; sorting one costs more than the merge.
        let sorted = zip(extents, extents.dropFirst()).allSatisfy { $0.iova <= $1.iova } ? extents : extents.sorted { $0.iova < $1.iova }
        for extent in sorted {
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
        ShadowResync.clipped(extents, to: range)
    }
}
