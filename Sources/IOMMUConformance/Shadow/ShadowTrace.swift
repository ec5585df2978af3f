import IOMMUReference
import IOMMUSpec

/// A Shadow trace: a configuration, guest writes, invalidations and DMA. An invalidation line
/// may carry the host calls a system made for it (`calls`, a recorded trace) and the host
/// mappings expected after it (`host`, a scenario). Format: docs/TRACES.md.
public struct ShadowTrace: Sendable {
    public struct Step: Sendable {
        public var line: Int
        public var operation: ShadowOperation
        /// Recorded host calls of an invalidation, in order.
        public var calls: [ShadowHost.Call]?
        /// What the layer answered an invalidation (absent in a trace line: done).
        public var result: ShadowResult?
        /// Expected host mappings (normalized) per domain after an invalidation.
        public var host: [Int: [Extent]]?

        public init(line: Int, operation: ShadowOperation, calls: [ShadowHost.Call]?, result: ShadowResult?, host: [Int: [Extent]]?) {
            self.line = line
            self.operation = operation
            self.calls = calls
            self.result = result
            self.host = host
        }
    }

    public var configuration: ShadowConfiguration
    public var description: String?
    public var steps: [Step]

    public static func parse(_ text: String) throws(TraceError) -> ShadowTrace { try parsed(text) }

    func step(_ line: JSONLine) throws(TraceError) -> Step { try Self.step(line, domains: configuration.domains) }

    private static func domain(_ line: JSONLine, _ field: String = "domain", domains: Int) throws(TraceError) -> Int {
        let domain = try line.integer(field)
        guard domain < domains else { throw TraceError(line: line.number, field: field, "domain \(domain) does not exist (\(domains) domains)") }
        return domain
    }

    private static func size(_ line: JSONLine) throws(TraceError) -> UInt64 {
        let size = try line.address("size")
        guard [UInt64(1 << 12), 1 << 21, 1 << 30].contains(size) else { throw TraceError(line: line.number, field: "size", "expected 0x1000, 0x200000 or 0x40000000") }
        return size
    }

    private static func aligned(_ line: JSONLine, _ field: String, to size: UInt64) throws(TraceError) -> UInt64 {
        let value = try line.address(field)
        guard value & (size - 1) == 0 else { throw TraceError(line: line.number, field: field, "\(hex(value)) is not aligned to \(hex(size))") }
        return value
    }

    private static func permissions(_ line: JSONLine) throws(TraceError) -> Permissions {
        let text = try line.string("permissions")
        guard let permissions = Permissions(text), !permissions.isEmpty else { throw TraceError(line: line.number, field: "permissions", "'\(text)' is not one of: r, w, rw") }
        return permissions
    }

    private static func step(_ line: JSONLine, domains: Int) throws(TraceError) -> Step {
        let operation: ShadowOperation
        switch try line.choice("op", ShadowOperation.kindNames.enumerated().map { ($0.element, $0.offset) }) {
        case 0:
            let size = try size(line)
            operation = .writeLeaf(domain: try domain(line, domains: domains), leaf: GuestLeaf(iova: try aligned(line, "iova", to: size), size: size, gpa: try aligned(line, "gpa", to: size), permissions: try permissions(line)))
        case 1:
            let size = try size(line)
            operation = .clear(domain: try domain(line, domains: domains), iova: try aligned(line, "iova", to: size), size: size)
        case 2:
            let size = try size(line)
            operation = .demote(domain: try domain(line, domains: domains), iova: try line.address("iova"), size: size)
        case 3:
            operation = .setContext(domain: try domain(line, domains: domains), present: try line.boolean("present"))
        case 4:
            let invalidation: Invalidation
            switch try line.string("kind") {
            case "psi":
                let order = try line.integer("order")
                guard order <= 52 else { throw TraceError(line: line.number, field: "order", "order \(order) is beyond the 64-bit space") }
                invalidation = .pageSelective(domain: try domain(line, domains: domains), iova: try aligned(line, "iova", to: UInt64(4096) << UInt64(order)), order: order)
            case "dsi": invalidation = .domain(try domain(line, domains: domains))
            case "global": invalidation = .global
            case "context": invalidation = .context(try domain(line, domains: domains))
            case let other: throw TraceError(line: line.number, field: "kind", "'\(other)' is not one of: psi, dsi, global, context")
            }
            var dma: [ShadowOperation.ScheduledDMA] = []
            if line.has("dma") {
                for (index, value) in try line.array("dma").enumerated() {
                    guard case .object(let object) = value else { throw TraceError(line: line.number, field: "dma[\(index)]", "expected {after, domain, iova}") }
                    let item = JSONLine(number: line.number, object: object)
                    dma.append(.init(afterCall: max(1, try item.integer("after")), domain: try domain(item, domains: domains), iova: try item.address("iova")))
                }
            }
            operation = .invalidate(invalidation, dma: dma)
        default:
            operation = .dma(domain: try domain(line, domains: domains), iova: try line.address("iova"), access: try line.choice("access", Access.allCases.map { ($0.description, $0) }))
        }
        var step = Step(line: line.number, operation: operation, calls: nil, result: nil, host: nil)
        if line.has("calls") { step.calls = try calls(line, domains: domains) }
        if line.has("result") { step.result = try line.choice("result", [("done", ShadowResult.done), ("insufficient-resources", .insufficientResources)]) }
        if line.has("host") {
            let object = try line.nested("host")
            var host: [Int: [Extent]] = [:]
            for (key, value) in object.object.fields.sorted(by: { $0.key < $1.key }) {
                guard let domain = Int(key), domain < domains else { throw TraceError(line: line.number, field: "host.\(key)", "expected a domain number") }
                host[domain] = try extents(JSONLine(number: line.number, object: ["host.\(key)": value]), "host.\(key)")
            }
            step.host = host
        }
        return step
    }

