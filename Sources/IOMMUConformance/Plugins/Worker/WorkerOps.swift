import IOMMUSpec

/// Operation codes of the worker protocol: requests the checker sends and callbacks the worker
/// sends back while a request runs. Arguments and results are 64-bit words.
enum WorkerOp: UInt64 {
    // Every surface.
    case destroy = 1
    // AddressSpace: handle first.
    case asCreate = 10, asMap, asUnmap, asUnmapAll, asTranslate, asMappings
    // Isolation.
    case isoCreate = 20, isoBind, isoClaim, isoRelease, isoAttach, isoDetach, isoAttachPASID, isoDetachPASID, isoDMA, isoOwner
    /// Many DMA probes, or every group's owner, in one round trip (the monitor's checkpoints).
    case isoDMAMany = 30, isoOwners, isoClaimDevice, isoReleaseDevice, isoAttachDevice, isoDetachDevice
    // Shadow.
    case shadowCreate = 40, shadowInvalidate
    // Interrupts.
    case irqCreate = 60, irqSetEnabled, irqSetFunctionMask, irqWriteEntry, irqSetVectorMask, irqSetPASID, irqPendingBits, irqHostTriggered

    // Callbacks.
    case checkpoint = 100
    case guestLeaves = 110, guestToHost, hostMap, hostUnmap, hostReplace, hostNotifyUnmap
    case irqEnable = 120, irqDisable, irqGrow, irqAllocated, irqSetTrigger, irqHostSetPASID, irqLatchedBits, irqTakeLatched, irqDeliver
}

/// Word encodings shared by both ends.
enum WorkerCoding {
    /// A DMA outcome as three words: kind, domain, phys.
    static func words(_ outcome: DMAOutcome) -> [UInt64] {
        switch outcome {
        case .reached(let domain, let phys): [0, UInt64(domain), phys]
        case .kernelDomain: [1, 0, 0]
        case .blocked: [2, 0, 0]
        case .noDomain: [3, 0, 0]
        case .faulted(let fault): [UInt64(4 + TranslationFault.allCases.firstIndex(of: fault)!), 0, 0]
        case .bypass: [7, 0, 0]
        }
    }

    static func dmaOutcome(_ words: ArraySlice<UInt64>) -> DMAOutcome {
        let base = words.startIndex
        switch words[base] {
        case 0: return .reached(domain: Int(min(words[base + 1], 1 << 20)), phys: words[base + 2])
        case 1: return .kernelDomain
        case 2: return .blocked
        case 4: return .faulted(.notMapped)
        case 5: return .faulted(.permissionDenied)
        case 6: return .faulted(.outsideAperture)
        case 7: return .bypass
        default: return .noDomain
        }
    }

    static func status(_ error: AddressSpaceError?) -> UInt64 { error.map { UInt64(AddressSpaceError.allCases.firstIndex(of: $0)! + 1) } ?? 0 }

    /// An unmap's result as two words: status, bytes (removed before a failure, too).
    static func words(_ result: Result<UInt64, UnmapFailure>) -> [UInt64] {
        switch result {
        case .success(let bytes): [0, bytes]
        case .failure(let failure): [status(failure.error), failure.bytes]
        }
    }

    static func unmapResult(_ words: [UInt64]) -> Result<UInt64, UnmapFailure>? {
        guard words.count >= 2 else { return nil }
        if words[0] == 0 { return .success(words[1]) }
        return addressSpaceError(words[0]).map { .failure(UnmapFailure($0, bytes: words[1])) }
    }

    static func addressSpaceError(_ word: UInt64) -> AddressSpaceError? {
        let all = AddressSpaceError.allCases
        return word >= 1 && word <= UInt64(all.count) ? all[Int(word) - 1] : nil
    }

    static func extentWords(_ extents: [Extent]) -> [UInt64] {
        [UInt64(extents.count)] + extents.flatMap { [$0.iova, $0.length, $0.phys, UInt64($0.permissions.rawValue)] }
    }

    /// Extents at `index` (a count, then four words each), advancing it; nil if malformed.
    static func extents(_ words: [UInt64], _ index: inout Int) -> [Extent]? {
        guard index < words.count else { return nil }
        let count = Int(min(words[index], 1 << 20))
        index += 1
        guard index + 4 * count <= words.count else { return nil }
        var result: [Extent] = []
        for i in 0..<count {
            let base = index + 4 * i
            result.append(Extent(iova: words[base], length: words[base + 1], phys: words[base + 2], permissions: Permissions(rawValue: UInt8(truncatingIfNeeded: words[base + 3]))))
        }
        index += 4 * count
        return result
    }

