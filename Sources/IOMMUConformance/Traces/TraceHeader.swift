import Foundation
import IOMMUSpec

/// The first line of every trace: what it is, which surface, under which configuration.
/// `{"trace":"iommu-conformance","version":2,"surface":"address-space","configuration":{...}}`
/// Scenario files may add `"policies": [...]` (run once per policy) and `"description"`.
/// Version 2 changed the address-space configuration (docs/TRACES.md); version 1 still reads.
struct TraceHeader {
    static let format = "iommu-conformance"
    static let version = 2
    static let readable = 1...2

    let version: Int
    let surface: Surface
    let configuration: JSONLine
    let policies: [String]
    let description: String?

    init(_ line: JSONLine) throws(TraceError) {
        let format = try line.string("trace")
        guard format == Self.format else { throw TraceError(line: line.number, field: "trace", "expected \"\(Self.format)\" (is this the first line of a trace?)") }
        version = try line.integer("version")
        guard Self.readable.contains(version) else { throw TraceError(line: line.number, field: "version", "version \(version) is not supported; this checker reads versions \(Self.readable.lowerBound) to \(Self.readable.upperBound)") }
        surface = try line.choice("surface", Surface.allCases.map { ($0.rawValue, $0) })
        configuration = try line.nested("configuration")
        if line.has("policies") {
            var names: [String] = []
            for (index, value) in try line.array("policies").enumerated() {
                guard let name = value as? String else { throw TraceError(line: line.number, field: "policies[\(index)]", "expected a policy name string") }
                names.append(name)
            }
            policies = names
        } else {
            policies = []
        }
        description = try line.optionalString("description")
    }

    static func encode(surface: Surface, configuration: [(String, JSONValue)], description: String? = nil) -> String {
        var fields: [(String, JSONValue)] = [("trace", .string(format)), ("version", .integer(version)), ("surface", .string(surface.rawValue)), ("configuration", .object(configuration))]
        if let description { fields.append(("description", .string(description))) }
        return jsonLine(fields)
    }
}

/// Splits trace text into numbered non-empty lines; `#` starts a comment line.
func traceLines(_ text: String) -> [(number: Int, text: String)] {
    var lines: [(Int, String)] = []
    forEachTraceLine(text) { number, line in
        lines.append((number, line))
        return true
    }
    return lines
}

/// Calls `body` with each numbered non-empty, non-comment line of `text`, trimmed, until it
/// returns false. Splits the UTF-8, not the Characters: Swift reads "\r\n" as one Character, so
/// a CRLF file split on "\n" would be one line (JSON Lines allows either line end).
func forEachTraceLine(_ text: String, _ body: (Int, String) -> Bool) {
    var text = text
    text.withUTF8 { utf8 in
        var number = 0, start = 0
        while start <= utf8.count {
            number += 1
            var end = start
            while end < utf8.count && utf8[end] != 0x0A { end += 1 }
            var first = start, last = end
            if last > first && utf8[last - 1] == 0x0D { last -= 1 }
            // ASCII blanks are trimmed here; a line with other bytes at an edge goes through
            // Foundation's trim, which also knows Unicode's spaces.
            while first < last && (utf8[first] == 0x20 || utf8[first] == 0x09) { first += 1 }
            while last > first && (utf8[last - 1] == 0x20 || utf8[last - 1] == 0x09) { last -= 1 }
            if first < last && utf8[first] != UInt8(ascii: "#") {
                var line = String(decoding: UnsafeBufferPointer(rebasing: utf8[first..<last]), as: UTF8.self)
                if utf8[first] >= 0x80 || utf8[last - 1] >= 0x80 { line = line.trimmingCharacters(in: .whitespaces) }
                if !line.isEmpty && !line.hasPrefix("#") && !body(number, line) { return }
            }
            start = end + 1
        }
    }
}

/// The first line of a trace (its header), without splitting the rest.
func firstTraceLine(_ text: String) -> (number: Int, text: String)? {
    var found: (Int, String)?
    forEachTraceLine(text) { number, line in
        found = (number, line)
        return false
    }
    return found
}

/// Trace bytes as text; invalid UTF-8 is refused with the line it is on.
public func traceText(_ bytes: [UInt8]) throws(TraceError) -> String {
    if let text = String(validating: bytes, as: UTF8.self) { return text }
    for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where String(validating: line, as: UTF8.self) == nil {
        throw TraceError(line: index + 1, "not valid UTF-8")
    }
    throw TraceError(line: 1, "not valid UTF-8")
}
