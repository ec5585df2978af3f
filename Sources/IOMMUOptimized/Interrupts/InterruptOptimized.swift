import IOMMUSpec

/// The optimized MSI-X virtualization, shaped like a VMM's: it emulates masking and pending
/// bits in software, allocates host vectors lazily (only up to the highest vector the guest has
/// unmasked), grows the host index without teardown where the host allows, and where it must
/// tear down (VFIO_IRQ_INFO_NORESIZE) first fires what was already pending, then reads back
/// what the host latched in the gap and fires that.
public final class InterruptOptimized: InterruptSystem {
    struct Entry {
        var address: UInt64 = 0
        var data: UInt32 = 0
        var masked = true
        var pasid: UInt32?
    }

    let configuration: InterruptConfiguration
    unowned let host: InterruptHost
    private var enabled = false
    private var functionMask = false
    private var entries: [Entry]
    private var virtualPending: UInt64 = 0
    /// The message each vector's interrupt route was last programmed with; read only by the
    /// planted stale-message bug, which forgets to refresh routes on entry writes.
    private var routes: [(address: UInt64, data: UInt32)]

    /// A planted bug (`IOMMUMutants`); nil in the real implementation.
    package var plantedBug: InterruptBug?

    public init(configuration: InterruptConfiguration, host: InterruptHost) {
        self.configuration = configuration
        self.host = host
        entries = Array(repeating: Entry(), count: configuration.vectors)
        routes = Array(repeating: (0, 0), count: configuration.vectors)
    }

    private func isMasked(_ vector: Int) -> Bool { !enabled || functionMask || entries[vector].masked }
    private func bit(_ vector: Int) -> UInt64 { 1 << UInt64(vector) }

    public func setEnabled(_ on: Bool) {
        enabled = on
        if on {
            unmasked(through: highestUnmasked ?? 0)
        } else {
            // Raises now latch in the host's pending array until the index is enabled again.
            host.disable()
        }
    }

    public func setFunctionMask(_ masked: Bool) {
        functionMask = masked
        if !masked && enabled { unmasked(through: highestUnmasked ?? 0) }
    }

    public func writeEntry(vector: Int, address: UInt64, data: UInt32) {
        guard entries.indices.contains(vector) else { return }
        entries[vector].address = address
        entries[vector].data = data
        if plantedBug != .staleMessage || isMasked(vector) { routes[vector] = (address, data) }
    }

    public func setVectorMask(vector: Int, masked: Bool) {
        guard entries.indices.contains(vector) else { return }
        entries[vector].masked = masked
        if !masked {
            routes[vector] = (entries[vector].address, entries[vector].data)
            if enabled && !functionMask { unmasked(through: vector) }
        }
    }

    public func setPASID(vector: Int, pasid: UInt32?) {
        guard entries.indices.contains(vector) else { return }
        entries[vector].pasid = pasid
        // The host's IMS entry enforces the PASID; the planted bug never programs it.
        if plantedBug != .imsPASIDNotProgrammed { host.setPASID(vector: vector, pasid: pasid) }
    }

    public func pendingBits() -> UInt64 { virtualPending | host.latchedBits }

    public func hostTriggered(vector: Int) {
        guard entries.indices.contains(vector) else { return }
        if isMasked(vector) {
            if plantedBug == .raiseDuringFunctionMaskDropped && functionMask { return }
            virtualPending |= bit(vector)
            // The planted bug keeps the pending array in 32 bits.
            if plantedBug == .pendingMask32Bits { virtualPending &= 0xFFFF_FFFF }
        } else {
            deliver(vector)
        }
    }

    private var highestUnmasked: Int? { entries.lastIndex { !$0.masked } }

    /// After a write that may unmask vectors: fire what was pending before the write (raises
    /// the host latched while the vectors were masked coalesce into one pending bit each; the
    /// guest unmasked them now, whether or not the host has a vector yet), then make host
    /// vectors `0 ... vector` exist, then fire each raise that arrived while they were made.
    private func unmasked(through vector: Int) {
        absorbLatchedAsPending()
        deliverPending()
        allocate(through: vector)
        deliverPending()
    }

    /// Makes host vectors `0 ... vector` exist: grow in place where the host allows, otherwise
    /// disable and re-enable with more (the QEMU flow of seed 003), then replay what the host
    /// latched while vectors were missing.
    private func allocate(through vector: Int) {
        guard vector >= host.allocated else { return }
        if host.allocated > 0 && configuration.dynamicAllocation {
            _ = host.grow(to: vector + 1)
        } else {
            if host.allocated > 0 { host.disable() }
            _ = host.enable(count: vector + 1)
        }
        // Raises in the gap were latched by the host; the planted bug never reads them back.
        if plantedBug != .noLatchOnReallocation { replayLatched() }
    }

    /// Raises latched while vectors were masked: each vector's become one pending bit (PCI
    /// pending bits coalesce), which `deliverPending` fires once.
    private func absorbLatchedAsPending() {
        for vector in entries.indices where host.takeLatched(vector: vector) > 0 {
            if plantedBug == .raiseDuringFunctionMaskDropped && functionMask { continue }
            virtualPending |= bit(vector)
            if plantedBug == .pendingMask32Bits { virtualPending &= 0xFFFF_FFFF }
        }
    }

    /// Raises latched during a reallocation gap, replayed one by one as if they had just fired.
    private func replayLatched() {
        for vector in entries.indices {
            for _ in 0..<host.takeLatched(vector: vector) { hostTriggered(vector: vector) }
        }
    }

    /// Fires every unmasked vector whose pending bit is set, once.
    private func deliverPending() {
        for vector in entries.indices where virtualPending & bit(vector) != 0 && !isMasked(vector) {
            if plantedBug != .pendingDeliveredTwice { virtualPending &= ~bit(vector) }
            if plantedBug != .pendingNotDeliveredOnUnmask { deliver(vector) } else { virtualPending |= bit(vector) }
        }
    }

    private func deliver(_ vector: Int) {
        let message = plantedBug == .staleMessage ? routes[vector] : (entries[vector].address, entries[vector].data)
        host.deliver(vector: vector, address: message.0, data: message.1)
    }
}

/// Planted bugs of the optimized MSI-X virtualization; `IOMMUMutants` names them and their sources.
package enum InterruptBug: String, CaseIterable, Sendable {
    case noLatchOnReallocation
    case pendingNotDeliveredOnUnmask
    case pendingDeliveredTwice
    case staleMessage
    case imsPASIDNotProgrammed
    case raiseDuringFunctionMaskDropped
    case pendingMask32Bits
}
