import IOMMUSpec

/// The optimized isolation layer, shaped like a kernel's: one context entry per device and one
/// PASID table per device (what the IOMMU hardware reads), group bookkeeping by index and
/// bitset (owner, owner count, the attached devices of the group's domain and of each PASID).
/// The DMA path reads one entry and at most one dictionary; nothing on it scans.
///
/// It calls `checkpoint` after each hardware-visible change, so the checker can DMA in between.
public final class IsolationOptimized: IsolationSystem {
    /// A context entry: what untagged DMA from a device reaches.
    enum Entry: Equatable {
        case kernelDefault
        case blocked
        case bypass
        case domain(Int)
    }

    /// One PASID of a group: its domain and the devices that attached it.
    struct Slot {
        var domain: Int
        var attachers: UInt64
    }

    let topology: Topology
    private let policy: IsolationPolicy
    private let groupOf: [Int]
    private let members: [UInt64]
    /// The PASID-capable devices of each group: where a PASID's domain is programmed.
    private let pasidMembers: [UInt64]
    private let deviceCount: Int, groupCount: Int, contextCount: Int, domainCount: Int
    // Unchecked exclusivity: one thread uses a system, and the runtime checks on these hot
    // fields cost more than the work (see docs/ARCHITECTURE.md).
    @exclusivity(unchecked) private var drivers: [Driver]
    /// Devices whose driver holds a count of their group's default domain.
    @exclusivity(unchecked) private var kernelBound: UInt64 = 0
    @exclusivity(unchecked) private var groupClaim: [Int]
    @exclusivity(unchecked) private var claimedBy: [Int]
    /// Device claims held per group (`owner_cnt` of the device API).
    @exclusivity(unchecked) private var claimCount: [Int]
    @exclusivity(unchecked) private var owners: [Int]
    @exclusivity(unchecked) private var attached: [Int]
    @exclusivity(unchecked) private var attachers: [UInt64]
    @exclusivity(unchecked) private var slots: [[UInt32: Slot]]
    @exclusivity(unchecked) private var entries: [Entry]
    @exclusivity(unchecked) private var pasidTables: [[UInt32: Int]]
    /// Each domain's page table, built when a DMA first reaches it (most cases attach few of
    /// their domains, and building one is most of a case's setup).
    @exclusivity(unchecked) private var domains: [AddressSpaceOptimized?]
    private let checkpoint: () -> Void

    /// A planted bug (`IOMMUMutants`); nil in the real implementation.
    package var plantedBug: IsolationBug? {
        didSet {
            kernelBound = countedDevices()
            #if DEBUG
            assertInvariant(invariantViolation(), of: "IsolationOptimized")
            #endif
        }
    }

    public init(topology: Topology, checkpoint: @escaping () -> Void = {}) {
        self.topology = topology
        self.checkpoint = checkpoint
        policy = topology.policy
        (deviceCount, groupCount, contextCount, domainCount) = (topology.deviceCount, topology.groups.count, topology.contexts, topology.domainOwners.count)
        groupOf = topology.groupOfDevice
        members = topology.groups.map { $0.reduce(UInt64(0)) { $0 | 1 << UInt64($1) } }
        pasidMembers = topology.groups.map { $0.filter { topology.pasidCapable[$0] }.reduce(UInt64(0)) { $0 | 1 << UInt64($1) } }
        drivers = topology.initialDrivers
        groupClaim = Array(repeating: -1, count: topology.groups.count)
        claimedBy = Array(repeating: -1, count: topology.deviceCount)
        claimCount = Array(repeating: 0, count: topology.groups.count)
        owners = Array(repeating: -1, count: topology.groups.count)
        attached = Array(repeating: -1, count: topology.groups.count)
        attachers = Array(repeating: 0, count: topology.groups.count)
        slots = Array(repeating: [:], count: topology.groups.count)
        entries = Array(repeating: .kernelDefault, count: topology.deviceCount)
        pasidTables = Array(repeating: [:], count: topology.deviceCount)
        domains = Array(repeating: nil, count: topology.domainOwners.count)
        kernelBound = countedDevices()
    }

    private func countedDevices() -> UInt64 {
        var mask: UInt64 = 0
        for (device, driver) in drivers.enumerated() where counts(driver) { mask |= 1 << UInt64(device) }
        return mask
    }

