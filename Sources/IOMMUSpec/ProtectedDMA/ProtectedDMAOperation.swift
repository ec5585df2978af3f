/// What a protected-DMA case does: the driver's DMA API calls and memory accesses, the device's
/// accesses, and what other CPUs and the device do while a call of the layer runs.
public enum ProtectedDMAOperation: Sendable, Hashable, CustomStringConvertible {
    /// Mappings and coherent buffers are named by the case (the `id`s), not by addresses the
    /// layer chooses; the checker resolves them when the case runs.
    public enum Target: Sendable, Hashable, CustomStringConvertible {
        /// The driver's memory, by offset from its start (CPU accesses only).
        case buffers
        /// A live streaming mapping, by offset into it (device accesses only).
        case mapping(Int)
        /// A live coherent buffer or vring, by offset into it.
        case coherent(Int)

        public var description: String {
            switch self {
            case .buffers: "buffers"
            case .mapping(let id): "mapping \(id)"
            case .coherent(let id): "coherent \(id)"
            }
        }
    }

    /// Something that happens after the layer's `after`-th memory call within one of its calls:
    /// the device writing another buffer, or another CPU mapping one (swiotlb holds its area lock
    /// only while it searches and releases slots, so a copy runs beside other CPUs' maps).
    public struct Injection: Sendable, Hashable, CustomStringConvertible {
        public enum Event: Sendable, Hashable {
            case deviceWrite(Target, offset: Int, data: [UInt8])
            case map(id: Int, offset: Int, size: Int, direction: DMADirection)
        }

        public var after: Int
        public var event: Event

        public init(after: Int, event: Event) {
            self.after = after
            self.event = event
        }

        public var description: String {
            switch event {
            case .deviceWrite(let target, let offset, let data): "after call \(after): device writes \(data.count) bytes at \(target)+\(offset)"
            case .map(let id, let offset, let size, let direction): "after call \(after): another CPU maps buffers+\(offset), \(size) bytes \(direction.rawValue) as mapping \(id)"
            }
        }
    }

    case map(id: Int, offset: Int, size: Int, direction: DMADirection, during: [Injection])
    case unmap(id: Int, during: [Injection])
    case syncForDevice(id: Int, offset: Int, length: Int, during: [Injection])
    case syncForCPU(id: Int, offset: Int, length: Int, during: [Injection])
    case allocCoherent(id: Int, size: Int, during: [Injection])
    case freeCoherent(id: Int, during: [Injection])
    case setupVirtqueue(id: Int, size: Int)
    case cpuWrite(Target, offset: Int, data: [UInt8])
    case cpuRead(Target, offset: Int, length: Int)
    case deviceRead(Target, offset: Int, length: Int)
    case deviceWrite(Target, offset: Int, data: [UInt8])

    public static let kindNames = ["map", "unmap", "sync-for-device", "sync-for-cpu", "alloc-coherent", "free-coherent", "setup-virtqueue",
                                   "cpu-write", "cpu-read", "device-read", "device-write"]

    public var kind: Int {
        switch self {
        case .map: 0
        case .unmap: 1
        case .syncForDevice: 2
        case .syncForCPU: 3
        case .allocCoherent: 4
        case .freeCoherent: 5
        case .setupVirtqueue: 6
        case .cpuWrite: 7
        case .cpuRead: 8
        case .deviceRead: 9
        case .deviceWrite: 10
        }
    }

    /// The events injected during the call, in the order they happen: by the call they follow,
    /// then as listed.
    public var injections: [Injection] {
        let during: [Injection] = switch self {
        case .map(_, _, _, _, let during), .unmap(_, let during), .syncForDevice(_, _, _, let during), .syncForCPU(_, _, _, let during),
             .allocCoherent(_, _, let during), .freeCoherent(_, let during): during
        default: []
        }
        return during.enumerated().sorted { ($0.element.after, $0.offset) < ($1.element.after, $1.offset) }.map(\.element)
    }

    public var description: String {
        let text = switch self {
        case .map(let id, let offset, let size, let direction, _): "map buffers+\(offset), \(size) bytes \(direction.rawValue) as mapping \(id)"
        case .unmap(let id, _): "unmap mapping \(id)"
        case .syncForDevice(let id, let offset, let length, _): "sync for device mapping \(id) +\(offset), \(length) bytes"
        case .syncForCPU(let id, let offset, let length, _): "sync for cpu mapping \(id) +\(offset), \(length) bytes"
        case .allocCoherent(let id, let size, _): "alloc coherent \(id), \(size) bytes"
        case .freeCoherent(let id, _): "free coherent \(id)"
        case .setupVirtqueue(let id, let size): "set up a virtqueue, its vring \(size) bytes as coherent \(id)"
        case .cpuWrite(let target, let offset, let data): "cpu writes \(data.count) bytes at \(target)+\(offset)"
        case .cpuRead(let target, let offset, let length): "cpu reads \(length) bytes at \(target)+\(offset)"
        case .deviceRead(let target, let offset, let length): "device reads \(length) bytes at \(target)+\(offset)"
        case .deviceWrite(let target, let offset, let data): "device writes \(data.count) bytes at \(target)+\(offset)"
        }
        let during = injections
        return during.isEmpty ? text : text + " [" + during.map(\.description).joined(separator: "; ") + "]"
    }
}
