import IOMMUSpec

/// Configuration axes a run fixes (`--page-size`, `--vectors`, ...); the others are drawn per
/// case. A plug-in that supports one page size, one aperture or one table size can then be
/// checked on what it supports, instead of failing every case it refuses.
public struct FixedConfiguration: Sendable, Hashable {
    /// Address space: the page granule.
    public var pageSize: UInt64?
    /// Address space: the aperture (`--aperture`, or `--address-width` for 0...2^w-1).
    public var aperture: ClosedRange<UInt64>?
    /// Address space: the reserved regions (empty: none).
    public var reservedRegions: [ReservedRegion]?
    /// Address space and shadow: the mapping limit; `.some(nil)` fixes "no limit".
    public var mappingLimit: Int??
    /// Shadow: the IOVA width.
    public var addressWidth: Int?
    /// Shadow: the number of domains.
    public var domains: Int?
    /// Interrupts: the MSI-X table size.
    public var vectors: Int?
    /// Interrupts: whether the host allocates vectors dynamically.
    public var dynamicAllocation: Bool?

    public init() {}

    /// The axes that are set, by their option names.
    var setAxes: [String] {
        var names: [String] = []
        if pageSize != nil { names.append("--page-size") }
        if aperture != nil { names.append("--aperture") }
        if reservedRegions != nil { names.append("--reserved") }
        if mappingLimit != nil { names.append("--mapping-limit") }
        if addressWidth != nil { names.append("--address-width") }
        if domains != nil { names.append("--domains") }
        if vectors != nil { names.append("--vectors") }
        if dynamicAllocation != nil { names.append("--dynamic-allocation") }
        return names
    }

    /// Refuses an axis `surface` does not have, with a sentence, before any case runs.
    func check(for surface: Surface) throws(ImplementationUnavailable) {
        let axes = SurfaceDefinitions.of(surface).fixedAxes
        let foreign = setAxes.filter { !axes.contains($0) }
        guard foreign.isEmpty else {
            throw ImplementationUnavailable("\(foreign.joined(separator: ", ")) \(foreign.count == 1 ? "is" : "are") not a setting of the \(surface) surface (its settings: \(axes.isEmpty ? "none" : axes.sorted().joined(separator: ", ")))")
        }
        if let vectors, !(1...64).contains(vectors) { throw ImplementationUnavailable("--vectors \(vectors): the ABI's tables have 1 to 64 vectors") }
    }

    /// `drawn` with the fixed shadow axes put in. A fixed mapping limit applies where the
    /// case's host has one.
    func apply(to drawn: ShadowConfiguration) -> ShadowConfiguration {
        var configuration = drawn
        if let addressWidth { configuration.addressWidth = addressWidth }
        if let domains { configuration.domains = domains }
        if let mappingLimit { configuration.mappingLimit = configuration.host.hasMappingLimit ? mappingLimit : nil }
        return configuration
    }

    /// `drawn` with the fixed interrupt axes put in.
    func apply(to drawn: InterruptConfiguration) -> InterruptConfiguration {
        var configuration = drawn
        if let vectors { configuration.vectors = vectors }
        if let dynamicAllocation { configuration.dynamicAllocation = dynamicAllocation }
        return configuration
    }
}
