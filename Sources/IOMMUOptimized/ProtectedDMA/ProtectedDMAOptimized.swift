import IOMMUSpec

/// Planted bugs of the protected-DMA layer (IOMMUMutants names and explains each).
package enum ProtectedDMABug: Sendable {
    case fromDeviceMapNotBounced, minAlignMaskIgnored, slotShared, syncForCPUWrongDirection, unmapFreesBeforeCopyBack, virtioRingPrivate
}

/// A protected guest's DMA layer shaped like Linux's: dma-direct with every streaming mapping
/// bounced through a swiotlb pool (slots with free-run counts per segment, a next-fit cursor,
/// min_align_mask kept by the slot offset and the slot choice), coherent memory from a page
/// allocator, shared before it is zeroed and private again before it is freed.
public final class ProtectedDMAOptimized: ProtectedDMASystem {
    public let configuration: ProtectedDMAConfiguration
    private let memory: GuestMemoryInterface
    package var plantedBug: ProtectedDMABug?

    private static let slot = ProtectedDMAConfiguration.slotSize, page = ProtectedDMAConfiguration.pageSize
    private static let invalid = UInt64.max
    /// Per slot, free slots from it to its segment's end (0: in use), as swiotlb's `list`.
    private var free: [Int]
    /// Per slot, the original address it bounces (`orig_addr`), and the mapping's bytes left
    /// from it (`alloc_size`).
    private var original: [UInt64]
    private var remaining: [UInt64]
    /// Where the next search starts (swiotlb's `area->index`).
    private var cursor = 0
    /// Per page of the coherent area, whether it is allocated.
    private var pageUsed: [Bool]

    public init(configuration: ProtectedDMAConfiguration, memory: GuestMemoryInterface) {
        self.configuration = configuration
        self.memory = memory
        let segment = configuration.segmentSlots
        free = (0..<configuration.poolSlots).map { segment - $0 % segment }
        original = Array(repeating: Self.invalid, count: configuration.poolSlots)
        remaining = Array(repeating: 0, count: configuration.poolSlots)
        pageUsed = Array(repeating: false, count: configuration.coherentPages)
        #if DEBUG
        checkInvariants()
        #endif
    }

    private var minAlignMask: UInt64 { plantedBug == .minAlignMaskIgnored ? 0 : configuration.minAlignMask }

    /// swiotlb_align_offset.
    private func alignOffset(_ orig: UInt64) -> UInt64 { orig & minAlignMask & (Self.slot - 1) }

    private func slotAddress(_ index: Int) -> UInt64 { ProtectedDMAConfiguration.poolBase + UInt64(index) * Self.slot }

    // MARK: streaming mappings

    public func map(_ address: UInt64, size: UInt64, direction: DMADirection) -> UInt64? {
        guard size > 0 else { return nil }
        let offset = alignOffset(address)
        guard let index = findSlots(address, allocSize: size + offset) else { return nil }
        let count = Int((size + offset + Self.slot - 1) / Self.slot)
        for i in 0..<count {
            original[index + i] = address &+ UInt64(i) * Self.slot
            remaining[index + i] = size &- UInt64(i) * Self.slot
        }
        let dma = slotAddress(index) + offset
        // Every direction: a device that writes part of a from-device buffer must leave the rest
        // as it was, not as the slot's last user left it (ddbd89deb7d3).
        if !(plantedBug == .fromDeviceMapNotBounced && direction == .fromDevice) { bounce(dma, size: size, toDevice: true) }
        #if DEBUG
        checkInvariants()
        #endif
        return dma
    }

    public func unmap(_ dma: UInt64, size: UInt64, direction: DMADirection) {
        guard let index = slotIndex(dma), original[index] != Self.invalid else { return }
        if plantedBug == .unmapFreesBeforeCopyBack {
            let (orig, left) = (original[index], remaining[index])
            release(index)
            if direction.syncsToCPU { memory.copy(to: orig, from: dma, count: Int(min(size, left))) }
            return
        }
        if direction.syncsToCPU { bounce(dma, size: size, toDevice: false) }
        release(index)
    }

    public func syncForDevice(_ dma: UInt64, size: UInt64, direction: DMADirection) {
        if direction.syncsToDevice { bounce(dma, size: size, toDevice: true) }
    }

    public func syncForCPU(_ dma: UInt64, size: UInt64, direction: DMADirection) {
        if direction.syncsToCPU { bounce(dma, size: size, toDevice: plantedBug == .syncForCPUWrongDirection) }
    }

    private func slotIndex(_ dma: UInt64) -> Int? {
        let base = ProtectedDMAConfiguration.poolBase
        guard dma >= base, dma - base < configuration.poolBytes else { return nil }
        return Int((dma - base) / Self.slot)
    }

    /// swiotlb_bounce: the original address of any byte of the mapping follows from its slot's
    /// `orig_addr` and the offset into the slot (which may be before the buffer's own offset, a
    /// negative distance: e8068f2d756d); a copy longer than the mapping's rest is cut short.
    private func bounce(_ dma: UInt64, size: UInt64, toDevice: Bool) {
        guard let index = slotIndex(dma), original[index] != Self.invalid else { return }
        let distance = Int64(dma % Self.slot) - Int64(alignOffset(original[index]))
        let orig = UInt64(bitPattern: Int64(bitPattern: original[index]) &+ distance)
        let left = UInt64(bitPattern: Int64(bitPattern: remaining[index]) &- distance)
        let count = Int(min(size, left))
        if toDevice {
            memory.copy(to: dma, from: orig, count: count)
        } else {
            memory.copy(to: orig, from: dma, count: count)
        }
    }

