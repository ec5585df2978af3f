/// One Shadow operation: a guest write to its page table or context entry (no notification),
/// an invalidation (with device DMA scheduled between the host calls it causes), or a DMA.
public enum ShadowOperation: Hashable, Sendable, CustomStringConvertible {
    /// A device DMA at `iova` of `domain`, scheduled after the `afterCall`-th host call.
    public struct ScheduledDMA: Hashable, Sendable {
        public var afterCall: Int
        public var domain: Int
        public var iova: UInt64

        public init(afterCall: Int, domain: Int, iova: UInt64) {
            self.afterCall = afterCall
            self.domain = domain
            self.iova = iova
        }
    }

    case writeLeaf(domain: Int, leaf: GuestLeaf)
    case clear(domain: Int, iova: UInt64, size: UInt64)
    case demote(domain: Int, iova: UInt64, size: UInt64)
    case setContext(domain: Int, present: Bool)
    case invalidate(Invalidation, dma: [ScheduledDMA])
    case dma(domain: Int, iova: UInt64, access: Access)

    public static let kindNames = ["write-leaf", "clear", "demote", "set-context", "invalidate", "dma"]

    public var kind: Int {
        switch self {
        case .writeLeaf: 0
        case .clear: 1
        case .demote: 2
        case .setContext: 3
        case .invalidate: 4
        case .dma: 5
        }
    }

    /// Applies a guest write to the guest tables (invalidations and DMA change nothing there).
    public func applyToGuest(_ guest: GuestIOMMU) {
        switch self {
        case .writeLeaf(let domain, let leaf): guest.write(domain: domain, leaf)
        case .clear(let domain, let iova, let size): guest.clear(domain: domain, iova: iova, size: size)
        case .demote(let domain, let iova, let size): guest.demote(domain: domain, around: iova, to: size)
        case .setContext(let domain, let present): guest.setContextPresent(domain: domain, present)
        case .invalidate, .dma: break
        }
    }

    public var description: String {
        switch self {
        case .writeLeaf(let domain, let leaf): "guest write(D\(domain), \(leaf))"
        case .clear(let domain, let iova, let size): "guest clear(D\(domain), \(hex(iova)), +\(hex(size)))"
        case .demote(let domain, let iova, let size): "guest demote(D\(domain), \(hex(iova)) to +\(hex(size)))"
        case .setContext(let domain, let present): "guest context(D\(domain), \(present ? "present" : "not present"))"
        case .invalidate(let invalidation, let dma):
            dma.isEmpty ? "invalidate \(invalidation)" : "invalidate \(invalidation) [dma " + dma.map { "D\($0.domain) \(hex($0.iova)) after host call \($0.afterCall)" }.joined(separator: "; ") + "]"
        case .dma(let domain, let iova, let access): "dma(D\(domain), \(hex(iova)), \(access))"
        }
    }
}
