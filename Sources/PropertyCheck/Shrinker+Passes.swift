/// The shrink passes, each one idea. Each returns true if it improved the best sequence.
/// Order matters: structure first (delete whole commands, then chunks), then values.
extension Shrinker {
    static var passes: [(inout Shrinker) -> Bool] {[
        { $0.deleteTopLevelSpanRuns() },
        { $0.deleteSpans() },
        { $0.deleteChunks() },
        { $0.zeroSpans() },
        { $0.minimizeValues() },
        { $0.redistributePairs() },
        { $0.lowerPairsTogether() },
        { $0.sortAdjacent() },
        { $0.decrementAndDeleteSpan() },
    ]}

    private func replacing(_ range: Range<Int>, with values: [UInt64]) -> [UInt64] {
        var candidate = best
        candidate.replaceSubrange(range, with: values)
        return candidate
    }

    private func setting(_ index: Int, to value: UInt64) -> [UInt64] {
        var candidate = best
        candidate[index] = value
        return candidate
    }

    /// Deletes runs of 8, 4, 2 consecutive top-level spans (whole commands) at once, last first.
    mutating func deleteTopLevelSpanRuns() -> Bool {
        var improved = false
        for runLength in [8, 4, 2] {
            var index = Int.max
            while true {
                let top = spans.filter { $0.depth == 0 }
                index = min(index, top.count - runLength)
                if index < 0 || exhausted { break }
                let range = top[index].start..<top[index + runLength - 1].end
                if consider(replacing(range, with: [])) { improved = true } else { index -= 1 }
            }
        }
        return improved
    }

    /// Deletes single spans, last first: whole commands (top level) before the values inside them.
    mutating func deleteSpans() -> Bool {
        var improved = false
        for topLevelOnly in [true, false] {
            var index = spans.count - 1
            while index >= 0 && !exhausted {
                if index >= spans.count { index = spans.count - 1; continue }
                let span = spans[index]
                if (topLevelOnly && span.depth != 0) || span.count == 0 { index -= 1; continue }
                if consider(replacing(span.start..<span.end, with: [])) { improved = true } else { index -= 1 }
            }
        }
        return improved
    }

    /// Deletes chunks of 8, 4, 2, 1 consecutive choices, last first.
    mutating func deleteChunks() -> Bool {
        var improved = false
        for size in [8, 4, 2, 1] {
            var index = best.count - size
            while index >= 0 && !exhausted {
                if index + size > best.count { index = best.count - size; continue }
                if consider(replacing(index..<index + size, with: [])) { improved = true } else { index -= 1 }
            }
        }
        return improved
    }

    /// Sets every choice of a span to 0 (its simplest form), then chunks of 8, 4, 2.
    mutating func zeroSpans() -> Bool {
        var improved = false
        var index = 0
        while index < spans.count && !exhausted {
            let span = spans[index]
            if best[span.start..<span.end].contains(where: { $0 != 0 }) {
                if consider(replacing(span.start..<span.end, with: Array(repeating: 0, count: span.count))) { improved = true }
            }
            index += 1
        }
        for size in [8, 4, 2] {
            var start = 0
            while start + size <= best.count && !exhausted {
                if best[start..<start + size].contains(where: { $0 != 0 }) {
                    if consider(replacing(start..<start + size, with: Array(repeating: 0, count: size))) { improved = true }
                }
                start += 1
            }
        }
        return improved
    }

    /// Minimises each choice alone: 0 if that still fails, else a binary search for the least
    /// failing value (assuming failure is monotone in it, which is usual and harmless when not).
    mutating func minimizeValues() -> Bool {
        var improved = false
        var index = 0
        while index < best.count && !exhausted {
            if best[index] > 0 { improved = minimize(at: index) || improved }
            index += 1
        }
        return improved
    }

    private mutating func minimize(at index: Int) -> Bool {
        if consider(setting(index, to: 0)) { return true }
        var improved = false
        var passing: UInt64 = 0
        var failing = best[index]
        while passing + 1 < failing && !exhausted {
            let middle = passing + (failing - passing) / 2
            if consider(setting(index, to: middle)) {
                improved = true
                // The structure may have changed under us; stop if this slot is no longer ours.
                guard index < best.count, best[index] == middle else { return true }
                failing = middle
            } else {
                passing = middle
            }
        }
        return improved
    }

