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

    #if DEBUG
    /// Tables whose entries the current map or unmap wrote, each as `table << 3 | level` (at
    /// most 6 levels; one integer, as a tuple costs debug builds generic metadata lookups):
    /// the ones its check scans.
    private var changedTables: [Int] = []
    #endif

    /// Notes that `table`, at `level`, had its entries changed (debug builds; nothing in release builds).
    @inline(__always) private func changed(_ table: Int, at level: Int) {
        #if DEBUG
        // clear notes its table once per entry it clears: keep one of each run.
        let note = table << 3 | level, count = changedTables.count
        if count == 0 || changedTables[count - 1] != note { changedTables.append(note) }
        #endif
    }

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
        #if DEBUG
        assertInvariant(invariantViolation(around: iova, last), of: "RadixPageTable")
        #endif
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
                changed(table, at: level)
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
                changed(table, at: level)
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
        changed(table, at: level)
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
        #if DEBUG
        assertInvariant(invariantViolation(around: first, last), of: "RadixPageTable")
        #endif
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
        changed(0, at: levels - 1)
        #if DEBUG
        assertInvariant(invariantViolation(around: 0, 0), of: "RadixPageTable")
        #endif
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
                changed(table, at: level)
                continue
            }
            let child = Int(current >> 12)
            clear(table: child, level: level - 1, base: slotFirst, first: max(first, slotFirst), last: min(last, slotLast))
            if live[child] == 0 {
                freeTable(child)
                entries[slot] = 0
                live[table] -= 1
                changed(table, at: level)
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
        changed(slot / Self.fanout, at: level)
        changed(child, at: level - 1)
    }

    // MARK: Table storage

    private func allocateTable() -> Int {
        if let reused = freeTables.popLast() {
            #if DEBUG
            // Checked where it is relied on: a reused table is handed out as it is.
            assertInvariant(freeTableViolation(reused), of: "RadixPageTable")
            #endif
            return reused
        }
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

    // MARK: Invariants
    //
    // What the walks, the counts and the allocator rely on:
    // - an entry is 0 (nothing is left behind a cleared present bit), a leaf (present, leaf and
    //   read/write bits, a physical base aligned to its level's size, at a level that may hold
    //   leaves), or a table pointer (exactly `child << 12 | present`, above level 0, to a table
    //   in 1..<allocated);
    // - `live[t]` is the number of present entries of table t (clear frees a table at 0, merge
    //   looks only at tables at 512, freeTable wipes only tables not at 0);
    // - no table but the root is empty (clear frees it), and none is a full run of contiguous
    //   same-permission leaves with an aligned base below a level that may hold leaves (merge
    //   folds those into one leaf);
    // - every table but the root is either reached from exactly one entry or free, never both,
    //   so tableCount counts what the tree holds; a free table is zero with live 0 (allocateTable
    //   hands it out as it is).

    /// The first broken invariant, or nil; walks the whole tree and the free list.
    public func invariantViolation() -> String? {
        if let problem = storageViolation() { return problem }
        var reached = [Bool](repeating: false, count: allocated)
        reached[0] = true
        var reachedCount = 1
        var pending = [(table: 0, level: levels - 1)]
        while let (table, level) = pending.popLast() {
            if let problem = tableViolation(table, level: level) { return problem }
            guard level > 0 else { continue }
            for slot in 0..<Self.fanout {
                let entry = entries[table * Self.fanout + slot]
                guard entry & (Self.present | Self.leaf) == Self.present else { continue }
                let child = Int(entry >> 12)
                if reached[child] { return "table \(child) is reached twice (again from table \(table) slot \(slot))" }
                reached[child] = true
                reachedCount += 1
                pending.append((child, level - 1))
            }
        }
        var free = [Bool](repeating: false, count: allocated)
        for table in freeTables {
            if table < 1 || table >= allocated { return "free table \(table) outside 1..<\(allocated)" }
            if free[table] { return "table \(table) is on the free list twice" }
            if reached[table] { return "table \(table) is both free and in the tree" }
            free[table] = true
            if let problem = freeTableViolation(table) { return problem }
        }
        if reachedCount + freeTables.count != allocated {
            return "\(allocated - reachedCount - freeTables.count) of \(allocated) tables are neither in the tree nor free"
        }
        return nil
    }

    /// The invariants where the last map or unmap acted: every table it wrote, scanned whole at
    /// the level it wrote it (one it then freed is zero and passes; one it reused counts at its
    /// last level), and every pointer on the paths to `addresses`, where an unwritten table may
    /// point at a child the change emptied. O(tables written * 512) (a one-page change writes
    /// one table), where the full check is O(tables * 512).
    func invariantViolation(around first: UInt64, _ last: UInt64) -> String? {
        if let problem = storageViolation() { return problem }
        #if DEBUG
        // Taken out and put back emptied, keeping its storage (no copy on write).
        var notes: [Int] = []
        swap(&notes, &changedTables)
        defer {
            notes.removeAll(keepingCapacity: true)
            changedTables = notes
        }
        // Latest note first; a table noted again earlier was checked at its latest level. (A
        // quadratic dedup: a change writes a handful of tables, and a dictionary costs debug
        // builds more than the scan.)
        var index = notes.count - 1
        while index >= 0 {
            let table = notes[index] >> 3, level = notes[index] & 7
            var later = index + 1
            while later < notes.count && notes[later] >> 3 != table { later += 1 }
            if later == notes.count, let problem = tableViolation(table, level: level) { return problem }
            index -= 1
        }
        #endif
        return pathViolation(first) ?? (first >> 12 == last >> 12 ? nil : pathViolation(last))
    }

    /// The pointers on the path from the root to `address`.
    private func pathViolation(_ address: UInt64) -> String? {
        var table = 0, level = levels - 1
        while level > 0 {
            let slot = Self.index(address, level)
            let entry = entries[table * Self.fanout + slot]
            guard entry & (Self.present | Self.leaf) == Self.present else { break }
            if let problem = pointerViolation(table, slot, entry, level) { return problem }
            table = Int(entry >> 12)
            level -= 1
        }
        return nil
    }

    /// The counters of the storage itself.
    private func storageViolation() -> String? {
        if levels < 1 || maxLeafLevel < 0 || maxLeafLevel >= levels { return "\(levels) levels with leaves up to level \(maxLeafLevel)" }
        if allocated < 1 || allocated > capacity { return "\(allocated) tables allocated with room for \(capacity)" }
        if freeTables.count >= allocated { return "\(freeTables.count) free tables of \(allocated) allocated, the root among them" }
        return nil
    }

    /// One table at `level`: its entries' encoding and its live count, scanning all 512. Debug
    /// builds run this after every map and unmap, unoptimized: hence the locals (no property or
    /// static accessor per entry), the `while` loop (`for in` goes through the iterator
    /// protocol), and calls only to build the message of a broken rule.
    private func tableViolation(_ table: Int, level: Int) -> String? {
        let entries = entries, live = live, allocated = allocated, fanout = Self.fanout
        let row = table * fanout
        let flagMask: UInt64 = 0xFFF, leafBits = Self.present | Self.leaf
        let misalignment = Self.size(level) - 1
        let leavesAllowed = level <= maxLeafLevel
        var count = 0, slot = 0
        while slot < fanout {
            let entry = entries[row + slot]
            if entry & leafBits == leafBits {
                count += 1
                // A leaf: present, leaf and read/write bits only, aligned to its level's size.
                if entry & flagMask & ~0xF != 0 || entry & ~flagMask & misalignment != 0 || !leavesAllowed {
                    return leafViolation(table, slot, entry, level)
                }
            } else if entry != 0 {
                count += 1
                // A table pointer: exactly `child << 12 | present`, to a live table merge would
                // not fold. (Tested inline: a call per entry costs more than the test.)
                let child = Int(truncatingIfNeeded: entry >> 12)
                if entry & flagMask != 1 || level == 0 || child < 1 || child >= allocated || live[child] == 0 || (Int(live[child]) == fanout && leavesAllowed) {
                    if let problem = pointerViolation(table, slot, entry, level) { return problem }
                }
            }
            slot += 1
        }
        if Int(live[table]) != count { return "table \(table) counts \(live[table]) live entries, holds \(count)" }
        return nil
    }

    private func leafViolation(_ table: Int, _ slot: Int, _ entry: UInt64, _ level: Int) -> String {
        let hex = "0x" + String(entry, radix: 16)
        if entry & 0xFF0 != 0 { return "table \(table) slot \(slot): leaf \(hex) with reserved bits set" }
        if level > maxLeafLevel { return "table \(table) slot \(slot): leaf at level \(level), above the highest leaf level \(maxLeafLevel)" }
        return "table \(table) slot \(slot): leaf \(hex) not aligned to its level-\(level) size"
    }

    /// A non-zero entry that is not a leaf must be a table pointer to a live, unfoldable table.
    private func pointerViolation(_ table: Int, _ slot: Int, _ entry: UInt64, _ level: Int) -> String? {
        let child = Int(entry >> 12)
        let problem: String
        if entry & Self.present == 0 {
            problem = "entry 0x\(String(entry, radix: 16)) without the present bit"
        } else if level == 0 {
            problem = "table pointer at level 0"
        } else if entry & ~Self.addressMask != Self.present {
            problem = "table pointer 0x\(String(entry, radix: 16)) with flag bits set"
        } else if child < 1 || child >= allocated {
            problem = "points at table \(child), outside 1..<\(allocated)"
        } else if live[child] == 0 {
            problem = "keeps empty table \(child)"
        } else if level <= maxLeafLevel && Int(live[child]) == Self.fanout && foldsIntoLeaf(child, level: level - 1) {
            problem = "table \(child) is a full run of contiguous leaves that merge folds into one"
        } else {
            return nil
        }
        return "table \(table) slot \(slot): \(problem)"
    }

    /// Whether `table` (at `level`) holds 512 leaves with one set of flags, each continuing the
    /// last, from a base aligned for the level above: what merge replaces with one leaf.
    private func foldsIntoLeaf(_ table: Int, level: Int) -> Bool {
        let entries = entries, row = table * Self.fanout, size = Self.size(level)
        let first = entries[row]
        guard first & (Self.present | Self.leaf) == Self.present | Self.leaf, first & Self.addressMask & (Self.size(level + 1) - 1) == 0 else { return false }
        var slot = 1, expected = first
        while slot < Self.fanout {
            expected &+= size
            if entries[row + slot] != expected { return false }
            slot += 1
        }
        return true
    }

    /// A free table: zero throughout, with a live count of 0.
    private func freeTableViolation(_ table: Int) -> String? {
        if live[table] != 0 { return "free table \(table) counts \(live[table]) live entries" }
        let entries = entries, row = table * Self.fanout, fanout = Self.fanout
        var slot = 0
        while slot < fanout {
            if entries[row + slot] != 0 { return "free table \(table) slot \(slot) is not zero" }
            slot += 1
        }
        return nil
    }

    /// Test hook: writes one entry (and optionally a live count) as is, bypassing every rule.
    func overwriteForTesting(table: Int, slot: Int, entry: UInt64, live count: UInt16? = nil) {
        entries[table * Self.fanout + slot] = entry
        if let count { live[table] = count }
    }

    /// Test hook: the table the entry for `address` at `level` sits in, following the walk.
    func tableForTesting(address: UInt64, level: Int) -> Int? {
        var table = 0
        for current in stride(from: levels - 1, to: level, by: -1) {
            let entry = entries[table * Self.fanout + Self.index(address, current)]
            guard entry & (Self.present | Self.leaf) == Self.present else { return nil }
            table = Int(entry >> 12)
        }
        return table
    }
}
