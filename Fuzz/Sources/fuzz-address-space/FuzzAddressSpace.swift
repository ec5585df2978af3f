import IOMMUConformance

/// libFuzzer entry: the bytes are a choice sequence; a disagreement with the model aborts, so
/// libFuzzer saves the input. `iommu-check replay` shrinks and prints it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAddressSpace(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    FuzzEntry.run(.addressSpace, UnsafeRawBufferPointer(start: data, count: size))
}
