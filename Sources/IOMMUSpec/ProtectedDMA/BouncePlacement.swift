/// Where swiotlb may put a bounce buffer (linux kernel/dma/swiotlb.c): the rules the checker
/// holds every successful map to, and by which it decides whether a failed map found the pool
/// really full. A placement is a run of slots inside one segment, free of every live bounce
/// buffer, whose address keeps the original's min_align_mask bits.
public struct BouncePlacement: Sendable {
    public let configuration: ProtectedDMAConfiguration

    public init(_ configuration: ProtectedDMAConfiguration) { self.configuration = configuration }

    private static let slot = ProtectedDMAConfiguration.slotSize

    /// swiotlb_align_offset: the bytes before the buffer in its first slot,
    /// `orig & min_align_mask & (IO_TLB_SIZE - 1)`.
    public func offset(_ orig: UInt64) -> UInt64 { orig & configuration.minAlignMask & (Self.slot - 1) }

    /// nr_slots(offset + size).
    public func slotCount(orig: UInt64, size: UInt64) -> Int { Int((offset(orig) + size + Self.slot - 1) / Self.slot) }

    /// The slots a bounce buffer at `dma` takes (nil if `dma` is not in the pool).
    public func slots(dma: UInt64, orig: UInt64, size: UInt64) -> Range<Int>? {
        let base = ProtectedDMAConfiguration.poolBase
        guard dma >= base, dma - base < configuration.poolBytes else { return nil }
        let first = Int((dma - base) / Self.slot)
        return first..<first + slotCount(orig: orig, size: size)
    }

    /// Whether `slots`, starting at a slot whose address keeps `orig`'s alignment, may hold the
    /// buffer: inside the pool and one segment ("a bounce buffer must be allocated from a single
    /// slot set", Documentation/core-api/swiotlb.rst), aligned as swiotlb_search_pool_area aligns.
    private func alignmentProblem(first: Int, count: Int, orig: UInt64, size: UInt64) -> String? {
        let c = configuration
        guard first + count <= c.poolSlots else { return "it runs past the end of the \(c.poolSlots)-slot pool" }
        guard first / c.segmentSlots == (first + count - 1) / c.segmentSlots else {
            return "slots \(first)..<\(first + count) cross a segment edge (segments of \(c.segmentSlots) slots)"
        }
        let address = ProtectedDMAConfiguration.poolBase + UInt64(first) * Self.slot + offset(orig)
        if (address ^ orig) & c.minAlignMask != 0 {
            return "it does not keep the buffer's min_align_mask bits: (\(hex(address)) ^ \(hex(orig))) & \(hex(c.minAlignMask)) != 0"
        }
        // 14cebf689a78 "swiotlb: Reinstate page-alignment for mappings >= PAGE_SIZE".
        if c.minAlignMask == 0 && offset(orig) + size >= ProtectedDMAConfiguration.pageSize && address % ProtectedDMAConfiguration.pageSize != 0 {
            return "a mapping of a page or more without min_align_mask is page-aligned, and \(hex(address)) is not"
        }
        return nil
    }

    /// What is wrong with a bounce buffer at `dma` for `size` bytes of `orig`, beside the live
    /// ones (their slots); nil if swiotlb could have put it there.
    public func problem(dma: UInt64, orig: UInt64, size: UInt64, live: [Range<Int>]) -> String? {
        guard let slots = slots(dma: dma, orig: orig, size: size) else {
            return "\(hex(dma)) is not in the swiotlb pool (\(hex(ProtectedDMAConfiguration.poolBase))+\(configuration.poolBytes)): a protected guest bounces every streaming mapping"
        }
        guard dma % Self.slot == offset(orig) else {
            return "\(hex(dma)) is \(dma % Self.slot) bytes into its slot, where swiotlb keeps orig & min_align_mask & 2047 = \(offset(orig))"
        }
        if let problem = alignmentProblem(first: slots.lowerBound, count: slots.count, orig: orig, size: size) { return problem }
        if let other = live.first(where: { $0.overlaps(slots) }) {
            return "slots \(slots.lowerBound)..<\(slots.upperBound) overlap a live bounce buffer's \(other.lowerBound)..<\(other.upperBound) (\"A slot is never shared by multiple bounce buffers\")"
        }
        return nil
    }

