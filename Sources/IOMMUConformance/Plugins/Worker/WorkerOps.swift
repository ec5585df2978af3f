import IOMMUSpec

/// Operation codes of the worker protocol: the requests the checker sends. Arguments and results are 64-bit words.
enum WorkerOp: UInt64 {
    // Every surface.
    case destroy = 1
    /// Several requests on one object, answered in one frame (a step and the probes after it).
    case batch = 2
    // AddressSpace: handle first.
    case asCreate = 10, asMap, asUnmap, asUnmapAll, asTranslate, asMappings
    /// Many translations in one round trip (the state comparison's probes).
    case asTranslateMany = 16
    // Isolation.
    case isoCreate = 20, isoBind, isoClaim, isoRelease, isoAttach, isoDetach, isoAttachPASID, isoDetachPASID, isoDMA, isoOwner
    case isoClaimDevice = 32, isoReleaseDevice, isoAttachDevice, isoDetachDevice
    /// An operation with its checkpoint focus; the answer carries the views (ProbedIsolation).
    case isoStep = 36
    // Shadow.
    case shadowCreate = 40, shadowInvalidate
    // Interrupts: a whole step (InterruptStepCoding) against the worker's copy of the host.
    case irqCreate = 60, irqStep
    // Protected DMA: a whole step (ProtectedDMAMirror) against the worker's copy of the memory.
    case pdmaCreate = 70, pdmaStep
}

/// Word encodings shared by both ends.
enum WorkerCoding {
    /// A DMA outcome as three words: kind, domain, phys.
    static func words(_ outcome: DMAOutcome) -> [UInt64] {
        var words: [UInt64] = []
        append(outcome, to: &words)
        return words
    }

