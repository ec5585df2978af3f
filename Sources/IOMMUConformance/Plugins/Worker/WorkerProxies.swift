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
        switch connection.call([create.rawValue] + arguments, during: "create") {
        case .success(let answer) where answer.results.count == 2 && answer.results[0] == 0:
            handle = answer.results[1]
        case .success:
            throw ImplementationUnavailable.refused(refused)
        case .failure(let error):
            throw ImplementationUnavailable(error.description)
        }
    }

    deinit { _ = closeForeign() }

    /// Sends `destroy` once and waits for it: a plug-in that crashes or hangs in `destroy`
    /// fails the case instead of passing it.
    func closeForeign() -> String? {
        guard handle != 0 else { return nil }
        defer { handle = 0 }
        if let death = connection.death { return death }
        switch connection.call([WorkerOp.destroy.rawValue, handle], during: "destroy") {
        case .success(let answer): return answer.failure.isEmpty ? nil : answer.failure
        case .failure(let error): return error.description
        }
    }

    /// Calls `op` on this object; nil (with the failure recorded) if the worker died or hung.
    func call(_ op: WorkerOp, _ arguments: [UInt64], _ description: @autoclosure () -> String, minimumResults: Int = 0) -> [UInt64]? {
        switch connection.call([op.rawValue, handle] + arguments, during: description()) {
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

    /// Runs several requests on this object in one round trip (at most 64); their results in
    /// order, or nil (with the failure recorded) if the worker died, hung or garbled them.
    func batch(_ requests: [[UInt64]], _ description: @autoclosure () -> String) -> [[UInt64]]? {
        let words = [UInt64(requests.count)] + requests.flatMap { [UInt64($0.count)] + $0 }
        guard let answer = call(.batch, words, description(), minimumResults: 1) else { return nil }
        var results: [[UInt64]] = [], index = 1
        for _ in requests {
            guard index < answer.count, answer[index] <= UInt64(answer.count - index - 1) else {
                failures.record("the worker garbled its answer to \(description())")
                return nil
            }
            let count = Int(answer[index])
            results.append(Array(answer[(index + 1)..<(index + 1 + count)]))
            index += 1 + count
        }
        return results
    }

    func takeForeignFailure() -> String? { failures.take() }
    var foreignFailurePending: Bool { failures.pending }
}

final class WorkerAddressSpace: WorkerProxy, AddressSpace {
    let configuration: AddressSpaceConfiguration

    let observable: AddressSpaceObservables

    init(pool: WorkerPool, configuration: AddressSpaceConfiguration, name: String, observable: AddressSpaceObservables) throws(ImplementationUnavailable) {
        self.configuration = configuration
        self.observable = observable
        try super.init(pool: pool, create: .asCreate, WorkerCoding.configurationWords(configuration), refused: "plug-in '\(name)' refused the address-space configuration \(configuration)")
    }

    /// What the machine will ask right after the next state-changing call.
    private var expected: (range: ClosedRange<UInt64>?, probes: [(iova: UInt64, access: Access)])?
    /// Those answers, taken in the call's round trip; good until the next call.
    private var prefetched: (range: ClosedRange<UInt64>?, extents: [Extent], probes: [(iova: UInt64, access: Access)], translations: [Result<UInt64, TranslationFault>])?

    func expectComparison(mappings range: ClosedRange<UInt64>?, translations probes: [(iova: UInt64, access: Access)]) {
        expected = (range, probes)
    }

    /// A state-changing call, with the expected probes after it in the same round trip.
    private func changing(_ op: WorkerOp, _ arguments: [UInt64], _ description: @autoclosure () -> String, minimumResults: Int) -> [UInt64]? {
        prefetched = nil
        guard let (range, probes) = expected else { return call(op, arguments, description(), minimumResults: minimumResults) }
        expected = nil
        let mappings = range.map { [[WorkerOp.asMappings.rawValue, $0.lowerBound, $0.upperBound]] } ?? []
        let requests = [[op.rawValue] + arguments] + mappings + [[WorkerOp.asTranslateMany.rawValue] + Self.translateArguments(probes)]
        guard let answers = batch(requests, "\(description()) and the state probes after it") else { return nil }
        guard answers.count == requests.count, answers[0].count >= minimumResults else {
            failures.record("the worker answered \(description()) with \(answers.first?.count ?? 0) words, \(minimumResults) expected")
            return nil
        }
        var index = 0
        // Answers that do not decode are asked again, one call each, and judged as they were before.
        let extents = range == nil ? [] : WorkerCoding.extents(answers[1], &index)
        if let extents, index == (range == nil ? 0 : answers[1].count), let translations = Self.translations(answers[answers.count - 1], count: probes.count) {
            prefetched = (range, extents, probes, translations)
        }
        return answers[0]
    }

    func map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError> {
        guard let words = changing(.asMap, [iova, length, phys, UInt64(permissions.rawValue)], "map(\(hex(iova)), \(hex(length)))", minimumResults: 1) else { return .failure(.overlap) }
        if words[0] == 0 { return .success(()) }
        return .failure(WorkerCoding.addressSpaceError(words[0]) ?? .overlap)
    }

    func unmap(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        guard let words = changing(.asUnmap, [iova, length], "unmap(\(hex(iova)), \(hex(length)))", minimumResults: 2) else { return .failure(UnmapFailure(.overlap)) }
        return WorkerCoding.unmapResult(words) ?? .failure(UnmapFailure(.overlap))
    }

    func unmapAll(iova: UInt64, length: UInt64) -> Result<UInt64, UnmapFailure> {
        guard let words = changing(.asUnmapAll, [iova, length], "unmap-all", minimumResults: 2) else { return .failure(UnmapFailure(.overlap)) }
        return WorkerCoding.unmapResult(words) ?? .failure(UnmapFailure(.overlap))
    }

    func translate(iova: UInt64, access: Access) -> Result<UInt64, TranslationFault> {
        prefetched = nil
        guard let words = call(.asTranslate, [iova, UInt64(access.rawValue)], "translate(\(hex(iova)))", minimumResults: 2) else { return .failure(.notMapped) }
        return Self.translation(words[0], words[1])
    }

    var batchesTranslations: Bool { true }

    func translations(_ probes: [(iova: UInt64, access: Access)]) -> [Result<UInt64, TranslationFault>] {
        if let prefetched, prefetched.probes.elementsEqual(probes, by: { $0.iova == $1.iova && $0.access == $1.access }) { return prefetched.translations }
        prefetched = nil
        guard let words = call(.asTranslateMany, Self.translateArguments(probes), "translate of \(probes.count) probes", minimumResults: 2 * probes.count),
              let answers = Self.translations(words, count: probes.count) else {
            return probes.map { _ in .failure(.notMapped) }
        }
        return answers
    }

    func mappings(in range: ClosedRange<UInt64>) -> [Extent] {
        if let prefetched, prefetched.range == range { return prefetched.extents }
        if !observable.contains(.mappings) { return [] }
        prefetched = nil
        guard let words = call(.asMappings, [range.lowerBound, range.upperBound], "mappings") else { return [] }
        var index = 0
        return WorkerCoding.extents(words, &index) ?? []
    }

    private static func translateArguments(_ probes: [(iova: UInt64, access: Access)]) -> [UInt64] {
        [UInt64(probes.count)] + probes.flatMap { [$0.iova, UInt64($0.access.rawValue)] }
    }

    private static func translations(_ words: [UInt64], count: Int) -> [Result<UInt64, TranslationFault>]? {
        guard words.count >= 2 * count else { return nil }
        return (0..<count).map { translation(words[2 * $0], words[2 * $0 + 1]) }
    }

    private static func translation(_ status: UInt64, _ phys: UInt64) -> Result<UInt64, TranslationFault> {
        if status == 0 { return .success(phys) }
        let all = TranslationFault.allCases
        return .failure(status <= UInt64(all.count) ? all[Int(status) - 1] : .notMapped)
    }
}

final class WorkerIsolation: WorkerProxy, IsolationSystem {
    private let checkpoint: () -> Void
    private let topology: Topology
    private let pasids: [UInt32?]
    private let allDevices: [Int]
    var checkpointFocus: [Int]?
    /// The view the next probes are answered from: a checkpoint's while it is replayed, then the
    /// one after the operation, until the next call.
    private var view: (owners: [Int?], devices: [Int], outcomes: [DMAOutcome])?

    init(pool: WorkerPool, topology: Topology, checkpoint: @escaping () -> Void, name: String) throws(ImplementationUnavailable) {
        self.checkpoint = checkpoint
        self.topology = topology
        pasids = [nil] + topology.probedPASIDs.map { Optional($0) }
        allDevices = Array(0..<topology.deviceCount)
        try super.init(pool: pool, create: .isoCreate, WorkerCoding.topologyWords(topology), refused: "plug-in '\(name)' refused the topology \(topology)")
    }

    /// Runs one operation with the monitor's focus; replays its checkpoints; returns its results.
    private func step(_ op: WorkerOp, _ arguments: [UInt64], _ description: String, minimumResults: Int) -> [UInt64]? {
        view = nil
        let focus = checkpointFocus
        let focusWords: [UInt64] = focus.map { [1, UInt64($0.count)] + $0.map { UInt64(truncatingIfNeeded: $0) } } ?? [0, 0]
        guard let words = call(.isoStep, focusWords + [op.rawValue] + arguments, description) else { return nil }
        var index = 0
        func take(_ count: Int) -> ArraySlice<UInt64>? {
            guard count >= 0, count <= words.count - index else { return nil }
            defer { index += count }
            return words[index..<(index + count)]
        }
        func malformed() -> [UInt64]? {
            failures.record("the worker sent a malformed answer to \(description)")
            view = nil
            return nil
        }
        guard let resultCount = take(1)?.first, let results = take(Int(min(resultCount, 1 << 20))), results.count >= minimumResults,
              let viewCount = take(1)?.first else { return malformed() }
        let focusDevices = focus == nil ? allDevices : IsolationView.devices(of: focus, topology)
        for _ in 0..<min(viewCount, 1 << 20) {
            guard let checkpointView = decodeView(take, focusDevices) else { return malformed() }
            view = checkpointView
            checkpoint()
        }
        guard let after = decodeView(take, allDevices), index == words.count else { return malformed() }
        view = after
        return Array(results)
    }

    private func decodeView(_ take: (Int) -> ArraySlice<UInt64>?, _ devices: [Int]) -> (owners: [Int?], devices: [Int], outcomes: [DMAOutcome])? {
        let count = devices.count * pasids.count * Access.allCases.count
        guard let owners = take(topology.groups.count), let outcomes = take(3 * count) else { return nil }
        let base = outcomes.startIndex
        return (owners.map { $0 == UInt64.max ? nil : Int(min($0, 1 << 20)) }, devices,
                (0..<count).map { WorkerCoding.dmaOutcome(outcomes[(base + 3 * $0)..<(base + 3 * $0 + 3)]) })
    }

    private func status(_ op: WorkerOp, _ arguments: [Int], _ description: String) -> Result<Void, IsolationError> {
        guard let words = step(op, arguments.map { UInt64(bitPattern: Int64($0)) }, description, minimumResults: 1) else { return .failure(.noSuchObject) }
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
        guard let words = step(.isoDMA, [UInt64(bitPattern: Int64(device)), UInt64(pasid ?? 0), iova, UInt64(access.rawValue)], "dma(d\(device))", minimumResults: 3) else { return .noDomain }
        return WorkerCoding.dmaOutcome(words[...])
    }

    func owner(of group: Int) -> Int? {
        guard let words = step(.isoOwner, [UInt64(bitPattern: Int64(group))], "owner(g\(group))", minimumResults: 1), words[0] != UInt64.max else { return nil }
        return Int(min(words[0], 1 << 20))
    }
}

extension WorkerIsolation: BatchedIsolationProbes {
    /// From the view the worker took: a checkpoint's while it is replayed, else the one after
    /// the operation. The monitor and the machine ask for nothing else; if they did, the plug-in
    /// would have moved on from the instant asked about, so that is refused, not asked.
    func dma(devices: [Int], pasids: [UInt32?]) -> [DMAOutcome] {
        if let view, view.devices == devices, pasids == self.pasids { return view.outcomes }
        failures.record("the checker asked for DMA probes the worker did not take (a bug of the checker)")
        return []
    }

    func owners(groups: Int) -> [Int?] {
        if let view, view.owners.count == groups { return view.owners }
        failures.record("the checker asked for owners the worker did not read (a bug of the checker)")
        return Array(repeating: nil, count: groups)
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

/// An interrupt plug-in in a worker (`InterruptMirror`): each step is one round trip, and what
/// the worker's copy of the host saw is replayed here, on the checker's host, in order, with
/// every answer checked against the one this host gives.
final class WorkerInterrupts: WorkerProxy, InterruptSystem, MirroredInterrupts {
    let host: InterruptHost
    /// What the last step's answer said of the pending-bits read that ended it, until the
    /// machine reads them: the bits, the host events of the read, its contract violations.
    private var pendingRead: (bits: UInt64, events: ArraySlice<InterruptHostEvent>, failure: String)?

    init(pool: WorkerPool, configuration: InterruptConfiguration, host: InterruptHost, name: String) throws(ImplementationUnavailable) {
        self.host = host
        try super.init(pool: pool, create: .irqCreate, [UInt64(configuration.vectors), configuration.dynamicAllocation ? 1 : 0, UInt64(configuration.defaultPASID),
                                                        configuration.policy.disabled == .pending ? 0 : 1],
                       refused: "plug-in '\(name)' refused the interrupt configuration \(configuration)")
    }

    func perform(_ operation: InterruptOperation?, raiseNow: Bool, raises: [InterruptHost.Injection]) {
        pendingRead = nil
        func description() -> String { operation.map { "\($0)" } ?? "pending-bits" }
        let words = InterruptStepCoding.words(operation, raiseNow: raiseNow, raises: raises)
        guard let answer = call(.irqStep, words, description(), minimumResults: 3) else { return }
        var index = 1
        let width = InterruptHostEvent.width
        guard let readFailure = Words.unpack(answer, &index), index < answer.count, answer[index] <= UInt64(answer.count / width),
              answer.count == index + 1 + Int(answer[index]) * width else {
            failures.record("the worker answered \(description()) with a malformed list of host events")
            return
        }
        var events: [InterruptHostEvent] = []
        for start in stride(from: index + 1, to: answer.count, by: width) {
            guard let event = InterruptHostEvent(answer[start..<(start + width)]) else {
                failures.record("the worker sent a malformed host event during \(description())")
                return
            }
            events.append(event)
        }
        guard let read = events.firstIndex(of: .readingPending) else {
            failures.record("the worker's copy of the host never read the pending bits during \(description())")
            return
        }
        var scheduled: [(vector: Int, pasid: UInt32, afterCall: Int)] = raises.sorted { $0.afterCall < $1.afterCall }.map { ($0.vector, $0.pasid, $0.afterCall) }
        if raiseNow, case .raise(let vector, let pasid) = operation { scheduled.insert((vector, pasid, 0), at: 0) }
        if let problem = InterruptHostEvent.replay(events[..<read], scheduled: scheduled.filter { $0.vector >= 0 && $0.vector < host.configuration.vectors }, on: host) {
            failures.record("\(problem) (the worker's copy of the host and the checker's diverged)")
            return
        }
        pendingRead = (answer[0], events[(read + 1)...], readFailure)
    }

    /// The bits the last step read, its host events replayed now, as the read happens now in
    /// process; a read with no step before it is a step of its own.
    func pendingBits() -> UInt64 {
        if pendingRead == nil { perform(nil, raiseNow: false, raises: []) }
        guard let read = pendingRead else { return 0 }
        pendingRead = nil
        if !read.failure.isEmpty { failures.record(read.failure) }
        if let problem = InterruptHostEvent.replay(read.events, scheduled: [], on: host, afterReturn: true) {
            failures.record("\(problem) (the worker's copy of the host and the checker's diverged)")
        }
        return read.bits
    }

    // One call at a time, with no raises scheduled. The machine sends whole steps; nothing
    // raises on the checker's host outside `perform`'s replay, which is why `hostTriggered`
    // does nothing.
    func setEnabled(_ enabled: Bool) { perform(.setEnabled(enabled, raises: []), raiseNow: false, raises: []) }
    func setFunctionMask(_ masked: Bool) { perform(.setFunctionMask(masked, raises: []), raiseNow: false, raises: []) }
    func writeEntry(vector: Int, address: UInt64, data: UInt32) { perform(.writeEntry(vector: vector, address: address, data: data, raises: []), raiseNow: false, raises: []) }
    func setVectorMask(vector: Int, masked: Bool) { perform(.setVectorMask(vector: vector, masked: masked, raises: []), raiseNow: false, raises: []) }
    func setPASID(vector: Int, pasid: UInt32?) { perform(.setPASID(vector: vector, pasid: pasid, raises: []), raiseNow: false, raises: []) }
    /// Raises happen in the worker's copy of the host, where the plug-in hears of them; the
    /// replay of one on the checker's host must not tell it twice.
    func hostTriggered(vector: Int) {}
}
