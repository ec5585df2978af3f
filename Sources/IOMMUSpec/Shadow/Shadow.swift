/// The Shadow surface: a vIOMMU keeps the host IOMMU in step with a guest's I/O page table.
///
/// The guest writes its own page table (`GuestIOMMU`) without telling anyone, then issues
/// invalidations. The implementation under test is the layer between: on each invalidation it
/// reads the guest table for the invalidated range and programs the checker-owned `ShadowHost`
/// with map, unmap and (atomic) replace calls. The checker sees every intermediate host state
/// (QEMU hw/i386/intel_iommu.c vtd_sync_shadow_page_table; seed 004).
public protocol ShadowSystem: AnyObject {
    /// The guest issued `invalidation`; bring the host in step for its range.
    func invalidate(_ invalidation: Invalidation) -> ShadowResult
}

/// What a resync tells the guest.
public enum ShadowResult: String, Hashable, Sendable {
    /// The range is in step.
    case done
    /// The host ran out of mappings part-way (a map failed with mapping-limit): the range is
    /// partly refreshed, and the guest must retry. QEMU hw/s390x/s390-pci-inst.c rpcit_service_call
    /// answers ZPCI_RPCIT_ST_INSUFF_RES when `dma_avail` reaches 0 (seed 000).
    case insufficientResources = "insufficient-resources"
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

    /// The host-physical address of `size` bytes at guest-physical `gpa`, or nil unless they
    /// are guest RAM and contiguous on the host.
    public func hostPhysical(_ gpa: UInt64, size: UInt64) -> UInt64? {
        let (last, wraps) = gpa.addingReportingOverflow(size &- 1)
        guard size > 0, !wraps, let base = hostPhysical(gpa), hostPhysical(last) == base &+ (size - 1) else { return nil }
        return base
    }

    /// The host-physical address of guest-physical `gpa`, or nil outside guest RAM.
    public func hostPhysical(_ gpa: UInt64) -> UInt64? {
        for region in regions where region.gpa.contains(gpa) { return region.hostBase + (gpa - region.gpa.lowerBound) }
        return nil
    }
}

/// The shape of a case: how many domains, the IOVA width, the layer's contract and the host's.
public struct ShadowConfiguration: Hashable, Sendable, CustomStringConvertible {
    public var domains: Int
    public var addressWidth: Int
    public var policy: ShadowPolicy
    /// What the host IOMMU interface the layer programs accepts.
    public var host: ShadowHostPolicy
    /// Most mappings the host holds at once (VFIO `dma_entry_limit`); nil is no limit.
    public var mappingLimit: Int?
    public var memory: GuestMemoryMap

    public init(domains: Int = 2, addressWidth: Int = 39, policy: ShadowPolicy = .windowForChangedPages, host: ShadowHostPolicy = .pageTable,
                mappingLimit: Int? = nil, memory: GuestMemoryMap = .standard) {
        self.domains = domains
        self.addressWidth = addressWidth
        self.policy = policy
        self.host = host
        self.mappingLimit = mappingLimit
        self.memory = memory
    }

    /// What is wrong with this configuration, if anything.
    public func validate() throws(ConfigurationProblem) {
        guard (1...8).contains(domains) else { throw ConfigurationProblem("\(domains) domains: expected 1 to 8") }
        guard (21...63).contains(addressWidth) else { throw ConfigurationProblem("a \(addressWidth)-bit IOVA space: expected 21 to 63 bits") }
        if policy.window == .none && !host.hasReplace {
            throw ConfigurationProblem("policy \(policy) needs an atomic replace, which a \(host.rawValue) host does not have (only page-table)")
        }
        if let mappingLimit, mappingLimit < 1 { throw ConfigurationProblem("a mapping limit of \(mappingLimit): at least 1") }
        if mappingLimit != nil && !host.hasMappingLimit { throw ConfigurationProblem("a \(host.rawValue) host has no mapping limit") }
    }

    public var description: String {
        "\(domains) domain(s), \(addressWidth)-bit IOVA, \(policy), \(host.rawValue) host\(mappingLimit.map { " (at most \($0) mappings)" } ?? "")"
    }
}

/// The contract a shadow layer keeps, as rule switches (docs/SEMANTICS.md, "Shadow").
public struct ShadowPolicy: Hashable, Sendable, CustomStringConvertible {
    /// Which pages may be absent from the host for a moment during a resync.
    public var window: Window
    /// Where a resync may make host calls.
    public var locality: Locality

    public init(window: Window, locality: Locality) {
        self.window = window
        self.locality = locality
    }

    public enum Window: String, Hashable, Sendable, CaseIterable {
        /// None: a page whose translation changes translates to its old or new address at every
        /// host step (the layer uses the host's atomic replace).
        case none
        /// A page whose translation changes may be absent between its own unmap and map.
        case changed
        /// Also a page whose host mapping is not its guest leaf as it now is (QEMU
        /// vtd_page_walk_one compares the whole DMAMap, leaf size included, and unmaps then maps
        /// on any difference; seed 004 v3 keeps one IOVA-tree entry per leaf).
        case reshaped
    }

    public enum Locality: String, Hashable, Sendable, CaseIterable {
        /// Host calls stay inside the invalidated range.
        case range
        /// Host calls stay inside the invalidated range widened to the guest leaves it touches
        /// (QEMU reports each leaf whole: `event.entry.iova = iova & subpage_mask`; VT-d may
        /// invalidate more than asked).
        case leaves
    }

