import CLibFuzzer
import IOMMUConformance

/// libFuzzer entry: the bytes are a choice sequence; a disagreement with the model aborts, so
/// libFuzzer saves the input. `iommu-check replay` shrinks and prints it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAddressSpace(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    FuzzEntry.run(.addressSpace, UnsafeRawBufferPointer(start: data, count: size))
}

/// Mutations on the choice sequence, part of the time (`ChoiceMutator`; IOMMU_FUZZ_MUTATOR=bytes
/// turns them off).
@_cdecl("LLVMFuzzerCustomMutator")
public func mutateAddressSpace(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    FuzzEntry.customMutate(.addressSpace, data, size, maxSize, seed) { LLVMFuzzerMutate($0, $1, $2) }
}

@_cdecl("LLVMFuzzerCustomCrossOver")
public func crossOverAddressSpace(_ first: UnsafePointer<UInt8>, _ firstSize: Int, _ second: UnsafePointer<UInt8>, _ secondSize: Int,
                          _ out: UnsafeMutablePointer<UInt8>, _ maxSize: Int, _ seed: UInt32) -> Int {
    FuzzEntry.customCrossOver(.addressSpace, UnsafeRawBufferPointer(start: first, count: firstSize), UnsafeRawBufferPointer(start: second, count: secondSize), out, maxSize, seed)
}
