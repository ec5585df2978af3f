import IOMMUMutants
import IOMMUOptimized
import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// Which parts of the AddressSpace configuration a run fixes; the rest is drawn per case.
/// A fixed value is still recorded in the case's choices (a forced draw), so a saved case
/// replays under the same configuration wherever it is replayed.
public struct AddressSpaceOptions: Sendable, Hashable {
    public var policy: UnmapPolicy?
    public var addressWidth: Int?
    public var pageSize: UInt64?
    public var mappingLimit: Int?
    public var reservedRegions: [ClosedRange<UInt64>]?

    public init(policy: UnmapPolicy? = nil, addressWidth: Int? = nil, pageSize: UInt64? = nil, mappingLimit: Int? = nil, reservedRegions: [ClosedRange<UInt64>]? = nil) {
        self.policy = policy
        self.addressWidth = addressWidth
        self.pageSize = pageSize
        self.mappingLimit = mappingLimit
        self.reservedRegions = reservedRegions
    }

    static let widths = [48, 39, 64, 32], widthWeights = [60, 15, 15, 10]
    static let pageSizes: [UInt64] = [4096, 16384, 65536], pageWeights = [85, 5, 10]
    static let reservedSets: [[ClosedRange<UInt64>]] = [
        [AddressSpaceConfiguration.x86MSIWindow], [],
        [AddressSpaceConfiguration.x86MSIWindow, 0x8000_0000...0x800F_FFFF],
    ]

    /// Draws a configuration: policy, aperture, page size, mapping limit, reserved regions.
    public func drawConfiguration(_ stream: ChoiceStream) -> AddressSpaceConfiguration {
        let presets = UnmapPolicy.presets.map(\.policy)
        let policy = pick(presets, weights: [1, 1, 1, 1, 1], fixed: self.policy, stream)
        let width = pick(Self.widths, weights: Self.widthWeights, fixed: addressWidth, stream)
        let page = pick(Self.pageSizes, weights: Self.pageWeights, fixed: pageSize, stream)
        let small = 1 + Int(stream.draw(upTo: 7))
        let limit = pick([65535, small], weights: [80, 20], fixed: mappingLimit, stream)
        let reserved = pick(Self.reservedSets, weights: [80, 10, 10], fixed: reservedRegions, stream)
        return AddressSpaceConfiguration(pageSize: page, addressWidth: width, reservedRegions: reserved, mappingLimit: limit, unmapPolicy: policy)
    }

    /// A weighted pick among `options`, forced to `fixed` when given (a value outside `options`
    /// is used as is; the draw is still made, so the choice layout never shifts).
    private func pick<T: Equatable>(_ options: [T], weights: [Int], fixed: T?, _ stream: ChoiceStream) -> T {
        guard let fixed else { return options[stream.drawWeightedIndex(weights)] }
        guard let index = options.firstIndex(of: fixed) else {
            _ = stream.drawWeightedIndex(weights)
            return fixed
        }
        return options[stream.drawWeightedIndex(weights, forcedTo: index)]
    }
}

/// A differential check of the AddressSpace surface: one implementation against the model.
public struct AddressSpaceCheck: Sendable {
    public var options: AddressSpaceOptions
    public var stateful: StatefulOptions
    /// Builds the implementation under test for a case's configuration.
    public var makeImplementation: @Sendable (AddressSpaceConfiguration) throws -> any AddressSpace

    public init(
        options: AddressSpaceOptions = AddressSpaceOptions(),
        stateful: StatefulOptions = StatefulOptions(),
        makeImplementation: @escaping @Sendable (AddressSpaceConfiguration) throws -> any AddressSpace
    ) {
        self.options = options
        self.stateful = stateful
        self.makeImplementation = makeImplementation
    }

    /// A check of one of the built-in implementations.
    public init(options: AddressSpaceOptions = AddressSpaceOptions(), stateful: StatefulOptions = StatefulOptions(), implementation: ImplementationChoice) throws(ImplementationUnavailable) {
        if case .mutant(let name) = implementation, AddressSpaceMutants.all.contains(where: { $0.name == name }) == false {
            let known = AddressSpaceMutants.all.map(\.name).joined(separator: ", ")
            throw ImplementationUnavailable("no address-space mutant named '\(name)'; known: \(known)")
        }
        let plugin: PluginHarness? = if case .plugin(let reference) = implementation { try PluginHarness(reference, surface: .addressSpace) } else { nil }
        self.init(options: options, stateful: stateful) { configuration in
            switch implementation {
            case .plugin: return try plugin!.addressSpace(configuration)
            case .reference: return AddressSpaceModel(configuration: configuration)
            case .optimized: return AddressSpaceOptimized(configuration: configuration)
            case .mutant(let name):
                guard let mutant = AddressSpaceMutants.make(name, configuration: configuration) else {
                    throw ImplementationUnavailable("no address-space mutant named '\(name)'")
                }
                return mutant
            }
        }
    }

    public static let kindNames = AddressSpaceGenerator.kinds

    /// The test case: a drawn configuration, then a drawn operation sequence in lockstep.
    public func testCase() -> TestCase { testCase(recording: nil) }

    /// The JSON Lines trace of the case `bytes` decode to (`TraceRecorder.record`).
    public func recordTrace(_ bytes: [UInt8]) -> String {
        TraceRecorder<AddressSpaceTrace>.record(bytes) { testCase(recording: $0) }
    }

    func testCase(recording recorder: TraceRecorder<AddressSpaceTrace>?) -> TestCase {
        let options = self.options, stateful = self.stateful, make = self.makeImplementation
        return { stream in
            let configuration = options.drawConfiguration(stream)
            let implementation: any AddressSpace
            do {
                implementation = try make(configuration)
            } catch {
                return .fail(CaseFailure(message: "the implementation could not be created for \(configuration): \(error)"))
            }
            var machine = AddressSpaceMachine(configuration: configuration, implementation: implementation)
            if let recorder {
                recorder.trace = AddressSpaceTrace(configuration: configuration)
                machine.record = { operation, outcome in
                    recorder.trace?.steps.append(.init(line: 0, operation: operation, outcome: outcome))
                }
            }
            return runCase(&machine, stream, stateful, in: "configuration: \(configuration)")
        }
    }

    public func run(_ configuration: CheckConfiguration) -> CheckReport {
        check(configuration, kindNames: Self.kindNames, testCase())
    }
}
