import IOMMUSpec

/// What the host saw during one interrupt step, in the order it happened: the plug-in's host
/// calls (with what each returned) and the device's raises (with their fate). The worker's copy
/// of the host logs them; the checker replays them on its own host and checks every answer.
enum InterruptHostEvent: Equatable {
    case enable(count: Int, status: UInt64)
    case disable
    case grow(count: Int, status: UInt64)
    case allocated(UInt64)
    case setTrigger(vector: Int)
    case setPASID(vector: Int, pasid: UInt32?)
    case latchedBits(UInt64)
    case takeLatched(vector: Int, taken: UInt64)
    case deliver(vector: Int, address: UInt64, data: UInt32)
    case raise(vector: Int, pasid: UInt32, fate: InterruptHost.Fate)
    /// The guest operation returned; raises still due happen after this.
    case returned
    /// The worker reads the pending bits now: what follows belongs to that read, as in
    /// process, where the checker reads them after judging the step's deliveries.
    case readingPending

    static let width = 5

    var words: [UInt64] {
        switch self {
        case .enable(let count, let status): [0, UInt64(truncatingIfNeeded: count), 0, 0, status]
        case .disable: [1, 0, 0, 0, 0]
        case .grow(let count, let status): [2, UInt64(truncatingIfNeeded: count), 0, 0, status]
        case .allocated(let value): [3, 0, 0, 0, value]
        case .setTrigger(let vector): [4, UInt64(truncatingIfNeeded: vector), 0, 0, 0]
        case .setPASID(let vector, let pasid): [5, UInt64(truncatingIfNeeded: vector), pasid == nil ? 0 : 1, UInt64(pasid ?? 0), 0]
        case .latchedBits(let bits): [6, 0, 0, 0, bits]
        case .takeLatched(let vector, let taken): [7, UInt64(truncatingIfNeeded: vector), 0, 0, taken]
        case .deliver(let vector, let address, let data): [8, UInt64(truncatingIfNeeded: vector), address, UInt64(data), 0]
        case .raise(let vector, let pasid, let fate): [9, UInt64(truncatingIfNeeded: vector), UInt64(pasid), 0, Self.fates.firstIndex(of: fate).map(UInt64.init) ?? 0]
        case .returned: [10, 0, 0, 0, 0]
        case .readingPending: [11, 0, 0, 0, 0]
        }
    }

    private static let fates: [InterruptHost.Fate] = [.signalled, .latched, .rejected]

    /// Vectors travel as the plug-in sent them (a uint32), so an impossible one shows as itself.
    init?(_ w: ArraySlice<UInt64>) {
        guard w.count == Self.width else { return nil }
        let kind = w[w.startIndex], a = w[w.startIndex + 1], b = w[w.startIndex + 2], c = w[w.startIndex + 3], result = w[w.startIndex + 4]
        let vector = Int(min(a, UInt64(UInt32.max)))
        switch kind {
        case 0: self = .enable(count: vector, status: result)
        case 1: self = .disable
        case 2: self = .grow(count: vector, status: result)
        case 3: self = .allocated(result)
        case 4: self = .setTrigger(vector: vector)
        case 5: self = .setPASID(vector: vector, pasid: b == 0 ? nil : UInt32(truncatingIfNeeded: c))
        case 6: self = .latchedBits(result)
        case 7: self = .takeLatched(vector: vector, taken: result)
        case 8: self = .deliver(vector: vector, address: b, data: UInt32(truncatingIfNeeded: c))
        case 9:
            guard result < UInt64(Self.fates.count) else { return nil }
            self = .raise(vector: vector, pasid: UInt32(truncatingIfNeeded: b), fate: Self.fates[Int(result)])
        case 10: self = .returned
        case 11: self = .readingPending
        default: return nil
        }
    }

