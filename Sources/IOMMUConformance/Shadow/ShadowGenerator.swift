import IOMMUSpec
import PropertyCheck

/// Draws guest page-table writes and invalidations toward what breaks a resync: entries that
/// change, disappear, appear and stay the same; superpage promotion and demotion; page-selective
/// invalidations that cross 2 MiB page-directory boundaries; invalidations the guest forgets;
/// device DMA scheduled between host calls; context entries removed and restored. Addresses
/// come from small arenas (so leaves meet) at the bottom of the IOVA space, just below and
/// just above 2^39 (where a 3-level walk ends) and at the top of the configured width.
struct ShadowGenerator {
    static let kindWeights = [35, 8, 5, 3, 30, 10]
    static let sizes: [UInt64] = [1 << 12, 1 << 21, 1 << 30]

    let configuration: ShadowConfiguration
    /// Where the arenas start, each 1 GiB aligned and with 4 GiB of room.
    private let arenas: [UInt64]

    init(configuration: ShadowConfiguration) {
        self.configuration = configuration
        let top = UInt64(1) << UInt64(configuration.addressWidth)
        var bases: [UInt64] = [0, (1 << 39) - (4 << 30)]
        if top > 1 << 39 { bases.append(1 << 39) }
        bases.append(top - (4 << 30))
        arenas = bases
    }

    func draw(_ stream: ChoiceStream, enabled: KindSet, guest: GuestIOMMU) -> ShadowOperation {
        let domain = Int(stream.draw(upTo: UInt64(configuration.domains - 1)))
        switch stream.drawWeightedIndex(enabled.mask(Self.kindWeights)) {
        case 0:
            let size = Self.sizes[stream.drawWeightedIndex([74, 22, 4])]
            let iova = address(stream, size: size, guest, domain)
            let permissions = [Permissions.readWrite, .read, .write][stream.drawWeightedIndex([60, 25, 15])]
            return .writeLeaf(domain: domain, leaf: GuestLeaf(iova: iova, size: size, gpa: gpa(stream, size: size, iova: iova, guest, domain), permissions: permissions))
        case 1:
            let size = Self.sizes[stream.drawWeightedIndex([64, 32, 4])]
            return .clear(domain: domain, iova: address(stream, size: size, guest, domain), size: size)
        case 2:
            let size = Self.sizes[stream.drawWeightedIndex([82, 18])]
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
        let start = arenas[stream.drawWeightedIndex(arenas.indices.map { $0 == 0 ? 55 : 15 })]
        let arena = start + size * stream.draw(upTo: size >= 1 << 30 ? 3 : size >= 1 << 21 ? 31 : 8191)
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
                return (leaf.gpa &+ (iova &- leaf.iova)) & ~(size - 1)
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

    /// One or two domains; a 39-, 48- or 57-bit IOVA space (3-, 4- and 5-level tables); the
    /// layer's policy and the host's, drawn unless fixed (an atomic-replace layer needs the
    /// page-table host, the only one with replace); for a VFIO host, often a small mapping
    /// limit, so a resync runs out.
    static func drawConfiguration(_ stream: ChoiceStream, policy fixed: ShadowPolicy? = nil, host fixedHost: ShadowHostPolicy? = nil) -> ShadowConfiguration {
        let domains = 1 + Int(stream.draw(upTo: 1))
        let width = [39, 48, 57][stream.drawWeightedIndex([45, 35, 20])]
        let presets = ShadowPolicy.presets
        let drawn = presets[stream.drawWeightedIndex([50, 25, 25])].policy
        let policy = fixed ?? drawn
        let hosts = ShadowHostPolicy.allCases
        let drawnHost = hosts[stream.drawWeightedIndex([40, 20, 25, 15])]
        let host = fixedHost ?? (policy.window == .none ? .pageTable : drawnHost)
        let limited = stream.drawBool(probability: 0.35)
        let limit = 1 + Int(stream.draw(upTo: 63))
        return ShadowConfiguration(domains: domains, addressWidth: width, policy: policy, host: host, mappingLimit: host.hasMappingLimit && limited ? limit : nil)
    }
}
