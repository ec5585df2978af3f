import IOMMUReference
import IOMMUSpec
import PropertyCheck

/// The differential runner: one implementation in lockstep with the reference model.
/// Every operation's outcome is judged; after every operation that may change state, the
/// extents around its range are compared and the pages at its edges (and recently touched
/// pages) are translated on both sides; at the end of a case the whole extent lists are compared.
struct AddressSpaceMachine: StateMachine {
    typealias Command = AddressSpaceOperation
    static let commandKinds = AddressSpaceGenerator.kinds
    /// map: without it there is nothing to unmap or translate.
    static let foundationalKinds = [0]

    let judge: AddressSpaceJudge
    let implementation: any AddressSpace
    /// A plug-in's contract violations, asked after every step.
    let foreign: ForeignFailures
    var generator: AddressSpaceGenerator
    private let page: UInt64
    /// Called with every operation and the outcome the implementation gave (run --emit-trace).
    var record: ((AddressSpaceOperation, AddressSpaceOutcome) -> Void)?

    init(configuration: AddressSpaceConfiguration, implementation: any AddressSpace) {
        judge = AddressSpaceJudge(configuration: configuration)
        self.implementation = implementation
        foreign = ForeignFailures(implementation)
        generator = AddressSpaceGenerator(configuration: configuration)
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
        let actual = operation.apply(to: implementation)
        if let failure = foreign.take() { return .disagreed(message: "\(operation): \(failure)") }
        record?(operation, actual)
        let (expected, problem) = judge.judge(operation, actual: actual)
        if let problem { return .disagreed(message: "\(operation): \(problem)") }
        if operation.isMutating, let problem = compareState(around: operation) ?? foreign.take() {
            return .disagreed(message: "after \(operation) -> \(expected): \(problem)")
        }
        generator.note(operation)
        return .agreed(outcome: expected.label, accepted: expected.isSuccess)
    }

    /// Extents in the operation's range widened by a page, and translations at its edges.
    private func compareState(around operation: AddressSpaceOperation) -> String? {
        guard let range = operation.range else { return nil }
        let low = range.lowerBound >= page ? range.lowerBound - page : 0
        let high = range.upperBound <= UInt64.max - page ? range.upperBound + page : .max
        let expected = model.mappings(in: low...high), actual = implementation.mappings(in: low...high)
        if expected != actual {
            return "mappings in [\(hex(low)), \(hex(high))]: model \(expected), implementation \(actual)"
        }
        let mask = ~(page - 1)
        for address in [low, range.lowerBound & mask, range.upperBound & mask, high & mask] {
            for access in Access.allCases {
                if let problem = compareTranslation(address, access) { return problem }
            }
        }
        for address in generator.recent {
            if let problem = compareTranslation(address, .read) { return problem }
        }
        return nil
    }

    private func compareTranslation(_ address: UInt64, _ access: Access) -> String? {
        let expected = model.translate(iova: address, access: access)
        let actual = implementation.translate(iova: address, access: access)
        if Self.same(expected, actual) { return nil }
        // The probe that exposed it goes into an emitted trace, so 'verify' sees it.
        switch actual {
        case .success(let phys): record?(.translate(iova: address, access: access), .translated(phys: phys))
        case .failure(let fault): record?(.translate(iova: address, access: access), .faulted(fault))
        }
        return "translate(\(hex(address)), \(access)): model \(Self.text(expected)), implementation \(Self.text(actual))"
    }

    /// Compares without `Result`'s generic `==`, which is not specialized across modules.
    private static func same(_ a: Result<UInt64, TranslationFault>, _ b: Result<UInt64, TranslationFault>) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)): x == y
        case (.failure(let x), .failure(let y)): x == y
        default: false
        }
    }

    private static func text(_ result: Result<UInt64, TranslationFault>) -> String {
        switch result {
        case .success(let phys): hex(phys)
        case .failure(let fault): "fault \(fault)"
        }
    }

    mutating func finish() -> String? {
        let expected = model.extents, actual = implementation.mappings(in: 0...UInt64.max)
        if let failure = foreign.take() { return failure }
        guard expected != actual else { return nil }
        return "final extents differ: model \(expected), implementation \(actual)"
    }

    func describe(_ command: AddressSpaceOperation) -> String { command.description }
}
