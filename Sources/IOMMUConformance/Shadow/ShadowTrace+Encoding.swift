import IOMMUSpec

extension ShadowTrace {
    public init(configuration: ShadowConfiguration) {
        self.init(configuration: configuration, description: nil, steps: [])
    }

    /// The trace as JSON Lines (docs/TRACES.md); `parse` reads it back. Invalidation lines
    /// carry the host calls recorded for them.
    public func encoded() -> String {
        let header = TraceHeader.encode(surface: .shadow, configuration: [
            ("domains", .integer(configuration.domains)),
            ("addressWidth", .integer(configuration.addressWidth)),
            ("policy", .string(configuration.policy.description)),
            ("host", .string(configuration.host.rawValue)),
        ] + (configuration.mappingLimit.map { [("mappingLimit", JSONValue.integer($0))] } ?? []), description: description)
        return ([header] + steps.map { Self.encode($0.operation, calls: $0.calls, result: $0.result) }).joined(separator: "\n") + "\n"
    }

    static func encode(_ operation: ShadowOperation, calls: [ShadowHost.Call]?, result: ShadowResult? = nil) -> String {
        var fields: [(String, JSONValue)] = [("op", .string(ShadowOperation.kindNames[operation.kind]))]
        switch operation {
        case .writeLeaf(let domain, let leaf):
            fields += [("domain", .integer(domain)), ("iova", .string(hex(leaf.iova))), ("size", .string(hex(leaf.size))),
                       ("gpa", .string(hex(leaf.gpa))), ("permissions", .string(leaf.permissions.description))]
        case .clear(let domain, let iova, let size), .demote(let domain, let iova, let size):
            fields += [("domain", .integer(domain)), ("iova", .string(hex(iova))), ("size", .string(hex(size)))]
        case .setContext(let domain, let present): fields += [("domain", .integer(domain)), ("present", .boolean(present))]
        case .invalidate(let invalidation, let dma):
            switch invalidation {
            case .pageSelective(let domain, let iova, let order):
                fields += [("kind", .string("psi")), ("domain", .integer(domain)), ("iova", .string(hex(iova))), ("order", .integer(order))]
            case .domain(let domain): fields += [("kind", .string("dsi")), ("domain", .integer(domain))]
            case .global: fields.append(("kind", .string("global")))
            case .context(let domain): fields += [("kind", .string("context")), ("domain", .integer(domain))]
            }
            if !dma.isEmpty {
                fields.append(("dma", .array(dma.map {
                    .object([("after", .integer($0.afterCall)), ("domain", .integer($0.domain)), ("iova", .string(hex($0.iova)))])
                })))
            }
            if let calls { fields.append(("calls", .array(calls.map(encode)))) }
            if let result, result != .done { fields.append(("result", .string(result.rawValue))) }
        case .dma(let domain, let iova, let access):
            fields += [("domain", .integer(domain)), ("iova", .string(hex(iova))), ("access", .string(access.description))]
        }
        return jsonLine(fields)
    }

    private static func encode(_ call: ShadowHost.Call) -> JSONValue {
        switch call {
        case .map(let domain, let iova, let length, let phys, let permissions):
            .object([("call", .string("map")), ("domain", .integer(domain)), ("iova", .string(hex(iova))), ("length", .string(hex(length))),
                     ("phys", .string(hex(phys))), ("permissions", .string(permissions.description))])
        case .unmap(let domain, let iova, let length):
            .object([("call", .string("unmap")), ("domain", .integer(domain)), ("iova", .string(hex(iova))), ("length", .string(hex(length)))])
        case .notifyUnmap(let domain, let iova, let length):
            .object([("call", .string("notify-unmap")), ("domain", .integer(domain)), ("iova", .string(hex(iova))), ("length", .string(hex(length)))])
        case .replace(let domain, let iova, let length, let extents):
            .object([("call", .string("replace")), ("domain", .integer(domain)), ("iova", .string(hex(iova))), ("length", .string(hex(length))),
                     ("extents", .array(extents.map { .array([.string(hex($0.iova)), .string(hex($0.length)), .string(hex($0.phys)), .string($0.permissions.description)]) }))])
        }
    }
}
