import IOMMUMutants
import IOMMUSpec
import PropertyCheck

/// The detection-power benchmark (`iommu-check mutants`, docs/DETECTION.md): for every planted
/// bug, how many cases and seconds the generator needs to find it, over several seeds, against
/// a uniform baseline generator; and how short the shrunk trace is against the shortest trace
/// known to expose the bug.
public enum DetectionBenchmark {
    public struct Options: Sendable {
        public var seeds: [UInt64] = [1, 2, 3, 4, 5]
        /// Cases per seed before a bug counts as not found.
        public var budget: Int = 10_000
        /// Also run the baseline and the two ablations (no swarm, no edge bias).
        public var comparisons = true
        public var names: [String]? = nil

        public init() {}
    }

    /// One generator's attempts at one bug, one per seed.
    public struct Attempts: Sendable, Codable {
        /// Seeds that found it.
        public var found: Int
        public var seeds: Int
        /// Medians over the seeds that found it (nil: none did).
        public var cases: Int?
        public var seconds: Double?
        public var shrunkLength: Int?
        /// Per seed: cases to find, nil where the budget ran out.
        public var casesPerSeed: [Int?]
    }

    public struct Row: Sendable, Codable {
        public var name: String
        public var surface: String
        public var summary: String
        /// Found by the generator in every seed.
        public var detected: Bool
        public var cases: Int?
        public var seconds: Double?
        public var shrunkLength: Int?
        public var shortestKnownLength: Int?
        public var generator: Attempts
        /// The generator with swarm testing off, and with edge bias off: what each buys.
        public var noSwarm: Attempts?
        public var noEdgeBias: Attempts?
        /// Uniform random operations, blind to the state, no swarm, no edge bias.
        public var baseline: Attempts?
    }

    public static func run(_ options: Options, progress: (String) -> Void = { _ in }) throws(ImplementationUnavailable) -> [Row] {
        var rows: [Row] = []
        for mutant in Mutants.all where options.names?.contains(mutant.name) ?? true {
            progress(mutant.name)
            let generator = try attempts(mutant, options, StatefulOptions())
            let all = options.comparisons
            rows.append(Row(name: mutant.name, surface: mutant.surface.rawValue, summary: mutant.summary,
                            detected: generator.found == generator.seeds, cases: generator.cases, seconds: generator.seconds,
                            shrunkLength: generator.shrunkLength, shortestKnownLength: shortestKnownTrace[mutant.name],
                            generator: generator,
                            noSwarm: all ? try attempts(mutant, options, StatefulOptions(swarm: false)) : nil,
                            noEdgeBias: all ? try attempts(mutant, options, StatefulOptions(), edgeBias: false) : nil,
                            baseline: all ? try attempts(mutant, options, StatefulOptions(baseline: true)) : nil))
        }
        return rows
    }

    private static func attempts(_ mutant: Mutant, _ options: Options, _ stateful: StatefulOptions, edgeBias: Bool = true) throws(ImplementationUnavailable) -> Attempts {
        let check = try SurfaceCheck.make(mutant.surface, implementation: .mutant(mutant), stateful: stateful)
        var cases: [Int?] = [], seconds: [Double] = [], lengths: [Int] = []
        for seed in options.seeds {
            var configuration = CheckConfiguration(name: "\(mutant.surface)/\(mutant.name)", seed: seed, cases: options.budget)
            // Its own options say what to replay; IOMMU_CHECK_REPLAY is for test runs.
            configuration.readsEnvironmentReplay = false
            configuration.health.enabled = false
            configuration.edgeBias = edgeBias
            let report = check.run(configuration)
            guard let failure = report.failure, case .generated(let index) = failure.origin else {
                cases.append(nil)
                continue
            }
            cases.append(index + 1)
            // Time to find: the run without its shrinking.
            seconds.append(max(0, report.seconds - failure.shrink.seconds))
            lengths.append(failure.trace.count)
        }
        let found = cases.compactMap { $0 }
        return Attempts(found: found.count, seeds: options.seeds.count, cases: median(found), seconds: median(seconds),
                        shrunkLength: median(lengths), casesPerSeed: cases)
    }

    private static func median<T: Comparable>(_ values: [T]) -> T? {
        values.isEmpty ? nil : values.sorted()[values.count / 2]
    }

