import CLibFuzzer
import IOMMUConformance
import IOMMUSpec

// One fuzz target: every Sources/fuzz-<surface>/ links this file, and Package.swift defines the
// surface it checks (FUZZ_<SURFACE>).
#if FUZZ_ADDRESS_SPACE
let surface = Surface.addressSpace
#elseif FUZZ_ISOLATION
let surface = Surface.isolation
#elseif FUZZ_SHADOW
let surface = Surface.shadow
#elseif FUZZ_PROTECTED_DMA
let surface = Surface.protectedDMA
#else
let surface = Surface.interrupts
#endif

/// The bytes are a choice sequence; a disagreement with the model aborts, so libFuzzer saves
/// the input (`iommu-check replay` shrinks and prints it).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    FuzzEntry.run(surface, UnsafeRawBufferPointer(start: data, count: size))
}

/// Mutations on the choice sequence, two times in three with IOMMU_FUZZ_MUTATOR=choices
/// (`ChoiceMutator`); libFuzzer's own otherwise.
@_cdecl("LLVMFuzzerCustomMutator")
public func mutate(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    FuzzEntry.customMutate(surface, data, size, maxSize, seed) { LLVMFuzzerMutate($0, $1, $2) }
}

@_cdecl("LLVMFuzzerCustomCrossOver")
public func crossOver(_ first: UnsafePointer<UInt8>, _ firstSize: Int, _ second: UnsafePointer<UInt8>, _ secondSize: Int,
                      _ out: UnsafeMutablePointer<UInt8>, _ maxSize: Int, _ seed: UInt32) -> Int {
    FuzzEntry.customCrossOver(surface, UnsafeRawBufferPointer(start: first, count: firstSize), UnsafeRawBufferPointer(start: second, count: secondSize), out, maxSize, seed)
}
