import IOMMUMutants
import IOMMUOptimized
import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// A differential check of the Shadow surface: a drawn configuration, then guest writes and
/// invalidations, each resync watched call by call.
public struct ShadowCheck: Sendable {
    public var stateful: StatefulOptions
    /// When set, every case uses this policy (the rest is drawn).
    public var policy: ShadowPolicy?
    public var makeImplementation: @Sendable (GuestIOMMU, ShadowHost) throws -> any ShadowSystem

    public init(stateful: StatefulOptions = StatefulOptions(), policy: ShadowPolicy? = nil,
                makeImplementation: @escaping @Sendable (GuestIOMMU, ShadowHost) throws -> any ShadowSystem) {
        self.stateful = stateful
        self.policy = policy
        self.makeImplementation = makeImplementation
    }

    public init(stateful: StatefulOptions = StatefulOptions(), policy: ShadowPolicy? = nil, implementation: ImplementationChoice) throws(ImplementationUnavailable) {
        if case .mutant(let name) = implementation, !ShadowMutants.all.contains(where: { $0.name == name }) {
            throw ImplementationUnavailable("no shadow mutant named '\(name)'; known: \(ShadowMutants.all.map(\.name).joined(separator: ", "))")
        }
        let plugin: PluginHarness? = if case .plugin(let reference) = implementation { try PluginHarness(reference, surface: .shadow) } else { nil }
        self.init(stateful: stateful, policy: policy) { guest, host in
            switch implementation {
            case .plugin: return try plugin!.shadow(guest, host)
            case .reference: return ShadowModel(guest: guest, host: host)
            case .optimized: return ShadowOptimized(guest: guest, host: host)
            case .mutant(let name):
                guard let system = ShadowMutants.make(name, guest: guest, host: host) else { throw ImplementationUnavailable("no shadow mutant named '\(name)'") }
                return system
            }
        }
    }

    public static let kindNames = ShadowOperation.kindNames

    public func testCase() -> TestCase { testCase(recording: nil) }

    /// The JSON Lines trace of the case `bytes` decode to (`TraceRecorder.record`).
    public func recordTrace(_ bytes: [UInt8]) -> String {
        TraceRecorder<ShadowTrace>.record(bytes) { testCase(recording: $0) }
    }

    func testCase(recording recorder: TraceRecorder<ShadowTrace>?) -> TestCase {
        let stateful = self.stateful, policy = self.policy, make = self.makeImplementation
        return { stream in
            let configuration = ShadowGenerator.drawConfiguration(stream, policy: policy)
            let guest = GuestIOMMU(configuration: configuration)
            let host = ShadowHost(configuration: configuration) { AddressSpaceModel(configuration: $0) }
            let implementation: any ShadowSystem
            do {
                implementation = try make(guest, host)
            } catch {
                return .fail(CaseFailure(message: "the implementation could not be created for \(configuration): \(error)"))
            }
            var machine = ShadowMachine(configuration: configuration, guest: guest, host: host, implementation: implementation)
            if let recorder {
                recorder.trace = ShadowTrace(configuration: configuration)
                machine.record = { operation, calls in
                    recorder.trace?.steps.append(.init(line: 0, operation: operation, calls: calls, host: nil))
                }
            }
            return runCase(&machine, stream, stateful, in: "configuration: \(configuration)")
        }
    }

    public func run(_ configuration: CheckConfiguration) -> CheckReport {
        check(configuration, kindNames: Self.kindNames, testCase())
    }
}
