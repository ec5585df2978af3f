import Foundation
import IOMMUSpec

/// One parsed JSON Lines record with typed field access that reports errors by line and field.
struct JSONLine {
    let number: Int
    let object: JSONObject

    /// Parses `bytes` (one line, valid UTF-8) as a JSON object, strictly (`StrictJSON`).
    init(number: Int, bytes: UnsafeBufferPointer<UInt8>) throws(TraceError) {
        self.number = number
        let parsed: JSONValue
        do {
            parsed = try StrictJSON.parse(bytes)
        } catch {
            throw TraceError(line: number, "not valid JSON (\(error.message))")
        }
        guard case .object(let object) = parsed else { throw TraceError(line: number, "expected a JSON object, found \(parsed.kind)") }
        self.object = object
    }

    init(number: Int, object: JSONObject) {
        self.number = number
        self.object = object
    }

    func has(_ field: String) -> Bool { object[field] != nil }

    /// The policy a field names, refused with the parser's sentence (`configuration.policy`).
    func policy<P: SwitchedPolicy>(_ type: P.Type, field: String = "policy") throws(TraceError) -> P {
        let name = try string(field)
        do {
            return try P(parsing: name)
        } catch {
            throw TraceError(line: number, field: "configuration.\(field)", error.description)
        }
    }

    func string(_ key: String, field: String? = nil) throws(TraceError) -> String {
        let field = field ?? key
        guard let value = object[key] else { throw TraceError(line: number, field: field, "missing; expected a string") }
        guard case .string(let text) = value else { throw TraceError(line: number, field: field, "expected a string, found \(value.kind)") }
        return text
    }

    func optionalString(_ field: String) throws(TraceError) -> String? {
        guard has(field) else { return nil }
        return try string(field)
    }

    /// An unsigned 64-bit value: a "0x..." or decimal string, or a non-negative JSON integer
    /// (strings are the norm: JSON numbers above 2^53 lose precision in many other parsers).
    func address(_ key: String, field: String? = nil) throws(TraceError) -> UInt64 {
        let field = field ?? key
        guard let value = object[key] else { throw TraceError(line: number, field: field, "missing; expected an address such as \"0x1000\"") }
        switch value {
        case .string(let text):
            guard let parsed = parseAddress(text) else { throw TraceError(line: number, field: field, "'\(text)' is not a 0x-hex or decimal unsigned 64-bit value") }
            return parsed
        case .number(let written):
            guard let parsed = written.value else {
                throw TraceError(line: number, field: field, "\(written.text) is not an unsigned 64-bit integer (0 to 18446744073709551615, no sign, fraction or exponent)")
            }
            return parsed
        default:
            throw TraceError(line: number, field: field, "expected an address string such as \"0x1000\", found \(value.kind)")
        }
    }

    func integer(_ key: String, field: String? = nil) throws(TraceError) -> Int {
        let field = field ?? key
        let value = try address(key, field: field)
        guard value <= UInt64(Int.max) else { throw TraceError(line: number, field: field, "\(value) is too large") }
        return Int(value)
    }

    func optionalAddress(_ field: String) throws(TraceError) -> UInt64? {
        guard has(field) else { return nil }
        return try address(field)
    }

    func boolean(_ field: String) throws(TraceError) -> Bool {
        guard let value = object[field] else { throw TraceError(line: number, field: field, "missing; expected true or false") }
        guard case .boolean(let flag) = value else { throw TraceError(line: number, field: field, "expected true or false, found \(value.kind)") }
        return flag
    }

    func array(_ key: String, field: String? = nil) throws(TraceError) -> [JSONValue] {
        let field = field ?? key
        guard let value = object[key] else { throw TraceError(line: number, field: field, "missing; expected an array") }
        guard case .array(let array) = value else { throw TraceError(line: number, field: field, "expected an array, found \(value.kind)") }
        return array
    }

    func nested(_ field: String) throws(TraceError) -> JSONLine {
        guard let value = object[field] else { throw TraceError(line: number, field: field, "missing; expected an object") }
        guard case .object(let object) = value else { throw TraceError(line: number, field: field, "expected an object, found \(value.kind)") }
        return JSONLine(number: number, object: object)
    }

    /// A string that must be one of `choices`.
    func choice<T>(_ key: String, _ choices: [(String, T)], field: String? = nil) throws(TraceError) -> T {
        let field = field ?? key
        let text = try string(key, field: field)
        guard let match = choices.first(where: { $0.0 == text }) else {
            throw TraceError(line: number, field: field, "'\(text)' is not one of: \(choices.map(\.0).joined(separator: ", "))")
        }
        return match.1
    }

}

/// Encodes a JSON object on one line with its keys in the given order (JSONSerialization
/// sorts or scrambles keys; traces read better with "op" first).
func jsonLine(_ fields: [(String, JSONValue)]) -> String {
    "{" + fields.map { "\(quoted($0.0)):\($0.1.encoded)" }.joined(separator: ",") + "}"
}

/// A JSON value, as `StrictJSON` reads it and as traces are written.
enum JSONValue {
    case string(String)
    /// A number as read (its text kept: see `JSONNumber`).
    case number(JSONNumber)
    /// A number to write.
    case integer(Int)
    case boolean(Bool)
    case null
    case array([JSONValue])
    case object(JSONObject)

    /// An object to write, its fields in this order.
    static func object(_ fields: [(String, JSONValue)]) -> JSONValue { .object(JSONObject(fields)) }

    var encoded: String {
        switch self {
        case .string(let text): quoted(text)
        case .number(let number): number.text
        case .integer(let value): String(value)
        case .boolean(let value): value ? "true" : "false"
        case .null: "null"
        case .array(let values): "[" + values.map(\.encoded).joined(separator: ",") + "]"
        case .object(let object): jsonLine(object.fields.map { ($0.key, $0.value) })
        }
    }

    /// What a message calls a value of this kind.
    var kind: String {
        switch self {
        case .string: "a string"
        case .number, .integer: "a number"
        case .boolean: "a boolean"
        case .null: "null"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out + "\""
}
