import Foundation
import IOMMUConformance
import IOMMUSpec
import PropertyCheck
import Testing

/// Checks an implementation from a Swift Testing test, in one line:
///
/// ```swift
/// import IOMMUConformanceTesting
///
/// @Test func myAddressSpaceConforms() {
///     Conformance.check(MyAddressSpace.self, policy: .vfioType1)
/// }
/// ```
///
/// A check replays the failures saved in the package (`Tests/ConformanceRegressions/`), then
/// the corpus this package ships for the surface, then generates cases (1,000 by default; the
/// `.conformance(...)` trait and `IOMMU_CHECK_SEED` / `IOMMU_CHECK_CASES` change that). A
/// failure is shrunk, saved, and recorded as one issue holding the shrunk trace, the seed and a
/// command that replays it (`swift run iommu-check replay-test ...`). The report is returned
/// for further expectations.
public enum Conformance {
    /// Cases a check generates unless the trait or `IOMMU_CHECK_CASES` says otherwise.
    public static let defaultCases = 1_000

    // MARK: A type per surface

    /// An address space built by the checker for each case's configuration.
    @discardableResult
    public static func check<Space: BuildableAddressSpace>(
        _ type: Space.Type, policy: AddressSpacePolicy? = nil, options: AddressSpaceOptions = AddressSpaceOptions(),
        invariant: (@Sendable (Space) -> String?)? = nil, name: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> CheckReport {
        check(addressSpace: { Space(configuration: $0) }, policy: policy, options: options, invariant: typed(invariant), name: name, sourceLocation: sourceLocation)
    }

    /// An isolation layer built for each case's topology, calling `checkpoint` wherever DMA
    /// could observe a change.
    @discardableResult
    public static func check<System: BuildableIsolationSystem>(
        _ type: System.Type, policy: IsolationPolicy? = nil, invariant: (@Sendable (System) -> String?)? = nil, name: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> CheckReport {
        check(isolation: { System(topology: $0, checkpoint: $1) }, policy: policy, invariant: typed(invariant), name: name, sourceLocation: sourceLocation)
    }

    /// A shadow layer built for each case over the checker's guest table and host IOMMU.
    @discardableResult
    public static func check<System: BuildableShadowSystem>(
        _ type: System.Type, policy: ShadowPolicy? = nil, host: ShadowHostPolicy? = nil, invariant: (@Sendable (System) -> String?)? = nil,
        name: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> CheckReport {
        check(shadow: { System(guest: $0, host: $1) }, policy: policy, host: host, invariant: typed(invariant), name: name, sourceLocation: sourceLocation)
    }

    /// An MSI-X virtualization layer built for each case over the checker's interrupt host.
    @discardableResult
    public static func check<System: BuildableInterruptSystem>(
        _ type: System.Type, policy: InterruptPolicy? = nil, invariant: (@Sendable (System) -> String?)? = nil, name: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> CheckReport {
        check(interrupts: { System(configuration: $0, host: $1) }, policy: policy, invariant: typed(invariant), name: name, sourceLocation: sourceLocation)
    }

    /// A protected guest's DMA layer built for each case over the checker's guest memory.
    @discardableResult
    public static func check<Layer: BuildableProtectedDMASystem>(
        _ type: Layer.Type, invariant: (@Sendable (Layer) -> String?)? = nil, name: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> CheckReport {
        check(protectedDMA: { Layer(configuration: $0, memory: $1) }, invariant: typed(invariant), name: name, sourceLocation: sourceLocation)
    }

    // MARK: A factory per surface

    @discardableResult
    public static func check(
        addressSpace make: @escaping @Sendable (AddressSpaceConfiguration) throws -> any AddressSpace, policy: AddressSpacePolicy? = nil,
        options: AddressSpaceOptions = AddressSpaceOptions(), invariant: (@Sendable (any AddressSpace) -> String?)? = nil, name: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> CheckReport {
        var options = options
        if let policy { options.policy = policy }
        var built = AddressSpaceCheck(options: options, makeImplementation: make)
        built.invariant = invariant
        return check(SurfaceCheck(built), name: name, sourceLocation: sourceLocation)
    }

    @discardableResult
    public static func check(
        isolation make: @escaping @Sendable (Topology, @escaping () -> Void) throws -> any IsolationSystem, policy: IsolationPolicy? = nil,
        invariant: (@Sendable (any IsolationSystem) -> String?)? = nil, name: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> CheckReport {
        var built = IsolationCheck(policy: policy, makeImplementation: make)
        built.invariant = invariant
        return check(SurfaceCheck(built), name: name, sourceLocation: sourceLocation)
    }

    @discardableResult
    public static func check(
        shadow make: @escaping @Sendable (GuestIOMMU, ShadowHost) throws -> any ShadowSystem, policy: ShadowPolicy? = nil, host: ShadowHostPolicy? = nil,
        invariant: (@Sendable (any ShadowSystem) -> String?)? = nil, name: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> CheckReport {
        var built = ShadowCheck(policy: policy, host: host, makeImplementation: make)
        built.invariant = invariant
        return check(SurfaceCheck(built), name: name, sourceLocation: sourceLocation)
    }

    @discardableResult
    public static func check(
        interrupts make: @escaping @Sendable (InterruptConfiguration, InterruptHost) throws -> any InterruptSystem, policy: InterruptPolicy? = nil,
        invariant: (@Sendable (any InterruptSystem) -> String?)? = nil, name: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> CheckReport {
        var built = InterruptCheck(policy: policy, makeImplementation: make)
        built.invariant = invariant
        return check(SurfaceCheck(built), name: name, sourceLocation: sourceLocation)
    }

    @discardableResult
    public static func check(
        protectedDMA make: @escaping @Sendable (ProtectedDMAConfiguration, any GuestMemoryInterface) throws -> any ProtectedDMASystem,
        invariant: (@Sendable (any ProtectedDMASystem) -> String?)? = nil, name: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> CheckReport {
        var built = ProtectedDMACheck(makeImplementation: make)
        built.invariant = invariant
        return check(SurfaceCheck(built), name: name, sourceLocation: sourceLocation)
    }

    /// An invariant of the user's type, asked of the system the checker built (always of that
    /// type, as the checker built it from the type).
    private static func typed<Concrete, Existential>(_ invariant: (@Sendable (Concrete) -> String?)?) -> (@Sendable (Existential) -> String?)? {
        guard let invariant else { return nil }
        return { system in (system as? Concrete).flatMap(invariant) }
    }

    // MARK: Any prepared check

    /// Runs `check` (a built-in implementation, a mutant, a plug-in: `SurfaceCheck.make`) as
    /// the other forms do. `name` tells two checks of one test apart (and the cases of a
    /// parameterized test, whose arguments Swift Testing does not expose); it defaults to the
    /// test's name.
    /// `regressions` is where failures are saved and replayed from (default: the package's
    /// `Tests/ConformanceRegressions/<check name>/`).
    @discardableResult
    public static func check(_ check: SurfaceCheck, name: String? = nil, regressions: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> CheckReport {
        let settings = ConformanceSettings.current
        let location = TestLocation(test: Test.current, name: name, sourceLocation: sourceLocation)
        var configuration: CheckConfiguration
        do {
            // The trait's seed and cases are defaults; the environment (a nightly job) wins.
            configuration = try CheckConfiguration.fromEnvironment(name: location.checkName, cases: settings.cases ?? defaultCases)
            if let seed = settings.seed, configuration.environment["IOMMU_CHECK_SEED"] == nil { configuration.seed = seed }
        } catch {
            let report = CheckReport(name: location.checkName, seed: 0, casesRun: 0, statistics: Statistics(), failure: nil, healthProblems: [], errors: [error.description], seconds: 0)
            Issue.record(Comment(rawValue: report.issueText), sourceLocation: sourceLocation)
            return report
        }
        if let replay = settings.replay { configuration.replay = replay }
        if settings.savesRegressions, let directory = regressions ?? location.regressionsDirectory {
            configuration.regressionsDirectory = directory
            configuration.savesRegressions = true
        }
        if settings.replaysCorpus { configuration.corpus = ShippedCorpus.inputs(of: check.surface) }
        configuration.replayCommand = { [location] base64 in location.replayCommand(base64) }
        let report = check.run(configuration)
        if !report.passed { Issue.record(Comment(rawValue: report.issueText), sourceLocation: sourceLocation) }
        return report
    }
}

/// Swift 6.2 asks that a metatype captured by a sendable closure be sendable; 6.1 has no
/// such protocol (the systems are classes, so AnyObject adds nothing there).
#if compiler(>=6.2)
public typealias BuildableMetatype = SendableMetatype
#else
public typealias BuildableMetatype = AnyObject
#endif

/// An address space the checker can build for a case from the case's configuration.
public protocol BuildableAddressSpace: AddressSpace, BuildableMetatype {
    init(configuration: AddressSpaceConfiguration)
}

/// An isolation layer the checker can build for a case's topology; it calls `checkpoint`
/// after every change DMA could observe.
public protocol BuildableIsolationSystem: IsolationSystem, BuildableMetatype {
    init(topology: Topology, checkpoint: @escaping () -> Void)
}

/// A shadow layer the checker can build over its guest table and host IOMMU.
public protocol BuildableShadowSystem: ShadowSystem, BuildableMetatype {
    init(guest: GuestIOMMU, host: ShadowHost)
}

/// An MSI-X layer the checker can build over its interrupt host.
public protocol BuildableInterruptSystem: InterruptSystem, BuildableMetatype {
    init(configuration: InterruptConfiguration, host: InterruptHost)
}

/// A protected guest's DMA layer the checker can build over its guest memory.
public protocol BuildableProtectedDMASystem: ProtectedDMASystem, BuildableMetatype {
    init(configuration: ProtectedDMAConfiguration, memory: any GuestMemoryInterface)
}
