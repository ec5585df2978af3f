/// The byte form of a choice sequence: the format of corpus files, libFuzzer inputs and saved
/// regressions. One format everywhere, so a fuzzer crash replays and shrinks like a random failure.
///
/// A draw with bound `b` takes `byteWidth(b)` bytes, little-endian; a weighted boolean takes one
/// byte compared with a threshold. Encoding writes 1 as 0xFF for bound 1, which both decoders read
/// as 1 (0xFF % 2 == 1, and 0xFF is above every threshold).
public enum ChoiceEncoding {
    /// Bytes a draw with this bound consumes: 0 for a forced value, 8 for a full 64-bit draw.
    @inline(__always)
    public static func byteWidth(_ bound: UInt64) -> Int {
        (64 - bound.leadingZeroBitCount + 7) / 8
    }

    /// A weighted boolean reads true when its byte is at least this value.
    public static func byteThreshold(_ probability: Double) -> UInt8 {
        let t = Int(((1 - probability) * 256).rounded())
        return UInt8(min(255, max(1, t)))
    }

    public static func bytes(choices: [UInt64], bounds: [UInt64]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(choices.count * 2)
        for (value, bound) in zip(choices, bounds) {
            if bound == 1 {
                out.append(value == 0 ? 0x00 : 0xFF)
                continue
            }
            var v = value
            for _ in 0..<byteWidth(bound) {
                out.append(UInt8(truncatingIfNeeded: v))
                v >>= 8
            }
        }
        return out
    }
}
