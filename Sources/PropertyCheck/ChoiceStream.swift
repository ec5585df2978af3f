/// Where a case's choices come from.
public enum ChoiceSource: Sendable, Equatable {
    /// Random generation from a seeded PRNG; integer draws are biased toward small values and edges.
    case random(seed: UInt64)
    /// A fixed choice sequence (replay and shrinking). A value above its draw's bound is clamped
    /// to the bound; past the end every draw returns its simplest value, 0.
    case replay([UInt64])
    /// Raw bytes (libFuzzer inputs and corpus files). Each draw reads a fixed number of bytes for
    /// its bound, little-endian, reduced into range; past the end every draw returns 0, so a
    /// truncated input is a simpler input. Every byte string decodes.
    case bytes([UInt8])
}

/// A labelled stretch of the choice sequence: one generated value or one command.
/// The shrinker deletes, zeroes and reorders spans as units.
public struct Span: Sendable, Equatable {
    public let label: String
    public let start: Int
    public internal(set) var end: Int
    public let depth: Int
    public var count: Int { end - start }
}

/// Hot draw-path properties opt out of dynamic exclusivity checks (`@exclusivity(unchecked)`):
/// a stream is used by one case on one thread, and the checks cost more than the draws.
///
/// The only source of randomness a generator sees: every draw is a bounded unsigned integer,
/// recorded in order, so any case can be replayed, encoded as bytes, and shrunk.
public final class ChoiceStream {
    /// The choices drawn so far, in order.
    @exclusivity(unchecked) public private(set) var choices: [UInt64] = []
    /// The bound of each recorded choice (`choices[i] <= bounds[i]`); needed to encode as bytes.
    @exclusivity(unchecked) public private(set) var bounds: [UInt64] = []
    /// Spans, recorded only when `recordsSpans` (shrinking and final replay).
    @exclusivity(unchecked) public private(set) var spans: [Span] = []
    /// Set when the case drew more than `maxChoices`; later draws return 0 and are not recorded.
    @exclusivity(unchecked) public private(set) var overran = false
    /// Set by a generator that could not produce a valid value (an exhausted `filter`).
    @exclusivity(unchecked) public private(set) var isDiscarded = false
    public let maxChoices: Int
    public let recordsSpans: Bool
    /// Set for the final replay of a failure, so runners build readable traces only then.
    public let recordsTrace: Bool
    /// Collects `event` counts during generation; nil while shrinking.
    @exclusivity(unchecked) public var statistics: Statistics?
    /// Readable steps of the case so far, appended by runners when `recordsTrace` is set
    /// (so a passing case can be shown too, not only a failing one).
    @exclusivity(unchecked) public var trace: [String] = []

    private enum Mode { case random, replay, bytes }
    /// Random generation favours edges and small values (`draw(upTo:)`); off, every draw is
    /// uniform. Only the detection benchmark turns it off, to measure what the bias buys.
    @exclusivity(unchecked) public var edgeBias = true
    @exclusivity(unchecked) private var mode = Mode.random
    @exclusivity(unchecked) private var rng = Xoshiro256StarStar(seed: 0)
    @exclusivity(unchecked) private var prefix: [UInt64] = []
    @exclusivity(unchecked) private var bytes: [UInt8] = []
    @exclusivity(unchecked) private var cursor = 0
    @exclusivity(unchecked) private var openSpans: [Int] = []

    public init(_ source: ChoiceSource, maxChoices: Int = 100_000, recordsSpans: Bool = false, recordsTrace: Bool = false) {
        self.maxChoices = maxChoices
        self.recordsSpans = recordsSpans
        self.recordsTrace = recordsTrace
        load(source)
    }

    /// Starts a new case from `source`, keeping allocated capacity (the generation loop reuses one stream).
    public func reset(_ source: ChoiceSource) {
        choices.removeAll(keepingCapacity: true)
        bounds.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
        openSpans.removeAll(keepingCapacity: true)
        trace.removeAll(keepingCapacity: true)
        overran = false
        isDiscarded = false
        cursor = 0
        load(source)
    }

    private func load(_ source: ChoiceSource) {
        switch source {
        case .random(let seed):
            mode = .random
            rng = Xoshiro256StarStar(seed: seed)
            if !prefix.isEmpty { prefix = [] }
            if !bytes.isEmpty { bytes = [] }
        case .replay(let values): mode = .replay; prefix = values; bytes = []
        case .bytes(let data): mode = .bytes; bytes = data; prefix = []
        }
    }

