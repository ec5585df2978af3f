import IOMMUReference
import IOMMUSpec

/// Watches one resync through the host calls the implementation makes, and judges every
/// intermediate host state (docs/SEMANTICS.md, "Shadow"). For each invalidated domain it
/// computes the range the resync may touch (the invalidated range R, widened where the policy
/// or the host requires), splits it into pieces that are uniform before and after, and knows
/// for each piece what the host may map at every step and at the end:
/// - locality: nothing changes outside the widened range;
/// - no DMA window: a piece maps its old translation, or its new one, at every step; it may be
///   absent only where the policy or the host allows (a changed page, a reshaped leaf, a host
///   mapping that cannot be split);
/// - scheduled device DMA between calls reaches only what those rules allow;
/// - at the end, the host maps on R exactly what the guest table asks for (or, if the layer
///   reported insufficient resources, nothing else than that or what it mapped before), around
///   R the old or the guest's current translation, and UNMAP-only consumers were told about R.
final class ShadowMonitor {
    /// A stretch of the touched range over which everything is uniform.
    struct Piece {
        let range: ClosedRange<UInt64>
        /// Inside the invalidated range.
        let invalidated: Bool
        /// The host mapping holding it before the resync, whole.
        let before: Extent?
        /// Inside R: what the guest table asks for; around R: the guest's current translation
        /// (the host may show it early, as a cache may be evicted at any time).
        let after: Extent?
        /// May be absent for a moment.
        var blink: Bool

        /// What the host may map here at the end: the guest's translation; beside R, or when
        /// the layer reported insufficient resources, also the old one; after such a report,
        /// also nothing.
        func finals(reported: Bool) -> Allowed {
            let old = !invalidated || reported
            return Allowed(after, old ? before : nil, gaps: after == nil || (old && before == nil) || reported)
        }

        /// What the host may map here between two calls of the resync.
        var midway: Allowed { Allowed(before, after, gaps: blink || before == nil || after == nil) }
    }

    /// What a piece may map: at most two translations, and whether pages may be unmapped.
    struct Allowed {
        let first: Extent?, second: Extent?
        let gaps: Bool

        init(_ first: Extent?, _ second: Extent?, gaps: Bool) {
            (self.first, self.second) = (first, second)
            self.gaps = gaps
        }

        func permits(_ extent: Extent) -> Bool {
            (first.map { sameTranslation($0, extent) } ?? false) || (second.map { sameTranslation($0, extent) } ?? false)
        }
    }

    let configuration: ShadowConfiguration
    let host: ShadowHost
    private(set) var violation: String?
    private var ranges: [Int: ClosedRange<UInt64>] = [:]
    private var touched: [Int: ClosedRange<UInt64>] = [:]
    private var pieces: [Int: [Piece]] = [:]
    private var notified: [Int: [ClosedRange<UInt64>]] = [:]
    private var schedule: [ShadowOperation.ScheduledDMA] = []
    private var dmaBefore: [Result<UInt64, TranslationFault>] = []
    private var callIndex = 0
    /// A map failed with mapping-limit during this resync.
    private var ranOut = false
    /// What a call reaching beyond the touched range found there before it ran.
    private var outside: [Extent]?

    init(configuration: ShadowConfiguration, host: ShadowHost) {
        self.configuration = configuration
        self.host = host
    }

    /// Snapshots the host around every invalidated range and computes what it may become.
    func begin(_ invalidation: Invalidation, guest: GuestIOMMU, dma: [ShadowOperation.ScheduledDMA]) {
        violation = nil
        callIndex = 0
        ranOut = false
        ranges = [:]; touched = [:]; pieces = [:]; notified = [:]
        for domain in 0..<configuration.domains {
            guard let range = invalidation.range(of: domain, addressWidth: configuration.addressWidth) else { continue }
            ranges[domain] = range
            let span = touchedRange(domain, range, guest)
            touched[domain] = span
            // Where leaf and mapping boundaries do not matter, merged extents make fewer pieces:
            // leaves matter only to the reshaped window, mappings only to a host that cannot split.
            let reshaped = configuration.policy.window == .reshaped
            let before = host.domains[domain].mappings(in: span)
            let leaves = ShadowModel.targetLeaves(guest, domain: domain, span, clip: false)
            let target = ShadowModel.clipped(leaves, to: range)
            // A host that cannot split a mapping must remove whole each one that holds a page
            // that changes: all its pages may blink.
            var mustGo: [Extent] = []
            if !configuration.host.canSplit {
                let changed = ShadowResync.changedRuns(range, before, target)
                mustGo = before.filter { mapping in changed.contains { mapping.overlaps($0.lowerBound, $0.upperBound) } }
            }
            pieces[domain] = Self.pieces(span, invalidated: range, before: reshaped ? before : ShadowModel.normalized(before),
                                         target: reshaped ? target : ShadowModel.normalized(target), leaves: reshaped ? leaves : ShadowModel.normalized(leaves),
                                         mustGo: mustGo, configuration)
        }
        schedule = dma.sorted { $0.afterCall < $1.afterCall }
        dmaBefore = schedule.map { host.translate(domain: $0.domain, iova: $0.iova, access: .read) }
    }

