import IOMMUConformance

/// libFuzzer entry for the Isolation surface (see fuzz-address-space).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIsolation(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    FuzzEntry.run(.isolation, UnsafeRawBufferPointer(start: data, count: size))
}
