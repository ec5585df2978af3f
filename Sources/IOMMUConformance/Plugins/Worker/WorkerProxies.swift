import IOMMUSpec

/// A surface implementation that lives in a worker process: every call crosses the channel.
/// A crash, a hang or an ABI violation becomes a foreign failure of the step that caused it.
class WorkerProxy: ReportsForeignFailures {
    let connection: WorkerConnection
    private(set) var handle: UInt64 = 0
    let failures = ForeignFailureBox()

    init(pool: WorkerPool, create: WorkerOp, _ arguments: [UInt64], refused: String) throws(ImplementationUnavailable) {
        do {
            connection = try pool.connection()
        } catch {
            throw ImplementationUnavailable(error.description)
        }
        switch connection.call([create.rawValue] + arguments, during: "create", callback: { _ in [] }) {
        case .success(let answer) where answer.results.count == 2 && answer.results[0] == 0:
            handle = answer.results[1]
        case .success:
            throw ImplementationUnavailable.refused(refused)
        case .failure(let error):
            throw ImplementationUnavailable(error.description)
        }
    }

    // No callbacks are served from deinit: `self` may not be captured while it is destroyed.
    deinit { _ = destroy { _ in [] } }

    /// Sends `destroy` once and waits for it: a plug-in that crashes or hangs in `destroy`
    /// fails the case instead of passing it.
    func closeForeign() -> String? { destroy { [unowned self] in self.serve($0) } }

    private func destroy(serving callback: ([UInt64]) -> [UInt64]) -> String? {
        guard handle != 0 else { return nil }
        defer { handle = 0 }
        if let death = connection.death { return death }
        switch connection.call([WorkerOp.destroy.rawValue, handle], during: "destroy", callback: callback) {
        case .success(let answer): return answer.failure.isEmpty ? nil : answer.failure
        case .failure(let error): return error.description
        }
    }

    /// Calls `op` on this object; nil (with the failure recorded) if the worker died or hung.
    func call(_ op: WorkerOp, _ arguments: [UInt64], _ description: @autoclosure () -> String, minimumResults: Int = 0) -> [UInt64]? {
        switch connection.call([op.rawValue, handle] + arguments, during: description(), callback: { [unowned self] in self.serve($0) }) {
        case .success(let answer):
            if !answer.failure.isEmpty { failures.record(answer.failure) }
            guard answer.results.count >= minimumResults else {
                failures.record("the worker answered \(description()) with \(answer.results.count) words, \(minimumResults) expected")
                return nil
            }
            return answer.results
        case .failure(let error):
            failures.record(error.description)
            return nil
        }
    }

    /// Answers a callback the plug-in made while a call was running.
    func serve(_ callback: [UInt64]) -> [UInt64] { [] }

    func takeForeignFailure() -> String? { failures.take() }
    var foreignFailurePending: Bool { failures.pending }
}

final class WorkerAddressSpace: WorkerProxy, AddressSpace {
    let configuration: AddressSpaceConfiguration

    init(pool: WorkerPool, configuration: AddressSpaceConfiguration, name: String) throws(ImplementationUnavailable) {
        self.configuration = configuration
        try super.init(pool: pool, create: .asCreate, WorkerCoding.configurationWords(configuration), refused: "plug-in '\(name)' refused the address-space configuration \(configuration)")
    }

