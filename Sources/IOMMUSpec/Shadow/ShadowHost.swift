/// The simulated host IOMMU of the Shadow surface, owned by the checker: one address space per
/// domain keeping the contract of the configured host (`ShadowHostPolicy`: a raw page table,
/// VT-d's iommu API, a VFIO container, an iommufd IOAS), plus a sink for UNMAP-only consumers
/// (vhost's device IOTLB). Every call is reported to `onCall` before and after it takes
/// effect (with the error it failed with, if any), so the checker sees each intermediate state
/// and can DMA between.
public final class ShadowHost {
    public enum Call: Hashable, Sendable, CustomStringConvertible {
        case map(domain: Int, iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions)
        case unmap(domain: Int, iova: UInt64, length: UInt64)
        case replace(domain: Int, iova: UInt64, length: UInt64, with: [Extent])
        case notifyUnmap(domain: Int, iova: UInt64, length: UInt64)

        /// A call before its domain is named: what a resync plan lists.
        public enum Request: Hashable, Sendable {
            case map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions)
            case unmap(iova: UInt64, length: UInt64)
            case replace(iova: UInt64, length: UInt64, with: [Extent])
        }

        public var domain: Int {
            switch self {
            case .map(let d, _, _, _, _), .unmap(let d, _, _), .replace(let d, _, _, _), .notifyUnmap(let d, _, _): d
            }
        }

        /// The IOVA range the call acts on (nil for an empty or wrapping one).
        public var range: ClosedRange<UInt64>? {
            switch self {
            case .map(_, let iova, let length, _, _), .unmap(_, let iova, let length), .replace(_, let iova, let length, _), .notifyUnmap(_, let iova, let length):
                guard length > 0 else { return nil }
                let (last, wraps) = iova.addingReportingOverflow(length - 1)
                return wraps ? nil : iova...last
            }
        }

        public var description: String {
            switch self {
            case .map(let d, let iova, let length, let phys, let p): "host map(D\(d), \(hex(iova)), +\(hex(length)) -> \(hex(phys)) \(p))"
            case .unmap(let d, let iova, let length): "host unmap(D\(d), \(hex(iova)), +\(hex(length)))"
            case .replace(let d, let iova, let length, let extents): "host replace(D\(d), \(hex(iova)), +\(hex(length)), \(extents.count) extents)"
            case .notifyUnmap(let d, let iova, let length): "notify-unmap(D\(d), \(hex(iova)), +\(hex(length)))"
            }
        }
    }

    public let configuration: ShadowConfiguration
    public let domains: [any AddressSpace]
    /// Called before (`done == false`) and after (`done == true`) each call takes effect; after,
    /// with the error it failed with (nil on success).
    public var onCall: ((Call, _ done: Bool, _ error: AddressSpaceError?) -> Void)?
    public private(set) var calls = 0

    /// The address-space configuration of every host domain of `configuration`.
    public static func spaceConfiguration(_ configuration: ShadowConfiguration) -> AddressSpaceConfiguration {
        AddressSpaceConfiguration(aperture: AddressSpaceConfiguration.aperture(width: configuration.addressWidth), reservedRegions: [],
                                  mappingLimit: configuration.mappingLimit, policy: configuration.host.addressSpacePolicy)
    }

    /// `makeSpace` builds each domain's host address space; the checker passes the reference
    /// model, so the host it judges against is the specification itself.
    public init(configuration: ShadowConfiguration, makeSpace: (AddressSpaceConfiguration) -> any AddressSpace) {
        self.configuration = configuration
        let space = Self.spaceConfiguration(configuration)
        domains = (0..<configuration.domains).map { _ in makeSpace(space) }
    }

    @discardableResult
    public func map(domain: Int, iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        perform(.map(domain: domain, iova: iova, length: length, phys: phys, permissions: permissions)) {
            guard configuration.host == .vtd else { return domains[domain].map(iova: iova, length: length, phys: phys, permissions: permissions) }
            return mapLeaves(domains[domain], iova: iova, length: length, phys: phys, permissions: permissions)
        }
    }

    @discardableResult
    public func unmap(domain: Int, iova: UInt64, length: UInt64) -> Result<UInt64, AddressSpaceError> {
        perform(.unmap(domain: domain, iova: iova, length: length)) {
            domains[domain].unmap(iova: iova, length: length).mapError(\.error)
        }
    }

    /// Atomically replaces everything in `[iova, iova + length)` by `extents` (which must lie
    /// inside it): no DMA sees the range half-updated. Only a page-table host has it.
    @discardableResult
    public func replace(domain: Int, iova: UInt64, length: UInt64, with extents: [Extent]) -> Result<Void, AddressSpaceError> {
        perform(.replace(domain: domain, iova: iova, length: length, with: extents)) {
            guard configuration.host.hasReplace else { return Result<Void, AddressSpaceError>.failure(.notSupported) }
            let space = domains[domain]
            if case .failure(let failure) = space.unmap(iova: iova, length: length) { return .failure(failure.error) }
            for extent in extents {
                if case .failure(let error) = space.map(iova: extent.iova, length: extent.length, phys: extent.phys, permissions: extent.permissions) {
                    return .failure(error)
                }
            }
            return .success(())
        }
    }

    /// Tells UNMAP-only consumers (vhost) that `[iova, iova + length)` is gone from the guest's
    /// view: they drop whatever they cached there.
    public func notifyUnmap(domain: Int, iova: UInt64, length: UInt64) {
        _ = perform(.notifyUnmap(domain: domain, iova: iova, length: length)) { Result<Void, AddressSpaceError>.success(()) }
    }

    /// The iommu API on VT-d: a map becomes page-table leaves (`ShadowHostPolicy.stored`); a
    /// failed map unmaps what it mapped (`iommu_map`: `iommu_unmap(domain, orig_iova, orig_size - size)`).
    private func mapLeaves(_ space: any AddressSpace, iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        guard length > 0, iova.addingReportingOverflow(length - 1).overflow == false else { return space.map(iova: iova, length: length, phys: phys, permissions: permissions) }
        var mapped: [Extent] = []
        for leaf in configuration.host.stored(Extent(iova: iova, length: length, phys: phys, permissions: permissions)) {
            if case .failure(let error) = space.map(iova: leaf.iova, length: leaf.length, phys: leaf.phys, permissions: leaf.permissions) {
                for done in mapped { _ = space.unmap(iova: done.iova, length: done.length) }
                return .failure(error)
            }
            mapped.append(leaf)
        }
        return .success(())
    }

    /// What a device's DMA in `domain` at `iova` reaches now.
    public func translate(domain: Int, iova: UInt64, access: Access) -> Result<UInt64, TranslationFault> {
        guard domains.indices.contains(domain) else { return .failure(.notMapped) }
        return domains[domain].translate(iova: iova, access: access)
    }

    /// A call on a domain that does not exist fails (outside-aperture) without effect.
    private func perform<T>(_ call: Call, _ effect: () -> Result<T, AddressSpaceError>) -> Result<T, AddressSpaceError> {
        guard domains.indices.contains(call.domain) else { return .failure(.outsideAperture) }
        calls += 1
        onCall?(call, false, nil)
        let result = effect()
        if case .failure(let error) = result { onCall?(call, true, error) } else { onCall?(call, true, nil) }
        return result
    }
}
