import IOMMUSpec

/// The optimized isolation layer, shaped like a kernel's: group membership and kernel-bound
/// devices as bitsets, one context entry per device (what the IOMMU hardware reads), a PASID
/// table per device, ownership and attachment by group index. The DMA path reads one entry and
/// at most one dictionary; nothing on it scans.
///
/// It calls `checkpoint` after each hardware-visible change, so the checker can DMA in between.
public final class IsolationOptimized: IsolationSystem {
    /// A context entry: what untagged DMA from a device reaches.
    enum Entry: Equatable {
        case kernelDefault
        case blocked
        case domain(Int)
    }

    let topology: Topology
    private let groupOf: [Int]
    private let members: [UInt64]
    private var kernelBound: UInt64 = 0
    private var owners: [Int]
    private var attached: [Int]
    private var entries: [Entry]
    private var pasidTables: [[UInt32: Int]]
    private let domains: [AddressSpaceOptimized]
    private let checkpoint: () -> Void

    /// A planted bug (`IOMMUMutants`); nil in the real implementation.
    package var plantedBug: IsolationBug?

    public init(topology: Topology, checkpoint: @escaping () -> Void = {}) {
        self.topology = topology
        self.checkpoint = checkpoint
        groupOf = topology.groupOfDevice
        members = topology.groups.map { $0.reduce(UInt64(0)) { $0 | 1 << UInt64($1) } }
        for (device, driver) in topology.initialDrivers.enumerated() where driver == .kernel { kernelBound |= 1 << UInt64(device) }
        owners = Array(repeating: -1, count: topology.groups.count)
        attached = Array(repeating: -1, count: topology.groups.count)
        entries = Array(repeating: .kernelDefault, count: topology.deviceCount)
        pasidTables = Array(repeating: [:], count: topology.deviceCount)
        domains = topology.domainOwners.indices.map { Topology.makeDomain($0, AddressSpaceOptimized.init) }
    }

    private func validDevice(_ device: Int) -> Bool { device >= 0 && device < topology.deviceCount }
    private func validGroup(_ group: Int) -> Bool { group >= 0 && group < topology.groups.count }
    private func validContext(_ context: Int) -> Bool { context >= 0 && context < topology.contexts }
    private func validDomain(_ domain: Int) -> Bool { domain >= 0 && domain < topology.domainOwners.count }
    private func validPASID(_ pasid: UInt32) -> Bool { pasid >= 1 && pasid <= topology.maxPASID }

    /// Writes the context entry of every device in `group`, one device at a time.
    private func program(_ group: Int, _ entry: Entry, firstOnly: Bool = false) {
        for device in topology.groups[group] {
            entries[device] = entry
            checkpoint()
            if firstOnly { break }
        }
    }

    public func bind(device: Int, driver: Driver) -> Result<Void, IsolationError> {
        guard validDevice(device) else { return .failure(.noSuchObject) }
        if driver == .kernel && owners[groupOf[device]] >= 0 && plantedBug != .kernelBindOnOwnedGroup { return .failure(.groupOwned) }
        if driver == .kernel { kernelBound |= 1 << UInt64(device) } else { kernelBound &= ~(1 << UInt64(device)) }
        return .success(())
    }

    public func claim(context: Int, group: Int) -> Result<Void, IsolationError> {
        guard validGroup(group), validContext(context) else { return .failure(.noSuchObject) }
        if owners[group] == context { return .success(()) }
        if owners[group] >= 0 { return .failure(.ownedByOther) }
        let checked = plantedBug == .claimChecksFirstDevice ? members[group] & (0 &- members[group]) : members[group]
        if kernelBound & checked != 0 { return .failure(.notViable) }
        if plantedBug == .handoverWindow {
            // The bug: the owner is recorded while the devices still sit in the kernel's domain.
            owners[group] = context
            checkpoint()
            program(group, .blocked)
        } else {
            program(group, .blocked)
            owners[group] = context
            checkpoint()
        }
        attached[group] = -1
        return .success(())
    }