    /// swiotlb_search_pool_area over one area: the first run from the cursor whose first slot
    /// is aligned (page-aligned for a page or more without min_align_mask: 14cebf689a78) and
    /// keeps the original's min_align_mask bits above the slot offset, with enough free slots
    /// before its segment ends.
    private func findSlots(_ orig: UInt64, allocSize: UInt64) -> Int? {
        let count = Int((allocSize + Self.slot - 1) / Self.slot)
        guard count <= configuration.segmentSlots else { return nil }
        let mask = minAlignMask
        var alignMask = mask == 0 && allocSize >= Self.page ? Self.page - 1 : 0
        alignMask |= Self.slot - 1
        let highBits = mask & ~alignMask
        let slots = configuration.poolSlots
        for step in 0..<slots {
            let index = (cursor + step) % slots
            let address = slotAddress(index)
            guard address & alignMask == 0, address & highBits == orig & highBits, free[index] >= count else { continue }
            take(index, count: count)
            cursor = (index + count) % slots
            return index
        }
        return nil
    }

    private func take(_ index: Int, count: Int) {
        let segment = configuration.segmentSlots
        let marked = plantedBug == .slotShared && count > 1 ? count - 1 : count
        for i in index..<index + marked { free[i] = 0 }
        var run = 0, i = index - 1
        while i >= 0, i % segment != segment - 1, free[i] != 0 {
            run += 1
            free[i] = run
            i -= 1
        }
    }

    /// swiotlb_release_slots: the run's size comes from what map recorded, not from the
    /// caller; free runs merge within the segment.
    private func release(_ index: Int) {
        let segment = configuration.segmentSlots
        let count = Int((remaining[index] + alignOffset(original[index]) + Self.slot - 1) / Self.slot)
        let end = index + count
        var run = end % segment != 0 && end < configuration.poolSlots ? free[end] : 0
        for i in stride(from: end - 1, through: index, by: -1) {
            run += 1
            free[i] = run
            original[i] = Self.invalid
            remaining[i] = 0
        }
        var i = index - 1
        while i >= 0, i % segment != segment - 1, free[i] != 0 {
            run += 1
            free[i] = run
            i -= 1
        }
        #if DEBUG
        checkInvariants()
        #endif
    }

    // MARK: coherent memory

    public func allocCoherent(size: UInt64) -> CoherentBuffer? {
        guard let address = allocatePages(size) else { return nil }
        let pages = Int((size + Self.page - 1) / Self.page)
        // dma_direct_alloc: decrypted first, then zeroed (zeroing first would hand the host
        // whatever the pages held, where sharing keeps the contents).
        guard memory.share(address, pages: pages) else {
            // out_leak_pages: a page that may be half-converted is never reused.
            return nil
        }
        memory.fill(address, count: pages * Int(Self.page), value: 0)
        return CoherentBuffer(cpu: address, dma: address)
    }

    public func freeCoherent(_ buffer: CoherentBuffer, size: UInt64) {
        let pages = Int((size + Self.page - 1) / Self.page)
        // dma_direct_free: private again before the pages return; if that fails they leak.
        guard memory.unshare(buffer.cpu, pages: pages) else { return }
        let first = Int((buffer.cpu - ProtectedDMAConfiguration.coherentBase) / Self.page)
        for index in first..<min(first + pages, pageUsed.count) { pageUsed[index] = false }
    }

    public func setupVirtqueue(size: UInt64) -> CoherentBuffer? {
        switch configuration.virtio {
        case .accessPlatform: return allocCoherent(size: size)
        case .none: return nil
        case .noAccessPlatform:
            // virtio_features_ok refuses it. The planted bug is the old vring_use_dma_api: the
            // ring in ordinary memory, handed over by its guest-physical address.
            guard plantedBug == .virtioRingPrivate, let address = allocatePages(size) else { return nil }
            memory.fill(address, count: Int((size + Self.page - 1) / Self.page * Self.page), value: 0)
            return CoherentBuffer(cpu: address, dma: address)
        }
    }

    /// First fit over the coherent area's pages.
    private func allocatePages(_ size: UInt64) -> UInt64? {
        let pages = Int((size + Self.page - 1) / Self.page)
        guard pages > 0, pages <= pageUsed.count else { return nil }
        var first = 0
        while first + pages <= pageUsed.count {
            if let used = pageUsed[first..<first + pages].lastIndex(of: true) {
                first = used + 1
                continue
            }
            for index in first..<first + pages { pageUsed[index] = true }
            return ProtectedDMAConfiguration.coherentBase + UInt64(first) * Self.page
        }
        return nil
    }

    /// The pool's bookkeeping agrees with itself: every free slot's count is one more than the
    /// next slot's within its segment (the last of a segment counts 1), every used slot has an
    /// original address, every free one none. Nil when it holds.
    public func invariantViolation() -> String? {
        let segment = configuration.segmentSlots
        for index in 0..<configuration.poolSlots {
            let next = (index + 1) % segment == 0 ? 0 : free[index + 1]
            if free[index] != 0 && free[index] != next + 1 { return "slot \(index): free run \(free[index]), the next slot's \(next)" }
            if free[index] != 0 && original[index] != Self.invalid { return "slot \(index) is free and still bounces \(hex(original[index]))" }
            if free[index] == 0 && original[index] == Self.invalid { return "slot \(index) is in use and bounces nothing" }
        }
        return nil
    }

    #if DEBUG
    /// A planted bug may break the bookkeeping on purpose; the checker must catch it, not this.
    private func checkInvariants() {
        if plantedBug == nil { assertInvariant(invariantViolation(), of: "ProtectedDMAOptimized") }
    }
    #endif
}
