import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// Draws AddressSpace operations from the model's state, biased toward the places bugs live:
/// the exact extents and their first and last pages, one page past them, superpage boundaries,
/// the aperture's first and last pages, the reserved regions' edges, values near 2^64; sizes
/// from one granule to gigabytes, half the 64-bit space, and the iommufd unmap-all sentinel.
/// It remembers a few recently touched addresses so translates revisit pages an unmap just
/// removed (stale IOTLB entries live there).
struct AddressSpaceGenerator {
    static let kinds = ["map", "unmap", "unmap-all", "translate"]
    static let kindWeights = [30, 20, 2, 48]
    static let megabytes2: UInt64 = 1 << 21, gigabyte: UInt64 = 1 << 30

    let configuration: AddressSpaceConfiguration
    /// The granule.
    let page: UInt64
    /// The step most addresses and lengths are drawn in: the granule, or 4 KiB below it, so a
    /// byte-granular space still sees page-shaped mappings (and, rarely, byte-shaped ones).
    let unit: UInt64
    let aperture: ClosedRange<UInt64>
    /// Whether unmap-all may carry an iova or length (plug-in ABI version 1 cannot pass them).
    let unmapAllArguments: Bool
    private(set) var recent: [UInt64] = []
    private var nextRecent = 0

    init(configuration: AddressSpaceConfiguration, unmapAllArguments: Bool = true) {
        self.configuration = configuration
        self.unmapAllArguments = unmapAllArguments
        self.page = configuration.pageSize
        self.unit = max(configuration.pageSize, 4096)
        self.aperture = configuration.aperture
    }

    mutating func draw(_ stream: ChoiceStream, enabled: KindSet, model: AddressSpaceModel) -> AddressSpaceOperation {
        switch stream.drawWeightedIndex(enabled.mask(Self.kindWeights)) {
        case 0: return drawMap(stream, model)
        case 1: return drawUnmap(stream, model)
        case 2:
            // One unmap-all in eight carries an iova or length (VFIO_DMA_UNMAP_FLAG_ALL refuses it).
            guard stream.drawBool(probability: 0.125), unmapAllArguments, configuration.policy.unmapAll == .flag else { return .unmapAll() }
            return .unmapAll(iova: stream.drawBool() ? unit : 0, length: stream.drawBool() ? unit : 0)
        default:
            // Half the translates aim inside a mapping (when there is one), so hits are common.
            let inside = stream.drawBool() && !model.extents.isEmpty
            let base = inside ? insideExtent(stream, model.extents) : drawAddress(stream, model)
            return .translate(iova: base &+ stream.draw(upTo: unit - 1), access: stream.drawBool() ? .write : .read)
        }
    }

    /// Remembers the addresses an operation touched (at most four).
    mutating func note(_ operation: AddressSpaceOperation) {
        guard let range = operation.range else { return }
        if case .unmapAll = operation { return }
        remember(range.lowerBound)
        if range.upperBound != range.lowerBound { remember(range.upperBound & ~(page - 1)) }
    }

    private mutating func remember(_ address: UInt64) {
        if recent.contains(address) { return }
        if recent.count < 4 {
            recent.append(address)
        } else {
            recent[nextRecent] = address
            nextRecent = (nextRecent + 1) % 4
        }
    }

    // MARK: Addresses

    /// An IOVA at a place bugs live, a multiple of `unit` (rarely off it).
    ///
    /// Options that do not depend on the state come first, so the shrinker, which lowers
    /// choices, drifts toward them and earlier commands become deletable. Weights never depend
    /// on the state either: an option the state cannot serve (no extents yet) falls back to the
    /// arena, so deleting an earlier command does not change what a later command's choices mean.
    func drawAddress(_ stream: ChoiceStream, _ model: AddressSpaceModel) -> UInt64 {
        let extents = model.extents
        let address: UInt64
        switch stream.drawWeightedIndex([20, 4, 4, 3, 2, 2, 16, 6]) {
        case 1: address = stream.draw(upTo: 63) &* (stream.drawBool() ? Self.gigabyte : Self.megabytes2)
        case 2: address = nearApertureEdge(stream)
        case 3: address = nearReservedEdge(stream)
        case 4: address = 0 &- unit &* (1 + stream.draw(upTo: 15))  // the top of the 64-bit space
        case 5: address = aperture.lowerBound &+ stream.draw(upTo: aperture.upperBound - aperture.lowerBound) & ~(unit - 1)
        case 6 where !extents.isEmpty: address = nearExtent(stream, extents)
        case 7 where !recent.isEmpty: address = recent[Int(stream.drawUniform(upTo: UInt64(recent.count - 1)))]
        default: address = aperture.lowerBound &+ stream.draw(upTo: 16_383) &* unit  // a 64 MiB arena where ranges collide
        }
        if stream.drawBool(probability: 0.02) { return address &+ 1 &+ stream.draw(upTo: unit - 2) }
        return address
    }

