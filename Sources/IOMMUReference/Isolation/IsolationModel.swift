import IOMMUSpec

/// The reference model of group isolation, stated as Linux keeps it (drivers/iommu/iommu.c,
/// drivers/iommu/iommufd/device.c, drivers/vfio) with the policy's switches where interfaces
/// differ. Operations are atomic here, so the model never calls a checkpoint;
/// `docs/SEMANTICS.md` ("Isolation") gives every rule with its source.
///
/// The group is the unit: it has one owner at a time, one domain for untagged DMA, and one
/// domain per PASID. Who holds it is counted as `group->owner_cnt` counts: kernel DMA-API
/// drivers bound to its devices, a group claim, or device claims of one owner.
public final class IsolationModel: IsolationSystem {
    /// One PASID of a group: its domain, and the devices that attached it (iommufd
    /// `attach->device_array`; the group API attaches for every device at once).
    public struct PASIDSlot: Hashable, Sendable {
        public var domain: Int
        public var attachers: Set<Int>
    }

    /// What one group is attached to and who holds it.
    public struct GroupState: Hashable, Sendable {
        /// The context holding the group through the group API (a VFIO container).
        public var claim: Int?
        /// The domain untagged DMA reaches; nil is the blocking (or bypass) state while owned.
        public var domain: Int?
        /// Devices attached through the device API (the group stays attached while any is).
        public var attachers: Set<Int> = []
        public var pasids: [UInt32: PASIDSlot] = [:]
    }

    public let topology: Topology
    // (Unchecked exclusivity: a model is used from one thread, and the runtime check cost more
    // than the rules.)
    @exclusivity(unchecked) public private(set) var drivers: [Driver]
    /// The context each device is claimed by through the device API.
    @exclusivity(unchecked) public private(set) var claimedBy: [Int?]
    @exclusivity(unchecked) public private(set) var groups: [GroupState]
    private let groupOf: [Int]
    private let members: [[Int]]
    private let deviceCount: Int
    private let domains: [AddressSpaceModel]
    private var policy: IsolationPolicy { topology.policy }

    public init(topology: Topology) {
        self.topology = topology
        drivers = topology.initialDrivers
        claimedBy = Array(repeating: nil, count: topology.deviceCount)
        groups = Array(repeating: GroupState(), count: topology.groups.count)
        groupOf = topology.groupOfDevice
        members = topology.groups
        deviceCount = topology.deviceCount
        domains = topology.domainOwners.indices.map { Topology.makeDomain($0, AddressSpaceModel.init) }
    }

    // MARK: Who holds a group

    /// Kernel DMA-API drivers bound in the group: each holds a count with no owner
    /// (iommu_device_use_default_domain).
    private func kernelUsers(_ group: Int) -> Bool { members[group].contains { drivers[$0] == .kernel } }

    /// The user owning the group (`group->owner`), or nil while the kernel does.
    public func owner(of group: Int) -> Int? {
        guard group >= 0 && group < members.count else { return nil }
        if let claim = groups[group].claim { return claim }
        for device in members[group] { if let context = claimedBy[device] { return context } }
        return nil
    }

    /// Whether `context` may act on `device`: it claimed the device, or holds its group.
    private func holds(_ context: Int, _ device: Int) -> Bool {
        claimedBy[device] == context || groups[groupOf[device]].claim == context
    }

    private func exists(device: Int? = nil, group: Int? = nil, context: Int? = nil, domain: Int? = nil, pasid: UInt32? = nil) -> Bool {
        if let device, !(0..<deviceCount).contains(device) { return false }
        if let group, !members.indices.contains(group) { return false }
        if let context, !(0..<topology.contexts).contains(context) { return false }
        if let domain, !topology.domainOwners.indices.contains(domain) { return false }
        if let pasid, !(1...topology.maxPASID).contains(pasid) { return false }
        return true
    }

    // MARK: The rules

