/// One AddressSpace operation: the vocabulary shared by generators, traces, scenarios,
/// the differential runner and the plug-in worker.
public enum AddressSpaceOperation: Hashable, Sendable, CustomStringConvertible {
    case map(iova: UInt64, length: UInt64, phys: UInt64, permissions: Permissions)
    case unmap(iova: UInt64, length: UInt64)
    /// Unmap-all with the request's iova and length fields as sent (VFIO_DMA_UNMAP_FLAG_ALL
    /// wants both 0); `.unmapAll()` is the ordinary request.
    case unmapAll(iova: UInt64, length: UInt64)
    case translate(iova: UInt64, access: Access)

    /// Unmap-all with zero arguments.
    public static func unmapAll() -> AddressSpaceOperation { .unmapAll(iova: 0, length: 0) }

    /// Runs the operation on `space`.
    public func apply(to space: some AddressSpace) -> AddressSpaceOutcome {
        switch self {
        case .map(let iova, let length, let phys, let permissions):
            switch space.map(iova: iova, length: length, phys: phys, permissions: permissions) {
            case .success: return .mapped
            case .failure(let error): return .failed(error)
            }
        case .unmap(let iova, let length):
            return AddressSpaceOutcome(space.unmap(iova: iova, length: length))
        case .unmapAll(let iova, let length):
            return AddressSpaceOutcome(space.unmapAll(iova: iova, length: length))
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
        case .unmapAll(0, 0): "unmap-all"
        case .unmapAll(let iova, let length): "unmap-all(iova: \(hex(iova)), length: \(hex(length)))"
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
    /// An unmap that failed after removing `bytes` (iommufd's VFIO compat reports them).
    case partlyUnmapped(AddressSpaceError, bytes: UInt64)
    case faulted(TranslationFault)

    /// An unmap's result as an outcome: a failure that removed nothing is `.failed`.
    public init(_ result: Result<UInt64, UnmapFailure>) {
        switch result {
        case .success(let bytes): self = .unmapped(bytes: bytes)
        case .failure(let failure): self = failure.bytes == 0 ? .failed(failure.error) : .partlyUnmapped(failure.error, bytes: failure.bytes)
        }
    }

    public var isSuccess: Bool {
        switch self {
        case .mapped, .unmapped, .translated: true
        case .failed, .partlyUnmapped, .faulted: false
        }
    }

    /// The error of a failed map or unmap.
    public var error: AddressSpaceError? {
        switch self {
        case .failed(let error), .partlyUnmapped(let error, _): error
        default: nil
        }
    }

    /// "ok" or the error's name: the outcome label statistics count.
    public var label: String {
        switch self {
        case .mapped, .unmapped, .translated: "ok"
        case .failed(let error), .partlyUnmapped(let error, _): error.rawValue
        case .faulted(let fault): fault.rawValue
        }
    }

    public var description: String {
        switch self {
        case .mapped: "ok"
        case .unmapped(let bytes): "ok, \(hex(bytes)) bytes"
        case .translated(let phys): "ok, \(hex(phys))"
        case .failed(let error): "error \(error)"
        case .partlyUnmapped(let error, let bytes): "error \(error) after removing \(hex(bytes)) bytes"
        case .faulted(let fault): "fault \(fault)"
        }
    }
}
