import IOMMUReference
import IOMMUSpec
import Testing

/// The model's chunked list of mappings (issue 17) behaves as the array it replaced: the same
/// elements at the same positions after any mix of inserts and replacements, across chunk
/// splits and removals, and the same binary search.
@Suite struct ExtentListTests {
    /// Disjoint pages at even page numbers, so every position has a gap to search in.
    static func page(_ number: UInt64) -> Extent { Extent(iova: number * 0x2000, length: 0x1000, phys: number, permissions: .read) }

    @Test(arguments: [1, 2, 3])
    func behavesAsAnArray(seed: UInt64) {
        var state = seed
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return bound <= 0 ? 0 : Int((state >> 33) % UInt64(bound))
        }
        var list = ExtentList(), array: [Extent] = []
        var numbers: [UInt64] = []  // page numbers, sorted, as the array holds them
        var peak = 0
        for step in 0..<12_000 {
            switch next(10) {
            case 0...5:
                // Insert a page not yet present, at its sorted position.
                let number = UInt64(next(1 << 20))
                guard !numbers.contains(number) else { continue }
                let position = numbers.firstIndex { $0 > number } ?? numbers.count
                numbers.insert(number, at: position)
                list.insert(Self.page(number), at: position)
                array.insert(Self.page(number), at: position)
            case 6...8:
                // Remove a run of up to 700 (often across chunks), or replace it by fewer.
                guard !array.isEmpty else { continue }
                let start = next(array.count), end = Swift.min(array.count, start + next(step % 997 == 0 ? 700 : 4))
                let keep = Array(array[start..<end].prefix(next(3)))
                numbers.replaceSubrange(start..<end, with: keep.map { $0.phys })
                list.replaceSubrange(start..<end, with: keep)
                array.replaceSubrange(start..<end, with: keep)
            default:
                let address = UInt64(next(1 << 21)) * 0x1000
                #expect(list.firstIndex(endingAtOrAfter: address) == (array.firstIndex { $0.last >= address } ?? array.count))
            }
            peak = Swift.max(peak, list.count)
            if step % 500 == 0 || list.count != array.count {
                #expect(Array(list) == array, "after step \(step)")
            }
        }
        #expect(peak > 1_000, "the list grew past a few chunks")
        #expect(Array(list) == array)
        #expect(list == ExtentList(array))
        list.replaceSubrange(0..<list.count, with: [])
        #expect(list.isEmpty && list.firstIndex(endingAtOrAfter: 0) == 0)
    }
}
