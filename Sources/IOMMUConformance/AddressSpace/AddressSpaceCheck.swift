import IOMMUMutants
import IOMMUOptimized
import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// Which parts of the AddressSpace configuration a run fixes; the rest is drawn per case from
/// what the case's policy allows. A fixed value is still recorded in the case's choices (a
/// forced draw), so a saved case replays under the same configuration wherever it is replayed.
public struct AddressSpaceOptions: Sendable, Hashable {
    public var policy: AddressSpacePolicy?
    public var aperture: ClosedRange<UInt64>?
    public var pageSize: UInt64?
    /// `.some(nil)` fixes "no limit".
    public var mappingLimit: Int??
    public var reservedRegions: [ReservedRegion]?
    /// Draw only what plug-in ABI version 1 can state (`PluginAddressSpace.versionOne`).
    public var abiVersion1 = false
    /// Page sizes allowed (bit k: 2^k bytes; 0: any), from a plug-in's capabilities.
    public var pageSizeMask: UInt64 = 0

    public init(policy: AddressSpacePolicy? = nil, aperture: ClosedRange<UInt64>? = nil, pageSize: UInt64? = nil, mappingLimit: Int?? = nil, reservedRegions: [ReservedRegion]? = nil) {
        self.policy = policy
        self.aperture = aperture
        self.pageSize = pageSize
        self.mappingLimit = mappingLimit
        self.reservedRegions = reservedRegions
    }

    /// Granules from one byte (virtio-iommu page_size_mask bit 0) through PAGE_SIZE / 2 (the
    /// iommufd selftest mock domain) to superpage-only configurations.
    static let pageSizes: [UInt64] = [4096, 1, 2048, 16384, 65536, 1 << 21, 1 << 30]
    static let pageWeights = [70, 8, 4, 4, 8, 4, 2]
    /// Apertures of 48, 39, 64 and 32 bits, one that starts at 1 GiB and ends below 2^39, and
    /// one that ends at 12 GiB: VFIO's IOVA ranges and virtio-iommu's input_range need not
    /// start at 0 or end at 2^n - 1. Every edge is a multiple of 1 GiB, so every page size fits.
    static let apertures: [ClosedRange<UInt64>] = [
        AddressSpaceConfiguration.aperture(width: 48), AddressSpaceConfiguration.aperture(width: 39),
        AddressSpaceConfiguration.aperture(width: 64), AddressSpaceConfiguration.aperture(width: 32),
        (1 << 30)...((1 << 39) - (1 << 30) - 1), 0...((12 << 30) - 1),
    ]
    static let apertureWeights = [50, 12, 14, 8, 8, 8]
    static let msiWindow = ReservedRegion(AddressSpaceConfiguration.x86MSIWindow, kind: .msi)
    /// One and many regions of each kind.
    static let reservedSets: [[ReservedRegion]] = [
        [msiWindow], [],
        [msiWindow, ReservedRegion(0x8000_0000...0x800F_FFFF, kind: .reserved)],
        [ReservedRegion(AddressSpaceConfiguration.x86MSIWindow, kind: .reserved)],
        [ReservedRegion(0x0...0xFFF, kind: .reserved), ReservedRegion(0x4000_0000...0x4000_FFFF, kind: .msi), msiWindow],
    ]
    static let reservedWeights = [70, 10, 8, 6, 6]
    static let reservedWeightsFullSpace = [40, 40, 8, 6, 6]

