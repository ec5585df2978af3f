import CWorkerSync
import Foundation

/// The wire format between the checker and a plug-in worker process: frames of 64-bit words,
/// each frame a word count followed by the words. A frame's first word says what it is.
/// Strings travel as a byte count and the bytes packed eight to a word.
enum FrameKind: UInt64 {
    /// Checker to worker: an operation (opcode, arguments).
    case request = 1
    /// Worker to checker: an operation's result (foreign-failure text, then results).
    case result = 2
    /// Worker to checker, first frame: 0 and the surfaces' mask when the plug-in loaded,
    /// 1 and the error text when it did not.
    case hello = 5
    /// Either way, on the pipe: a frame waits in the shared slot of a receiver that slept.
    case wake = 6
}

enum Words {
    static func pack(_ text: String) -> [UInt64] { pack(bytes: Array(text.utf8)) }

    /// A count, then the bytes eight to a word, little-endian.
    static func pack(bytes: some Collection<UInt8>) -> [UInt64] {
        let bytes = Array(bytes)
        var words = [UInt64(bytes.count)]
        for chunk in stride(from: 0, to: bytes.count, by: 8) {
            var word: UInt64 = 0
            for (offset, byte) in bytes[chunk..<min(chunk + 8, bytes.count)].enumerated() { word |= UInt64(byte) << (8 * UInt64(offset)) }
            words.append(word)
        }
        return words
    }

    /// Unpacks a string at `index`, advancing it; nil if the words run out.
    static func unpack(_ words: [UInt64], _ index: inout Int) -> String? {
        unpackBytes(words, &index).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Unpacks bytes at `index`, advancing it; nil if the words run out.
    static func unpackBytes(_ words: [UInt64], _ index: inout Int) -> [UInt8]? {
        guard index < words.count else { return nil }
        let count = Int(min(words[index], 1 << 20))
        index += 1
        let wordCount = (count + 7) / 8
        guard index + wordCount <= words.count else { return nil }
        var bytes: [UInt8] = []
        for i in 0..<count { bytes.append(UInt8(truncatingIfNeeded: words[index + i / 8] >> (8 * UInt64(i % 8)))) }
        index += wordCount
        return bytes
    }
}

/// Reads and writes frames on a pair of file descriptors, with an optional read timeout. Reads
/// are buffered: a frame usually arrives whole in one read(2), and a batch of frames in one.
final class FrameChannel {
    enum Failure: Error {
        case closed
        case timedOut
        case malformed(String)
    }

    let input: Int32
    let output: Int32
    private var buffer: UnsafeMutableRawPointer
    private var capacity = 1 << 16
    /// The unread bytes are `start ..< end`.
    private var start = 0, end = 0

    init(input: Int32, output: Int32) {
        self.input = input
        self.output = output
        buffer = .allocate(byteCount: capacity, alignment: 8)
    }

    deinit { buffer.deallocate() }

    /// The shared slots (SharedFrames), once both sides mapped them; `frames` is held so the
    /// mapping lives as long as the channel. A slot holds one frame: the protocol is strictly
    /// request and result, so a sender never writes a slot its receiver has not taken.
    private(set) var shared: (frames: SharedFrames, outgoing: SharedSlot, incoming: SharedSlot)?
    /// The sequence numbers of the last frame sent and taken through the slots.
    private var sent: UInt64 = 0, taken: UInt64 = 0

    /// From now on frames that fit travel through `frames`; `toWorker` says which slot this
    /// side writes.
    func attach(_ frames: SharedFrames, toWorker: Bool) {
        shared = (frames, frames.slot(toWorker: toWorker), frames.slot(toWorker: !toWorker))
    }

    func send(_ words: [UInt64]) -> Bool {
        guard let slot = shared?.outgoing, 8 * (words.count + 1) <= slot.capacity else { return sendOnPipe(words) }
        slot.data.storeBytes(of: UInt64(words.count), as: UInt64.self)
        words.withUnsafeBytes { raw in
            if let source = raw.baseAddress { (slot.data + 8).copyMemory(from: source, byteCount: raw.count) }
        }
        worker_sync_store(slot.length, UInt64(8 * (words.count + 1)))
        sent += 1
        worker_sync_store(slot.sequence, sent)
        worker_sync_fence()
        if worker_sync_load(slot.sleeping) != 0 { return sendOnPipe([FrameKind.wake.rawValue]) }
        return true
    }

