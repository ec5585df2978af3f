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

    /// Runs the check: saved regressions first, then generated cases.
    public func run(_ configuration: CheckConfiguration) -> CheckReport {
        check(configuration, kindNames: kindNames, makeTestCase())
    }

    /// The check of `surface` against `implementation`, with `policy` (a preset name) where the
    /// surface has one. Errors name what is wrong: an unknown mutant, a policy the surface lacks.
    public static func make(_ surface: Surface, implementation: ImplementationChoice, policy: String? = nil, stateful: StatefulOptions = StatefulOptions()) throws(ImplementationUnavailable) -> SurfaceCheck {
        switch surface {
        case .addressSpace:
            var options = AddressSpaceOptions()
            if let policy {
                do {
                    options.policy = try AddressSpacePolicy(parsing: policy)
                } catch {
                    throw ImplementationUnavailable(error.description)
                }
            }
            let check = try AddressSpaceCheck(options: options, stateful: stateful, implementation: implementation)
            return SurfaceCheck(surface: surface, kindNames: AddressSpaceCheck.kindNames, makeTestCase: { check.testCase() }, recordTrace: { check.recordTrace($0) })
        case .isolation:
            var fixed: IsolationPolicy?
            if let policy {
                do {
                    fixed = try IsolationPolicy(parsing: policy)
                } catch {
                    throw ImplementationUnavailable(error.description)
                }
            }
            let check = try IsolationCheck(stateful: stateful, policy: fixed, implementation: implementation)
            return SurfaceCheck(surface: surface, kindNames: IsolationCheck.kindNames, makeTestCase: { check.testCase() }, recordTrace: { check.recordTrace($0) })
        case .interrupts:
            var fixed: InterruptPolicy?
            if let policy {
                do {
                    fixed = try InterruptPolicy(parsing: policy)
                } catch {
                    throw ImplementationUnavailable(error.description)
                }
            }
            let check = try InterruptCheck(stateful: stateful, policy: fixed, implementation: implementation)
            return SurfaceCheck(surface: surface, kindNames: InterruptCheck.kindNames, makeTestCase: { check.testCase() }, recordTrace: { check.recordTrace($0) })
        case .shadow:
            let (fixed, host) = try ShadowCheck.parse(policy)
            let check = try ShadowCheck(stateful: stateful, policy: fixed, host: host, implementation: implementation)
            return SurfaceCheck(surface: surface, kindNames: ShadowCheck.kindNames, makeTestCase: { check.testCase() }, recordTrace: { check.recordTrace($0) })
        }
    }

    /// The surfaces that exist.
    public static let available: [Surface] = Surface.allCases
}

/// Runs one case of `machine` and prefixes a failure with the case's configuration (`context`),
/// which a reader needs before the trace makes sense.
func runCase<M: StateMachine>(_ machine: inout M, _ stream: ChoiceStream, _ stateful: StatefulOptions, in context: @autoclosure () -> String) -> CaseVerdict {
    let verdict = runCommands(&machine, stream, stateful)
    guard case .fail(var failure) = verdict else { return verdict }
    failure.message = "\(context())\n  \(failure.message)"
    return .fail(failure)
}