    /// Pages that change translation must never be absent.
    public static let atomicReplace = ShadowPolicy(window: .none, locality: .range)
    /// Pages that change translation may be absent between their unmap and map; nothing else.
    public static let windowForChangedPages = ShadowPolicy(window: .changed, locality: .range)
    /// QEMU's intel-iommu since seed 004: pages whose leaf changes in any way may blink, and
    /// calls may cover the whole leaves the range touches.
    public static let qemu = ShadowPolicy(window: .reshaped, locality: .leaves)

    public var description: String { presetName }
}

extension ShadowPolicy: SwitchedPolicy {
    public static let presets: [(name: String, policy: ShadowPolicy)] = [
        ("window-for-changed-pages", .windowForChangedPages),
        ("atomic-replace", .atomicReplace),
        ("qemu", .qemu),
    ]

    public static let switches: [PolicySwitch<ShadowPolicy>] = [
        .choice("window", \.window) {
            switch $0 {
            case .none: "a page whose translation changes translates to its old or its new address at every host step (atomic replace)"
            case .changed: "a page whose translation changes may be absent between its own unmap and map; a page whose translation stays translates at every host step"
            case .reshaped: "a page whose translation changes, or whose host mapping is not its guest leaf as it now is (size, place, translation, permissions), may be absent for a moment; a page mapped exactly as its leaf translates at every host step"
            }
        },
        .choice("locality", \.locality) {
            switch $0 {
            case .range: "host calls act only inside the invalidated range (on a host that cannot split a mapping, inside it widened to the host mappings it touches)"
            case .leaves: "host calls act only inside the invalidated range widened to the guest leaves and host mappings it touches"
            }
        },
    ]
}

/// The host IOMMU interface a shadow layer programs, named for the real one it behaves like.
public enum ShadowHostPolicy: String, Hashable, Sendable, CaseIterable {
    /// A raw page table: any part of a mapping may be unmapped; atomic replace exists.
    case pageTable = "page-table"
    /// The iommu API on VT-d (intel_iommu_unmap): "Cope with horrid API which requires us to
    /// unmap more than the size argument if it happens to be a large-page mapping": an unmap
    /// removes every page-table leaf it touches, whole. Maps become leaves of 4 KiB, 2 MiB or
    /// 1 GiB.
    case vtd = "vt-d"
    /// A VFIO type1 v2 container (vfio_dma_do_unmap): an unmap that starts or ends inside a
    /// mapping fails with EINVAL and removes nothing; at most `dma_entry_limit` mappings.
    case vfioType1 = "vfio-type1"
    /// An iommufd IOAS (iopt_unmap_iova_range): an unmap removes covered mappings, lowest
    /// first, and fails with ENOENT at the first it covers only in part.
    case iommufd

    /// Only a raw page table can unmap part of a mapping.
    public var canSplit: Bool { self == .pageTable }
    /// Only the checker's page table offers an atomic replace; VFIO "only has
    /// VFIO_IOMMU_[UN]MAP_DMA but no interface to modify a mapping" (vtd_page_walk_one).
    public var hasReplace: Bool { self == .pageTable }
    /// VFIO's `dma_entry_limit` (ENOSPC; QEMU s390 honours it as `dma_avail`).
    public var hasMappingLimit: Bool { self == .vfioType1 }

    /// How the host stores a map: VT-d as page-table leaves, each the largest of 4 KiB, 2 MiB
    /// and 1 GiB that IOVA, phys and the length left allow (iommu_pgsize); the others as one
    /// mapping.
    public func stored(_ extent: Extent) -> [Extent] {
        guard self == .vtd, (extent.iova | extent.length | extent.phys) & 0xFFF == 0 else { return [extent] }
        var result: [Extent] = []
        var done: UInt64 = 0
        while done < extent.length {
            let at = extent.iova &+ done, to = extent.phys &+ done, left = extent.length - done
            let sizes: [UInt64] = [1 << 30, 1 << 21]
            let size: UInt64 = sizes.first(where: { (at | to) & ($0 - 1) == 0 && left >= $0 }) ?? 4096
            result.append(Extent(iova: at, length: size, phys: to, permissions: extent.permissions))
            done += size
        }
        return result
    }

    /// The address-space contract each host domain keeps.
    public var addressSpacePolicy: AddressSpacePolicy {
        switch self {
        case .pageTable: .pageTable
        case .vtd: .pageTable.with { $0.partial = .removeOverlapping }
        case .vfioType1: .vfioType1
        case .iommufd: .iommufd
        }
    }

    public var rule: String {
        switch self {
        case .pageTable: "page-table: an unmap removes exactly what it covers; replace swaps a range atomically"
        case .vtd: "vt-d: a map is stored as page-table leaves (the largest of 4 KiB, 2 MiB and 1 GiB that IOVA and phys allow); an unmap removes every leaf it touches, whole; no replace"
        case .vfioType1: "vfio-type1: an unmap that starts or ends inside a mapping fails (bisects-mapping) and removes nothing; a map fails with mapping-limit at the configured limit; no replace"
        case .iommufd: "iommufd: an unmap removes the mappings it covers, lowest first, and fails (partial-unmap) at the first it covers only in part, keeping what it removed; no replace"
        }
    }
}

extension ShadowConfiguration: ValidatedConfiguration {}
