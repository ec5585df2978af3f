import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// The differential runner: one implementation in lockstep with the reference model.
/// Every operation's outcome is judged; after every operation that may change state, the
/// extents around its range are compared and the pages at its edges (and recently touched
/// pages) are translated on both sides; at the end of a case the whole extent lists are compared.
struct AddressSpaceMachine: DifferentialMachine {
    typealias Command = AddressSpaceOperation
    static let commandKinds = AddressSpaceGenerator.kinds
    /// map: without it there is nothing to unmap or translate.
    static let foundationalKinds = [0]

    private(set) var judge: AddressSpaceJudge
    let implementation: any AddressSpace
    /// The user's own invariant of the implementation (`AddressSpaceCheck.invariant`).
    var invariant: ((any AddressSpace) -> String?)?
    /// A plug-in's contract violations, asked after every step.
    let foreign: ForeignFailures
    /// Asked once per case: a worker answers all of a comparison's probes in one round trip.
    private let batches: Bool
    /// What the implementation can show: without mappings, translations alone are compared.
    private let observable: AddressSpaceObservables
    var generator: AddressSpaceGenerator
    private let page: UInt64
    /// Called with every operation and the outcome the implementation gave (run --emit-trace).
    var record: ((AddressSpaceOperation, AddressSpaceOutcome) -> Void)?

    mutating func record(into recorder: TraceRecorder<AddressSpaceTrace>) {
        recorder.trace?.faultReasons = implementation.observable.contains(.faultReasons)
        record = { operation, outcome in recorder.trace?.steps.append(.init(line: 0, operation: operation, outcome: outcome)) }
    }

    init(configuration: AddressSpaceConfiguration, implementation: any AddressSpace, unmapAllArguments: Bool = true) {
        judge = AddressSpaceJudge(configuration: configuration)
        self.implementation = implementation
        foreign = ForeignFailures(implementation)
        batches = implementation.batchesTranslations
        observable = implementation.observable
        judge.faultReasons = observable.contains(.faultReasons)
        generator = AddressSpaceGenerator(configuration: configuration, unmapAllArguments: unmapAllArguments)
        page = configuration.pageSize
    }

    var model: AddressSpaceModel { judge.model }

    mutating func drawCommand(_ stream: ChoiceStream, enabled: KindSet) -> AddressSpaceOperation {
        generator.draw(stream, enabled: enabled, model: model)
    }

    func kind(of command: AddressSpaceOperation) -> Int {
        switch command {
        case .map: 0
        case .unmap: 1
        case .unmapAll: 2
        case .translate: 3
        }
    }

    mutating func step(_ operation: AddressSpaceOperation) -> StepResult {
        if batches, operation.isMutating, let plan = comparisonPlan(around: operation) {
            implementation.expectComparison(mappings: observable.contains(.mappings) ? plan.range : nil, translations: probes(at: plan.edges))
        }
        let actual = operation.apply(to: implementation)
        if let failure = foreign.take() { return .disagreed(message: "\(operation): \(failure)") }
        record?(operation, actual)
        let verdict = judge.judge(operation, actual: actual)
        if let problem = verdict.problem { return .disagreed(message: "\(operation): \(problem)") }
        if verdict.stops { return .stopped(outcome: actual.label) }
        if operation.isMutating, let problem = compareState(around: operation) {
            // A worker that died during the probes answered nothing: name that, not the invented answer.
            return .disagreed(message: "after \(operation) -> \(actual): \(foreign.take() ?? problem)")
        }
        generator.note(operation)
        // Requests whose answer the sources leave open are counted apart: a run made of them checks little.
        let label = verdict.unspecified == nil ? actual.label : "unspecified \(actual.label)"
        return .agreed(outcome: label, accepted: actual.isSuccess)
    }

    /// The range whose extents are compared after `operation` (its own widened by a page), and
    /// the edges translated then.
    private func comparisonPlan(around operation: AddressSpaceOperation) -> (range: ClosedRange<UInt64>, edges: [UInt64])? {
        guard let range = operation.range else { return nil }
        let low = range.lowerBound >= page ? range.lowerBound - page : 0
        let high = range.upperBound <= UInt64.max - page ? range.upperBound + page : .max
        let mask = ~(page - 1)
        return (low...high, [low, range.lowerBound & mask, range.upperBound & mask, high & mask])
    }

