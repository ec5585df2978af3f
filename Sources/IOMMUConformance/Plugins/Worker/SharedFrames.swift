import CWorkerSync
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Memory the checker and one worker both map: one frame slot per direction. A frame that fits
/// is written into its slot and published by bumping the slot's sequence number. The receiver
/// spins on that number for a few microseconds before it sleeps on the pipe, and the sender
/// wakes it with a one-word frame on the pipe only when it sleeps. A round trip that finds the
/// other side awake costs no system call; over the pipe it costs five, and two context switches.
/// Frames too large for a slot, and wake-ups, go over the pipe, which also still tells when the
/// worker is gone.
final class SharedFrames {
    static let slotBytes = 1 << 20
    /// After the two slots: the word the worker sets once it mapped the region.
    private static let controlOffset = 2 * slotBytes
    private static let size = 2 * slotBytes + 4096
    private static let ready: UInt64 = 0x696f_6d6d_7573_6872 // "iommushr"

    let path: String
    private let base: UnsafeMutableRawPointer

    private init(path: String, base: UnsafeMutableRawPointer) {
        self.path = path
        self.base = base
    }

    deinit { munmap(base, Self.size) }

    /// A new region in /dev/shm, for the checker; nil where that fails, as it does where there
    /// is no /dev/shm (frames then all go over the pipe).
    static func create() -> SharedFrames? {
        var template = Array("/dev/shm/iommu-check-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { return nil }
        let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(size)) == 0, let base = map(descriptor) else {
            unlink(path)
            return nil
        }
        return SharedFrames(path: path, base: base)
    }

    /// The checker's region, for the worker; marks it as mapped.
    static func attach(path: String) -> SharedFrames? {
        let descriptor = systemOpen(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_size == off_t(size), let base = map(descriptor) else { return nil }
        let frames = SharedFrames(path: path, base: base)
        worker_sync_store(frames.control, ready)
        return frames
    }

    private static func map(_ descriptor: Int32) -> UnsafeMutableRawPointer? {
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), base != MAP_FAILED else { return nil }
        return base
    }

    private var control: UnsafeMutablePointer<UInt64> { (base + Self.controlOffset).assumingMemoryBound(to: UInt64.self) }

    /// Whether the worker mapped the region (asked once its hello arrived).
    var workerMapped: Bool { worker_sync_load(control) == Self.ready }

    /// The slot frames travel in from the checker to the worker, or back.
    func slot(toWorker: Bool) -> SharedSlot { SharedSlot(base: base + (toWorker ? 0 : Self.slotBytes)) }

    /// Removes the name; the mappings stay until both sides unmap.
    func unlinkName() { unlink(path) }
}

/// One direction's slot: a sequence number, the receiver's "asleep on the pipe" flag, the frame's
/// byte count, each on its own cache line, then the frame.
struct SharedSlot {
    let base: UnsafeMutableRawPointer

    var sequence: UnsafeMutablePointer<UInt64> { base.assumingMemoryBound(to: UInt64.self) }
    var sleeping: UnsafeMutablePointer<UInt64> { (base + 64).assumingMemoryBound(to: UInt64.self) }
    var length: UnsafeMutablePointer<UInt64> { (base + 128).assumingMemoryBound(to: UInt64.self) }
    var data: UnsafeMutableRawPointer { base + 256 }
    var capacity: Int { SharedFrames.slotBytes - 256 }
}

/// How long a receiver spins on its slot before it sleeps on the pipe. A sleeping receiver on
/// another CPU takes tens of microseconds to wake here (an idle virtual CPU halts), so one
/// checker thread and its worker spin, on two CPUs, for up to a millisecond. With more jobs
/// than that, or one CPU, spinning takes the CPU the sender needs: nobody spins, and a lone
/// job shares one CPU with its worker instead (pinToCurrentCPU). IOMMU_CHECK_WORKER_SPIN_US
/// overrides the choice; a worker spins as its checker tells it.
public enum WorkerRoundTrips {
    nonisolated(unsafe) public private(set) static var spinNanoseconds: UInt64 = fromEnvironment ?? 0

    private static var fromEnvironment: UInt64? {
        guard let text = getenv("IOMMU_CHECK_WORKER_SPIN_US").map({ String(cString: $0) }), let micros = UInt64(text) else { return nil }
        return min(micros, 1_000_000) * 1000
    }

    /// Chooses for a checker that runs `jobs` workers at once; call before the first starts.
    public static func configure(jobs: Int) {
        guard fromEnvironment == nil else { return }
        spinNanoseconds = jobs == 1 && sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1 ? 1_000_000 : 0
    }

    /// The worker's side: spin as the checker does.
    static func configure(spinMicroseconds: UInt64) { spinNanoseconds = min(spinMicroseconds, 1_000_000) * 1000 }

    /// Whether a lone checker thread should share its CPU with its worker.
    public static var wantOneCPU: Bool { spinNanoseconds == 0 }
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
