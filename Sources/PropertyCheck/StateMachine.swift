/// A stateful test in lockstep: the implementation under test and the model run the same
/// commands, and every step compares them.
///
/// The next command is drawn from the current state (so an unmap can aim at an existing mapping),
/// among the kinds swarm testing enabled for this case. A sequence ends by a drawn choice, so the
/// shrinker shortens it by deleting command spans.
public protocol StateMachine {
    associatedtype Command

    /// Command kind names. `kind(of:)` indexes this list; swarm testing and statistics use it.
    static var commandKinds: [String] { get }

    /// Kinds swarm testing never disables: without them a case cannot reach interesting state
    /// (no map, nothing to unmap; no claim, no owned group). Default: none.
    static var foundationalKinds: [Int] { get }

    /// Draws the next command, knowing the current state, among `enabled` kinds.
    mutating func drawCommand(_ stream: ChoiceStream, enabled: KindSet) -> Command

    /// The baseline generator of the detection benchmark: every kind equally likely, every
    /// field uniform over a fixed range, blind to the state. Default: `drawCommand` with every
    /// kind enabled (a machine without a baseline of its own).
    mutating func drawUniformCommand(_ stream: ChoiceStream) -> Command

    func kind(of command: Command) -> Int

    /// Whether `command` may run in the current state. A command that fails it is skipped and counted.
    func precondition(_ command: Command) -> Bool

    /// Runs `command` on the implementation under test and on the model, and compares.
    mutating func step(_ command: Command) -> StepResult

    /// Checked after every step: nil, or what is wrong.
    func checkInvariants() -> String?

    /// Checked once after the last step (a full state comparison too costly for every step).
    mutating func finish() -> String?

    /// Called instead of `finish` when a step stopped the case (`StepResult.stopped`): ends
    /// what the implementation holds (a plug-in's destroy); nil, or what went wrong.
    mutating func close() -> String?

    /// One readable line for the trace.
    func describe(_ command: Command) -> String
}

extension StateMachine {
    public static var foundationalKinds: [Int] { [] }
    public mutating func drawUniformCommand(_ stream: ChoiceStream) -> Command { drawCommand(stream, enabled: .all(Self.commandKinds.count)) }
    public func precondition(_ command: Command) -> Bool { true }
    public func checkInvariants() -> String? { nil }
    public mutating func finish() -> String? { nil }
    public mutating func close() -> String? { nil }
}

/// The result of one lockstep step.
public enum StepResult: Sendable, Equatable {
    /// Both sides agree. `outcome` names the result ("ok", or an error kind); `accepted` says
    /// whether it was a success, which the health check uses to spot runs where nothing succeeds.
    case agreed(outcome: String, accepted: Bool)
    /// The sides disagree; `message` shows both results.
    case disagreed(message: String)
    /// The sides agree, and the case cannot go on: the implementation accepted a command it
    /// could not carry out, so nothing after it can be observed (a real kernel that could not
    /// pin the memory of a map it accepted). The case ends here, passed, without `finish`;
    /// statistics count it, and the health check fails a run made mostly of such cases.
    case stopped(outcome: String)
}

/// How long command sequences are and whether swarm testing is on.
public struct StatefulOptions: Sendable {
    /// Mean commands per case; each step continues with probability 1 - 1/averageSteps.
    public var averageSteps: Double = 40
    public var maxSteps: Int = 200
    public var swarm: Bool = true
    /// The detection benchmark's baseline: commands from the machine's uniform generator (no
    /// state awareness, no edge bias) and no swarm. Never used to check anything for real.
    public var baseline: Bool = false

    public init(averageSteps: Double = 40, maxSteps: Int = 200, swarm: Bool = true, baseline: Bool = false) {
        self.averageSteps = averageSteps
        self.maxSteps = maxSteps
        self.swarm = swarm
        self.baseline = baseline
    }
}

/// Compiles a state machine into a `TestCase`: draw swarm kinds, then commands until a drawn stop.
public func statefulTestCase<M: StateMachine>(
    _ options: StatefulOptions = StatefulOptions(),
    _ makeMachine: @escaping () -> M
) -> TestCase {
    { stream in
        var machine = makeMachine()
        return runCommands(&machine, stream, options)
    }
}

/// Runs one case of `machine`: the swarm draw, then commands until a drawn stop or
/// `options.maxSteps`, judging every step, the invariants after it, and `finish` at the end.
/// Surfaces that draw a configuration before building their machine call this directly.
public func runCommands<M: StateMachine>(_ machine: inout M, _ stream: ChoiceStream, _ options: StatefulOptions) -> CaseVerdict {
    let kindCount = M.commandKinds.count
    let continueProbability = 1 - 1 / max(options.averageSteps, 1)
    var enabled = options.swarm && !options.baseline ? KindSet.drawSwarm(stream, kinds: kindCount) : .all(kindCount)
    for kind in M.foundationalKinds { enabled.bits |= 1 << UInt64(kind) }
    var steps = 0
    while steps < options.maxSteps {
        stream.beginSpan("command")
        guard stream.drawBool(probability: continueProbability) else {
            stream.endSpan()
            break
        }
        let command = options.baseline ? machine.drawUniformCommand(stream) : machine.drawCommand(stream, enabled: enabled)
        stream.endSpan()
        steps += 1
        if stream.isDiscarded { return .discard }
        guard machine.precondition(command) else {
            stream.statistics?.countPreconditionSkip()
            continue
        }
        switch machine.step(command) {
        case .agreed(let outcome, let accepted):
            stream.statistics?.count(commandIndex: machine.kind(of: command), outcome: outcome, accepted: accepted)
            if stream.recordsTrace { stream.trace.append("\(machine.describe(command)) -> \(outcome)") }
        case .disagreed(let message):
            if stream.recordsTrace { stream.trace.append("\(machine.describe(command)) -> DISAGREEMENT") }
            return .fail(CaseFailure(message: "step \(steps): \(message)", trace: stream.trace))
        case .stopped(let outcome):
            stream.statistics?.count(commandIndex: machine.kind(of: command), outcome: outcome, accepted: false)
            stream.statistics?.countStoppedCase()
            if stream.recordsTrace { stream.trace.append("\(machine.describe(command)) -> \(outcome) (the case ends here)") }
            if let problem = machine.close() {
                return .fail(CaseFailure(message: "after step \(steps), which ended the case: \(problem)", trace: stream.trace))
            }
            return .pass
        }
        if let problem = machine.checkInvariants() {
            return .fail(CaseFailure(message: "invariant broken after step \(steps): \(problem)", trace: stream.trace))
        }
    }
    if let problem = machine.finish() {
        return .fail(CaseFailure(message: "final check after \(steps) steps: \(problem)", trace: stream.trace))
    }
    return .pass
}