    func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        guard let words = call(.asMap, [iova, length, phys, UInt64(permissions.rawValue)], "map(\(hex(iova)), \(hex(length)))", minimumResults: 1) else { return .failure(.overlap) }
        if words[0] == 0 { return .success(()) }
        return .failure(WorkerCoding.addressSpaceError(words[0]) ?? .overlap)
    }

    func unmap(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        guard let words = call(.asUnmap, [iova, length], "unmap(\(hex(iova)), \(hex(length)))", minimumResults: 2) else { return .failure(UnmapFailure(.overlap)) }
        return WorkerCoding.unmapResult(words) ?? .failure(UnmapFailure(.overlap))
    }

    func unmapAll(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        guard let words = call(.asUnmapAll, [iova, length], "unmap-all", minimumResults: 2) else { return .failure(UnmapFailure(.overlap)) }
        return WorkerCoding.unmapResult(words) ?? .failure(UnmapFailure(.overlap))
    }

    func translate(iova: UInt64, access: Access) -> Result<UInt64, TranslationFault> {
        guard let words = call(.asTranslate, [iova, UInt64(access.rawValue)], "translate(\(hex(iova)))", minimumResults: 2) else { return .failure(.notMapped) }
        if words[0] == 0 { return .success(words[1]) }
        let all = TranslationFault.allCases
        return .failure(words[0] <= UInt64(all.count) ? all[Int(words[0]) - 1] : .notMapped)
    }

    var batchesTranslations: Bool { true }

    func translations(_ probes: [(iova: UInt64, access: Access)]) -> [Result<UInt64, TranslationFault>] {
        let arguments = [UInt64(probes.count)] + probes.flatMap { [$0.iova, UInt64($0.access.rawValue)] }
        guard let words = call(.asTranslateMany, arguments, "translate of \(probes.count) probes", minimumResults: 2 * probes.count) else {
            return probes.map { _ in .failure(.notMapped) }
        }
        let all = TranslationFault.allCases
        return probes.indices.map { index in
            let status = words[2 * index]
            if status == 0 { return .success(words[2 * index + 1]) }
            return .failure(status <= UInt64(all.count) ? all[Int(status) - 1] : .notMapped)
        }
    }

    func mappings(in range: ClosedRange<UInt64>) -> [Extent] {
        guard let words = call(.asMappings, [range.lowerBound, range.upperBound], "mappings") else { return [] }
        var index = 0
        return WorkerCoding.extents(words, &index) ?? []
    }
}

final class WorkerIsolation: WorkerProxy, IsolationSystem {
    private let checkpoint: () -> Void

    init(pool: WorkerPool, topology: Topology, checkpoint: @escaping () -> Void, name: String) throws(ImplementationUnavailable) {
        self.checkpoint = checkpoint
        try super.init(pool: pool, create: .isoCreate, WorkerCoding.topologyWords(topology), refused: "plug-in '\(name)' refused the topology \(topology)")
    }

    override func serve(_ callback: [UInt64]) -> [UInt64] {
        if callback.first == WorkerOp.checkpoint.rawValue { checkpoint() }
        return []
    }

    private func status(_ op: WorkerOp, _ arguments: [Int], _ description: String) -> Result<Void, IsolationError> {
        guard let words = call(op, arguments.map { UInt64(bitPattern: Int64($0)) }, description, minimumResults: 1) else { return .failure(.noSuchObject) }
        if words[0] == 0 { return .success(()) }
        let all = IsolationError.allCases
        return .failure(words[0] <= UInt64(all.count) ? all[Int(words[0]) - 1] : .noSuchObject)
    }

    func bind(device: Int, driver: Driver) -> Result<Void, IsolationError> { status(.isoBind, [device, Driver.allCases.firstIndex(of: driver)!], "bind") }
    func claim(context: Int, group: Int) -> Result<Void, IsolationError> { status(.isoClaim, [context, group], "claim") }
    func release(context: Int, group: Int) -> Result<Void, IsolationError> { status(.isoRelease, [context, group], "release") }
    func attach(context: Int, group: Int, domain: Int) -> Result<Void, IsolationError> { status(.isoAttach, [context, group, domain], "attach") }
    func detach(context: Int, group: Int) -> Result<Void, IsolationError> { status(.isoDetach, [context, group], "detach") }
    func attachPASID(context: Int, device: Int, pasid: UInt32, domain: Int) -> Result<Void, IsolationError> {
        status(.isoAttachPASID, [context, device, Int(pasid), domain], "attach-pasid")
    }
    func detachPASID(context: Int, device: Int, pasid: UInt32) -> Result<Void, IsolationError> { status(.isoDetachPASID, [context, device, Int(pasid)], "detach-pasid") }
    func claimDevice(context: Int, device: Int) -> Result<Void, IsolationError> { status(.isoClaimDevice, [context, device], "claim-device") }
    func releaseDevice(context: Int, device: Int) -> Result<Void, IsolationError> { status(.isoReleaseDevice, [context, device], "release-device") }
    func attachDevice(context: Int, device: Int, domain: Int) -> Result<Void, IsolationError> { status(.isoAttachDevice, [context, device, domain], "attach-device") }
    func detachDevice(context: Int, device: Int) -> Result<Void, IsolationError> { status(.isoDetachDevice, [context, device], "detach-device") }

