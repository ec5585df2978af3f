/// Where a streaming mapping's data goes (linux Documentation/core-api/dma-api.rst, "DMA
/// Direction"): to the device, from it, or both ways.
public enum DMADirection: String, CaseIterable, Sendable, Hashable {
    case toDevice = "to-device"
    case fromDevice = "from-device"
    case bidirectional

    /// Whether sync for device copies the CPU buffer to the bounce buffer
    /// (`__swiotlb_sync_single_for_device`: TO_DEVICE and BIDIRECTIONAL only).
    public var syncsToDevice: Bool { self != .fromDevice }
    /// Whether sync for CPU and unmap copy the bounce buffer back (`__swiotlb_sync_single_for_cpu`,
    /// `swiotlb_tbl_unmap_single`: FROM_DEVICE and BIDIRECTIONAL only).
    public var syncsToCPU: Bool { self != .toDevice }
}

/// The virtio device of a case, if any, as feature negotiation sees it (virtio spec,
/// "Reserved Feature Bits", VIRTIO_F_ACCESS_PLATFORM(33)).
public enum VirtioDevice: String, CaseIterable, Sendable, Hashable {
    /// No virtio device: a PCI device driven through the DMA API.
    case none
    /// Offers VIRTIO_F_ACCESS_PLATFORM: its rings and buffers go through the DMA API.
    case accessPlatform = "access-platform"
    /// Does not offer it: it uses guest-physical addresses, which a protected guest cannot give
    /// it (linux virtio_features_ok: "device must provide VIRTIO_F_ACCESS_PLATFORM", -ENODEV).
    case noAccessPlatform = "no-access-platform"
}

/// A protected guest's memory and device as a case draws them. Guest-physical layout: the
/// driver's buffers at `bufferBase`, the coherent area the layer allocates from at
/// `coherentBase`, the swiotlb pool at `poolBase`. RAM starts private; the pool is shared.
public struct ProtectedDMAConfiguration: Hashable, Sendable, CustomStringConvertible {
    public static let pageSize: UInt64 = 4096
    /// IO_TLB_SIZE (include/linux/swiotlb.h: `#define IO_TLB_SHIFT 11`).
    public static let slotSize: UInt64 = 2048
    public static let bufferBase: UInt64 = 0x10_0000
    public static let coherentBase: UInt64 = 0x100_0000
    public static let poolBase: UInt64 = 0x1000_0000

    /// Pages of driver memory (private, never shared).
    public var bufferPages: Int
    /// Pages of the coherent area (private until the layer shares them).
    public var coherentPages: Int
    /// Slots of the swiotlb pool: whole segments.
    public var poolSlots: Int
    /// IO_TLB_SEGSIZE: slots per segment ("slot set"); 128 in Linux, fewer here to reach edges.
    public var segmentSlots: Int
    /// The device's min_align_mask (dma_set_min_align_mask): 2^k - 1, or 0.
    public var minAlignMask: UInt64
    public var virtio: VirtioDevice

    public init(bufferPages: Int, coherentPages: Int, poolSlots: Int, segmentSlots: Int, minAlignMask: UInt64, virtio: VirtioDevice) {
        self.bufferPages = bufferPages
        self.coherentPages = coherentPages
        self.poolSlots = poolSlots
        self.segmentSlots = segmentSlots
        self.minAlignMask = minAlignMask
        self.virtio = virtio
    }

    public var bufferBytes: UInt64 { UInt64(bufferPages) * Self.pageSize }
    public var coherentBytes: UInt64 { UInt64(coherentPages) * Self.pageSize }
    public var poolBytes: UInt64 { UInt64(poolSlots) * Self.slotSize }

    public func validate() throws(ConfigurationProblem) {
        guard (1...256).contains(bufferPages) else { throw ConfigurationProblem("bufferPages \(bufferPages): expected 1 to 256") }
        guard (0...256).contains(coherentPages) else { throw ConfigurationProblem("coherentPages \(coherentPages): expected 0 to 256") }
        guard (1...128).contains(segmentSlots), segmentSlots & (segmentSlots - 1) == 0 else {
            throw ConfigurationProblem("segmentSlots \(segmentSlots): expected a power of two from 1 to 128 (IO_TLB_SEGSIZE; io_tlb_offset masks with it)")
        }
        guard poolSlots > 0, poolSlots <= 1024, poolSlots % segmentSlots == 0 else {
            throw ConfigurationProblem("poolSlots \(poolSlots): expected whole segments of \(segmentSlots), at most 1024 slots")
        }
        guard minAlignMask & (minAlignMask &+ 1) == 0, minAlignMask < 1 << 20 else {
            throw ConfigurationProblem("minAlignMask \(hex(minAlignMask)): expected 0 or 2^k - 1 below 2^20")
        }
    }

    public var description: String {
        "buffers \(bufferPages) pages, coherent area \(coherentPages) pages, pool \(poolSlots) slots in segments of \(segmentSlots), min_align_mask \(hex(minAlignMask)), virtio \(virtio.rawValue)"
    }
}

/// Guest memory as the layer under test reaches it: the CPU's view, through the calls the
/// kernel makes (memcpy, memset, set_memory_decrypted / set_memory_encrypted). The checker owns
/// it, and judges every call.
public protocol GuestMemoryInterface: AnyObject {
    /// Reads `count` bytes at guest-physical `address`.
    func read(_ address: UInt64, count: Int) -> [UInt8]
    func write(_ address: UInt64, _ bytes: [UInt8])
    /// memcpy between two guest-physical ranges.
    func copy(to destination: UInt64, from source: UInt64, count: Int)
    /// memset.
    func fill(_ address: UInt64, count: Int, value: UInt8)
    /// set_memory_decrypted: makes whole pages shared with the host; false if refused.
    func share(_ address: UInt64, pages: Int) -> Bool
    /// set_memory_encrypted: makes whole pages private again; false if refused.
    func unshare(_ address: UInt64, pages: Int) -> Bool
}

/// Memory both sides reach at once (dma_alloc_coherent): the CPU's address and the device's.
public struct CoherentBuffer: Hashable, Sendable {
    public var cpu: UInt64
    public var dma: UInt64

    public init(cpu: UInt64, dma: UInt64) {
        self.cpu = cpu
        self.dma = dma
    }
}

/// The guest's DMA layer in a protected guest: dma-direct with force_dma_unencrypted() true
/// and swiotlb forced (every streaming mapping bounces), over the checker's memory. Arguments
/// follow the DMA API: unmap and sync take the DMA address, size and direction of the map
/// ("All the parameters passed in must be identical"), a sync may cover part of a mapping.
public protocol ProtectedDMASystem: AnyObject {
    /// dma_map_single: the DMA address, or nil for DMA_MAPPING_ERROR.
    func map(_ address: UInt64, size: UInt64, direction: DMADirection) -> UInt64?
    func unmap(_ dma: UInt64, size: UInt64, direction: DMADirection)
    func syncForDevice(_ dma: UInt64, size: UInt64, direction: DMADirection)
    func syncForCPU(_ dma: UInt64, size: UInt64, direction: DMADirection)
    /// dma_alloc_coherent: nil when there is no memory.
    func allocCoherent(size: UInt64) -> CoherentBuffer?
    func freeCoherent(_ buffer: CoherentBuffer, size: UInt64)
    /// Sets up a virtqueue's vring of `size` bytes for the case's virtio device: nil when the
    /// device is refused (or there is no memory).
    func setupVirtqueue(size: UInt64) -> CoherentBuffer?
}

extension ProtectedDMAConfiguration: ValidatedConfiguration {}
