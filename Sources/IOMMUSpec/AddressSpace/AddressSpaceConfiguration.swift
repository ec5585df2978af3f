/// What an address space is configured with: page size, aperture, reserved regions, a limit on
/// the number of mappings, and the unmap policy it claims.
public struct AddressSpaceConfiguration: Hashable, Sendable, CustomStringConvertible {
    /// Bytes per page; a power of two from 4 KiB to 1 GiB.
    public var pageSize: UInt64
    /// Address bits of the aperture: IOVAs `0 ... 2^addressWidth - 1` are mappable.
    public var addressWidth: Int
    /// Inclusive IOVA ranges that can never be mapped.
    public var reservedRegions: [ClosedRange<UInt64>]
    /// Most mappings that may exist at once (VFIO type1's dma_entry_limit defaults to 65535).
    public var mappingLimit: Int
    public var unmapPolicy: UnmapPolicy

    /// The x86 MSI window (0xFEE0_0000 ... 0xFEEF_FFFF), reserved on every x86 IOMMU.
    public static let x86MSIWindow: ClosedRange<UInt64> = 0xFEE0_0000...0xFEEF_FFFF

    public init(
        pageSize: UInt64 = 4096,
        addressWidth: Int = 48,
        reservedRegions: [ClosedRange<UInt64>] = [x86MSIWindow],
        mappingLimit: Int = 65535,
        unmapPolicy: UnmapPolicy = .vfioType1
    ) {
        self.pageSize = pageSize
        self.addressWidth = addressWidth
        self.reservedRegions = reservedRegions
        self.mappingLimit = mappingLimit
        self.unmapPolicy = unmapPolicy
    }

    /// The last IOVA of the aperture.
    public var apertureLast: UInt64 { addressWidth >= 64 ? .max : (1 << UInt64(addressWidth)) - 1 }

    /// What makes this configuration impossible, if anything.
    public func validate() throws(ConfigurationProblem) {
        guard pageSize >= 4096, pageSize <= 1 << 30, pageSize & (pageSize - 1) == 0 else {
            throw ConfigurationProblem("page size \(hex(pageSize)) is not a power of two between 4 KiB and 1 GiB")
        }
        let pageShift = pageSize.trailingZeroBitCount
        guard addressWidth > pageShift, addressWidth <= 64 else {
            throw ConfigurationProblem("address width \(addressWidth) must be between \(pageShift + 1) and 64 bits for \(hex(pageSize))-byte pages")
        }
        guard mappingLimit >= 1 else { throw ConfigurationProblem("mapping limit \(mappingLimit) must be at least 1") }
    }

    public var description: String {
        let reserved = reservedRegions.map { "[\(hex($0.lowerBound)), \(hex($0.upperBound))]" }.joined(separator: " ")
        return "page \(hex(pageSize)), \(addressWidth)-bit aperture, reserved \(reserved.isEmpty ? "none" : reserved), limit \(mappingLimit), policy \(unmapPolicy)"
    }
}

/// A configuration that cannot work, with a sentence that says why.
public struct ConfigurationProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