    func dma(device: Int, pasid: UInt32?, iova: UInt64, access: Access) -> DMAOutcome {
        guard let words = call(.isoDMA, [UInt64(bitPattern: Int64(device)), UInt64(pasid ?? 0), iova, UInt64(access.rawValue)], "dma(d\(device))", minimumResults: 3) else { return .noDomain }
        return WorkerCoding.dmaOutcome(words[...])
    }

    func owner(of group: Int) -> Int? {
        guard let words = call(.isoOwner, [UInt64(bitPattern: Int64(group))], "owner(g\(group))", minimumResults: 1), words[0] != UInt64.max else { return nil }
        return Int(min(words[0], 1 << 20))
    }
}

extension WorkerIsolation: BatchedIsolationProbes {
    func dma(_ probes: [IsolationProbe]) -> [DMAOutcome] {
        let arguments = [UInt64(probes.count)] + probes.flatMap { [UInt64(bitPattern: Int64($0.device)), UInt64($0.pasid ?? 0), IsolationProbe.iova, UInt64($0.access.rawValue)] }
        guard let words = call(.isoDMAMany, arguments, "dma probes", minimumResults: 3 * probes.count) else { return probes.map { _ in .noDomain } }
        return probes.indices.map { WorkerCoding.dmaOutcome(words[(3 * $0)..<(3 * $0 + 3)]) }
    }

    func owners(groups: Int) -> [Int?] {
        guard let words = call(.isoOwners, [UInt64(groups)], "owners", minimumResults: groups) else { return Array(repeating: nil, count: groups) }
        return words.prefix(groups).map { $0 == UInt64.max ? nil : Int(min($0, 1 << 20)) }
    }
}

/// A shadow plug-in in a worker (`ShadowMirror`): each invalidation is one round trip, and the
/// host calls it made are replayed here, on the checker's host, under its monitor.
final class WorkerShadow: WorkerProxy, ShadowSystem {
    let guest: GuestIOMMU
    let host: ShadowHost
    /// The guest version the worker's copy holds (-1: none yet).
    private var sentVersion = -1

    init(pool: WorkerPool, configuration: ShadowConfiguration, guest: GuestIOMMU, host: ShadowHost, name: String) throws(ImplementationUnavailable) {
        self.guest = guest
        self.host = host
        try super.init(pool: pool, create: .shadowCreate, WorkerCoding.shadowConfigurationWords(configuration),
                       refused: "plug-in '\(name)' refused the shadow configuration \(configuration)")
    }

    func invalidate(_ invalidation: Invalidation) -> ShadowResult {
        var words: [UInt64] = switch invalidation {
        case .pageSelective(let domain, let iova, let order): [0, UInt64(domain), iova, UInt64(order)]
        case .domain(let domain): [1, UInt64(domain), 0, 0]
        case .global: [2, 0, 0, 0]
        case .context(let domain): [3, UInt64(domain), 0, 0]
        }
        if guest.version != sentVersion {
            words += [1] + WorkerCoding.guestWords(guest)
            sentVersion = guest.version
        } else {
            words.append(0)
        }
        guard let answer = call(.shadowInvalidate, words, "invalidate \(invalidation)", minimumResults: 2),
              let calls = WorkerCoding.calls(answer[1...]) else {
            sentVersion = -1
            return .done
        }
        for (call, status) in calls {
            let here: AddressSpaceError?
            switch call {
            case .map(let d, let iova, let length, let phys, let p): here = host.map(domain: d, iova: iova, length: length, phys: phys, permissions: p).failureOrNil
            case .unmap(let d, let iova, let length): here = host.unmap(domain: d, iova: iova, length: length).failureOrNil
            case .replace(let d, let iova, let length, let extents): here = host.replace(domain: d, iova: iova, length: length, with: extents).failureOrNil
            case .notifyUnmap(let d, let iova, let length):
                host.notifyUnmap(domain: d, iova: iova, length: length)
                here = nil
            }
            if WorkerCoding.status(here) != status {
                failures.record("\(call): the worker's copy of the host answered status \(status), the checker's host \(WorkerCoding.status(here)) (the copies diverged)")
            }
        }
        return answer[0] == 1 ? .insufficientResources : .done
    }
}

