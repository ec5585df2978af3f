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
        #if DEBUG
        defer { assertInvariant(invariantViolation(), of: "InterruptOptimized") }
        #endif
        enabled = on
        if on {
            unmasked(through: highestUnmasked ?? 0)
        } else {
            // Raises now latch in the host's pending array until the index is enabled again.
            host.disable()
        }
    }

    public func setFunctionMask(_ masked: Bool) {
        #if DEBUG
        defer { assertInvariant(invariantViolation(), of: "InterruptOptimized") }
        #endif
        functionMask = masked
        if !masked && enabled { unmasked(through: highestUnmasked ?? 0) }
    }

    public func writeEntry(vector: Int, address: UInt64, data: UInt32) {
        guard entries.indices.contains(vector) else { return }
        #if DEBUG
        defer { assertInvariant(invariantViolation(), of: "InterruptOptimized") }
        #endif
        entries[vector].address = address
        entries[vector].data = data
        if plantedBug != .staleMessage || isMasked(vector) { routes[vector] = (address, data) }
    }

    public func setVectorMask(vector: Int, masked: Bool) {
        guard entries.indices.contains(vector) else { return }
        #if DEBUG
        defer { assertInvariant(invariantViolation(), of: "InterruptOptimized") }
        #endif
        entries[vector].masked = masked
        if !masked {
            routes[vector] = (entries[vector].address, entries[vector].data)
            if enabled && !functionMask { unmasked(through: vector) }
        }
    }

    public func setPASID(vector: Int, pasid: UInt32?) {
        guard entries.indices.contains(vector) else { return }
        #if DEBUG
        defer { assertInvariant(invariantViolation(), of: "InterruptOptimized") }
        #endif
        entries[vector].pasid = pasid
        // The host's IMS entry enforces the PASID; the planted bug never programs it.
        if plantedBug != .imsPASIDNotProgrammed { host.setPASID(vector: vector, pasid: pasid) }
    }

    public func pendingBits() -> UInt64 { virtualPending | host.latchedBits }

    public func hostTriggered(vector: Int) {
        guard entries.indices.contains(vector) else { return }
        #if DEBUG
        // The host may raise between the host calls of another operation: each of those comes
        // after that operation fired what was pending, so the invariants hold there too.
        defer { assertInvariant(invariantViolation(), of: "InterruptOptimized") }
        #endif
        trigger(vector)
    }

    /// A raise: pending while masked, delivered otherwise. (Replays call it in the middle of an
    /// unmask, where the invariants wait for the unmask to finish.)
    private func trigger(_ vector: Int) {
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
            for _ in 0..<host.takeLatched(vector: vector) { trigger(vector) }
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

    // MARK: Invariants
    //
    // - one entry and one route per vector; pending bits only for vectors that exist;
    // without a planted bug (several are exactly a broken one of these):
    // - a route holds its entry's message (every write refreshes it; the stale-message bug
    //   is a write that does not);
    // - only a masked vector is pending: unmasking fires a pending bit, and a raise on an
    //   unmasked vector is delivered, not kept.
    // Every call may touch every vector, and there are at most 64: the full check is the local one.

    /// The first broken invariant, or nil. O(vectors).
    public func invariantViolation() -> String? {
        let count = configuration.vectors
        if entries.count != count || routes.count != count { return "\(entries.count) entries and \(routes.count) routes for \(count) vectors" }
        let existing: UInt64 = count >= 64 ? .max : (1 << UInt64(count)) - 1
        if virtualPending & ~existing != 0 { return "pending bits 0x\(String(virtualPending, radix: 16)) beyond the \(count) vectors" }
        guard plantedBug == nil else { return nil }
        // Debug builds run this after every call: a `while` loop and plain comparisons, since
        // unoptimized `for in` and tuple comparison go through generic code.
        var unmasked: UInt64 = 0, vector = 0
        while vector < count {
            let entry = entries[vector], route = routes[vector]
            if route.address != entry.address || route.data != entry.data { return "vector \(vector) route \(route) differs from its entry" }
            if !entry.masked { unmasked |= bit(vector) }
            vector += 1
        }
        if enabled && !functionMask && virtualPending & unmasked != 0 {
            return "vector \((virtualPending & unmasked).trailingZeroBitCount) is pending but unmasked"
        }
        return nil
    }

    /// Test hook: sets pending bits as they are, bypassing every rule.
    func overwritePendingForTesting(_ bits: UInt64) {
        virtualPending = bits
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
