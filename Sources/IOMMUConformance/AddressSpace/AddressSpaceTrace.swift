import Foundation
import IOMMUSpec

/// An AddressSpace trace: a configuration and a sequence of operations, each with the outcome
/// that was observed (a recorded trace) or is expected (a scenario). Format: docs/TRACES.md.
public struct AddressSpaceTrace: Sendable {
    public struct Step: Sendable {
        /// The 1-based line of the trace text this step came from.
        public var line: Int
        public var operation: AddressSpaceOperation
        public var outcome: AddressSpaceOutcome?

        public init(line: Int, operation: AddressSpaceOperation, outcome: AddressSpaceOutcome?) {
            self.line = line
            self.operation = operation
            self.outcome = outcome
        }
    }

    public var configuration: AddressSpaceConfiguration
    /// Scenario files list the policies they hold under; empty for a recorded trace.
    public var policies: [UnmapPolicy]
    public var description: String?
    public var steps: [Step]

    public init(configuration: AddressSpaceConfiguration, steps: [Step] = [], description: String? = nil) {
        self.configuration = configuration
        self.policies = []
        self.description = description
        self.steps = steps
    }

    // MARK: Reading

    /// Parses trace text; a malformed line is an error naming the line and field.
    public static func parse(_ text: String) throws(TraceError) -> AddressSpaceTrace {
        let lines = traceLines(text)
        guard let first = lines.first else { throw TraceError(line: 1, "empty trace: expected a header line") }
        let header = try TraceHeader(JSONLine(number: first.number, text: first.text))
        guard header.surface == .addressSpace else {
            throw TraceError(line: first.number, field: "surface", "this is a \(header.surface) trace, not an address-space trace")
        }
        var trace = AddressSpaceTrace(configuration: try configuration(header.configuration), description: header.description)
        for (index, name) in header.policies.enumerated() {
            guard let policy = parsePolicy(name) else {
                throw TraceError(line: first.number, field: "policies[\(index)]", "'\(name)' is not a policy; expected one of \(policyNames)")
            }
            trace.policies.append(policy)
        }
        for (number, text) in lines.dropFirst() {
            let line = try JSONLine(number: number, text: text)
            let operation = try Self.operation(line)
            trace.steps.append(Step(line: number, operation: operation, outcome: try line.has("outcome") ? Self.outcome(line, for: operation) : nil))
        }
        return trace
    }

    static var policyNames: String { UnmapPolicy.presets.map(\.name).joined(separator: ", ") + ", or PARTIAL/EMPTY" }

    /// A preset name, or "partial/empty" with the two halves' names (reject-bisect/fail).
    static func parsePolicy(_ text: String) -> UnmapPolicy? {
        if let preset = UnmapPolicy(named: text) { return preset }
        let parts = text.split(separator: "/").map(String.init)
        guard parts.count == 2, let partial = PartialUnmap(rawValue: parts[0]), let empty = EmptyUnmap(rawValue: parts[1]) else { return nil }
        return UnmapPolicy(partial: partial, empty: empty)
    }

    private static func configuration(_ line: JSONLine) throws(TraceError) -> AddressSpaceConfiguration {
        var configuration = AddressSpaceConfiguration()
        if line.has("pageSize") { configuration.pageSize = try line.address("pageSize") }
        if line.has("addressWidth") { configuration.addressWidth = try line.integer("addressWidth") }
        if line.has("mappingLimit") { configuration.mappingLimit = try line.integer("mappingLimit") }
        if line.has("policy") {
            let name = try line.string("policy")
            guard let policy = parsePolicy(name) else { throw TraceError(line: line.number, field: "configuration.policy", "'\(name)' is not a policy; expected one of \(policyNames)") }
            configuration.unmapPolicy = policy
        }
        if line.has("reserved") {
            var regions: [ClosedRange<UInt64>] = []
            for (index, value) in try line.array("reserved").enumerated() {
                guard let pair = value as? [Any], pair.count == 2 else {
                    throw TraceError(line: line.number, field: "configuration.reserved[\(index)]", "expected [first, last], two addresses")
                }
                let bounds = JSONLine(number: line.number, object: ["first": pair[0], "last": pair[1]])
                let low = try bounds.address("first"), high = try bounds.address("last")
                guard low <= high else { throw TraceError(line: line.number, field: "configuration.reserved[\(index)]", "first \(hex(low)) is above last \(hex(high))") }
                regions.append(low...high)
            }
            configuration.reservedRegions = regions
        }
        do {
            try configuration.validate()
        } catch {
            throw TraceError(line: line.number, field: "configuration", error.description)
        }
        return configuration
    }

