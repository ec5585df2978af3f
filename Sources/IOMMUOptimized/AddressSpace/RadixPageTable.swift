import IOMMUSpec

/// A multi-level radix page table shaped like VT-d second-level and ARM LPAE tables: 512
/// entries per table, 4 KiB leaves at level 0, 2 MiB at level 1, 1 GiB at level 2, and larger
/// blocks above where alignment allows (so a mapping of terabytes costs a handful of entries).
/// Superpages are used wherever IOVA, physical address and length allow; a partial unmap
/// splits one; a table that fills with contiguous leaves of one permission merges back.
///
/// Entry encoding: 0 is empty; bit 0 present, bit 1 read, bit 2 write, bit 3 leaf; bits 12-63
/// hold the physical base of a leaf or the index of a child table.
///
/// Tables live in one manually grown buffer: writing entries is this type's hot loop, and
/// Swift arrays would pay a uniqueness check on every store.
public final class RadixPageTable {
    static let fanout = 512
    static let present: UInt64 = 1, leaf: UInt64 = 8
    static let addressMask: UInt64 = ~0xFFF

    /// Levels below the root; the root is level `levels - 1`.
    public let levels: Int
    /// Table `t` occupies `entries[t * 512 ..< (t + 1) * 512]`; table 0 is the root.
    /// (Unchecked exclusivity: one thread uses a table, and the runtime check on every entry
    /// access was a tenth of a campaign's time.)
    @exclusivity(unchecked) private var entries: UnsafeMutablePointer<UInt64>
    /// Present entries per table, to free empty tables and spot full ones.
    @exclusivity(unchecked) private var live: UnsafeMutablePointer<UInt16>
    /// Tables the buffers have room for, and tables handed out so far (some may be free).
    @exclusivity(unchecked) private var capacity = 0, allocated = 0
    @exclusivity(unchecked) private var freeTables: [Int] = []

    /// Test-support switch: a partially unmapped superpage is cleared whole instead of split.
    var clearsSuperpagesWhole = false

    public init(addressWidth: Int) {
        levels = max(1, (addressWidth - 12 + 8) / 9)
        maxLeafLevel = addressWidth > 57 ? levels - 1 : max(0, levels - 2)
        capacity = Self.initialCapacity
        entries = .allocate(capacity: capacity * Self.fanout)
        live = .allocate(capacity: capacity)
        removeAll()
    }

    /// Room for the tables of a few dozen scattered mappings (a case's worth) without growing:
    /// untouched room costs address space only, growing costs a copy of every table.
    private static let initialCapacity = 64

    deinit {
        entries.deallocate()
        live.deallocate()
    }

    @inline(__always) static func shift(_ level: Int) -> UInt64 { 12 + 9 * UInt64(level) }
    @inline(__always) static func size(_ level: Int) -> UInt64 { 1 << shift(level) }
    @inline(__always) static func index(_ address: UInt64, _ level: Int) -> Int { Int((address >> shift(level)) & 511) }

    /// Tables in use, for memory accounting.
    public var tableCount: Int { allocated - freeTables.count }

    // MARK: Translate

    /// The physical address and permissions for `address`, or nil if nothing maps it. O(levels).
    public func translate(_ address: UInt64) -> (phys: UInt64, permissions: Permissions)? {
        var table = 0
        var level = levels - 1
        while true {
            let entry = entries[table * Self.fanout + Self.index(address, level)]
            if entry & Self.present == 0 { return nil }
            if entry & Self.leaf != 0 {
                let offset = address & (Self.size(level) - 1)
                return ((entry & Self.addressMask) + offset, Permissions(rawValue: UInt8((entry >> 1) & 3)))
            }
            table = Int(entry >> 12)
            level -= 1
        }
    }

    // MARK: Map

    /// The highest level that may hold a leaf: below the root, as in VT-d and ARM LPAE
    /// (1 GiB with a 48-bit aperture). Past 57 bits no hardware table exists to imitate, and
    /// the root holds leaves too, so half of the 64-bit space costs 64 entries, not 32768.
    let maxLeafLevel: Int

