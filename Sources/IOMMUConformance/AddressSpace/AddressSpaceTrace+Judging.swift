import IOMMUReference
import IOMMUSpec

extension AddressSpaceTrace {
    /// Judges a recorded trace against the model: each recorded outcome must conform (any
    /// applicable error counts); the first line that does not is reported.
    public func verify() -> TraceVerdict {
        let judge = AddressSpaceJudge(configuration: configuration)
        for (index, step) in steps.enumerated() {
            guard let outcome = step.outcome else {
                return TraceVerdict(checkedSteps: index, problem: .init(line: step.line, message: "no outcome recorded for \(step.operation)"))
            }
            let (_, problem) = judge.judge(step.operation, actual: outcome)
            if let problem { return TraceVerdict(checkedSteps: index, problem: .init(line: step.line, message: "\(step.operation): \(problem)")) }
        }
        return TraceVerdict(checkedSteps: steps.count, problem: nil)
    }

    /// Checks a hand-written scenario under each policy it lists (or its configuration's):
    /// the model must produce every stated outcome exactly, since the scenario states the
    /// specification, and `makeImplementation` must conform at every step.
    /// Returns the problems found, one sentence each.
    public func checkScenario(implementation makeImplementation: (AddressSpaceConfiguration) throws -> any AddressSpace) -> [String] {
        var problems: [String] = []
        for policy in policies.isEmpty ? [configuration.unmapPolicy] : policies {
            var configuration = self.configuration
            configuration.unmapPolicy = policy
            let model = AddressSpaceModel(configuration: configuration)
            let judge = AddressSpaceJudge(configuration: configuration)
            let implementation: any AddressSpace
            do {
                implementation = try makeImplementation(configuration)
            } catch {
                problems.append("[\(policy)] the implementation could not be created: \(error)")
                continue
            }
            for step in steps {
                let modelOutcome = step.operation.apply(to: model)
                if let expected = step.outcome, modelOutcome != expected {
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
}
