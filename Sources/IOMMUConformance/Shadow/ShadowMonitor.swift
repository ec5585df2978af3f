import IOMMUReference
import IOMMUSpec

/// Watches one resync through the host calls the implementation makes, and judges every
/// intermediate host state (docs/SEMANTICS.md, Shadow):
/// - locality: no call acts outside the invalidated range;
/// - no DMA window: after each call, every page whose translation is the same before and
///   after the resync still translates as before (and, under `atomicReplace`, every page
///   present before and after translates to its old or its new address);
/// - scheduled device DMA between calls reaches only what those rules allow;
/// - at the end, the host equals the guest table on the range (coherence), and UNMAP-only
///   consumers were told about all of it.
final class ShadowMonitor {
    /// A stretch of the invalidated range where the before and after translations are uniform.
    struct Piece {
        let range: ClosedRange<UInt64>
        let before: Extent?
        let after: Extent?

        var isStable: Bool {
            guard let before, let after else { return false }
            return before.phys &- before.iova == after.phys &- after.iova && before.permissions == after.permissions
        }
        var isChanged: Bool { before != nil && after != nil && !isStable }
    }

    let configuration: ShadowConfiguration
    let host: ShadowHost
    private(set) var violation: String?
    private var ranges: [Int: ClosedRange<UInt64>] = [:]
    private var pieces: [Int: [Piece]] = [:]
    private var targets: [Int: [Extent]] = [:]
    private var notified: [Int: [ClosedRange<UInt64>]] = [:]
    private var schedule: [ShadowOperation.ScheduledDMA] = []
    private var dmaBefore: [Result<UInt64, TranslationFault>] = []
    private var callIndex = 0

    init(configuration: ShadowConfiguration, host: ShadowHost) {
        self.configuration = configuration
        self.host = host
    }

    /// Snapshots the host on every invalidated range and computes what it must become.
    func begin(_ invalidation: Invalidation, guest: GuestIOMMU, dma: [ShadowOperation.ScheduledDMA]) {
        violation = nil
        callIndex = 0
        ranges = [:]; pieces = [:]; targets = [:]; notified = [:]
        for domain in 0..<configuration.domains {
            guard let range = invalidation.range(of: domain, addressWidth: configuration.addressWidth) else { continue }
            ranges[domain] = range
            let before = hostExtents(domain, range)
            let target = ShadowModel.target(guest, domain: domain, range)
            targets[domain] = target
            pieces[domain] = Self.pieces(range, before: before, after: target)
        }
        schedule = dma.sorted { $0.afterCall < $1.afterCall }
        dmaBefore = schedule.map { host.translate(domain: $0.domain, iova: $0.iova, access: .read) }
    }

    func observe(_ call: ShadowHost.Call, done: Bool) {
        guard violation == nil else { return }
        if case .notifyUnmap = call {
            if done, let range = call.range { notified[call.domain, default: []].append(range) }
            return
        }
        if !done {
            guard let range = call.range, let allowed = ranges[call.domain], allowed.contains(range.lowerBound), allowed.contains(range.upperBound) else {
                violation = "\(call) acts outside the invalidated range\(ranges[call.domain].map { " [\(hex($0.lowerBound)), \(hex($0.upperBound))]" } ?? " (this domain was not invalidated)")"
                return
            }
            return
        }
        callIndex += 1
        if let range = call.range { checkWindow(call, domain: call.domain, range) }
        runScheduledDMA(through: callIndex)
    }

    /// After the implementation returns: the remaining scheduled DMA, coherence, notifications.
    func finish() -> String? {
        runScheduledDMA(through: .max)
        if let violation { return violation }
        for (domain, range) in ranges.sorted(by: { $0.key < $1.key }) {
            let actual = hostExtents(domain, range), expected = targets[domain] ?? []
            if actual != expected {
                return "after the resync, D\(domain) on [\(hex(range.lowerBound)), \(hex(range.upperBound))] maps \(actual); the guest table asks for \(expected)"
            }
            if let gap = Self.firstUncovered(range, by: notified[domain] ?? []) {
                return "UNMAP-only consumers of D\(domain) were not told about \(hex(gap)) (the invalidated range is [\(hex(range.lowerBound)), \(hex(range.upperBound))])"
            }
        }
        return nil
    }