    /// Maps `[iova, iova + length)` to `phys` with the largest leaves alignment allows, writing
    /// each entry once (O(entries + levels)). The range must be empty: the extent index
    /// checked for overlap.
    public func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) {
        let flags = UInt64(permissions.rawValue & 3) << 1 | Self.leaf | Self.present
        let last = iova &+ (length - 1)
        fill(table: 0, level: levels - 1, base: 0, first: iova, last: last, phys: phys, flags: flags)
        merge(table: 0, level: levels - 1, around: iova)
        merge(table: 0, level: levels - 1, around: last)
    }

    /// Writes leaves for `[first, last]` (inside this table's span) mapping `first` to `phys`.
    /// When phys is congruent with the IOVA modulo this level's size, every slot the range
    /// covers whole becomes a leaf in one tight loop; only the partial slots at the two ends
    /// descend a level.
    private func fill(table: Int, level: Int, base: UInt64, first: UInt64, last: UInt64, phys: UInt64, flags: UInt64) {
        let shift = Self.shift(level), size = Self.size(level)
        let low = Int((first &- base) >> shift), high = Int((last &- base) >> shift)
        let congruent = level <= maxLeafLevel && (phys &- first) & (size - 1) == 0
        // The last slot that ends at or before `last`.
        let lastWhole = (last &- base) & (size - 1) == size - 1 ? high : high - 1
        var index = low
        while index <= high {
            let slotFirst = base &+ UInt64(index) &* size
            if congruent && slotFirst >= first && index <= lastWhole {
                var leaf = (phys &+ (slotFirst &- first)) | flags
                let row = table * Self.fanout
                var added: UInt16 = 0
                for slot in row + index...row + lastWhole {
                    let old = entries[slot]
                    if old & Self.present == 0 {
                        added += 1
                    } else if old & Self.leaf == 0 {
                        // Only a planted bug maps over a mapped range; keep the tables sound anyway.
                        freeSubtree(Int(old >> 12))
                    }
                    entries[slot] = leaf
                    leaf &+= size
                }
                live[table] += added
                index = lastWhole + 1
                continue
            }
            let slotLast = slotFirst &+ (size - 1)
            let segmentFirst = max(first, slotFirst), segmentLast = min(last, slotLast)
            let slot = table * Self.fanout + index
            if entries[slot] & (Self.present | Self.leaf) == Self.present | Self.leaf {
                // A superpage over part of the range (only after a planted bug let a map overlap):
                // descend into its split copy, never into its physical address as a table index.
                split(slot: slot, level: level)
            }
            var child = Int(entries[slot] >> 12)
            if entries[slot] & Self.present == 0 {
                child = allocateTable()
                entries[slot] = UInt64(child) << 12 | Self.present
                live[table] += 1
            }
            fill(table: child, level: level - 1, base: slotFirst, first: segmentFirst, last: segmentLast, phys: phys &+ (segmentFirst &- first), flags: flags)
            index += 1
        }
    }

    /// Promotes full tables of contiguous, same-permission leaves on the path to `address`
    /// into one leaf of the level above, deepest first, while the result may be a leaf.
    private func merge(table: Int, level: Int, around address: UInt64) {
        guard level > 0 else { return }
        let slot = table * Self.fanout + Self.index(address, level)
        let entry = entries[slot]
        guard entry & Self.present != 0, entry & Self.leaf == 0 else { return }
        let child = Int(entry >> 12)
        merge(table: child, level: level - 1, around: address)
        guard level <= maxLeafLevel, let merged = mergedLeaf(child, level: level - 1) else { return }
        freeTable(child)
        entries[slot] = merged
    }

    /// The leaf that can replace `table` (at `level`), if it is full of contiguous leaves with
    /// one permission, starting at a physical address aligned for the level above.
    private func mergedLeaf(_ table: Int, level: Int) -> UInt64? {
        guard live[table] == Self.fanout else { return nil }
        let base = table * Self.fanout
        let first = entries[base]
        guard first & Self.leaf != 0 else { return nil }
        let size = Self.size(level)
        let flags = first & ~Self.addressMask
        let phys = first & Self.addressMask
        guard phys & (Self.size(level + 1) - 1) == 0 else { return nil }
        for i in 1..<Self.fanout {
            if entries[base + i] != (phys &+ UInt64(i) &* size) | flags { return nil }
        }
        return first
    }

    // MARK: Unmap

    /// Clears `[first, last]`, splitting superpages that are covered only in part.
    public func unmap(first: UInt64, last: UInt64) {
        clear(table: 0, level: levels - 1, base: 0, first: first, last: last)
    }

    /// Tables one address space may hold (32 MiB of entries).
    static let tableBudget = 1 << 13

    /// About how many tables a map of `length` bytes from `iova` to `phys` adds: its leaves are
    /// the largest the two addresses are congruent modulo, 512 to a table.
    public func tablesNeeded(iova: UInt64, length: UInt64, phys: UInt64) -> Int {
        var level = maxLeafLevel
        while level > 0 && (phys &- iova) & (Self.size(level) - 1) != 0 { level -= 1 }
        return Int(min((length >> Self.shift(level)) / 512, 1 << 40)) + 2 * levels
    }

    /// Clears every entry; keeps one empty root.
    public func removeAll() {
        if capacity > Self.initialCapacity {
            entries.deallocate()
            live.deallocate()
            capacity = Self.initialCapacity
            entries = .allocate(capacity: capacity * Self.fanout)
            live = .allocate(capacity: capacity)
        }
        entries.initialize(repeating: 0, count: Self.fanout)
        live[0] = 0
        allocated = 1
        freeTables = []
    }

    private func clear(table: Int, level: Int, base: UInt64, first: UInt64, last: UInt64) {
        let shift = Self.shift(level)
        let size = Self.size(level)
        let low = first <= base ? 0 : Int((first - base) >> shift)
        let high = min(Self.fanout - 1, Int(truncatingIfNeeded: (last - base) >> shift))
        guard low <= high else { return }
        for index in low...high {
            let slot = table * Self.fanout + index
            let entry = entries[slot]
            if entry & Self.present == 0 { continue }
            let slotFirst = base &+ UInt64(index) &* size
            let slotLast = slotFirst &+ (size - 1)
            let covered = first <= slotFirst && slotLast <= last
            if !covered && entry & Self.leaf != 0 && level > 0 && !clearsSuperpagesWhole {
                split(slot: slot, level: level)
            }
            let current = entries[slot]
            if covered || current & Self.leaf != 0 {
                if current & Self.leaf == 0 { freeSubtree(Int(current >> 12)) }
                entries[slot] = 0
                live[table] -= 1
                continue
            }
            let child = Int(current >> 12)
            clear(table: child, level: level - 1, base: slotFirst, first: max(first, slotFirst), last: min(last, slotLast))
            if live[child] == 0 {
                freeTable(child)
                entries[slot] = 0
                live[table] -= 1
            }
        }
    }

    /// Demotes the superpage in `slot` (at `level`) into a table of 512 leaves one level down.
    private func split(slot: Int, level: Int) {
        let entry = entries[slot]
        let flags = entry & ~Self.addressMask
        let phys = entry & Self.addressMask
        let childSize = Self.size(level - 1)
        let child = allocateTable()
        let base = child * Self.fanout
        for i in 0..<Self.fanout { entries[base + i] = (phys &+ UInt64(i) &* childSize) | flags }
        live[child] = UInt16(Self.fanout)
        entries[slot] = UInt64(child) << 12 | Self.present
    }

    // MARK: Table storage

    private func allocateTable() -> Int {
        if let reused = freeTables.popLast() { return reused }
        if allocated == capacity { grow() }
        (entries + allocated * Self.fanout).initialize(repeating: 0, count: Self.fanout)
        live[allocated] = 0
        allocated += 1
        return allocated - 1
    }

    private func grow() {
        let newCapacity = capacity * 2
        let newEntries = UnsafeMutablePointer<UInt64>.allocate(capacity: newCapacity * Self.fanout)
        newEntries.moveInitialize(from: entries, count: allocated * Self.fanout)
        entries.deallocate()
        entries = newEntries
        let newLive = UnsafeMutablePointer<UInt16>.allocate(capacity: newCapacity)
        newLive.moveInitialize(from: live, count: allocated)
        live.deallocate()
        live = newLive
        capacity = newCapacity
    }

    private func freeTable(_ table: Int) {
        // A table emptied entry by entry is zero already; only a full or torn-down one is wiped.
        if live[table] != 0 { (entries + table * Self.fanout).update(repeating: 0, count: Self.fanout) }
        live[table] = 0
        freeTables.append(table)
    }

    private func freeSubtree(_ table: Int) {
        let base = table * Self.fanout
        for i in base..<base + Self.fanout where entries[i] & (Self.present | Self.leaf) == Self.present {
            freeSubtree(Int(entries[i] >> 12))
        }
        freeTable(table)
    }
}