    static func append(_ outcome: DMAOutcome, to words: inout [UInt64]) {
        let (kind, domain, phys): (UInt64, UInt64, UInt64) = switch outcome {
        case .reached(let domain, let phys): (0, UInt64(truncatingIfNeeded: domain), phys)
        case .kernelDomain: (1, 0, 0)
        case .blocked: (2, 0, 0)
        case .noDomain: (3, 0, 0)
        case .faulted(.notMapped): (4, 0, 0)
        case .faulted(.permissionDenied): (5, 0, 0)
        case .faulted(.outsideAperture): (6, 0, 0)
        case .bypass: (7, 0, 0)
        }
        words.append(kind)
        words.append(domain)
        words.append(phys)
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

    /// A shadow configuration: domains, width, then the index of each policy switch's value,
    /// the host, and the mapping limit plus one (0: none).
    static func shadowConfigurationWords(_ c: ShadowConfiguration) -> [UInt64] {
        [UInt64(c.domains), UInt64(c.addressWidth)]
            + ShadowPolicy.switches.map { item in UInt64(item.values.firstIndex(of: item.value(of: c.policy)) ?? 0) }
            + [UInt64(ShadowHostPolicy.allCases.firstIndex(of: c.host)!), c.mappingLimit.map { UInt64($0) + 1 } ?? 0]
    }

    static func shadowConfiguration(_ w: [UInt64]) -> ShadowConfiguration? {
        let switches = ShadowPolicy.switches
        guard w.count == 4 + switches.count else { return nil }
        var policy = ShadowPolicy.windowForChangedPages
        for (item, word) in zip(switches, w[2...]) {
            guard word < UInt64(item.values.count), item.assign(item.values[Int(word)], to: &policy) else { return nil }
        }
        let hostIndex = w[2 + switches.count], limit = w[3 + switches.count]
        guard hostIndex < UInt64(ShadowHostPolicy.allCases.count), limit <= 1 << 32 else { return nil }
        let configuration = ShadowConfiguration(domains: Int(min(w[0], 8)), addressWidth: Int(min(w[1], 64)), policy: policy,
                                                host: ShadowHostPolicy.allCases[Int(hostIndex)], mappingLimit: limit == 0 ? nil : Int(limit - 1))
        return (try? configuration.validate()) == nil ? nil : configuration
    }

    /// Every domain's guest table: per domain the context entry (0 or 1), the leaf count, then
    /// four words per leaf (iova, size, gpa, permissions).
    static func guestWords(_ guest: GuestIOMMU) -> [UInt64] {
        var words: [UInt64] = []
        for (domain, table) in guest.tables.enumerated() {
            words += [guest.contextPresent[domain] ? 1 : 0, UInt64(table.count)]
            for leaf in table { words += [leaf.iova, leaf.size, leaf.gpa, UInt64(leaf.permissions.rawValue)] }
        }
        return words
    }

    /// Loads `guestWords` into a copy; false (and nothing changed) if they do not fit it.
    static func load(_ words: ArraySlice<UInt64>, into guest: GuestIOMMU) -> Bool {
        var index = words.startIndex
        var tables: [[GuestLeaf]] = [], present: [Bool] = []
        for _ in 0..<guest.configuration.domains {
            guard index + 1 < words.endIndex else { return false }
            present.append(words[index] != 0)
            let count = Int(min(words[index + 1], 1 << 24))
            index += 2
            guard index + 4 * count <= words.endIndex else { return false }
            tables.append((0..<count).map { i in
                let at = index + 4 * i
                return GuestLeaf(iova: words[at], size: words[at + 1], gpa: words[at + 2], permissions: Permissions(rawValue: UInt8(truncatingIfNeeded: words[at + 3])))
            })
            index += 4 * count
        }
        guest.load(tables: tables, contextPresent: present)
        return true
    }

    /// Host calls a worker's shadow layer made, each with the status the host gave: kind (0
    /// map, 1 unmap, 2 replace, 3 notify-unmap), domain, iova, length, phys, permissions,
    /// status (0 or an address-space status), the replace's extent count, its extents.
    static func callWords(_ calls: [(call: ShadowHost.Call, error: AddressSpaceError?)]) -> [UInt64] {
        var words = [UInt64(calls.count)]
        for (call, error) in calls {
            let statusWord = status(error)
            switch call {
            case .map(let d, let iova, let length, let phys, let p): words += [0, UInt64(d), iova, length, phys, UInt64(p.rawValue), statusWord, 0]
            case .unmap(let d, let iova, let length): words += [1, UInt64(d), iova, length, 0, 0, statusWord, 0]
            case .replace(let d, let iova, let length, let extents):
                words += [2, UInt64(d), iova, length, 0, 0, statusWord, UInt64(extents.count)]
                for e in extents { words += [e.iova, e.length, e.phys, UInt64(e.permissions.rawValue)] }
            case .notifyUnmap(let d, let iova, let length): words += [3, UInt64(d), iova, length, 0, 0, 0, 0]
            }
        }
        return words
    }

    static func calls(_ words: ArraySlice<UInt64>) -> [(call: ShadowHost.Call, status: UInt64)]? {
        var index = words.startIndex
        guard index < words.endIndex else { return nil }
        let count = Int(min(words[index], 1 << 24))
        index += 1
        var result: [(call: ShadowHost.Call, status: UInt64)] = []
        for _ in 0..<count {
            guard index + 8 <= words.endIndex else { return nil }
            let w = Array(words[index..<(index + 8)])
            index += 8
            let domain = Int(min(w[1], 1 << 20)), permissions = Permissions(rawValue: UInt8(truncatingIfNeeded: w[5]))
            switch w[0] {
            case 0: result.append((.map(domain: domain, iova: w[2], length: w[3], phys: w[4], permissions: permissions), w[6]))
            case 1: result.append((.unmap(domain: domain, iova: w[2], length: w[3]), w[6]))
            case 2:
                let extentCount = Int(min(w[7], 1 << 24))
                guard index + 4 * extentCount <= words.endIndex else { return nil }
                let extents = (0..<extentCount).map { i in
                    let at = index + 4 * i
                    return Extent(iova: words[at], length: words[at + 1], phys: words[at + 2], permissions: Permissions(rawValue: UInt8(truncatingIfNeeded: words[at + 3])))
                }
                index += 4 * extentCount
                result.append((.replace(domain: domain, iova: w[2], length: w[3], with: extents), w[6]))
            case 3: result.append((.notifyUnmap(domain: domain, iova: w[2], length: w[3]), 0))
            default: return nil
            }
        }
        return result
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
