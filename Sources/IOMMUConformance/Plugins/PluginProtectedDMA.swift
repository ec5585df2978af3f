import CIOMMUCheck
import IOMMUSpec

/// A plug-in's protected-DMA layer, called in this process; its memory calls reach the
/// checker's guest memory, which judges each.
final class PluginProtectedDMA: ProtectedDMASystem, ReportsForeignFailures {
    private let library: PluginLibrary
    private let ops: iommu_check_protected_dma_ops
    private var handle: UnsafeMutableRawPointer?
    private let table: UnsafeMutablePointer<iommu_check_guest_memory>
    let memory: any GuestMemoryInterface
    fileprivate let failures = ForeignFailureBox()
    private let callbackGuard = CallbackGuard()
    /// Calls of the layer in progress: memory callbacks are allowed only inside one.
    private var depth = 0

    init(library: PluginLibrary, configuration c: ProtectedDMAConfiguration, memory: any GuestMemoryInterface) throws(ImplementationUnavailable) {
        guard let ops = library.protectedDMA else {
            throw ImplementationUnavailable("plug-in '\(library.name)' does not provide the protected-dma surface")
        }
        self.library = library
        self.ops = ops
        self.memory = memory
        table = .allocate(capacity: 1)
        table.initialize(to: iommu_check_guest_memory(
            context: nil,
            read: { context, address, out, count in
                guard let owner = PluginProtectedDMA.unwrap(context, "read") else { return }
                guard let out else { return owner.failures.record("read of \(count) bytes at \(hex(address)) into NULL") }
                let bytes = owner.memory.read(address, count: Int(clamping: count))
                bytes.withUnsafeBytes { out.copyMemory(from: $0.baseAddress!, byteCount: min($0.count, count)) }
            },
            write: { context, address, data, count in
                guard let owner = PluginProtectedDMA.unwrap(context, "write") else { return }
                guard let data, count <= 1 << 24 else { return owner.failures.record("write of \(count) bytes at \(hex(address)) from \(data == nil ? "NULL" : "a buffer"): more than guest memory holds") }
                owner.memory.write(address, Array(UnsafeRawBufferPointer(start: data, count: count)))
            },
            copy: { context, destination, source, count in
                PluginProtectedDMA.unwrap(context, "copy")?.memory.copy(to: destination, from: source, count: Int(clamping: count))
            },
            fill: { context, address, value, count in
                PluginProtectedDMA.unwrap(context, "fill")?.memory.fill(address, count: Int(clamping: count), value: value)
            },
            share: { context, address, pages in
                guard let owner = PluginProtectedDMA.unwrap(context, "share") else { return 1 }
                return owner.memory.share(address, pages: Int(clamping: pages)) ? 0 : 1
            },
            unshare: { context, address, pages in
                guard let owner = PluginProtectedDMA.unwrap(context, "unshare") else { return 1 }
                return owner.memory.unshare(address, pages: Int(clamping: pages)) ? 0 : 1
            }))
        table.pointee.context = CallbackContext.make(self)
        var config = iommu_check_protected_dma_config(
            buffer_base: ProtectedDMAConfiguration.bufferBase, buffer_bytes: c.bufferBytes, coherent_base: ProtectedDMAConfiguration.coherentBase,
            coherent_bytes: c.coherentBytes, pool_base: ProtectedDMAConfiguration.poolBase, pool_slots: UInt32(c.poolSlots), segment_slots: UInt32(c.segmentSlots),
            min_align_mask: c.minAlignMask, virtio: Self.virtio(c.virtio), reserved: 0)
        handle = called { ops.create!(&config, table) }
        guard handle != nil else {
            CallbackContext<PluginProtectedDMA>.end(table.pointee.context)
            table.deallocate()
            throw ImplementationUnavailable.refused("plug-in '\(library.name)' refused the protected-DMA configuration \(c)")
        }
    }

    deinit {
        if handle != nil { ops.destroy!(handle) }
        CallbackContext<PluginProtectedDMA>.end(table.pointee.context)
        table.deallocate()
    }

    static func virtio(_ device: VirtioDevice) -> UInt32 {
        switch device {
        case .none: UInt32(IOMMU_CHECK_VIRTIO_NONE.rawValue)
        case .accessPlatform: UInt32(IOMMU_CHECK_VIRTIO_ACCESS_PLATFORM.rawValue)
        case .noAccessPlatform: UInt32(IOMMU_CHECK_VIRTIO_NO_ACCESS_PLATFORM.rawValue)
        }
    }

    static func direction(_ direction: DMADirection) -> UInt32 {
        switch direction {
        case .bidirectional: IOMMU_CHECK_DMA_BIDIRECTIONAL
        case .toDevice: IOMMU_CHECK_DMA_TO_DEVICE
        case .fromDevice: IOMMU_CHECK_DMA_FROM_DEVICE
        }
    }

    /// The owner of a memory callback, if the callback is allowed now: on the calling thread,
    /// during a call of the layer (a call from another CPU may nest inside one).
    private static func unwrap(_ context: UnsafeMutableRawPointer?, _ name: String) -> PluginProtectedDMA? {
        guard let owner = CallbackContext<PluginProtectedDMA>.owner(context, name), owner.callbackGuard.onCallingThread(name, owner.failures) else { return nil }
        guard owner.depth > 0 else {
            owner.failures.record("\(name) was called outside any call of the layer (memory callbacks belong to the call that makes them)")
            return nil
        }
        return owner
    }

    private func called<T>(_ body: () -> T) -> T {
        depth += 1
        defer { depth -= 1 }
        return body()
    }

    func takeForeignFailure() -> String? { failures.take() ?? LateCallbacks.take() }
    var foreignFailurePending: Bool { failures.pending }

    func closeForeign() -> String? {
        guard let handle else { return nil }
        self.handle = nil
        called { ops.destroy!(handle) }
        return takeForeignFailure()
    }

    func map(_ address: UInt64, size: UInt64, direction: DMADirection) -> UInt64? {
        let dma = called { ops.map!(handle, address, size, Self.direction(direction)) }
        return dma == UInt64.max ? nil : dma  // IOMMU_CHECK_DMA_MAPPING_ERROR
    }

    func unmap(_ dma: UInt64, size: UInt64, direction: DMADirection) { called { ops.unmap!(handle, dma, size, Self.direction(direction)) } }
    func syncForDevice(_ dma: UInt64, size: UInt64, direction: DMADirection) { called { ops.sync_for_device!(handle, dma, size, Self.direction(direction)) } }
    func syncForCPU(_ dma: UInt64, size: UInt64, direction: DMADirection) { called { ops.sync_for_cpu!(handle, dma, size, Self.direction(direction)) } }

    private func buffer(_ call: (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>) -> Int32) -> CoherentBuffer? {
        var cpu: UInt64 = 0, dma: UInt64 = 0
        guard called({ call(&cpu, &dma) }) == 0 else { return nil }
        return CoherentBuffer(cpu: cpu, dma: dma)
    }

    func allocCoherent(size: UInt64) -> CoherentBuffer? { buffer { ops.alloc_coherent!(handle, size, $0, $1) } }
    func freeCoherent(_ buffer: CoherentBuffer, size: UInt64) { called { ops.free_coherent!(handle, buffer.cpu, buffer.dma, size) } }
    func setupVirtqueue(size: UInt64) -> CoherentBuffer? { buffer { ops.setup_virtqueue!(handle, size, $0, $1) } }
}