    /// `[[iova, length, phys, permissions], ...]`
    private static func extents(_ line: JSONLine, _ field: String) throws(TraceError) -> [Extent] {
        var result: [Extent] = []
        for (index, value) in try line.array(field).enumerated() {
            guard case .array(let four) = value, four.count == 4 else { throw TraceError(line: line.number, field: "\(field)[\(index)]", "expected [iova, length, phys, permissions]") }
            let item = JSONLine(number: line.number, object: ["iova": four[0], "length": four[1], "phys": four[2], "permissions": four[3]])
            result.append(Extent(iova: try item.address("iova"), length: try item.address("length"), phys: try item.address("phys"), permissions: try permissions(item)))
        }
        return result
    }

    private static func calls(_ line: JSONLine, domains: Int) throws(TraceError) -> [ShadowHost.Call] {
        var result: [ShadowHost.Call] = []
        for (index, value) in try line.array("calls").enumerated() {
            guard case .object(let object) = value else { throw TraceError(line: line.number, field: "calls[\(index)]", "expected a host call object") }
            let item = JSONLine(number: line.number, object: object)
            let domain = try domain(item, domains: domains)
            switch try item.string("call") {
            case "map": result.append(.map(domain: domain, iova: try item.address("iova"), length: try item.address("length"), phys: try item.address("phys"), permissions: try permissions(item)))
            case "unmap": result.append(.unmap(domain: domain, iova: try item.address("iova"), length: try item.address("length")))
            case "notify-unmap": result.append(.notifyUnmap(domain: domain, iova: try item.address("iova"), length: try item.address("length")))
            case "replace": result.append(.replace(domain: domain, iova: try item.address("iova"), length: try item.address("length"), with: try extents(item, "extents")))
            case let other: throw TraceError(line: line.number, field: "calls[\(index)].call", "'\(other)' is not one of: map, unmap, replace, notify-unmap")
            }
        }
        return result
    }

    // MARK: Judging

    /// Replays the guest writes and, for each invalidation, the host calls the trace records,
    /// under the same monitor as a live resync: the first line that breaks a rule is reported.
    public func verify() -> TraceVerdict { judged() }