    // MARK: Rules

    private func checkWindow(_ call: ShadowHost.Call, domain: Int, _ range: ClosedRange<UInt64>) {
        for piece in pieces[domain] ?? [] where piece.range.overlaps(range) {
            let span = max(piece.range.lowerBound, range.lowerBound)...min(piece.range.upperBound, range.upperBound)
            let now = hostExtents(domain, span)
            if piece.isStable, let before = piece.before {
                let expected = ShadowModel.clipped([before], to: span)
                if now != expected {
                    violation = "after \(call): [\(hex(span.lowerBound)), \(hex(span.upperBound))] of D\(domain) keeps its translation across the resync but now maps \(now) (a DMA window)"
                    return
                }
            } else if piece.isChanged && configuration.policy == .atomicReplace, let before = piece.before, let after = piece.after {
                if !Self.covers(span, now, allowed: [before, after]) {
                    violation = "after \(call): [\(hex(span.lowerBound)), \(hex(span.upperBound))] of D\(domain) changes translation and must always map its old or new address (atomic-replace), but maps \(now)"
                    return
                }
            }
        }
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

    /// What a DMA may see mid-resync: outside the range, what it saw before; inside, by piece.
    private func allowedDMA(_ domain: Int, _ iova: UInt64, before: Result<UInt64, TranslationFault>) -> [Result<UInt64, TranslationFault>] {
        guard let piece = pieces[domain]?.first(where: { $0.range.contains(iova) }) else { return [before] }
        let old = Self.translate(piece.before, iova), new = Self.translate(piece.after, iova)
        if piece.isStable { return [old] }
        if piece.isChanged { return configuration.policy == .atomicReplace ? [old, new] : [old, new, .failure(.notMapped)] }
        return [old, new]
    }

    // MARK: Helpers

    private func hostExtents(_ domain: Int, _ range: ClosedRange<UInt64>) -> [Extent] {
        ShadowModel.normalized(ShadowModel.clipped(host.domains[domain].mappings(in: range), to: range))
    }

    static func translate(_ extent: Extent?, _ iova: UInt64) -> Result<UInt64, TranslationFault> {
        guard let extent, extent.contains(iova) else { return .failure(.notMapped) }
        guard extent.permissions.allows(.read) else { return .failure(.permissionDenied) }
        return .success(extent.phys + (iova - extent.iova))
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

    /// Splits `range` at every boundary of `before` and `after` (both sorted and disjoint).
    static func pieces(_ range: ClosedRange<UInt64>, before: [Extent], after: [Extent]) -> [Piece] {
        var points = [range.lowerBound]
        for extent in before + after {
            if extent.iova > range.lowerBound { points.append(extent.iova) }
            if extent.last < range.upperBound { points.append(extent.last + 1) }
        }
        points = Array(Set(points)).sorted()
        return points.enumerated().map { index, start in
            let end = index + 1 < points.count ? points[index + 1] - 1 : range.upperBound
            return Piece(range: start...end, before: before.first { $0.contains(start) }, after: after.first { $0.contains(start) })
        }
    }

    /// Whether `extents` map all of `span`, each with the translation of one of `allowed`.
    static func covers(_ span: ClosedRange<UInt64>, _ extents: [Extent], allowed: [Extent]) -> Bool {
        var next = span.lowerBound
        for extent in extents {
            guard extent.iova == next else { return false }
            let offset = extent.phys &- extent.iova
            guard allowed.contains(where: { $0.phys &- $0.iova == offset && $0.permissions == extent.permissions }) else { return false }
            if extent.last >= span.upperBound { return true }
            next = extent.last + 1
        }
        return false
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