    /// Whether a driver takes a count of the default domain (pci_dma_configure without driver_managed_dma).
    private func counts(_ driver: Driver) -> Bool { driver == .kernel || (driver == .driverManaged && plantedBug == .driverManagedBreaksViability) }

    private func valid(_ value: Int, _ count: Int) -> Bool { value >= 0 && value < count }
    private func validPASID(_ pasid: UInt32) -> Bool { pasid >= 1 && pasid <= topology.maxPASID }
    private var detachedEntry: Entry { policy.detached == .bypass ? .bypass : .blocked }
    /// The bug: PASID tables indexed by the low three bits only.
    private func tableKey(_ pasid: UInt32) -> UInt32 { plantedBug == .pasidTableAliases ? pasid & 7 : pasid }

    /// Writes the context entry of every device in `group`, one device at a time.
    private func program(_ group: Int, _ entry: Entry, firstOnly: Bool = false) {
        for device in topology.groups[group] {
            entries[device] = entry
            checkpoint()
            if firstOnly { break }
        }
    }

    /// Writes (or clears) a PASID in the tables of the given devices, one at a time.
    private func programPASID(_ devices: UInt64, _ pasid: UInt32, _ domain: Int?) {
        var remaining = devices
        while remaining != 0 {
            let device = remaining.trailingZeroBitCount
            remaining &= remaining - 1
            pasidTables[device][tableKey(pasid)] = domain
            checkpoint()
        }
    }

    // MARK: Drivers

    public func bind(device: Int, driver: Driver) -> Result<Void, IsolationError> {
        guard valid(device, deviceCount) else { return .failure(.noSuchObject) }
        let group = groupOf[device]
        #if DEBUG
        defer { assertInvariant(invariantViolation(group: group), of: "IsolationOptimized") }
        #endif
        if claimedBy[device] >= 0 && driver != drivers[device] { return .failure(.deviceInUse) }
        if counts(driver) && !counts(drivers[device]) && owners[group] >= 0 && plantedBug != .kernelBindOnOwnedGroup { return .failure(.groupOwned) }
        drivers[device] = driver
        if counts(driver) { kernelBound |= 1 << UInt64(device) } else { kernelBound &= ~(1 << UInt64(device)) }
        return .success(())
    }

    // MARK: Taking and giving back ownership

    /// __iommu_take_dma_ownership: block the devices, then record the owner (and only then
    /// let a bypass policy open the identity path: it is the owner's memory, not the kernel's).
    private func takeOwnership(_ group: Int, _ context: Int) {
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
        if detachedEntry != .blocked { program(group, detachedEntry) }
        attached[group] = -1
        attachers[group] = 0
    }

    /// __iommu_release_dma_ownership: PASIDs and the domain go, then the default domain returns.
    private func giveBack(_ group: Int, keepBlocked: Bool = false) {
        if plantedBug == .releaseLeavesDomainAttached {
            // The bug: ownership is dropped, the hardware entries still point at the domain.
            owners[group] = -1
            attached[group] = -1
            slots[group] = [:]
            checkpoint()
            return
        }
        program(group, .blocked)
        for pasid in slots[group].keys { freeSlot(group, pasid) }
        owners[group] = -1
        attached[group] = -1
        attachers[group] = 0
        checkpoint()
        if !keepBlocked { program(group, .kernelDefault) }
    }

    /// Clears a group's PASID from every capable device (the planted bug: the first only).
    private func freeSlot(_ group: Int, _ pasid: UInt32) {
        let capable = pasidMembers[group]
        programPASID(plantedBug == .releaseKeepsLaterPASIDs ? capable & (0 &- capable) : capable, pasid, nil)
        slots[group][pasid] = nil
    }

    // MARK: The group API

    public func claim(context: Int, group: Int) -> Result<Void, IsolationError> {
        guard valid(group, groupCount), valid(context, contextCount) else { return .failure(.noSuchObject) }
        #if DEBUG
        defer { assertInvariant(invariantViolation(group: group), of: "IsolationOptimized") }
        #endif
        if claimCount[group] > 0 { return .failure(.otherInterface) }
        if groupClaim[group] == context { return plantedBug == .secondClaimBySameContainerAccepted ? .success(()) : .failure(.alreadyClaimed) }
        if owners[group] >= 0 { return .failure(.ownedByOther) }
        let checked = plantedBug == .claimChecksFirstDevice ? members[group] & (0 &- members[group]) : members[group]
        if kernelBound & checked != 0 { return .failure(.notViable) }
        takeOwnership(group, context)
        groupClaim[group] = context
        return .success(())
    }

