import Foundation

/// Splits trace bytes, fed in chunks of any size, into numbered lines: trimmed, with blank and
/// `#` comment lines skipped (they keep their numbers). Each line is checked as UTF-8 on its
/// own, so a file never has to be held whole. Splits the bytes, not the Characters: Swift reads
/// "\r\n" as one Character, so a CRLF file split on "\n" would be one line (JSON Lines allows
/// either line end).
struct TraceLines {
    /// A longer line is refused as it arrives: no trace has one, and it would have to be held.
    static let longest = 16 << 20

    /// The bytes of a line whose end has not arrived yet.
    private var partial: [UInt8] = []
    /// Lines ended so far, blank and comment lines included.
    private(set) var number = 0

    mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Int, UnsafeBufferPointer<UInt8>) throws(TraceError) -> Void) throws(TraceError) {
        guard let base = bytes.baseAddress else { return }
        var start = 0
        while start < bytes.count, let found = memchr(base + start, 0x0A, bytes.count - start) {
            let end = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
            if partial.isEmpty {
                try line(UnsafeBufferPointer(rebasing: bytes[start..<end]), body)
            } else {
                partial.append(contentsOf: bytes[start..<end])
                try flushPartial(body)
            }
            start = end + 1
        }
        partial.append(contentsOf: bytes[start...])
        guard partial.count <= Self.longest else {
            throw TraceError(line: number + 1, "longer than \(Self.longest) bytes (is this a trace?)")
        }
    }

    /// The last line, if the text does not end with a line end.
    mutating func finish(_ body: (Int, UnsafeBufferPointer<UInt8>) throws(TraceError) -> Void) throws(TraceError) {
        if !partial.isEmpty { try flushPartial(body) }
    }

    private mutating func flushPartial(_ body: (Int, UnsafeBufferPointer<UInt8>) throws(TraceError) -> Void) throws(TraceError) {
        let bytes = partial
        partial.removeAll(keepingCapacity: true)
        var failure: TraceError?
        bytes.withUnsafeBufferPointer { bytes in
            do throws(TraceError) { try line(bytes, body) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    private mutating func line(_ utf8: UnsafeBufferPointer<UInt8>, _ body: (Int, UnsafeBufferPointer<UInt8>) throws(TraceError) -> Void) throws(TraceError) {
        number += 1
        var first = 0, last = utf8.count
        if last > first && utf8[last - 1] == 0x0D { last -= 1 }
        // ASCII blanks are trimmed here; a line with other bytes at an edge goes through
        // Foundation's trim, which also knows Unicode's spaces.
        while first < last && (utf8[first] == 0x20 || utf8[first] == 0x09) { first += 1 }
        while last > first && (utf8[last - 1] == 0x20 || utf8[last - 1] == 0x09) { last -= 1 }
        let trimmed = UnsafeBufferPointer(rebasing: utf8[first..<last])
        guard trimmed.allSatisfy({ $0 < 0x80 }) || String(validating: trimmed, as: UTF8.self) != nil else {
            throw TraceError(line: number, "not valid UTF-8")
        }
        guard first < last, utf8[first] != UInt8(ascii: "#") else { return }
        guard utf8[first] >= 0x80 || utf8[last - 1] >= 0x80 else { return try body(number, trimmed) }
        let text = String(decoding: trimmed, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty && !text.hasPrefix("#") else { return }
        let bytes = Array(text.utf8), number = number
        var failure: TraceError?
        bytes.withUnsafeBufferPointer { bytes in
            do throws(TraceError) { try body(number, bytes) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Every line of `text`, in one pass.
    static func forEach(in text: String, _ body: (Int, UnsafeBufferPointer<UInt8>) throws(TraceError) -> Void) throws(TraceError) {
        var lines = TraceLines()
        var text = text, failure: TraceError?
        text.withUTF8 { utf8 in
            do throws(TraceError) { try lines.feed(utf8, body) } catch { failure = error }
        }
        if let failure { throw failure }
        try lines.finish(body)
    }
}
