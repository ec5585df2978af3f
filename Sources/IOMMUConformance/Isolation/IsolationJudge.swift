import IOMMUReference
import IOMMUSpec

/// Judges an implementation's outcome for one isolation operation against the model, then
/// applies it to the model. Any applicable error conforms (as for every surface), and so does
/// another rule with the same errno: a Linux back end sees only the errno (EPERM is the answer
/// of not-viable, owned-by-other and already-claimed alike).
struct IsolationJudge {
    let model: IsolationModel

    func judge(_ operation: IsolationOperation, actual: IsolationOutcome) -> (expected: IsolationOutcome, problem: String?) {
        let applicable = model.violations(of: operation)
        let expected = operation.apply(to: model)
        if expected == actual { return (expected, nil) }
        if case .failed = expected, case .failed(let error) = actual, applicable.contains(where: { $0.errno == error.errno }) { return (expected, nil) }
        let also = applicable.count > 1 ? " (applicable: \(applicable.map(\.rawValue).joined(separator: ", ")))" : ""
        return (expected, "the model says \(expected)\(also), the implementation says \(actual)")
    }
}

extension IsolationTrace.Step: TraceStep {}

extension IsolationTrace: LineTrace {
    static var surface: Surface { .isolation }

    func unrecordedField(_ step: Step) -> String? { step.outcome == nil ? "outcome" : nil }

    func lanes() -> [(lane: Lane, prefix: String)] {
        let topologies = judgedTopologies
        return topologies.map { (Lane(judge: IsolationJudge(model: IsolationModel(topology: $0))), topologies.count > 1 ? "[\($0.policy)] " : "") }
    }

    struct Lane: TraceLane {
        let judge: IsolationJudge

        func judge(_ step: Step) -> String? {
            guard let outcome = step.outcome else { return "no outcome recorded for \(step.operation)" }
            return judge.judge(step.operation, actual: outcome).problem.map { "\(step.operation): \($0)" }
        }
    }

    /// Judges a recorded trace against the model under every policy it names; reports the
    /// first line that does not conform.
    public func verify() -> TraceVerdict { judged() }

    /// Checks a hand-written scenario under each policy it names: the model must produce every
    /// stated outcome exactly, and the implementation must conform at every step and keep the
    /// safety rules at every checkpoint.
    public func checkScenario(implementation makeImplementation: (Topology, @escaping () -> Void) throws -> any IsolationSystem) -> [String] {
        var problems: [String] = []
        let topologies = judgedTopologies
        for topology in topologies {
            let prefix = topologies.count > 1 ? "[\(topology.policy)] " : ""
            let model = IsolationModel(topology: topology)
            let judge = IsolationJudge(model: IsolationModel(topology: topology))
            let monitor = IsolationMonitor(topology: topology)
            let implementation: any IsolationSystem
            do {
                implementation = try makeImplementation(topology) { [unowned monitor] in monitor.checkpoint() }
            } catch {
                problems.append("\(prefix)the implementation could not be created: \(error)")
                continue
            }
            monitor.system = implementation
            for step in steps {
                let modelOutcome = step.operation.apply(to: model)
                if let expected = step.outcome, modelOutcome != expected {
                    problems.append("\(prefix)line \(step.line): \(step.operation): the scenario expects \(expected), the model says \(modelOutcome)")
                }
                monitor.reset()
                let actual = step.operation.apply(to: implementation)
                if let violation = monitor.violation { problems.append("\(prefix)line \(step.line): \(step.operation): \(violation)") }
                if let problem = judge.judge(step.operation, actual: actual).problem {
                    problems.append("\(prefix)line \(step.line): \(step.operation): \(problem)")
                }
            }
        }
        return problems
    }
}
