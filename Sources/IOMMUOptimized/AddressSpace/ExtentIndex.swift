import IOMMUSpec

/// Mappings ordered by IOVA, stored as chunks of parallel arrays (a two-level B+-tree in
/// spirit): finding, inserting or removing costs a binary search over chunk keys, one inside a
/// chunk, and a move of at most `maxChunk` entries. An entry costs 25 bytes plus chunk slack,
/// well under QEMU's 72-byte IOVA-tree node (seed 004).
///
/// Positions are (chunk, slot); `end` is (chunks.count, 0).
public struct ExtentIndex {
    struct Chunk {
        var iovas: [UInt64] = []
        var lasts: [UInt64] = []
        var phys: [UInt64] = []
        var permissions: [UInt8] = []

        var count: Int { iovas.count }

        func extent(_ slot: Int) -> Extent {
            Extent(iova: iovas[slot], length: lasts[slot] - iovas[slot] + 1, phys: phys[slot], permissions: Permissions(rawValue: permissions[slot]))
        }
    }

    /// Where an extent sits: chunk, then slot.
    public struct Position: Equatable, Comparable, Sendable {
        var chunk: Int
        var slot: Int
        public static func < (a: Position, b: Position) -> Bool { (a.chunk, a.slot) < (b.chunk, b.slot) }
    }

    static let maxChunk = 256
    private(set) var chunks: [Chunk] = []
    /// `firstKeys[i] == chunks[i].iovas[0]`; every chunk is non-empty.
    private(set) var firstKeys: [UInt64] = []
    public private(set) var count = 0
    /// Test-support switch: a planted bug maps over mapped ranges, so extents may overlap. They
    /// stay sorted by first IOVA, which is all the searches need.
    var overlapsAllowed = false

    public init() {}

    public var end: Position { Position(chunk: chunks.count, slot: 0) }

    public subscript(position: Position) -> Extent { chunks[position.chunk].extent(position.slot) }

    func iova(at p: Position) -> UInt64 { chunks[p.chunk].iovas[p.slot] }
    func last(at p: Position) -> UInt64 { chunks[p.chunk].lasts[p.slot] }

    public func next(_ p: Position) -> Position {
        p.slot + 1 < chunks[p.chunk].count ? Position(chunk: p.chunk, slot: p.slot + 1) : Position(chunk: p.chunk + 1, slot: 0)
    }

    public func previous(_ p: Position) -> Position? {
        if p.slot > 0 { return Position(chunk: p.chunk, slot: p.slot - 1) }
        guard p.chunk > 0 else { return nil }
        return Position(chunk: p.chunk - 1, slot: chunks[p.chunk - 1].count - 1)
    }

    /// The first position whose IOVA is greater than `address`. O(log n).
    public func upperBound(_ address: UInt64) -> Position {
        var low = 0, high = firstKeys.count
        while low < high {
            let middle = (low + high) / 2
            if firstKeys[middle] > address { high = middle } else { low = middle + 1 }
        }
        let chunk = low - 1
        guard chunk >= 0 else { return Position(chunk: 0, slot: 0) }
        let iovas = chunks[chunk].iovas
        var l = 0, h = iovas.count
        while l < h {
            let m = (l + h) / 2
            if iovas[m] > address { h = m } else { l = m + 1 }
        }
        return l == iovas.count ? Position(chunk: chunk + 1, slot: 0) : Position(chunk: chunk, slot: l)
    }

    /// The position of the mapping that contains `address`, if any.
    public func position(containing address: UInt64) -> Position? {
        guard let candidate = previous(upperBound(address)), last(at: candidate) >= address else { return nil }
        return candidate
    }

    /// The positions of the mappings that overlap `[first, last]`, as a half-open range.
    public func overlapping(_ first: UInt64, _ last: UInt64) -> Range<Position> {
        let stop = upperBound(last)
        var start = upperBound(first)
        if let before = previous(start), self.last(at: before) >= first { start = before }
        return start < stop ? start..<stop : stop..<stop
    }

    /// Inserts a mapping that overlaps none.
    public mutating func insert(_ extent: Extent) {
        count += 1
        let at = upperBound(extent.iova)
        var chunkIndex = at.chunk, slot = at.slot
        if chunks.isEmpty {
            chunks.append(Chunk())
            firstKeys.append(extent.iova)
            chunkIndex = 0; slot = 0
        } else if chunkIndex == chunks.count {
            // Past the end: append to the last chunk.
            chunkIndex -= 1
            slot = chunks[chunkIndex].count
        }
        chunks[chunkIndex].iovas.insert(extent.iova, at: slot)
        chunks[chunkIndex].lasts.insert(extent.last, at: slot)
        chunks[chunkIndex].phys.insert(extent.phys, at: slot)
        chunks[chunkIndex].permissions.insert(extent.permissions.rawValue, at: slot)
        firstKeys[chunkIndex] = chunks[chunkIndex].iovas[0]
        if chunks[chunkIndex].count > Self.maxChunk { split(chunkIndex) }
        #if DEBUG
        // The new extent is the last one starting at or below its IOVA.
        assertInvariant(invariantViolation(near: upperBound(extent.iova)), of: "ExtentIndex")
        #endif
    }

