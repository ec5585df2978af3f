/// DMA permissions of a mapping, from the device's point of view (VFIO_DMA_MAP_FLAG_READ/WRITE,
/// VIRTIO_IOMMU_MAP_F_READ/WRITE, IOMMU_READ/IOMMU_WRITE).
public struct Permissions: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let read = Permissions(rawValue: 1)
    public static let write = Permissions(rawValue: 2)
    public static let readWrite: Permissions = [.read, .write]

    /// Whether an access of this kind is allowed.
    @inline(__always)
    public func allows(_ access: Access) -> Bool { rawValue & access.rawValue != 0 }

    /// "r", "w", "rw", or "-" for none.
    public var description: String {
        switch rawValue & 3 {
        case 1: "r"
        case 2: "w"
        case 3: "rw"
        default: "-"
        }
    }

    /// Parses "r", "w", "rw" or "-".
    public init?(_ text: String) {
        switch text {
        case "r": self = .read
        case "w": self = .write
        case "rw": self = .readWrite
        case "-": self = []
        default: return nil
        }
    }
}

/// The kind of a DMA access.
public enum Access: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case read = 1
    case write = 2

    public var description: String { self == .read ? "read" : "write" }
}
