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
    }

    public let configuration: InterruptConfiguration
    public private(set) var enabled = false
    public private(set) var functionMask = false
    public private(set) var entries: [Entry]
    public private(set) var pending: UInt64 = 0
    public private(set) var deliveries: [Delivery] = []

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
    }

    /// The device raises `vector` carrying `pasid`.
    @discardableResult
    public func raise(vector: Int, pasid: UInt32) -> RaiseFate {
        guard entries.indices.contains(vector) else { return .rejected }
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
    private func deliverUnmaskedPending() {
        for vector in entries.indices where pending & (1 << UInt64(vector)) != 0 && !isMasked(vector) {
            pending &= ~(1 << UInt64(vector))
            deliver(vector)
        }
    }

    private func deliver(_ vector: Int) {
        deliveries.append(Delivery(vector: vector, address: entries[vector].address, data: entries[vector].data))
    }

    /// Applies a guest write, then the raises scheduled during it.
    public func apply(_ operation: InterruptOperation) {
        switch operation {
        case .setEnabled(let on, _):
            enabled = on
            deliverUnmaskedPending()
        case .setFunctionMask(let on, _):
            functionMask = on
            deliverUnmaskedPending()
        case .writeEntry(let vector, let address, let data, _):
            guard entries.indices.contains(vector) else { return }
            entries[vector].address = address
            entries[vector].data = data
        case .setVectorMask(let vector, let masked, _):
            guard entries.indices.contains(vector) else { return }
            entries[vector].masked = masked
            deliverUnmaskedPending()
        case .setPASID(let vector, let pasid, _):
            guard entries.indices.contains(vector) else { return }
            entries[vector].pasid = pasid
        case .raise(let vector, let pasid):
            raise(vector: vector, pasid: pasid)
        }
        for injection in operation.injections.sorted(by: { $0.afterCall < $1.afterCall }) {
            raise(vector: injection.vector, pasid: injection.pasid)
        }
    }
}
