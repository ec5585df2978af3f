/// A JSON number as written. Trace fields are unsigned 64-bit values, and a reader that turned
/// `18446744073709551616` into 0 or `1e20` into a rounded double would judge a different trace
/// than the one recorded; the text is kept and `value` is set only for an exact UInt64.
struct JSONNumber: Hashable {
    let text: String
    /// The number, if it is a non-negative integer without fraction or exponent below 2^64.
    let value: UInt64?
}

/// A JSON object as read: its fields in order, each key once. A trace line has about six, so
/// finding a key by comparing is cheaper than hashing every key to build a dictionary.
struct JSONObject: ExpressibleByDictionaryLiteral {
    /// The keys in order, and the value of each (kept apart: a search compares keys only).
    private(set) var keys: [String] = []
    private var values: [JSONValue] = []

    init() {
        keys.reserveCapacity(8)
        values.reserveCapacity(8)
    }

    init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }

    init(_ fields: [(String, JSONValue)]) {
        keys = fields.map(\.0)
        values = fields.map(\.1)
    }

    subscript(key: String) -> JSONValue? {
        guard let index = keys.firstIndex(of: key) else { return nil }
        return values[index]
    }

    var fields: [(key: String, value: JSONValue)] { zip(keys, values).map { (key: $0, value: $1) } }

    var isEmpty: Bool { keys.isEmpty }

    /// Adds a field; false (and nothing added) if the key is already there.
    mutating func add(_ key: String, _ value: JSONValue) -> Bool {
        guard !keys.contains(key) else { return false }
        keys.append(key)
        values.append(value)
        return true
    }
}

/// A strict JSON (RFC 8259) reader for one trace line, into `JSONValue`s (typed: a reader
/// of `Any` spent a third of verify's time casting).
/// Refused, where Foundation's reader accepts or rewrites them: a key repeated in one object
/// (the last value would win silently), numbers outside UInt64 (kept as text, refused where a
/// field is read), nesting deeper than 64.
struct StrictJSON {
    struct Failure: Error { let message: String }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private static let maximumDepth = 64

    /// Parses `bytes` as exactly one JSON value (surrounding whitespace allowed).
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(Failure) -> JSONValue {
        var reader = StrictJSON(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.index == bytes.count else { throw reader.failure("unexpected text after the value") }
        return value
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func failure(_ message: String) -> Failure { Failure(message: "\(message) at byte \(index + 1)") }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private mutating func value(depth: Int) throws(Failure) -> JSONValue {
        guard depth < Self.maximumDepth else { throw failure("nested deeper than \(Self.maximumDepth) levels") }
        switch current {
        case UInt8(ascii: "{"): return .object(try object(depth: depth))
        case UInt8(ascii: "["): return .array(try array(depth: depth))
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .boolean(true)
        case UInt8(ascii: "f"): try literal("false"); return .boolean(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case let byte? where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte): return .number(try number())
        case nil: throw failure("unexpected end of line")
        default: throw failure("unexpected character")
        }
    }

    private mutating func literal(_ word: String) throws(Failure) {
        for byte in word.utf8 {
            guard current == byte else { throw failure("unexpected character") }
            index += 1
        }
    }

    private mutating func object(depth: Int) throws(Failure) -> JSONObject {
        index += 1
        var result = JSONObject()
        skipWhitespace()
        if current == UInt8(ascii: "}") { index += 1; return result }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw failure("expected a key string") }
            let key = try string()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw failure("expected ':' after key '\(key)'") }
            index += 1
            skipWhitespace()
            let item = try value(depth: depth + 1)
            guard result.add(key, item) else { throw failure("key '\(key)' appears twice in one object") }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return result
            default: throw failure("expected ',' or '}'")
            }
        }
    }

    private mutating func array(depth: Int) throws(Failure) -> [JSONValue] {
        index += 1
        var result: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { index += 1; return result }
        while true {
            skipWhitespace()
            result.append(try value(depth: depth + 1))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return result
            default: throw failure("expected ',' or ']'")
            }
        }
    }

    private mutating func string() throws(Failure) -> String {
        index += 1
        // The usual string, ASCII without escapes, in one pass; anything else the full way.
        var end = index
        while end < bytes.count, case let byte = bytes[end], byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\\"), byte != UInt8(ascii: "\"") { end += 1 }
        if end < bytes.count && bytes[end] == UInt8(ascii: "\"") {
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[index..<end]), as: UTF8.self)
            index = end + 1
            return text
        }
        var scalars = String.UnicodeScalarView()
        var runStart = index
        func flush(_ end: Int) throws(Failure) {
            guard runStart < end else { return }
            guard let run = String(validating: UnsafeBufferPointer(rebasing: bytes[runStart..<end]), as: UTF8.self) else { throw Failure(message: "invalid UTF-8 in a string at byte \(runStart + 1)") }
            scalars.append(contentsOf: run.unicodeScalars)
        }
        while true {
            guard let byte = current else { throw failure("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                try flush(index)
                index += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                try flush(index)
                index += 1
                scalars.append(try escape())
                runStart = index
            case 0..<0x20:
                throw failure("control character in a string (escape it)")
            default:
                index += 1
            }
        }
    }

    private mutating func escape() throws(Failure) -> Unicode.Scalar {
        guard let byte = current else { throw failure("unterminated string") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try hex4()
            if (0xD800..<0xDC00).contains(high) {
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else { throw failure("unpaired surrogate") }
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate") }
                guard let pair = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) else { throw failure("unpaired surrogate") }
                return pair
            }
            guard let scalar = Unicode.Scalar(high) else { throw failure("unpaired surrogate") }
            return scalar
        default:
            throw failure("unknown escape")
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current, let digit = hexDigit(byte) else { throw failure("expected 4 hex digits after \\u") }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func number() throws(Failure) -> JSONNumber {
        let start = index
        var integral = true
        if current == UInt8(ascii: "-") { index += 1; integral = false }
        guard let first = current, isDigit(first) else { throw failure("expected a digit") }
        if first == UInt8(ascii: "0") {
            index += 1
            if let next = current, isDigit(next) { throw failure("leading zero in a number") }
        } else {
            while let byte = current, isDigit(byte) { index += 1 }
        }
        if current == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard let byte = current, isDigit(byte) else { throw failure("expected a digit after '.'") }
            while let byte = current, isDigit(byte) { index += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            integral = false
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let byte = current, isDigit(byte) else { throw failure("expected a digit in the exponent") }
            while let byte = current, isDigit(byte) { index += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        return JSONNumber(text: text, value: integral ? UInt64(text) : nil)
    }

    private func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
}

func hexDigit(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
