import IOMMUConformance

/// libFuzzer entry for the Shadow surface (see fuzz-address-space).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShadow(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    FuzzEntry.run(.shadow, UnsafeRawBufferPointer(start: data, count: size))
}
