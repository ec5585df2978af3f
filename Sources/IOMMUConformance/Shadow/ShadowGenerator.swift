import IOMMUSpec
import PropertyCheck

/// Draws guest page-table writes and invalidations toward what breaks a resync: entries that
/// change, disappear, appear and stay the same; superpage promotion and demotion; page-selective
/// invalidations that cross 2 MiB page-directory boundaries; invalidations the guest forgets;
/// device DMA scheduled between host calls; context entries removed and restored.
struct ShadowGenerator {
    static let kindWeights = [35, 8, 5, 3, 30, 19]
    static let sizes: [UInt64] = [1 << 12, 1 << 21, 1 << 30]

    let configuration: ShadowConfiguration

    func draw(_ stream: ChoiceStream, enabled: KindSet, guest: GuestIOMMU) -> ShadowOperation {
        let domain = Int(stream.draw(upTo: UInt64(configuration.domains - 1)))
        switch stream.drawWeightedIndex(enabled.mask(Self.kindWeights)) {
        case 0:
            let size = Self.sizes[stream.drawWeightedIndex([70, 20, 10])]
            let iova = address(stream, size: size, guest, domain)
            let permissions = [Permissions.readWrite, .read, .write][stream.drawWeightedIndex([60, 25, 15])]
            return .writeLeaf(domain: domain, leaf: GuestLeaf(iova: iova, size: size, gpa: gpa(stream, size: size, iova: iova, guest, domain), permissions: permissions))
        case 1:
            let size = Self.sizes[stream.drawWeightedIndex([60, 30, 10])]
            return .clear(domain: domain, iova: address(stream, size: size, guest, domain), size: size)
        case 2:
            let size = Self.sizes[stream.drawWeightedIndex([70, 30])]
            return .demote(domain: domain, iova: address(stream, size: size << 9, guest, domain), size: size)
        case 3:
            return .setContext(domain: domain, present: stream.drawBool(probability: 0.6))
        case 4:
            return .invalidate(invalidation(stream, guest, domain), dma: scheduledDMA(stream, guest))
        default:
            return .dma(domain: domain, iova: address(stream, size: 4096, guest, domain) + stream.draw(upTo: 4095), access: stream.drawBool() ? .write : .read)
        }
    }

    /// An IOVA aligned to `size`: in a small arena (state-independent, first) or next to a leaf
    /// the domain already has (same place, one before, one after).
    private func address(_ stream: ChoiceStream, size: UInt64, _ guest: GuestIOMMU, _ domain: Int) -> UInt64 {
        let nearLeaf = stream.drawBool(probability: 0.5)
        let arena = size * stream.draw(upTo: size >= 1 << 30 ? 3 : size >= 1 << 21 ? 31 : 8191)
        let table = guest.tables[domain]
        guard nearLeaf, !table.isEmpty else { return arena }
        let leaf = table[Int(stream.drawUniform(upTo: UInt64(table.count - 1)))]
        let base = leaf.iova & ~(size - 1)
        switch stream.drawUniform(upTo: 2) {
        case 0: return base
        case 1: return base &- size
        default: return (leaf.last | (size - 1)) &+ 1
        }
    }

    /// A guest-physical address aligned to `size`: low RAM, high RAM, the MMIO hole, or the
    /// address the leaf at `iova` already has (a rewrite that changes nothing).
    private func gpa(_ stream: ChoiceStream, size: UInt64, iova: UInt64, _ guest: GuestIOMMU, _ domain: Int) -> UInt64 {
        let slots = (UInt64(1) << 31) / size
        switch stream.drawWeightedIndex([50, 25, 5, 20]) {
        case 1: return (1 << 32) + size * stream.draw(upTo: slots - 1)
        case 2: return (1 << 31) + size * stream.draw(upTo: slots - 1)
        case 3:
            if let leaf = guest.leaves(domain: domain, first: iova, last: iova).first {
                return leaf.gpa + (iova - leaf.iova) & ~(size - 1)
            }
            return size * stream.draw(upTo: slots - 1)
        default: return size * stream.draw(upTo: slots - 1)
        }
    }

    private func invalidation(_ stream: ChoiceStream, _ guest: GuestIOMMU, _ domain: Int) -> Invalidation {
        switch stream.drawWeightedIndex([55, 25, 10, 10]) {
        case 1: return .domain(domain)
        case 2: return .global
        case 3: return .context(domain)
        default:
            // Small ranges, ranges that span page-directory boundaries (order 10 and up), large ones.
            let order = [Int(stream.draw(upTo: 3)), 9 + Int(stream.draw(upTo: 3)), Int(stream.draw(upTo: 18))][stream.drawWeightedIndex([50, 30, 20])]
            let size = UInt64(4096) << UInt64(order)
            return .pageSelective(domain: domain, iova: address(stream, size: 4096, guest, domain) & ~(size - 1), order: order)
        }
    }

    private func scheduledDMA(_ stream: ChoiceStream, _ guest: GuestIOMMU) -> [ShadowOperation.ScheduledDMA] {
        guard stream.drawBool(probability: 0.4) else { return [] }
        return (0...Int(stream.draw(upTo: 2))).map { _ in
            let domain = Int(stream.draw(upTo: UInt64(configuration.domains - 1)))
            let afterCall = 1 + Int(stream.draw(upTo: 5))
            return ShadowOperation.ScheduledDMA(afterCall: afterCall, domain: domain, iova: address(stream, size: 4096, guest, domain))
        }
    }

    /// One or two domains, a 39- or 48-bit IOVA space, and the window policy most of the time.
    static func drawConfiguration(_ stream: ChoiceStream, policy fixed: ShadowPolicy? = nil) -> ShadowConfiguration {
        let domains = 1 + Int(stream.draw(upTo: 1))
        let width = [39, 48][stream.drawWeightedIndex([70, 30])]
        let policies = ShadowPolicy.allCases
        let weights = [70, 30]
        let policy = fixed.map { policies[stream.drawWeightedIndex(weights, forcedTo: policies.firstIndex(of: $0)!)] } ?? policies[stream.drawWeightedIndex(weights)]
        return ShadowConfiguration(domains: domains, addressWidth: width, policy: policy)
    }
}
