import IOMMUSpec
import PropertyCheck
import Testing
@testable import IOMMUOptimized

/// The optimized structures' invariants: they hold through random operations (the full check
/// after every step; debug builds also run each structure's local check after every change),
/// and each check does report a structure corrupted through a test hook.
@Suite struct OptimizedInvariantTests {
    // MARK: Address space: extent index, radix page table, IOTLB

    /// Every preset that allows it at 4 KiB pages (the radix table and the IOTLB) and at 1-byte
    /// pages (the extent index alone), with its own aperture rules.
    static let addressSpaceConfigurations: [AddressSpaceConfiguration] = AddressSpacePolicy.presets.flatMap { _, policy in
        [4096, 1].compactMap { (pageSize: UInt64) -> AddressSpaceConfiguration? in
            let configuration = policy.hasAperture
                ? AddressSpaceConfiguration(pageSize: pageSize, mappingLimit: nil, policy: policy)
                : AddressSpaceConfiguration(pageSize: pageSize, aperture: 0...UInt64.max, reservedRegions: [], mappingLimit: nil, policy: policy)
            return (try? configuration.validate()) == nil ? nil : configuration
        }
    }

    @Test(arguments: addressSpaceConfigurations)
    func theAddressSpaceStaysSoundUnderRandomOperations(configuration: AddressSpaceConfiguration) throws {
        let space = AddressSpaceOptimized(configuration: configuration)
        var dice = Dice(seed: 0xA5)
        for step in 0..<1_500 {
            dice.addressSpaceStep(space)
            let problem = space.invariantViolation()
            try #require(problem == nil, "after step \(step) under \(configuration.policy): \(problem ?? "")")
        }
    }

    /// A planted bug misbehaves on purpose; the structures under it stay sound, and the checks
    /// that a bug may break by design (the IOTLB against a walk, extents disjoint where the bug
    /// maps over a mapping) stand aside, so the differential checker reports the bug, not a trap.
    @Test(arguments: AddressSpaceBug.allCases)
    func aPlantedBugLeavesTheStructuresSound(bug: AddressSpaceBug) throws {
        let space = AddressSpaceOptimized(configuration: AddressSpaceConfiguration(mappingLimit: nil, policy: .iommufd))
        space.plantedBug = bug
        var dice = Dice(seed: 0xB6)
        for step in 0..<400 {
            dice.addressSpaceStep(space)
            let problem = space.invariantViolation()
            try #require(problem == nil, "after step \(step) with \(bug): \(problem ?? "")")
        }
    }

    @Test func theExtentIndexCheckReportsABrokenIndex() throws {
        var index = ExtentIndex()
        for i in 0..<600 as Range<UInt64> {
            index.insert(Extent(iova: i * 0x2000, length: 0x1000, phys: i * 0x1000, permissions: .read))
        }
        #expect(index.invariantViolation() == nil)
        // Past one chunk: the second chunk's first extent now overlaps the first chunk's last.
        let second = ExtentIndex.Position(chunk: 1, slot: 0)
        var overlapping = index
        overlapping.overwriteForTesting(at: second, iova: index[second].iova - 0x2000, last: index[second].last)
        #expect(overlapping.invariantViolation()?.contains("key") == true, "the chunk key is stale first")
        #expect(overlapping.invariantViolation(near: second) != nil)
        var inverted = index
        let first = ExtentIndex.Position(chunk: 0, slot: 3)
        inverted.overwriteForTesting(at: first, iova: index[first].iova, last: index[first].iova - 1)
        #expect(inverted.invariantViolation()?.contains("before it starts") == true)
        var overlap = index
        overlap.overwriteForTesting(at: first, iova: index[first].iova, last: index[first].last + 0x2000)
        #expect(overlap.invariantViolation()?.contains("overlaps") == true)
        #expect(overlap.invariantViolation(near: index.next(first)) != nil)
        // Where a planted bug allows overlaps, sorted is enough.
        overlap.overlapsAllowed = true
        #expect(overlap.invariantViolation() == nil)
    }

