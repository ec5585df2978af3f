/// SplitMix64: turns one seed into a stream of well-mixed 64-bit values.
/// Used to derive per-case seeds and to seed `Xoshiro256StarStar`.
public struct SplitMix64: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman and Vigna): the PRNG behind random choice sequences.
/// Fast, small state, and identical output on every platform, which keeps runs byte-for-byte
/// reproducible from a seed.
public struct Xoshiro256StarStar: Sendable {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var mixer = SplitMix64(seed: seed)
        s0 = mixer.next(); s1 = mixer.next(); s2 = mixer.next(); s3 = mixer.next()
    }

    @inline(__always)
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// A uniform value in `0...bound` (Lemire's multiply-high reduction; the bias is below 2^-64 per value).
    public mutating func next(upTo bound: UInt64) -> UInt64 {
        let x = next()
        if bound == .max { return x }
        return x.multipliedFullWidth(by: bound &+ 1).high
    }
}

/// The seed of case `index` in a run seeded with `seed`: every case can be regenerated alone.
public func caseSeed(runSeed seed: UInt64, caseIndex index: Int) -> UInt64 {
    var mixer = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: index) &* 0xD1B5_4A32_D192_ED03))
    return mixer.next()
}