    private func insideExtent(_ stream: ChoiceStream, _ extents: ExtentList) -> UInt64 {
        let extent = extents[Int(stream.drawUniform(upTo: UInt64(extents.count - 1)))]
        return extent.iova &+ stream.draw(upTo: (extent.length - 1) / unit) &* unit
    }

    private func nearExtent(_ stream: ChoiceStream, _ extents: ExtentList) -> UInt64 {
        let extent = extents[Int(stream.drawUniform(upTo: UInt64(extents.count - 1)))]
        let lastPage = extent.last & ~(page - 1)
        switch stream.drawUniform(upTo: 5) {
        case 0: return extent.iova
        case 1: return lastPage
        case 2: return extent.last &+ 1
        case 3: return extent.iova &- page
        case 4: return extent.iova &+ stream.draw(upTo: (extent.length - 1) / page) &* page
        default: return (extent.iova | (Self.megabytes2 - 1)) &+ 1  // the next 2 MiB boundary
        }
    }

    private func nearApertureEdge(_ stream: ChoiceStream) -> UInt64 {
        let end = aperture.upperBound &+ 1  // 0 for an aperture that ends at 2^64 - 1
        switch stream.drawUniform(upTo: 4) {
        case 0: return end &- page
        case 1: return end &- Self.megabytes2
        case 2: return end  // just outside (or 0 with a 64-bit aperture)
        case 3: return aperture.lowerBound
        default: return aperture.lowerBound &- page  // just below an aperture that does not start at 0
        }
    }

    private func nearReservedEdge(_ stream: ChoiceStream) -> UInt64 {
        let regions = configuration.reservedRegions
        guard !regions.isEmpty else { return AddressSpaceConfiguration.x86MSIWindow.lowerBound }
        let region = regions[Int(stream.drawUniform(upTo: UInt64(regions.count - 1)))].range
        let first = region.lowerBound & ~(page - 1), lastPage = region.upperBound & ~(page - 1)
        switch stream.drawUniform(upTo: 3) {
        case 0: return first
        case 1: return first &- page
        case 2: return lastPage
        default: return lastPage &+ page
        }
    }

    // MARK: Lengths

    /// A length for a range starting at `iova`: a unit, a few, a few granules, superpage
    /// multiples, an existing extent's length, up to the next extent, up to the aperture end or
    /// exactly to 2^64.
    private func drawLength(_ stream: ChoiceStream, from iova: UInt64, _ model: AddressSpaceModel) -> UInt64 {
        switch stream.drawWeightedIndex([25, 25, 10, 2, 3, 3, 1, 1, 1, 8, 5, 3]) {
        case 1: return unit &* (2 + stream.draw(upTo: 14))
        case 2: return Self.megabytes2 &* (1 + stream.draw(upTo: 3))
        case 3: return Self.gigabyte
        // Ends exactly at 2^64 - 1 or at the aperture's end, when that is within 1 TiB (a
        // 256 TiB mapping needs 2^18 leaves of 1 GiB, which measures nothing but patience).
        case 4: return Self.capped(0 &- iova)
        case 5: return Self.capped(aperture.upperBound &- iova &+ 1)
        case 6: return 0
        case 7: return unit &+ 1 &+ stream.draw(upTo: unit - 2)
        case 8: return unit &* (1 + stream.draw(upTo: (1 << 36) / unit - 1))  // up to 64 GiB
        case 9 where !model.extents.isEmpty:
            return model.extents[Int(stream.drawUniform(upTo: UInt64(model.extents.count - 1)))].length
        case 10:
            // Up to the end of the next extent at or after iova, covering it whole.
            guard let next = model.extents.first(where: { $0.last >= iova }) else { return unit }
            return Self.capped(next.last &- iova &+ 1)
        case 11: return page &* (1 + stream.draw(upTo: 15))  // a few granules: bytes where the granule is a byte
        default: return unit
        }
    }

    static let largestLength: UInt64 = 1 << 40

    /// `length`, or 1 TiB if it is longer.
    static func capped(_ length: UInt64) -> UInt64 { min(length, largestLength) }

    // MARK: Operations

