import Foundation
import IOMMUSpec
import PropertyCheck

/// The entry points libFuzzer targets call: bytes in, verdict out. The bytes are a choice
/// sequence in the corpus format, decoded by the same generators the property checks use, so a
/// crash file replays, shrinks and prints like any other failure.
public enum FuzzEntry {
    /// The implementation fuzz targets check, from `IOMMU_FUZZ_IMPLEMENTATION`
    /// (`optimized` by default; `mutant:NAME` measures how fast libFuzzer finds a planted bug).
    public static let implementation: ImplementationChoice = {
        let text = ProcessInfo.processInfo.environment["IOMMU_FUZZ_IMPLEMENTATION"] ?? "optimized"
        return ImplementationChoice(parsing: text) ?? .optimized
    }()

    /// Most choices one fuzz input may draw; keeps every input well under a millisecond.
    static let maxChoices = 20_000

    /// One differential case of `surface` decoded from `bytes`.
    public static func verdict(_ surface: Surface, _ bytes: [UInt8], implementation: ImplementationChoice = implementation) -> CaseVerdict {
        do {
            let check = try SurfaceCheck.make(surface, implementation: implementation)
            return check.makeTestCase()(ChoiceStream(.bytes(bytes), maxChoices: maxChoices))
        } catch {
            return .fail(CaseFailure(message: "\(error)"))
        }
    }

    /// One AddressSpace differential case decoded from `bytes`.
    public static func addressSpace(_ bytes: [UInt8], implementation: ImplementationChoice = implementation) -> CaseVerdict {
        verdict(.addressSpace, bytes, implementation: implementation)
    }

    /// What a libFuzzer target does with one input: 0 when it conforms; on a disagreement,
    /// print it and abort so libFuzzer writes the crash file.
    public static func run(_ surface: Surface, _ data: UnsafeRawBufferPointer) -> CInt {
        guard case .fail(let failure) = verdict(surface, Array(data)) else { return 0 }
        let message = """
        iommu-conformance: \(surface) disagreement (\(implementation)):
          \(failure.message)
        shrink and print it with: swift run -c release iommu-check replay <crash file>

        """
        FileHandle.standardError.write(Data(message.utf8))
        abort()
    }
}
