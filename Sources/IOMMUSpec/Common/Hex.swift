/// "0x" followed by lowercase hexadecimal: how addresses are shown in traces and errors.
public func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// Parses "0x..." hexadecimal or decimal.
public func parseAddress(_ text: String) -> UInt64? {
    let lower = text.lowercased()
    if lower.hasPrefix("0x") { return UInt64(lower.dropFirst(2), radix: 16) }
    return UInt64(text)
}
