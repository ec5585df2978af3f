import Benchmark
import IOMMUConformance
import IOMMUOptimized
import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// Isolation, Shadow, Interrupts and Protected DMA: differential throughput (checked operations per second,
/// one core), and what each optimized implementation saves against the plain way.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(2), maxIterations: 1_000_000)
    let perSecond = BenchmarkMetric.custom("operations per second", polarity: .prefersLarger, useScalingFactor: false)

    for surface in [Surface.isolation, .shadow, .interrupts, .protectedDMA] {
        Benchmark("differential: \(surface), checked operations per second", configuration: .init(metrics: [.wallClock, perSecond], maxIterations: 3)) { benchmark in
            let check = try! SurfaceCheck.make(surface, implementation: .optimized)
            var configuration = CheckConfiguration(name: surface.rawValue, seed: 1, cases: 5_000)
            configuration.health.enabled = false
            for _ in benchmark.scaledIterations {
                let report = check.run(configuration)
                benchmark.measurement(perSecond, Int(Double(report.statistics.totalCommands) / report.seconds))
            }
        }
    }

    // Isolation: a DMA's lookup, the model's scans against the optimized entries and tables,
    // with 64 devices in 16 groups and 16 PASIDs attached per device (1,024 attachments).
    let topology = Topology(groups: (0..<16).map { g in (0..<4).map { g * 4 + $0 } }, pasidCapable: Array(repeating: true, count: 64), contexts: 4,
                            domainOwners: (0..<8).map { $0 / 2 }, initialDrivers: Array(repeating: .userAccess, count: 64))
    func prepared(_ system: some IsolationSystem) -> some IsolationSystem {
        for group in 0..<16 {
            _ = system.claim(context: group % 4, group: group)
            _ = system.attach(context: group % 4, group: group, domain: (group % 4) * 2)
        }
        for device in 0..<64 {
            let context = (device / 4) % 4
            for pasid in 1...16 as ClosedRange<UInt32> { _ = system.attachPASID(context: context, device: device, pasid: pasid, domain: context * 2 + 1) }
        }
        return system
    }
    for (name, make) in [("model", { prepared(IsolationModel(topology: topology)) as any IsolationSystem }), ("optimized", { prepared(IsolationOptimized(topology: topology)) as any IsolationSystem })] {
        Benchmark("isolation DMA lookup: \(name), 64 devices, 1024 PASID attachments", configuration: .init(scalingFactor: .kilo), closure: { benchmark, system in
            var rng = Xoshiro256StarStar(seed: 3)
            for _ in benchmark.scaledIterations {
                let device = Int(rng.next(upTo: 63)), pasid = UInt32(rng.next(upTo: 16))
                blackHole(system.dma(device: device, pasid: pasid == 0 ? nil : pasid, iova: 0x10000, access: .read))
            }
        }, setup: make)
    }

    // Shadow: host operations for one domain-wide resync after 1% of the pages changed.
    for pages in [1_000, 100_000] {
        let calls = [BenchmarkMetric.custom("changed extents (minimum)"), .custom("host calls: optimized, window policy"),
                     .custom("host calls: optimized, atomic policy"), .custom("host calls: unmap-all-then-replay")]
        Benchmark("shadow resync: \(pages) pages, 1% changed", configuration: .init(metrics: calls, maxIterations: 1)) { benchmark in
            func hostCalls(_ policy: ShadowPolicy, _ make: (GuestIOMMU, ShadowHost) -> any ShadowSystem) -> (changed: Int, calls: Int) {
                let configuration = ShadowConfiguration(domains: 1, addressWidth: 39, policy: policy)
                let guest = GuestIOMMU(configuration: configuration)
                let host = ShadowHost(configuration: configuration) { AddressSpaceOptimized(configuration: $0) }
                let layer = make(guest, host)
                // Scattered guest pages: page i at IOVA i * 4 KiB, guest-physical i * 8 KiB.
                for i in 0..<UInt64(pages) { guest.write(domain: 0, GuestLeaf(iova: i << 12, size: 4096, gpa: i << 13, permissions: .readWrite)) }
                _ = layer.invalidate(.domain(0))
                var rng = Xoshiro256StarStar(seed: 7)
                var changed = Set<UInt64>()
                while changed.count < pages / 100 { changed.insert(rng.next(upTo: UInt64(pages - 1))) }
                for i in changed { guest.write(domain: 0, GuestLeaf(iova: i << 12, size: 4096, gpa: (i << 13) + 4096, permissions: .readWrite)) }
                let before = host.calls
                _ = layer.invalidate(.domain(0))
                return (changed.count, host.calls - before - 1)  // minus the one UNMAP-only notification
            }
            let window = hostCalls(.windowForChangedPages) { ShadowOptimized(guest: $0, host: $1) }
            let atomic = hostCalls(.atomicReplace) { ShadowOptimized(guest: $0, host: $1) }
            let replay = hostCalls(.windowForChangedPages) { guest, host in
                // What the pre-2018 flow costs: one unmap of everything, one map per extent.
                ReplayEverything(guest: guest, host: host)
            }
            benchmark.measurement(calls[0], window.changed)
            benchmark.measurement(calls[1], window.calls)
            benchmark.measurement(calls[2], atomic.calls)
            benchmark.measurement(calls[3], replay.calls)
        }
    }

    // Interrupts: host SET_IRQS-style calls per guest write: the optimized layer on a dynamic
    // host and on a no-resize host, against QEMU's flow (a SET_IRQS on every vector mask and
    // unmask, disable-and-re-enable to grow).
    let perWrite = [BenchmarkMetric.custom("host calls per 1000 guest writes: optimized, dynamic"), .custom("host calls per 1000 guest writes: optimized, no-resize"),
                    .custom("host calls per 1000 guest writes: QEMU flow, no-resize")]
    Benchmark("interrupts host calls per guest write", configuration: .init(metrics: perWrite, maxIterations: 1)) { benchmark in
        let dynamic = try! InterruptCheck(configuration: InterruptConfiguration(vectors: 8, dynamicAllocation: true), implementation: .optimized)
        let noResize = try! InterruptCheck(configuration: InterruptConfiguration(vectors: 8, dynamicAllocation: false), implementation: .optimized)
        let qemu = InterruptCheck(configuration: InterruptConfiguration(vectors: 8, dynamicAllocation: false)) { QEMUStyleCalls(configuration: $0, host: $1) }
        benchmark.measurement(perWrite[0], Int(dynamic.hostCallsPerGuestWrite(cases: 2_000) * 1000))
        benchmark.measurement(perWrite[1], Int(noResize.hostCallsPerGuestWrite(cases: 2_000) * 1000))
        benchmark.measurement(perWrite[2], Int(qemu.hostCallsPerGuestWrite(cases: 2_000) * 1000))
    }
}

