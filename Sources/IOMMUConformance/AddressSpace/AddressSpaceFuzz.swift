import Foundation
import PropertyCheck

/// The entry points libFuzzer targets call: bytes in, verdict out. The bytes are a choice
/// sequence in the corpus format, decoded by the same generators the property checks use, so a
/// crash file replays, shrinks and prints like any other failure (`iommu-check replay FILE`).
public enum FuzzEntry {
    /// The implementation fuzz targets check, from `IOMMU_FUZZ_IMPLEMENTATION`
    /// (`optimized` by default; `mutant:NAME` measures how fast libFuzzer finds a planted bug).
    public static let implementation: ImplementationChoice = {
        let text = ProcessInfo.processInfo.environment["IOMMU_FUZZ_IMPLEMENTATION"] ?? "optimized"
        return ImplementationChoice(parsing: text) ?? .optimized
    }()

    /// One AddressSpace differential case decoded from `bytes`.
    public static func addressSpace(_ bytes: [UInt8], implementation: ImplementationChoice = implementation) -> CaseVerdict {
        guard let check = try? AddressSpaceCheck(implementation: implementation) else {
            return .fail(CaseFailure(message: "unknown implementation \(implementation)"))
        }
        return check.testCase()(ChoiceStream(.bytes(bytes), maxChoices: 20_000))
    }
}
