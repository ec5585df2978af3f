import IOMMUSpec
import PropertyCheck

/// One surface's differential check, ready to run: what the command line and the fuzz jobs use
/// to treat every surface alike.
public struct SurfaceCheck: Sendable {
    public let surface: Surface
    public let kindNames: [String]
    public let makeTestCase: @Sendable () -> TestCase
    /// The JSON Lines trace of a case (docs/TRACES.md), for `--emit-trace`.
    public let recordTrace: @Sendable ([UInt8]) -> String

    /// Whether cases run in plug-in workers (a failure is then confirmed in a fresh one).
    public var inWorkers = false

    init(surface: Surface, kindNames: [String], makeTestCase: @escaping @Sendable () -> TestCase, recordTrace: @escaping @Sendable ([UInt8]) -> String) {
        self.surface = surface
        self.kindNames = kindNames
        self.makeTestCase = makeTestCase
        self.recordTrace = recordTrace
    }

    /// Runs the check: saved regressions first, then generated cases.
    public func run(_ configuration: CheckConfiguration) -> CheckReport {
        var configuration = configuration
        if inWorkers && configuration.freshStart == nil { configuration.freshStart = { WorkerPool.retireAll() } }
        return check(configuration, kindNames: kindNames, makeTestCase())
    }

    /// The check of `surface` against `implementation`, with `policy` (a preset name) where the
    /// surface has one. Errors name what is wrong: an unknown mutant, a policy the surface lacks.
    /// `fixed` fixes configuration axes of the surface (an axis it lacks is refused).
    public static func make(_ surface: Surface, implementation: ImplementationChoice, policy: String? = nil, stateful: StatefulOptions = StatefulOptions(),
                            fixed: FixedConfiguration = FixedConfiguration()) throws(ImplementationUnavailable) -> SurfaceCheck {
        var check = try build(surface, implementation: implementation, policy: policy, stateful: stateful, fixed: fixed)
        if case .plugin(let reference) = implementation, reference.workerExecutable != nil { check.inWorkers = true }
        return check
    }

    private static func build(_ surface: Surface, implementation: ImplementationChoice, policy: String?, stateful: StatefulOptions,
                              fixed: FixedConfiguration) throws(ImplementationUnavailable) -> SurfaceCheck {
        try fixed.check(for: surface)
        return SurfaceCheck(try SurfaceDefinitions.of(surface).make(implementation, policy: policy, stateful: stateful, fixed: fixed))
    }

    /// The surfaces that exist.
    public static let available: [Surface] = Surface.allCases

    /// A prepared check of any surface (one built with the implementation's own factory).
    public init<Check: DifferentialCheck>(_ check: Check) {
        self.init(surface: Check.surface, kindNames: Check.kindNames, makeTestCase: { check.testCase() }, recordTrace: { check.recordTrace($0) })
    }
}

/// A surface's differential runner, as the code around every case sees it.
protocol DifferentialMachine: StateMachine {
    associatedtype System
    associatedtype Trace: EncodableTrace
    /// The user's own invariant of the implementation, asked after every step.
    var invariant: ((System) -> String?)? { get set }
    /// Appends every step the case runs, with what the implementation did, to the trace.
    mutating func record(into recorder: TraceRecorder<Trace>)
}

/// One case around its machine, the same for every surface: the implementation built for the
/// case's configuration (a configuration it refuses is a discard, any other error a failure),
/// the user's invariant and the trace recorder set, then the commands run.
func differentialCase<Machine: DifferentialMachine>(
    _ stream: ChoiceStream, _ stateful: StatefulOptions, _ label: String, _ configuration: some CustomStringConvertible,
    invariant: ((Machine.System) -> String?)?, recorder: TraceRecorder<Machine.Trace>?, trace: () -> Machine.Trace, build: () throws -> Machine
) -> CaseVerdict {
    var machine: Machine
    do {
        machine = try build()
    } catch {
        return creationVerdict(error, "\(configuration)", stream)
    }
    machine.invariant = invariant
    if let recorder {
        recorder.trace = trace()
        machine.record(into: recorder)
    }
    return runCase(&machine, stream, stateful, in: "\(label): \(configuration)")
}

/// Runs one case of `machine` and prefixes a failure with the case's configuration (`context`),
/// which a reader needs before the trace makes sense.
func runCase<M: StateMachine>(_ machine: inout M, _ stream: ChoiceStream, _ stateful: StatefulOptions, in context: @autoclosure () -> String) -> CaseVerdict {
    let verdict = runCommands(&machine, stream, stateful)
    guard case .fail(var failure) = verdict else { return verdict }
    failure.message = "\(context())\n  \(failure.message)"
    return .fail(failure)
}
