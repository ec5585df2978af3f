import Foundation
import IOMMUSpec
import PropertyCheck

/// The entry points libFuzzer targets call: bytes in, verdict out. The bytes are a choice
/// sequence in the corpus format, decoded by the same generators the property checks use, so a
/// crash file replays, shrinks and prints like any other failure.
public enum FuzzEntry {
    /// The implementation fuzz targets check, from `IOMMU_FUZZ_IMPLEMENTATION`: `optimized` (the
    /// default), `reference`, `mutant:NAME` (how fast libFuzzer finds a planted bug), or
    /// `plugin:PATH` (a plug-in, in the fuzzer's process, so its crash is the fuzzer's crash).
    /// Anything else ends the target with a message: a typo must not fuzz the built-in code.
    public static let implementation: ImplementationChoice = {
        let text = ProcessInfo.processInfo.environment["IOMMU_FUZZ_IMPLEMENTATION"] ?? "optimized"
        if text.hasPrefix("plugin:"), text.count > 7 { return .plugin(PluginReference(path: String(text.dropFirst(7)), workerExecutable: nil)) }
        if let choice = ImplementationChoice(parsing: text) { return choice }
        stop("IOMMU_FUZZ_IMPLEMENTATION='\(text)' is not reference, optimized, mutant:NAME or plugin:PATH")
    }()

    private static func stop(_ message: String) -> Never {
        FileHandle.standardError.write(Data("iommu-conformance: \(message)\n".utf8))
        exit(64)
    }

    /// The one command that replays a crash file of `surface` under this implementation.
    static func replayHint(_ surface: Surface) -> String {
        let target = switch implementation {
        case .plugin(let plugin): "--plugin \(plugin.path) --in-process"
        default: "--implementation \(implementation)"
        }
        return "swift run -c release iommu-check replay <crash file> --surface \(surface.rawValue) \(target)"
    }

    /// Each surface's check, built once per process: building it per input (plug-in load
    /// and all) cost more than the input.
    private static let checks: [Surface: Result<SurfaceCheck, ImplementationUnavailable>] = {
        AllocatorTuning.keepFreedMemory()
        var checks: [Surface: Result<SurfaceCheck, ImplementationUnavailable>] = [:]
        for surface in Surface.allCases {
            checks[surface] = Result { () throws(ImplementationUnavailable) in try SurfaceCheck.make(surface, implementation: implementation) }
        }
        return checks
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

    /// How a fuzz target mutates inputs, from `IOMMU_FUZZ_MUTATOR`: `bytes` (the default:
    /// libFuzzer's own mutations alone) or `choices` (`ChoiceMutator` two times in three,
    /// libFuzzer's otherwise). Measured against each other (docs/DETECTION.md), the choice
    /// mutations did not find the planted bugs sooner nor reach more coverage, so they are the
    /// option, not the default. Anything else ends the target.
    public enum Mutation: String, Sendable {
        case choices, bytes
    }

    public static let mutation: Mutation = {
        let text = ProcessInfo.processInfo.environment["IOMMU_FUZZ_MUTATOR"] ?? "bytes"
        guard let mutation = Mutation(rawValue: text) else { stop("IOMMU_FUZZ_MUTATOR='\(text)' is not choices or bytes") }
        return mutation
    }()

    /// `LLVMFuzzerCustomMutator`: `byteMutation` is libFuzzer's `LLVMFuzzerMutate`.
    public static func customMutate(_ surface: Surface, _ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32,
                                    byteMutation: (UnsafeMutablePointer<UInt8>, Int, Int) -> Int) -> Int {
        guard mutation == .choices, seed % 3 != 0,
              let mutated = ChoiceMutator.mutate(surface, Array(UnsafeBufferPointer(start: data, count: size)), maxSize: maxSize, seed: seed) else {
            return byteMutation(data, size, maxSize)
        }
        mutated.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: $0.count) }
        return mutated.count
    }

    /// `LLVMFuzzerCustomCrossOver`: the commands of one input, then another's; 0 (libFuzzer
    /// then uses its own cross-over) where there is nothing to splice or mutation is `bytes`.
    public static func customCrossOver(_ surface: Surface, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
                                       _ out: UnsafeMutablePointer<UInt8>, _ maxSize: Int, _ seed: UInt32) -> Int {
        guard mutation == .choices, let spliced = ChoiceMutator.crossOver(surface, Array(first), Array(second), maxSize: maxSize, seed: seed), !spliced.isEmpty else { return 0 }
        spliced.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
        return spliced.count
    }

    /// What a libFuzzer target does with one input: 0 when it conforms; on a disagreement,
    /// print it and abort so libFuzzer writes the crash file.
    public static func run(_ surface: Surface, _ data: UnsafeRawBufferPointer) -> CInt {
        let check: SurfaceCheck
        switch checks[surface] {
        case .success(let built)?: check = built
        case .failure(let error)?: stop("cannot fuzz \(surface) with \(implementation): \(error)")
        case nil: stop("no \(surface) check")
        }
        guard case .fail(let failure) = check.makeTestCase()(ChoiceStream(.bytes(Array(data)), maxChoices: maxChoices)) else { return 0 }
        let message = """
        iommu-conformance: \(surface) disagreement (\(implementation)):
          \(failure.message)
        shrink and print it with: \(replayHint(surface))

        """
        FileHandle.standardError.write(Data(message.utf8))
        abort()
    }
}
