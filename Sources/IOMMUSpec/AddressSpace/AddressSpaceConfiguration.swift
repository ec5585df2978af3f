/// What an address space is configured with: page size (granule), aperture, reserved regions
/// with their kinds, a limit on the number of mappings where the interface has one, and the
/// policy (the contract of the interface it claims).
public struct AddressSpaceConfiguration: Hashable, Sendable, CustomStringConvertible {
    /// Bytes per page: the granule IOVAs, lengths and physical addresses are aligned to.
    /// A power of two from 1 byte (virtio-iommu page_size_mask bit 0) to 1 GiB.
    public var pageSize: UInt64
    /// The IOVAs a device can address: VFIO's IOVA range, iommufd's domain aperture,
    /// virtio-iommu input_range. It need not start at 0 or end at 2^n - 1.
    public var aperture: ClosedRange<UInt64>
    /// IOVA ranges that can never be mapped, each with its kind.
    public var reservedRegions: [ReservedRegion]
    /// Most mappings at once where the interface limits them (VFIO dma_entry_limit); nil: no limit.
    public var mappingLimit: Int?
    public var policy: AddressSpacePolicy

    /// The x86 MSI window (0xFEE0_0000 ... 0xFEEF_FFFF): an MSI doorbell on every x86 IOMMU.
    public static let x86MSIWindow: ClosedRange<UInt64> = 0xFEE0_0000...0xFEEF_FFFF
    /// VFIO type1's default dma_entry_limit (U16_MAX).
    public static let vfioMappingLimit = 65535

    public init(
        pageSize: UInt64 = 4096,
        aperture: ClosedRange<UInt64> = 0...(1 << 48) - 1,
        reservedRegions: [ReservedRegion] = [ReservedRegion(x86MSIWindow, kind: .msi)],
        mappingLimit: Int? = vfioMappingLimit,
        policy: AddressSpacePolicy = .vfioType1
    ) {
        self.pageSize = pageSize
        self.aperture = aperture
        self.reservedRegions = reservedRegions
        self.mappingLimit = mappingLimit
        self.policy = policy
    }

    /// The aperture `0 ... 2^width - 1`.
    public static func aperture(width: Int) -> ClosedRange<UInt64> { 0...(width >= 64 ? .max : (1 << UInt64(width)) - 1) }

    /// The last IOVA of the aperture.
    @inline(__always) public var apertureLast: UInt64 { aperture.upperBound }

    /// Address bits needed to reach the aperture's last IOVA (the page-table depth follows it).
    public var addressWidth: Int { max(1, 64 - aperture.upperBound.leadingZeroBitCount) }

    /// What makes this configuration impossible, if anything, in a sentence.
    public func validate() throws(ConfigurationProblem) {
        guard pageSize >= 1, pageSize <= 1 << 30, pageSize & (pageSize - 1) == 0 else {
            throw ConfigurationProblem("page size \(hex(pageSize)) is not a power of two between 1 byte and 1 GiB")
        }
        guard policy.granules.contains(pageSize) else {
            throw ConfigurationProblem("page size \(hex(pageSize)) is not one \(policy) can have (\(hex(policy.granules.lowerBound)) ... \(hex(policy.granules.upperBound)))")
        }
        let mask = pageSize - 1
        guard aperture.lowerBound & mask == 0, aperture.upperBound & mask == mask else {
            throw ConfigurationProblem("aperture [\(hex(aperture.lowerBound)), \(hex(aperture.upperBound))] does not start and end on \(hex(pageSize))-byte page boundaries")
        }
        if !policy.hasAperture {
            guard aperture == 0...UInt64.max, reservedRegions.isEmpty else {
                throw ConfigurationProblem("\(policy) has no aperture and no reserved regions (QEMU iova-tree.c tests neither): use the full 64-bit space and none")
            }
        }
        let sorted = reservedRegions.sorted { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.range.lowerBound <= a.range.upperBound {
            throw ConfigurationProblem("reserved regions \(a) and \(b) overlap (virtio-iommu: the device SHOULD NOT present RESV_MEM properties that overlap)")
        }
        if let mappingLimit {
            guard policy.hasMappingLimit else {
                throw ConfigurationProblem("\(policy) has no mapping limit (only VFIO type1 counts mappings, dma_entry_limit); leave it unset")
            }
            guard mappingLimit >= 1 else { throw ConfigurationProblem("mapping limit \(mappingLimit) must be at least 1") }
        }
    }

    public var description: String {
        let reserved = reservedRegions.map(\.description).joined(separator: " ")
        let limit = mappingLimit.map { ", limit \($0)" } ?? ""
        return "page \(hex(pageSize)), aperture [\(hex(aperture.lowerBound)), \(hex(aperture.upperBound))], reserved \(reserved.isEmpty ? "none" : reserved)\(limit), policy \(policy)"
    }
}

/// An IOVA range that can never be mapped, and what a DMA into it does.
public struct ReservedRegion: Hashable, Sendable, CustomStringConvertible {
    public var range: ClosedRange<UInt64>
    public var kind: ReservedKind

    public init(_ range: ClosedRange<UInt64>, kind: ReservedKind) {
        self.range = range
        self.kind = kind
    }

    public var description: String { "[\(hex(range.lowerBound)), \(hex(range.upperBound))] \(kind.rawValue)" }
}

/// The kinds of reserved region (virtio-iommu RESV_MEM subtypes; Linux IOMMU_RESV_RESERVED / _MSI).
public enum ReservedKind: String, Hashable, Sendable, CaseIterable {
    /// VIRTIO_IOMMU_RESV_MEM_T_RESERVED: "cannot be used in a MAP request"; a DMA faults.
    case reserved
    /// VIRTIO_IOMMU_RESV_MEM_T_MSI: "a doorbell for Message Signaled Interrupts"; under a
    /// policy with `msiDoorbell` a DMA reaches it untranslated (QEMU virtio_iommu_translate).
    case msi
}

/// A configuration that cannot work, with a sentence that says why.
/// A configuration that can be impossible: `validate` says why.
public protocol ValidatedConfiguration {
    func validate() throws(ConfigurationProblem)
}

public struct ConfigurationProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension AddressSpaceConfiguration: ValidatedConfiguration {}