    /// The shortest trace known to expose each bug, in operations, worked out by hand from the
    /// bug (the reasoning is in docs/DETECTION.md). A shrunk trace longer than this is a lead for
    /// the shrinker.
    public static let shortestKnownTrace: [String: Int] = [
        // Address space (operations, the disagreeing one included).
        "unmap-only-exact-start": 2,       // map at P+1 page; unmap from P covering it
        "straddlers-kept": 2,              // map; unmap covering part of it (remove-overlapping or split)
        "overlap-accepted": 2,             // map; map starting below it and covering its start
        "off-by-one-last-page": 2,         // map; map starting at its last page
        "wrap-around-accepted": 1,         // one map whose range wraps past 2^64
        "stale-iotlb": 2,                  // map; unmap (the probe after it translates the stale entry)
        "superpage-not-split": 2,          // map 2 MiB aligned; unmap 4 KiB of it (split policy)
        "last-aperture-page-unmappable": 1, // map the aperture's last page
        "empty-unmap-fails": 1,            // unmap on an empty space
        "mapping-limit-ignored": 2,        // limit 1: map; map
        "failed-map-not-rolled-back": 1,   // one map that fails half-way
        "iommufd-unmap-all-or-nothing": 3, // map A; map B above it; unmap covering A and part of B
        "unaligned-unmap-refused": 1,      // an unaligned unmap where the interface has no alignment rule
        "write-only-readable": 1,          // map write-only (the read probe after it reaches it)
        "msi-doorbell-faults": 1,          // translate inside an MSI reserved region (virtio-iommu)
        "unmap-all-arguments-ignored": 1,  // unmap-all with an iova (VFIO)
        "unmap-all-sentinel-refused": 1,   // unmap(0, U64_MAX) on iommufd
        "unmapped-bytes-saturate": 3,      // map both halves of the 64-bit space; unmap-all
        "v1-offset-unmap-removes": 2,      // map; unmap starting inside it (type1 v1)
        "compat-failure-bytes-lost": 3,    // map A; map B; unmap covering A and part of B (compat)
        // Isolation.
        "claim-checks-first-device": 1,    // claim of a group whose second device has a kernel driver
        "attach-moves-one-device": 2,      // claim a two-device group; attach
        "release-leaves-domain-attached": 2, // claim; release (the probe reaches the domain)
        "pasid-falls-through": 2,          // claim; attach-pasid (untagged DMA probe reaches it)
        "handover-window": 1,              // claim (the checkpoint sees the window)
        "kernel-bind-on-owned-group": 2,   // claim; bind a kernel driver
        "non-owner-can-detach": 2,         // claim by c0; detach by c1
        "release-keeps-later-pasids": 3,   // claim-device; attach-pasid; release-device (a checkpoint inside it)
        "pasid-attached-on-one-device": 2, // claim-device d0 of a two-device group; attach-pasid (d1's tagged probe)
        "pasid-second-domain-accepted": 4, // claim-device d0 and d1; attach-pasid d0 to D0; attach-pasid d1 to D1
        "second-claim-by-same-container-accepted": 2, // claim; claim again by the same container
        "last-release-keeps-blocking": 2,  // claim-device; release-device
        "first-release-drops-ownership": 3, // claim-device d0 and d1; release-device d0
        "bypass-after-detach": 2,          // claim; detach (vfio-container)
        "driver-managed-breaks-viability": 1, // claim of a group with a driver-managed bridge
        "pasid-table-aliases": 2,          // claim-device; attach-pasid 1 (the probe of pasid 9 reaches it)
        "attach-second-device-replaces": 4, // claim-device d0 and d1; attach-device d0 to D0; d1 to D1
        // Shadow.
        "unmap-all-then-replay": 3,        // write leaf; invalidate; invalidate again with DMA between host calls
        "psi-stops-at-page-directory": 1,  // one PSI crossing a 512-page boundary
        "maps-only-new-pages": 4,          // write; invalidate; rewrite the leaf; invalidate
        "sync-touches-outside-range": 2,   // write leaf; PSI elsewhere
        "superpage-shadowed-as-4k": 2,     // write a 2 MiB leaf; invalidate
        "dsi-no-unmap-notify": 1,          // one DSI (the UNMAP-only consumer hears nothing)
        "tree-drops-range-tail": 5,        // write a 2 MiB leaf; PSI over it; PSI of its first page; clear it; PSI of its second page
        "unmap-inside-host-mapping": 4,    // write a 2 MiB leaf; invalidate; clear a 4 KiB page of it; PSI of that page (VFIO host)
        "insufficient-resources-not-reported": 3, // limit 1: write two leaves; invalidate
        "high-iova-dropped": 2,            // write a leaf at or above 2^39; invalidate
        // Interrupts.
        "no-latch-on-reallocation": 2,     // enable a vector; unmask one beyond the allocation, raise in the gap
        "pending-not-delivered-on-unmask": 2, // enable with a raise in it (pending); unmask
        "pending-delivered-twice": 2,      // enable with a raise in it (pending); unmask
        "stale-message": 5,                // enable; unmask; rewrite the entry (old or new allowed while unmasked); disable with a raise in it; enable
        "ims-pasid-not-programmed": 1,     // set a PASID with a raise injected after it
        "raise-during-function-mask-dropped": 2, // function-mask with a raise in it; unmask
        "pending-mask-32-bits": 2,         // a raise on vector 32 or above while disabled (the host latches it); enable
        // Protected DMA.
        "from-device-map-not-bounced": 2,  // cpu-write a buffer; map it from-device (the device sees the stale slot)
        "min-align-mask-ignored": 1,       // map a buffer with low bits under a non-zero min_align_mask
        "slot-shared": 2,                  // map across two slots; map again (handed the unmarked slot)
        "sync-for-cpu-wrong-direction": 2, // map bidirectional; sync for CPU (reads the buffer it may only write)
        "unmap-frees-before-copy-back": 2, // one-slot pool: map from-device; unmap with a device write and another CPU's map in it
        "virtio-ring-private": 1,          // set up a virtqueue of a device without VIRTIO_F_ACCESS_PLATFORM
    ]
}
