/// The Interrupts surface: MSI-X virtualization that loses no interrupt across mask, unmask
/// and host vector reallocation (seed 003).
///
/// The implementation under test is a VMM's MSI-X emulation. The guest writes the virtual
/// MSI-X capability and table through the methods below; the implementation programs the
/// checker-owned `InterruptHost` the way VFIO_DEVICE_SET_IRQS works, and injects interrupts
/// into the guest with `host.deliver`. The host calls `hostTriggered` when a host vector fires.
/// The device raises vectors at any moment, including between two host calls of one guest
/// operation, and the host may call `hostTriggered` from inside the implementation's own
/// method, so implementations must not hold an exclusive access across a host call.
public protocol InterruptSystem: AnyObject {
    /// The MSI-X Enable bit of the Message Control register.
    func setEnabled(_ enabled: Bool)
    /// The Function Mask bit of the Message Control register.
    func setFunctionMask(_ masked: Bool)
    /// Message Address and Message Data of a table entry.
    func writeEntry(vector: Int, address: UInt64, data: UInt32)
    /// The Mask bit of a table entry's Vector Control.
    func setVectorMask(vector: Int, masked: Bool)
    /// The PASID an IMS entry accepts (nil: the device's default PASID) (seed 003, idxd MSIX_PERM).
    func setPASID(vector: Int, pasid: UInt32?)
    /// The Pending Bit Array as the guest reads it (bit v is vector v).
    func pendingBits() -> UInt64
    /// The host signals that host vector `vector` fired (its eventfd, in VFIO terms).
    func hostTriggered(vector: Int)
}

/// The device and host a case runs against.
public struct InterruptConfiguration: Hashable, Sendable, CustomStringConvertible {
    /// MSI-X table size (1 ... 64: the ABI's pending bits are one 64-bit word).
    public var vectors: Int
    /// Whether the host can add vectors to an enabled index without touching the others
    /// (vfio-pci dynamic MSI-X, linux 6.5+). Without it the index must be disabled and
    /// re-enabled to grow (VFIO_IRQ_INFO_NORESIZE).
    public var dynamicAllocation: Bool
    /// The PASID an untagged entry accepts.
    public var defaultPASID: UInt32
    /// What the device is: emulated (its raises while MSI-X is disabled pend) or passed through.
    public var policy: InterruptPolicy

    public init(vectors: Int = 4, dynamicAllocation: Bool = false, defaultPASID: UInt32 = 0, policy: InterruptPolicy = .emulated) {
        self.vectors = vectors
        self.dynamicAllocation = dynamicAllocation
        self.defaultPASID = defaultPASID
        self.policy = policy
    }

    public func validate() throws(ConfigurationProblem) {
        guard (1...64).contains(vectors) else { throw ConfigurationProblem("\(vectors) vectors: an MSI-X table here has 1 to 64 entries") }
    }

    public var description: String {
        "\(vectors) vectors, \(dynamicAllocation ? "dynamic" : "no-resize") host, default PASID \(defaultPASID), \(policy)"
    }
}

/// The rules where devices differ (docs/SEMANTICS.md, "Interrupts").
public struct InterruptPolicy: Hashable, Sendable, CustomStringConvertible {
    /// What a raise does while MSI-X is disabled.
    public var disabled: DisabledRaises

    public init(disabled: DisabledRaises) { self.disabled = disabled }

    public enum DisabledRaises: String, Hashable, Sendable, CaseIterable {
        /// It sets the vector's pending bit (QEMU msix_notify: `if (msix_is_masked(dev, vector))
        /// { msix_set_pending(dev, vector); return; }`, and a disabled function is masked).
        case pending
        /// There is none: a function with MSI-X disabled "is prohibited from using MSI-X", and
        /// VFIO has no host vectors then (a device passed through).
        case dropped
    }

    /// An emulated device (QEMU hw/pci/msix.c).
    public static let emulated = InterruptPolicy(disabled: .pending)
    /// A device passed through with VFIO.
    public static let passThrough = InterruptPolicy(disabled: .dropped)

    public var description: String { presetName }
}

extension InterruptPolicy: SwitchedPolicy {
    public static let presets: [(name: String, policy: InterruptPolicy)] = [("emulated", .emulated), ("pass-through", .passThrough)]

    public static let switches: [PolicySwitch<InterruptPolicy>] = [
        .choice("disabled", \.disabled) {
            switch $0 {
            case .pending: "a raise while MSI-X is disabled sets the vector's pending bit; enabling with the vector unmasked delivers it once"
            case .dropped: "there is no raise while MSI-X is disabled (the device may not use MSI-X)"
            }
        },
    ]
}

/// One interrupt as the guest receives it: the vector and the message programmed at delivery.
public struct Delivery: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var vector: Int
    public var address: UInt64
    public var data: UInt32

    public init(vector: Int, address: UInt64, data: UInt32) {
        self.vector = vector
        self.address = address
        self.data = data
    }

    public static func < (a: Delivery, b: Delivery) -> Bool { (a.vector, a.address, a.data) < (b.vector, b.address, b.data) }

    public var description: String { "v\(vector)(\(hex(address)), \(hex(UInt64(data))))" }
}

extension InterruptConfiguration: ValidatedConfiguration {}
