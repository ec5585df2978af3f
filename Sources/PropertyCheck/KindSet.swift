/// A set of command kinds (at most 64), by index into a machine's `commandKinds`.
/// Swarm testing draws one per case, so each case exercises a different mix of commands.
public struct KindSet: Sendable, Equatable {
    public var bits: UInt64

    public init(bits: UInt64) { self.bits = bits }

    /// Every kind of `count`.
    public static func all(_ count: Int) -> KindSet {
        KindSet(bits: count >= 64 ? .max : (1 << UInt64(count)) - 1)
    }

    @inline(__always)
    public func contains(_ kind: Int) -> Bool { bits & (1 << UInt64(kind)) != 0 }

    /// `weights` with the weights of disabled kinds set to 0; all of `weights` if that leaves nothing.
    public func mask(_ weights: [Int]) -> [Int] {
        var masked = weights
        for index in masked.indices where !contains(index) { masked[index] = 0 }
        return masked.contains(where: { $0 > 0 }) ? masked : weights
    }

    /// Swarm draw: each kind is disabled with `disableProbability` (its simplest value, 0, keeps
    /// it enabled, so shrinking drifts toward every kind on). An empty draw enables everything.
    public static func drawSwarm(_ stream: ChoiceStream, kinds count: Int, disableProbability: Double = 0.4) -> KindSet {
        var set = KindSet.all(count)
        for kind in 0..<count where stream.drawBool(probability: disableProbability) {
            set.bits &= ~(1 << UInt64(kind))
        }
        return set.bits == 0 ? .all(count) : set
    }
}
