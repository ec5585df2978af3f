import IOMMUSpec
import PropertyCheck

extension ProtectedDMACheck: SurfaceDefinition {
    public static var surface: Surface { .protectedDMA }
    static let fixedAxes: Set<String> = []

    static func make(_ implementation: ImplementationChoice, policy: String?, stateful: StatefulOptions, fixed: FixedConfiguration) throws(ImplementationUnavailable) -> ProtectedDMACheck {
        if let policy {
            throw ImplementationUnavailable("--policy \(policy): the protected-dma surface has one contract, mainline Linux's since v6.9 (14cebf689a78) (docs/SEMANTICS.md, \"Protected DMA\"), and no policies")
        }
        return try ProtectedDMACheck(stateful: stateful, implementation: implementation)
    }

    static func contract(policy: String?) throws(ImplementationUnavailable) -> String {
        if let policy { throw ImplementationUnavailable("'\(policy)' is not a policy: the protected-dma surface has none") }
        return contractText
    }

    private static let contractText = """
    Protected DMA (docs/SEMANTICS.md, "Protected DMA"; linux kernel/dma/swiotlb.c, kernel/dma/direct.c, Documentation/core-api/dma-api.rst and swiotlb.rst, drivers/virtio/virtio.c virtio_features_ok, the virtio spec on VIRTIO_F_ACCESS_PLATFORM, seed 001)
    the guest's memory is private; the device reaches only shared pages (a private one is a fault):
      the swiotlb pool, shared from boot, and coherent memory the layer shared
    map bounces every streaming buffer, and copies it into the bounce buffer for every direction
      (ddbd89deb7d3): a partial device write leaves the rest as the buffer held it
    the DMA address keeps the buffer's min_align_mask bits (1f221a0d0dbf); a bounce buffer lies in
      one segment, on slots no live buffer holds, page-aligned for a page or more without a mask
    a full pool fails the map (DMA_MAPPING_ERROR) and nothing changes; the checker accepts it only
      when a slot-by-slot search finds no room (an aligned search may miss a run, as Linux's does)
    sync for device copies to the device for to-device and bidirectional (from-device: no-op); sync
      for CPU and unmap copy back for from-device and bidirectional; unmap releases slots after
    the layer reads the driver's private memory only inside the buffer it maps or syncs for the
      device, writes it only inside the buffer it unmaps or syncs for the CPU, shares only coherent pages
    coherent memory is shared, then zeroed; private again before it is freed
    a virtio device without VIRTIO_F_ACCESS_PLATFORM is refused (-ENODEV); a vring is coherent memory
    other CPUs' maps and device writes are injected between the layer's memory calls
    """
}
