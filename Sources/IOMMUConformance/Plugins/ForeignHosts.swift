import Foundation
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
/// Locked: a plug-in thread may break the ABI (a callback from its own thread) while the
/// checker's thread takes the failure.
final class ForeignFailureBox: @unchecked Sendable {
    private var first: String?
    private let lock = NSLock()

    func record(_ message: String) {
        lock.lock()
        if first == nil { first = message }
        lock.unlock()
    }

    func take() -> String? {
        lock.lock()
        defer { first = nil; lock.unlock() }
        return first
    }

    var pending: Bool {
        lock.lock()
        defer { lock.unlock() }
        return first != nil
    }
}

/// Guards a host callback the ABI allows only on the calling thread, inside a call, and not
/// from inside itself: a plug-in that breaks this gets an ABI violation naming the callback,
/// not a corrupted channel or an overflowed stack in the checker.
/// A class, not a struct: the body re-enters it, which an inout access would not allow.
final class CallbackGuard {
    private let thread = pthread_self()
    private var depth = 0

    /// Whether the callback `name` came on the calling thread; if not, it is recorded.
    func onCallingThread(_ name: String, _ failures: ForeignFailureBox) -> Bool {
        guard pthread_equal(pthread_self(), thread) != 0 else {
            failures.record("\(name) was called from a thread the plug-in started; host callbacks are allowed only on the thread of the call they belong to")
            return false
        }
        return true
    }

    /// Runs `body` unless the callback breaks the ABI, which is recorded in `failures`.
    func run(_ name: String, _ failures: ForeignFailureBox, _ body: () -> Void) {
        guard onCallingThread(name, failures) else { return }
        guard depth == 0 else {
            failures.record("\(name) was called again from inside a call the checker made during \(name) (a re-entrant \(name))")
            return
        }
        depth += 1
        defer { depth -= 1 }
        body()
    }
}

/// The context a plug-in's host table carries. It outlives its owner (it is never freed: 16
/// bytes a case), so a callback after destroy, even through a copy of the table the plug-in
/// kept, finds no owner and is reported (`LateCallbacks`) instead of reaching freed memory.
final class CallbackContext<Owner: AnyObject> {
    unowned(unsafe) private(set) var owner: Owner?

    private init(_ owner: Owner) { self.owner = owner }

    /// A context for `owner`, as the raw pointer the C table holds.
    static func make(_ owner: Owner) -> UnsafeMutableRawPointer {
        Unmanaged.passRetained(CallbackContext(owner)).toOpaque()
    }

    /// The owner of `context`, or nil (recorded as a late `name`) once it is destroyed.
    static func owner(_ context: UnsafeMutableRawPointer?, _ name: String) -> Owner? {
        guard let context, let owner = Unmanaged<CallbackContext>.fromOpaque(context).takeUnretainedValue().owner else {
            LateCallbacks.record(name)
            return nil
        }
        return owner
    }

    /// Called from the owner's deinit, after the plug-in's destroy.
    static func end(_ context: UnsafeMutableRawPointer?) {
        guard let context else { return }
        Unmanaged<CallbackContext>.fromOpaque(context).takeUnretainedValue().owner = nil
    }
}

/// Host callbacks that arrived after the object they belong to was destroyed (its table
/// keeps no context), reported with the next call of any object of the plug-in.
enum LateCallbacks {
    private static let box = ForeignFailureBox()

    static func record(_ name: String) {
        box.record("\(name) was called after destroy of the object it belongs to (a host callback kept by a thread or a global)")
    }

    static func take() -> String? { box.take() }
}