    /// R, widened to the host mappings it touches where the host cannot split one, and to the
    /// guest leaves it touches under the leaves locality.
    private func touchedRange(_ domain: Int, _ range: ClosedRange<UInt64>, _ guest: GuestIOMMU) -> ClosedRange<UInt64> {
        var span = range
        func widen(_ extents: [Extent]) {
            for extent in extents { span = min(span.lowerBound, extent.iova)...max(span.upperBound, extent.last) }
        }
        if configuration.policy.locality == .leaves {
            widen(guest.leaves(domain: domain, first: range.lowerBound, last: range.upperBound).map { Extent(iova: $0.iova, length: $0.size, phys: 0, permissions: $0.permissions) })
            widen(host.domains[domain].mappings(in: range))
        }
        if !configuration.host.canSplit {
            // A mapping it must remove is removed whole, and so are those its neighbours overlap.
            while true {
                let before = span
                widen(host.domains[domain].mappings(in: span))
                if span == before { break }
            }
        }
        return span
    }

    func observe(_ call: ShadowHost.Call, done: Bool, error: AddressSpaceError?) {
        guard violation == nil else { return }
        if case .notifyUnmap = call {
            if done, let range = call.range { notified[call.domain, default: []].append(range) }
            return
        }
        guard let range = call.range, let span = touched[call.domain] else {
            if !done { violation = "\(call) acts on D\(call.domain), which this invalidation does not cover" }
            return
        }
        if !done {
            // A call may reach past the touched range only if it changes nothing there.
            outside = span.contains(range.lowerBound) && span.contains(range.upperBound) ? nil : outsideExtents(call.domain, range, span)
            return
        }
        if case .map = call, error == .mappingLimit { ranOut = true }
        if let before = outside, outsideExtents(call.domain, range, span) != before {
            violation = "\(call) changes D\(call.domain) outside [\(hex(span.lowerBound)), \(hex(span.upperBound))], the range this invalidation may touch (it invalidates [\(hex(ranges[call.domain]!.lowerBound)), \(hex(ranges[call.domain]!.upperBound))])"
            return
        }
        outside = nil
        callIndex += 1
        checkWindow(call, domain: call.domain, range)
        runScheduledDMA(through: callIndex)
    }

    /// After the implementation returns: the remaining scheduled DMA, the final state, the
    /// report, the notifications.
    func finish(_ result: ShadowResult) -> String? {
        runScheduledDMA(through: .max)
        if let violation { return violation }
        let reported = result == .insufficientResources
        if reported && !ranOut {
            return "the layer reported insufficient resources, but no host map ran out of mappings"
        }
        for (domain, range) in ranges.sorted(by: { $0.key < $1.key }) {
            let all = pieces[domain] ?? []
            if let piece = firstNonconforming(domain, all[...], { $0.finals(reported: reported) }) {
                let now = hostExtents(domain, piece.range)
                let expected = ShadowModel.clipped(piece.after.map { [$0] } ?? [], to: piece.range)
                let hint = ranOut && !reported ? " (a host map failed with mapping-limit: the layer must report insufficient resources)" : ""
                if piece.invalidated {
                    return "after the resync, D\(domain) on [\(hex(piece.range.lowerBound)), \(hex(piece.range.upperBound))] maps \(now); the guest table asks for \(expected)\(hint)"
                }
                return "after the resync, D\(domain) on [\(hex(piece.range.lowerBound)), \(hex(piece.range.upperBound))] (beside the invalidated range) maps \(now); allowed: what it mapped before, \(piece.before.map { "\($0)" } ?? "nothing"), or the guest's current translation, \(expected)\(hint)"
            }
            if let gap = Self.firstUncovered(range, by: notified[domain] ?? []) {
                return "UNMAP-only consumers of D\(domain) were not told about \(hex(gap)) (the invalidated range is [\(hex(range.lowerBound)), \(hex(range.upperBound))])"
            }
        }
        return nil
    }