    public func release(context: Int, group: Int) -> Result<Void, IsolationError> {
        guard valid(group, groupCount), valid(context, contextCount) else { return .failure(.noSuchObject) }
        #if DEBUG
        defer { assertInvariant(invariantViolation(group: group), of: "IsolationOptimized") }
        #endif
        guard groupClaim[group] == context else { return .failure(.notOwner) }
        groupClaim[group] = -1
        giveBack(group)
        return .success(())
    }

    public func attach(context: Int, group: Int, domain: Int) -> Result<Void, IsolationError> {
        guard valid(group, groupCount), valid(context, contextCount), valid(domain, domainCount) else { return .failure(.noSuchObject) }
        #if DEBUG
        defer { assertInvariant(invariantViolation(group: group), of: "IsolationOptimized") }
        #endif
        guard groupClaim[group] == context else { return .failure(.notOwner) }
        guard topology.domainOwners[domain] == context else { return .failure(.domainNotOwned) }
        if policy.reattach == .refused && attached[group] >= 0 { return .failure(.alreadyAttached) }
        attached[group] = domain
        attachers[group] = 0
        program(group, .domain(domain), firstOnly: plantedBug == .attachMovesOneDevice)
        return .success(())
    }

    public func detach(context: Int, group: Int) -> Result<Void, IsolationError> {
        guard valid(group, groupCount), valid(context, contextCount) else { return .failure(.noSuchObject) }
        #if DEBUG
        defer { assertInvariant(invariantViolation(group: group), of: "IsolationOptimized") }
        #endif
        guard groupClaim[group] == context || (plantedBug == .nonOwnerCanDetach && owners[group] >= 0) else { return .failure(.notOwner) }
        attached[group] = -1
        attachers[group] = 0
        program(group, plantedBug == .bypassAfterDetach ? .bypass : detachedEntry)
        return .success(())
    }

    // MARK: The device API

    public func claimDevice(context: Int, device: Int) -> Result<Void, IsolationError> {
        guard valid(device, deviceCount), valid(context, contextCount) else { return .failure(.noSuchObject) }
        #if DEBUG
        defer { assertInvariant(invariantViolation(group: groupOf[device]), of: "IsolationOptimized") }
        #endif
        let group = groupOf[device]
        if drivers[device] != .userAccess { return .failure(.notUserAccess) }
        if claimedBy[device] >= 0 { return .failure(.alreadyBound) }
        if groupClaim[group] >= 0 { return .failure(.otherInterface) }
        if owners[group] >= 0 && owners[group] != context { return .failure(.ownedByOther) }
        if kernelBound & members[group] != 0 { return .failure(.notViable) }
        if owners[group] < 0 { takeOwnership(group, context) }
        claimedBy[device] = context
        claimCount[group] += 1
        return .success(())
    }

    public func releaseDevice(context: Int, device: Int) -> Result<Void, IsolationError> {
        guard valid(device, deviceCount), valid(context, contextCount) else { return .failure(.noSuchObject) }
        #if DEBUG
        defer { assertInvariant(invariantViolation(group: groupOf[device]), of: "IsolationOptimized") }
        #endif
        guard claimedBy[device] == context else { return .failure(.notOwner) }
        let group = groupOf[device]
        for pasid in slots[group].keys { detachPASIDSlot(group, pasid, device) }
        detachRID(group, device)
        claimedBy[device] = -1
        claimCount[group] -= 1
        if plantedBug == .firstReleaseDropsOwnership {
            // The bug: no count; the first release gives the group back.
            for other in topology.groups[group] where claimedBy[other] >= 0 { claimedBy[other] = -1 }
            claimCount[group] = 0
        }
        if claimCount[group] == 0 { giveBack(group, keepBlocked: plantedBug == .lastReleaseKeepsBlocking) }
        return .success(())
    }