    /// Whether swiotlb must find room for the buffer among the slots the live buffers leave
    /// free: a map may fail (the pool is full) only when it need not.
    ///
    /// Only a search that steps one slot at a time is sure to see every free run. Where the
    /// buffer needs an alignment above the slot (a page or more without min_align_mask,
    /// min_align_mask bits above 2047), swiotlb_search_pool_area steps `stride` slots and counts
    /// a step that wraps past the pool's end as `stride` slots checked, so from some cursors it
    /// stops before it has seen a free aligned run (`index = wrap_area_index(pool, index +
    /// stride); slots_checked += stride;`). Linux then fails the map, and so may the layer.
    public func mustFit(orig: UInt64, size: UInt64, live: [Range<Int>]) -> Bool {
        let c = configuration, count = slotCount(orig: orig, size: size)
        // swiotlb_find_slots: `if (alloc_size > IO_TLB_SEGSIZE * IO_TLB_SIZE) return -1;`
        guard count <= c.segmentSlots, count > 0 else { return false }
        let pageAligned = c.minAlignMask == 0 && offset(orig) + size >= ProtectedDMAConfiguration.pageSize
        guard !pageAligned, c.minAlignMask <= Self.slot - 1 else { return false }
        var used = [Bool](repeating: false, count: c.poolSlots)
        for range in live { for index in range where index < c.poolSlots { used[index] = true } }
        var first = 0
        while first + count <= c.poolSlots {
            if alignmentProblem(first: first, count: count, orig: orig, size: size) == nil, !used[first..<first + count].contains(true) { return true }
            first += 1
        }
        return false
    }
}

/// Where coherent memory may be: whole pages of the coherent area, apart from every live
/// coherent buffer, at a DMA address equal to its guest-physical address (dma-direct; no
/// IOMMU translates in between). The page allocator hands out naturally aligned blocks of
/// 2^order pages, so an allocation may fail only when no such block is free.
public struct CoherentPlacement: Sendable {
    public let configuration: ProtectedDMAConfiguration

    public init(_ configuration: ProtectedDMAConfiguration) { self.configuration = configuration }

    private static let page = ProtectedDMAConfiguration.pageSize

    public static func pages(_ size: Int) -> Int { (size + Int(page) - 1) / Int(page) }

    /// The pages a buffer at `cpu` takes, as indices into the coherent area (nil outside it).
    public func pages(_ buffer: CoherentBuffer, size: Int) -> Range<Int>? {
        let base = ProtectedDMAConfiguration.coherentBase
        guard buffer.cpu >= base, (buffer.cpu - base) % Self.page == 0 else { return nil }
        let first = Int(min((buffer.cpu - base) / Self.page, 1 << 30))
        let range = first..<first + Self.pages(size)
        return range.upperBound <= configuration.coherentPages ? range : nil
    }

    public func problem(_ buffer: CoherentBuffer, size: Int, live: [Range<Int>]) -> String? {
        guard let pages = pages(buffer, size: size) else {
            return "\(hex(buffer.cpu)) is not whole pages of the coherent area (\(hex(ProtectedDMAConfiguration.coherentBase))+\(configuration.coherentBytes))"
        }
        guard buffer.dma == buffer.cpu else { return "its DMA address \(hex(buffer.dma)) is not its guest-physical address \(hex(buffer.cpu))" }
        if let other = live.first(where: { $0.overlaps(pages) }) {
            return "pages \(pages.lowerBound)..<\(pages.upperBound) overlap a live coherent buffer's \(other.lowerBound)..<\(other.upperBound)"
        }
        return nil
    }

    /// The naturally aligned block of 2^order pages a buffer of `pages` pages at `range` takes
    /// from a buddy allocator (`__dma_direct_alloc_pages`: `alloc_pages_node(node, gfp,
    /// get_order(size))`; only PAGE_ALIGN(size) of it is shared).
    public static func block(_ range: Range<Int>) -> Range<Int> {
        var size = 1
        while size < range.count { size *= 2 }
        let first = range.lowerBound / size * size
        return first..<max(first + size, range.upperBound)
    }

    /// Whether a free, naturally aligned block of 2^order pages holds `size` bytes, counting each
    /// live buffer as the whole block a buddy allocator took for it: an allocation may fail only
    /// when none is free.
    public func fits(size: Int, live: [Range<Int>]) -> Bool {
        let live = live.map(Self.block)
        var block = 1
        while block < Self.pages(size) { block *= 2 }
        var first = 0
        while first + block <= configuration.coherentPages {
            if !live.contains(where: { $0.overlaps(first..<first + block) }) { return true }
            first += block
        }
        return false
    }
}
