import CIOMMUCheck
import IOMMUSpec

/// A plug-in's shadow layer, called in this process; it reads `guest` and programs `host`.
final class PluginShadow: ShadowSystem, ReportsForeignFailures {
    private let library: PluginLibrary
    private let ops: iommu_check_shadow_ops
    private var handle: UnsafeMutableRawPointer?
    private let table: UnsafeMutablePointer<iommu_check_shadow_host>
    let guest: any ShadowGuestInterface
    let host: any ShadowHostInterface
    fileprivate let failures = ForeignFailureBox()

    init(library: PluginLibrary, configuration: ShadowConfiguration, guest: any ShadowGuestInterface, host: any ShadowHostInterface) throws(ImplementationUnavailable) {
        guard let ops = library.shadow else {
            throw ImplementationUnavailable("plug-in '\(library.name)' does not provide the shadow surface")
        }
        self.library = library
        self.ops = ops
        self.guest = guest
        self.host = host
        table = .allocate(capacity: 1)
        table.initialize(to: iommu_check_shadow_host(
            context: nil,
            guest_leaves: { context, domain, first, last, out, capacity in
                guard let layer = PluginShadow.unwrap(context, "guest_leaves") else { return 0 }
                let leaves = layer.guest.guestLeavesWithHost(domain: Int(domain), first: first, last: last)
                for (index, item) in leaves.prefix(max(0, capacity)).enumerated() {
                    let leaf = item.leaf
                    out?[index] = iommu_check_guest_leaf(iova: leaf.iova, size: leaf.size, gpa: leaf.gpa, host_phys: item.host, permissions: UInt32(leaf.permissions.rawValue), reserved: 0)
                }
                return leaves.count
            },
            guest_to_host: { context, gpa in PluginShadow.unwrap(context, "guest_to_host")?.guest.hostPhysical(gpa) ?? 0 },
            map: { context, domain, iova, length, phys, permissions in
                guard let layer = PluginShadow.unwrap(context, "map") else { return -1 }
                return PluginShadow.status(layer.host.map(domain: Int(domain), iova: iova, length: length, phys: phys, permissions: Permissions(rawValue: UInt8(truncatingIfNeeded: permissions))))
            },
            unmap: { context, domain, iova, length in
                guard let layer = PluginShadow.unwrap(context, "unmap") else { return -1 }
                return PluginShadow.status(layer.host.unmap(domain: Int(domain), iova: iova, length: length).map { _ in () })
            },
            replace: { context, domain, iova, length, extents, count in
                guard let layer = PluginShadow.unwrap(context, "replace") else { return -1 }
                guard count >= 0, count <= PluginAddressSpace.mostExtents, count == 0 || extents != nil else {
                    layer.failures.record("replace was called with \(count) extents at \(extents == nil ? "NULL" : "an array of that length")")
                    return -1
                }
                let list = UnsafeBufferPointer(start: extents, count: count).map { e in
                    Extent(iova: e.iova, length: e.length, phys: e.phys, permissions: Permissions(rawValue: UInt8(truncatingIfNeeded: e.permissions)))
                }
                return PluginShadow.status(layer.host.replace(domain: Int(domain), iova: iova, length: length, with: list))
            },
            notify_unmap: { context, domain, iova, length in PluginShadow.unwrap(context, "notify_unmap")?.host.notifyUnmap(domain: Int(domain), iova: iova, length: length) }))
        table.pointee.context = CallbackContext.make(self)
        var config = iommu_check_shadow_config(domain_count: UInt32(configuration.domains), address_width: UInt32(configuration.addressWidth),
                                               window: UInt32(ShadowPolicy.Window.allCases.firstIndex(of: configuration.policy.window)!),
                                               locality: UInt32(ShadowPolicy.Locality.allCases.firstIndex(of: configuration.policy.locality)!),
                                               host: UInt32(ShadowHostPolicy.allCases.firstIndex(of: configuration.host)!), reserved: 0,
                                               mapping_limit: configuration.mappingLimit.map { UInt64($0) } ?? .max)
        handle = ops.create!(&config, table)
        guard handle != nil else {
            table.deallocate()
            throw ImplementationUnavailable.refused("plug-in '\(library.name)' refused the shadow configuration \(configuration)")
        }
    }

    deinit {
        ops.destroy!(handle)
        CallbackContext<PluginShadow>.end(table.pointee.context)
        table.deallocate()
    }

    private static func unwrap(_ context: UnsafeMutableRawPointer?, _ name: String) -> PluginShadow? {
        guard let owner = CallbackContext<PluginShadow>.owner(context, name), owner.callbackGuard.onCallingThread(name, owner.failures) else { return nil }
        return owner
    }

    private let callbackGuard = CallbackGuard()

    private static func status(_ result: Result<Void, AddressSpaceError>) -> Int32 {
        switch result {
        case .success: 0
        case .failure(let error): Int32(AddressSpaceError.allCases.firstIndex(of: error)! + 1)
        }
    }

    func takeForeignFailure() -> String? { failures.take() ?? LateCallbacks.take() }
    var foreignFailurePending: Bool { failures.pending }

    func invalidate(_ invalidation: Invalidation) -> ShadowResult {
        let status: Int32 = switch invalidation {
        case .pageSelective(let domain, let iova, let order): ops.invalidate!(handle, 0, UInt32(domain), iova, UInt32(order))
        case .domain(let domain): ops.invalidate!(handle, 1, UInt32(domain), 0, 0)
        case .global: ops.invalidate!(handle, 2, 0, 0, 0)
        case .context(let domain): ops.invalidate!(handle, 3, UInt32(domain), 0, 0)
        }
        return Self.result(status, failures)
    }

    /// enum iommu_check_shadow_result; anything else is the plug-in's failure.
    static func result(_ status: Int32, _ failures: ForeignFailureBox) -> ShadowResult {
        switch status {
        case 0: return .done
        case 1: return .insufficientResources
        default:
            failures.record("invalidate returned \(status), which is not an iommu_check_shadow_result (0 or 1)")
            return .done
        }
    }
}