/// Counts the host calls of QEMU's MSI-X flow (hw/vfio/pci.c): the optimized layer's
/// behaviour, plus a SET_IRQS on every vector mask and unmask to switch the vector's eventfd.
final class QEMUStyleCalls: InterruptSystem {
    let inner: InterruptOptimized
    let host: InterruptHost

    init(configuration: InterruptConfiguration, host: InterruptHost) {
        inner = InterruptOptimized(configuration: configuration, host: host)
        self.host = host
    }

    func setEnabled(_ enabled: Bool) { inner.setEnabled(enabled) }
    func setFunctionMask(_ masked: Bool) { inner.setFunctionMask(masked) }
    func writeEntry(vector: Int, address: UInt64, data: UInt32) { inner.writeEntry(vector: vector, address: address, data: data) }
    func setVectorMask(vector: Int, masked: Bool) {
        inner.setVectorMask(vector: vector, masked: masked)
        if vector < host.allocated { host.setTrigger(vector: vector) }
    }
    func setPASID(vector: Int, pasid: UInt32?) { inner.setPASID(vector: vector, pasid: pasid) }
    func pendingBits() -> UInt64 { inner.pendingBits() }
    func hostTriggered(vector: Int) { inner.hostTriggered(vector: vector) }
}

/// Unmap the whole range, then map every guest leaf: the resync seed 004 replaced.
final class ReplayEverything: ShadowSystem {
    let guest: GuestIOMMU
    let host: ShadowHost

    init(guest: GuestIOMMU, host: ShadowHost) {
        self.guest = guest
        self.host = host
    }

    func invalidate(_ invalidation: Invalidation) -> ShadowResult {
        guard let range = invalidation.range(of: 0, addressWidth: guest.configuration.addressWidth) else { return .done }
        host.unmap(domain: 0, iova: range.lowerBound, length: range.upperBound - range.lowerBound + 1)
        for extent in ShadowModel.target(guest, domain: 0, range) {
            host.map(domain: 0, iova: extent.iova, length: extent.length, phys: extent.phys, permissions: extent.permissions)
        }
        host.notifyUnmap(domain: 0, iova: range.lowerBound, length: range.upperBound - range.lowerBound + 1)
        return .done
    }
}
