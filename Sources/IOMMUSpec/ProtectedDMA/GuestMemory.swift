/// The simulated memory of a protected guest, owned by the checker. The layer under test reaches
/// it only through `GuestMemoryInterface`, and every call is judged: the layer may read the
/// driver's private memory only inside the buffer it is mapping or syncing for the device, and
/// write it only inside the buffer it is unmapping or syncing for the CPU (swiotlb_bounce copies
/// exactly the mapping's bytes), and may share only pages of its coherent area. The device
/// reaches only shared pages: the pool, and coherent pages the layer shared.
public final class GuestMemory: GuestMemoryInterface {
    public let configuration: ProtectedDMAConfiguration
    public private(set) var buffers: [UInt8]
    public private(set) var coherent: [UInt8]
    public private(set) var pool: [UInt8]
    /// Per page of the coherent area: shared with the host.
    public private(set) var sharedPages: [Bool]

    /// The driver memory the current call may read (a map's or a sync for device's buffer).
    public var readable: Range<UInt64>?
    /// The driver memory the current call may write (an unmap's or a sync for CPU's buffer).
    public var writable: Range<UInt64>?
    /// The first rule a call broke, in words.
    public private(set) var violation: String?
    /// Calls that changed memory or sharing (a failed map must make none).
    public private(set) var changes = 0
    /// Calls so far. An injection `after: k` runs once the layer has made k calls within the
    /// call it was scheduled in, as its next call begins (0: before its first).
    public private(set) var calls = 0
    private var pending: [(after: Int, run: () -> Void)] = []
    /// When set, every store is noted here (a worker's copy tells the checker what changed).
    public var journal: [(region: Region, offset: Int, count: Int)]?

    public init(configuration: ProtectedDMAConfiguration) {
        self.configuration = configuration
        buffers = Array(repeating: 0, count: Int(configuration.bufferBytes))
        coherent = Array(repeating: 0, count: Int(configuration.coherentBytes))
        pool = Array(repeating: 0, count: Int(configuration.poolBytes))
        sharedPages = Array(repeating: false, count: configuration.coherentPages)
    }

    public enum Region: Int, Sendable, CaseIterable { case buffers, coherent, pool }

    /// The region holding all of `address ..< address + count`, and the offset in it.
    public func locate(_ address: UInt64, count: Int) -> (region: Region, offset: Int)? {
        let c = configuration, count = UInt64(count)
        for (region, base, size) in [(Region.buffers, ProtectedDMAConfiguration.bufferBase, c.bufferBytes),
                                     (.coherent, ProtectedDMAConfiguration.coherentBase, c.coherentBytes),
                                     (.pool, ProtectedDMAConfiguration.poolBase, c.poolBytes)]
        where address >= base && address - base <= size && count <= size - (address - base) {
            return (region, Int(address - base))
        }
        return nil
    }

    /// Whether the device can reach all of the range: it lies in the pool or in shared
    /// coherent pages.
    public func reachable(_ address: UInt64, count: Int) -> Bool {
        guard let (region, offset) = locate(address, count: count) else { return false }
        switch region {
        case .pool: return true
        case .buffers: return false
        case .coherent:
            guard count > 0 else { return true }
            let page = Int(ProtectedDMAConfiguration.pageSize)
            return (offset / page...(offset + count - 1) / page).allSatisfy { sharedPages[$0] }
        }
    }

    /// Runs `body` (one call of the layer) with events injected after the memory calls they name;
    /// those past its last call run after it.
    public func during(_ injections: [(after: Int, run: () -> Void)], _ body: () -> Void) {
        let outer = (pending, calls)
        calls = 0
        pending = injections.enumerated().sorted { ($0.element.after, $0.offset) < ($1.element.after, $1.offset) }.map(\.element)
        body()
        let rest = pending
        pending = []
        for injection in rest { isolated(injection.run) }
        (pending, calls) = outer
    }

    /// A call of the layer begins: what was scheduled before it runs first.
    private func arrive() {
        while let next = pending.first, next.after <= calls {
            pending.removeFirst()
            isolated(next.run)
        }
        calls += 1
    }

    /// Runs an injected event as its own call: judged under its own scope, its changes not the
    /// interrupted call's, its own calls not counted in that call's.
    private func isolated(_ run: () -> Void) {
        let saved = (readable, writable, changes, pending, calls)
        pending = []
        run()
        (readable, writable, changes, pending, calls) = saved
    }

    private func broke(_ rule: String) {
        if violation == nil { violation = rule }
    }

    private func describe(_ address: UInt64, _ count: Int) -> String { "\(hex(address))+\(count)" }

    /// Checks a range the layer touches: inside guest memory, and inside `allowed` where it is
    /// the driver's private memory.
    private func check(_ address: UInt64, _ count: Int, _ allowed: Range<UInt64>?, _ what: String, _ call: String) -> (Region, Int)? {
        guard let (region, offset) = locate(address, count: count) else {
            broke("\(call) \(describe(address, count)): outside guest memory (\(configuration))")
            return nil
        }
        if region == .buffers, count > 0 {
            guard let allowed, address >= allowed.lowerBound, address + UInt64(count) <= allowed.upperBound else {
                let range = allowed.map { " (this call may \(what) \(hex($0.lowerBound))..<\(hex($0.upperBound)) only)" } ?? " (this call may \(what) none)"
                broke("\(call) \(describe(address, count)): the layer \(what == "read" ? "read" : "wrote") the driver's private memory outside the buffer the call is about\(range)")
                return nil
            }
        }
        return (region, offset)
    }

