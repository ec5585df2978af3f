import IOMMUMutants
import IOMMUSpec
import PropertyCheck

/// A prepared differential check of one surface (the four built-in ones, and any to come):
/// what `SurfaceCheck`, `Conformance.check` and the command line run without knowing which
/// surface it is.
public protocol DifferentialCheck: Sendable {
    static var surface: Surface { get }
    /// Command kind names, in the order the surface's machine numbers them.
    static var kindNames: [String] { get }
    /// One generated case: a drawn configuration, then a drawn operation sequence in lockstep.
    func testCase() -> TestCase
    /// The JSON Lines trace (docs/TRACES.md) of the case `bytes` decode to.
    func recordTrace(_ bytes: [UInt8]) -> String
}

extension DifferentialCheck {
    /// Runs the check: saved regressions first, then generated cases.
    public func run(_ configuration: CheckConfiguration) -> CheckReport {
        check(configuration, kindNames: Self.kindNames, testCase())
    }
}

/// Everything else the generic parts need of a surface: building its check from the command
/// line's words, its contract, its trace type and the axes a run may fix.
/// `SurfaceDefinitions.all` lists the surfaces; nothing else switches over `Surface`.
protocol SurfaceDefinition: DifferentialCheck {
    associatedtype Trace: LineTrace & EncodableTrace
    /// The configuration axes a run may fix, by option name (`FixedConfiguration`).
    static var fixedAxes: Set<String> { get }
    /// The check of `implementation`, with `policy` as spelled on the command line where the
    /// surface has policies, and the fixed axes (already checked against `fixedAxes`).
    static func make(_ implementation: ImplementationChoice, policy: String?, stateful: StatefulOptions, fixed: FixedConfiguration) throws(ImplementationUnavailable) -> Self
    /// The contract `iommu-check explain` prints: the rules, each with its SEMANTICS.md section.
    static func contract(policy: String?) throws(ImplementationUnavailable) -> String
    /// A case whose trace `recorder` collects (nil: none).
    func testCase(recording recorder: TraceRecorder<Trace>?) -> TestCase
}

extension SurfaceDefinition {
    func recordedTrace(_ bytes: [UInt8]) -> String {
        TraceRecorder<Trace>.record(bytes) { testCase(recording: $0) }
    }

    /// Judges a trace of this surface as it streams (`iommu-check verify`).
    static func judging(_ header: TraceHeader, line: Int) throws(TraceError) -> TraceJudging {
        try TraceJudging(Trace.self, header, line: line)
    }
}

/// The surfaces, each by its definition.
enum SurfaceDefinitions {
    static let all: [any SurfaceDefinition.Type] = [AddressSpaceCheck.self, IsolationCheck.self, ShadowCheck.self, InterruptCheck.self, ProtectedDMACheck.self]

    static func of(_ surface: Surface) -> any SurfaceDefinition.Type {
        // Every case of `Surface` has a definition: a test holds the two lists equal.
        all.first { $0.surface == surface } ?? AddressSpaceCheck.self
    }
}

extension SwitchedPolicy {
    /// A `--policy` for a surface whose policies are switched ones; nil draws one per case.
    static func commandLine(_ text: String?) throws(ImplementationUnavailable) -> Self? {
        guard let text else { return nil }
        do {
            return try Self(parsing: text)
        } catch {
            throw ImplementationUnavailable(error.description)
        }
    }

    /// The contract lines of `text`'s policy, or of every preset when it is nil.
    static func contractLines(_ text: String?) throws(ImplementationUnavailable) -> String {
        let policies = try commandLine(text).map { [(text ?? "", $0)] } ?? presets.map { ($0.name, $0.policy) }
        return policies.map { "policy \($0.0):\n" + $0.1.rules.map { "  - \($0)" }.joined(separator: "\n") }.joined(separator: "\n")
    }
}
