import CIOMMUCheck
import IOMMUSpec

/// A plug-in's isolation layer, called in this process; its checkpoints reach the checker.
final class PluginIsolation: IsolationSystem, ReportsForeignFailures {
    private let library: PluginLibrary
    private let ops: iommu_check_isolation_ops
    private var handle: UnsafeMutableRawPointer?
    private let host: UnsafeMutablePointer<iommu_check_isolation_host>
    private let checkpoint: () -> Void
    private let checkpointGuard = CallbackGuard()
    private let failures = ForeignFailureBox()
    private let domainCount: Int

    init(library: PluginLibrary, topology: Topology, checkpoint: @escaping () -> Void) throws(ImplementationUnavailable) {
        guard let ops = library.isolation else {
            throw ImplementationUnavailable(library.refusals[.isolation] ?? "plug-in '\(library.name)' does not provide the isolation surface")
        }
        self.library = library
        self.ops = ops
        self.checkpoint = checkpoint
        domainCount = topology.domainOwners.count
        host = .allocate(capacity: 1)
        host.initialize(to: iommu_check_isolation_host(context: nil, checkpoint: { context in
            guard let system = CallbackContext<PluginIsolation>.owner(context, "checkpoint") else { return }
            system.checkpointGuard.run("checkpoint", system.failures, system.checkpoint)
        }))
        host.pointee.context = CallbackContext.make(self)
        let groupOf = topology.groupOfDevice.map { UInt32($0) }
        let pasid = topology.pasidCapable.map { UInt8($0 ? 1 : 0) }
        let owners = topology.domainOwners.map { UInt32($0) }
        let drivers = topology.initialDrivers.map { Self.code($0) }
        let policy = topology.policy
        handle = groupOf.withUnsafeBufferPointer { groupOf in
            pasid.withUnsafeBufferPointer { pasid in
                owners.withUnsafeBufferPointer { owners in
                    drivers.withUnsafeBufferPointer { drivers in
                        var layout = iommu_check_topology(
                            device_count: UInt32(topology.deviceCount), group_of: groupOf.baseAddress, group_count: UInt32(topology.groups.count),
                            pasid_capable: pasid.baseAddress, context_count: UInt32(topology.contexts), domain_count: UInt32(topology.domainOwners.count),
                            domain_owner: owners.baseAddress, initial_driver: drivers.baseAddress, max_pasid: topology.maxPASID,
                            interface: policy.interface == .group ? 0 : 1, pasid_support: policy.pasid == .none ? 0 : 1,
                            detached: policy.detached == .blocked ? 0 : 1, reattach: policy.reattach == .refused ? 0 : 1)
                        return ops.create!(&layout, host)
                    }
                }
            }
        }
        guard handle != nil else {
            host.deallocate()
            throw ImplementationUnavailable.refused("plug-in '\(library.name)' refused the topology \(topology)")
        }
    }

    deinit {
        ops.destroy!(handle)
        CallbackContext<PluginIsolation>.end(host.pointee.context)
        host.deallocate()
    }

    func takeForeignFailure() -> String? { failures.take() ?? LateCallbacks.take() }
    var foreignFailurePending: Bool { failures.pending }

    private func result(_ status: Int32, _ call: String) -> Result<Void, IsolationError> {
        if status == 0 { return .success(()) }
        let all = IsolationError.allCases
        guard status >= 1 && Int(status) <= all.count else {
            failures.record("\(call) returned status \(status), which is not an iommu_check_isolation_status (0 ... \(all.count))")
            return .failure(.noSuchObject)
        }
        return .failure(all[Int(status) - 1])
    }

    /// Negative numbers cannot cross the ABI; the model answers no-such-object for them.
    private func word(_ value: Int) -> UInt32 { value < 0 || value > Int(UInt32.max) ? UInt32.max : UInt32(value) }

    /// enum iommu_check_driver.
    private static func code(_ driver: Driver) -> UInt32 {
        switch driver {
        case .none: 0
        case .kernel: 1
        case .userAccess: 2
        case .driverManaged: 3
        }
    }

    func bind(device: Int, driver: Driver) -> Result<Void, IsolationError> {
        result(ops.bind!(handle, word(device), Self.code(driver)), "bind")
    }
    func claimDevice(context: Int, device: Int) -> Result<Void, IsolationError> { result(ops.claim_device!(handle, word(context), word(device)), "claim_device") }
    func releaseDevice(context: Int, device: Int) -> Result<Void, IsolationError> { result(ops.release_device!(handle, word(context), word(device)), "release_device") }
    func attachDevice(context: Int, device: Int, domain: Int) -> Result<Void, IsolationError> {
        result(ops.attach_device!(handle, word(context), word(device), word(domain)), "attach_device")
    }
    func detachDevice(context: Int, device: Int) -> Result<Void, IsolationError> { result(ops.detach_device!(handle, word(context), word(device)), "detach_device") }
    func claim(context: Int, group: Int) -> Result<Void, IsolationError> { result(ops.claim!(handle, word(context), word(group)), "claim") }
    func release(context: Int, group: Int) -> Result<Void, IsolationError> { result(ops.release!(handle, word(context), word(group)), "release") }
    func attach(context: Int, group: Int, domain: Int) -> Result<Void, IsolationError> { result(ops.attach!(handle, word(context), word(group), word(domain)), "attach") }
    func detach(context: Int, group: Int) -> Result<Void, IsolationError> { result(ops.detach!(handle, word(context), word(group)), "detach") }
    func attachPASID(context: Int, device: Int, pasid: UInt32, domain: Int) -> Result<Void, IsolationError> {
        result(ops.attach_pasid!(handle, word(context), word(device), pasid, word(domain)), "attach_pasid")
    }
    func detachPASID(context: Int, device: Int, pasid: UInt32) -> Result<Void, IsolationError> {
        result(ops.detach_pasid!(handle, word(context), word(device), pasid), "detach_pasid")
    }

    func dma(device: Int, pasid: UInt32?, iova: UInt64, access: Access) -> DMAOutcome {
        var domain: UInt32 = .max, phys: UInt64 = 0
        let status = ops.dma!(handle, word(device), pasid ?? 0, iova, UInt32(access.rawValue), &domain, &phys)
        switch status {
        case 0:
            guard Int(domain) < domainCount else {
                failures.record("dma reached domain \(domain == .max ? "(not written)" : "\(domain)"), which does not exist (the topology has \(domainCount))")
                return .noDomain
            }
            return .reached(domain: Int(domain), phys: phys)
        case 1: return .kernelDomain
        case 2: return .blocked
        case 3: return .noDomain
        case 4: return .faulted(.notMapped)
        case 5: return .faulted(.permissionDenied)
        case 6: return .faulted(.outsideAperture)
        case 7: return .bypass
        default:
            failures.record("dma returned \(status), which is not an iommu_check_dma_result (0 ... 7)")
            return .noDomain
        }
    }

    func owner(of group: Int) -> Int? {
        let owner = ops.owner!(handle, word(group))
        guard owner >= 0 else { return nil }
        guard owner <= Int64(Int32.max) else {
            failures.record("owner returned \(owner), which is neither -1 nor a context number")
            return nil
        }
        return Int(owner)
    }
}
