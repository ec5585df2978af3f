import IOMMUMutants
import IOMMUOptimized
import IOMMUSpec
import PropertyCheck

/// A differential check of the Interrupts surface: a drawn device and host, then a drawn
/// sequence of guest writes and device raises in lockstep with the model.
public struct InterruptCheck: Sendable {
    public var stateful: StatefulOptions
    /// When set, every case uses this device and host instead of drawing one.
    public var configuration: InterruptConfiguration?
    /// When set (and `configuration` is not), every drawn case uses this policy.
    public var policy: InterruptPolicy?
    /// Axes every drawn case uses (vectors, dynamic allocation); the rest is drawn.
    public var fixed = FixedConfiguration()
    /// What a plug-in declares it supports; drawn cases are moved inside it.
    public var capabilities = PluginCapabilities()
    /// Your own invariant of the implementation, asked after every step: a sentence when it
    /// is broken (the case then fails with it), nil when it holds.
    public var invariant: (@Sendable (any InterruptSystem) -> String?)?
    public var makeImplementation: @Sendable (InterruptConfiguration, InterruptHost) throws -> any InterruptSystem

    public init(stateful: StatefulOptions = StatefulOptions(), configuration: InterruptConfiguration? = nil, policy: InterruptPolicy? = nil,
                makeImplementation: @escaping @Sendable (InterruptConfiguration, InterruptHost) throws -> any InterruptSystem) {
        self.stateful = stateful
        self.configuration = configuration
        self.policy = policy
        self.makeImplementation = makeImplementation
    }

    public init(stateful: StatefulOptions = StatefulOptions(), configuration: InterruptConfiguration? = nil, policy: InterruptPolicy? = nil, implementation: ImplementationChoice) throws(ImplementationUnavailable) {
        let resolved = try ResolvedImplementation(implementation, InterruptMutants.catalogue)
        if case .reference = resolved {
            throw ImplementationUnavailable("the interrupts model is not a VMM over a host; check 'optimized' or a mutant")
        }
        self.init(stateful: stateful, configuration: configuration, policy: policy) { configuration, host in
            switch resolved {
            case .plugin(let plugin): return try plugin.interrupts(configuration, host)
            case .reference, .optimized: return InterruptOptimized(configuration: configuration, host: host)
            case .mutant(let bug):
                let system = InterruptOptimized(configuration: configuration, host: host)
                system.plantedBug = bug
                return system
            }
        }
        capabilities = resolved.plugin?.capabilities ?? PluginCapabilities()
    }

    public static let kindNames = InterruptOperation.kindNames

    public func testCase() -> TestCase { testCase(recording: nil) }

    /// The JSON Lines trace of the case `bytes` decode to (`TraceRecorder.record`).
    public func recordTrace(_ bytes: [UInt8]) -> String {
        recordedTrace(bytes)
    }

    func testCase(recording recorder: TraceRecorder<InterruptTrace>?) -> TestCase {
        let stateful = self.stateful, whole = self.configuration, policy = self.policy, make = self.makeImplementation, axes = self.fixed, capabilities = self.capabilities
        return { stream in
            let drawn = axes.apply(to: capabilities.apply(to: InterruptGenerator.drawConfiguration(stream, policy: policy)))
            let configuration = whole ?? drawn
            return differentialCase(stream, stateful, "device", configuration, invariant: invariant, recorder: recorder,
                                    trace: { InterruptTrace(configuration: configuration) }) {
                let host = InterruptHost(configuration: configuration)
                let implementation = try make(configuration, host)
                host.system = implementation
                return InterruptMachine(configuration: configuration, host: host, implementation: implementation)
            }
        }
    }

    /// Host SET_IRQS-style calls per guest write over `cases` generated cases (for the
    /// benchmarks: dynamic allocation against disable-and-re-enable growth).
    public func hostCallsPerGuestWrite(cases: Int, seed: UInt64 = 1) -> Double {
        var calls = 0, writes = 0
        for index in 0..<cases {
            let stream = ChoiceStream(.random(seed: caseSeed(runSeed: seed, caseIndex: index)))
            let drawn = InterruptGenerator.drawConfiguration(stream)
            let configuration = self.configuration ?? drawn
            let host = InterruptHost(configuration: configuration)
            guard let implementation = try? makeImplementation(configuration, host) else { continue }
            host.system = implementation
            var machine = InterruptMachine(configuration: configuration, host: host, implementation: implementation)
            machine.invariant = invariant
            let counter = WriteCounter(machine: machine)
            var counted = counter
            _ = runCommands(&counted, stream, stateful)
            machine = counted.machine
            calls += host.calls
            writes += counted.writes
        }
        return writes == 0 ? 0 : Double(calls) / Double(writes)
    }
}

/// Counts the guest writes a machine runs (raises are not writes).
private struct WriteCounter: StateMachine {
    typealias Command = InterruptOperation
    static let commandKinds = InterruptMachine.commandKinds
    static let foundationalKinds = InterruptMachine.foundationalKinds
    var machine: InterruptMachine
    var writes = 0

    init(machine: InterruptMachine) { self.machine = machine }

    func drawCommand(_ stream: ChoiceStream, enabled: KindSet) -> InterruptOperation { machine.drawCommand(stream, enabled: enabled) }
    func kind(of command: InterruptOperation) -> Int { command.kind }
    mutating func step(_ command: InterruptOperation) -> StepResult {
        if case .raise = command {} else { writes += 1 }
        return machine.step(command)
    }
    func describe(_ command: InterruptOperation) -> String { command.description }
}