    public func attachDevice(context: Int, device: Int, domain: Int) -> Result<Void, IsolationError> {
        guard valid(device, deviceCount), valid(context, contextCount), valid(domain, domainCount) else { return .failure(.noSuchObject) }
        #if DEBUG
        defer { assertInvariant(invariantViolation(group: groupOf[device]), of: "IsolationOptimized") }
        #endif
        guard claimedBy[device] == context else { return .failure(.notOwner) }
        guard topology.domainOwners[domain] == context else { return .failure(.domainNotOwned) }
        let group = groupOf[device], bit = UInt64(1) << UInt64(device)
        if attachers[group] & bit == 0 && attached[group] >= 0 && attached[group] != domain && plantedBug != .attachSecondDeviceReplaces {
            return .failure(.attachedElsewhere)
        }
        attachers[group] |= bit
        if attached[group] != domain {
            attached[group] = domain
            program(group, .domain(domain))
        }
        return .success(())
    }

    public func detachDevice(context: Int, device: Int) -> Result<Void, IsolationError> {
        guard valid(device, deviceCount), valid(context, contextCount) else { return .failure(.noSuchObject) }
        #if DEBUG
        defer { assertInvariant(invariantViolation(group: groupOf[device]), of: "IsolationOptimized") }
        #endif
        guard claimedBy[device] == context else { return .failure(.notOwner) }
        detachRID(groupOf[device], device)
        return .success(())
    }

    /// The group leaves its domain when its last attached device detaches.
    private func detachRID(_ group: Int, _ device: Int) {
        let bit = UInt64(1) << UInt64(device)
        guard attachers[group] & bit != 0 else { return }
        attachers[group] &= ~bit
        guard attachers[group] == 0 else { return }
        attached[group] = -1
        program(group, plantedBug == .bypassAfterDetach ? .bypass : detachedEntry)
    }

    // MARK: PASIDs

    private func holds(_ context: Int, _ device: Int) -> Bool { claimedBy[device] == context || groupClaim[groupOf[device]] == context }

    public func attachPASID(context: Int, device: Int, pasid: UInt32, domain: Int) -> Result<Void, IsolationError> {
        guard valid(device, deviceCount), valid(context, contextCount), valid(domain, domainCount), validPASID(pasid) else { return .failure(.noSuchObject) }
        #if DEBUG
        defer { assertInvariant(invariantViolation(group: groupOf[device]), of: "IsolationOptimized") }
        #endif
        guard holds(context, device) else { return .failure(.notOwner) }
        guard policy.pasid == .groupWide && topology.pasidCapable[device] else { return .failure(.noPASIDSupport) }
        guard topology.domainOwners[domain] == context else { return .failure(.domainNotOwned) }
        let group = groupOf[device], bit = UInt64(1) << UInt64(device)
        if var slot = slots[group][pasid] {
            if slot.attachers & bit == 0 && slot.domain != domain {
                guard plantedBug == .pasidSecondDomainAccepted else { return .failure(.attachedElsewhere) }
                // The bug: the second device gets its own table entry, as if PASIDs were per device.
                pasidTables[device][tableKey(pasid)] = domain
                checkpoint()
                return .success(())
            }
            slot.attachers |= bit
            if slot.domain != domain {
                slot.domain = domain
                programPASID(pasidMembers[group], pasid, domain)
            }
            slots[group][pasid] = slot
            return .success(())
        }
        slots[group][pasid] = Slot(domain: domain, attachers: bit)
        programPASID(plantedBug == .pasidAttachedOnOneDevice ? bit : pasidMembers[group], pasid, domain)
        return .success(())
    }

    public func detachPASID(context: Int, device: Int, pasid: UInt32) -> Result<Void, IsolationError> {
        guard valid(device, deviceCount), valid(context, contextCount), validPASID(pasid) else { return .failure(.noSuchObject) }
        #if DEBUG
        defer { assertInvariant(invariantViolation(group: groupOf[device]), of: "IsolationOptimized") }
        #endif
        guard holds(context, device) else { return .failure(.notOwner) }
        guard policy.pasid == .groupWide && topology.pasidCapable[device] else { return .failure(.noPASIDSupport) }
        detachPASIDSlot(groupOf[device], pasid, device)
        return .success(())
    }

