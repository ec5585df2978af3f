import IOMMUReference
import IOMMUSpec

/// Judges an implementation's outcome for one operation against the reference model, then
/// applies the operation to the model the way the implementation took it:
/// - the documented outcome (or an alternative the policy allows) conforms, and its change is made;
/// - a failure conforms if its error is one the model says applies (real interfaces test their
///   rules in different orders), and the failure's change (if any) is made;
/// - where the sources leave the answer open (`Decision.unspecified`), any error conforms, and
///   nothing changes.
/// Byte counts are compared only where the interface reports them (`ByteReport`).
public struct AddressSpaceJudge {
    public let model: AddressSpaceModel
    /// Whether the implementation says why an access faulted (`AddressSpaceObservables.faultReasons`).
    public var faultReasons = true

    public init(configuration: AddressSpaceConfiguration) {
        model = AddressSpaceModel(configuration: configuration)
    }

    public struct Verdict {
        /// The model's documented outcome.
        public var expected: AddressSpaceOutcome
        /// What is wrong with the implementation's outcome, if anything.
        public var problem: String?
        /// Why the answer was open, if it was (statistics count these).
        public var unspecified: String?
        /// The implementation accepted the request but could not carry it out
        /// (`AddressSpaceError.unobservable`), and the model accepts it too: the case ends here.
        public var stops = false

        init(expected: AddressSpaceOutcome, problem: String? = nil, unspecified: String? = nil) {
            self.expected = expected
            self.problem = problem
            self.unspecified = unspecified
        }
    }

    public func judge(_ operation: AddressSpaceOperation, actual: AddressSpaceOutcome) -> Verdict {
        if case .translate(let iova, let access) = operation {
            return Verdict(expected: model.translation(iova, access).outcome, problem: translationProblem(iova, access, actual: actual))
        }
        let decision = model.decide(operation)
        var verdict = Verdict(expected: decision.outcome, unspecified: decision.unspecified)
        if actual.error == .unobservable {
            // The interface passed every check, so its answer was success: the model must accept
            // the map too (where the answer is open, an error conforms, success still does not).
            verdict.stops = decision.outcome == .mapped || decision.alternative == .mapped
            if case .map = operation {} else {
                verdict.stops = false
                verdict.problem = "the implementation says unobservable, which only a map may answer (the model says \(decision.outcome))"
            }
            if !verdict.stops && verdict.problem == nil {
                verdict.problem = "the model says \(decision.outcome), the implementation accepted the request (it could not carry it out: unobservable)"
            }
            return verdict
        }
        let observed = reported(actual)
        if reported(decision.outcome) == observed || decision.alternative.map(reported) == observed {
            model.commit(decision)
            return verdict
        }
        if let error = actual.error, decision.errors.contains(error), sameBytes(decision.outcome, actual) {
            model.commit(decision)
            return verdict
        }
        if actual.error != nil, decision.unspecified != nil { return verdict }
        let applicable = decision.errors.isEmpty ? "" : " (applicable: \(decision.errors.map(\.rawValue).joined(separator: ", ")))"
        let also = decision.alternative.map { " (or \($0))" } ?? ""
        verdict.problem = "the model says \(decision.outcome)\(applicable)\(also), the implementation says \(actual)"
        return verdict
    }

    /// The hot path: a translation changes nothing and has at most one alternative. Where
    /// `faultReasons` is false (the implementation cannot say why an access faulted), any
    /// fault agrees with any expected fault.
    public func translationProblem(_ iova: UInt64, _ access: Access, actual: AddressSpaceOutcome) -> String? {
        let (expected, alternative) = model.translation(iova, access)
        if Self.sameTranslation(actual, expected) || alternative.map({ Self.sameTranslation(actual, $0) }) == true { return nil }
        if !faultReasons, case .faulted = actual, Self.isFault(expected) || alternative.map(Self.isFault) == true { return nil }
        let also = alternative.map { " (or \($0))" } ?? ""
        return "the model says \(expected)\(also), the implementation says \(actual)"
    }

    /// Equality of translation outcomes without the derived `==`, which is not specialized
    /// across modules.
    private static func sameTranslation(_ a: AddressSpaceOutcome, _ b: AddressSpaceOutcome) -> Bool {
        switch (a, b) {
        case (.translated(let x), .translated(let y)): x == y
        case (.faulted(let x), .faulted(let y)): x == y
        default: false
        }
    }

    private static func isFault(_ outcome: AddressSpaceOutcome) -> Bool {
        if case .faulted = outcome { return true }
        return false
    }

    /// The outcome as the interface reports it: bytes the policy never reports are dropped.
    private func reported(_ outcome: AddressSpaceOutcome) -> AddressSpaceOutcome {
        switch (outcome, model.configuration.policy.bytes) {
        case (.unmapped, .notReported): .unmapped(bytes: 0)
        case (.partlyUnmapped(let error, _), .notReported), (.partlyUnmapped(let error, _), .onSuccess): .failed(error)
        default: outcome
        }
    }

    /// Whether two failures report the same bytes, where failures report them at all.
    private func sameBytes(_ expected: AddressSpaceOutcome, _ actual: AddressSpaceOutcome) -> Bool {
        guard model.configuration.policy.bytes == .evenOnFailure else { return true }
        return Self.failureBytes(expected) == Self.failureBytes(actual)
    }

    private static func failureBytes(_ outcome: AddressSpaceOutcome) -> UInt64 {
        if case .partlyUnmapped(_, let bytes) = outcome { return bytes }
        return 0
    }
}