    // MARK: Rules

    private func checkWindow(_ call: ShadowHost.Call, domain: Int, _ range: ClosedRange<UInt64>) {
        guard let all = pieces[domain] else { return }
        // Pieces are sorted and disjoint: binary search for those the call reaches.
        var low = 0, high = all.count
        while low < high {
            let middle = (low + high) / 2
            if all[middle].range.upperBound < range.lowerBound { low = middle + 1 } else { high = middle }
        }
        var end = low
        while end < all.count && all[end].range.lowerBound <= range.upperBound { end += 1 }
        guard let piece = firstNonconforming(domain, all[low..<end], \.midway) else { return }
        let now = hostExtents(domain, piece.range)
        let why = piece.before.map { b in piece.after.map { Self.sameTranslation(b, $0) } ?? false } ?? false ? "keeps its translation across the resync" : "must map its old or its new translation"
        violation = "after \(call): [\(hex(piece.range.lowerBound)), \(hex(piece.range.upperBound))] of D\(domain) \(why) but maps \(now) (a DMA window)"
    }

    /// The first of `pieces` (sorted) whose host mappings do not conform to `allowed`: one
    /// read of the host for all of them, swept in address order.
    private func firstNonconforming(_ domain: Int, _ pieces: ArraySlice<Piece>, _ allowed: (Piece) -> Allowed) -> Piece? {
        guard let first = pieces.first, let last = pieces.last else { return nil }
        let mappings = host.domains[domain].mappings(in: first.range.lowerBound...last.range.upperBound)
        var index = 0
        for piece in pieces {
            while index < mappings.count && mappings[index].last < piece.range.lowerBound { index += 1 }
            var end = index
            while end < mappings.count && mappings[end].iova <= piece.range.upperBound { end += 1 }
            if !Self.conforms(piece.range, mappings[index..<end], allowed(piece)) { return piece }
        }
        return nil
    }

    private func runScheduledDMA(through call: Int) {
        while let next = schedule.first, next.afterCall <= call {
            schedule.removeFirst()
            let before = dmaBefore.removeFirst()
            guard violation == nil else { continue }
            let now = host.translate(domain: next.domain, iova: next.iova, access: .read)
            let allowed = allowedDMA(next.domain, next.iova, before: before)
            if !allowed.contains(where: { Self.same($0, now) }) {
                let listed = allowed.map(Self.text).joined(separator: " or ")
                violation = "a device DMA in D\(next.domain) at \(hex(next.iova)) after host call \(call == .max ? callIndex : call) got \(Self.text(now)); allowed: \(listed)"
            }
        }
    }

    /// What a DMA may see mid-resync: outside the touched range, what it saw before; inside, by piece.
    private func allowedDMA(_ domain: Int, _ iova: UInt64, before: Result<UInt64, TranslationFault>) -> [Result<UInt64, TranslationFault>] {
        guard let all = pieces[domain], let first = all.first, let last = all.last, first.range.lowerBound <= iova, iova <= last.range.upperBound else { return [before] }
        var low = 0, high = all.count - 1
        while low < high {
            let middle = (low + high) / 2
            if all[middle].range.upperBound < iova { low = middle + 1 } else { high = middle }
        }
        let piece = all[low]
        var allowed = [Self.translate(piece.before, iova), Self.translate(piece.after, iova)]
        if piece.blink { allowed.append(.failure(.notMapped)) }
        return allowed
    }

    // MARK: Pieces

