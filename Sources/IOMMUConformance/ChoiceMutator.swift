import Foundation
import IOMMUSpec
import PropertyCheck

/// libFuzzer's custom mutator and cross-over, working on the choice sequence an input decodes
/// to rather than on its bytes: delete, duplicate or swap whole commands, splice the commands of
/// two inputs, push one value to an edge of its range. A byte flip mostly shifts every later
/// draw (byte widths follow the bounds) or lands in a value that does not matter; these keep
/// the structure and change one thing a command does. The fuzz targets call it part of the
/// time and libFuzzer's own byte mutation otherwise (`FuzzEntry.customMutate`).
public enum ChoiceMutator {
    /// An input as the generator read it: its choices, the bound of each, and where each
    /// command's choices lie.
    struct Decoded {
        var choices: [UInt64]
        var bounds: [UInt64]
        /// Each command's span (its "continue" flag, then its draws), in order.
        var commands: [Range<Int>]
    }

    /// The surface's case decoded from `bytes`, replayed on a built-in implementation: the
    /// generator draws from the checker's own state, so the choices are those of any
    /// implementation's case.
    static func decode(_ surface: Surface, _ bytes: [UInt8]) -> Decoded? {
        let key = Key(surface: surface, bytes: bytes)
        if let hit = cache.withLock({ $0[key] }) { return hit }
        guard let check = decoders[surface] else { return nil }
        let stream = ChoiceStream(.bytes(bytes), maxChoices: FuzzEntry.maxChoices, recordsSpans: true)
        _ = check.makeTestCase()(stream)
        // A command's span holds its "continue" flag and its draws; the flag that ends the case
        // is a span of one choice.
        let commands = stream.spans.filter { $0.label == "command" && $0.depth == 0 && $0.count > 1 }.map { $0.start..<$0.end }
        let decoded = Decoded(choices: stream.choices, bounds: stream.bounds, commands: commands)
        cache.withLock { cache in
            // Inputs are mutated many times each; a bounded memo saves most decodes.
            if cache.count >= 4096 { cache.removeAll(keepingCapacity: true) }
            cache[key] = decoded
        }
        return decoded
    }

    /// A mutation of `bytes` for `seed` (the same seed gives the same mutation), at most
    /// `maxSize` bytes; nil when the input has no command to work on.
    public static func mutate(_ surface: Surface, _ bytes: [UInt8], maxSize: Int, seed: UInt32) -> [UInt8]? {
        guard var input = decode(surface, bytes), !input.choices.isEmpty else { return nil }
        var random = Xoshiro256StarStar(seed: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15)
        let commands = input.commands
        switch commands.isEmpty ? 3 : random.next(upTo: 4) {
        case 0:
            // Delete one command.
            let span = commands[Int(random.next(upTo: UInt64(commands.count - 1)))]
            input.remove(span)
        case 1:
            // Do one command twice.
            let span = commands[Int(random.next(upTo: UInt64(commands.count - 1)))]
            input.insert(Array(input.choices[span]), Array(input.bounds[span]), at: span.upperBound)
        case 2:
            // Swap two commands (the later one first).
            guard commands.count > 1 else { return nil }
            let a = Int(random.next(upTo: UInt64(commands.count - 2)))
            let b = a + 1 + Int(random.next(upTo: UInt64(commands.count - a - 2)))
            let first = commands[a], second = commands[b]
            let moved = (Array(input.choices[second]), Array(input.bounds[second]))
            input.remove(second)
            input.insert(moved.0, moved.1, at: first.lowerBound)
        default:
            // One value to an edge of its range, or anywhere in it.
            let free = input.bounds.indices.filter { input.bounds[$0] > 1 }
            guard !free.isEmpty else { return nil }
            let index = free[Int(random.next(upTo: UInt64(free.count - 1)))]
            let bound = input.bounds[index]
            let edges: [UInt64] = [0, 1, bound / 2, bound - 1, bound, random.next(upTo: bound)]
            input.choices[index] = edges[Int(random.next(upTo: UInt64(edges.count - 1)))]
        }
        return encoded(input, maxSize: maxSize)
    }

    /// The commands of `first` up to one of its command boundaries, then those of `second` from
    /// one of its boundaries: a case that does what one input did, then what the other did.
    public static func crossOver(_ surface: Surface, _ first: [UInt8], _ second: [UInt8], maxSize: Int, seed: UInt32) -> [UInt8]? {
        guard let a = decode(surface, first), let b = decode(surface, second), !b.commands.isEmpty else { return nil }
        var random = Xoshiro256StarStar(seed: UInt64(seed) &* 0xD1B5_4A32_D192_ED03)
        let cut = a.commands.isEmpty ? a.choices.count : a.commands[Int(random.next(upTo: UInt64(a.commands.count - 1)))].upperBound
        let from = b.commands[Int(random.next(upTo: UInt64(b.commands.count - 1)))].lowerBound
        let end = b.commands.last!.upperBound
        var spliced = Decoded(choices: Array(a.choices[..<cut]), bounds: Array(a.bounds[..<cut]), commands: [])
        spliced.insert(Array(b.choices[from..<end]), Array(b.bounds[from..<end]), at: cut)
        return encoded(spliced, maxSize: maxSize)
    }

    /// The bytes of `input`, cut to `maxSize` (a cut input ends early: past its end every draw
    /// reads its simplest value, and the first "continue" flag reads stop).
    private static func encoded(_ input: Decoded, maxSize: Int) -> [UInt8] {
        let bytes = ChoiceEncoding.bytes(choices: input.choices, bounds: input.bounds)
        return bytes.count <= maxSize ? bytes : Array(bytes.prefix(maxSize))
    }

    /// The check each surface decodes with, built once: the reference model where it can stand
    /// in for the implementation, else the optimized implementation (the interrupts model is no
    /// VMM over a host).
    private static let decoders: [Surface: SurfaceCheck] = {
        var checks: [Surface: SurfaceCheck] = [:]
        for surface in Surface.allCases {
            checks[surface] = (try? SurfaceCheck.make(surface, implementation: .reference)) ?? (try? SurfaceCheck.make(surface, implementation: .optimized))
        }
        return checks
    }()

    private struct Key: Hashable {
        let surface: Surface
        let bytes: [UInt8]
    }

    private static let cache = Locked<[Key: Decoded]>([:])
}

extension ChoiceMutator.Decoded {
    mutating func remove(_ span: Range<Int>) {
        choices.removeSubrange(span)
        bounds.removeSubrange(span)
    }

    mutating func insert(_ values: [UInt64], _ valueBounds: [UInt64], at position: Int) {
        choices.insert(contentsOf: values, at: position)
        bounds.insert(contentsOf: valueBounds, at: position)
    }
}

/// A value behind a lock (the fuzz hooks may be called from libFuzzer's threads).
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
