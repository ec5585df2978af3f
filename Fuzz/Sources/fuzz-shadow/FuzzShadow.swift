import CLibFuzzer
import IOMMUConformance

/// libFuzzer entry for the Shadow surface (see fuzz-address-space).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShadow(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    FuzzEntry.run(.shadow, UnsafeRawBufferPointer(start: data, count: size))
}

@_cdecl("LLVMFuzzerCustomMutator")
public func mutateShadow(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    FuzzEntry.customMutate(.shadow, data, size, maxSize, seed) { LLVMFuzzerMutate($0, $1, $2) }
}

@_cdecl("LLVMFuzzerCustomCrossOver")
public func crossOverShadow(_ first: UnsafePointer<UInt8>, _ firstSize: Int, _ second: UnsafePointer<UInt8>, _ secondSize: Int,
                          _ out: UnsafeMutablePointer<UInt8>, _ maxSize: Int, _ seed: UInt32) -> Int {
    FuzzEntry.customCrossOver(.shadow, UnsafeRawBufferPointer(start: first, count: firstSize), UnsafeRawBufferPointer(start: second, count: secondSize), out, maxSize, seed)
}
