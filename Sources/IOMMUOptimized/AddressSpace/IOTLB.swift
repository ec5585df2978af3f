/// A direct-mapped IOTLB of 4 KiB translations: 64 slots indexed by the low bits of the page
/// number. Only successful walks are cached (no negative entries), so a map never needs an
/// invalidation; an unmap must invalidate every page it removes.
struct IOTLB {
    static let slots = 64
    /// `page + 1` of the cached translation, 0 when the slot is empty.
    private var tags = [UInt64](repeating: 0, count: slots)
    /// Physical page base | permission bits (1 read, 2 write).
    private var values = [UInt64](repeating: 0, count: slots)

    @inline(__always)
    func lookup(page: UInt64) -> UInt64? {
        let slot = Int(page & UInt64(Self.slots - 1))
        return tags[slot] == page &+ 1 ? values[slot] : nil
    }

    @inline(__always)
    mutating func fill(page: UInt64, value: UInt64) {
        let slot = Int(page & UInt64(Self.slots - 1))
        tags[slot] = page &+ 1
        values[slot] = value
        #if DEBUG
        assertInvariant(slotViolation(slot), of: "IOTLB")
        #endif
    }

    /// Drops cached pages in `firstPage...lastPage`: slot by slot for a short range, by a sweep
    /// of all slots for a long one.
    mutating func invalidate(firstPage: UInt64, lastPage: UInt64) {
        if lastPage - firstPage < UInt64(Self.slots) {
            var page = firstPage
            while true {
                let slot = Int(page & UInt64(Self.slots - 1))
                if tags[slot] == page &+ 1 { tags[slot] = 0 }
                if page == lastPage { break }
                page += 1
            }
        } else {
            for slot in 0..<Self.slots where tags[slot] != 0 && (tags[slot] - 1) >= firstPage && (tags[slot] - 1) <= lastPage {
                tags[slot] = 0
            }
        }
        #if DEBUG
        assertInvariant(invariantViolation(firstPage: firstPage, lastPage: lastPage, invalidated: true), of: "IOTLB")
        #endif
    }

    mutating func invalidateAll() {
        for slot in 0..<Self.slots { tags[slot] = 0 }
        #if DEBUG
        assertInvariant(isEmpty ? nil : "a page is still cached after invalidating them all", of: "IOTLB")
        #endif
    }

    // MARK: Invariants
    //
    // - `slots` tags and values;
    // - a cached page sits in the slot its low bits name (lookup and the long-range sweep
    //   rely on it);
    // - a cached value is a page base and permission bits only (translate ORs in the offset).
    // That a cached translation equals a fresh walk takes the page table: the owner checks it.

    var isEmpty: Bool {
        var slot = 0
        while slot < Self.slots {
            if tags[slot] != 0 { return false }
            slot += 1
        }
        return true
    }

    /// The page cached in `slot` and its value, or nil if the slot is empty.
    func cached(slot: Int) -> (page: UInt64, value: UInt64)? {
        tags[slot] == 0 ? nil : (tags[slot] - 1, values[slot])
    }

    /// The slots that can hold a page of `firstPage...lastPage`: `count` of them from `first`,
    /// wrapping at the end (one per page of a short range, every slot for a long one).
    static func slots(firstPage: UInt64, lastPage: UInt64) -> (first: Int, count: Int) {
        (Int(firstPage & UInt64(slots - 1)), lastPage - firstPage < UInt64(slots) ? Int(lastPage - firstPage) + 1 : slots)
    }

    /// The first broken invariant, or nil; visits every slot.
    func invariantViolation() -> String? {
        if tags.count != Self.slots || values.count != Self.slots { return "\(tags.count) tags and \(values.count) values for \(Self.slots) slots" }
        return invariantViolation(firstPage: 0, lastPage: .max)
    }

    /// The invariants of the slots that can hold a page of `firstPage...lastPage`; for a page
    /// of the range they hold, after an invalidation that none does, and given `translation`
    /// (what a walk finds for a page now, as a cached value), that each caches just that.
    /// One pass over the slots, reading the tags directly: debug builds run it after every
    /// translate, map and unmap.
    func invariantViolation(firstPage: UInt64, lastPage: UInt64, invalidated: Bool = false, translation: ((UInt64) -> UInt64?)? = nil) -> String? {
        let (first, count) = Self.slots(firstPage: firstPage, lastPage: lastPage)
        var visited = 0
        while visited < count {
            let slot = (first + visited) & (Self.slots - 1)
            visited += 1
            if tags[slot] == 0 { continue }
            if let problem = slotViolation(slot) { return problem }
            let page = tags[slot] - 1
            guard page >= firstPage && page <= lastPage else { continue }
            if invalidated { return "page \(hex(page)) still cached after invalidating \(hex(firstPage))...\(hex(lastPage))" }
            if let translation {
                let fresh = translation(page)
                if fresh != values[slot] { return "page \(hex(page)) cached as \(hex(values[slot])), a walk finds \(fresh.map(hex) ?? "nothing")" }
            }
        }
        return nil
    }

    private func slotViolation(_ slot: Int) -> String? {
        let tag = tags[slot], value = values[slot]
        if tag == 0 { return nil }
        if Int((tag - 1) & UInt64(Self.slots - 1)) != slot { return "page \(hex(tag - 1)) cached in slot \(slot), not its own" }
        if value & 0xFFF & ~3 != 0 { return "slot \(slot) value \(hex(value)) has bits besides a page base and read/write" }
        return nil
    }

    private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// Test hook: writes a slot as is, bypassing every rule.
    mutating func overwriteForTesting(slot: Int, page: UInt64, value: UInt64) {
        tags[slot] = page &+ 1
        values[slot] = value
    }
}
