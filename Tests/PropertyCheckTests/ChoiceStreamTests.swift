import Testing
@testable import PropertyCheck

@Suite struct ChoiceStreamTests {
    @Test func randomDrawsStayInBoundsAndAreRecorded() {
        let stream = ChoiceStream(.random(seed: 7))
        for bound: UInt64 in [0, 1, 2, 3, 255, 256, 1000, 1 << 40, .max] {
            for _ in 0..<200 {
                #expect(stream.draw(upTo: bound) <= bound)
                #expect(stream.drawUniform(upTo: bound) <= bound)
            }
        }
        #expect(stream.choices.count == stream.bounds.count)
        #expect(zip(stream.choices, stream.bounds).allSatisfy { $0 <= $1 })
    }

    @Test func replayClampsToTheBoundAndEndsInZeros() {
        let stream = ChoiceStream(.replay([5, 900, 1]))
        #expect(stream.draw(upTo: 10) == 5)
        #expect(stream.draw(upTo: 100) == 100)
        #expect(stream.drawBool())
        #expect(stream.draw(upTo: 10) == 0)
        #expect(!stream.drawBool())
    }

    @Test func bytesDecodeLittleEndianReducedIntoRange() {
        let stream = ChoiceStream(.bytes([0x34, 0x12, 0xFF, 7]))
        #expect(stream.draw(upTo: 0xFFFF) == 0x1234)
        #expect(stream.drawBool())
        #expect(stream.draw(upTo: 4) == 2)  // 7 % 5
        #expect(stream.draw(upTo: 4) == 0)  // exhausted
    }

    @Test func encodedBytesDecodeToTheSameChoices() {
        for seed in 0..<200 as Range<UInt64> {
            let original = ChoiceStream(.random(seed: seed))
            let generator = Gen.int(in: -1000...1000).array(count: 0...30)
            let value = generator.generate(original)
            _ = original.drawBool(probability: 0.9)
            _ = original.draw(upTo: .max)
            let decoded = ChoiceStream(.bytes(original.encodedBytes))
            #expect(generator.generate(decoded) == value)
            _ = decoded.drawBool(probability: 0.9)
            _ = decoded.draw(upTo: .max)
            #expect(decoded.choices == original.choices)
        }
    }

    @Test func theChoiceLimitEndsACaseWithSimplestValues() {
        let stream = ChoiceStream(.random(seed: 1), maxChoices: 3)
        for _ in 0..<10 { _ = stream.draw(upTo: 100) }
        #expect(stream.overran)
        #expect(stream.choices.count == 3)
    }

    @Test func spansAreRecordedOnlyWhenAsked() {
        let generator = Gen.uint64(in: 0...9).labelled("digit").array(count: 2...2)
        let plain = ChoiceStream(.random(seed: 3))
        _ = generator.generate(plain)
        #expect(plain.spans.isEmpty)
        let recorded = ChoiceStream(.random(seed: 3), recordsSpans: true)
        _ = generator.generate(recorded)
        #expect(recorded.spans.filter { $0.label == "digit" }.count == 2)
        #expect(recorded.spans.allSatisfy { $0.end >= $0.start })
    }

    /// Any byte string decodes without crashing: empty, short, random, and huge buffers, through
    /// a generator that uses every kind of draw.
    @Test func randomBytesNeverCrashDecoding() {
        let generator = Gen.frequency([
            (3, Gen.int(in: Int.min...Int.max).array(count: 0...50).map { $0.count }),
            (1, Gen.uint64(in: 0...UInt64.max).map { Int(truncatingIfNeeded: $0) }),
            (1, Gen.element(of: [1, 2, 3]).flatMap { n in Gen.bool.array(count: n...n).map { $0.count } }),
            (1, Gen.int(in: -5...5).filter { $0 > 3 }),
        ]).array(count: 0...100)
        var rng = Xoshiro256StarStar(seed: 99)
        // Buffers are slices of one random pool, so the test spends its time decoding.
        let pool = (0..<(1 << 22)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let stream = ChoiceStream(.bytes([]), maxChoices: 10_000)
        var buffers = 0
        func decode(_ bytes: [UInt8]) {
            stream.reset(.bytes(bytes))
            _ = generator.generate(stream)
            buffers += 1
        }
        for length in [0, 1, 2, 3, 7, 8, 9, 64] {
            for _ in 0..<5_000 {
                let start = Int(rng.next(upTo: UInt64(pool.count - length)))
                decode(Array(pool[start..<start + length]))
            }
        }
        for _ in 0..<260_000 {
            let length = Int(rng.next(upTo: 300))
            let start = Int(rng.next(upTo: UInt64(pool.count - length)))
            decode(Array(pool[start..<start + length]))
        }
        decode(pool)
        decode(Array(repeating: 0xFF, count: pool.count))
        decode(Array(repeating: 0x00, count: pool.count))
        #expect(buffers > 300_000)
    }
}