    /// Draws a configuration: policy, page size, aperture, reserved regions, mapping limit.
    /// Options the policy cannot have get weight 0 (their draw is still made, so the layout of
    /// the choices never depends on the policy).
    public func drawConfiguration(_ stream: ChoiceStream) -> AddressSpaceConfiguration {
        let presets = AddressSpacePolicy.presets.map(\.policy)
        let policy = pick(presets, weights: presets.map { (!abiVersion1 || Self.abiVersion1Presets.contains($0)) && problem(under: $0) == nil ? 1 : 0 }, fixed: self.policy, stream)
        let pageWeights = zip(Self.pageSizes, Self.pageWeights).map { policy.granules.contains($0) && (!abiVersion1 || $0 >= 4096) && allows($0) ? $1 : 0 }
        // An allowed size the list lacks (8 KiB, say) is used as a fixed one.
        let page = pick(Self.pageSizes, weights: pageWeights.contains { $0 > 0 } ? pageWeights : Self.pageWeights, fixed: pageSize ?? smallestAllowed(in: policy.granules), stream)
        let aperture = pick(Self.apertures, weights: zip(Self.apertures, Self.apertureWeights).map { !abiVersion1 || $0.lowerBound == 0 && ($0.upperBound &+ 1) & $0.upperBound == 0 ? $1 : 0 },
                            fixed: self.aperture, stream)
        let kindsStated = !abiVersion1 || !policy.msiDoorbell
        // A 64-bit aperture often comes without reserved regions: only then can mappings cover
        // all 2^64 bytes, and a byte count wrap.
        let setWeights = aperture == 0...UInt64.max ? Self.reservedWeightsFullSpace : Self.reservedWeights
        let reserved = pick(Self.reservedSets, weights: zip(Self.reservedSets, setWeights).map { kindsStated || !$0.contains { $0.kind == .msi } ? $1 : 0 },
                            fixed: reservedRegions, stream)
        let small = 1 + Int(stream.draw(upTo: 7))
        let limit = pick([AddressSpaceConfiguration.vfioMappingLimit, small], weights: [80, 20], fixed: mappingLimit ?? nil, stream)
        guard policy.hasAperture else {
            // QEMU's IOVA tree tests no range at all.
            return AddressSpaceConfiguration(pageSize: page, aperture: 0...UInt64.max, reservedRegions: [], mappingLimit: nil, policy: policy)
        }
        // A fixed limit (or a fixed "none") wins; a drawn one applies where the policy has a limit.
        let chosenLimit = mappingLimit ?? (policy.hasMappingLimit ? limit : nil)
        return AddressSpaceConfiguration(pageSize: page, aperture: aperture, reservedRegions: reserved, mappingLimit: chosenLimit, policy: policy)
    }

    private func allows(_ page: UInt64) -> Bool { pageSizeMask == 0 || pageSizeMask & page != 0 }

    /// The smallest allowed page size `granules` holds when no listed size is allowed under it.
    private func smallestAllowed(in granules: ClosedRange<UInt64>) -> UInt64? {
        guard pageSizeMask != 0, !Self.pageSizes.contains(where: { granules.contains($0) && allows($0) }) else { return nil }
        return (0...30).map { UInt64(1) << UInt64($0) }.first { allows($0) && granules.contains($0) }
    }

    /// Why the fixed axes cannot be had under `policy`, nil if they can (at once when none is
    /// fixed: the draw asks for every preset in every case).
    func problem(under policy: AddressSpacePolicy) -> String? {
        if pageSizeMask != 0 && pageSize == nil && !(0...30).contains(where: { allows(UInt64(1) << UInt64($0)) && policy.granules.contains(UInt64(1) << UInt64($0)) }) {
            return "none of the declared page sizes (\(hex(pageSizeMask))) is one \(policy) can have"
        }
        guard pageSize != nil || aperture != nil || reservedRegions != nil || mappingLimit != nil else { return nil }
        var probe = AddressSpaceConfiguration(policy: policy)
        if !policy.hasMappingLimit { probe.mappingLimit = nil }
        if !policy.hasAperture { (probe.aperture, probe.reservedRegions) = (0...UInt64.max, []) }
        if let page = pageSize { probe.pageSize = page } else if !policy.granules.contains(probe.pageSize) { probe.pageSize = policy.granules.upperBound }
        if let aperture { probe.aperture = aperture }
        if let regions = reservedRegions { probe.reservedRegions = regions }
        if let limit = mappingLimit { probe.mappingLimit = limit }
        do {
            try probe.validate()
            return nil
        } catch {
            return error.description
        }
    }

