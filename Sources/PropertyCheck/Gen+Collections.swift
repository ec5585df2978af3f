extension Gen {
    /// One element of `elements` (which must not be empty); shrinks toward the first.
    public static func element(of elements: [Value]) -> Gen<Value> where Value: Sendable {
        precondition(!elements.isEmpty, "Gen.element(of:) needs at least one element")
        let last = UInt64(elements.count - 1)
        return Gen { elements[Int($0.drawUniform(upTo: last))] }
    }

    /// One of `generators`, chosen uniformly; shrinks toward the first.
    public static func oneOf(_ generators: [Gen<Value>]) -> Gen<Value> {
        precondition(!generators.isEmpty, "Gen.oneOf needs at least one generator")
        let last = UInt64(generators.count - 1)
        return Gen { stream in generators[Int(stream.drawUniform(upTo: last))].run(stream) }
    }

    /// One of `choices`, each chosen in proportion to its weight; shrinks toward the first.
    public static func frequency(_ choices: [(weight: Int, generator: Gen<Value>)]) -> Gen<Value> {
        let weights = choices.map(\.weight)
        precondition(weights.allSatisfy { $0 >= 0 } && weights.reduce(0, +) > 0, "Gen.frequency needs a positive total weight")
        let generators = choices.map(\.generator)
        return Gen { stream in generators[stream.drawWeightedIndex(weights)].run(stream) }
    }

    /// An array whose length is in `count`. Each element past the minimum is preceded by a
    /// "one more" boolean and the array ends with a false one, so deleting an element's span
    /// (boolean and value) shortens the array, and truncating the choices ends it.
    @inlinable
    public func array(count: ClosedRange<Int>) -> Gen<[Value]> {
        let run = self.run
        let minimum = count.lowerBound, maximum = count.upperBound
        precondition(minimum >= 0, "array lengths are not negative")
        // Continue with the probability that makes the expected length the middle of the range.
        let extra = Double(maximum - minimum) / 2
        let continueProbability = extra / (extra + 1)
        return Gen<[Value]> { stream in
            var result: [Value] = []
            result.reserveCapacity(minimum)
            while true {
                stream.beginSpan("element")
                // At the maximum the stop is a forced draw: deleting an element's span while
                // shrinking then leaves a stop where the loop reads one, not the next value.
                let more = result.count < maximum
                    ? result.count < minimum || stream.drawBool(probability: continueProbability)
                    : stream.draw(upTo: 1, forcedTo: 0) == 1
                guard more else {
                    stream.endSpan()
                    break
                }
                result.append(run(stream))
                stream.endSpan()
            }
            return result
        }
    }
}

extension ChoiceStream {
    /// An index into `weights`, drawn in proportion to them; shrinks toward index 0.
    /// Zero weights are never drawn under random generation; replayed choices land on the
    /// nearest positive weight at or after their position.
    public func drawWeightedIndex(_ weights: [Int]) -> Int {
        let total = weights.reduce(0, +)
        return index(of: Int(drawUniform(upTo: UInt64(total - 1))), in: weights)
    }

    /// `drawWeightedIndex` with the result fixed to `forced` (see `draw(upTo:forcedTo:)`).
    public func drawWeightedIndex(_ weights: [Int], forcedTo forced: Int) -> Int {
        let total = weights.reduce(0, +)
        let point = weights.prefix(forced).reduce(0, +)
        return index(of: Int(draw(upTo: UInt64(total - 1), forcedTo: UInt64(point))), in: weights)
    }

    private func index(of drawn: Int, in weights: [Int]) -> Int {
        var point = drawn
        for (index, weight) in weights.enumerated() {
            if point < weight { return index }
            point -= weight
        }
        return weights.count - 1
    }
}
