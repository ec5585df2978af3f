import Foundation
import IOMMUConformance
import IOMMUSpec
import PropertyCheck
import Testing

/// The plug-in path end to end: the C examples loaded through the ABI, in process and in a
/// worker; what a broken, crashing, hanging or mis-versioned plug-in looks like to a user.
@Suite struct PluginTests {
    private func run(_ surface: Surface, _ reference: PluginReference, cases: Int, policy: String? = nil,
                     shrink: Shrinker.Budget = Shrinker.Budget()) throws -> CheckReport {
        let check = try SurfaceCheck.make(surface, implementation: .plugin(reference), policy: policy)
        var configuration = try testConfiguration("plugin-\(surface.rawValue)", cases: cases)
        configuration.shrinkBudget = shrink
        return check.run(configuration)
    }

    @Test(arguments: [false, true])
    func correctAddressSpacePluginPasses(worker: Bool) throws {
        let report = try run(.addressSpace, ExamplePlugins.reference(try ExamplePlugins.build("address_space.c"), worker: worker), cases: worker ? 40 : 400)
        #expect(report.passed, "\(report)")
        #expect(report.statistics.totalCommands > (worker ? 1_000 : 10_000))
    }

    @Test(arguments: [false, true])
    func plantedBugInAddressSpacePluginIsCaughtAndShrunk(worker: Bool) throws {
        let report = try run(.addressSpace, ExamplePlugins.reference(try ExamplePlugins.build("address_space.c", ["PLANT_BUG"]), worker: worker), cases: 200)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("the model says error"), "\(failure)")
        #expect(failure.trace.count <= 4, "\(failure)")
    }

    @Test func crashingPluginIsReportedWithItsTraceAndTheCampaignGoesOn() throws {
        let report = try run(.addressSpace, ExamplePlugins.reference(try ExamplePlugins.build("address_space.c", ["CRASH_ON_LONG_UNMAP"]), worker: true),
                             cases: 200, shrink: Shrinker.Budget(runs: 300, seconds: 20))
        let failure = try #require(report.failure)
        #expect(failure.message.contains("crashed with signal 11 (SIGSEGV)"), "\(failure)")
        // Shrinking re-ran the crashing case many times, each in a fresh worker.
        #expect(failure.shrink.runs > 10)
        #expect(failure.trace.last?.contains("unmap") == true, "\(failure)")
        #expect(failure.trace.count <= 3, "\(failure)")
    }

    @Test func hangingPluginHitsTheTimeout() throws {
        let report = try run(.addressSpace, ExamplePlugins.reference(try ExamplePlugins.build("address_space.c", ["HANG_ON_LONG_UNMAP"]), worker: true, timeout: 0.3),
                             cases: 200, shrink: Shrinker.Budget(runs: 20, seconds: 10))
        let failure = try #require(report.failure)
        #expect(failure.message.contains("hung: no answer within 0.3 s"), "\(failure)")
    }

    @Test(arguments: [false, true])
    func unknownStatusCodeIsAConformanceFailureNotACrash(worker: Bool) throws {
        let report = try run(.addressSpace, ExamplePlugins.reference(try ExamplePlugins.build("address_space.c", ["BAD_STATUS"]), worker: worker), cases: 200)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("returned status 42, which is not an iommu_check_as_status"), "\(failure)")
        #expect(failure.trace.count == 1, "\(failure)")
    }

    @Test func wrongABIVersionIsRefusedBeforeAnyCase() throws {
        let path = try ExamplePlugins.build("address_space.c", ["ABI_VERSION=9"])
        #expect {
            try SurfaceCheck.make(.addressSpace, implementation: .plugin(ExamplePlugins.reference(path, worker: true)))
        } throws: { error in
            "\(error)".contains("its table says ABI version 9; set abi_version = IOMMU_CHECK_ABI_VERSION")
        }
    }

    /// A plug-in built against ABI version 1 still loads, and is checked under the
    /// configurations version 1 can state.
    @Test(arguments: [false, true])
    func aVersionOnePluginStillLoadsAndPasses(worker: Bool) throws {
        let path = try ExamplePlugins.build("address_space.c", ["LEGACY_V1"])
        #expect(try PluginLibrary(path: path).abiVersion == 1)
        let report = try run(.addressSpace, ExamplePlugins.reference(path, worker: worker), cases: worker ? 40 : 400)
        #expect(report.passed, "\(report)")
        #expect {
            try SurfaceCheck.make(.addressSpace, implementation: .plugin(ExamplePlugins.reference(path, worker: worker)), policy: "iommufd")
        } throws: { error in
            "\(error)".contains("cannot be stated in plug-in ABI version 1")
        }
    }

    @Test func missingLibraryAndMissingSurfaceAreRefusedClearly() throws {
        #expect(throws: (any Error).self) { try PluginLibrary(path: "/nonexistent/libnothing.so") }
        let shadowOnly = try ExamplePlugins.build("shadow.c")
        #expect {
            try SurfaceCheck.make(.addressSpace, implementation: .plugin(ExamplePlugins.reference(shadowOnly, worker: false)))
        } throws: { error in
            "\(error)".contains("does not provide the address-space surface (it provides: shadow)")
        }
    }

    @Test(arguments: [false, true])
    func shadowPluginWorksThroughHostCallbacks(worker: Bool) throws {
        let report = try run(.shadow, ExamplePlugins.reference(try ExamplePlugins.build("shadow.c"), worker: worker), cases: worker ? 15 : 100)
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: [false, true])
    func shadowPluginWithADMAWindowIsCaught(worker: Bool) throws {
        let report = try run(.shadow, ExamplePlugins.reference(try ExamplePlugins.build("shadow.c", ["PLANT_BUG"]), worker: worker), cases: 200)
        let failure = try #require(report.failure)
        #expect(failure.trace.count <= 4, "\(failure)")
    }

    @Test(arguments: [false, true])
    func isolationPluginWorksThroughCheckpoints(worker: Bool) throws {
        let report = try run(.isolation, ExamplePlugins.reference(try ExamplePlugins.build("isolation.c"), worker: worker), cases: worker ? 15 : 200)
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: [false, true])
    func isolationPluginWithAHandoverWindowIsCaughtAtItsCheckpoint(worker: Bool) throws {
        let report = try run(.isolation, ExamplePlugins.reference(try ExamplePlugins.build("isolation.c", ["PLANT_BUG"]), worker: worker), cases: 200)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("at checkpoint"), "\(failure)")
        #expect(failure.trace.count == 1, "\(failure)")
    }

    @Test(arguments: [false, true])
    func interruptsPluginWorksWithRaisesBetweenHostCalls(worker: Bool) throws {
        let report = try run(.interrupts, ExamplePlugins.reference(try ExamplePlugins.build("interrupts.c"), worker: worker), cases: worker ? 60 : 500)
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: [false, true])
    func interruptsPluginThatLosesGapRaisesIsCaught(worker: Bool) throws {
        let report = try run(.interrupts, ExamplePlugins.reference(try ExamplePlugins.build("interrupts.c", ["PLANT_BUG"]), worker: worker), cases: 2_000)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("the model delivers"), "\(failure)")
        #expect(failure.trace.count <= 3, "\(failure)")
    }

    @Test(arguments: [false, true])
    func protectedDMAPluginPasses(worker: Bool) throws {
        let report = try run(.protectedDMA, ExamplePlugins.reference(try ExamplePlugins.build("protected_dma.c"), worker: worker), cases: worker ? 60 : 400)
        #expect(report.passed, "\(report)")
        #expect(report.statistics.totalCommands > (worker ? 1_000 : 8_000))
    }

    /// The C example before ddbd89deb7d3: caught in process and in a worker, shrunk short.
    @Test(arguments: [false, true])
    func protectedDMAPluginThatLeaksStaleSlotsIsCaught(worker: Bool) throws {
        let report = try run(.protectedDMA, ExamplePlugins.reference(try ExamplePlugins.build("protected_dma.c", ["PLANT_BUG"]), worker: worker), cases: 2_000)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("where the model has"), "\(failure)")
        // First fit reuses a slot only once the pool wraps: five steps, where two can show it.
        #expect(failure.trace.count <= 5, "\(failure)")
    }

    /// A port of Linux's own algorithms (swiotlb's areas, next-fit search with its stride and
    /// wrap, dma-direct's order-sized coherent blocks) passes: where Linux misses a free aligned
    /// run or takes a larger block than it shares, the checker follows the code.
    @Test(arguments: [[], ["AREAS=2"], ["AREAS=4", "EXACT_PAGES"], ["EXHAUSTIVE_RETRY"]])
    func aPortOfLinuxSwiotlbPasses(defines: [String]) throws {
        let path = try ExamplePlugins.build("../../Tests/Fixtures/kernel_swiotlb.c", defines)
        let report = try run(.protectedDMA, ExamplePlugins.reference(path, worker: false), cases: 1_000)
        #expect(report.passed, "\(report)")
        #expect((report.statistics.outcomes[OutcomeKey(kind: "map", outcome: "mapping-error")] ?? 0) > 0, "no map ever failed")
    }

    /// A layer that breaks the memory rules or the ABI, or crashes in a worker: a failure with
    /// its step, never a lost result.
    @Test(arguments: [("SHARE_BUFFER", "must never be shared", 2), ("LEAK_NEIGHBOUR", "outside the buffer the call is about", 2),
                      ("WRITE_FROM_NULL", "more than guest memory holds", 2), ("CRASH_IN_MAP", "crashed with signal 6", 2),
                      ("FALSE_FULL", "but the pool has room", 2), ("FAILED_MAP_WRITES", "a failed map changes nothing", 2),
                      ("FREE_KEEPS_SHARED", "is shared and holds no live coherent buffer", 2),
                      ("ALLOC_NOT_ZEROED", "where the model has 0x0", 6), ("COHERENT_DMA_ELSEWHERE", "is not its guest-physical address", 2)])
    func aMisbehavingProtectedDMAPluginFailsItsStep(misbehaviour: String, expected: String, steps: Int) throws {
        let path = try ExamplePlugins.build("../../Tests/Fixtures/misbehaving_protected_dma.c", ["MISBEHAVE_\(misbehaviour)"])
        let report = try run(.protectedDMA, ExamplePlugins.reference(path, worker: true), cases: 300)
        let failure = try #require(report.failure)
        #expect(failure.message.contains(expected), "\(failure)")
        #expect(failure.trace.count <= steps, "\(failure)")
    }

    /// A version-1 isolation table followed a contract Linux does not have: refused with a
    /// sentence that says how to update.
    @Test func aVersionOneIsolationTableIsRefusedWithTheUpdate() throws {
        let path = try ExamplePlugins.build("isolation.c", ["LEGACY_V1"])
        #expect {
            _ = try IsolationCheck(implementation: .plugin(ExamplePlugins.reference(path, worker: false)))
                .run(CheckConfiguration(name: "isolation-v1", seed: 1, cases: 1))
        } throws: { error in
            "\(error)".contains("iommu_check_plugin_v2") && "\(error)".contains("claim_device")
        }
    }

    @Test(arguments: [false, true])
    func anImpossibleDomainIsAConformanceFailureNotACrash(worker: Bool) throws {
        let report = try run(.isolation, ExamplePlugins.reference(try ExamplePlugins.build("isolation.c", ["BAD_DOMAIN"]), worker: worker), cases: 200)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("dma reached domain 1000, which does not exist"), "\(failure)")
        #expect(failure.trace.count <= 2, "\(failure)")
    }
}
