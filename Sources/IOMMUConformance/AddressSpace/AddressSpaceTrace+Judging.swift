import IOMMUReference
import IOMMUSpec

extension AddressSpaceTrace.Step: TraceStep {}

extension AddressSpaceTrace: LineTrace {
    static var surface: Surface { .addressSpace }

    func unrecordedField(_ step: Step) -> String? { step.outcome == nil ? "outcome" : nil }

    func lanes() -> [(lane: Lane, prefix: String)] {
        let configurations = judgedConfigurations
        return configurations.map { configuration in
            var judge = AddressSpaceJudge(configuration: configuration)
            judge.faultReasons = faultReasons
            return (Lane(judge: judge), configurations.count > 1 ? "[\(configuration.policy)] " : "")
        }
    }

    /// Judges each recorded outcome against the model under one policy (any applicable error
    /// counts).
    struct Lane: TraceLane {
        let judge: AddressSpaceJudge
        /// The line of an unobservable map, after which nothing can be judged.
        var stoppedAt: Int?

        mutating func judge(_ step: Step) -> String? {
            // The map was accepted and not carried out: the real state and the model's part here.
            if let stoppedAt {
                return "the trace goes on after an unobservable map (line \(stoppedAt)): the implementation did not carry it out, so nothing after it can be judged; end the trace there"
            }
            guard let outcome = step.outcome else { return "no outcome recorded for \(step.operation)" }
            let verdict = judge.judge(step.operation, actual: outcome)
            if let problem = verdict.problem { return "\(step.operation): \(problem)" }
            if verdict.stops { stoppedAt = step.line }
            return nil
        }
    }

    /// Judges a recorded trace against the model under every policy it names: each recorded
    /// outcome must conform (any applicable error counts); the first line that does not, under
    /// the first policy where one does not, is reported.
    public func verify() -> TraceVerdict { judged() }

    /// Checks a hand-written scenario under each policy it names: the model must produce every
    /// stated outcome (the scenario states the specification, so a stated outcome is the
    /// documented one), and `makeImplementation` must conform at every step.
    /// Returns the problems found, one sentence each.
    public func checkScenario(implementation makeImplementation: (AddressSpaceConfiguration) throws -> any AddressSpace) -> [String] {
        var problems: [String] = []
        for configuration in judgedConfigurations {
            let policy = configuration.policy
            let model = AddressSpaceModel(configuration: configuration)
            var judge = AddressSpaceJudge(configuration: configuration)
            judge.faultReasons = faultReasons
            let implementation: any AddressSpace
            do {
                implementation = try makeImplementation(configuration)
            } catch {
                problems.append("[\(policy)] the implementation could not be created: \(error)")
                continue
            }
            for step in steps {
                let modelOutcome = step.operation.apply(to: model)
                if let expected = step.outcome, modelOutcome != expected, !(policy.bytes == .notReported && !step.statesBytes && Self.sameIgnoringBytes(modelOutcome, expected)) {
                    problems.append("[\(policy)] line \(step.line): \(step.operation): the scenario expects \(expected), the model says \(modelOutcome)")
                }
                let actual = step.operation.apply(to: implementation)
                if let problem = judge.judge(step.operation, actual: actual).problem {
                    problems.append("[\(policy)] line \(step.line): \(step.operation): \(problem)")
                }
            }
        }
        return problems
    }

    private static func sameIgnoringBytes(_ a: AddressSpaceOutcome, _ b: AddressSpaceOutcome) -> Bool {
        if case .unmapped = a, case .unmapped = b { return true }
        return a == b
    }
}
