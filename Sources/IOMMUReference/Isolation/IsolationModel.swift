import IOMMUSpec

/// The reference model of group isolation: ownership, driver binding, attach, PASID attach,
/// and where each DMA goes, stated directly. Operations are atomic here, so the model never
/// calls a checkpoint; `docs/SEMANTICS.md` gives every rule with its source.
public final class IsolationModel: IsolationSystem {
    public struct PASIDAttachment: Hashable, Sendable {
        public let device: Int
        public let pasid: UInt32
        public let domain: Int
    }

    public let topology: Topology
    public private(set) var drivers: [Driver]
    /// The owning context of each group; nil while the kernel owns it.
    public private(set) var owners: [Int?]
    /// The domain each owned group is attached to; nil is the blocking domain.
    public private(set) var attached: [Int?]
    public private(set) var pasidAttachments: [PASIDAttachment] = []
    private let domains: [AddressSpaceModel]

    public init(topology: Topology) {
        self.topology = topology
        drivers = topology.initialDrivers
        owners = Array(repeating: nil, count: topology.groups.count)
        attached = Array(repeating: nil, count: topology.groups.count)
        domains = topology.domainOwners.indices.map { Topology.makeDomain($0, AddressSpaceModel.init) }
    }

    private func group(of device: Int) -> Int { topology.groups.firstIndex { $0.contains(device) }! }

    private func exists(device: Int? = nil, group: Int? = nil, context: Int? = nil, domain: Int? = nil, pasid: UInt32? = nil) -> Bool {
        if let device, !(0..<topology.deviceCount).contains(device) { return false }
        if let group, !topology.groups.indices.contains(group) { return false }
        if let context, !(0..<topology.contexts).contains(context) { return false }
        if let domain, !topology.domainOwners.indices.contains(domain) { return false }
        if let pasid, !(1...topology.maxPASID).contains(pasid) { return false }
        return true
    }

    /// Every rule `operation` breaks, in the model's order; empty means it succeeds.
    public func violations(of operation: IsolationOperation) -> [IsolationError] {
        var broken: [IsolationError] = []
        switch operation {
        case .bind(let device, let driver):
            guard exists(device: device) else { return [.noSuchObject] }
            // iommu.c iommu_device_use_default_domain: a kernel driver cannot take a device
            // whose group a user owns (EBUSY); vfio.rst: the user's isolation would break.
            if driver == .kernel && owners[group(of: device)] != nil { broken.append(.groupOwned) }
        case .claim(let context, let group):
            guard exists(group: group, context: context) else { return [.noSuchObject] }
            // iommu.c: a group owned by another owner cannot be claimed (EBUSY/EPERM); the same
            // owner's claim is shared, not refused.
            if let owner = owners[group], owner != context { broken.append(.ownedByOther) }
            // vfio.rst: "The group is viable only when all devices in the group are either bound
            // to a vfio bus driver or not bound to any driver".
            if topology.groups[group].contains(where: { drivers[$0] == .kernel }) { broken.append(.notViable) }
        case .release(let context, let group), .detach(let context, let group):
            guard exists(group: group, context: context) else { return [.noSuchObject] }
            // Only the owner changes anything about a group.
            if owners[group] != context { broken.append(.notOwner) }
        case .attach(let context, let group, let domain):
            guard exists(group: group, context: context, domain: domain) else { return [.noSuchObject] }
            if owners[group] != context { broken.append(.notOwner) }
            // iommufd: a context's objects (domains) are its own.
            if topology.domainOwners[domain] != context { broken.append(.domainNotOwned) }
        case .attachPASID(let context, let device, let pasid, let domain):
            guard exists(device: device, context: context, domain: domain, pasid: pasid) else { return [.noSuchObject] }
            if owners[group(of: device)] != context { broken.append(.notOwner) }
            if !topology.pasidCapable[device] { broken.append(.noPASIDSupport) }
            if topology.domainOwners[domain] != context { broken.append(.domainNotOwned) }
        case .detachPASID(let context, let device, let pasid):
            guard exists(device: device, context: context, pasid: pasid) else { return [.noSuchObject] }
            if owners[group(of: device)] != context { broken.append(.notOwner) }
            if !topology.pasidCapable[device] { broken.append(.noPASIDSupport) }
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

    public func bind(device: Int, driver: Driver) -> Result<Void, IsolationError> {
        perform(.bind(device: device, driver: driver)) { drivers[device] = driver }
    }

    /// On success the group is blocked (attached to no domain) and then owned: "the group's
    /// devices are first switched to blocked DMA" (iommu.c __iommu_take_dma_ownership).
    public func claim(context: Int, group: Int) -> Result<Void, IsolationError> {
        perform(.claim(context: context, group: group)) {
            guard owners[group] != context else { return }
            attached[group] = nil
            owners[group] = context
        }
    }

    /// The group returns to the kernel: no domain of the old owner stays attached, not even
    /// through a PASID of one of its devices (iommu.c __iommu_release_dma_ownership).
    public func release(context: Int, group: Int) -> Result<Void, IsolationError> {
        perform(.release(context: context, group: group)) {
            owners[group] = nil
            attached[group] = nil
            let devices = topology.groups[group]
            pasidAttachments.removeAll { devices.contains($0.device) }
        }
    }

    /// Acts on every device of the group; attaching while attached elsewhere replaces the
    /// domain (virtio-iommu ATTACH: as if DETACH then ATTACH).
    public func attach(context: Int, group: Int, domain: Int) -> Result<Void, IsolationError> {
        perform(.attach(context: context, group: group, domain: domain)) { attached[group] = domain }
    }

    public func detach(context: Int, group: Int) -> Result<Void, IsolationError> {
        perform(.detach(context: context, group: group)) { attached[group] = nil }
    }

    /// Sub-device isolation: DMA tagged with `pasid` from `device` reaches `domain`, and only it.
    public func attachPASID(context: Int, device: Int, pasid: UInt32, domain: Int) -> Result<Void, IsolationError> {
        perform(.attachPASID(context: context, device: device, pasid: pasid, domain: domain)) {
            pasidAttachments.removeAll { $0.device == device && $0.pasid == pasid }
            pasidAttachments.append(PASIDAttachment(device: device, pasid: pasid, domain: domain))
        }
    }

    public func detachPASID(context: Int, device: Int, pasid: UInt32) -> Result<Void, IsolationError> {
        perform(.detachPASID(context: context, device: device, pasid: pasid)) {
            pasidAttachments.removeAll { $0.device == device && $0.pasid == pasid }
        }
    }

    public func dma(device: Int, pasid: UInt32?, iova: UInt64, access: Access) -> DMAOutcome {
        guard exists(device: device) else { return .noDomain }
        let group = group(of: device)
        // A group the kernel owns DMAs through the kernel's default domain.
        guard owners[group] != nil else { return .kernelDomain }
        let domain: Int
        if let pasid {
            // Tagged DMA reaches the PASID's domain, never the group's (no fall-through).
            guard let attachment = pasidAttachments.first(where: { $0.device == device && $0.pasid == pasid }) else { return .noDomain }
            domain = attachment.domain
        } else {
            // Owned but detached: the blocking domain.
            guard let groupDomain = attached[group] else { return .blocked }
            domain = groupDomain
        }
        switch domains[domain].translate(iova: iova, access: access) {
        case .success(let phys): return .reached(domain: domain, phys: phys)
        case .failure(let fault): return .faulted(fault)
        }
    }

    public func owner(of group: Int) -> Int? { topology.groups.indices.contains(group) ? owners[group] : nil }
}