    @Test func theRadixPageTableCheckReportsABrokenTable() throws {
        func mapped() -> RadixPageTable {
            let table = RadixPageTable(addressWidth: 48)
            table.map(iova: 0x20_0000, length: 0x3000, phys: 0x4000_0000, permissions: .readWrite)
            table.map(iova: 0x4000_0000, length: 0x4000_0000, phys: 0x8000_0000, permissions: .read)
            return table
        }
        #expect(mapped().invariantViolation() == nil)

        // A present entry the live count does not know of.
        let uncounted = mapped()
        let leafTable = try #require(uncounted.tableForTesting(address: 0x20_0000, level: 0))
        uncounted.overwriteForTesting(table: leafTable, slot: 100, entry: 0x9000_0000 | 0xB)
        #expect(uncounted.invariantViolation()?.contains("counts 3 live entries, holds 4") == true)
        // A 2 MiB leaf whose base is only 4 KiB aligned.
        let misaligned = mapped()
        let level1 = try #require(misaligned.tableForTesting(address: 0x20_0000, level: 1))
        misaligned.overwriteForTesting(table: level1, slot: 5, entry: 0x8000_1000 | 0xB, live: 2)
        #expect(misaligned.invariantViolation()?.contains("not aligned") == true)
        // An emptied table left in the tree.
        let empty = mapped()
        for slot in 0..<3 { empty.overwriteForTesting(table: leafTable, slot: slot, entry: 0, live: 0) }
        #expect(empty.invariantViolation()?.contains("keeps empty table") == true)
        // A table of 512 contiguous leaves that merge should have folded.
        let foldable = RadixPageTable(addressWidth: 48)
        foldable.map(iova: 0x20_0000, length: 0x1000, phys: 0x4000_0000, permissions: .read)
        let leaves = try #require(foldable.tableForTesting(address: 0x20_0000, level: 0))
        for slot in 1..<512 { foldable.overwriteForTesting(table: leaves, slot: slot, entry: (0x4000_0000 + UInt64(slot) * 0x1000) | 0xB, live: UInt16(slot + 1)) }
        #expect(foldable.invariantViolation()?.contains("merge folds") == true)
        // A dirty table on the free list: allocateTable would hand it out as it is.
        let dirtyFree = mapped()
        dirtyFree.unmap(first: 0x20_0000, last: 0x20_2FFF)
        #expect(dirtyFree.invariantViolation() == nil)
        dirtyFree.overwriteForTesting(table: leafTable, slot: 7, entry: 0xB)
        #expect(dirtyFree.invariantViolation()?.contains("free table") == true)
    }

    @Test func theIOTLBCheckReportsAWrongOrMisplacedEntry() throws {
        let space = AddressSpaceOptimized(configuration: AddressSpaceConfiguration(mappingLimit: nil, policy: .iommufd))
        #expect((try? space.map(iova: 0x10_0000, length: 0x10000, phys: 0x4000_0000, permissions: .readWrite).get()) != nil)
        #expect(space.translate(iova: 0x10_2345, access: .read) == .success(0x4000_2345))
        #expect(space.invariantViolation() == nil)
        let page: UInt64 = 0x102
        let slot = Int(page & UInt64(IOTLB.slots - 1))
        let sound = space.iotlb

        space.iotlb.overwriteForTesting(slot: slot, page: page, value: 0x5000_2000 | 3)
        #expect(space.invariantViolation()?.contains("a walk finds 0x40002003") == true)
        space.iotlb = sound
        space.iotlb.overwriteForTesting(slot: slot + 1, page: page, value: 0x4000_2000 | 3)
        #expect(space.iotlb.invariantViolation()?.contains("not its own") == true)
        space.iotlb = sound
        space.iotlb.overwriteForTesting(slot: slot, page: page, value: 0x4000_2000 | 0x13)
        #expect(space.iotlb.invariantViolation(firstPage: page, lastPage: page)?.contains("bits besides") == true)
        // A stale entry is a broken invariant in the real implementation, not under stale-iotlb.
        space.iotlb = sound
        space.iotlb.overwriteForTesting(slot: 5, page: 0x5, value: 0x1000 | 1)
        #expect(space.invariantViolation()?.contains("a walk finds nothing") == true)
        space.plantedBug = .staleIOTLB
        #expect(space.invariantViolation() == nil)
    }