    private func detachPASIDSlot(_ group: Int, _ pasid: UInt32, _ device: Int) {
        let bit = UInt64(1) << UInt64(device)
        guard var slot = slots[group][pasid], slot.attachers & bit != 0 else { return }
        slot.attachers &= ~bit
        if slot.attachers == 0 { freeSlot(group, pasid) } else { slots[group][pasid] = slot }
    }

    // MARK: DMA

    public func dma(device: Int, pasid: UInt32?, iova: UInt64, access: Access) -> DMAOutcome {
        guard valid(device, deviceCount) else { return .noDomain }
        let domain: Int
        if let pasid {
            if entries[device] == .kernelDefault { return .kernelDomain }
            // The planted bug looks the PASID up in any device's table, as if PASIDs were global.
            let key = tableKey(pasid)
            let found = plantedBug == .pasidFallsThrough ? pasidTables.lazy.compactMap { $0[key] }.first : pasidTables[device][key]
            guard let found else { return .noDomain }
            domain = found
        } else {
            switch entries[device] {
            case .kernelDefault: return .kernelDomain
            case .blocked: return .blocked
            case .bypass: return .bypass
            case .domain(let attachedDomain): domain = attachedDomain
            }
        }
        let space = domains[domain] ?? Topology.makeDomain(domain, AddressSpaceOptimized.init)
        domains[domain] = space
        switch space.translate(iova: iova, access: access) {
        case .success(let phys): return .reached(domain: domain, phys: phys)
        case .failure(let fault): return .faulted(fault)
        }
    }

    public func owner(of group: Int) -> Int? {
        guard valid(group, groupCount), owners[group] >= 0 else { return nil }
        return owners[group]
    }

    // MARK: Invariants
    //
    // The bookkeeping the calls read instead of scanning, checked planted bug or not:
    // - one driver, claim, context entry and PASID table per device; one claim, owner, claim
    //   count, attachment and PASID set per group; every index in range; the groups partition
    //   the devices;
    // - `kernelBound` holds exactly the devices whose driver takes a count (the viability tests
    //   read only it);
    // - `claimCount` counts the group's claimed devices; a group is owned exactly while claimed
    //   through one API (the group claim or device claims, never both), by its owner;
    // - an attached domain is the owner's; `attachers` are claimed devices of the group, and
    //   name an attached domain;
    // - a PASID slot: a valid PASID, the owner's domain, and attachers that are PASID-capable
    //   devices of the group the owner holds.
    // What the hardware reads, derived from it, checked only without a planted bug (most bugs
    // are precisely a wrong entry left behind):
    // - a context entry: the kernel default while the group is unowned, the group's domain
    //   while one is attached, else the detached entry (blocked or bypass);
    // - a PASID table: a PASID-capable device's holds exactly its group's slots, another's none.

    /// The first broken invariant anywhere, or nil.
    public func invariantViolation() -> String? {
        if drivers.count != deviceCount || claimedBy.count != deviceCount || entries.count != deviceCount || pasidTables.count != deviceCount || groupOf.count != deviceCount {
            return "per-device tables are not \(deviceCount) long"
        }
        if [groupClaim.count, claimCount.count, owners.count, attached.count, attachers.count, slots.count, members.count, pasidMembers.count].contains(where: { $0 != groupCount }) {
            return "per-group tables are not \(groupCount) long"
        }
        if domains.count != domainCount { return "\(domains.count) domain tables for \(domainCount) domains" }
        var seen: UInt64 = 0
        for group in 0..<groupCount {
            if members[group] & seen != 0 { return "g\(group) shares a device with another group" }
            seen |= members[group]
        }
        if seen != (deviceCount == 64 ? .max : (1 << UInt64(deviceCount)) - 1) { return "devices 0x\(String(~seen, radix: 16)) are in no group" }
        for group in 0..<groupCount {
            if let problem = invariantViolation(group: group) { return problem }
        }
        return nil
    }

