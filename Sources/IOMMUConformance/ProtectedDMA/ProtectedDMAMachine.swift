import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// The runner for protected DMA: the layer under test over the checker's memory, the model in
/// plain bytes beside it. Each step is judged from the layer's answers (`ProtectedDMAJudge`),
/// from every memory call it made (`GuestMemory`), and then from the whole memory: the driver's
/// bytes, every live bounce buffer as the device sees it, every coherent buffer, and which
/// pages are shared.
struct ProtectedDMAMachine: DifferentialMachine {
    typealias Command = ProtectedDMAOperation
    static let commandKinds = ProtectedDMAOperation.kindNames
    /// map, unmap and device writes: without them nothing is ever bounced back.
    static let foundationalKinds = [0, 1, 10]

    let configuration: ProtectedDMAConfiguration
    let memory: GuestMemory
    let implementation: any ProtectedDMASystem
    let judge: ProtectedDMAJudge
    let generator: ProtectedDMAGenerator
    /// A plug-in's contract violations, asked after every step.
    let foreign: ForeignFailures
    /// The user's own invariant of the implementation (`ProtectedDMACheck.invariant`).
    var invariant: ((any ProtectedDMASystem) -> String?)?
    /// Called with every operation and what the layer answered (run --emit-trace).
    var record: ((ProtectedDMAOperation, ProtectedDMAOutcome) -> Void)?

    mutating func record(into recorder: TraceRecorder<ProtectedDMATrace>) {
        record = { operation, outcome in recorder.trace?.steps.append(.init(line: 0, operation: operation, outcome: outcome)) }
    }
    /// Cast once per case: a plug-in in a worker takes each step whole.
    let mirrored: (any MirroredProtectedDMA)?
    /// The next id a mapping or coherent buffer takes.
    private(set) var nextID = 0

    init(configuration: ProtectedDMAConfiguration, memory: GuestMemory, implementation: any ProtectedDMASystem) {
        self.configuration = configuration
        self.memory = memory
        self.implementation = implementation
        judge = ProtectedDMAJudge(configuration: configuration)
        generator = ProtectedDMAGenerator(configuration: configuration)
        foreign = ForeignFailures(implementation)
        mirrored = implementation as? MirroredProtectedDMA
    }

    func drawCommand(_ stream: ChoiceStream, enabled: KindSet) -> ProtectedDMAOperation {
        generator.draw(stream, enabled: enabled, judge: judge, nextID: nextID)
    }

    func kind(of command: ProtectedDMAOperation) -> Int { command.kind }

    mutating func step(_ operation: ProtectedDMAOperation) -> StepResult {
        nextID = max(nextID, Self.newIDs(operation).map { $0 + 1 }.max() ?? 0)
        let (outcome, fault) = Self.perform(operation, on: implementation, mirrored: mirrored, memory: memory, judge: judge)
        if let failure = foreign.take() { return .disagreed(message: "\(operation): \(failure)") }
        record?(operation, outcome)
        if let problem = Self.judged(operation, outcome, fault: fault, memory: memory, judge: judge, witness: { record?($0, $1) }) {
            return .disagreed(message: problem)
        }
        let label: String = switch operation {
        case .map(let id, _, _, _, _): outcome.mapped.first { $0.id == id }?.dma == nil ? "mapping-error" : "ok"
        case .allocCoherent: outcome.coherent == nil ? "no-memory" : "ok"
        case .setupVirtqueue: outcome.coherent == nil ? "refused" : "ok"
        default: "ok"
        }
        return .agreed(outcome: label, accepted: label == "ok")
    }

    /// The ids an operation gives new mappings and coherent buffers.
    static func newIDs(_ operation: ProtectedDMAOperation) -> [Int] {
        var ids: [Int] = operation.injections.compactMap { if case .map(let id, _, _, _) = $0.event { id } else { nil } }
        switch operation {
        case .map(let id, _, _, _, _), .allocCoherent(let id, _, _), .setupVirtqueue(let id, _): ids.append(id)
        default: break
        }
        return ids
    }

