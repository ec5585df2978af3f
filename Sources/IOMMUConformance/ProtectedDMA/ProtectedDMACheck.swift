import IOMMUMutants
import IOMMUOptimized
import IOMMUSpec
import PropertyCheck

/// A differential check of the protected-DMA surface: a drawn protected guest, then drawn DMA
/// API calls, CPU and device accesses in lockstep with the model, over the checker's memory.
public struct ProtectedDMACheck: Sendable {
    public var stateful: StatefulOptions
    /// When set, every case uses this guest instead of drawing one.
    public var configuration: ProtectedDMAConfiguration?
    /// Your own invariant of the implementation, asked after every step: a sentence when it
    /// is broken (the case then fails with it), nil when it holds.
    public var invariant: (@Sendable (any ProtectedDMASystem) -> String?)?
    /// Builds the layer under test over the case's memory.
    public var makeImplementation: @Sendable (ProtectedDMAConfiguration, any GuestMemoryInterface) throws -> any ProtectedDMASystem

    public init(stateful: StatefulOptions = StatefulOptions(), configuration: ProtectedDMAConfiguration? = nil,
                makeImplementation: @escaping @Sendable (ProtectedDMAConfiguration, any GuestMemoryInterface) throws -> any ProtectedDMASystem) {
        self.stateful = stateful
        self.configuration = configuration
        self.makeImplementation = makeImplementation
    }

    public init(stateful: StatefulOptions = StatefulOptions(), configuration: ProtectedDMAConfiguration? = nil, implementation: ImplementationChoice) throws(ImplementationUnavailable) {
        let resolved = try ResolvedImplementation(implementation, ProtectedDMAMutants.catalogue)
        if case .reference = resolved {
            throw ImplementationUnavailable("the protected-DMA model chooses no addresses, so it is not a DMA layer by itself; check 'optimized' or a mutant")
        }
        self.init(stateful: stateful, configuration: configuration) { configuration, memory in
            switch resolved {
            case .plugin(let plugin): return try plugin.protectedDMA(configuration, memory)
            case .reference, .optimized: return ProtectedDMAOptimized(configuration: configuration, memory: memory)
            case .mutant(let bug):
                let layer = ProtectedDMAOptimized(configuration: configuration, memory: memory)
                layer.plantedBug = bug
                return layer
            }
        }
    }

    public static let kindNames = ProtectedDMAOperation.kindNames

    public func testCase() -> TestCase { testCase(recording: nil) }

    /// The JSON Lines trace of the case `bytes` decode to (`TraceRecorder.record`).
    public func recordTrace(_ bytes: [UInt8]) -> String { recordedTrace(bytes) }

    func testCase(recording recorder: TraceRecorder<ProtectedDMATrace>?) -> TestCase {
        let stateful = self.stateful, fixed = self.configuration, make = self.makeImplementation, invariant = self.invariant
        return { stream in
            let configuration = fixed ?? ProtectedDMAGenerator.drawConfiguration(stream)
            return differentialCase(stream, stateful, "guest", configuration, invariant: invariant, recorder: recorder,
                                    trace: { ProtectedDMATrace(configuration: configuration) }) {
                let memory = GuestMemory(configuration: configuration)
                return ProtectedDMAMachine(configuration: configuration, memory: memory, implementation: try make(configuration, memory))
            }
        }
    }
}