    // MARK: Isolation

    static let isolationPolicies = IsolationPolicy.presets.map(\.policy)

    static func isolationTopology(_ policy: IsolationPolicy) -> Topology {
        Topology(groups: [[0, 1], [2], [3, 4, 5]], pasidCapable: [true, true, false, true, false, true], contexts: 2,
                 domainOwners: [0, 0, 1, 1], initialDrivers: [.userAccess, .userAccess, .userAccess, .none, .userAccess, .driverManaged],
                 maxPASID: 9, policy: policy)
    }

    @Test(arguments: isolationPolicies)
    func theIsolationLayerStaysSoundUnderRandomOperations(policy: IsolationPolicy) throws {
        let topology = Self.isolationTopology(policy)
        try topology.validate()
        let system = IsolationOptimized(topology: topology)
        var dice = Dice(seed: 0xC7)
        var succeeded = 0
        for step in 0..<3_000 {
            if dice.isolationStep(system) { succeeded += 1 }
            let problem = system.invariantViolation()
            try #require(problem == nil, "after step \(step) under \(policy): \(problem ?? "")")
        }
        #expect(succeeded > 300, "too few operations succeeded to mean much")
    }

    @Test func theIsolationCheckReportsInconsistentTables() throws {
        let system = IsolationOptimized(topology: Self.isolationTopology(.iommufd))
        #expect((try? system.claimDevice(context: 0, device: 0).get()) != nil)
        #expect((try? system.attachDevice(context: 0, device: 0, domain: 1).get()) != nil)
        #expect(system.invariantViolation() == nil)
        system.overwriteClaimCountForTesting(group: 0, count: 2)
        #expect(system.invariantViolation(group: 0)?.contains("counts 2 claimed devices, has 1") == true)
        system.overwriteClaimCountForTesting(group: 0, count: 1)
        system.overwriteEntryForTesting(device: 1, domain: 0)
        #expect(system.invariantViolation()?.contains("d1 context entry") == true)
        // A planted bug leaves exactly such entries behind; the bookkeeping is still checked.
        system.plantedBug = .attachMovesOneDevice
        #expect(system.invariantViolation() == nil)
        system.overwriteClaimCountForTesting(group: 0, count: 0)
        #expect(system.invariantViolation() != nil)
    }

    // MARK: Shadow

    @Test(arguments: ShadowHostPolicy.allCases)
    func theShadowRecordStaysSoundUnderRandomOperations(host: ShadowHostPolicy) throws {
        let configuration = ShadowConfiguration(domains: 2, host: host)
        try configuration.validate()
        let guest = GuestIOMMU(configuration: configuration)
        let shadowHost = ShadowHost(configuration: configuration) { AddressSpaceOptimized(configuration: $0) }
        let system = ShadowOptimized(guest: guest, host: shadowHost)
        var dice = Dice(seed: 0xD8)
        for step in 0..<600 {
            dice.shadowStep(guest, system)
            let problem = system.invariantViolation()
            try #require(problem == nil, "after step \(step) on a \(host.rawValue) host: \(problem ?? "")")
        }
    }

    @Test func theShadowCheckReportsABrokenRecord() throws {
        let configuration = ShadowConfiguration(domains: 2)
        let system = ShadowOptimized(guest: GuestIOMMU(configuration: configuration), host: ShadowHost(configuration: configuration) { AddressSpaceOptimized(configuration: $0) })
        let a = Extent(iova: 0x1000, length: 0x2000, phys: 0x10_0000_1000, permissions: .read)
        let b = Extent(iova: 0x2000, length: 0x1000, phys: 0x10_0000_8000, permissions: .read)
        system.overwriteRecordForTesting(domain: 1, [a])
        #expect(system.invariantViolation() == nil)
        system.overwriteRecordForTesting(domain: 1, [a, b])
        #expect(system.invariantViolation()?.contains("overlap") == true)
        #expect(system.recordViolation(domain: 1, around: 0x2000...0x2000) != nil)
        system.overwriteRecordForTesting(domain: 1, [b, Extent(iova: 0x8000, length: 0, phys: 0, permissions: .read)])
        #expect(system.invariantViolation()?.contains("empty") == true)
    }

