#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import IOMMUReference
import IOMMUSpec

/// What the layer answered in one step, and what the driver and device read.
public struct ProtectedDMAOutcome: Hashable, Sendable {
    public struct Mapped: Hashable, Sendable {
        public var id: Int
        /// nil: DMA_MAPPING_ERROR.
        public var dma: UInt64?

        public init(id: Int, dma: UInt64?) {
            self.id = id
            self.dma = dma
        }
    }

    /// Every map of the step, the driver's and other CPUs', in the order they were made.
    public var mapped: [Mapped] = []
    /// A coherent buffer or vring (nil: none, or refused).
    public var coherent: CoherentBuffer?
    /// The bytes a read returned (nil for a device read that faulted).
    public var data: [UInt8]?

    public init(mapped: [Mapped] = [], coherent: CoherentBuffer? = nil, data: [UInt8]? = nil) {
        self.mapped = mapped
        self.coherent = coherent
        self.data = data
    }
}

/// Judges a protected-DMA case step by step from what the layer answered: the model's bytes
/// against every read, every address the layer chose against the placement rules, every
/// failure against whether room was left. The same judge serves a live case and a recorded
/// trace (which has no memory to inspect; the live case checks that too, `ProtectedDMAMachine`).
final class ProtectedDMAJudge {
    let configuration: ProtectedDMAConfiguration
    let model: ProtectedDMAModel
    let bounce: BouncePlacement
    let coherentPlacement: CoherentPlacement
    /// DMA address of each live mapping.
    private(set) var dma: [Int: UInt64] = [:]
    /// Each live coherent buffer and vring.
    private(set) var buffers: [Int: CoherentBuffer] = [:]

    init(configuration: ProtectedDMAConfiguration) {
        self.configuration = configuration
        model = ProtectedDMAModel(configuration: configuration)
        bounce = BouncePlacement(configuration)
        coherentPlacement = CoherentPlacement(configuration)
    }

    private func bufferAddress(_ offset: Int) -> UInt64 { ProtectedDMAConfiguration.bufferBase + UInt64(offset) }

    /// The slots of every live bounce buffer.
    var liveSlots: [Range<Int>] { liveSlots(except: nil) }

    func liveSlots(except excluded: Int?) -> [Range<Int>] {
        dma.compactMap { id, address in
            id == excluded ? nil : model.mappings[id].flatMap { bounce.slots(dma: address, orig: bufferAddress($0.offset), size: UInt64($0.size)) }
        }
    }

    var livePages: [Range<Int>] {
        buffers.compactMap { id, buffer in model.coherent[id].flatMap { coherentPlacement.pages(buffer, size: $0.count) } }
    }

    /// The device address of `offset` in `target`, if it is live.
    func deviceAddress(_ target: ProtectedDMAOperation.Target, _ offset: Int) -> UInt64? {
        switch target {
        case .buffers: nil
        case .mapping(let id): dma[id].map { $0 + UInt64(offset) }
        case .coherent(let id): buffers[id].map { $0.dma + UInt64(offset) }
        }
    }

    func cpuAddress(_ target: ProtectedDMAOperation.Target, _ offset: Int) -> UInt64? {
        switch target {
        case .buffers: bufferAddress(offset)
        case .mapping: nil
        case .coherent(let id): buffers[id].map { $0.cpu + UInt64(offset) }
        }
    }

    /// The bytes the model says a read of `target` returns.
    func expected(_ target: ProtectedDMAOperation.Target, _ offset: Int, _ length: Int) -> [UInt8]? {
        switch target {
        case .buffers: Array(model.buffers[offset..<offset + length])
        case .mapping(let id): model.mappings[id].map { Array($0.view[offset..<offset + length]) }
        case .coherent(let id): model.coherent[id].map { Array($0[offset..<offset + length]) }
        }
    }

