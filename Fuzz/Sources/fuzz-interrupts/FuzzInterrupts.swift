import IOMMUConformance

/// libFuzzer entry for the Interrupts surface (see fuzz-address-space).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzInterrupts(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    FuzzEntry.run(.interrupts, UnsafeRawBufferPointer(start: data, count: size))
}