    /// The invariants of one group and its devices: all a call on the group or one of its
    /// devices can change. O(group size + the group's PASIDs).
    func invariantViolation(group: Int) -> String? {
        let owner = owners[group], claim = groupClaim[group], devices = topology.groups[group]
        if owner < -1 || owner >= contextCount { return "g\(group) owner \(owner) out of range" }
        if claim < -1 || claim >= contextCount { return "g\(group) claimed by context \(claim), out of range" }
        var claimed = 0, claimedMask: UInt64 = 0
        for device in devices {
            if groupOf[device] != group || members[group] & (1 << UInt64(device)) == 0 { return "d\(device) is listed in g\(group) but not a member" }
            if (kernelBound & (1 << UInt64(device)) != 0) != counts(drivers[device]) { return "kernelBound is out of date for d\(device) (driver \(drivers[device]))" }
            let holder = claimedBy[device]
            if holder < -1 || holder >= contextCount { return "d\(device) claimed by context \(holder), out of range" }
            if holder >= 0 {
                claimed += 1
                claimedMask |= 1 << UInt64(device)
                if holder != owner { return "d\(device) is claimed by c\(holder), g\(group) owned by \(owner)" }
            }
        }
        if claimCount[group] != claimed { return "g\(group) counts \(claimCount[group]) claimed devices, has \(claimed)" }
        if claim >= 0 && claimed > 0 { return "g\(group) is claimed through both the group and the device API" }
        if (owner >= 0) != (claim >= 0 || claimed > 0) { return "g\(group) owner \(owner) with group claim \(claim) and \(claimed) claimed devices" }
        if claim >= 0 && claim != owner { return "g\(group) claimed by c\(claim), owned by \(owner)" }
        let domain = attached[group]
        if domain < -1 || domain >= domainCount { return "g\(group) attached to domain \(domain), out of range" }
        if domain >= 0 && (owner < 0 || topology.domainOwners[domain] != owner) { return "g\(group) attached to domain \(domain), not its owner's (\(owner))" }
        if attachers[group] & ~claimedMask != 0 { return "g\(group) attachers 0x\(String(attachers[group], radix: 16)) include unclaimed devices" }
        if attachers[group] != 0 && domain < 0 { return "g\(group) has attached devices but no domain" }
        let held = claim >= 0 ? members[group] : claimedMask
        if !slots[group].isEmpty && owner < 0 { return "g\(group) keeps PASIDs without an owner" }
        for (pasid, slot) in slots[group] {
            if !validPASID(pasid) { return "g\(group) PASID \(pasid) out of range" }
            if !valid(slot.domain, domainCount) || topology.domainOwners[slot.domain] != owner { return "g\(group) PASID \(pasid) on domain \(slot.domain), not its owner's" }
            if slot.attachers == 0 || slot.attachers & ~(pasidMembers[group] & held) != 0 {
                return "g\(group) PASID \(pasid) attachers 0x\(String(slot.attachers, radix: 16)) are not PASID-capable devices the owner holds"
            }
        }
        for device in devices {
            if case .domain(let entryDomain) = entries[device], !valid(entryDomain, domainCount) { return "d\(device) context entry names domain \(entryDomain)" }
            for (key, entryDomain) in pasidTables[device] where !valid(entryDomain, domainCount) { return "d\(device) PASID table entry \(key) names domain \(entryDomain)" }
        }
        guard plantedBug == nil else { return nil }
        let expected: Entry = owner < 0 ? .kernelDefault : domain >= 0 ? .domain(domain) : detachedEntry
        let wanted = slots[group].mapValues(\.domain)
        for device in devices {
            if entries[device] != expected { return "d\(device) context entry \(entries[device]), g\(group) state says \(expected)" }
            let programmed = pasidMembers[group] & (1 << UInt64(device)) != 0
            if programmed ? pasidTables[device] != wanted : !pasidTables[device].isEmpty {
                return "d\(device) PASID table \(pasidTables[device]), g\(group) slots say \(programmed ? wanted : [:])"
            }
        }
        return nil
    }

    /// Test hook: overwrites a device's context entry, bypassing every rule.
    func overwriteEntryForTesting(device: Int, domain: Int?) {
        entries[device] = domain.map { .domain($0) } ?? .blocked
    }

    /// Test hook: overwrites a group's device-claim count, bypassing every rule.
    func overwriteClaimCountForTesting(group: Int, count: Int) {
        claimCount[group] = count
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
    case pasidAttachedOnOneDevice
    case pasidSecondDomainAccepted
    case secondClaimBySameContainerAccepted
    case lastReleaseKeepsBlocking
    case firstReleaseDropsOwnership
    case bypassAfterDetach
    case driverManagedBreaksViability
    case pasidTableAliases
    case attachSecondDeviceReplaces
}