    /// What a step names that does not exist (a scenario's or trace's mistake, never a
    /// generated case's): a mapping or coherent buffer that is not live, a span past its end, a
    /// new id already live.
    func referenceProblem(_ operation: ProtectedDMAOperation) -> String? {
        func size(_ target: ProtectedDMAOperation.Target) -> Int? {
            switch target {
            case .buffers: model.buffers.count
            case .mapping(let id): model.mappings[id]?.size
            case .coherent(let id): model.coherent[id]?.count
            }
        }
        func span(_ target: ProtectedDMAOperation.Target, _ offset: Int, _ length: Int) -> String? {
            guard let size = size(target) else { return "\(target) is not live" }
            return offset <= size && length <= size - offset ? nil : "\(offset)+\(length) runs past the \(size) bytes of \(target)"
        }
        func fresh(_ id: Int, coherent: Bool) -> String? {
            (coherent ? model.coherent[id] != nil : model.mappings[id] != nil) ? "\(coherent ? "coherent" : "mapping") \(id) is already live" : nil
        }
        for injection in operation.injections {
            let problem: String? = switch injection.event {
            case .map(let id, _, _, _): fresh(id, coherent: false)
            case .deviceWrite(let target, let offset, let data): span(target, offset, data.count)
            }
            if let problem { return problem }
        }
        switch operation {
        case .map(let id, _, _, _, _): return fresh(id, coherent: false)
        case .allocCoherent(let id, _, _), .setupVirtqueue(let id, _): return fresh(id, coherent: true)
        case .unmap(let id, _): return model.mappings[id] == nil ? "mapping \(id) is not live" : nil
        case .freeCoherent(let id, _): return model.coherent[id] == nil ? "coherent \(id) is not live" : nil
        case .syncForDevice(let id, let offset, let length, _), .syncForCPU(let id, let offset, let length, _): return span(.mapping(id), offset, length)
        case .cpuWrite(let target, let offset, let data), .deviceWrite(let target, let offset, let data): return span(target, offset, data.count)
        case .cpuRead(let target, let offset, let length), .deviceRead(let target, let offset, let length): return span(target, offset, length)
        }
    }

    /// Judges one step; on agreement the model has taken it. The answer names what is wrong.
    func judge(_ operation: ProtectedDMAOperation, _ outcome: ProtectedDMAOutcome) -> String? {
        if case .map(let id, let offset, let size, let direction, _) = operation {
            if let problem = judgeMap(id, offset, size, direction, outcome) { return problem }
            return judgeInjections(operation.injections, outcome, releasing: nil)
        }
        // An unmap's slots are free once it returns, and events injected after its last memory
        // call run then: another CPU's map may take them. An unmap that copies back makes that
        // copy first, so what is injected before its first call finds them still held; later,
        // the trace cannot say whether the call had ended (the data copied back shows it if not).
        var unmapping: Int?
        if case .unmap(let id, _) = operation { unmapping = id }
        if let problem = judgeInjections(operation.injections, outcome, releasing: unmapping) { return problem }
        switch operation {
        case .map: return nil
        case .unmap(let id, _):
            model.unmap(id)
            dma[id] = nil
        case .syncForDevice(let id, let offset, let length, _): model.syncForDevice(id, offset..<offset + length)
        case .syncForCPU(let id, let offset, let length, _): model.syncForCPU(id, offset..<offset + length)
        case .allocCoherent(let id, let size, _): return judgeCoherent(id, size, outcome.coherent, allowed: true, what: "alloc coherent")
        case .setupVirtqueue(let id, let size):
            return judgeCoherent(id, size, outcome.coherent, allowed: model.virtqueueAllowed, what: "the vring")
        case .freeCoherent(let id, _):
            model.freeCoherent(id)
            buffers[id] = nil
        case .cpuWrite(let target, let offset, let data): write(target, offset, data)
        case .deviceWrite(let target, let offset, let data): write(target, offset, data)
        case .cpuRead(let target, let offset, let length), .deviceRead(let target, let offset, let length):
            guard let expected = expected(target, offset, length) else { return nil }
            guard let data = outcome.data else { return "the device faulted: \(target) is not in shared memory" }
            if let index = firstDifference(expected, data) {
                return "byte \(index) (\(target)+\(offset + index)) reads \(byte(data, index)), where the model has \(byte(expected, index))\(because(target, offset + index))"
            }
        }
        return nil
    }

    /// The first index where two byte strings differ, nil if they are equal. (memcmp first:
    /// the whole driver memory is compared after every step, and an element loop was 80% of a run.)
    func firstDifference(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Int? {
        let same: Bool? = a.withContiguousStorageIfAvailable { a in
            b.withContiguousStorageIfAvailable { b in a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0) }
        } ?? nil
        if same == true { return nil }
        for (index, (x, y)) in zip(a, b).enumerated() where x != y { return index }
        return a.count == b.count ? nil : min(a.count, b.count)
    }

