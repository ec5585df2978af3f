/// One Interrupts operation: a guest write (with device raises scheduled between the host calls
/// it causes) or a device raise on its own.
public enum InterruptOperation: Hashable, Sendable, CustomStringConvertible {
    case setEnabled(Bool, raises: [InterruptHost.Injection])
    case setFunctionMask(Bool, raises: [InterruptHost.Injection])
    case writeEntry(vector: Int, address: UInt64, data: UInt32, raises: [InterruptHost.Injection])
    case setVectorMask(vector: Int, masked: Bool, raises: [InterruptHost.Injection])
    case setPASID(vector: Int, pasid: UInt32?, raises: [InterruptHost.Injection])
    case raise(vector: Int, pasid: UInt32)

    public static let kindNames = ["enable", "function-mask", "write-entry", "vector-mask", "set-pasid", "raise"]

    public var kind: Int {
        switch self {
        case .setEnabled: 0
        case .setFunctionMask: 1
        case .writeEntry: 2
        case .setVectorMask: 3
        case .setPASID: 4
        case .raise: 5
        }
    }

    /// The raises scheduled during this guest write.
    public var injections: [InterruptHost.Injection] {
        switch self {
        case .setEnabled(_, let raises), .setFunctionMask(_, let raises), .writeEntry(_, _, _, let raises),
             .setVectorMask(_, _, let raises), .setPASID(_, _, let raises):
            raises
        case .raise: []
        }
    }

    public var description: String {
        let base: String
        switch self {
        case .setEnabled(let on, _): base = "msix-enable(\(on))"
        case .setFunctionMask(let on, _): base = "function-mask(\(on))"
        case .writeEntry(let vector, let address, let data, _): base = "write-entry(v\(vector), \(hex(address)), \(hex(UInt64(data))))"
        case .setVectorMask(let vector, let masked, _): base = "\(masked ? "mask" : "unmask")(v\(vector))"
        case .setPASID(let vector, let pasid, _): base = "set-pasid(v\(vector), \(pasid.map(String.init) ?? "default"))"
        case .raise(let vector, let pasid): return "raise(v\(vector), pasid \(pasid))"
        }
        let raises = injections.map { "raise v\($0.vector) pasid \($0.pasid) after host call \($0.afterCall)" }
        return raises.isEmpty ? base : base + " [" + raises.joined(separator: "; ") + "]"
    }
}