    /// Replays a worker's host events on the checker's host (whose `system` must not act on
    /// raises: the plug-in heard of them in the worker). Raises must come in the order
    /// they were scheduled, none before it was due (after its `afterCall`-th counted host call,
    /// or once the operation returned), and each must meet the fate this host gives it.
    /// `afterReturn`: the events of the pending-bits read, after the operation and its raises.
    static func replay(_ events: ArraySlice<InterruptHostEvent>, scheduled: [(vector: Int, pasid: UInt32, afterCall: Int)], on host: InterruptHost,
                       afterReturn: Bool = false) -> String? {
        var next = 0, counted = 0, returned = afterReturn
        func status(_ result: Result<Void, InterruptHost.HostError>) -> UInt64 { if case .success = result { return 0 } else { return 1 } }
        for event in events {
            let here: InterruptHostEvent
            switch event {
            case .enable(let count, _): here = .enable(count: count, status: status(host.enable(count: count)))
            case .disable: host.disable(); here = event
            case .grow(let count, _): here = .grow(count: count, status: status(host.grow(to: count)))
            case .allocated: here = .allocated(UInt64(host.allocated))
            case .setTrigger(let vector): host.setTrigger(vector: vector); here = event
            case .setPASID(let vector, let pasid): host.setPASID(vector: vector, pasid: pasid); here = event
            case .latchedBits: here = .latchedBits(host.latchedBits)
            case .takeLatched(let vector, _): here = .takeLatched(vector: vector, taken: UInt64(host.takeLatched(vector: vector)))
            case .deliver(let vector, let address, let data): host.deliver(vector: vector, address: address, data: data); here = event
            case .returned:
                if returned { return "the operation returned twice" }
                returned = true
                here = event
            case .readingPending:
                return "the pending bits were read twice"
            case .raise(let vector, let pasid, _):
                guard next < scheduled.count, scheduled[next].vector == vector, scheduled[next].pasid == pasid,
                      returned || scheduled[next].afterCall <= counted else {
                    return "raise(v\(vector), pasid \(pasid)) after \(counted) host calls was not scheduled then"
                }
                next += 1
                host.raise(vector: vector, pasid: pasid)
                here = .raise(vector: vector, pasid: pasid, fate: host.raises.last?.fate ?? .rejected)
            }
            if event.isCounted { counted += 1 }
            if here != event { return "the worker's copy answered \(event), the checker's host \(here)" }
        }
        if !returned { return "the operation never returned" }
        if next < scheduled.count { return "raise(v\(scheduled[next].vector), pasid \(scheduled[next].pasid)) was never made" }
        return nil
    }

    /// Host calls that count toward an injection's `afterCall` (the SET_IRQS-style ones).
    var isCounted: Bool {
        switch self {
        case .enable, .disable, .grow, .setTrigger, .setPASID: true
        default: false
        }
    }
}

/// One interrupt step on the wire: the guest operation, whether the device raises now (a raise
/// the model did not prohibit), and the raises scheduled during it.
enum InterruptStepCoding {
    static func words(_ operation: InterruptOperation?, raiseNow: Bool, raises: [InterruptHost.Injection]) -> [UInt64] {
        let op: [UInt64] = switch operation {
        case .setEnabled(let on, _): [0, on ? 1 : 0, 0, 0]
        case .setFunctionMask(let on, _): [1, on ? 1 : 0, 0, 0]
        case .writeEntry(let vector, let address, let data, _): [2, UInt64(truncatingIfNeeded: vector), address, UInt64(data)]
        case .setVectorMask(let vector, let masked, _): [3, UInt64(truncatingIfNeeded: vector), masked ? 1 : 0, 0]
        case .setPASID(let vector, let pasid, _): [4, UInt64(truncatingIfNeeded: vector), pasid == nil ? 0 : 1, UInt64(pasid ?? 0)]
        case .raise(let vector, let pasid): [5, UInt64(truncatingIfNeeded: vector), UInt64(pasid), 0]
        case nil: [6, 0, 0, 0]
        }
        return op + [raiseNow ? 1 : 0, UInt64(raises.count)] + raises.flatMap { [UInt64(truncatingIfNeeded: $0.afterCall), UInt64(truncatingIfNeeded: $0.vector), UInt64($0.pasid)] }
    }

    /// The operation (nil: only read the pending bits), raise-now and the raises; nil if malformed.
    static func decode(_ w: ArraySlice<UInt64>) -> (operation: InterruptOperation?, raiseNow: Bool, raises: [InterruptHost.Injection])? {
        guard w.count >= 6 else { return nil }
        let base = w.startIndex
        let a = w[base + 1], b = w[base + 2], c = w[base + 3]
        let vector = Int(min(a, 1 << 20))
        let count = Int(min(w[base + 5], 1 << 12))
        guard w.count >= 6 + 3 * count else { return nil }
        let raises = (0..<count).map { i in
            InterruptHost.Injection(afterCall: Int(min(w[base + 6 + 3 * i], 1 << 20)), vector: Int(min(w[base + 7 + 3 * i], 1 << 20)), pasid: UInt32(truncatingIfNeeded: w[base + 8 + 3 * i]))
        }
        let operation: InterruptOperation?
        switch w[base] {
        case 0: operation = .setEnabled(a != 0, raises: raises)
        case 1: operation = .setFunctionMask(a != 0, raises: raises)
        case 2: operation = .writeEntry(vector: vector, address: b, data: UInt32(truncatingIfNeeded: c), raises: raises)
        case 3: operation = .setVectorMask(vector: vector, masked: b != 0, raises: raises)
        case 4: operation = .setPASID(vector: vector, pasid: b == 0 ? nil : UInt32(truncatingIfNeeded: c), raises: raises)
        case 5: operation = .raise(vector: vector, pasid: UInt32(truncatingIfNeeded: b))
        case 6: operation = nil
        default: return nil
        }
        return (operation, w[base + 4] != 0, raises)
    }
}

