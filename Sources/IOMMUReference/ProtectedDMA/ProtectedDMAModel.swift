import IOMMUSpec

/// The reference model of a protected guest's DMA, in plain bytes: the driver's memory, and per
/// streaming mapping the bytes the device sees (its bounce buffer, wherever the layer put it),
/// per coherent buffer the bytes both sides see. It knows no addresses the layer chooses; the
/// checker judges those by the placement rules (`BouncePlacement`). docs/SEMANTICS.md,
/// "Protected DMA", gives each rule's source.
public final class ProtectedDMAModel {
    public struct Mapping: Sendable {
        /// Offset of the CPU buffer in the driver's memory.
        public var offset: Int
        public var direction: DMADirection
        /// What the device sees.
        public var view: [UInt8]
        public var size: Int { view.count }
    }

    public let configuration: ProtectedDMAConfiguration
    /// The driver's memory, as the CPU sees it.
    public private(set) var buffers: [UInt8]
    public private(set) var mappings: [Int: Mapping] = [:]
    /// Coherent buffers (and vrings) by id: both sides see these bytes at once.
    public private(set) var coherent: [Int: [UInt8]] = [:]

    public init(configuration: ProtectedDMAConfiguration) {
        self.configuration = configuration
        buffers = Array(repeating: 0, count: Int(configuration.bufferBytes))
    }

    /// Map bounces in a protected guest, and copies the CPU buffer into the bounce buffer for
    /// every direction (swiotlb_tbl_map_single since ddbd89deb7d3 / 901c7280ca0d).
    public func map(_ id: Int, offset: Int, size: Int, direction: DMADirection) {
        mappings[id] = Mapping(offset: offset, direction: direction, view: Array(buffers[offset..<offset + size]))
    }

    /// Copies back for from-device and bidirectional, then the mapping is gone.
    public func unmap(_ id: Int) {
        guard let mapping = mappings.removeValue(forKey: id) else { return }
        if mapping.direction.syncsToCPU { buffers.replaceSubrange(mapping.offset..<mapping.offset + mapping.size, with: mapping.view) }
    }

    /// Sync for device of `range` (within the mapping): the CPU's bytes reach the device for
    /// to-device and bidirectional; from-device is a no-op.
    public func syncForDevice(_ id: Int, _ range: Range<Int>) {
        guard let mapping = mappings[id], mapping.direction.syncsToDevice else { return }
        mappings[id]?.view.replaceSubrange(range, with: buffers[mapping.offset + range.lowerBound..<mapping.offset + range.upperBound])
    }

    /// Sync for CPU of `range`: the device's bytes reach the CPU for from-device and
    /// bidirectional; to-device is a no-op.
    public func syncForCPU(_ id: Int, _ range: Range<Int>) {
        guard let mapping = mappings[id], mapping.direction.syncsToCPU else { return }
        buffers.replaceSubrange(mapping.offset + range.lowerBound..<mapping.offset + range.upperBound, with: mapping.view[range])
    }

    public func deviceWrite(mapping id: Int, at offset: Int, _ data: [UInt8]) {
        mappings[id]?.view.replaceSubrange(offset..<offset + data.count, with: data)
    }

    /// Coherent memory comes zeroed (dma_direct_alloc: memset(ret, 0, size) after it is shared).
    public func allocCoherent(_ id: Int, size: Int) {
        coherent[id] = Array(repeating: 0, count: size)
    }

    public func freeCoherent(_ id: Int) { coherent[id] = nil }

    public func writeCoherent(_ id: Int, at offset: Int, _ data: [UInt8]) {
        coherent[id]?.replaceSubrange(offset..<offset + data.count, with: data)
    }

    public func cpuWrite(at offset: Int, _ data: [UInt8]) {
        buffers.replaceSubrange(offset..<offset + data.count, with: data)
    }

    /// A virtio device without VIRTIO_F_ACCESS_PLATFORM is refused in a protected guest
    /// (virtio_features_ok); with it, its vring is coherent memory.
    public var virtqueueAllowed: Bool { configuration.virtio == .accessPlatform }
}
