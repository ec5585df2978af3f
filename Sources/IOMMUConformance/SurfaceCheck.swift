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
        var fixed = fixed
        if surface == .addressSpace, let width = fixed.addressWidth {
            guard (1...64).contains(width) else { throw ImplementationUnavailable("--address-width \(width): expected 1 to 64 bits") }
            guard fixed.aperture == nil else { throw ImplementationUnavailable("--address-width and --aperture both set the aperture; give one") }
            fixed.aperture = AddressSpaceConfiguration.aperture(width: width)
            fixed.addressWidth = nil
        }
        try fixed.check(for: surface)
        switch surface {
        case .addressSpace:
            var options = AddressSpaceOptions(aperture: fixed.aperture, pageSize: fixed.pageSize, mappingLimit: fixed.mappingLimit, reservedRegions: fixed.reservedRegions)
            if let policy {
                do {
                    options.policy = try AddressSpacePolicy(parsing: policy)
                } catch {
                    throw ImplementationUnavailable(error.description)
                }
            }
            return SurfaceCheck(try AddressSpaceCheck(options: options, stateful: stateful, implementation: implementation))
        case .isolation:
            var policyFixed: IsolationPolicy?
            if let policy {
                do {
                    policyFixed = try IsolationPolicy(parsing: policy)
                } catch {
                    throw ImplementationUnavailable(error.description)
                }
            }
            return SurfaceCheck(try IsolationCheck(stateful: stateful, policy: policyFixed, implementation: implementation))
        case .interrupts:
            var policyFixed: InterruptPolicy?
            if let policy {
                do {
                    policyFixed = try InterruptPolicy(parsing: policy)
                } catch {
                    throw ImplementationUnavailable(error.description)
                }
            }
            var check = try InterruptCheck(stateful: stateful, policy: policyFixed, implementation: implementation)
            check.fixed = fixed
            return SurfaceCheck(check)
        case .shadow:
            let (policyFixed, host) = try ShadowCheck.parse(policy)
            var check = try ShadowCheck(stateful: stateful, policy: policyFixed, host: host, implementation: implementation)
            check.fixed = fixed
            return SurfaceCheck(check)
        }
    }

    /// The surfaces that exist.
    public static let available: [Surface] = Surface.allCases

    /// A prepared check of each surface (one built with the implementation's own factory).
    public init(_ check: AddressSpaceCheck) {
        self.init(surface: .addressSpace, kindNames: AddressSpaceCheck.kindNames, makeTestCase: { check.testCase() }, recordTrace: { check.recordTrace($0) })
    }

    public init(_ check: IsolationCheck) {
        self.init(surface: .isolation, kindNames: IsolationCheck.kindNames, makeTestCase: { check.testCase() }, recordTrace: { check.recordTrace($0) })
    }

    public init(_ check: ShadowCheck) {
        self.init(surface: .shadow, kindNames: ShadowCheck.kindNames, makeTestCase: { check.testCase() }, recordTrace: { check.recordTrace($0) })
    }

    public init(_ check: InterruptCheck) {
        self.init(surface: .interrupts, kindNames: InterruptCheck.kindNames, makeTestCase: { check.testCase() }, recordTrace: { check.recordTrace($0) })
    }
}

/// Runs one case of `machine` and prefixes a failure with the case's configuration (`context`),
/// which a reader needs before the trace makes sense.
func runCase<M: StateMachine>(_ machine: inout M, _ stream: ChoiceStream, _ stateful: StatefulOptions, in context: @autoclosure () -> String) -> CaseVerdict {
    let verdict = runCommands(&machine, stream, stateful)
    guard case .fail(var failure) = verdict else { return verdict }
    failure.message = "\(context())\n  \(failure.message)"
    return .fail(failure)
}
