import IOMMUSpec

/// The model's mappings in IOVA order, indexed like an array. They are held in consecutive
/// chunks of at most `2 * chunk` extents, so a map or unmap in the middle of 65,535 mappings
/// moves the extents of one chunk, not half the list (one array made verifying a long trace
/// with many live mappings 6x slower per line than with few). Nothing else differs from an
/// array: the same positions, the same order, the same equality.
public struct ExtentList: RandomAccessCollection, Equatable, Sendable, CustomStringConvertible {
    static let chunk = 256

    /// Together, in order, the list. Never empty, and only a sole chunk may be (an emptied
    /// list keeps its storage for the next map).
    private var chunks: [[Extent]] = [[]]
    /// The position of each chunk's first extent.
    private var starts = [0]
    public private(set) var endIndex = 0

    public init() {}

    public init(_ extents: [Extent]) {
        replaceSubrange(0..<0, with: extents)
    }

    public var startIndex: Int { 0 }

    /// Bytes of storage held: every chunk's capacity and the index over them (for the memory
    /// benchmarks).
    public var storageBytes: Int {
        chunks.reduce(0) { $0 + $1.capacity * MemoryLayout<Extent>.stride } + chunks.capacity * MemoryLayout<[Extent]>.stride + starts.capacity * MemoryLayout<Int>.stride
    }

    @inline(__always) public subscript(position: Int) -> Extent {
        if chunks.count == 1 { return chunks[0][position] }
        let (chunk, offset) = locate(position)
        return chunks[chunk][offset]
    }

    /// The chunk holding `position` and the offset in it; `endIndex` is the end of the last chunk.
    @inline(__always) private func locate(_ position: Int) -> (chunk: Int, offset: Int) {
        if chunks.count <= 1 { return (0, position) }
        // The last chunk starting at or before `position`.
        var low = 0, high = starts.count
        while high - low > 1 {
            let middle = (low + high) / 2
            if starts[middle] <= position { low = middle } else { high = middle }
        }
        return (low, position - starts[low])
    }

    /// The position of the first extent whose last IOVA is at or after `address` (the extents
    /// are sorted and disjoint, so their last IOVAs are sorted too): binary search, first over
    /// the chunks' last extents, then in the chunk.
    @inline(__always) public func firstIndex(endingAtOrAfter address: UInt64) -> Int {
        // Up to 512 mappings (every case the generator makes) are one chunk: one search.
        if chunks.count == 1 { return Self.search(chunks[0], address) }
        var low = 0, high = chunks.count
        while low < high {
            let middle = (low + high) / 2
            if chunks[middle][chunks[middle].count - 1].last < address { low = middle + 1 } else { high = middle }
        }
        guard low < chunks.count else { return endIndex }
        return starts[low] + Self.search(chunks[low], address)
    }

    private static func search(_ extents: [Extent], _ address: UInt64) -> Int {
        var first = 0, last = extents.count
        while first < last {
            let middle = (first + last) / 2
            if extents[middle].last < address { first = middle + 1 } else { last = middle }
        }
        return first
    }

    public mutating func insert(_ extent: Extent, at position: Int) {
        let (chunk, offset) = locate(position)
        guard chunks[chunk].count < 2 * Self.chunk, offset <= chunks[chunk].count else {
            return replaceSubrange(position..<position, with: [extent])
        }
        chunks[chunk].insert(extent, at: offset)
        if chunks.count > 1 { renumber(from: chunk) } else { endIndex += 1 }
    }

    /// Replaces the extents at `range` by `extents`, as an array's `replaceSubrange` does.
    public mutating func replaceSubrange(_ range: Range<Int>, with extents: [Extent]) {
        precondition(range.lowerBound >= 0 && range.upperBound <= endIndex, "range out of bounds")
        let (first, start) = locate(range.lowerBound)
        if start + range.count <= chunks[first].count && chunks[first].count - range.count + extents.count <= 2 * Self.chunk {
            // Within one chunk, and it stays small enough: the common case.
            chunks[first].replaceSubrange(start..<start + range.count, with: extents)
            if chunks[first].isEmpty && chunks.count > 1 { rebuild(first..<first + 1, from: []) } else { renumber(from: first) }
            return
        }
        // Across chunks, or the chunk grows too large: rebuild the chunks it touches.
        let last = range.isEmpty ? first : locate(range.upperBound - 1).chunk
        var joined = Array(chunks[first...last].joined())
        joined.replaceSubrange(start..<start + range.count, with: extents)
        rebuild(first..<last + 1, from: joined)
    }

    /// Replaces the chunks at `range` by `extents` cut into chunks of `chunk`.
    private mutating func rebuild(_ range: Range<Int>, from extents: [Extent]) {
        let pieces = stride(from: 0, to: extents.count, by: Self.chunk).map { Array(extents[$0..<Swift.min($0 + Self.chunk, extents.count)]) }
        chunks.replaceSubrange(range, with: pieces)
        starts.replaceSubrange(range, with: pieces.map { _ in 0 })
        if chunks.isEmpty {
            chunks = [[]]
            starts = [0]
        }
        renumber(from: Swift.min(range.lowerBound, chunks.count - 1))
    }

    private mutating func renumber(from chunk: Int) {
        var position = chunk == 0 ? 0 : starts[chunk - 1] + chunks[chunk - 1].count
        for index in chunk..<chunks.count {
            starts[index] = position
            position += chunks[index].count
        }
        endIndex = position
    }

    public static func == (a: ExtentList, b: ExtentList) -> Bool { a.elementsEqual(b) }

    public var description: String { Array(self).description }
}