    /// Removes the mappings at `range` (contiguous positions).
    public mutating func remove(_ range: Range<Position>) {
        guard !range.isEmpty else { return }
        #if DEBUG
        // Afterwards the extents either side of the range are neighbours: check that seam.
        let seamKey = previous(range.lowerBound).map { iova(at: $0) }
        defer { assertInvariant(invariantViolation(near: seamKey.map(upperBound) ?? Position(chunk: 0, slot: 0)), of: "ExtentIndex") }
        #endif
        var chunk = range.upperBound.chunk == chunks.count ? chunks.count - 1 : range.upperBound.chunk
        // Walk chunks from the back so earlier indices stay valid.
        while chunk >= range.lowerBound.chunk {
            let from = chunk == range.lowerBound.chunk ? range.lowerBound.slot : 0
            let to = chunk == range.upperBound.chunk ? range.upperBound.slot : chunks[chunk].count
            if from < to {
                count -= to - from
                chunks[chunk].iovas.removeSubrange(from..<to)
                chunks[chunk].lasts.removeSubrange(from..<to)
                chunks[chunk].phys.removeSubrange(from..<to)
                chunks[chunk].permissions.removeSubrange(from..<to)
            }
            if chunks[chunk].count == 0 {
                chunks.remove(at: chunk)
                firstKeys.remove(at: chunk)
            } else {
                firstKeys[chunk] = chunks[chunk].iovas[0]
                mergeIfSmall(chunk)
            }
            chunk -= 1
        }
    }

    public mutating func removeAll() {
        chunks = []
        firstKeys = []
        count = 0
        #if DEBUG
        assertInvariant(invariantViolation(near: end), of: "ExtentIndex")
        #endif
    }

    public func extents(in range: Range<Position>) -> [Extent] {
        var result: [Extent] = []
        var p = range.lowerBound
        while p < range.upperBound {
            result.append(self[p])
            p = next(p)
        }
        return result
    }

    /// Splits a full chunk in two, reserving exactly what each half holds.
    private mutating func split(_ index: Int) {
        let half = chunks[index].count / 2
        var upper = Chunk()
        upper.iovas = Array(chunks[index].iovas[half...])
        upper.lasts = Array(chunks[index].lasts[half...])
        upper.phys = Array(chunks[index].phys[half...])
        upper.permissions = Array(chunks[index].permissions[half...])
        chunks[index].iovas.removeSubrange(half...)
        chunks[index].lasts.removeSubrange(half...)
        chunks[index].phys.removeSubrange(half...)
        chunks[index].permissions.removeSubrange(half...)
        chunks.insert(upper, at: index + 1)
        firstKeys.insert(upper.iovas[0], at: index + 1)
    }

    /// Merges a chunk under a quarter full into its successor when both fit, so memory per
    /// mapping stays bounded after mass unmaps.
    private mutating func mergeIfSmall(_ index: Int) {
        guard chunks[index].count < Self.maxChunk / 4, index + 1 < chunks.count,
              chunks[index].count + chunks[index + 1].count <= Self.maxChunk else { return }
        let successor = chunks.remove(at: index + 1)
        firstKeys.remove(at: index + 1)
        chunks[index].iovas += successor.iovas
        chunks[index].lasts += successor.lasts
        chunks[index].phys += successor.phys
        chunks[index].permissions += successor.permissions
    }

    /// Heap bytes held by the index (array storage at capacity, plus array headers).
    public var memoryFootprint: Int {
        let header = 32
        var bytes = chunks.capacity * MemoryLayout<Chunk>.stride + header + firstKeys.capacity * 8 + header
        for chunk in chunks {
            bytes += chunk.iovas.capacity * 8 + chunk.lasts.capacity * 8 + chunk.phys.capacity * 8 + chunk.permissions.capacity + 4 * header
        }
        return bytes
    }

    // MARK: Invariants
    //
    // What the searches and the overlap test rely on:
    // - one first key per chunk, equal to the chunk's first IOVA; no chunk empty, none over
    //   `maxChunk` (insert splits past it); a chunk's four arrays one element per extent;
    // - every extent starts at or before its last byte;
    // - extents sorted by IOVA and disjoint: each starts past the previous one's last byte
    //   (only sorted while a planted bug lets maps overlap);
    // - `count` the number of extents.

    /// Debug-build check of every invariant (swift-collections' `_checkInvariants`). O(n): tests
    /// call it; each insert and remove checks only the extents around its change.
    public func checkInvariants() {
        #if DEBUG
        assertInvariant(invariantViolation(), of: "ExtentIndex")
        #endif
    }

