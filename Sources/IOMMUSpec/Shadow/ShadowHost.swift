/// The simulated host IOMMU of the Shadow surface, owned by the checker: one address space per
/// domain with raw page-table semantics (an unmap may cover part of a mapping), plus a sink
/// for UNMAP-only consumers (vhost's device IOTLB). Every call is reported to `onCall` before
/// and after it takes effect, so the checker sees each intermediate state and can DMA between.
public final class ShadowHost {
    public enum Call: Hashable, Sendable, CustomStringConvertible {
        case map(domain: Int, iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions)
        case unmap(domain: Int, iova: UInt64, length: UInt64)
        case replace(domain: Int, iova: UInt64, length: UInt64, with: [Extent])
        case notifyUnmap(domain: Int, iova: UInt64, length: UInt64)

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
    /// Called before (`done == false`) and after (`done == true`) each call takes effect.
    public var onCall: ((Call, _ done: Bool) -> Void)?
    public private(set) var calls = 0

    /// `makeSpace` builds each domain's host address space; the checker passes the reference
    /// model, so the host it judges against is the specification itself.
    public init(configuration: ShadowConfiguration, makeSpace: (AddressSpaceConfiguration) -> any AddressSpace) {
        self.configuration = configuration
        let space = AddressSpaceConfiguration(aperture: AddressSpaceConfiguration.aperture(width: configuration.addressWidth), reservedRegions: [], mappingLimit: nil, policy: .pageTable)
        domains = (0..<configuration.domains).map { _ in makeSpace(space) }
    }

    @discardableResult
    public func map(domain: Int, iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        perform(.map(domain: domain, iova: iova, length: length, phys: phys, permissions: permissions)) {
            domains[domain].map(iova: iova, length: length, phys: phys, permissions: permissions)
        } ?? .failure(.outsideAperture)
    }

    @discardableResult
    public func unmap(domain: Int, iova: UInt64, length: UInt64) -> Result<UInt64, AddressSpaceError> {
        perform(.unmap(domain: domain, iova: iova, length: length)) {
            domains[domain].unmap(iova: iova, length: length).mapError(\.error)
        } ?? .failure(.outsideAperture)
    }

    /// Atomically replaces everything in `[iova, iova + length)` by `extents` (which must lie
    /// inside it): no DMA sees the range half-updated.
    @discardableResult
    public func replace(domain: Int, iova: UInt64, length: UInt64, with extents: [Extent]) -> Result<Void, AddressSpaceError> {
        perform(.replace(domain: domain, iova: iova, length: length, with: extents)) {
            let space = domains[domain]
            if case .failure(let failure) = space.unmap(iova: iova, length: length) { return Result<Void, AddressSpaceError>.failure(failure.error) }
            for extent in extents {
                if case .failure(let error) = space.map(iova: extent.iova, length: extent.length, phys: extent.phys, permissions: extent.permissions) {
                    return .failure(error)
                }
            }
            return .success(())
        } ?? .failure(.outsideAperture)
    }

    /// Tells UNMAP-only consumers (vhost) that `[iova, iova + length)` is gone from the guest's
    /// view: they drop whatever they cached there.
    public func notifyUnmap(domain: Int, iova: UInt64, length: UInt64) {
        _ = perform(.notifyUnmap(domain: domain, iova: iova, length: length)) { () }
    }

    /// What a device's DMA in `domain` at `iova` reaches now.
    public func translate(domain: Int, iova: UInt64, access: Access) -> Result<UInt64, TranslationFault> {
        guard domains.indices.contains(domain) else { return .failure(.notMapped) }
        return domains[domain].translate(iova: iova, access: access)
    }

    private func perform<T>(_ call: Call, _ effect: () -> T) -> T? {
        guard domains.indices.contains(call.domain) else { return nil }
        calls += 1
        onCall?(call, false)
        let result = effect()
        onCall?(call, true)
        return result
    }
}
