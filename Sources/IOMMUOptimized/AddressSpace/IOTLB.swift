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
    }

    mutating func invalidateAll() {
        for slot in 0..<Self.slots { tags[slot] = 0 }
    }
}
