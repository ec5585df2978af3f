/// The simulated host interrupt layer, owned by the checker: VFIO's MSI-X index of a device.
/// The implementation programs it; the checker sees every call and raises device interrupts
/// between calls.
///
/// Rules (docs/SEMANTICS.md, Interrupts):
/// - `enable(count:)` allocates host vectors `0 ..< count`, each wired to the implementation
///   (VFIO_DEVICE_SET_IRQS with eventfds on a disabled index). It fails on an enabled index.
/// - `disable()` frees every vector (SET_IRQS with count 0).
/// - `grow(to:)` adds vectors to an enabled index without touching the others, only where the
///   host supports dynamic allocation.
/// - `setPASID(vector:pasid:)` programs the PASID an IMS entry accepts (nil: the default).
/// - A device raise is dropped if its PASID is not the entry's; otherwise it fires
///   `hostTriggered` if the vector is allocated, and otherwise is latched: the host sets the
///   vector's latched bit (the device's message is held, as a pending bit holds it: several
///   raises are one bit), and the implementation may read and clear it with
///   `takeLatched(vector:)`. A VMM that never reads it back (QEMU's flow in seed 003) loses the
///   raise.
public final class InterruptHost {
    public enum HostError: Error, Hashable, Sendable {
        case indexEnabled
        case indexDisabled
        case noDynamicAllocation
        case beyondTable
    }

    /// A device interrupt to raise after the implementation's `afterCall`-th host call (1 or
    /// more) of the current guest operation, or when the operation returns if it makes fewer
    /// calls. The guest's write has been received by then: the raise is judged against the
    /// state after the write.
    public struct Injection: Hashable, Sendable {
        public var afterCall: Int
        public var vector: Int
        public var pasid: UInt32

        public init(afterCall: Int, vector: Int, pasid: UInt32) {
            self.afterCall = afterCall
            self.vector = vector
            self.pasid = pasid
        }
    }

    /// What happened to a raise at the host.
    public enum Fate: Hashable, Sendable {
        case signalled
        case latched
        case rejected
    }

    public let configuration: InterruptConfiguration
    /// The layer to tell of a raise: unowned, as the layer owns this host (a weak reference
    /// would put a side table on the layer and slow every retain of it).
    public unowned var system: (any InterruptSystem)?
    public private(set) var allocated = 0
    /// Whether a raise is held per vector since the implementation last took it.
    public private(set) var latched: [Bool]
    private var tags: [UInt32?]
    /// SET_IRQS-style calls made so far.
    public private(set) var calls = 0
    /// Interrupts delivered to the guest, in order.
    public private(set) var deliveries: [Delivery] = []
    /// Every raise and what the host did with it, in order.
    public private(set) var raises: [(vector: Int, pasid: UInt32, fate: Fate)] = []
    private var injections: [Injection] = []
    private var callsThisOperation = 0
    /// Told of every raise and its fate before the implementation hears of it (a plug-in
    /// worker's copy of the host logs its raises in order with its host calls).
    public var onRaise: ((_ vector: Int, _ pasid: UInt32, _ fate: Fate) -> Void)?

    public init(configuration: InterruptConfiguration) {
        self.configuration = configuration
        tags = Array(repeating: nil, count: configuration.vectors)
        latched = Array(repeating: false, count: configuration.vectors)
    }

    /// Vectors with latched raises, as a bit mask (what a read of the device's pending bits shows).
    public var latchedBits: UInt64 {
        var bits: UInt64 = 0
        for (vector, held) in latched.enumerated() where held { bits |= 1 << UInt64(vector) }
        return bits
    }

    // MARK: The implementation's side

    public func enable(count: Int) -> Result<Void, HostError> {
        defer { called() }
        guard allocated == 0 else { return .failure(.indexEnabled) }
        guard count >= 1, count <= configuration.vectors else { return .failure(.beyondTable) }
        allocated = count
        return .success(())
    }

    /// SET_IRQS with count 0 (vfio_msi_disable): every host vector is freed; raises from now
    /// on are latched until vectors exist again.
    public func disable() {
        allocated = 0
        called()
    }

    public func grow(to count: Int) -> Result<Void, HostError> {
        defer { called() }
        guard configuration.dynamicAllocation else { return .failure(.noDynamicAllocation) }
        guard allocated > 0 else { return .failure(.indexDisabled) }
        guard count <= configuration.vectors else { return .failure(.beyondTable) }
        allocated = max(allocated, count)
        return .success(())
    }

    /// SET_IRQS on one allocated vector with a new eventfd (vfio_msi_set_vector_signal), as
    /// QEMU does on every vector mask and unmask to reroute the interrupt (to KVM's irqfd or
    /// through QEMU); counted, with no other effect here: the host keeps the vector allocated.
    public func setTrigger(vector: Int) {
        called()
    }

    public func setPASID(vector: Int, pasid: UInt32?) {
        if tags.indices.contains(vector) { tags[vector] = pasid }
        called()
    }

    /// Reads and clears the latched bit of `vector`: 1 if a raise arrived while it had no host
    /// vector, else 0.
    public func takeLatched(vector: Int) -> Int {
        guard latched.indices.contains(vector) else { return 0 }
        defer { latched[vector] = false }
        return latched[vector] ? 1 : 0
    }

    /// Injects an interrupt into the guest.
    public func deliver(vector: Int, address: UInt64, data: UInt32) {
        deliveries.append(Delivery(vector: vector, address: address, data: data))
    }

    // MARK: The checker's side

    /// Raises device vector `vector` with `pasid` now.
    public func raise(vector: Int, pasid: UInt32) {
        guard tags.indices.contains(vector) else { return }
        guard pasid == (tags[vector] ?? configuration.defaultPASID) else {
            raises.append((vector, pasid, .rejected))
            onRaise?(vector, pasid, .rejected)
            return
        }
        if vector < allocated {
            raises.append((vector, pasid, .signalled))
            onRaise?(vector, pasid, .signalled)
            system?.hostTriggered(vector: vector)
        } else {
            raises.append((vector, pasid, .latched))
            latched[vector] = true
            onRaise?(vector, pasid, .latched)
        }
    }

    /// Runs one guest operation with raises scheduled between its host calls; raises scheduled
    /// after more calls than it made happen when it returns.
    public func during(_ scheduled: [Injection], _ operation: () -> Void) {
        injections = scheduled.sorted { $0.afterCall < $1.afterCall }
        callsThisOperation = 0
        operation()
        let remaining = injections
        injections = []
        for injection in remaining { raise(vector: injection.vector, pasid: injection.pasid) }
    }

    private func called() {
        calls += 1
        callsThisOperation += 1
        while let first = injections.first, first.afterCall <= callsThisOperation {
            injections.removeFirst()
            raise(vector: first.vector, pasid: first.pasid)
        }
    }
}