final class WorkerInterrupts: WorkerProxy, InterruptSystem {
    let host: any InterruptHostInterface

    init(pool: WorkerPool, configuration: InterruptConfiguration, host: any InterruptHostInterface, name: String) throws(ImplementationUnavailable) {
        self.host = host
        try super.init(pool: pool, create: .irqCreate, [UInt64(configuration.vectors), configuration.dynamicAllocation ? 1 : 0, UInt64(configuration.defaultPASID),
                                                        configuration.policy.disabled == .pending ? 0 : 1],
                       refused: "plug-in '\(name)' refused the interrupt configuration \(configuration)")
    }

    override func serve(_ callback: [UInt64]) -> [UInt64] {
        guard let first = callback.first, let op = WorkerOp(rawValue: first) else { return [] }
        func arg(_ i: Int) -> UInt64 { i + 1 < callback.count ? callback[i + 1] : 0 }
        // Reported as the plug-in sent it (a uint32): an impossible vector shows as itself.
        let vector = Int(min(arg(0), UInt64(UInt32.max)))
        switch op {
        case .irqEnable: if case .success = host.enable(count: vector) { return [0] } else { return [1] }
        case .irqDisable: host.disable()
        case .irqGrow: if case .success = host.grow(to: vector) { return [0] } else { return [1] }
        case .irqAllocated: return [UInt64(host.allocated)]
        case .irqSetTrigger: host.setTrigger(vector: vector)
        case .irqHostSetPASID: host.setPASID(vector: vector, pasid: arg(1) == 0 ? nil : UInt32(truncatingIfNeeded: arg(2)))
        case .irqLatchedBits: return [host.latchedBits]
        case .irqTakeLatched: return [UInt64(host.takeLatched(vector: vector))]
        case .irqDeliver: host.deliver(vector: vector, address: arg(1), data: UInt32(truncatingIfNeeded: arg(2)))
        default: break
        }
        return []
    }

    func setEnabled(_ enabled: Bool) { _ = call(.irqSetEnabled, [enabled ? 1 : 0], "msix-enable(\(enabled))") }
    func setFunctionMask(_ masked: Bool) { _ = call(.irqSetFunctionMask, [masked ? 1 : 0], "function-mask(\(masked))") }
    func writeEntry(vector: Int, address: UInt64, data: UInt32) { _ = call(.irqWriteEntry, [UInt64(vector), address, UInt64(data)], "write-entry(v\(vector))") }
    func setVectorMask(vector: Int, masked: Bool) { _ = call(.irqSetVectorMask, [UInt64(vector), masked ? 1 : 0], "\(masked ? "mask" : "unmask")(v\(vector))") }
    func setPASID(vector: Int, pasid: UInt32?) { _ = call(.irqSetPASID, [UInt64(vector), pasid == nil ? 0 : 1, UInt64(pasid ?? 0)], "set-pasid(v\(vector))") }
    func pendingBits() -> UInt64 { call(.irqPendingBits, [], "pending-bits", minimumResults: 1)?[0] ?? 0 }
    func hostTriggered(vector: Int) { _ = call(.irqHostTriggered, [UInt64(vector)], "host-triggered(v\(vector))") }
}