    /// Pairs of choices with the same bound, a few apart.
    private func pairs(window: Int) -> [(Int, Int)] {
        var result: [(Int, Int)] = []
        for i in best.indices where bounds.indices.contains(i) && bounds[i] > 1 {
            for j in (i + 1)..<min(best.count, i + 1 + window) where bounds.indices.contains(j) && bounds[j] == bounds[i] {
                result.append((i, j))
            }
        }
        return result
    }

    /// Moves value from an earlier choice to a later one with the same bound: (a, b) -> (a-k, b+k),
    /// trying the largest move first, then halving. Reaches the canonical [1, 1000] from
    /// [583, 418], which single-value minimisation cannot.
    mutating func redistributePairs() -> Bool {
        var improved = false
        for (i, j) in pairs(window: 16) where !exhausted {
            guard j < best.count, j < bounds.count, best[i] > 0 else { continue }
            var amount = min(best[i], bounds[j] - best[j])
            while amount > 0 && !exhausted {
                if tryMove(i, j, amount) { improved = true; break }
                amount /= 2
            }
        }
        return improved
    }

    private mutating func tryMove(_ i: Int, _ j: Int, _ amount: UInt64) -> Bool {
        guard j < best.count, best[i] >= amount else { return false }
        var candidate = best
        candidate[i] -= amount
        candidate[j] += amount
        return consider(candidate)
    }

    /// Lowers two choices with the same bound by the same amount (values that must stay equal,
    /// such as a key written and then read, shrink together).
    mutating func lowerPairsTogether() -> Bool {
        var improved = false
        for (i, j) in pairs(window: 32) where !exhausted {
            guard j < best.count, best[i] > 0, best[j] > 0 else { continue }
            let most = min(best[i], best[j])
            for amount in [most, most / 2, 1] where amount > 0 {
                var candidate = best
                candidate[i] -= amount
                candidate[j] -= amount
                if consider(candidate) { improved = true; break }
            }
        }
        return improved
    }

    /// Swaps adjacent out-of-order choices, and adjacent top-level spans of equal length,
    /// whenever that makes the sequence lexicographically smaller.
    mutating func sortAdjacent() -> Bool {
        var improved = false
        var index = 0
        while index + 1 < best.count && !exhausted {
            if best[index] > best[index + 1] {
                var candidate = best
                candidate.swapAt(index, index + 1)
                if consider(candidate) { improved = true }
            }
            index += 1
        }
        var spanIndex = 0
        while !exhausted {
            let top = spans.filter { $0.depth == 0 }
            guard spanIndex + 1 < top.count else { break }
            let a = top[spanIndex], b = top[spanIndex + 1]
            if a.count == b.count, a.end == b.start, best[b.start..<b.end].lexicographicallyPrecedes(best[a.start..<a.end]) {
                let swapped = Array(best[b.start..<b.end]) + Array(best[a.start..<a.end])
                if consider(replacing(a.start..<b.end, with: swapped)) { improved = true }
            }
            spanIndex += 1
        }
        return improved
    }

    /// Lowers a small choice by one and deletes a span after it: a length or count drawn before
    /// its elements (a `flatMap` onto an array) shrinks together with one element, which neither
    /// change achieves alone.
    mutating func decrementAndDeleteSpan() -> Bool {
        var improved = false
        var index = 0
        while index < best.count && !exhausted {
            if best[index] > 0, best[index] <= 64, index < bounds.count, bounds[index] > 1 {
                for span in spans.lazy.filter({ $0.start > index && $0.count > 0 }).prefix(16) where span.end <= best.count {
                    var candidate = best
                    candidate.removeSubrange(span.start..<span.end)
                    candidate[index] -= 1
                    if consider(candidate) { improved = true; break }
                }
            }
            index += 1
        }
        return improved
    }
}
