import CIOMMUCheck
import IOMMUSpec

/// What a plug-in declares it supports (`struct iommu_check_capabilities`, ABI revision 1).
/// Cases draw only inside it; an empty declaration (every field 0) allows everything.
public struct PluginCapabilities: Sendable, Hashable {
    /// Address space: bit k set allows 2^k-byte pages; 0 allows any.
    public var pageSizes: UInt64 = 0
    /// Address space: the one aperture supported.
    public var aperture: ClosedRange<UInt64>?
    /// Address space: only configurations without reserved regions.
    public var noReservedRegions = false
    /// Shadow: at most this many domains (0: any).
    public var maxDomains = 0
    /// Shadow: bit w set allows a w-bit IOVA space; 0 allows any.
    public var addressWidths: UInt64 = 0
    /// Interrupts: at most this many vectors (0: any).
    public var maxVectors = 0
    /// Interrupts: the one host kind supported (nil: either).
    public var dynamicAllocation: Bool?
    /// Address space: what the checker can see (revision 2, `unobservable`).
    public var observable = AddressSpaceObservables.all

    public init() {}

    /// Reads the C struct, refusing values no case could satisfy.
    init(_ c: iommu_check_capabilities, name: String) throws(PluginError) {
        func refuse(_ what: String) -> PluginError { PluginError("plug-in '\(name)': capabilities->\(what)") }
        guard c.page_sizes >> 31 == 0 else { throw refuse("page_sizes \(hex(c.page_sizes)) allows pages above 1 GiB (bits 0 ... 30 only)") }
        pageSizes = c.page_sizes
        if c.aperture_last != 0 {
            guard c.aperture_first <= c.aperture_last else { throw refuse("aperture_first \(hex(c.aperture_first)) is above aperture_last \(hex(c.aperture_last))") }
            aperture = c.aperture_first...c.aperture_last
        }
        guard c.reserved_regions <= 1 else { throw refuse("reserved_regions is \(c.reserved_regions) (0 or 1)") }
        noReservedRegions = c.reserved_regions == 1
        guard c.max_domains <= 8 else { throw refuse("max_domains is \(c.max_domains); the checker draws 1 to 8, so 0 (any) or 1 ... 8") }
        maxDomains = Int(c.max_domains)
        guard c.address_widths == 0 || c.address_widths & Self.shadowWidths != 0 else {
            throw refuse("address_widths \(hex(c.address_widths)) has none of the widths the checker draws (39, 48, 57)")
        }
        addressWidths = c.address_widths
        guard c.max_vectors <= 64 else { throw refuse("max_vectors is \(c.max_vectors) (1 ... 64, or 0 for any)") }
        maxVectors = Int(c.max_vectors)
        guard c.dynamic_allocation <= 2 else { throw refuse("dynamic_allocation is \(c.dynamic_allocation) (0 either, 1 without, 2 with)") }
        dynamicAllocation = c.dynamic_allocation == 0 ? nil : c.dynamic_allocation == 2
        let known = IOMMU_CHECK_UNOBSERVABLE_MAPPINGS | IOMMU_CHECK_UNOBSERVABLE_FAULT_REASONS
        guard c.unobservable & ~known == 0 else { throw refuse("unobservable is \(hex(UInt64(c.unobservable))) (bits IOMMU_CHECK_UNOBSERVABLE_MAPPINGS and _FAULT_REASONS only)") }
        if c.unobservable & IOMMU_CHECK_UNOBSERVABLE_MAPPINGS != 0 { observable.remove(.mappings) }
        if c.unobservable & IOMMU_CHECK_UNOBSERVABLE_FAULT_REASONS != 0 { observable.remove(.faultReasons) }
    }

    static let shadowWidths: UInt64 = 1 << 39 | 1 << 48 | 1 << 57

    /// The declaration as words for the worker's hello, and back.
    var words: [UInt64] {
        [pageSizes, aperture?.lowerBound ?? 0, aperture?.upperBound ?? 0, noReservedRegions ? 1 : 0, UInt64(maxDomains), addressWidths,
         UInt64(maxVectors), dynamicAllocation.map { $0 ? 2 : 1 } ?? 0, UInt64(unobservableBits)]
    }

    /// `observable` as the C field spells it.
    private var unobservableBits: UInt32 {
        (observable.contains(.mappings) ? 0 : IOMMU_CHECK_UNOBSERVABLE_MAPPINGS) | (observable.contains(.faultReasons) ? 0 : IOMMU_CHECK_UNOBSERVABLE_FAULT_REASONS)
    }

    init?(words: ArraySlice<UInt64>) {
        guard words.count == 9 else { return nil }
        let w = Array(words)
        var c = iommu_check_capabilities()
        (c.page_sizes, c.aperture_first, c.aperture_last) = (w[0], w[1], w[2])
        (c.reserved_regions, c.max_domains, c.address_widths) = (UInt32(truncatingIfNeeded: w[3]), UInt32(truncatingIfNeeded: w[4]), w[5])
        (c.max_vectors, c.dynamic_allocation) = (UInt32(truncatingIfNeeded: w[6]), UInt32(truncatingIfNeeded: w[7]))
        c.unobservable = UInt32(truncatingIfNeeded: w[8])
        guard let read = try? PluginCapabilities(c, name: "") else { return nil }
        self = read
    }

    /// The address-space options with the declaration folded in (a value fixed by the run wins).
    func apply(to options: AddressSpaceOptions) -> AddressSpaceOptions {
        var options = options
        if options.pageSize == nil { options.pageSizeMask = pageSizes }
        if options.aperture == nil { options.aperture = aperture }
        if noReservedRegions && options.reservedRegions == nil { options.reservedRegions = [] }
        return options
    }

    /// `drawn` moved inside the declaration: the nearest allowed width, at most `maxDomains`.
    func apply(to drawn: ShadowConfiguration) -> ShadowConfiguration {
        var configuration = drawn
        if addressWidths != 0 && addressWidths >> UInt64(configuration.addressWidth) & 1 == 0 {
            let allowed = [39, 48, 57].filter { addressWidths >> UInt64($0) & 1 != 0 }
            configuration.addressWidth = allowed.min { abs($0 - drawn.addressWidth) < abs($1 - drawn.addressWidth) } ?? drawn.addressWidth
        }
        if maxDomains > 0 { configuration.domains = min(configuration.domains, maxDomains) }
        return configuration
    }

    func apply(to drawn: InterruptConfiguration) -> InterruptConfiguration {
        var configuration = drawn
        if maxVectors > 0 { configuration.vectors = min(configuration.vectors, maxVectors) }
        if let dynamicAllocation { configuration.dynamicAllocation = dynamicAllocation }
        return configuration
    }
}