    // MARK: Interrupts

    @Test(arguments: [(8, false), (40, true), (64, false)])
    func theInterruptLayerStaysSoundUnderRandomOperations(vectors: Int, dynamicAllocation: Bool) throws {
        for (_, policy) in InterruptPolicy.presets {
            let configuration = InterruptConfiguration(vectors: vectors, dynamicAllocation: dynamicAllocation, policy: policy)
            try configuration.validate()
            let host = InterruptHost(configuration: configuration)
            let system = InterruptOptimized(configuration: configuration, host: host)
            host.system = system
            var dice = Dice(seed: 0xE9)
            for step in 0..<1_500 {
                dice.interruptStep(host, system)
                let problem = system.invariantViolation()
                try #require(problem == nil, "after step \(step) with \(configuration): \(problem ?? "")")
            }
            #expect(!host.deliveries.isEmpty)
        }
    }

    @Test func theInterruptCheckReportsImpossiblePendingBits() throws {
        let configuration = InterruptConfiguration(vectors: 4)
        let host = InterruptHost(configuration: configuration)
        let system = InterruptOptimized(configuration: configuration, host: host)
        host.system = system
        system.setEnabled(true)
        system.setVectorMask(vector: 1, masked: false)
        #expect(system.invariantViolation() == nil)
        system.overwritePendingForTesting(1 << 5)
        #expect(system.invariantViolation()?.contains("beyond the 4 vectors") == true)
        system.overwritePendingForTesting(1 << 1)
        #expect(system.invariantViolation()?.contains("vector 1 is pending but unmasked") == true)
        system.overwritePendingForTesting(1 << 2)
        #expect(system.invariantViolation() == nil, "a masked vector may be pending")
    }
}

/// Random operations from a fixed seed, shaped to reach the structures' corners: adjacent and
/// overlapping ranges, superpage-aligned runs that split and merge, reuse of freed tables.
private struct Dice {
    var source: SplitMix64

    init(seed: UInt64) { source = SplitMix64(seed: seed) }