    private func sendOnPipe(_ words: [UInt64]) -> Bool {
        var frame = [UInt64(words.count)]
        frame.append(contentsOf: words)
        return frame.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(output, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return false }
                offset += written
            }
            return true
        }
    }

    /// The next frame. With `alive`, waiting is done in slices that ask whether the other side
    /// still runs: a dead worker whose pipe a forked child keeps open is `.closed`, not a hang.
    func receive(timeout seconds: Double?, alive: (() -> Bool)? = nil) -> Result<[UInt64], Failure> {
        let deadline = seconds.map { ContinuousClock.now + .seconds($0) }
        guard let slot = shared?.incoming else { return receiveOnPipe(deadline, alive) }
        if WorkerRoundTrips.spinNanoseconds > 0 && worker_sync_load(slot.sequence) == taken {
            let start = monotonicNanoseconds()
            var spins = 0
            while worker_sync_load(slot.sequence) == taken {
                worker_sync_pause()
                spins += 1
                if spins & 127 == 0 && monotonicNanoseconds() - start > WorkerRoundTrips.spinNanoseconds { break }
            }
        }
        while true {
            if worker_sync_load(slot.sequence) != taken { return take(slot) }
            // Say so before sleeping, then look once more: a sender that published meanwhile
            // either is seen now or sees the flag and sends a wake frame.
            worker_sync_store(slot.sleeping, 1)
            worker_sync_fence()
            if worker_sync_load(slot.sequence) != taken {
                worker_sync_store(slot.sleeping, 0)
                return take(slot)
            }
            let frame = receiveOnPipe(deadline, alive)
            worker_sync_store(slot.sleeping, 0)
            guard case .success(let words) = frame, words == [FrameKind.wake.rawValue] else { return frame }
        }
    }

    private func take(_ slot: SharedSlot) -> Result<[UInt64], Failure> {
        taken = worker_sync_load(slot.sequence)
        let length = Int(min(worker_sync_load(slot.length), UInt64(slot.capacity)))
        guard length >= 8, length % 8 == 0 else { return .failure(.malformed("a shared frame of \(length) bytes")) }
        let count = Int(slot.data.load(as: UInt64.self) & 0xffff_ffff)
        guard 8 * (count + 1) == length else { return .failure(.malformed("a shared frame of \(count) words in \(length) bytes")) }
        return .success([UInt64](unsafeUninitializedCapacity: count) { words, initialized in
            UnsafeMutableRawBufferPointer(words).copyMemory(from: UnsafeRawBufferPointer(start: slot.data + 8, count: 8 * count))
            initialized = count
        })
    }

    private func receiveOnPipe(_ deadline: ContinuousClock.Instant?, _ alive: (() -> Bool)?) -> Result<[UInt64], Failure> {
        if let failure = fill(8, deadline, alive) { return .failure(failure) }
        let header = buffer.loadUnaligned(fromByteOffset: start, as: UInt64.self)
        guard header <= 1 << 24 else { return .failure(.malformed("a frame of \(header) words")) }
        let bytes = 8 * Int(header)
        if let failure = fill(8 + bytes, deadline, alive) { return .failure(failure) }
        let words = [UInt64](unsafeUninitializedCapacity: Int(header)) { words, count in
            UnsafeMutableRawBufferPointer(words).copyMemory(from: UnsafeRawBufferPointer(start: buffer + start + 8, count: bytes))
            count = Int(header)
        }
        start += 8 + bytes
        if start == end { (start, end) = (0, 0) }
        return .success(words)
    }

    /// Reads until `count` unread bytes are buffered.
    private func fill(_ count: Int, _ deadline: ContinuousClock.Instant?, _ alive: (() -> Bool)?) -> Failure? {
        guard end - start < count else { return nil }
        if start + count > capacity {
            // Move the unread bytes to the front, and grow when a frame is larger than the buffer.
            if count > capacity {
                let larger = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 8)
                larger.copyMemory(from: buffer + start, byteCount: end - start)
                buffer.deallocate()
                (buffer, capacity) = (larger, count)
            } else {
                buffer.copyMemory(from: buffer + start, byteCount: end - start)
            }
            (start, end) = (0, end - start)
        }
        while end - start < count {
            if let deadline {
                let left = deadline - ContinuousClock.now
                let milliseconds = max(0, Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                var descriptor = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, alive == nil ? milliseconds : min(milliseconds, 50))
                if ready < 0 && errno == EINTR { continue }
                if ready == 0 {
                    if let alive, !alive() { return .closed }
                    if milliseconds == 0 { return .timedOut }
                    continue
                }
            }
            let got = systemRead(input, buffer + end, capacity - end)
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return .closed }
            end += got
        }
        return nil
    }
}