    /// The memory call rules, then the answers, then the whole memory: the first problem. A
    /// difference in memory is also handed to `witness` as a read that shows it, so a recorded
    /// trace ends at a line `verify` can judge; a broken memory-call rule has no such read.
    static func judged(_ operation: ProtectedDMAOperation, _ outcome: ProtectedDMAOutcome, fault: String?, memory: GuestMemory, judge: ProtectedDMAJudge,
                       witness: (ProtectedDMAOperation, ProtectedDMAOutcome) -> Void = { _, _ in }) -> String? {
        if let problem = memory.takeViolation() { return "\(operation): in the layer's memory calls: \(problem)" }
        if let problem = fault { return "\(operation): \(problem)" }
        if let problem = judge.judge(operation, outcome) { return "\(operation): \(problem)" }
        if let (problem, read) = compare(memory, judge) {
            if let read { witness(read, ProtectedDMAOutcome(data: observe(read, memory: memory, judge: judge))) }
            return "after \(operation): \(problem)"
        }
        return nil
    }

    /// Runs one operation: the layer's call with its scope (what of the driver's memory it may
    /// read and write) and the injected events, or the driver's or device's access. Returns
    /// what was answered, and a fault the judge cannot see (a device write that did not land, a
    /// failed map that changed memory).
    static func perform(_ operation: ProtectedDMAOperation, on layer: any ProtectedDMASystem, mirrored: (any MirroredProtectedDMA)? = nil, memory: GuestMemory,
                        judge: ProtectedDMAJudge) -> (ProtectedDMAOutcome, String?) {
        if let mirrored { return mirrored.perform(operation, memory: memory) }
        var outcome = ProtectedDMAOutcome()
        var fault: String?
        let model = judge.model
        func buffer(_ offset: Int, _ length: Int) -> Range<UInt64> {
            let base = ProtectedDMAConfiguration.bufferBase + UInt64(offset)
            return base..<base + UInt64(length)
        }
        func deviceWrite(_ target: ProtectedDMAOperation.Target, _ offset: Int, _ data: [UInt8]) {
            guard let address = judge.deviceAddress(target, offset), !memory.deviceWrite(address, data), fault == nil else { return }
            fault = "the device faulted writing \(data.count) bytes at \(target)+\(offset) (\(hex(address))): not shared memory"
        }
        let injections: [(after: Int, run: () -> Void)] = operation.injections.map { injection in
            (injection.after, {
                switch injection.event {
                case .deviceWrite(let target, let offset, let data): deviceWrite(target, offset, data)
                case .map(let id, let offset, let size, let direction):
                    memory.readable = buffer(offset, size)
                    memory.writable = nil
                    let dma = layer.map(buffer(offset, size).lowerBound, size: UInt64(size), direction: direction)
                    outcome.mapped.append(.init(id: id, dma: dma))
                }
            })
        }
        func call(readable: Range<UInt64>? = nil, writable: Range<UInt64>? = nil, _ body: () -> Void) {
            memory.readable = readable
            memory.writable = writable
            memory.during(injections, body)
            memory.readable = nil
            memory.writable = nil
        }
        switch operation {
        case .map(let id, let offset, let size, let direction, _):
            let before = memory.changes
            var dma: UInt64?
            call(readable: buffer(offset, size)) { dma = layer.map(buffer(offset, size).lowerBound, size: UInt64(size), direction: direction) }
            outcome.mapped.insert(.init(id: id, dma: dma), at: 0)
            if dma == nil && memory.changes != before {
                fault = "the map failed (DMA_MAPPING_ERROR) and still changed memory: a failed map changes nothing"
            }
        case .unmap(let id, _):
            guard let mapping = model.mappings[id], let dma = judge.dma[id] else { break }
            call(writable: mapping.direction.syncsToCPU ? buffer(mapping.offset, mapping.size) : nil) {
                layer.unmap(dma, size: UInt64(mapping.size), direction: mapping.direction)
            }
        case .syncForDevice(let id, let offset, let length, _):
            guard let mapping = model.mappings[id], let dma = judge.dma[id] else { break }
            call(readable: mapping.direction.syncsToDevice ? buffer(mapping.offset + offset, length) : nil) {
                layer.syncForDevice(dma + UInt64(offset), size: UInt64(length), direction: mapping.direction)
            }
        case .syncForCPU(let id, let offset, let length, _):
            guard let mapping = model.mappings[id], let dma = judge.dma[id] else { break }
            call(writable: mapping.direction.syncsToCPU ? buffer(mapping.offset + offset, length) : nil) {
                layer.syncForCPU(dma + UInt64(offset), size: UInt64(length), direction: mapping.direction)
            }
        case .allocCoherent(_, let size, _):
            call { outcome.coherent = layer.allocCoherent(size: UInt64(size)) }
        case .freeCoherent(let id, _):
            guard let buffer = judge.buffers[id], let bytes = model.coherent[id] else { break }
            call { layer.freeCoherent(buffer, size: UInt64(bytes.count)) }
        case .setupVirtqueue(_, let size):
            call { outcome.coherent = layer.setupVirtqueue(size: UInt64(size)) }
        case .cpuWrite(let target, let offset, let data):
            if let address = judge.cpuAddress(target, offset) { memory.cpuWrite(address, data) }
        case .cpuRead, .deviceRead:
            outcome.data = observe(operation, memory: memory, judge: judge)
        case .deviceWrite(let target, let offset, let data):
            deviceWrite(target, offset, data)
        }
        return (outcome, fault)
    }