    private func bytes(_ region: Region, _ offset: Int, _ count: Int) -> ArraySlice<UInt8> {
        switch region {
        case .buffers: buffers[offset..<offset + count]
        case .coherent: coherent[offset..<offset + count]
        case .pool: pool[offset..<offset + count]
        }
    }

    private func store(_ region: Region, _ offset: Int, _ bytes: some Collection<UInt8>) {
        journal?.append((region, offset, bytes.count))
        switch region {
        case .buffers: buffers.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        case .coherent: coherent.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        case .pool: pool.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        }
    }

    // The layer's calls.

    public func read(_ address: UInt64, count: Int) -> [UInt8] {
        arrive()
        guard count >= 0, let (region, offset) = check(address, count, readable, "read", "read") else { return [] }
        return Array(bytes(region, offset, count))
    }

    public func write(_ address: UInt64, _ data: [UInt8]) {
        arrive()
        guard let (region, offset) = check(address, data.count, writable, "write", "write") else { return }
        changes += 1
        store(region, offset, data)
    }

    public func copy(to destination: UInt64, from source: UInt64, count: Int) {
        arrive()
        guard count >= 0, let (from, fromOffset) = check(source, count, readable, "read", "copy from"),
              let (to, toOffset) = check(destination, count, writable, "write", "copy to") else { return }
        changes += 1
        store(to, toOffset, Array(bytes(from, fromOffset, count)))
    }

    public func fill(_ address: UInt64, count: Int, value: UInt8) {
        arrive()
        guard count >= 0, let (region, offset) = check(address, count, writable, "write", "fill") else { return }
        changes += 1
        store(region, offset, repeatElement(value, count: count))
    }

    public func share(_ address: UInt64, pages: Int) -> Bool { convert(address, pages: pages, shared: true) }
    public func unshare(_ address: UInt64, pages: Int) -> Bool { convert(address, pages: pages, shared: false) }

    private func convert(_ address: UInt64, pages: Int, shared: Bool) -> Bool {
        arrive()
        let call = shared ? "share (set_memory_decrypted)" : "unshare (set_memory_encrypted)"
        let page = ProtectedDMAConfiguration.pageSize
        guard pages > 0, pages <= 1 << 20, address % page == 0, let (region, offset) = locate(address, count: pages * Int(page)) else {
            broke("\(call) \(hex(address)), \(pages) pages: not whole pages of guest memory")
            return false
        }
        guard region == .coherent else {
            broke("\(call) \(hex(address)), \(pages) pages: \(region == .pool ? "the swiotlb pool is shared from boot" : "the driver's private buffers must never be shared: only the bounce buffers and coherent memory are")")
            return false
        }
        changes += 1
        let first = offset / Int(page)
        for index in first..<first + pages { sharedPages[index] = shared }
        return true
    }

    // The driver's and the device's accesses (the checker's, not judged as the layer's).

    /// A device access: nil when any byte is out of its reach (a private page: a fault).
    public func deviceRead(_ address: UInt64, count: Int) -> [UInt8]? {
        guard reachable(address, count: count), let (region, offset) = locate(address, count: count) else { return nil }
        return Array(bytes(region, offset, count))
    }

    public func deviceWrite(_ address: UInt64, _ data: [UInt8]) -> Bool {
        guard reachable(address, count: data.count), let (region, offset) = locate(address, count: data.count) else { return false }
        store(region, offset, data)
        return true
    }

    /// The driver's CPU reads and writes its own memory (buffers and coherent memory).
    public func cpuRead(_ address: UInt64, count: Int) -> [UInt8]? {
        guard let (region, offset) = locate(address, count: count) else { return nil }
        return Array(bytes(region, offset, count))
    }

    public func cpuWrite(_ address: UInt64, _ data: [UInt8]) {
        guard let (region, offset) = locate(address, count: data.count) else { return }
        store(region, offset, data)
    }

    /// The bytes of a region (a worker's copy sends what changed).
    public func bytes(of region: Region, _ range: Range<Int>) -> ArraySlice<UInt8> { bytes(region, range.lowerBound, range.count) }

    /// Puts bytes a worker's copy of this memory changed, and its sharing, into this one.
    public func mirror(_ region: Region, at offset: Int, _ data: [UInt8]) {
        guard offset >= 0, offset + data.count <= size(of: region) else { return }
        store(region, offset, data)
    }

    public func mirror(sharedPages pages: [Bool]) {
        if pages.count == sharedPages.count { sharedPages = pages }
    }

    /// A rule a call broke where it ran (in a worker's copy).
    public func mirror(violation: String) { broke(violation) }

    public func size(of region: Region) -> Int {
        switch region {
        case .buffers: buffers.count
        case .coherent: coherent.count
        case .pool: pool.count
        }
    }

    /// Takes the violation the last call made, if any.
    public func takeViolation() -> String? {
        defer { violation = nil }
        return violation
    }
}
