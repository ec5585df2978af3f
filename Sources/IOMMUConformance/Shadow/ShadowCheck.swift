import IOMMUMutants
import IOMMUOptimized
import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// A differential check of the Shadow surface: a drawn configuration, then guest writes and
/// invalidations, each resync watched call by call.
public struct ShadowCheck: Sendable {
    public var stateful: StatefulOptions
    /// When set, every case uses this layer policy (the rest is drawn).
    public var policy: ShadowPolicy?
    /// When set, every case uses this host.
    public var host: ShadowHostPolicy?
    /// Axes every case uses (width, domains, mapping limit); the rest is drawn.
    public var fixed = FixedConfiguration()
    /// What a plug-in declares it supports; drawn cases are moved inside it.
    public var capabilities = PluginCapabilities()
    /// Your own invariant of the implementation, asked after every step: a sentence when it
    /// is broken (the case then fails with it), nil when it holds.
    public var invariant: (@Sendable (any ShadowSystem) -> String?)?
    public var makeImplementation: @Sendable (GuestIOMMU, ShadowHost) throws -> any ShadowSystem

    public init(stateful: StatefulOptions = StatefulOptions(), policy: ShadowPolicy? = nil, host: ShadowHostPolicy? = nil,
                makeImplementation: @escaping @Sendable (GuestIOMMU, ShadowHost) throws -> any ShadowSystem) {
        self.stateful = stateful
        self.policy = policy
        self.host = host
        self.makeImplementation = makeImplementation
    }

    public init(stateful: StatefulOptions = StatefulOptions(), policy: ShadowPolicy? = nil, host: ShadowHostPolicy? = nil, implementation: ImplementationChoice) throws(ImplementationUnavailable) {
        if let policy, let host {
            do {
                try ShadowConfiguration(policy: policy, host: host).validate()
            } catch {
                throw ImplementationUnavailable(error.description)
            }
        }
        let resolved = try ResolvedImplementation(implementation, ShadowMutants.catalogue)
        self.init(stateful: stateful, policy: policy, host: host) { guest, host in
            switch resolved {
            case .plugin(let plugin): return try plugin.shadow(guest, host)
            case .reference: return ShadowModel(guest: guest, host: host)
            case .optimized: return ShadowOptimized(guest: guest, host: host)
            case .mutant(let bug):
                let system = ShadowOptimized(guest: guest, host: host)
                system.plantedBug = bug
                return system
            }
        }
        capabilities = resolved.plugin?.capabilities ?? PluginCapabilities()
    }

    public static let kindNames = ShadowOperation.kindNames

    /// A `--policy` for this surface: `POLICY`, `POLICY@HOST` or `@HOST` (either part drawn
    /// per case when absent): `qemu@vfio-type1`.
    public static func parse(_ text: String?) throws(ImplementationUnavailable) -> (ShadowPolicy?, ShadowHostPolicy?) {
        guard let text else { return (nil, nil) }
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        var policy: ShadowPolicy?
        if !parts[0].isEmpty {
            do {
                policy = try ShadowPolicy(parsing: parts[0])
            } catch {
                throw ImplementationUnavailable(error.description)
            }
        }
        var host: ShadowHostPolicy?
        if parts.count == 2 {
            guard let parsed = ShadowHostPolicy(rawValue: parts[1]) else {
                throw ImplementationUnavailable("'\(parts[1])' is not a shadow host; expected one of \(ShadowHostPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            host = parsed
        }
        return (policy, host)
    }

    public func testCase() -> TestCase { testCase(recording: nil) }

    /// The JSON Lines trace of the case `bytes` decode to (`TraceRecorder.record`).
    public func recordTrace(_ bytes: [UInt8]) -> String {
        recordedTrace(bytes)
    }

    func testCase(recording recorder: TraceRecorder<ShadowTrace>?) -> TestCase {
        let stateful = self.stateful, policy = self.policy, fixedHost = self.host, make = self.makeImplementation, fixed = self.fixed, capabilities = self.capabilities
        return { stream in
            let configuration = fixed.apply(to: capabilities.apply(to: ShadowGenerator.drawConfiguration(stream, policy: policy, host: fixedHost)))
            let guest = GuestIOMMU(configuration: configuration)
            let host = ShadowHost(configuration: configuration) { AddressSpaceModel(configuration: $0) }
            return differentialCase(stream, stateful, "configuration", configuration, invariant: invariant, recorder: recorder,
                                    trace: { ShadowTrace(configuration: configuration) }) {
                ShadowMachine(configuration: configuration, guest: guest, host: host, implementation: try make(guest, host))
            }
        }
    }
}
