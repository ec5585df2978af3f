import IOMMUConformance
import PropertyCheck
import Testing

/// An implementation seen the way a real kernel is seen from user space (issue 16;
/// Tests/Fixtures/misbehaving.c, MISBEHAVE_OPAQUE): it lists no mappings, shows a fault without
/// its reason, and cannot carry out some maps it accepts. The checker compares what it can see,
/// and a bug is still caught through translations alone.
@Suite struct UnobservablePluginTests {
    private func check(_ variant: String, worker: Bool, cases: Int = 300) throws -> CheckReport {
        let check = try SurfaceCheck.make(.addressSpace, implementation: .plugin(ExamplePlugins.reference(ExamplePlugins.misbehaving(variant), worker: worker)))
        var configuration = try testConfiguration("unobservable-\(variant)", cases: cases)
        configuration.shrinkBudget = Shrinker.Budget(runs: 100, seconds: 10)
        return check.run(configuration)
    }

    @Test(arguments: [false, true])
    func anOpaqueImplementationIsCheckedOnWhatItShows(worker: Bool) throws {
        let report = try check("OPAQUE", worker: worker)
        #expect(report.passed, "\(report)")
        // Some cases end at a map accepted and not carried out; most run to their end.
        #expect(report.statistics.stoppedCases > 0 && report.statistics.stoppedCases < 150, "\(report.statistics.summary)")
    }

    @Test(arguments: [false, true])
    func aStaleUnmapIsFoundThroughTranslationsAlone(worker: Bool) throws {
        let report = try check("OPAQUE_STALE_UNMAP", worker: worker)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("after unmap") && failure.message.contains("the model says fault"), "\(failure)")
        #expect(!failure.message.contains("mappings in"), "mappings are not observable: \(failure)")
    }

    @Test func unobservableForAMapTheModelRefusesIsADisagreement() throws {
        let report = try check("OPAQUE_UNOBSERVABLE_REFUSAL", worker: true)
        let failure = try #require(report.failure)
        #expect(failure.message.contains("the model says error outside-aperture, the implementation accepted the request"), "\(failure)")
    }

    @Test func aRunMostlyEndedEarlyFailsItsHealthCheck() throws {
        let report = try check("OPAQUE_UNOBSERVABLE_ALWAYS", worker: false)
        #expect(!report.passed)
        #expect(report.healthProblems.contains { $0.contains("ended early at a request the implementation accepted but could not carry out") }, "\(report)")
    }

    /// A case that ends early still destroys the plug-in's object: a destroy that crashes then
    /// fails the case, as at a case's normal end.
    @Test func aDestroyThatCrashesAfterAnEarlyEndFails() throws {
        // The destroy crashes only after the plug-in answered unobservable.
        let path = try ExamplePlugins.misbehaving("OPAQUE_CRASH_IN_DESTROY_AFTER_UNOBSERVABLE")
        let check = try SurfaceCheck.make(.addressSpace, implementation: .plugin(ExamplePlugins.reference(path, worker: true)))
        var configuration = try testConfiguration("unobservable-destroy", cases: 50)
        configuration.shrinkBudget = Shrinker.Budget(runs: 30, seconds: 10)
        let failure = try #require(check.run(configuration).failure)
        #expect(failure.message.contains("which ended the case") && failure.message.contains("during destroy"), "\(failure)")
    }

    /// A table built at revision 1 ends before translate_many: what lies after it is never called.
    @Test(arguments: [false, true])
    func aRevisionOneTableIsReadWithoutTheFieldsAddedLater(worker: Bool) throws {
        let report = try check("REVISION_1_WITH_TRANSLATE_MANY", worker: worker, cases: 100)
        #expect(report.passed, "\(report)")
    }
}
