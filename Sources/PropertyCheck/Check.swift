/// Runs a test case: the saved regressions first, then `cases` generated cases; shrinks the first
/// failure, saves it if asked, and applies the health check to a passing run.
///
/// Case `i` draws from a PRNG seeded with `caseSeed(runSeed:caseIndex:)`, so the same seed and
/// configuration give the same run, byte for byte.
public func check(_ configuration: CheckConfiguration, kindNames: [String] = [], _ testCase: @escaping TestCase) -> CheckReport {
    let started = ContinuousClock.now
    let statistics = Statistics()
    var errors: [String] = []
    var casesRun = 0

    // An explicit replay, or one the environment asks for (bound to this check, or to none).
    var replay = configuration.replay
    var notRun: String?
    if replay == nil && configuration.readsEnvironmentReplay {
        do {
            if let request = try ReplayRequest.fromEnvironment(configuration.environment) {
                if request.check == nil || request.check == configuration.name {
                    replay = request.bytes
                } else {
                    notRun = "IOMMU_CHECK_REPLAY_CHECK asks for check '\(request.check ?? "")' to replay; this check ('\(configuration.name)') ran nothing"
                }
            }
        } catch {
            errors.append(error.description)
        }
    }

    var interrupted = false

    func finish(_ failure: FailureReport?) -> CheckReport {
        statistics.fold(kindNames: kindNames)
        let judgedHealth = failure == nil && replay == nil && notRun == nil && errors.isEmpty && !interrupted
        let elapsed = ContinuousClock.now - started
        if replay != nil && configuration.replay == nil { ReplayRequest.record(check: configuration.name, failed: failure != nil, configuration.environment) }
        return CheckReport(
            name: configuration.name, seed: configuration.seed, casesRun: casesRun, statistics: statistics,
            failure: failure, healthProblems: judgedHealth ? configuration.health.problems(in: statistics) : [],
            errors: errors, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            replayed: replay != nil, notRun: notRun, interrupted: interrupted
        )
    }

    func shrinkAndReport(_ failing: [UInt64], original: CaseFailure, origin: FailureReport.Origin) -> FailureReport {
        var shrinker = Shrinker(testCase: testCase, failing: failing, maxChoices: configuration.maxChoices, budget: configuration.shrinkBudget)
        shrinker.progress = configuration.shrinkProgress
        shrinker.progressInterval = configuration.shrinkProgressInterval
        let result = shrinker.shrink()
        let final = ChoiceStream(.replay(result.choices), maxChoices: configuration.maxChoices, recordsTrace: true)
        configuration.freshStart?()
        let failure: CaseFailure
        if case .fail(let found) = testCase(final) {
            failure = found
        } else {
            let fresh = configuration.freshStart == nil ? "" : " in a fresh process (state kept from earlier cases, in globals?)"
            failure = CaseFailure(message: "flaky: the case failed once, then passed when replayed\(fresh); the test case is not a function of its choices. The first failure: \(original.message)")
        }
        let bytes = final.encodedBytes
        var savedTo: String?
        if configuration.savesRegressions, let directory = configuration.regressionsDirectory {
            do {
                savedTo = try RegressionStore(directory: directory).save(bytes, prefix: configuration.name)
            } catch {
                errors.append("could not save the regression in \(directory): \(error)")
            }
        }
        let partial = FailureReport(
            origin: origin, seed: configuration.seed, message: failure.message, trace: failure.trace,
            choices: final.choices, bytes: bytes, originalChoiceCount: failing.count, shrink: result,
            replayCommand: "", savedTo: savedTo
        )
        return FailureReport(
            origin: origin, seed: configuration.seed, message: failure.message, trace: failure.trace,
            choices: final.choices, bytes: bytes, originalChoiceCount: failing.count, shrink: result,
            replayCommand: configuration.replayCommand(partial.base64), savedTo: savedTo
        )
    }

    /// Runs one fixed input; returns its shrunk failure, if it fails.
    func judge(_ source: ChoiceSource, origin: FailureReport.Origin) -> FailureReport? {
        let stream = ChoiceStream(source, maxChoices: configuration.maxChoices)
        casesRun += 1
        guard case .fail(let found) = testCase(stream) else { return nil }
        return shrinkAndReport(stream.choices, original: found, origin: origin)
    }

    if notRun != nil || !errors.isEmpty { return finish(nil) }
    if let bytes = replay {
        return finish(judge(.bytes(bytes), origin: .replay))
    }
    if let directory = configuration.regressionsDirectory {
        do {
            for (path, bytes) in try RegressionStore(directory: directory).load() {
                if let failure = judge(.bytes(bytes), origin: .regression(path: path)) { return finish(failure) }
            }
        } catch {
            errors.append("could not read the regressions in \(directory): \(error)")
        }
    }
    for (name, bytes) in configuration.corpus {
        if let failure = judge(.bytes(bytes), origin: .corpus(name: name)) { return finish(failure) }
    }

    if configuration.jobs > 1 && configuration.cases > 1 {
        let parallel = ParallelCases(configuration, kindNames: kindNames, testCase)
        statistics.merge(parallel.statistics)
        casesRun += parallel.casesRun
        interrupted = parallel.interrupted
        guard let (index, choices, found) = parallel.failure else { return finish(nil) }
        return finish(shrinkAndReport(choices, original: found, origin: .generated(caseIndex: configuration.firstCase + index)))
    }
    let stream = ChoiceStream(.random(seed: 0), maxChoices: configuration.maxChoices)
    stream.statistics = statistics
    stream.edgeBias = configuration.edgeBias
    for index in 0..<configuration.cases {
        if let stop = configuration.stopRequested, stop() {
            interrupted = true
            break
        }
        stream.reset(.random(seed: caseSeed(runSeed: configuration.seed, caseIndex: configuration.firstCase + index)))
        let verdict = testCase(stream)
        casesRun += 1
        switch verdict {
        case .pass: statistics.count(case: false, overran: stream.overran)
        case .discard: statistics.count(case: true, overran: stream.overran)
        case .fail(let found):
            statistics.count(case: false, overran: stream.overran)
            return finish(shrinkAndReport(stream.choices, original: found, origin: .generated(caseIndex: configuration.firstCase + index)))
        }
        if let progress = configuration.progress, (index + 1) % configuration.progressInterval == 0 {
            progress(index + 1, configuration.cases)
        }
    }
    return finish(nil)
}

/// Checks that `property` holds for values drawn from `generator`.
public func check<Value>(
    _ generator: Gen<Value>,
    _ configuration: CheckConfiguration,
    _ property: @escaping (Value) throws -> Bool
) -> CheckReport {
    check(configuration) { stream in
        let value = generator.generate(stream)
        if stream.isDiscarded { return .discard }
        if stream.recordsTrace { stream.trace.append("value: \(value)") }
        let trace = stream.trace
        do {
            return try property(value) ? .pass : .fail(CaseFailure(message: "property returned false", trace: trace))
        } catch {
            return .fail(CaseFailure(message: "property threw: \(error)", trace: trace))
        }
    }
}

/// Checks a state machine in lockstep: commands drawn from its state, compared at every step.
public func check<M: StateMachine>(
    _ configuration: CheckConfiguration,
    options: StatefulOptions = StatefulOptions(),
    machine makeMachine: @escaping () -> M
) -> CheckReport {
    check(configuration, kindNames: M.commandKinds, statefulTestCase(options, makeMachine))
}
