import CLibFuzzer
import IOMMUConformance

/// libFuzzer entry for the Interrupts surface (see fuzz-address-space).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzInterrupts(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    FuzzEntry.run(.interrupts, UnsafeRawBufferPointer(start: data, count: size))
}

@_cdecl("LLVMFuzzerCustomMutator")
public func mutateInterrupts(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    FuzzEntry.customMutate(.interrupts, data, size, maxSize, seed) { LLVMFuzzerMutate($0, $1, $2) }
}

@_cdecl("LLVMFuzzerCustomCrossOver")
public func crossOverInterrupts(_ first: UnsafePointer<UInt8>, _ firstSize: Int, _ second: UnsafePointer<UInt8>, _ secondSize: Int,
                          _ out: UnsafeMutablePointer<UInt8>, _ maxSize: Int, _ seed: UInt32) -> Int {
    FuzzEntry.customCrossOver(.interrupts, UnsafeRawBufferPointer(start: first, count: firstSize), UnsafeRawBufferPointer(start: second, count: secondSize), out, maxSize, seed)
}
