/// One AddressSpace operation: the vocabulary shared by generators, traces, scenarios,
/// the differential runner and the plug-in worker.
public enum AddressSpaceOperation: Hashable, Sendable, CustomStringConvertible {
    case map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions)
    case unmap(iova: UInt64, length: UInt64)
    case unmapAll
    case translate(iova: UInt64, access: Access)

    /// Runs the operation on `space`.
    public func apply(to space: some AddressSpace) -> AddressSpaceOutcome {
        switch self {
        case .map(let iova, let length, let phys, let permissions):
            switch space.map(iova: iova, length: length, phys: phys, permissions: permissions) {
            case .success: return .mapped
            case .failure(let error): return .failed(error)
            }
        case .unmap(let iova, let length):
            switch space.unmap(iova: iova, length: length) {
            case .success(let bytes): return .unmapped(bytes: bytes)
            case .failure(let error): return .failed(error)
            }
        case .unmapAll:
            return .unmapped(bytes: space.unmapAll())
        case .translate(let iova, let access):
            switch space.translate(iova: iova, access: access) {
            case .success(let phys): return .translated(phys: phys)
            case .failure(let fault): return .faulted(fault)
            }
        }
    }

    /// The IOVA range the operation names, if it is a valid one (for state comparison windows).
    public var range: ClosedRange<UInt64>? {
        switch self {
        case .map(let iova, let length, _, _), .unmap(let iova, let length):
            guard length > 0 else { return iova...iova }
            let (last, wraps) = iova.addingReportingOverflow(length - 1)
            return wraps ? iova...UInt64.max : iova...last
        case .unmapAll: return 0...UInt64.max
        case .translate(let iova, _): return iova...iova
        }
    }

    public var isMutating: Bool {
        if case .translate = self { return false }
        return true
    }

    /// The command kind name, as statistics and traces show it.
    public var kindName: String {
        switch self {
        case .map: "map"
        case .unmap: "unmap"
        case .unmapAll: "unmap-all"
        case .translate: "translate"
        }
    }

    public var description: String {
        switch self {
        case .map(let iova, let length, let phys, let permissions):
            "map(iova: \(hex(iova)), length: \(hex(length)), phys: \(hex(phys)), \(permissions))"
        case .unmap(let iova, let length): "unmap(iova: \(hex(iova)), length: \(hex(length)))"
        case .unmapAll: "unmap-all"
        case .translate(let iova, let access): "translate(iova: \(hex(iova)), \(access))"
        }
    }
}

/// What an operation returned.
public enum AddressSpaceOutcome: Hashable, Sendable, CustomStringConvertible {
    case mapped
    case unmapped(bytes: UInt64)
    case translated(phys: UInt64)
    case failed(AddressSpaceError)
    case faulted(TranslationFault)

    public var isSuccess: Bool {
        switch self {
        case .mapped, .unmapped, .translated: true
        case .failed, .faulted: false
        }
    }

    /// "ok" or the error's name: the outcome label statistics count.
    public var label: String {
        switch self {
        case .mapped, .unmapped, .translated: "ok"
        case .failed(let error): error.rawValue
        case .faulted(let fault): fault.rawValue
        }
    }

    public var description: String {
        switch self {
        case .mapped: "ok"
        case .unmapped(let bytes): "ok, \(hex(bytes)) bytes"
        case .translated(let phys): "ok, \(hex(phys))"
        case .failed(let error): "error \(error)"
        case .faulted(let fault): "fault \(fault)"
        }
    }
}