    public func release(context: Int, group: Int) -> Result<Void, IsolationError> {
        guard validGroup(group), validContext(context) else { return .failure(.noSuchObject) }
        guard owners[group] == context else { return .failure(.notOwner) }
        if plantedBug == .releaseLeavesDomainAttached {
            // The bug: ownership is dropped, the hardware entries still point at the domain.
            owners[group] = -1
            attached[group] = -1
            checkpoint()
            return .success(())
        }
        program(group, .blocked)
        // The planted bug clears the PASID table of the group's first device only.
        for device in topology.groups[group].prefix(plantedBug == .releaseKeepsLaterPASIDs ? 1 : .max) { pasidTables[device] = [:] }
        checkpoint()
        owners[group] = -1
        attached[group] = -1
        checkpoint()
        program(group, .kernelDefault)
        return .success(())
    }

    public func attach(context: Int, group: Int, domain: Int) -> Result<Void, IsolationError> {
        guard validGroup(group), validContext(context), validDomain(domain) else { return .failure(.noSuchObject) }
        guard owners[group] == context else { return .failure(.notOwner) }
        guard topology.domainOwners[domain] == context else { return .failure(.domainNotOwned) }
        attached[group] = domain
        program(group, .domain(domain), firstOnly: plantedBug == .attachMovesOneDevice)
        return .success(())
    }

    public func detach(context: Int, group: Int) -> Result<Void, IsolationError> {
        guard validGroup(group), validContext(context) else { return .failure(.noSuchObject) }
        guard owners[group] == context || (plantedBug == .nonOwnerCanDetach && owners[group] >= 0) else { return .failure(.notOwner) }
        attached[group] = -1
        program(group, .blocked)
        return .success(())
    }

    public func attachPASID(context: Int, device: Int, pasid: UInt32, domain: Int) -> Result<Void, IsolationError> {
        guard validDevice(device), validContext(context), validDomain(domain), validPASID(pasid) else { return .failure(.noSuchObject) }
        guard owners[groupOf[device]] == context else { return .failure(.notOwner) }
        guard topology.pasidCapable[device] else { return .failure(.noPASIDSupport) }
        guard topology.domainOwners[domain] == context else { return .failure(.domainNotOwned) }
        pasidTables[device][pasid] = domain
        checkpoint()
        return .success(())
    }

    public func detachPASID(context: Int, device: Int, pasid: UInt32) -> Result<Void, IsolationError> {
        guard validDevice(device), validContext(context), validPASID(pasid) else { return .failure(.noSuchObject) }
        guard owners[groupOf[device]] == context else { return .failure(.notOwner) }
        guard topology.pasidCapable[device] else { return .failure(.noPASIDSupport) }
        pasidTables[device][pasid] = nil
        checkpoint()
        return .success(())
    }

    public func dma(device: Int, pasid: UInt32?, iova: UInt64, access: Access) -> DMAOutcome {
        guard validDevice(device) else { return .noDomain }
        let domain: Int
        if let pasid {
            if entries[device] == .kernelDefault { return .kernelDomain }
            // The planted bug looks the PASID up in any device's table, as if PASIDs were global.
            let found = plantedBug == .pasidFallsThrough ? pasidTables.lazy.compactMap { $0[pasid] }.first : pasidTables[device][pasid]
            guard let found else { return .noDomain }
            domain = found
        } else {
            switch entries[device] {
            case .kernelDefault: return .kernelDomain
            case .blocked: return .blocked
            case .domain(let attachedDomain): domain = attachedDomain
            }
        }
        switch domains[domain].translate(iova: iova, access: access) {
        case .success(let phys): return .reached(domain: domain, phys: phys)
        case .failure(let fault): return .faulted(fault)
        }
    }

    public func owner(of group: Int) -> Int? {
        guard validGroup(group), owners[group] >= 0 else { return nil }
        return owners[group]
    }
}

/// Planted bugs of the optimized isolation layer; `IOMMUMutants` names them and their sources.
package enum IsolationBug: String, CaseIterable, Sendable {
    case claimChecksFirstDevice
    case attachMovesOneDevice
    case releaseLeavesDomainAttached
    case pasidFallsThrough
    case handoverWindow
    case kernelBindOnOwnedGroup
    case nonOwnerCanDetach
    case releaseKeepsLaterPASIDs
}
