import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// Draws a protected guest's DMA toward what leaks or corrupts: maps at offsets with every kind
/// of low bits (min_align_mask), sizes from a byte to past a segment, small pools that fill up,
/// partial device writes into from-device buffers followed by unmap or sync for CPU, partial
/// syncs, buffers rewritten between syncs, coherent buffers and vrings, and other CPUs' maps and
/// device writes injected between the layer's memory calls.
struct ProtectedDMAGenerator {
    typealias Operation = ProtectedDMAOperation
    static let kindWeights = [16, 9, 6, 8, 4, 3, 2, 10, 5, 5, 14]

    let configuration: ProtectedDMAConfiguration
    private static let slot = Int(ProtectedDMAConfiguration.slotSize), page = Int(ProtectedDMAConfiguration.pageSize)

    func draw(_ stream: ChoiceStream, enabled: KindSet, judge: ProtectedDMAJudge, nextID: Int) -> Operation {
        let model = judge.model
        let mappings = judge.dma.keys.sorted(), coherent = judge.buffers.keys.sorted()
        switch stream.drawWeightedIndex(enabled.mask(Self.kindWeights)) {
        case 1 where !mappings.isEmpty:
            let id = pick(stream, mappings)
            return .unmap(id: id, during: injections(stream, judge, nextID: nextID, busy: [id]))
        case 2 where !mappings.isEmpty, 3 where !mappings.isEmpty:
            let device = stream.drawBool()
            let id = pick(stream, mappings)
            let (offset, length) = span(stream, within: model.mappings[id]?.size ?? 1, whole: 0.5)
            let during = injections(stream, judge, nextID: nextID, busy: [id])
            return device ? .syncForDevice(id: id, offset: offset, length: length, during: during) : .syncForCPU(id: id, offset: offset, length: length, during: during)
        case 4:
            let size = [1 + Int(stream.draw(upTo: 4095)), Self.page * (1 + Int(stream.draw(upTo: 3)))][stream.drawWeightedIndex([60, 40])]
            return .allocCoherent(id: nextID, size: size, during: injections(stream, judge, nextID: nextID + 1, busy: []))
        case 5 where !coherent.isEmpty:
            let id = pick(stream, coherent)
            return .freeCoherent(id: id, during: injections(stream, judge, nextID: nextID, busy: [], busyCoherent: id))
        case 6:
            return .setupVirtqueue(id: nextID, size: 512 * (1 + Int(stream.draw(upTo: 15))))
        case 7, 8:
            let write = stream.drawBool(probability: 0.7)
            let target: Operation.Target = !coherent.isEmpty && stream.drawBool(probability: 0.3) ? .coherent(pick(stream, coherent)) : .buffers
            let size = target == .buffers ? model.buffers.count : (targetSize(target, model) ?? 1)
            let (offset, length) = span(stream, within: size, whole: 0.1, at: target == .buffers ? bufferOffset(stream, model) : nil)
            return write ? .cpuWrite(target, offset: offset, data: data(stream, length)) : .cpuRead(target, offset: offset, length: length)
        case 9, 10:
            guard let target = deviceTarget(stream, mappings, coherent) else { break }
            let (offset, length) = span(stream, within: targetSize(target, model) ?? 1, whole: 0.15)
            if stream.drawBool(probability: 0.25) { return .deviceRead(target, offset: offset, length: length) }
            return .deviceWrite(target, offset: offset, data: data(stream, length))
        default: break
        }
        guard let (offset, size) = freeBuffer(stream, judge) else {
            return .cpuWrite(.buffers, offset: 0, data: data(stream, 1))
        }
        return .map(id: nextID, offset: offset, size: size, direction: direction(stream), during: injections(stream, judge, nextID: nextID + 1, busy: [], exclude: offset..<offset + size))
    }

    /// A live id, drawn by value (the first live id at or above the draw): deleting an earlier
    /// step while shrinking leaves the ids after it, and so what later steps name, as they were.
    private func pick(_ stream: ChoiceStream, _ ids: [Int]) -> Int {
        guard let last = ids.last else { return 0 }
        let drawn = Int(stream.draw(upTo: UInt64(last)))
        return ids.first { $0 >= drawn } ?? last
    }

    private func direction(_ stream: ChoiceStream) -> DMADirection { DMADirection.allCases[stream.drawWeightedIndex([30, 45, 25])] }

    private func targetSize(_ target: Operation.Target, _ model: ProtectedDMAModel) -> Int? {
        switch target {
        case .buffers: model.buffers.count
        case .mapping(let id): model.mappings[id]?.size
        case .coherent(let id): model.coherent[id]?.count
        }
    }

    private func deviceTarget(_ stream: ChoiceStream, _ mappings: [Int], _ coherent: [Int], except busy: Set<Int> = [], busyCoherent: Int? = nil) -> Operation.Target? {
        let mappings = mappings.filter { !busy.contains($0) }, coherent = coherent.filter { $0 != busyCoherent }
        if !mappings.isEmpty && (coherent.isEmpty || stream.drawBool(probability: 0.8)) { return .mapping(pick(stream, mappings)) }
        return coherent.isEmpty ? nil : .coherent(pick(stream, coherent))
    }

    /// An offset and length inside `size` bytes: the whole, or a part (often a few bytes at
    /// either end, where a partial device write leaves the rest of a buffer untouched).
    private func span(_ stream: ChoiceStream, within size: Int, whole: Double, at start: Int? = nil) -> (Int, Int) {
        guard size > 1, !stream.drawBool(probability: whole) else { return (0, max(size, 1)) }
        let offset = min(start ?? Int(stream.draw(upTo: UInt64(size - 1))), size - 1)
        let length = 1 + Int(stream.draw(upTo: UInt64(min(size - offset, 512) - 1)))
        return (offset, length)
    }