    private func drawMap(_ stream: ChoiceStream, _ model: AddressSpaceModel) -> AddressSpaceOperation {
        let permissions = [Permissions.readWrite, .read, .write, []][stream.drawWeightedIndex([50, 25, 20, 3])]
        // Half-space maps only fit a 64-bit aperture; there they are common enough to pair up.
        switch stream.drawWeightedIndex(aperture == 0...UInt64.max ? [80, 10, 9, 1] : [88, 10, 1, 1]) {
        case 1 where !model.extents.isEmpty:
            // Extend an extent with contiguous phys, so neighbours can merge into a superpage.
            let extent = model.extents[Int(stream.drawUniform(upTo: UInt64(model.extents.count - 1)))]
            let iova = extent.last &+ 1
            let toBoundary = ((iova | (Self.megabytes2 - 1)) &+ 1) &- iova
            let length = stream.drawBool() ? toBoundary : unit &* (1 + stream.draw(upTo: 511))
            return .map(iova: iova, length: length, phys: extent.phys &+ extent.length, permissions: extent.permissions)
        case 2:
            // Half of the 64-bit space, identity-mapped (superpage leaves all the way), the half
            // not mapped yet: two of them cover 2^64 bytes, one more than a byte count holds.
            let iova: UInt64 = model.extents.first?.iova == 0 && model.extents.first?.length == 1 << 63 ? 1 << 63 : 0
            return .map(iova: iova, length: 1 << 63, phys: iova, permissions: permissions)
        case 3:
            // The largest arguments: iommufd's ULONG_MAX test and the wrap tests see them.
            return .map(iova: stream.drawBool() ? .max : 0, length: .max, phys: 0, permissions: permissions)
        default:
            let iova = drawAddress(stream, model)
            let length = drawLength(stream, from: iova, model)
            return .map(iova: iova, length: length, phys: drawPhys(stream, iova: iova, length: length, model), permissions: permissions)
        }
    }

    /// Physical addresses: identity, an arena page, a 2 MiB-aligned page, contiguous with an
    /// extent, near 2^64, rarely unaligned. Long mappings mostly keep phys congruent with iova
    /// modulo the superpage size, as hugepage-backed guests do, so the page table can use large
    /// leaves; one in ten does not, and costs a leaf per 4 KiB page as it would in hardware.
    private func drawPhys(_ stream: ChoiceStream, iova: UInt64, length: UInt64, _ model: AddressSpaceModel) -> UInt64 {
        if length > 64 << 20 {
            return stream.drawBool(probability: 0.9) ? iova : iova &+ Self.gigabyte &* (1 + stream.draw(upTo: 7))
        }
        if length >= Self.megabytes2 && stream.drawBool(probability: 0.9) {
            return (iova & (Self.megabytes2 - 1)) | (Self.megabytes2 &* (1 + stream.draw(upTo: 1023)))
        }
        switch stream.drawWeightedIndex([20, 30, 20, 3, 2, 10]) {
        case 1: return (1 << 32) &+ stream.draw(upTo: 16_383) &* unit
        case 2: return Self.megabytes2 &* (1 + stream.draw(upTo: 1023))
        case 3: return 0 &- unit &* (1 + stream.draw(upTo: 15))
        case 4: return unit &* stream.draw(upTo: 1 << 20) &+ 1
        case 5 where !model.extents.isEmpty:
            let extent = model.extents[Int(stream.drawUniform(upTo: UInt64(model.extents.count - 1)))]
            return extent.phys &+ extent.length
        default: return iova
        }
    }

    private func drawUnmap(_ stream: ChoiceStream, _ model: AddressSpaceModel) -> AddressSpaceOperation {
        let extents = model.extents
        // Half the time aim at existing extents: exactly one, several, or one with a page of slack.
        if stream.drawBool() && !extents.isEmpty {
            let first = Int(stream.drawUniform(upTo: UInt64(extents.count - 1)))
            let span = Int(stream.draw(upTo: UInt64(min(3, extents.count - 1 - first))))
            let start = extents[first].iova, last = extents[first + span].last
            switch stream.drawUniform(upTo: 3) {
            case 0: return .unmap(iova: start, length: last &- start &+ 1)
            case 1: return .unmap(iova: start &- page, length: last &- start &+ 1 &+ 2 &* page)
            case 2: return .unmap(iova: start &+ page, length: last &- start &+ 1 &- page)
            default: return .unmap(iova: start, length: last &- start &+ 1 &- page)
            }
        }
        // iommufd's unmap-all sentinel, as sent: (0, U64_MAX).
        if stream.drawBool(probability: 0.03) { return .unmap(iova: 0, length: .max) }
        let iova = drawAddress(stream, model)
        return .unmap(iova: iova, length: drawLength(stream, from: iova, model))
    }
}
