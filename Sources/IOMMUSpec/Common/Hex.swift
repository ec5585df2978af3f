/// "0x" followed by lowercase hexadecimal: how addresses are shown in traces and errors.
public func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// Parses "0x..." hexadecimal or decimal: digits only (no sign, no blanks, "0X" as "0x"), at
/// most 2^64 - 1. Read on the UTF-8 bytes: trace readers call it for every address field.
public func parseAddress(_ text: String) -> UInt64? {
    var utf8 = text.utf8[...]
    var radix: UInt64 = 10
    if utf8.count > 2, utf8.first == UInt8(ascii: "0"), let second = utf8.dropFirst().first, second | 0x20 == UInt8(ascii: "x") {
        radix = 16
        utf8 = utf8.dropFirst(2)
    }
    guard !utf8.isEmpty else { return nil }
    var value: UInt64 = 0
    for byte in utf8 {
        let digit: UInt64
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt64(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: digit = UInt64(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
        let (shifted, over) = value.multipliedReportingOverflow(by: radix)
        let (sum, carry) = shifted.addingReportingOverflow(digit)
        guard !over, !carry else { return nil }
        value = sum
    }
    return value
}
