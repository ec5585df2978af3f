extension Gen where Value == UInt64 {
    /// An integer in `range`; shrinks toward `range.lowerBound`. Biased toward both edges and
    /// small offsets under random generation.
    @inlinable
    public static func uint64(in range: ClosedRange<UInt64>) -> Gen<UInt64> {
        let low = range.lowerBound, span = range.upperBound - range.lowerBound
        return Gen { low + $0.draw(upTo: span) }
    }
}

extension Gen where Value == Int {
    /// An integer in `range`. A range that contains 0 shrinks toward 0 (0, 1, -1, 2, -2, ...);
    /// any other range shrinks toward the bound nearer to 0.
    @inlinable
    public static func int(in range: ClosedRange<Int>) -> Gen<Int> {
        let low = range.lowerBound, high = range.upperBound
        let span = UInt64(bitPattern: Int64(high &- low))
        if low >= 0 {
            return Gen { low &+ Int(truncatingIfNeeded: $0.draw(upTo: span)) }
        }
        if high <= 0 {
            return Gen { high &- Int(truncatingIfNeeded: $0.draw(upTo: span)) }
        }
        // Zigzag while both sides have values (0, 1, -1, 2, -2, ...), then the longer side alone.
        let negativeSide = UInt64(low.magnitude), positiveSide = UInt64(high)
        let both = min(negativeSide, positiveSide)
        let positiveLonger = positiveSide > negativeSide
        return Gen { stream in
            let choice = stream.draw(upTo: span)
            if choice <= 2 * both {
                let magnitude = Int((choice + 1) / 2)
                return choice % 2 == 1 ? magnitude : -magnitude
            }
            let magnitude = both + (choice - 2 * both)
            return positiveLonger ? Int(magnitude) : Int(truncatingIfNeeded: 0 &- magnitude)
        }
    }
}

extension Gen where Value == Bool {
    /// A fair boolean; shrinks to false.
    public static var bool: Gen<Bool> { Gen { $0.drawBool() } }

    /// A boolean that is true with `probability`; shrinks to false.
    public static func bool(probability: Double) -> Gen<Bool> { Gen { $0.drawBool(probability: probability) } }
}