    // MARK: Draws

    /// An integer in `0...bound`. Random generation biases it toward 0, small values and `bound`.
    @inline(__always)
    public func draw(upTo bound: UInt64) -> UInt64 { draw(bound, biased: true, probability: -1) }

    /// An integer in `0...bound`, uniform under random generation (indices, weights).
    @inline(__always)
    public func drawUniform(upTo bound: UInt64) -> UInt64 { draw(bound, biased: false, probability: -1) }

    /// A boolean that random generation makes true with `probability`. Its simplest value is false.
    @inline(__always)
    public func drawBool(probability: Double = 0.5) -> Bool { draw(1, biased: false, probability: probability) == 1 }

    /// A draw whose value the caller fixes: it consumes input and is recorded like any draw,
    /// but returns `forced` (which must be at most `bound`). A run with a fixed option (a
    /// command-line `--policy`, say) thus records that option in its choices, so the recorded
    /// sequence replays the same way without the option; the shrinker cannot change it.
    public func draw(upTo bound: UInt64, forcedTo forced: UInt64) -> UInt64 {
        let before = choices.count
        _ = draw(bound, biased: false, probability: -1)
        if choices.count > before { choices[before] = min(forced, bound) }
        return min(forced, bound)
    }

    /// `probability` >= 0 marks a weighted boolean (bound 1); integer draws pass -1.
    private func draw(_ bound: UInt64, biased: Bool, probability: Double) -> UInt64 {
        if choices.count >= maxChoices {
            overran = true
            return 0
        }
        let value: UInt64
        switch mode {
        case .random:
            if probability >= 0 {
                value = rng.next() < Self.threshold(probability) ? 1 : 0
            } else if biased && edgeBias {
                value = biasedRandom(bound)
            } else {
                value = rng.next(upTo: bound)
            }
        case .replay:
            value = cursor < prefix.count ? min(prefix[cursor], bound) : 0
            cursor += 1
        case .bytes:
            value = probability >= 0 ? readWeightedBool(probability) : readInteger(bound)
        }
        choices.append(value)
        bounds.append(bound)
        return value
    }

    private static func threshold(_ probability: Double) -> UInt64 {
        if probability >= 1 { return .max }
        return UInt64(probability * 18_446_744_073_709_551_616.0)
    }

    /// Edges and small values find most boundary bugs; the rest of the time, uniform.
    private func biasedRandom(_ bound: UInt64) -> UInt64 {
        let r = rng.next()
        switch r & 31 {
        case 0, 1: return 0
        case 2, 3: return bound
        case 4: return min(1, bound)
        case 5: return bound == 0 ? 0 : bound - 1
        case 6...13:
            let bits = (r >> 5) % 10
            return rng.next(upTo: min(bound, (1 << bits) - 1))
        default: return rng.next(upTo: bound)
        }
    }

    private func readInteger(_ bound: UInt64) -> UInt64 {
        let width = ChoiceEncoding.byteWidth(bound)
        guard cursor + width <= bytes.count else {
            cursor = bytes.count
            return 0
        }
        var raw: UInt64 = 0
        for i in 0..<width { raw |= UInt64(bytes[cursor + i]) << (8 * UInt64(i)) }
        cursor += width
        return bound == .max ? raw : raw % (bound + 1)
    }

    private func readWeightedBool(_ probability: Double) -> UInt64 {
        guard cursor < bytes.count else { return 0 }
        let byte = bytes[cursor]
        cursor += 1
        return byte >= ChoiceEncoding.byteThreshold(probability) ? 1 : 0
    }

    // MARK: Spans, discards, events

    @inline(__always)
    public func beginSpan(_ label: String) {
        guard recordsSpans else { return }
        openSpans.append(spans.count)
        spans.append(Span(label: label, start: choices.count, end: choices.count, depth: openSpans.count - 1))
    }

    @inline(__always)
    public func endSpan() {
        guard recordsSpans, let index = openSpans.popLast() else { return }
        spans[index].end = choices.count
    }

    /// Marks the case as discarded: it is counted, not judged.
    public func discard() { isDiscarded = true }

    /// Counts a labelled event in the run's statistics (not while shrinking).
    public func event(_ name: String) { statistics?.count(event: name) }

    /// The recorded choices as bytes that `.bytes` decodes back to the same choices.
    public var encodedBytes: [UInt8] { ChoiceEncoding.bytes(choices: choices, bounds: bounds) }
}
