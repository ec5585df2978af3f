import IOMMUSpec

/// A protected-DMA layer that takes whole steps: the step runs where the layer lives (a worker
/// process, over its copy of the guest memory), and this side's memory is brought to the same
/// state, with the rules that copy saw broken.
protocol MirroredProtectedDMA: AnyObject {
    func perform(_ operation: ProtectedDMAOperation, memory: GuestMemory) -> (ProtectedDMAOutcome, String?)
}

/// How a step crosses the channel: the operation and its answer as a trace line (the trace
/// reader checks both), then what the worker's copy of the memory changed.
enum ProtectedDMACoding {
    static func configurationWords(_ c: ProtectedDMAConfiguration) -> [UInt64] {
        [UInt64(c.bufferPages), UInt64(c.coherentPages), UInt64(c.poolSlots), UInt64(c.segmentSlots), c.minAlignMask,
         UInt64(VirtioDevice.allCases.firstIndex(of: c.virtio) ?? 0)]
    }

    static func configuration(_ w: [UInt64]) -> ProtectedDMAConfiguration? {
        guard w.count >= 6, w[5] < UInt64(VirtioDevice.allCases.count) else { return nil }
        let c = ProtectedDMAConfiguration(bufferPages: Int(min(w[0], 1 << 20)), coherentPages: Int(min(w[1], 1 << 20)), poolSlots: Int(min(w[2], 1 << 20)),
                                          segmentSlots: Int(min(w[3], 1 << 20)), minAlignMask: w[4], virtio: VirtioDevice.allCases[Int(w[5])])
        return (try? c.validate()) == nil ? nil : c
    }

    /// A trace line back into its step, under `configuration`.
    static func step(_ line: String, _ configuration: ProtectedDMAConfiguration) -> ProtectedDMATrace.Step? {
        let bytes = Array(line.utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            guard let line = try? JSONLine(number: 1, bytes: buffer) else { return nil }
            return try? ProtectedDMATrace(configuration: configuration).step(line)
        }
    }

    /// The changed bytes (region, offset, bytes) and the shared pages, as words.
    static func changeWords(_ memory: GuestMemory) -> [UInt64] {
        var words: [UInt64] = [UInt64(memory.journal?.count ?? 0)]
        for change in memory.journal ?? [] {
            words += [UInt64(change.region.rawValue), UInt64(change.offset)] + Words.pack(bytes: memory.bytes(of: change.region, change.offset..<change.offset + change.count))
        }
        memory.journal = []
        return words + Words.pack(bytes: memory.sharedPages.map { $0 ? 1 : 0 })
    }

    /// Applies change words to `memory`; false if they are malformed.
    static func apply(_ words: [UInt64], _ index: inout Int, to memory: GuestMemory) -> Bool {
        guard index < words.count else { return false }
        let count = Int(min(words[index], 1 << 16))
        index += 1
        for _ in 0..<count {
            guard index + 1 < words.count, let region = GuestMemory.Region(rawValue: Int(min(words[index], 8))) else { return false }
            let offset = Int(min(words[index + 1], 1 << 30))
            index += 2
            guard let bytes = Words.unpackBytes(words, &index) else { return false }
            memory.mirror(region, at: offset, bytes)
        }
        guard let shared = Words.unpackBytes(words, &index) else { return false }
        memory.mirror(sharedPages: shared.map { $0 != 0 })
        return true
    }
}

/// The checker's side of a protected-DMA plug-in in a worker: each step is one round trip.
final class WorkerProtectedDMA: WorkerProxy, ProtectedDMASystem, MirroredProtectedDMA {
    let configuration: ProtectedDMAConfiguration

    init(pool: WorkerPool, configuration: ProtectedDMAConfiguration, name: String) throws(ImplementationUnavailable) {
        self.configuration = configuration
        try super.init(pool: pool, create: .pdmaCreate, ProtectedDMACoding.configurationWords(configuration),
                       refused: "plug-in '\(name)' refused the protected-DMA configuration \(configuration)")
    }

    func perform(_ operation: ProtectedDMAOperation, memory: GuestMemory) -> (ProtectedDMAOutcome, String?) {
        let line = ProtectedDMATrace.encode(operation, nil)
        guard let answer = call(.pdmaStep, Words.pack(line), "\(operation)") else { return (ProtectedDMAOutcome(), nil) }
        var index = 0
        guard let stepLine = Words.unpack(answer, &index), let fault = Words.unpack(answer, &index), let violation = Words.unpack(answer, &index),
              ProtectedDMACoding.apply(answer, &index, to: memory), let step = ProtectedDMACoding.step(stepLine, configuration) else {
            failures.record("the worker garbled its answer to \(operation)")
            return (ProtectedDMAOutcome(), nil)
        }
        if !violation.isEmpty { memory.mirror(violation: violation) }
        return (step.outcome ?? ProtectedDMAOutcome(), fault.isEmpty ? nil : fault)
    }

    // Steps go whole through `perform`; a single call has no step to belong to.
    private func unsupported(_ name: String) { failures.record("\(name) was called outside a step (a checker error)") }
    func map(_ address: UInt64, size: UInt64, direction: DMADirection) -> UInt64? { unsupported("map"); return nil }
    func unmap(_ dma: UInt64, size: UInt64, direction: DMADirection) { unsupported("unmap") }
    func syncForDevice(_ dma: UInt64, size: UInt64, direction: DMADirection) { unsupported("sync_for_device") }
    func syncForCPU(_ dma: UInt64, size: UInt64, direction: DMADirection) { unsupported("sync_for_cpu") }
    func allocCoherent(size: UInt64) -> CoherentBuffer? { unsupported("alloc_coherent"); return nil }
    func freeCoherent(_ buffer: CoherentBuffer, size: UInt64) { unsupported("free_coherent") }
    func setupVirtqueue(size: UInt64) -> CoherentBuffer? { unsupported("setup_virtqueue"); return nil }
}

/// The worker's side: the plug-in over the worker's copy of the memory, run a step at a time
/// exactly as the checker runs an in-process layer, with a judge that keeps the names.
final class ProtectedDMAMirror: ReportsForeignFailures {
    let configuration: ProtectedDMAConfiguration
    let memory: GuestMemory
    let layer: PluginProtectedDMA
    let judge: ProtectedDMAJudge

    init(library: PluginLibrary, configuration: ProtectedDMAConfiguration) throws(ImplementationUnavailable) {
        self.configuration = configuration
        memory = GuestMemory(configuration: configuration)
        memory.journal = []
        layer = try PluginProtectedDMA(library: library, configuration: configuration, memory: memory)
        judge = ProtectedDMAJudge(configuration: configuration)
    }

    /// The answer to one step: the step line with its outcome, the fault and the rule broken
    /// (empty: none), then the memory's changes.
    func step(_ words: ArraySlice<UInt64>) -> [UInt64] {
        var index = 0
        let words = Array(words)
        guard let line = Words.unpack(words, &index), let step = ProtectedDMACoding.step(line, configuration) else { return [UInt64.max] }
        let (outcome, fault) = ProtectedDMAMachine.perform(step.operation, on: layer, memory: memory, judge: judge)
        let violation = memory.takeViolation()
        _ = judge.judge(step.operation, outcome)
        return Words.pack(ProtectedDMATrace.encode(step.operation, outcome)) + Words.pack(fault ?? "") + Words.pack(violation ?? "")
            + ProtectedDMACoding.changeWords(memory)
    }

    func takeForeignFailure() -> String? { layer.takeForeignFailure() }
    var foreignFailurePending: Bool { layer.foreignFailurePending }
    func closeForeign() -> String? { layer.closeForeign() }
}