    /// What a CPU or device read sees: nil where the device cannot reach it (a fault).
    static func observe(_ read: ProtectedDMAOperation, memory: GuestMemory, judge: ProtectedDMAJudge) -> [UInt8]? {
        switch read {
        case .cpuRead(let target, let offset, let length): judge.cpuAddress(target, offset).flatMap { memory.cpuRead($0, count: length) }
        case .deviceRead(let target, let offset, let length): judge.deviceAddress(target, offset).flatMap { memory.deviceRead($0, count: length) }
        default: nil
        }
    }

    /// The whole memory against the model: the driver's bytes, each live bounce buffer and
    /// coherent buffer (reachable by the device, and holding the model's bytes), and no shared
    /// page of the coherent area beyond the live coherent buffers.
    static func compare(_ memory: GuestMemory, _ judge: ProtectedDMAJudge) -> (String, ProtectedDMAOperation?)? {
        let model = judge.model
        if let index = judge.firstDifference(model.buffers, memory.buffers) {
            let covering = model.mappings.filter { index >= $0.value.offset && index < $0.value.offset + $0.value.size }
                .map { "mapping \($0.key), \($0.value.direction.rawValue), covers it" }
            return ("the driver's memory at buffers+\(index) holds \(hex(UInt64(memory.buffers[index]))), where the model has \(hex(UInt64(model.buffers[index])))"
                + (covering.isEmpty ? "" : " (\(covering.joined(separator: "; ")))"), .cpuRead(.buffers, offset: index, length: 1))
        }
        for id in judge.dma.keys.sorted() {
            guard let address = judge.dma[id], let mapping = model.mappings[id] else { continue }
            guard memory.reachable(address, count: mapping.size), let (region, start) = memory.locate(address, count: mapping.size) else {
                return ("mapping \(id)'s bounce buffer \(hex(address))+\(mapping.size) is not all shared: the device cannot reach it", .deviceRead(.mapping(id), offset: 0, length: mapping.size))
            }
            let seen = memory.bytes(of: region, start..<start + mapping.size)
            if let index = judge.firstDifference(mapping.view, seen) {
                return ("the device sees \(hex(UInt64(seen[seen.startIndex + index]))) at mapping \(id)+\(index) (\(hex(address + UInt64(index)))), where the model has \(hex(UInt64(mapping.view[index]))) (\(mapping.direction.rawValue))",
                        .deviceRead(.mapping(id), offset: index, length: 1))
            }
        }
        for id in judge.buffers.keys.sorted() {
            guard let buffer = judge.buffers[id], let bytes = model.coherent[id] else { continue }
            guard memory.reachable(buffer.dma, count: bytes.count) else {
                return ("coherent \(id) at \(hex(buffer.dma))+\(bytes.count) is not shared: the device cannot reach it", .deviceRead(.coherent(id), offset: 0, length: bytes.count))
            }
            if let (region, start) = memory.locate(buffer.cpu, count: bytes.count), case let held = memory.bytes(of: region, start..<start + bytes.count),
               let index = judge.firstDifference(bytes, held) {
                return ("coherent \(id) holds \(hex(UInt64(held[held.startIndex + index]))) at +\(index), where the model has \(hex(UInt64(bytes[index])))", .cpuRead(.coherent(id), offset: index, length: 1))
            }
        }
        let live = judge.livePages
        if let page = memory.sharedPages.indices.first(where: { page in memory.sharedPages[page] && !live.contains { $0.contains(page) } }) {
            return ("page \(page) of the coherent area (\(hex(ProtectedDMAConfiguration.coherentBase + UInt64(page) * ProtectedDMAConfiguration.pageSize))) is shared and holds no live coherent buffer: whatever the guest puts there next reaches the host", nil)
        }
        return nil
    }

    func checkInvariants() -> String? { invariant?(implementation) }

    func describe(_ command: ProtectedDMAOperation) -> String { command.description }

    func finish() -> String? { foreign.close() }
}
