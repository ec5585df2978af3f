import IOMMUMutants
import IOMMUOptimized
import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// A differential check of the Isolation surface: a drawn topology, then a drawn operation
/// sequence in lockstep with the model.
public struct IsolationCheck: Sendable {
    public var stateful: StatefulOptions
    /// The contract the implementation claims; nil draws a preset per case.
    public var policy: IsolationPolicy?
    /// Builds the implementation under test for a case's topology, wired to the checkpoint.
    /// Your own invariant of the implementation, asked after every step: a sentence when it
    /// is broken (the case then fails with it), nil when it holds.
    public var invariant: (@Sendable (any IsolationSystem) -> String?)?
    public var makeImplementation: @Sendable (Topology, @escaping () -> Void) throws -> any IsolationSystem

    public init(stateful: StatefulOptions = StatefulOptions(), policy: IsolationPolicy? = nil, makeImplementation: @escaping @Sendable (Topology, @escaping () -> Void) throws -> any IsolationSystem) {
        self.stateful = stateful
        self.policy = policy
        self.makeImplementation = makeImplementation
    }

    public init(stateful: StatefulOptions = StatefulOptions(), policy: IsolationPolicy? = nil, implementation: ImplementationChoice) throws(ImplementationUnavailable) {
        let resolved = try ResolvedImplementation(implementation, IsolationMutants.catalogue)
        self.init(stateful: stateful, policy: policy) { topology, checkpoint in
            switch resolved {
            case .plugin(let plugin): return try plugin.isolation(topology, checkpoint: checkpoint)
            case .reference: return IsolationModel(topology: topology)
            case .optimized: return IsolationOptimized(topology: topology, checkpoint: checkpoint)
            case .mutant(let bug):
                let system = IsolationOptimized(topology: topology, checkpoint: checkpoint)
                system.plantedBug = bug
                return system
            }
        }
    }

    public static let kindNames = IsolationOperation.kindNames

    public func testCase() -> TestCase { testCase(recording: nil) }

    /// The JSON Lines trace of the case `bytes` decode to (`TraceRecorder.record`).
    public func recordTrace(_ bytes: [UInt8]) -> String {
        recordedTrace(bytes)
    }

    func testCase(recording recorder: TraceRecorder<IsolationTrace>?) -> TestCase {
        let stateful = self.stateful, make = self.makeImplementation, policy = self.policy
        return { stream in
            let topology = IsolationGenerator.drawTopology(stream, policy: policy)
            return differentialCase(stream, stateful, "topology", topology, invariant: invariant, recorder: recorder, trace: { IsolationTrace(topology: topology) }) {
                let monitor = IsolationMonitor(topology: topology)
                let implementation = try make(topology) { [unowned monitor] in monitor.checkpoint() }
                monitor.system = implementation
                return IsolationMachine(topology: topology, monitor: monitor, implementation: implementation)
            }
        }
    }
}