    /// Every rule `operation` breaks, in the model's order; empty means it succeeds. (A back
    /// end may report any of them, or another rule with the same errno.)
    public func violations(of operation: IsolationOperation) -> [IsolationError] {
        var broken: [IsolationError] = []
        switch operation {
        case .bind(let device, let driver):
            guard exists(device: device) else { return [.noSuchObject] }
            // vfio_unregister_group_dev waits until the user closes a claimed device.
            if claimedBy[device] != nil && driver != drivers[device] { broken.append(.deviceInUse) }
            // iommu_device_use_default_domain: `if (group->owner_cnt) { if (... group->owner ...) return -EBUSY`.
            if driver == .kernel && drivers[device] != .kernel && owner(of: groupOf[device]) != nil { broken.append(.groupOwned) }

        case .claim(let context, let group):
            guard exists(group: group, context: context) else { return [.noSuchObject] }
            // vfio_group_fops_open: `if (group->cdev_device_open_cnt) ret = -EBUSY`.
            if members[group].contains(where: { claimedBy[$0] != nil }) { broken.append(.otherInterface) }
            // iommu_group_claim_dma_owner: `if (group->owner_cnt) { ret = -EPERM`.
            if groups[group].claim == context { broken.append(.alreadyClaimed) }
            if let owner = owner(of: group), owner != context { broken.append(.ownedByOther) }
            if kernelUsers(group) { broken.append(.notViable) }

        case .release(let context, let group), .detach(let context, let group):
            guard exists(group: group, context: context) else { return [.noSuchObject] }
            if groups[group].claim != context { broken.append(.notOwner) }

        case .attach(let context, let group, let domain):
            guard exists(group: group, context: context, domain: domain) else { return [.noSuchObject] }
            if groups[group].claim != context { broken.append(.notOwner) }
            if topology.domainOwners[domain] != context { broken.append(.domainNotOwned) }
            // __iommu_attach_group: a group on a domain other than default or blocking is EBUSY.
            if policy.reattach == .refused && groups[group].domain != nil { broken.append(.alreadyAttached) }

        case .claimDevice(let context, let device):
            guard exists(device: device, context: context) else { return [.noSuchObject] }
            let group = groupOf[device]
            // vfio_device_fops_cdev_open: no registration (no VFIO driver) is -ENODEV.
            if drivers[device] != .userAccess { broken.append(.notUserAccess) }
            // vfio_df_open: `if (device->open_count != 0 && !df->group) return -EINVAL`.
            if claimedBy[device] != nil { broken.append(.alreadyBound) }
            // vfio_device_block_group: `if (group->opened_file) ret = -EBUSY`.
            if groups[group].claim != nil { broken.append(.otherInterface) }
            // iommu_device_claim_dma_owner: `if (group->owner != owner) { ret = -EPERM`.
            if let owner = owner(of: group), owner != context { broken.append(.ownedByOther) }
            if kernelUsers(group) { broken.append(.notViable) }

        case .releaseDevice(let context, let device), .detachDevice(let context, let device):
            guard exists(device: device, context: context) else { return [.noSuchObject] }
            if claimedBy[device] != context { broken.append(.notOwner) }

        case .attachDevice(let context, let device, let domain):
            guard exists(device: device, context: context, domain: domain) else { return [.noSuchObject] }
            if claimedBy[device] != context { broken.append(.notOwner) }
            if topology.domainOwners[domain] != context { broken.append(.domainNotOwned) }
            // iommufd_hw_pagetable_attach: `if (old_hwpt && old_hwpt != hwpt) { rc = -EINVAL`;
            // an attached device replaces instead (vfio_iommufd_physical_attach_ioas).
            let state = groups[groupOf[device]]
            if !state.attachers.contains(device), let current = state.domain, current != domain { broken.append(.attachedElsewhere) }

        case .attachPASID(let context, let device, let pasid, let domain):
            guard exists(device: device, context: context, domain: domain, pasid: pasid) else { return [.noSuchObject] }
            if !holds(context, device) { broken.append(.notOwner) }
            if policy.pasid == .none || !topology.pasidCapable[device] { broken.append(.noPASIDSupport) }
            if topology.domainOwners[domain] != context { broken.append(.domainNotOwned) }
            if let slot = groups[groupOf[device]].pasids[pasid], !slot.attachers.contains(device), slot.domain != domain {
                broken.append(.attachedElsewhere)
            }

        case .detachPASID(let context, let device, let pasid):
            guard exists(device: device, context: context, pasid: pasid) else { return [.noSuchObject] }
            if !holds(context, device) { broken.append(.notOwner) }
            if policy.pasid == .none || !topology.pasidCapable[device] { broken.append(.noPASIDSupport) }

        case .dma:
            break
        }
        return broken
    }

    private func perform(_ operation: IsolationOperation, _ change: () -> Void) -> Result<Void, IsolationError> {
        if let error = violations(of: operation).first { return .failure(error) }
        change()
        return .success(())
    }

    // MARK: Drivers

    public func bind(device: Int, driver: Driver) -> Result<Void, IsolationError> {
        perform(.bind(device: device, driver: driver)) { drivers[device] = driver }
    }

    // MARK: The group API

    /// __iommu_take_dma_ownership: the blocking domain goes in before the owner is recorded.
    public func claim(context: Int, group: Int) -> Result<Void, IsolationError> {
        perform(.claim(context: context, group: group)) { groups[group] = GroupState(claim: context) }
    }

    /// __iommu_release_dma_ownership ends in the default domain. PASIDs must be detached
    /// before (it WARNs and does nothing otherwise); the release here detaches them, as a
    /// caller must.
    public func release(context: Int, group: Int) -> Result<Void, IsolationError> {
        perform(.release(context: context, group: group)) { groups[group] = GroupState() }
    }

