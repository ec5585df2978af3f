import IOMMUReference
import IOMMUSpec

/// What a plug-in's callbacks reach. In process these are the checker's own guest and hosts;
/// in a worker process they are stand-ins that forward each call to the checker.
public protocol ShadowGuestInterface: AnyObject {
    func guestLeaves(domain: Int, first: UInt64, last: UInt64) -> [GuestLeaf]
    func hostPhysical(_ gpa: UInt64) -> UInt64?
    /// The leaves with where each lives on the host (0: nothing to shadow), in one call.
    func guestLeavesWithHost(domain: Int, first: UInt64, last: UInt64) -> [(leaf: GuestLeaf, host: UInt64)]
}

extension ShadowGuestInterface {
    public func guestLeavesWithHost(domain: Int, first: UInt64, last: UInt64) -> [(leaf: GuestLeaf, host: UInt64)] {
        guestLeaves(domain: domain, first: first, last: last).map { leaf in
            guard let base = hostPhysical(leaf.gpa), hostPhysical(leaf.gpa + (leaf.size - 1)) == base + (leaf.size - 1) else { return (leaf, 0) }
            return (leaf, base)
        }
    }
}

public protocol ShadowHostInterface: AnyObject {
    func map(domain: Int, iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions) -> Result<Void, AddressSpaceError>
    func unmap(domain: Int, iova: UInt64, length: UInt64) -> Result<UInt64, AddressSpaceError>
    func replace(domain: Int, iova: UInt64, length: UInt64, with extents: [Extent]) -> Result<Void, AddressSpaceError>
    func notifyUnmap(domain: Int, iova: UInt64, length: UInt64)
}

public protocol InterruptHostInterface: AnyObject {
    func enable(count: Int) -> Result<Void, InterruptHost.HostError>
    func disable()
    func grow(to count: Int) -> Result<Void, InterruptHost.HostError>
    var allocated: Int { get }
    func setTrigger(vector: Int)
    func setPASID(vector: Int, pasid: UInt32?)
    var latchedBits: UInt64 { get }
    func takeLatched(vector: Int) -> Int
    func deliver(vector: Int, address: UInt64, data: UInt32)
}

extension GuestIOMMU: ShadowGuestInterface {
    public func guestLeaves(domain: Int, first: UInt64, last: UInt64) -> [GuestLeaf] { Array(leaves(domain: domain, first: first, last: last)) }
    public func hostPhysical(_ gpa: UInt64) -> UInt64? { configuration.memory.hostPhysical(gpa) }
}

extension ShadowHost: ShadowHostInterface {}

extension InterruptHost: InterruptHostInterface {}

/// The first foreign failure a wrapper saw; later ones add nothing (the first explains them).
final class ForeignFailureBox {
    private(set) var first: String?

    func record(_ message: String) { if first == nil { first = message } }

    func take() -> String? {
        defer { first = nil }
        return first
    }
}
