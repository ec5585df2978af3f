#if canImport(Glibc)
import Glibc
#endif

/// Pins the calling thread, and so every worker process it starts afterwards (affinity is
/// inherited), to the CPU it is running on now. A worker call is a strict ping-pong; on two
/// cores, waking the other process across cores costs ten times a same-core switch, so
/// pinning both ends to one CPU is 6x faster (docs/PLUGINS.md has the figures).
/// Returns false, changing nothing, where the system refuses or has no CPU affinity (Darwin).
@discardableResult
public func pinToCurrentCPU() -> Bool {
    #if canImport(Glibc)
    // glibc declares these two only under _GNU_SOURCE, which Swift's Glibc module does not
    // define; look them up instead.
    typealias GetCPU = @convention(c) () -> Int32
    typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32
    let process = UnsafeMutableRawPointer(bitPattern: 0)
    guard let getSymbol = dlsym(process, "sched_getcpu"), let setSymbol = dlsym(process, "sched_setaffinity") else { return false }
    let cpu = Int(unsafeBitCast(getSymbol, to: GetCPU.self)())
    guard cpu >= 0, cpu < MemoryLayout<cpu_set_t>.size * 8 else { return false }
    var set = cpu_set_t()
    withUnsafeMutableBytes(of: &set) { $0[cpu / 8] |= UInt8(1 << (cpu % 8)) }
    return withUnsafeBytes(of: &set) { unsafeBitCast(setSymbol, to: SetAffinity.self)(0, $0.count, $0.baseAddress!) } == 0
    #else
    return false
    #endif
}
