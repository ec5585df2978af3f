/// A generator: a recipe that turns draws from a `ChoiceStream` into a value.
///
/// Generators know nothing of the engine beyond `draw`; the engine knows nothing of what they
/// build. Because every value is a function of the choices drawn, replaying the choices rebuilds
/// the value, and shrinking the choices shrinks the value, through `map`, `flatMap` and `filter`.
public struct Gen<Value>: Sendable {
    @usableFromInline let run: @Sendable (ChoiceStream) -> Value

    @inlinable
    public init(_ run: @escaping @Sendable (ChoiceStream) -> Value) { self.run = run }

    /// Draws one value. O(draws made by the recipe).
    @inlinable
    public func generate(_ stream: ChoiceStream) -> Value { run(stream) }

    /// Rebuilds the value a choice sequence describes (for inspecting a shrunk counterexample).
    public func replay(_ choices: [UInt64]) -> Value { run(ChoiceStream(.replay(choices))) }
}

extension Gen {
    /// Always `value`; draws nothing.
    public static func constant(_ value: Value) -> Gen<Value> where Value: Sendable { Gen { _ in value } }

    @inlinable
    public func map<T>(_ transform: @escaping @Sendable (Value) -> T) -> Gen<T> {
        let run = self.run
        return Gen<T> { transform(run($0)) }
    }

    /// A generator that depends on a drawn value. Shrinking still works: it acts on the choices,
    /// and the dependent generator is re-run on every candidate.
    public func flatMap<T>(_ transform: @escaping @Sendable (Value) -> Gen<T>) -> Gen<T> {
        let run = self.run
        return Gen<T> { stream in transform(run(stream)).run(stream) }
    }

    /// Keeps values that satisfy `predicate`, redrawing up to `maxTries` times; after that the
    /// case is discarded and counted (a run that discards almost everything fails its health check).
    public func filter(maxTries: Int = 3, _ predicate: @escaping @Sendable (Value) -> Bool) -> Gen<Value> {
        let run = self.run
        return Gen { stream in
            var value = run(stream)
            var tries = 1
            while !predicate(value) {
                if tries >= maxTries {
                    stream.discard()
                    return value
                }
                value = run(stream)
                tries += 1
            }
            return value
        }
    }

    /// Marks the draws of one value as a span, so the shrinker can delete or zero it as a unit.
    public func labelled(_ label: String) -> Gen<Value> {
        let run = self.run
        return Gen { stream in
            stream.beginSpan(label)
            defer { stream.endSpan() }
            return run(stream)
        }
    }
}