    /// Checks a scenario: the reference layer's host must equal every stated `host`, and its
    /// answer every stated `result`; the implementation must pass the monitor at every step.
    public func checkScenario(implementation make: (GuestIOMMU, ShadowHost) throws -> any ShadowSystem) -> [String] {
        let guest = GuestIOMMU(configuration: configuration)
        let host = ShadowHost(configuration: configuration) { AddressSpaceModel(configuration: $0) }
        let referenceHost = ShadowHost(configuration: configuration) { AddressSpaceModel(configuration: $0) }
        let reference = ShadowModel(guest: guest, host: referenceHost)
        let implementation: any ShadowSystem
        do { implementation = try make(guest, host) } catch { return ["the implementation could not be created: \(error)"] }
        let machine = ShadowMachine(configuration: configuration, guest: guest, host: host, implementation: implementation)
        var problems: [String] = []
        for step in steps {
            if case .disagreed(let message) = machine.step(step.operation) { problems.append("line \(step.line): \(message)") }
            guard case .invalidate(let invalidation, _) = step.operation else { continue }
            let answer = reference.invalidate(invalidation)
            if let expected = step.result, expected != answer {
                problems.append("line \(step.line): the scenario expects \(expected.rawValue), the model answers \(answer.rawValue)")
            }
            for (domain, expected) in step.host ?? [:] {
                let model = ShadowMachine.everything(referenceHost, domain)
                if model != expected { problems.append("line \(step.line): D\(domain): the scenario expects \(expected), the model's host maps \(model)") }
            }
        }
        return problems
    }
}

extension ShadowTrace.Step: TraceStep {}

extension ShadowTrace: LineTrace {
    static var surface: Surface { .shadow }

    init(header: TraceHeader, line number: Int) throws(TraceError) {
        let c = header.configuration
        let domains = try c.integer("domains"), width = try c.integer("addressWidth")
        guard (1...8).contains(domains) else { throw TraceError(line: number, field: "domains", "expected 1 to 8 domains") }
        guard (21...63).contains(width) else { throw TraceError(line: number, field: "addressWidth", "expected 21 to 63 bits") }
        let policy = try c.policy(ShadowPolicy.self)
        // Version 1 knew one host, a raw page table; version 2 names it.
        let host: ShadowHostPolicy = header.version == 1 && !c.has("host") ? .pageTable
            : try c.choice("host", ShadowHostPolicy.allCases.map { ($0.rawValue, $0) })
        let limit = c.has("mappingLimit") ? try c.integer("mappingLimit") : nil
        let configuration = ShadowConfiguration(domains: domains, addressWidth: width, policy: policy, host: host, mappingLimit: limit)
        self.init(configuration: try header.validated(configuration, line: number), description: header.description, steps: [])
    }

    /// Guest writes record nothing; an invalidation records the host calls it caused.
    func unrecordedField(_ step: Step) -> String? {
        if case .invalidate = step.operation, step.calls == nil { return "calls" }
        return nil
    }

    func lanes() -> [(lane: Lane, prefix: String)] { [(Lane(configuration: configuration), "")] }

    struct Lane: TraceLane {
        let guest: GuestIOMMU
        let host: ShadowHost
        let monitor: ShadowMonitor

        init(configuration: ShadowConfiguration) {
            guest = GuestIOMMU(configuration: configuration)
            host = ShadowHost(configuration: configuration) { AddressSpaceModel(configuration: $0) }
            monitor = ShadowMonitor(configuration: configuration, host: host)
        }

        func judge(_ step: Step) -> String? {
            guard case .invalidate(let invalidation, let dma) = step.operation else {
                step.operation.applyToGuest(guest)
                return nil
            }
            guard let calls = step.calls else { return "no host calls recorded for \(step.operation)" }
            let replay = RecordedCalls(calls: calls, result: step.result ?? .done, host: host)
            return ShadowMachine.resync(invalidation, dma: dma, implementation: replay, host: host, monitor: monitor, guest: guest).0.map { "\(step.operation): \($0)" }
        }
    }
}

/// Replays recorded host calls as if a system made them during `invalidate`.
private final class RecordedCalls: ShadowSystem {
    let calls: [ShadowHost.Call]
    let result: ShadowResult
    let host: ShadowHost

    init(calls: [ShadowHost.Call], result: ShadowResult, host: ShadowHost) {
        self.calls = calls
        self.result = result
        self.host = host
    }

    func invalidate(_ invalidation: Invalidation) -> ShadowResult {
        for call in calls {
            switch call {
            case .map(let domain, let iova, let length, let phys, let permissions): host.map(domain: domain, iova: iova, length: length, phys: phys, permissions: permissions)
            case .unmap(let domain, let iova, let length): host.unmap(domain: domain, iova: iova, length: length)
            case .replace(let domain, let iova, let length, let extents): host.replace(domain: domain, iova: iova, length: length, with: extents)
            case .notifyUnmap(let domain, let iova, let length): host.notifyUnmap(domain: domain, iova: iova, length: length)
            }
        }
        return result
    }
}