    /// Where the CPU touches its memory: usually inside a live mapping's buffer (what the layer
    /// must leave alone until unmap or sync), else anywhere.
    private func bufferOffset(_ stream: ChoiceStream, _ model: ProtectedDMAModel) -> Int? {
        let live = model.mappings.values.sorted { $0.offset < $1.offset }
        guard !live.isEmpty, stream.drawBool(probability: 0.6) else { return nil }
        let mapping = live[Int(stream.draw(upTo: UInt64(live.count - 1)))]
        return mapping.offset + Int(stream.draw(upTo: UInt64(mapping.size - 1)))
    }

    /// Bytes the CPU or device writes: a drawn pattern, never all zero, so a byte moved where
    /// it should not be shows.
    private func data(_ stream: ChoiceStream, _ count: Int) -> [UInt8] {
        var value = UInt8(truncatingIfNeeded: stream.draw(upTo: 255) &+ 1)
        var bytes = [UInt8](repeating: 0, count: count)
        for index in bytes.indices {
            bytes[index] = value | 1
            value &+= 37
        }
        return bytes
    }

    /// A buffer for a new mapping, clear of every live one's (the driver maps distinct
    /// buffers): a size from one byte to past a segment, at an offset with any low bits.
    private func freeBuffer(_ stream: ChoiceStream, _ judge: ProtectedDMAJudge, exclude: Range<Int>? = nil) -> (Int, Int)? {
        let total = judge.model.buffers.count
        let sizes = [1 + Int(stream.draw(upTo: 63)), 64 + Int(stream.draw(upTo: UInt64(Self.slot - 64))),
                     Self.slot + 1 + Int(stream.draw(upTo: UInt64(3 * Self.slot))), Self.slot * configuration.segmentSlots - 64 + Int(stream.draw(upTo: 2 * 64 + UInt64(Self.page)))]
        let size = min(sizes[stream.drawWeightedIndex([25, 35, 32, 8])], total)
        if size > Self.slot * configuration.segmentSlots { stream.event("map: larger than a segment") }
        let lowBits = [0, Int(stream.draw(upTo: 63)), Int(stream.draw(upTo: UInt64(Self.page - 1)))][stream.drawWeightedIndex([30, 30, 40])]
        let wanted = min(Int(stream.draw(upTo: UInt64(max(total / Self.page, 1) - 1))) * Self.page + lowBits, total - size)
        var taken = judge.model.mappings.values.map { $0.offset..<$0.offset + $0.size }
        if let exclude { taken.append(exclude) }
        taken.sort { $0.lowerBound < $1.lowerBound }
        // The drawn place if it is free, else the first free gap after it, else before it.
        var candidates: [Int] = [wanted]
        for range in taken { candidates.append(range.upperBound) }
        candidates.append(0)
        for start in candidates.sorted(by: { ($0 < wanted ? 1 : 0, $0) < ($1 < wanted ? 1 : 0, $1) }) where start + size <= total {
            if !taken.contains(where: { $0.overlaps(start..<start + size) }) { return (start, size) }
        }
        return nil
    }

    /// What other CPUs and the device do while one call of the layer runs.
    private func injections(_ stream: ChoiceStream, _ judge: ProtectedDMAJudge, nextID: Int, busy: Set<Int>, busyCoherent: Int? = nil, exclude: Range<Int>? = nil) -> [Operation.Injection] {
        guard stream.drawBool(probability: 0.35) else { return [] }
        var result: [Operation.Injection] = []
        let mappings = judge.dma.keys.sorted(), coherent = judge.buffers.keys.sorted()
        for _ in 0...Int(stream.draw(upTo: 1)) {
            let after = Int(stream.draw(upTo: 2))
            if stream.drawBool(probability: 0.5), result.allSatisfy({ if case .map = $0.event { false } else { true } }),
               let (offset, size) = freeBuffer(stream, judge, exclude: exclude) {
                result.append(.init(after: after, event: .map(id: nextID, offset: offset, size: size, direction: direction(stream))))
                stream.event("injected: another CPU's map")
            } else if let target = deviceTarget(stream, mappings, coherent, except: busy, busyCoherent: busyCoherent) {
                let (offset, length) = span(stream, within: targetSize(target, judge.model) ?? 1, whole: 0.2)
                result.append(.init(after: after, event: .deviceWrite(target, offset: offset, data: data(stream, length))))
                stream.event("injected: device write")
            }
        }
        return result.sorted { $0.after < $1.after }
    }

    /// A small protected guest: a few pages of buffers and of coherent area, a pool of one to
    /// four segments (128 slots as Linux has, or as few as one so that it fills at once), a min_align_mask as
    /// devices set it (NVMe: 4 KiB - 1), and a virtio device with or without
    /// VIRTIO_F_ACCESS_PLATFORM, or none.
    static func drawConfiguration(_ stream: ChoiceStream) -> ProtectedDMAConfiguration {
        let bufferPages = 2 + Int(stream.draw(upTo: 14))
        let coherentPages = 4 + Int(stream.draw(upTo: 12))
        let segment = [1, 2, 4, 8, 16, 128][stream.drawWeightedIndex([15, 15, 20, 20, 10, 20])]
        let segments = segment == 128 ? 1 : 1 + Int(stream.draw(upTo: 3))
        let mask: UInt64 = [0, 0x7FF, 0xFFF, 0x1FFF][stream.drawWeightedIndex([35, 20, 30, 15])]
        let virtio = VirtioDevice.allCases[stream.drawWeightedIndex([40, 40, 20])]
        return ProtectedDMAConfiguration(bufferPages: bufferPages, coherentPages: coherentPages, poolSlots: segment * segments, segmentSlots: segment,
                                         minAlignMask: mask, virtio: virtio)
    }
}