    mutating func below(_ bound: Int) -> Int { Int(source.next() % UInt64(bound)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }

    /// A map, an unmap, a translate, or (rarely) an unmap of everything, mostly inside a 16 MiB
    /// window at 1 GiB so mappings meet; sometimes a 1 GiB superpage above it.
    mutating func addressSpaceStep(_ space: AddressSpaceOptimized) {
        let window: UInt64 = 1 << 30, page: UInt64 = 0x1000
        let roll = below(100)
        if roll < 6 {
            // A superpage's worth in pieces, congruent: the last piece completes a full table,
            // which merges into one leaf (2 MiB in the window, or 1 GiB above it).
            let size: UInt64 = chance(75) ? 1 << 21 : 1 << 30
            let start = size == 1 << 21 ? window + UInt64(below(8)) * size : UInt64(2 + below(2)) << 30
            _ = space.unmap(iova: start, length: size)
            let pieces = UInt64(pick([2, 4, 8]))
            for piece in 0..<pieces {
                _ = space.map(iova: start + piece * (size / pieces), length: size / pieces, phys: start + (3 << 30) + piece * (size / pieces), permissions: .readWrite)
            }
        } else if roll < 40 {
            let huge = chance(5)
            let start = huge ? (2 + UInt64(below(2))) << 30 : window + UInt64(chance(40) ? below(8) * 512 : below(4096)) * page
            let length = huge ? UInt64(1) << 30 : pick([1, 2, 7, 64, 256, 512, 1024, 1536]) * page
            // Congruent with the IOVA modulo 1 GiB most of the time, so superpages form.
            let phys = chance(80) ? start + (3 << 30) : UInt64(below(1 << 20)) * page
            _ = space.map(iova: start, length: length, phys: phys, permissions: pick([.read, .write, .readWrite, []]))
        } else if roll < 70 {
            let start = chance(10) ? UInt64(2 + below(2)) << 30 | UInt64(below(512)) * 0x20_0000 : window + UInt64(below(4096)) * page
            _ = space.unmap(iova: start, length: pick([1, 3, 512, 1000, 2048]) * page)
        } else if roll < 99 {
            let address = chance(10) ? UInt64(2 + below(2)) << 30 | UInt64(below(1 << 18)) * page : window + UInt64(below(4096 * 4096))
            _ = space.translate(iova: address, access: pick([.read, .write]))
        } else {
            _ = space.unmapAll(iova: 0, length: 0)
        }
    }

    /// Any call of either API with arguments mostly in range; true if it succeeded.
    mutating func isolationStep(_ system: IsolationOptimized) -> Bool {
        let context = below(3) == 2 ? 1 : below(2), device = below(7), group = below(4), domain = below(5)
        let pasid = UInt32(below(11))
        let result: Result<Void, IsolationError>
        switch below(12) {
        case 0: result = system.bind(device: device, driver: pick(Driver.allCases))
        case 1: result = system.claim(context: context, group: group)
        case 2: result = system.release(context: context, group: group)
        case 3: result = system.attach(context: context, group: group, domain: domain)
        case 4: result = system.detach(context: context, group: group)
        case 5: result = system.claimDevice(context: context, device: device)
        case 6: result = system.releaseDevice(context: context, device: device)
        case 7: result = system.attachDevice(context: context, device: device, domain: domain)
        case 8: result = system.detachDevice(context: context, device: device)
        case 9: result = system.attachPASID(context: context, device: device, pasid: pasid, domain: domain)
        case 10: result = system.detachPASID(context: context, device: device, pasid: pasid)
        default:
            _ = system.dma(device: device, pasid: chance(50) ? nil : pasid, iova: 0x10000, access: .read)
            return false
        }
        if case .success = result { return true }
        return false
    }

    /// A guest write, clear or demote in a 16 MiB window, a context change, then an invalidation.
    mutating func shadowStep(_ guest: GuestIOMMU, _ system: ShadowOptimized) {
        let domain = below(2)
        let size: UInt64 = chance(15) ? 1 << 21 : 1 << 12
        let iova = UInt64(below(Int((1 << 24) / size))) * size
        switch below(10) {
        case 0..<5: guest.write(domain: domain, GuestLeaf(iova: iova, size: size, gpa: UInt64(below(1 << 10)) * size % (1 << 31), permissions: pick([.read, .readWrite])))
        case 5..<8: guest.clear(domain: domain, iova: iova, size: size)
        case 8: guest.demote(domain: domain, around: iova, to: 1 << 12)
        default: guest.setContextPresent(domain: domain, chance(70))
        }
        let invalidation: Invalidation = switch below(10) {
        case 0..<7: .pageSelective(domain: domain, iova: iova & ~((1 << 16) - 1), order: below(5))
        case 7: .domain(domain)
        case 8: .context(domain)
        default: .global
        }
        _ = system.invalidate(invalidation)
    }

    /// A guest write to the MSI-X table or control, or a device raise, sometimes with raises
    /// between the host calls the write makes.
    mutating func interruptStep(_ host: InterruptHost, _ system: InterruptOptimized) {
        let vector = below(host.configuration.vectors + 1)
        let injections = chance(30) ? [InterruptHost.Injection(afterCall: 1 + below(2), vector: below(host.configuration.vectors), pasid: 0)] : []
        let choice = below(6), flag = chance(50), address = 0xFEE0_0000 | UInt64(below(16)) << 12, data = UInt32(below(256))
        host.during(injections) {
            switch choice {
            case 0: system.setEnabled(flag || data < 100)
            case 1: system.setFunctionMask(flag && data < 100)
            case 2: system.writeEntry(vector: vector, address: address, data: data)
            case 3: system.setVectorMask(vector: vector, masked: flag)
            case 4: system.setPASID(vector: vector, pasid: flag ? nil : 0)
            default: host.raise(vector: vector, pasid: 0)
            }
        }
    }
}