    private func byte(_ bytes: [UInt8], _ index: Int) -> String { index < bytes.count ? hex(UInt64(bytes[index])) : "nothing" }

    /// Why the model holds what it holds at `offset` of `target`: which mapping last moved it.
    private func because(_ target: ProtectedDMAOperation.Target, _ offset: Int) -> String {
        guard case .buffers = target else { return "" }
        let covering = model.mappings.filter { offset >= $0.value.offset && offset < $0.value.offset + $0.value.size }.map { "mapping \($0.key) (\($0.value.direction.rawValue)) covers it" }
        return covering.isEmpty ? "" : "; " + covering.joined(separator: ", ")
    }

    private func write(_ target: ProtectedDMAOperation.Target, _ offset: Int, _ data: [UInt8]) {
        switch target {
        case .buffers: model.cpuWrite(at: offset, data)
        case .mapping(let id): model.deviceWrite(mapping: id, at: offset, data)
        case .coherent(let id): model.writeCoherent(id, at: offset, data)
        }
    }

    /// A map's answer: a failure only if no free slots could hold it (a mapping being released
    /// still holds its slots), an address only where swiotlb could have put it.
    private func judgeMap(_ id: Int, _ offset: Int, _ size: Int, _ direction: DMADirection, _ outcome: ProtectedDMAOutcome, releasing: Int? = nil) -> String? {
        let orig = bufferAddress(offset)
        let what = "map of buffers+\(offset) (\(hex(orig))), \(size) bytes \(direction.rawValue)"
        guard let result = outcome.mapped.first(where: { $0.id == id }) else { return "\(what): no answer recorded" }
        guard let address = result.dma else {
            if bounce.mustFit(orig: orig, size: UInt64(size), live: liveSlots) {
                return "\(what) failed (DMA_MAPPING_ERROR), but the pool has room: free slots could hold it, and a search slot by slot finds them (live bounce buffers: \(describeLive()))"
            }
            return nil
        }
        if let problem = bounce.problem(dma: address, orig: orig, size: UInt64(size), live: liveSlots(except: releasing)) {
            return "\(what) returned \(hex(address)): \(problem)"
        }
        model.map(id, offset: offset, size: size, direction: direction)
        dma[id] = address
        return nil
    }

    private func describeLive() -> String {
        let slots = dma.keys.sorted().compactMap { id in
            model.mappings[id].flatMap { m in bounce.slots(dma: dma[id] ?? 0, orig: bufferAddress(m.offset), size: UInt64(m.size)).map { "mapping \(id) slots \($0.lowerBound)..<\($0.upperBound)" } }
        }
        return slots.isEmpty ? "none" : slots.joined(separator: ", ")
    }

    private func judgeInjections(_ injections: [ProtectedDMAOperation.Injection], _ outcome: ProtectedDMAOutcome, releasing: Int?) -> String? {
        for injection in injections {
            switch injection.event {
            case .map(let id, let offset, let size, let direction):
                let copiesBack = releasing.flatMap { model.mappings[$0] }?.direction.syncsToCPU ?? false
                let released = injection.after > 0 || !copiesBack ? releasing : nil
                if let problem = judgeMap(id, offset, size, direction, outcome, releasing: released) { return "another CPU's \(problem)" }
            case .deviceWrite(let target, let offset, let data):
                write(target, offset, data)
            }
        }
        return nil
    }

    private func judgeCoherent(_ id: Int, _ size: Int, _ buffer: CoherentBuffer?, allowed: Bool, what: String) -> String? {
        guard allowed else {
            guard let buffer else { return nil }
            return "\(what) at \(hex(buffer.dma)) was set up for a virtio device without VIRTIO_F_ACCESS_PLATFORM: a protected guest must refuse it (virtio_features_ok, -ENODEV), since the device would use guest-physical addresses of private memory"
        }
        guard let buffer else {
            if coherentPlacement.fits(size: size, live: livePages) { return "\(what) of \(size) bytes failed, but the coherent area has a free block for it" }
            return nil
        }
        if let problem = coherentPlacement.problem(buffer, size: size, live: livePages) { return "\(what) of \(size) bytes at \(hex(buffer.cpu)): \(problem)" }
        model.allocCoherent(id, size: size)
        buffers[id] = buffer
        return nil
    }
}