/// An interrupt plug-in in the worker, over a copy of the checker's host: a whole step (the
/// guest write, the raises scheduled during and after it, then the pending bits) runs here, and
/// what the host saw goes back in one answer. One round trip per step instead of one per host
/// call, raise and read (6.4 on average).
final class InterruptMirror: ReportsForeignFailures {
    let host: InterruptHost
    private let recorder: RecordingInterruptHost
    let vmm: PluginInterrupts
    /// The plug-in's contract violations during the step, before the pending read; those of the
    /// read travel in the answer, so the checker reports each where it would in process.
    private var stepFailure: String?

    init(library: PluginLibrary, configuration: InterruptConfiguration) throws(ImplementationUnavailable) {
        host = InterruptHost(configuration: configuration)
        recorder = RecordingInterruptHost(host)
        vmm = try PluginInterrupts(library: library, configuration: configuration, host: recorder)
        host.system = vmm
        host.onRaise = { [unowned recorder] vector, pasid, fate in _ = recorder.record(.raise(vector: vector, pasid: pasid, fate: fate)) }
    }

    /// The pending bits, the pending read's contract violations, then the event count and the
    /// events.
    func step(_ request: ArraySlice<UInt64>) -> [UInt64] {
        guard let (operation, raiseNow, raises) = InterruptStepCoding.decode(request) else { return [UInt64.max] }
        recorder.reset()
        host.during(raises) {
            if let operation { InterruptMachine.write(operation, to: vmm, host: host, raiseNow: raiseNow) }
            _ = recorder.record(.returned)
        }
        _ = recorder.record(.readingPending)
        stepFailure = vmm.takeForeignFailure()
        let pending = vmm.pendingBits()
        let readFailure = vmm.takeForeignFailure() ?? ""
        if recorder.overflowed {
            stepFailure = stepFailure ?? "the plug-in made more than \(RecordingInterruptHost.limit) host calls in one step (the worker logs no more)"
        }
        return [pending] + Words.pack(readFailure) + [UInt64(recorder.events.count)] + recorder.events.flatMap(\.words)
    }

    func takeForeignFailure() -> String? {
        defer { stepFailure = nil }
        return stepFailure ?? vmm.takeForeignFailure()
    }

    var foreignFailurePending: Bool { stepFailure != nil || vmm.foreignFailurePending }
}

/// The worker's host as the plug-in reaches it: each call is logged before it runs (raises it
/// causes come after it in the log, as they do in time) and completed with its answer.
private final class RecordingInterruptHost: InterruptHostInterface {
    /// Events kept per step: a plug-in that loops on a host call cannot fill the worker's memory
    /// before its timeout.
    static let limit = 1 << 16
    let host: InterruptHost
    private(set) var events: [InterruptHostEvent] = []
    private(set) var overflowed = false

    init(_ host: InterruptHost) { self.host = host }

    func reset() {
        events = []
        overflowed = false
    }

    /// Appends `event`; its index, or nil past the limit.
    func record(_ event: InterruptHostEvent) -> Int? {
        guard events.count < Self.limit else {
            overflowed = true
            return nil
        }
        events.append(event)
        return events.count - 1
    }

    private func logged(_ event: InterruptHostEvent, _ run: () -> InterruptHostEvent?) {
        let slot = record(event)
        if let completed = run(), let slot { events[slot] = completed }
    }

    private static func status(_ result: Result<Void, InterruptHost.HostError>) -> UInt64 {
        if case .success = result { return 0 }
        return 1
    }

    func enable(count: Int) -> Result<Void, InterruptHost.HostError> {
        var result: Result<Void, InterruptHost.HostError> = .success(())
        logged(.enable(count: count, status: 0)) {
            result = host.enable(count: count)
            return .enable(count: count, status: Self.status(result))
        }
        return result
    }

    func disable() { logged(.disable) { host.disable(); return nil } }

    func grow(to count: Int) -> Result<Void, InterruptHost.HostError> {
        var result: Result<Void, InterruptHost.HostError> = .success(())
        logged(.grow(count: count, status: 0)) {
            result = host.grow(to: count)
            return .grow(count: count, status: Self.status(result))
        }
        return result
    }

    var allocated: Int {
        let value = host.allocated
        _ = record(.allocated(UInt64(truncatingIfNeeded: value)))
        return value
    }

    func setTrigger(vector: Int) { logged(.setTrigger(vector: vector)) { host.setTrigger(vector: vector); return nil } }
    func setPASID(vector: Int, pasid: UInt32?) { logged(.setPASID(vector: vector, pasid: pasid)) { host.setPASID(vector: vector, pasid: pasid); return nil } }

    var latchedBits: UInt64 {
        let bits = host.latchedBits
        _ = record(.latchedBits(bits))
        return bits
    }

    func takeLatched(vector: Int) -> Int {
        let taken = host.takeLatched(vector: vector)
        _ = record(.takeLatched(vector: vector, taken: UInt64(truncatingIfNeeded: taken)))
        return taken
    }

    func deliver(vector: Int, address: UInt64, data: UInt32) {
        host.deliver(vector: vector, address: address, data: data)
        _ = record(.deliver(vector: vector, address: address, data: data))
    }
}
