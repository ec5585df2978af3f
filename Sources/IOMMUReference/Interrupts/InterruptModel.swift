import IOMMUSpec

/// The reference model of MSI-X as the guest sees it: an ideal VMM with no host underneath.
/// Every rule is stated directly; `docs/SEMANTICS.md` has them with sources.
///
/// A guest write takes effect first; raises scheduled during it are judged against the state
/// after the write (a raise lands while the VMM is still processing a write the guest has
/// already made).
public final class InterruptModel {
    public struct Entry: Hashable, Sendable {
        public var address: UInt64 = 0
        public var data: UInt32 = 0
        /// PCI: every vector's mask bit is set at reset.
        public var masked = true
        public var pasid: UInt32?
        /// Messages written while the vector was unmasked, since it was last masked: a delivery
        /// may still carry one of them (linux pci_write_msg_msix: "the result is undefined";
        /// QEMU with KVM irqfd keeps the old route until the next mask change).
        public var olderMessages: [Delivery] = []
    }

    /// One delivery the model makes, and the other messages it may carry.
    public struct Expected: Hashable, Sendable {
        public var delivery: Delivery
        public var alternatives: [Delivery]

        public func allows(_ actual: Delivery) -> Bool { actual == delivery || alternatives.contains(actual) }
    }

    public let configuration: InterruptConfiguration
    public private(set) var enabled = false
    public private(set) var functionMask = false
    public private(set) var entries: [Entry]
    public private(set) var pending: UInt64 = 0
    public private(set) var deliveries: [Expected] = []

    public init(configuration: InterruptConfiguration) {
        self.configuration = configuration
        entries = Array(repeating: Entry(), count: configuration.vectors)
    }

    /// QEMU hw/pci/msix.c msix_is_masked: masked if MSI-X is disabled, the function is masked,
    /// or the vector's own mask bit is set.
    public func isMasked(_ vector: Int) -> Bool { !enabled || functionMask || entries[vector].masked }

    /// What a raise did, for statistics.
    public enum RaiseFate: String, Sendable {
        case delivered, pending, rejected
        /// The device may not raise: MSI-X is disabled and the policy says pass-through.
        case prohibited
    }

    /// Whether a raise can happen now (a passed-through device with MSI-X disabled has none).
    public var mayRaise: Bool { enabled || configuration.policy.disabled == .pending }

    /// The device raises `vector` carrying `pasid`.
    @discardableResult
    public func raise(vector: Int, pasid: UInt32) -> RaiseFate {
        guard entries.indices.contains(vector) else { return .rejected }
        guard mayRaise else { return .prohibited }
        // Seed 003 (idxd IMS): only a matching PASID can trigger an entry; an untagged entry
        // accepts the device's default PASID. One sub-device never raises another's entry.
        guard pasid == (entries[vector].pasid ?? configuration.defaultPASID) else { return .rejected }
        // msix.c msix_notify: a masked vector sets its pending bit instead of firing (several
        // raises while masked are one pending bit).
        if isMasked(vector) {
            pending |= 1 << UInt64(vector)
            return .pending
        }
        deliver(vector)
        return .delivered
    }

    /// msix.c msix_handle_mask_update: a vector that becomes unmasked with its pending bit set
    /// clears the bit and fires once, with the message in its entry at that moment.
    private func maskChanged() {
        for vector in entries.indices {
            if isMasked(vector) {
                entries[vector].olderMessages = []
            } else if pending & (1 << UInt64(vector)) != 0 {
                pending &= ~(1 << UInt64(vector))
                deliver(vector)
            }
        }
    }

    /// The deliveries since they were last taken, which the model then forgets.
    public func takeDeliveries() -> [Expected] {
        defer { deliveries.removeAll(keepingCapacity: true) }
        return deliveries
    }

    private func deliver(_ vector: Int) {
        let entry = entries[vector]
        deliveries.append(Expected(delivery: Delivery(vector: vector, address: entry.address, data: entry.data), alternatives: entry.olderMessages))
    }

    /// Applies a guest write (a raise applies nothing); its scheduled raises come after.
    public func applyWrite(_ operation: InterruptOperation) {
        switch operation {
        case .setEnabled(let on, _):
            enabled = on
            maskChanged()
        case .setFunctionMask(let on, _):
            functionMask = on
            maskChanged()
        case .writeEntry(let vector, let address, let data, _):
            guard entries.indices.contains(vector) else { return }
            if !isMasked(vector) { entries[vector].olderMessages.append(Delivery(vector: vector, address: entries[vector].address, data: entries[vector].data)) }
            entries[vector].address = address
            entries[vector].data = data
        case .setVectorMask(let vector, let masked, _):
            guard entries.indices.contains(vector) else { return }
            entries[vector].masked = masked
            maskChanged()
        case .setPASID(let vector, let pasid, _):
            guard entries.indices.contains(vector) else { return }
            entries[vector].pasid = pasid
        case .raise:
            break
        }
    }

    /// Applies a guest write, then the raises scheduled during it (or the raise itself).
    public func apply(_ operation: InterruptOperation) {
        applyWrite(operation)
        if case .raise(let vector, let pasid) = operation { raise(vector: vector, pasid: pasid) }
        for injection in operation.injections.sorted(by: { $0.afterCall < $1.afterCall }) {
            raise(vector: injection.vector, pasid: injection.pasid)
        }
    }

    /// Whether `actual` (what an implementation delivered during a step) conforms to `expected`
    /// (the model's deliveries of the step): per vector, the raises of a step that no delivery
    /// separates may be one interrupt (Linux vfio_msihandler `eventfd_signal(trigger)` counts;
    /// QEMU vfio_msi_interrupt does `event_notifier_test_and_clear` then one `msix_notify`), so
    /// at least one delivery where the model has any, never more than the model, none where it
    /// has none, each with a message the model allows. Nil, or what is wrong.
    public static func judge(expected: [Expected], actual: [Delivery]) -> String? {
        var vectors = Set(expected.map(\.delivery.vector))
        vectors.formUnion(actual.map(\.vector))
        for vector in vectors.sorted() {
            let wanted = expected.filter { $0.delivery.vector == vector }, got = actual.filter { $0.vector == vector }
            if wanted.isEmpty { return "the implementation delivered \(got) on v\(vector), which the model does not deliver at all" }
            if got.isEmpty { return "the model delivers \(wanted.map(\.delivery)) on v\(vector), the implementation nothing (an interrupt lost)" }
            if got.count > wanted.count { return "the implementation delivered v\(vector) \(got.count) times, the model \(wanted.count) (\(got.count - wanted.count) spurious)" }
            if let stray = got.first(where: { message in !wanted.contains { $0.allows(message) } }) {
                let allowed = Set(wanted.flatMap { [$0.delivery] + $0.alternatives }).sorted()
                return "the implementation delivered \(stray); the model allows \(allowed)"
            }
        }
        return nil
    }
}
