import Foundation
import IOMMUConformance
import IOMMUSpec
import PropertyCheck
import Testing

/// Plug-ins that break the rules (Tests/Fixtures/misbehaving.c, each an example plug-in wrapped
/// to misbehave once): the checker names what they did, loses no result and never dies or
/// hangs with them (issue 15, items 1 to 11).
@Suite struct MisbehavingPluginTests {
    private func check(_ path: String, _ surface: Surface = .addressSpace, worker: Bool, cases: Int = 30, timeout: Double = 5) throws -> CheckReport {
        let check = try SurfaceCheck.make(surface, implementation: .plugin(ExamplePlugins.reference(path, worker: worker, timeout: timeout)))
        var configuration = try testConfiguration("misbehaving-\(surface.rawValue)", cases: cases)
        configuration.shrinkBudget = Shrinker.Budget(runs: 30, seconds: 10)
        return check.run(configuration)
    }

    private func refusal(_ path: String, worker: Bool, timeout: Double = 5) throws -> String? {
        do {
            _ = try SurfaceCheck.make(.addressSpace, implementation: .plugin(ExamplePlugins.reference(path, worker: worker, timeout: timeout)))
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// In worker mode the checker never loads the library: what its constructor or entry point
    /// does happens in the worker, and is reported as what it was.
    @Test(arguments: [
        ("ABORT_IN_CONSTRUCTOR", "crashed with signal 6 (SIGABRT) while loading it"),
        ("EXIT_IN_ENTRY", "exited with status 0 while loading it"),
        ("HANG_IN_ENTRY", "did not finish loading"),
    ])
    func aLibraryThatDiesOrHangsWhileLoadingIsReported(misbehaviour: String, expected: String) throws {
        let message = try refusal(ExamplePlugins.misbehaving(misbehaviour), worker: true, timeout: 0.5)
        #expect(message?.contains(expected) == true, "\(String(describing: message))")
    }

    @Test(arguments: [false, true])
    func aNameThatCouldForgeOutputIsRefused(worker: Bool) throws {
        let message = try refusal(ExamplePlugins.misbehaving("BAD_NAME"), worker: worker)
        #expect(message?.contains("control character") == true, "\(String(describing: message))")
        #expect(message?.contains("\n") == false)
    }

    @Test(arguments: [("CRASH_IN_DESTROY", "crashed with signal 11 (SIGSEGV) during destroy"), ("DOUBLE_FREE_IN_DESTROY", "crashed with signal 6 (SIGABRT) during destroy")])
    func aPluginThatCrashesInDestroyFails(misbehaviour: String, expected: String) throws {
        let report = try check(ExamplePlugins.misbehaving(misbehaviour), worker: true, cases: 5)
        let failure = try #require(report.failure)
        #expect(failure.message.contains(expected), "\(failure)")
    }

    @Test(arguments: [("MAPPINGS_SIZE_MAX", "18446744073709551615"), ("MAPPINGS_HUGE", "1099511627776")])
    func anImpossibleMappingsCountIsAContractFailure(misbehaviour: String, count: String) throws {
        for worker in [false, true] {
            let report = try check(ExamplePlugins.misbehaving(misbehaviour), worker: worker, cases: 5)
            let failure = try #require(report.failure)
            // Named as what the plug-in did, not as the state difference the empty answer makes.
            #expect(failure.message.contains("mappings returned a count of \(count) extents"), "\(failure)")
        }
    }

    /// A worker that dies between two calls (here a plug-in thread crashes it) is reported;
    /// the checker (this test process) does not die of SIGPIPE on its next write.
    @Test func aWorkerThatDiesBetweenCallsIsReportedNotSIGPIPE() throws {
        let report = try check(ExamplePlugins.misbehaving("THREAD_CRASH_AFTER_CREATE"), worker: true, cases: 200)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("crashed with signal 11 (SIGSEGV)"), "\(failure)")
    }

    /// A forked child holds the worker's pipes, so no end of file comes when the worker dies:
    /// the death is still seen at once and reported as the crash it was, not as a hang.
    @Test(arguments: ["FORK_CHILD", "IGNORE_SIGCHLD"])
    func aCrashIsNamedEvenWithAForkedChildOrSIGCHLDIgnored(misbehaviour: String) throws {
        let started = ContinuousClock.now
        let report = try check(ExamplePlugins.misbehaving(misbehaviour), worker: true, cases: 50)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("crashed with signal 6 (SIGABRT) during map"), "\(failure)")
        #expect(!failure.message.contains("hung"), "\(failure)")
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    /// A plug-in that supports one page size and one aperture refuses every other case: the
    /// refusals are counted, not failed, and a run made of them fails its health check naming
    /// them; fixing the axes makes it pass (issue 15, item 12).
    @Test func aPluginWithOneConfigurationPassesWhenTheRunFixesIt() throws {
        let reference = ExamplePlugins.reference(try ExamplePlugins.misbehaving("ONLY_4K_40_BITS"), worker: false)
        var fixed = FixedConfiguration()
        fixed.pageSize = 4096
        fixed.aperture = 0...((1 << 40) - 1)
        var configuration = try testConfiguration("one-configuration", cases: 300)
        let drawn = try SurfaceCheck.make(.addressSpace, implementation: .plugin(reference)).run(configuration)
        #expect(drawn.failure == nil, "\(drawn)")
        #expect(!drawn.passed)
        #expect(drawn.healthProblems.contains { $0.contains("were refused by the implementation") && $0.contains("most often: page 0x") }, "\(drawn.healthProblems)")
        configuration.name = "one-configuration-fixed"
        let report = try SurfaceCheck.make(.addressSpace, implementation: .plugin(reference), fixed: fixed).run(configuration)
        #expect(report.passed, "\(report)")
        #expect(report.statistics.totalCommands > 3_000)
    }

    /// The same plug-in declaring its capabilities (ABI revision 1) passes with nothing fixed.
    @Test(arguments: [false, true])
    func aPluginThatDeclaresWhatItSupportsIsCheckedOnThat(worker: Bool) throws {
        let reference = ExamplePlugins.reference(try ExamplePlugins.misbehaving("ONLY_4K_40_BITS_DECLARED"), worker: worker)
        let report = try SurfaceCheck.make(.addressSpace, implementation: .plugin(reference)).run(try testConfiguration("declared", cases: worker ? 40 : 300))
        #expect(report.passed, "\(report)")
        #expect(report.statistics.refusals.isEmpty)
    }

    @Test(arguments: [false, true])
    func impossibleCapabilitiesAreRefusedAtLoad(worker: Bool) throws {
        let message = try refusal(ExamplePlugins.misbehaving("BAD_CAPABILITIES"), worker: worker)
        #expect(message?.contains("capabilities->max_vectors is 65") == true, "\(String(describing: message))")
    }

    @Test(arguments: [
        (Surface.isolation, "--vectors is not a setting of the isolation surface"),
        (Surface.addressSpace, "--vectors is not a setting of the address-space surface"),
    ])
    func anAxisTheSurfaceLacksIsRefused(surface: Surface, expected: String) throws {
        var fixed = FixedConfiguration()
        fixed.vectors = 8
        #expect(throws: ImplementationUnavailable.self) { try SurfaceCheck.make(surface, implementation: .optimized, fixed: fixed) }
        do {
            _ = try SurfaceCheck.make(surface, implementation: .optimized, fixed: fixed)
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    /// A failure that depends on state the plug-in kept across cases is confirmed in a fresh
    /// worker, as its replay command would run it, and reported as not reproducing.
    @Test func aFailureThatNeedsEarlierCasesIsReportedAsNotReproducing() throws {
        let report = try check(ExamplePlugins.misbehaving("STATE_IN_GLOBALS"), worker: true, cases: 50)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("passed when replayed in a fresh process"), "\(failure)")
        // The first failure is kept: its configuration and the step that failed.
        #expect(failure.message.contains("The first failure: configuration:") && failure.message.contains("map("), "\(failure)")
    }

    /// Two jobs, each with its own worker, find and shrink the same failure as one.
    @Test func twoJobsInWorkersGiveTheSameFailureAsOne() throws {
        let reference = ExamplePlugins.reference(try ExamplePlugins.build("address_space.c", ["PLANT_BUG"]), worker: true)
        let check = try SurfaceCheck.make(.addressSpace, implementation: .plugin(reference))
        var reports: [CheckReport] = []
        for jobs in [1, 2] {
            var configuration = try testConfiguration("jobs-in-workers", cases: 200)
            configuration.jobs = jobs
            reports.append(check.run(configuration))
        }
        #expect(reports[0].failure != nil)
        #expect(reports[0].failure?.choices == reports[1].failure?.choices)
        #expect(reports[0].failure?.message == reports[1].failure?.message)
        #expect(reports[0].statistics.summary == reports[1].statistics.summary)
    }

    @Test func aPluginThatClosesStandardInputStillRuns() throws {
        let report = try check(ExamplePlugins.misbehaving("CLOSE_STDIN"), worker: true, cases: 20)
        #expect(report.passed, "\(report)")
    }

    @Test(arguments: [
        ("REENTRANT_CHECKPOINT", "a re-entrant checkpoint"),
        ("CHECKPOINT_FROM_THREAD", "called from a thread the plug-in started"),
        ("CHECKPOINT_AFTER_DESTROY", "checkpoint was called after destroy"),
    ], [false, true])
    func isolationCallbacksOutsideTheABIAreViolations(misbehaviour: (String, String), worker: Bool) throws {
        let report = try check(ExamplePlugins.misbehaving(misbehaviour.0, isolation: true), .isolation, worker: worker, cases: 100)
        let failure = try #require(report.failure)
        #expect(failure.message.contains(misbehaviour.1), "\(failure)")
    }

    /// The worker keeps the views of a bounded number of checkpoints per operation: a plug-in
    /// that loops calling `checkpoint` fails the case instead of filling the worker's memory.
    @Test func aCheckpointStormIsBoundedInTheWorker() throws {
        let report = try check(ExamplePlugins.misbehaving("CHECKPOINT_STORM", isolation: true), .isolation, worker: true, cases: 5, timeout: 20)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("times in one operation"), "\(failure)")
    }
}

/// The command line with a misbehaving plug-in: run as a user runs it, output parsed as a
/// script would.
@Suite struct PluginCommandLineTests {
    @Test func aConstructorThatPrintsCannotCorruptJSON() throws {
        let path = try ExamplePlugins.misbehaving("PRINT_IN_CONSTRUCTOR")
        let result = try iommuCheck(["run", "--plugin", path, "--surface", "address-space", "--cases", "5", "--json"])
        #expect(result.status == 0, "\(result.error)")
        let parsed = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]]
        #expect(parsed?.first?["passed"] as? Bool == true, "\(result.output)")
        #expect(result.error.contains("hello from a constructor"))
    }

    @Test func anEntryPointThatExitsIsNotAGreenRun() throws {
        let path = try ExamplePlugins.misbehaving("EXIT_IN_ENTRY")
        let result = try iommuCheck(["run", "--plugin", path, "--json"])
        #expect(result.status == 64, "\(result)")
        #expect(result.error.contains("exited with status 0 while loading it"), "\(result.error)")
    }

    @Test func anUnwritableTracePathIsRefusedBeforeTheRun() throws {
        let result = try iommuCheck(["run", "--surface", "address-space", "--implementation", "mutant:stale-iotlb", "--emit-trace", "/nonexistent-directory/trace.jsonl"])
        #expect(result.status == 64, "\(result)")
        #expect(result.error.contains("cannot write '/nonexistent-directory/trace.jsonl'"), "\(result.error)")
        #expect(!result.output.contains("FAILED"), "the run started: \(result.output)")
    }

    /// The printed replay line keeps --steps and --timeout, names the executable that ran, and
    /// replays the failure when run as printed.
    @Test func theReplayLineReplays() throws {
        let path = try ExamplePlugins.build("address_space.c", ["PLANT_BUG"])
        let result = try iommuCheck(["run", "--plugin", path, "--surface", "address-space", "--steps", "60", "--timeout", "7", "--cases", "200"])
        #expect(result.status == 1)
        let line = try #require(result.output.split(separator: "\n").first { $0.hasPrefix("replay: ") }).dropFirst("replay: ".count)
        #expect(line.contains("--steps 60 "), "\(line)")
        #expect(line.contains("--timeout 7.0"), "\(line)")
        #expect(!line.hasPrefix("swift run"), "\(line)")
        let words = line.split(separator: " ").map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
        #expect(FileManager.default.fileExists(atPath: words[0]), "\(line)")
        let again = try iommuCheck(Array(words.dropFirst()))
        #expect(again.status == 1, "\(again)")
        #expect(again.output.contains("FAILED"), "\(again.output)")
    }
}
