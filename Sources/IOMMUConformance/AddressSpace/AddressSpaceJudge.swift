import IOMMUReference
import IOMMUSpec

/// Judges an implementation's outcome for one operation against the reference model, then
/// applies the operation to the model. A success must equal the model's exactly; a failure
/// must name an error the model says applies (real interfaces test their rules in different
/// orders, so any applicable error conforms).
public struct AddressSpaceJudge {
    public let model: AddressSpaceModel

    public init(configuration: AddressSpaceConfiguration) {
        model = AddressSpaceModel(configuration: configuration)
    }

    /// The model's outcome, and what is wrong with `actual`, if anything.
    public func judge(_ operation: AddressSpaceOperation, actual: AddressSpaceOutcome) -> (expected: AddressSpaceOutcome, problem: String?) {
        let expected = operation.apply(to: model)
        if expected == actual { return (expected, nil) }
        if case .failed = expected, case .failed(let error) = actual {
            // A failed operation left the model unchanged, so its rules can be re-asked now.
            let applicable = violations(of: operation)
            if applicable.contains(error) { return (expected, nil) }
            let listed = applicable.map(\.rawValue).joined(separator: ", ")
            return (expected, "the model says \(expected) (applicable: \(listed)), the implementation says \(actual)")
        }
        return (expected, "the model says \(expected), the implementation says \(actual)")
    }

    private func violations(of operation: AddressSpaceOperation) -> [AddressSpaceError] {
        switch operation {
        case .map(let iova, let length, let phys, let permissions):
            model.mapViolations(iova: iova, length: length, phys: phys, permissions: permissions)
        case .unmap(let iova, let length):
            model.unmapViolations(iova: iova, length: length)
        case .unmapAll, .translate:
            []
        }
    }
}