    /// The first broken invariant, or nil; visits every extent.
    public func invariantViolation() -> String? {
        if firstKeys.count != chunks.count { return "\(firstKeys.count) first keys for \(chunks.count) chunks" }
        // Shapes first: the order check reads across chunk boundaries.
        for chunk in chunks.indices { if let problem = chunkViolation(chunk) { return problem } }
        var total = 0
        for chunk in chunks.indices {
            for slot in 0..<chunks[chunk].count {
                let p = Position(chunk: chunk, slot: slot)
                if let problem = extentViolation(at: p, before: next(p)) { return problem }
            }
            total += chunks[chunk].count
        }
        return total == count ? nil : "count is \(count) but the chunks hold \(total) extents"
    }

    /// The invariants around `p`, where a change just happened: the order of the extents from
    /// two before `p` to one after, and the shape of each chunk they lie in. O(1); an insert's
    /// extent sits just before `upperBound` of its IOVA, a removal's seam just there.
    func invariantViolation(near p: Position) -> String? {
        if firstKeys.count != chunks.count { return "\(firstKeys.count) first keys for \(chunks.count) chunks" }
        // The full sum is O(chunks); the bounds follow from non-empty chunks of at most maxChunk.
        if count < chunks.count || count > chunks.count * Self.maxChunk {
            return "count \(count) impossible for \(chunks.count) non-empty chunks of at most \(Self.maxChunk)"
        }
        guard !chunks.isEmpty else { return nil }
        if p.chunk < 0 || p.chunk > chunks.count { return "position \(describe(p)) outside the chunks" }
        // Chunks low...high are checked; a step enters a chunk only once it is.
        var low = min(p.chunk, chunks.count - 1), high = low
        if let problem = chunkViolation(low) { return problem }
        if p < end && p.slot >= chunks[p.chunk].iovas.count { return "position \(describe(p)) outside its chunk" }
        var from = p
        for _ in 0..<2 {
            if from.slot > 0 && from < end {
                from.slot -= 1
                continue
            }
            guard from.chunk > 0 else { break }
            if from.chunk - 1 < low {
                low = from.chunk - 1
                if let problem = chunkViolation(low) { return problem }
            }
            from = Position(chunk: from.chunk - 1, slot: chunks[from.chunk - 1].iovas.count - 1)
        }
        for _ in 0..<3 where from < end {
            if from.slot + 1 == chunks[from.chunk].iovas.count && from.chunk + 1 < chunks.count && from.chunk + 1 > high {
                high = from.chunk + 1
                if let problem = chunkViolation(high) { return problem }
            }
            let following = next(from)
            if let problem = extentViolation(at: from, before: following) { return problem }
            from = following
        }
        return nil
    }

    /// A chunk's shape: its key, its size, its parallel arrays. (Reads through `chunks[index]`
    /// rather than a copy of the chunk: a debug build would retain its four arrays each time.)
    private func chunkViolation(_ index: Int) -> String? {
        let count = chunks[index].iovas.count
        if count == 0 { return "chunk \(index) is empty" }
        if count > Self.maxChunk { return "chunk \(index) holds \(count) extents, over \(Self.maxChunk)" }
        if chunks[index].lasts.count != count || chunks[index].phys.count != count || chunks[index].permissions.count != count {
            return "chunk \(index) arrays differ in length (\(count) IOVAs, \(chunks[index].lasts.count) lasts, \(chunks[index].phys.count) phys, \(chunks[index].permissions.count) permissions)"
        }
        let first = chunks[index].iovas[0]
        if firstKeys[index] != first { return "chunk \(index) key \(hex(firstKeys[index])) out of date (first IOVA \(hex(first)))" }
        return nil
    }

    /// The extent at `p` starts at or before its last byte, and ends before the one at `q`
    /// (if `q` is not the end) starts; with overlaps allowed, starts no later.
    private func extentViolation(at p: Position, before q: Position) -> String? {
        let first = iova(at: p), last = last(at: p)
        if first > last { return "extent at \(describe(p)) ends at \(hex(last)), before it starts at \(hex(first))" }
        guard q < end else { return nil }
        let following = iova(at: q)
        if overlapsAllowed ? following < first : following <= last {
            return "extent at \(describe(q)) starting at \(hex(following)) \(overlapsAllowed ? "is out of order after" : "overlaps or is out of order after") [\(hex(first)), \(hex(last))]"
        }
        return nil
    }

    private func describe(_ p: Position) -> String { "chunk \(p.chunk) slot \(p.slot)" }
    private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// Test hook: rewrites one extent's bounds in place, bypassing every rule, so a test can
    /// show the checks catch a broken index.
    mutating func overwriteForTesting(at p: Position, iova: UInt64, last: UInt64) {
        chunks[p.chunk].iovas[p.slot] = iova
        chunks[p.chunk].lasts[p.slot] = last
    }
}