    /// The edges for both accesses, then recent addresses read: one batch of probes.
    private func probes(at edges: [UInt64]) -> [(iova: UInt64, access: Access)] {
        edges.flatMap { address in Access.allCases.map { (iova: address, access: $0) } } + generator.recent.map { (iova: $0, access: Access.read) }
    }

    /// Extents in the operation's range widened by a page, and translations at its edges.
    private func compareState(around operation: AddressSpaceOperation) -> String? {
        guard let plan = comparisonPlan(around: operation) else { return nil }
        if observable.contains(.mappings), let problem = compareMappings(in: plan.range) { return problem }
        if batches {
            // One round trip for every probe (none, when they came with the operation); judged
            // in the same order as one at a time.
            return compareTranslations(probes(at: plan.edges))
        }
        for address in plan.edges {
            for access in Access.allCases {
                if let problem = compareTranslation(address, access) { return problem }
            }
        }
        for address in generator.recent {
            if let problem = compareTranslation(address, .read) { return problem }
        }
        return nil
    }

    private func compareTranslations(_ probes: [(iova: UInt64, access: Access)]) -> String? {
        for (probe, answer) in zip(probes, implementation.translations(probes)) {
            if let problem = compareTranslation(probe.iova, probe.access, answer: answer) { return problem }
        }
        return nil
    }

    private func compareMappings(in range: ClosedRange<UInt64>) -> String? {
        let expected = model.mappings(in: range), actual = implementation.mappings(in: range)
        if expected != actual {
            // A translation where the lists differ, so an emitted trace shows the difference too.
            for extent in Set(expected).symmetricDifference(actual).sorted(by: { $0.iova < $1.iova }) {
                if compareTranslation(extent.iova, .read) != nil || compareTranslation(extent.iova, .write) != nil { break }
            }
            return "mappings in [\(hex(range.lowerBound)), \(hex(range.upperBound))]: model \(expected), implementation \(actual)"
        }
        return nil
    }

    private func compareTranslation(_ address: UInt64, _ access: Access, answer: Result<UInt64, TranslationFault>? = nil) -> String? {
        // The hottest call of a campaign: the existential is called directly, not through the
        // generic `apply`, which is not specialized for `any AddressSpace`.
        let actual: AddressSpaceOutcome = switch answer ?? implementation.translate(iova: address, access: access) {
        case .success(let phys): .translated(phys: phys)
        case .failure(let fault): .faulted(fault)
        }
        guard let problem = judge.translationProblem(address, access, actual: actual) else { return nil }
        if foreign.pending { return "the answer to a probe was not the plug-in's" }
        let operation = AddressSpaceOperation.translate(iova: address, access: access)
        // The probe that exposed it goes into an emitted trace, so 'verify' sees it.
        record?(operation, actual)
        return "\(operation): \(problem)"
    }

    mutating func finish() -> String? {
        guard observable.contains(.mappings) else {
            // No list to compare: the first and last page of every mapping the model holds
            // (the first 256), read and written, must translate as the model says.
            let probes = model.extents.prefix(256).flatMap { extent in
                [extent.iova, extent.last & ~(page - 1)].flatMap { address in Access.allCases.map { (iova: address, access: $0) } }
            }
            if let problem = compareTranslations(probes) { return "at the end of the case, \(foreign.take() ?? problem)" }
            return foreign.take() ?? foreign.close()
        }
        let expected = model.extents, actual = implementation.mappings(in: 0...UInt64.max)
        if let failure = foreign.take() { return failure }
        guard !expected.elementsEqual(actual) else { return foreign.close() }
        return "final extents differ: model \(expected), implementation \(actual)"
    }

    /// A stopped case ends the plug-in's object now: a destroy that crashes fails it.
    mutating func close() -> String? { foreign.take() ?? foreign.close() }

    func checkInvariants() -> String? { invariant?(implementation) }

    func describe(_ command: AddressSpaceOperation) -> String { command.description }
}