    private static let operations: [(String, Int)] = [("map", 0), ("unmap", 1), ("unmap-all", 2), ("translate", 3)]

    private static func operation(_ line: JSONLine) throws(TraceError) -> AddressSpaceOperation {
        switch try line.choice("op", operations) {
        case 0:
            let text = try line.string("permissions")
            guard let permissions = Permissions(text) else { throw TraceError(line: line.number, field: "permissions", "'\(text)' is not one of: r, w, rw, -") }
            return .map(iova: try line.address("iova"), length: try line.address("length"), phys: try line.address("phys"), permissions: permissions)
        case 1: return .unmap(iova: try line.address("iova"), length: try line.address("length"))
        case 2: return .unmapAll
        default: return .translate(iova: try line.address("iova"), access: try line.choice("access", Access.allCases.map { ($0.description, $0) }))
        }
    }

    /// `"outcome": "ok"` (with `"bytes"` after an unmap, `"phys"` after a translate) or an error name.
    private static func outcome(_ line: JSONLine, for operation: AddressSpaceOperation) throws(TraceError) -> AddressSpaceOutcome {
        let text = try line.string("outcome")
        switch operation {
        case .map:
            if text == "ok" { return .mapped }
            guard let error = AddressSpaceError(rawValue: text) else { throw unknownOutcome(line, text, AddressSpaceError.allCases.map(\.rawValue)) }
            return .failed(error)
        case .unmap, .unmapAll:
            if text == "ok" { return .unmapped(bytes: try line.address("bytes")) }
            guard let error = AddressSpaceError(rawValue: text) else { throw unknownOutcome(line, text, AddressSpaceError.allCases.map(\.rawValue)) }
            return .failed(error)
        case .translate:
            if text == "ok" { return .translated(phys: try line.address("phys")) }
            guard let fault = TranslationFault(rawValue: text) else { throw unknownOutcome(line, text, TranslationFault.allCases.map(\.rawValue)) }
            return .faulted(fault)
        }
    }

    private static func unknownOutcome(_ line: JSONLine, _ text: String, _ errors: [String]) -> TraceError {
        TraceError(line: line.number, field: "outcome", "'\(text)' is not an outcome of this operation; expected ok or one of: \(errors.joined(separator: ", "))")
    }

    // MARK: Writing

    /// The trace as JSON Lines text.
    public func encoded() -> String {
        let c = configuration
        let header = TraceHeader.encode(surface: .addressSpace, configuration: [
            ("pageSize", .string(hex(c.pageSize))), ("addressWidth", .integer(c.addressWidth)),
            ("reserved", .array(c.reservedRegions.map { .array([.string(hex($0.lowerBound)), .string(hex($0.upperBound))]) })),
            ("mappingLimit", .integer(c.mappingLimit)), ("policy", .string(c.unmapPolicy.description)),
        ], description: description)
        return ([header] + steps.map { Self.encode($0.operation, $0.outcome) }).joined(separator: "\n") + "\n"
    }

    static func encode(_ operation: AddressSpaceOperation, _ outcome: AddressSpaceOutcome?) -> String {
        var fields: [(String, JSONValue)]
        switch operation {
        case .map(let iova, let length, let phys, let permissions):
            fields = [("op", .string("map")), ("iova", .string(hex(iova))), ("length", .string(hex(length))), ("phys", .string(hex(phys))), ("permissions", .string(permissions.description))]
        case .unmap(let iova, let length):
            fields = [("op", .string("unmap")), ("iova", .string(hex(iova))), ("length", .string(hex(length)))]
        case .unmapAll:
            fields = [("op", .string("unmap-all"))]
        case .translate(let iova, let access):
            fields = [("op", .string("translate")), ("iova", .string(hex(iova))), ("access", .string(access.description))]
        }
        switch outcome {
        case nil: break
        case .mapped: fields.append(("outcome", .string("ok")))
        case .unmapped(let bytes): fields += [("outcome", .string("ok")), ("bytes", .string(hex(bytes)))]
        case .translated(let phys): fields += [("outcome", .string("ok")), ("phys", .string(hex(phys)))]
        case .failed(let error): fields.append(("outcome", .string(error.rawValue)))
        case .faulted(let fault): fields.append(("outcome", .string(fault.rawValue)))
        }
        return jsonLine(fields)
    }
}