    /// Splits `span` at every boundary of R, the host mappings before and the guest's leaves,
    /// and classifies each piece.
    static func pieces(_ span: ClosedRange<UInt64>, invalidated range: ClosedRange<UInt64>, before: [Extent], target: [Extent], leaves: [Extent],
                       mustGo: [Extent], _ configuration: ShadowConfiguration) -> [Piece] {
        var points: [UInt64] = [span.lowerBound, range.lowerBound]
        if range.upperBound < span.upperBound { points.append(range.upperBound + 1) }
        let starts = ShadowResync.edges([before, target, leaves, mustGo], in: span, with: points)
        let window = configuration.policy.window
        var olds = ShadowResync.Cursor(before), news = ShadowResync.Cursor(target), guestLeaves = ShadowResync.Cursor(leaves)
        var result: [Piece] = starts.enumerated().map { index, start in
            let end = index + 1 < starts.count ? starts[index + 1] - 1 : span.upperBound
            let invalidated = range.contains(start)
            let old = olds.at(start)
            let leaf = guestLeaves.at(start)
            let wanted = news.at(start)
            let new = invalidated ? wanted : leaf
            var blink = false
            if let old, let new, !sameTranslation(old, new), window != .none { blink = true }
            // QEMU: a host mapping that is not its leaf as the leaf now is goes through UNMAP then MAP.
            if window == .reshaped, let old, old != leaf { blink = true }
            return Piece(range: start...end, invalidated: invalidated, before: old, after: new, blink: blink)
        }
        // Pieces and mappings are both in address order: one sweep finds each mapping's pieces.
        var first = 0
        for mapping in mustGo {
            while first < result.count && result[first].range.upperBound < mapping.iova { first += 1 }
            var end = first
            while end < result.count && result[end].range.lowerBound <= mapping.last { end += 1 }
            for index in first..<end { result[index].blink = true }
        }
        return result
    }

    // MARK: Helpers

    private func hostExtents(_ domain: Int, _ range: ClosedRange<UInt64>) -> [Extent] {
        ShadowModel.normalized(ShadowModel.clipped(host.domains[domain].mappings(in: range), to: range))
    }

    private func outsideExtents(_ domain: Int, _ range: ClosedRange<UInt64>, _ span: ClosedRange<UInt64>) -> [Extent] {
        var result: [Extent] = []
        if range.lowerBound < span.lowerBound { result += hostExtents(domain, range.lowerBound...(min(range.upperBound, span.lowerBound - 1))) }
        if range.upperBound > span.upperBound { result += hostExtents(domain, max(range.lowerBound, span.upperBound + 1)...range.upperBound) }
        return result
    }

    /// Whether `extents` (sorted, disjoint, overlapping `span`) map every page of `span` with
    /// a translation `allowed` permits, or leave it unmapped where it allows gaps.
    static func conforms(_ span: ClosedRange<UInt64>, _ extents: ArraySlice<Extent>, _ allowed: Allowed) -> Bool {
        var next = span.lowerBound
        for extent in extents {
            let first = max(extent.iova, span.lowerBound)
            if first != next && !allowed.gaps { return false }
            guard allowed.permits(extent) else { return false }
            if extent.last >= span.upperBound { return true }
            next = extent.last + 1
        }
        return allowed.gaps
    }

    /// Same IOVA-to-phys offset and permissions.
    static func sameTranslation(_ a: Extent, _ b: Extent) -> Bool { a.phys &- a.iova == b.phys &- b.iova && a.permissions == b.permissions }

    static func translate(_ extent: Extent?, _ iova: UInt64) -> Result<UInt64, TranslationFault> {
        guard let extent, extent.contains(iova) else { return .failure(.notMapped) }
        guard extent.permissions.allows(.read) else { return .failure(.permissionDenied) }
        return .success(extent.phys &+ (iova - extent.iova))
    }

    static func same(_ a: Result<UInt64, TranslationFault>, _ b: Result<UInt64, TranslationFault>) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)): x == y
        case (.failure(let x), .failure(let y)): x == y
        default: false
        }
    }

    static func text(_ result: Result<UInt64, TranslationFault>) -> String {
        switch result {
        case .success(let phys): hex(phys)
        case .failure(let fault): "fault \(fault)"
        }
    }

    /// The first address of `range` no range in `cover` contains, if any.
    static func firstUncovered(_ range: ClosedRange<UInt64>, by cover: [ClosedRange<UInt64>]) -> UInt64? {
        var next = range.lowerBound
        for piece in cover.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if piece.lowerBound > next { return next }
            if piece.upperBound >= range.upperBound { return nil }
            next = max(next, piece.upperBound + 1)
        }
        return next
    }
}
