/// The Shadow surface: a vIOMMU keeps the host IOMMU in step with a guest's I/O page table.
///
/// The guest writes its own page table (`GuestIOMMU`) without telling anyone, then issues
/// invalidations. The implementation under test is the layer between: on each invalidation it
/// reads the guest table for the invalidated range and programs the checker-owned `ShadowHost`
/// with map, unmap and (atomic) replace calls. The checker sees every intermediate host state
/// (QEMU hw/i386/intel_iommu.c vtd_sync_shadow_page_table; seed 004).
public protocol ShadowSystem: AnyObject {
    /// The guest issued `invalidation`; bring the host in step for its range.
    func invalidate(_ invalidation: Invalidation)
}

/// A guest invalidation request (VT-d IOTLB invalidation granularities, and the context-cache
/// invalidation that follows a context-entry change).
public enum Invalidation: Hashable, Sendable, CustomStringConvertible {
    /// Page-selective: `2^order` pages from `iova` (aligned to that size). VT-d PSI with
    /// address mask `order`; the range may span page-directory (2 MiB) boundaries.
    case pageSelective(domain: Int, iova: UInt64, order: Int)
    /// Domain-selective: the domain's whole address space.
    case domain(Int)
    /// Global: every domain.
    case global
    /// Context-cache invalidation for a domain's device (after its context entry changed).
    case context(Int)

    /// The invalidated range of `domain`, if this invalidation covers that domain.
    public func range(of domain: Int, addressWidth: Int) -> ClosedRange<UInt64>? {
        let top: UInt64 = addressWidth >= 64 ? .max : (1 << UInt64(addressWidth)) - 1
        switch self {
        case .pageSelective(let target, let iova, let order):
            // Clipped to the IOVA space; an address beyond it invalidates nothing.
            guard target == domain, iova <= top, (0...52).contains(order) else { return nil }
            let (last, wraps) = iova.addingReportingOverflow((UInt64(4096) << UInt64(order)) - 1)
            return iova...(wraps ? top : min(top, last))
        case .domain(let target), .context(let target):
            return target == domain ? 0...top : nil
        case .global:
            return 0...top
        }
    }

    public var description: String {
        switch self {
        case .pageSelective(let domain, let iova, let order): "psi(D\(domain), \(hex(iova)), order \(order))"
        case .domain(let domain): "dsi(D\(domain))"
        case .global: "global"
        case .context(let domain): "context(D\(domain))"
        }
    }
}

/// A present leaf of the guest's I/O page table: `size` bytes (4 KiB, 2 MiB or 1 GiB) at an
/// IOVA aligned to its size, pointing at guest-physical `gpa`.
public struct GuestLeaf: Hashable, Sendable, CustomStringConvertible {
    public var iova: UInt64
    public var size: UInt64
    public var gpa: UInt64
    public var permissions: Permissions

    public init(iova: UInt64, size: UInt64, gpa: UInt64, permissions: Permissions) {
        self.iova = iova
        self.size = size
        self.gpa = gpa
        self.permissions = permissions
    }

    public var last: UInt64 { iova + (size - 1) }

    public var description: String {
        let unit = size == 1 << 30 ? "1G" : size == 1 << 21 ? "2M" : "4K"
        return "\(hex(iova))/\(unit)->gpa \(hex(gpa)) \(permissions)"
    }
}

/// Where guest-physical memory lives on the host. Guest RAM is two regions, each at its own
/// host offset; anything else (device memory, holes) is not RAM and is never shadowed.
public struct GuestMemoryMap: Hashable, Sendable {
    public struct Region: Hashable, Sendable {
        public var gpa: ClosedRange<UInt64>
        public var hostBase: UInt64
    }

    public var regions: [Region]

    /// Guest RAM at 0 ... 2 GiB and 4 GiB ... 6 GiB (a 32-bit MMIO hole between, as on x86).
    public static let standard = GuestMemoryMap(regions: [
        Region(gpa: 0...(1 << 31) - 1, hostBase: 0x10_0000_0000),
        Region(gpa: (1 << 32)...(1 << 32) + (1 << 31) - 1, hostBase: 0x20_0000_0000),
    ])

    /// The host-physical address of guest-physical `gpa`, or nil outside guest RAM.
    public func hostPhysical(_ gpa: UInt64) -> UInt64? {
        guard let region = regions.first(where: { $0.gpa.contains(gpa) }) else { return nil }
        return region.hostBase + (gpa - region.gpa.lowerBound)
    }
}

/// The shape of a case: how many domains, the IOVA width, whether changed pages may blink.
public struct ShadowConfiguration: Hashable, Sendable, CustomStringConvertible {
    public var domains: Int
    public var addressWidth: Int
    public var policy: ShadowPolicy
    public var memory: GuestMemoryMap

    public init(domains: Int = 2, addressWidth: Int = 39, policy: ShadowPolicy = .windowForChangedPages, memory: GuestMemoryMap = .standard) {
        self.domains = domains
        self.addressWidth = addressWidth
        self.policy = policy
        self.memory = memory
    }

    public var description: String { "\(domains) domain(s), \(addressWidth)-bit IOVA, \(policy.rawValue)" }
}

/// How strict the no-DMA-window rule is for pages whose translation changes.
public enum ShadowPolicy: String, Hashable, Sendable, CaseIterable {
    /// A changed page may be absent between its own unmap and map (QEMU accepts this:
    /// vtd_page_walk_one unmaps then maps a modified entry).
    case windowForChangedPages = "window-for-changed-pages"
    /// Changed pages too must always translate, to their old or new address: the layer must
    /// use the host's atomic replace.
    case atomicReplace = "atomic-replace"
}