    /// Page size, aperture, limit (max: none), the reserved regions as (first, last, kind),
    /// then the policy spelled as iommu-check names it.
    static func configurationWords(_ c: AddressSpaceConfiguration) -> [UInt64] {
        [c.pageSize, c.aperture.lowerBound, c.aperture.upperBound, c.mappingLimit.map { UInt64($0) } ?? .max, UInt64(c.reservedRegions.count)]
            + c.reservedRegions.flatMap { [$0.range.lowerBound, $0.range.upperBound, $0.kind == .msi ? 1 : 0] }
            + Words.pack(c.policy.spelled)
    }

    static func configuration(_ w: [UInt64]) -> AddressSpaceConfiguration? {
        guard w.count >= 5, w[1] <= w[2] else { return nil }
        let count = Int(min(w[4], 64))
        guard w.count >= 5 + 3 * count else { return nil }
        let regions = (0..<count).compactMap { i -> ReservedRegion? in
            let low = w[5 + 3 * i], high = w[6 + 3 * i]
            return low <= high ? ReservedRegion(low...high, kind: w[7 + 3 * i] == 1 ? .msi : .reserved) : nil
        }
        var index = 5 + 3 * count
        guard let spelled = Words.unpack(w, &index), let policy = try? AddressSpacePolicy(parsing: spelled) else { return nil }
        let limit: Int? = w[3] == .max ? nil : Int(min(w[3], UInt64(Int.max)))
        let configuration = AddressSpaceConfiguration(pageSize: w[0], aperture: w[1]...w[2], reservedRegions: regions, mappingLimit: limit, policy: policy)
        return (try? configuration.validate()) == nil ? nil : configuration
    }

    static func topologyWords(_ t: Topology) -> [UInt64] {
        [UInt64(t.deviceCount), UInt64(t.contexts), UInt64(t.maxPASID), UInt64(t.groups.count), UInt64(t.domainOwners.count)]
            + t.groupOfDevice.map { UInt64($0) } + t.pasidCapable.map { $0 ? 1 : 0 }
            + t.initialDrivers.map { UInt64(Driver.allCases.firstIndex(of: $0)!) } + t.domainOwners.map { UInt64($0) }
            + policyWords(t.policy)
    }

    /// The isolation policy as one word per switch: the index of its value.
    static func policyWords(_ policy: IsolationPolicy) -> [UInt64] {
        IsolationPolicy.switches.map { item in UInt64(item.values.firstIndex(of: item.value(of: policy)) ?? 0) }
    }

    static func policy(_ words: ArraySlice<UInt64>) -> IsolationPolicy? {
        var policy = IsolationPolicy.iommufd
        for (item, word) in zip(IsolationPolicy.switches, words) {
            guard word < UInt64(item.values.count), item.assign(item.values[Int(word)], to: &policy) else { return nil }
        }
        return policy
    }

    static func topology(_ w: [UInt64]) -> Topology? {
        guard w.count >= 5 else { return nil }
        let devices = Int(min(w[0], 64)), groupCount = Int(min(w[3], 64)), domainCount = Int(min(w[4], 1024))
        let switches = IsolationPolicy.switches.count
        guard w.count == 5 + 3 * devices + domainCount + switches, groupCount >= 1,
              let policy = policy(w[(5 + 3 * devices + domainCount)...]) else { return nil }
        var groups = Array(repeating: [Int](), count: groupCount)
        for device in 0..<devices {
            let group = Int(min(w[5 + device], UInt64(groupCount)))
            guard group < groupCount else { return nil }
            groups[group].append(device)
        }
        let pasid = (0..<devices).map { w[5 + devices + $0] != 0 }
        let drivers = (0..<devices).compactMap { i -> Driver? in
            let index = Int(min(w[5 + 2 * devices + i], 3))
            return index < Driver.allCases.count ? Driver.allCases[index] : nil
        }
        let owners = (0..<domainCount).map { Int(min(w[5 + 3 * devices + $0], 1 << 20)) }
        let topology = Topology(groups: groups, pasidCapable: pasid, contexts: Int(min(w[1], 1 << 20)), domainOwners: owners,
                                initialDrivers: drivers, maxPASID: UInt32(truncatingIfNeeded: w[2]), policy: policy)
        return (try? topology.validate()) == nil ? nil : topology
    }
}