    /// The presets plug-in ABI version 1 can state, by the two halves of the policy it had.
    static let abiVersion1Presets: [AddressSpacePolicy] = [.vfioType1, .virtioIOMMU, .pageTable]

    /// A weighted pick among `options`, forced to `fixed` when given (a value outside `options`
    /// is used as is; the draw is still made, so the choice layout never shifts).
    private func pick<T: Equatable>(_ options: [T], weights: [Int], fixed: T?, _ stream: ChoiceStream) -> T {
        guard let fixed else { return options[stream.drawWeightedIndex(weights)] }
        guard let index = options.firstIndex(of: fixed), weights[index] > 0 else {
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
    /// Your own invariant of the implementation, asked after every step: a sentence when it
    /// is broken (the case then fails with it), nil when it holds.
    public var invariant: (@Sendable (any AddressSpace) -> String?)?
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
        let resolved = try ResolvedImplementation(implementation, AddressSpaceMutants.catalogue)
        let plugin = resolved.plugin
        var options = options
        if plugin?.abiVersion == 1 { options.abiVersion1 = true }
        if let capabilities = plugin?.capabilities { options = capabilities.apply(to: options) }
        try Self.validate(options)
        self.init(options: options, stateful: stateful) { configuration in
            switch resolved {
            case .plugin(let plugin): return try plugin.addressSpace(configuration)
            case .reference: return AddressSpaceModel(configuration: configuration)
            case .optimized: return AddressSpaceOptimized(configuration: configuration)
            case .mutant(let bug):
                let space = AddressSpaceOptimized(configuration: configuration)
                space.plantedBug = bug
                return space
            }
        }
    }

    public static let kindNames = AddressSpaceGenerator.kinds

    /// Refuses fixed options no case could have, with a sentence, before any case runs.
    static func validate(_ options: AddressSpaceOptions) throws(ImplementationUnavailable) {
        guard let policy = options.policy else {
            // Cases draw only policies that can have the fixed axes; there must be one.
            let presets = AddressSpacePolicy.presets.map(\.policy).filter { !options.abiVersion1 || AddressSpaceOptions.abiVersion1Presets.contains($0) }
            if !presets.contains(where: { options.problem(under: $0) == nil }), let problem = options.problem(under: presets[0]) {
                throw ImplementationUnavailable("impossible configuration under every policy: \(problem), under \(presets[0]) (and the others)")
            }
            return
        }
        if let problem = options.problem(under: policy) {
            throw ImplementationUnavailable("impossible configuration: \(problem)")
        }
        if options.abiVersion1 && !AddressSpaceOptions.abiVersion1Presets.contains(policy) {
            throw ImplementationUnavailable("policy \(policy) cannot be stated in plug-in ABI version 1 (which knows \(AddressSpaceOptions.abiVersion1Presets.map(\.description).joined(separator: ", "))): rebuild the plug-in against ABI version 2")
        }
    }

    /// The test case: a drawn configuration, then a drawn operation sequence in lockstep.
    public func testCase() -> TestCase { testCase(recording: nil) }

    /// The JSON Lines trace of the case `bytes` decode to (`TraceRecorder.record`).
    public func recordTrace(_ bytes: [UInt8]) -> String {
        recordedTrace(bytes)
    }

    func testCase(recording recorder: TraceRecorder<AddressSpaceTrace>?) -> TestCase {
        let options = self.options, stateful = self.stateful, make = self.makeImplementation
        return { stream in
            let configuration = options.drawConfiguration(stream)
            do {
                try configuration.validate()
            } catch {
                return .fail(CaseFailure(message: "the drawn configuration \(configuration) is impossible: \(error)"))
            }
            return differentialCase(stream, stateful, "configuration", configuration, invariant: invariant, recorder: recorder,
                                    trace: { AddressSpaceTrace(configuration: configuration) }) {
                AddressSpaceMachine(configuration: configuration, implementation: try make(configuration), unmapAllArguments: !options.abiVersion1)
            }
        }
    }
}