    /// Acts on every device of the group at once.
    public func attach(context: Int, group: Int, domain: Int) -> Result<Void, IsolationError> {
        perform(.attach(context: context, group: group, domain: domain)) {
            groups[group].domain = domain
            groups[group].attachers = []
        }
    }

    public func detach(context: Int, group: Int) -> Result<Void, IsolationError> {
        perform(.detach(context: context, group: group)) {
            groups[group].domain = nil
            groups[group].attachers = []
        }
    }

    // MARK: The device API

    /// iommu_device_claim_dma_owner: the first claim blocks the group; later claims by the
    /// same owner only count.
    public func claimDevice(context: Int, device: Int) -> Result<Void, IsolationError> {
        perform(.claimDevice(context: context, device: device)) {
            if owner(of: groupOf[device]) == nil { groups[groupOf[device]] = GroupState() }
            claimedBy[device] = context
        }
    }

    /// vfio_iommufd_physical_unbind: the device's PASIDs are detached, then its RID, then
    /// iommu_device_release_dma_owner decrements; the last release restores the default domain.
    public func releaseDevice(context: Int, device: Int) -> Result<Void, IsolationError> {
        perform(.releaseDevice(context: context, device: device)) {
            let group = groupOf[device]
            for pasid in groups[group].pasids.keys { detachPASIDSlot(group, pasid, device) }
            detachRID(group, device)
            claimedBy[device] = nil
            if owner(of: group) == nil { groups[group] = GroupState() }
        }
    }

    /// vfio_iommufd_physical_attach_ioas: an attached device replaces the group's domain
    /// (iommufd_device_do_replace moves every device); another joins the group's attachment.
    public func attachDevice(context: Int, device: Int, domain: Int) -> Result<Void, IsolationError> {
        perform(.attachDevice(context: context, device: device, domain: domain)) {
            let group = groupOf[device]
            groups[group].domain = domain
            groups[group].attachers.insert(device)
        }
    }

    /// vfio_iommufd_physical_detach_ioas: a device that is not attached is left alone.
    public func detachDevice(context: Int, device: Int) -> Result<Void, IsolationError> {
        perform(.detachDevice(context: context, device: device)) { detachRID(groupOf[device], device) }
    }

    /// iommufd_hw_pagetable_detach: the group stays attached until its last attached device detaches.
    private func detachRID(_ group: Int, _ device: Int) {
        guard groups[group].attachers.remove(device) != nil, groups[group].attachers.isEmpty else { return }
        groups[group].domain = nil
    }

    // MARK: PASIDs

    /// iommu_attach_device_pasid: the group's PASID slot is taken and the domain is set on
    /// every PASID-capable device of the group; an attacher replaces (iommufd_device_replace).
    public func attachPASID(context: Int, device: Int, pasid: UInt32, domain: Int) -> Result<Void, IsolationError> {
        perform(.attachPASID(context: context, device: device, pasid: pasid, domain: domain)) {
            let group = groupOf[device]
            var slot = groups[group].pasids[pasid] ?? PASIDSlot(domain: domain, attachers: [])
            slot.domain = domain
            slot.attachers.insert(device)
            groups[group].pasids[pasid] = slot
        }
    }

    /// vfio_iommufd_physical_pasid_detach_ioas: a PASID the device did not attach is left alone.
    public func detachPASID(context: Int, device: Int, pasid: UInt32) -> Result<Void, IsolationError> {
        perform(.detachPASID(context: context, device: device, pasid: pasid)) { detachPASIDSlot(groupOf[device], pasid, device) }
    }

    /// The slot is freed (iommu_detach_device_pasid: blocked on every device) with its last attacher.
    private func detachPASIDSlot(_ group: Int, _ pasid: UInt32, _ device: Int) {
        guard var slot = groups[group].pasids[pasid], slot.attachers.remove(device) != nil else { return }
        groups[group].pasids[pasid] = slot.attachers.isEmpty ? nil : slot
    }

    // MARK: DMA

    public func dma(device: Int, pasid: UInt32?, iova: UInt64, access: Access) -> DMAOutcome {
        guard exists(device: device) else { return .noDomain }
        let group = groupOf[device]
        // A group no user owns DMAs through the kernel's default domain.
        guard owner(of: group) != nil else { return .kernelDomain }
        let domain: Int
        if let pasid {
            // __iommu_set_group_pasid skips devices with max_pasids == 0; tagged DMA never
            // falls through to the group's domain.
            guard topology.pasidCapable[device], let slot = groups[group].pasids[pasid] else { return .noDomain }
            domain = slot.domain
        } else {
            guard let attached = groups[group].domain else { return policy.detached == .bypass ? .bypass : .blocked }
            domain = attached
        }
        switch domains[domain].translate(iova: iova, access: access) {
        case .success(let phys): return .reached(domain: domain, phys: phys)
        case .failure(let fault): return .faulted(fault)
        }
    }
}
