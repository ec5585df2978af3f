import Testing
@testable import PropertyCheck

@Suite struct GenTests {
    @Test func integersStayInRangeAndReachBothEdges() {
        let stream = ChoiceStream(.random(seed: 11))
        for range in [0...0, 0...1, -3...3, -10...2, 5...9, -9 ... -5, 0...Int.max, Int.min...0] {
            let generator = Gen.int(in: range)
            var seen = Set<Int>()
            for _ in 0..<2_000 {
                let value = generator.generate(stream)
                #expect(range.contains(value))
                seen.insert(value)
            }
            #expect(seen.contains(range.lowerBound) && seen.contains(range.upperBound))
        }
        let full = Gen.int(in: Int.min...Int.max)
        #expect(full.replay([UInt64.max]) == Int.min)
        #expect(full.replay([UInt64.max - 2]) == Int.max)
    }

    /// The signed mapping is a bijection that puts small magnitudes first: 0, 1, -1, 2, -2, ...
    @Test func signedIntegersShrinkTowardZero() {
        let generator = Gen.int(in: -2...5)
        let values = (0...7).map { generator.replay([UInt64($0)]) }
        #expect(values == [0, 1, -1, 2, -2, 3, 4, 5])
        let negativeLonger = Gen.int(in: -4...1)
        #expect((0...5).map { negativeLonger.replay([UInt64($0)]) } == [0, 1, -1, -2, -3, -4])
    }

    @Test func arraysRespectTheirLengthRange() {
        let stream = ChoiceStream(.random(seed: 5))
        let generator = Gen.uint64(in: 0...3).array(count: 2...6)
        var lengths = Set<Int>()
        for _ in 0..<2_000 {
            let array = generator.generate(stream)
            #expect((2...6).contains(array.count))
            lengths.insert(array.count)
        }
        #expect(lengths == Set(2...6))
        #expect(generator.replay([]) == [0, 0])
    }

    @Test func frequencyFollowsItsWeightsAndShrinksToTheFirst() {
        let stream = ChoiceStream(.random(seed: 8))
        let generator = Gen.frequency([(1, Gen.constant("a")), (9, Gen.constant("b")), (0, Gen.constant("never"))])
        var counts: [String: Int] = [:]
        for _ in 0..<10_000 { counts[generator.generate(stream), default: 0] += 1 }
        #expect(counts["never"] == nil)
        #expect((700...1_300).contains(counts["a"] ?? 0))
        #expect(generator.replay([0]) == "a")
    }

    @Test func anExhaustedFilterDiscardsTheCase() {
        let stream = ChoiceStream(.replay([1, 1, 1]))
        _ = Gen.uint64(in: 0...9).filter(maxTries: 3) { $0 > 5 }.generate(stream)
        #expect(stream.isDiscarded)
        let passing = ChoiceStream(.replay([1, 7]))
        #expect(Gen.uint64(in: 0...9).filter { $0 > 5 }.generate(passing) == 7)
        #expect(!passing.isDiscarded)
    }

    @Test func elementOneOfAndFlatMapDrawFromTheirInputs() {
        #expect(Gen.element(of: ["x", "y", "z"]).replay([2]) == "z")
        #expect(Gen.oneOf([Gen.constant(1), Gen.constant(2)]).replay([1]) == 2)
        let dependent = Gen.uint64(in: 0...3).flatMap { n in Gen.uint64(in: 10...20).array(count: Int(n)...Int(n)) }
        #expect(dependent.replay([2, 5, 6]) == [15, 16])
    }
}
