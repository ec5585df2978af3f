/// "0x" followed by lowercase hexadecimal: how addresses are shown in traces and errors.
public func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// Parses "0x..." hexadecimal or decimal.
public func parseAddress(_ text: String) -> UInt64? {
    // Digits only: `UInt64(_:radix:)` alone would take "+4096", "-0" and "0x+10".
    let lower = text.lowercased()
    let hex = lower.hasPrefix("0x")
    let digits = hex ? lower.dropFirst(2) : lower[...]
    guard !digits.isEmpty, digits.allSatisfy({ hex ? $0.isHexDigit : ("0"..."9").contains($0) }), digits.allSatisfy(\.isASCII) else { return nil }
    return UInt64(digits, radix: hex ? 16 : 10)
}
