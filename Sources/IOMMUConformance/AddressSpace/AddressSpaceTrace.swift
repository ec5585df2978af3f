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
        /// Whether an unmap's line states its bytes (a virtio-iommu log has none to state).
        public var statesBytes: Bool

        public init(line: Int, operation: AddressSpaceOperation, outcome: AddressSpaceOutcome?, statesBytes: Bool = true) {
            self.line = line
            self.operation = operation
            self.outcome = outcome
            self.statesBytes = statesBytes
        }
    }

    public var configuration: AddressSpaceConfiguration
    /// Scenario files list the policies they hold under; empty when the configuration names one.
    public var policies: [AddressSpacePolicy]
    public var description: String?
    /// Whether the implementation that recorded it says why an access faulted (header
    /// `"faultReasons": false` where it cannot, as a device's DMA cannot): judged as recorded.
    public var faultReasons = true
    public var steps: [Step]

    public init(configuration: AddressSpaceConfiguration, steps: [Step] = [], description: String? = nil) {
        self.configuration = configuration
        self.policies = []
        self.description = description
        self.steps = steps
    }

    /// The configurations the trace is judged under: one per policy it names, each with the
    /// mapping limit only where that policy has one.
    public var judgedConfigurations: [AddressSpaceConfiguration] {
        (policies.isEmpty ? [configuration.policy] : policies).map { policy in
            var configuration = self.configuration
            configuration.policy = policy
            // A scenario states a limit for the policies that have one.
            if !policies.isEmpty && !policy.hasMappingLimit { configuration.mappingLimit = nil }
            if !policy.hasAperture {
                configuration.aperture = 0...UInt64.max
                configuration.reservedRegions = []
            }
            return configuration
        }
    }

    // MARK: Reading

    /// Parses trace text; a malformed line is an error naming the line and field.
    public static func parse(_ text: String) throws(TraceError) -> AddressSpaceTrace { try parsed(text) }

    /// The configuration from a header line: each judged configuration must be one the model
    /// can hold.
    init(header: TraceHeader, line number: Int) throws(TraceError) {
        let policies = try header.namedPolicies(AddressSpacePolicy.self, line: number)
        let configuration = try Self.configuration(header.configuration, version: header.version, namedPolicies: policies)
        self.init(configuration: configuration, description: header.description)
        self.policies = policies
        if header.configuration.has("faultReasons") { faultReasons = try header.configuration.boolean("faultReasons") }
        for configuration in judgedConfigurations { _ = try header.validated(configuration, line: number, under: "under \(configuration.policy): ") }
    }

    /// One operation line. A policy that reports bytes needs every successful unmap line to
    /// state them.
    func step(_ line: JSONLine) throws(TraceError) -> Step {
        let operation = try Self.operation(line)
        let outcome = try line.has("outcome") ? Self.outcome(line, for: operation) : nil
        let step = Step(line: line.number, operation: operation, outcome: outcome, statesBytes: line.has("bytes"))
        if !step.statesBytes, let outcome, Self.isUnmapSuccess(outcome),
           let policy = judgedConfigurations.first(where: { $0.policy.bytes != .notReported })?.policy {
            throw TraceError(line: line.number, field: "bytes", "missing; \(policy) reports the bytes an unmap removed")
        }
        return step
    }

    private static func isUnmapSuccess(_ outcome: AddressSpaceOutcome) -> Bool {
        if case .unmapped = outcome { return true }
        return false
    }

    static var policyNames: String { AddressSpacePolicy.presetNames.joined(separator: ", ") + " (optionally :SWITCH=VALUE,...)" }

    /// Version 2: every field stated, `aperture` as [first, last], reserved regions with their
    /// kind, `mappingLimit` only where there is one. Version 1: the defaults of that version
    /// (4 KiB pages, a 48-bit aperture, the MSI window reserved, a limit of 65535), reserved
    /// regions of the reserved kind, `addressWidth` for the aperture.
    private static func configuration(_ line: JSONLine, version: Int, namedPolicies: [AddressSpacePolicy]) throws(TraceError) -> AddressSpaceConfiguration {
        let v1 = version == 1
        func field(_ name: String) -> String { "configuration.\(name)" }
        // Version 1 has defaults for what it leaves out, but an empty object states nothing at
        // all: more likely a logger that lost its configuration than a choice of defaults.
        guard !line.object.isEmpty else {
            throw TraceError(line: line.number, field: "configuration", "empty; state the configuration the trace was recorded under (pageSize, aperture, reserved, mappingLimit, policy: docs/TRACES.md)")
        }
        var configuration = AddressSpaceConfiguration(reservedRegions: [ReservedRegion(AddressSpaceConfiguration.x86MSIWindow, kind: .reserved)])
        if line.has("policy") {
            let name = try line.string("policy")
            do {
                configuration.policy = try AddressSpacePolicy(parsing: name)
            } catch {
                throw TraceError(line: line.number, field: field("policy"), error.description)
            }
        } else if namedPolicies.isEmpty {
            throw TraceError(line: line.number, field: field("policy"), "missing: a trace names the policy it was recorded under (\(policyNames)), or a scenario lists its policies")
        }
        if line.has("pageSize") || !v1 { configuration.pageSize = try line.address("pageSize", field: field("pageSize")) }
        if line.has("aperture") {
            configuration.aperture = try range(line, "aperture", field("aperture"))
        } else if line.has("addressWidth") || !v1 {
            let width = try line.integer("addressWidth", field: field("addressWidth"))
            guard (1...64).contains(width) else { throw TraceError(line: line.number, field: field("addressWidth"), "\(width) is not a width of 1 to 64 bits") }
            configuration.aperture = AddressSpaceConfiguration.aperture(width: width)
        }
        if line.has("reserved") || !v1 {
            var regions: [ReservedRegion] = []
            for (index, value) in try line.array("reserved", field: field("reserved")).enumerated() {
                regions.append(try reservedRegion(value, line, field("reserved[\(index)]")))
            }
            configuration.reservedRegions = regions
        }
        if line.has("mappingLimit") {
            configuration.mappingLimit = try line.integer("mappingLimit", field: field("mappingLimit"))
        } else if !v1 {
            configuration.mappingLimit = nil
        }
        return configuration
    }

    private static func range(_ line: JSONLine, _ name: String, _ field: String) throws(TraceError) -> ClosedRange<UInt64> {
        let pair = try line.array(name, field: field)
        guard pair.count == 2 else { throw TraceError(line: line.number, field: field, "expected [first, last], two addresses") }
        let bounds = JSONLine(number: line.number, object: ["first": pair[0], "last": pair[1]])
        let low = try bounds.address("first", field: field), high = try bounds.address("last", field: field)
        guard low <= high else { throw TraceError(line: line.number, field: field, "first \(hex(low)) is above last \(hex(high))") }
        return low...high
    }

    /// `[first, last]` (the reserved kind) or `[first, last, "reserved" | "msi"]`.
    private static func reservedRegion(_ value: JSONValue, _ line: JSONLine, _ field: String) throws(TraceError) -> ReservedRegion {
        guard case .array(let items) = value, items.count == 2 || items.count == 3 else {
            throw TraceError(line: line.number, field: field, "expected [first, last] or [first, last, kind]")
        }
        let entry = JSONLine(number: line.number, object: ["range": .array(Array(items.prefix(2))), "kind": items.count == 3 ? items[2] : .string("reserved")])
        let kinds = ReservedKind.allCases.map { ($0.rawValue, $0) }
        return ReservedRegion(try range(entry, "range", field), kind: try entry.choice("kind", kinds, field: field))
    }

    private static let operations: [(String, Int)] = [("map", 0), ("unmap", 1), ("unmap-all", 2), ("translate", 3)]

    private static func operation(_ line: JSONLine) throws(TraceError) -> AddressSpaceOperation {
        switch try line.choice("op", operations) {
        case 0:
            let text = try line.string("permissions")
            guard let permissions = Permissions(text) else { throw TraceError(line: line.number, field: "permissions", "'\(text)' is not one of: r, w, rw, -") }
            return .map(iova: try line.address("iova"), length: try line.address("length"), phys: try line.address("phys"), permissions: permissions)
        case 1: return .unmap(iova: try line.address("iova"), length: try line.address("length"))
        case 2: return .unmapAll(iova: try line.optionalAddress("iova") ?? 0, length: try line.optionalAddress("length") ?? 0)
        default: return .translate(iova: try line.address("iova"), access: try line.choice("access", Access.allCases.map { ($0.description, $0) }))
        }
    }

    /// `"outcome": "ok"` (with `"bytes"` after an unmap, `"phys"` after a translate) or an error
    /// name (with `"bytes"` after an unmap that failed having removed some).
    private static func outcome(_ line: JSONLine, for operation: AddressSpaceOperation) throws(TraceError) -> AddressSpaceOutcome {
        let text = try line.string("outcome")
        switch operation {
        case .map:
            if text == "ok" { return .mapped }
            guard let error = AddressSpaceError(rawValue: text) else { throw unknownOutcome(line, text, AddressSpaceError.allCases.map(\.rawValue)) }
            return .failed(error)
        case .unmap, .unmapAll:
            if text == "ok" { return .unmapped(bytes: try line.optionalAddress("bytes") ?? 0) }
            guard let error = AddressSpaceError(rawValue: text) else { throw unknownOutcome(line, text, AddressSpaceError.allCases.map(\.rawValue)) }
            let bytes = try line.optionalAddress("bytes") ?? 0
            return bytes == 0 ? .failed(error) : .partlyUnmapped(error, bytes: bytes)
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

    /// The trace as JSON Lines text (format version 2).
    public func encoded() -> String {
        let c = configuration
        var fields: [(String, JSONValue)] = [
            ("pageSize", .string(hex(c.pageSize))),
            ("aperture", .array([.string(hex(c.aperture.lowerBound)), .string(hex(c.aperture.upperBound))])),
            ("reserved", .array(c.reservedRegions.map { .array([.string(hex($0.range.lowerBound)), .string(hex($0.range.upperBound)), .string($0.kind.rawValue)]) })),
        ]
        if let limit = c.mappingLimit { fields.append(("mappingLimit", .integer(limit))) }
        fields.append(("policy", .string(c.policy.spelled)))
        if !faultReasons { fields.append(("faultReasons", .boolean(false))) }
        let header = TraceHeader.encode(surface: .addressSpace, configuration: fields, description: description)
        return ([header] + steps.map { Self.encode($0.operation, $0.outcome) }).joined(separator: "\n") + "\n"
    }

    static func encode(_ operation: AddressSpaceOperation, _ outcome: AddressSpaceOutcome?) -> String {
        var fields: [(String, JSONValue)]
        switch operation {
        case .map(let iova, let length, let phys, let permissions):
            fields = [("op", .string("map")), ("iova", .string(hex(iova))), ("length", .string(hex(length))), ("phys", .string(hex(phys))), ("permissions", .string(permissions.description))]
        case .unmap(let iova, let length):
            fields = [("op", .string("unmap")), ("iova", .string(hex(iova))), ("length", .string(hex(length)))]
        case .unmapAll(0, 0):
            fields = [("op", .string("unmap-all"))]
        case .unmapAll(let iova, let length):
            fields = [("op", .string("unmap-all")), ("iova", .string(hex(iova))), ("length", .string(hex(length)))]
        case .translate(let iova, let access):
            fields = [("op", .string("translate")), ("iova", .string(hex(iova))), ("access", .string(access.description))]
        }
        switch outcome {
        case nil: break
        case .mapped: fields.append(("outcome", .string("ok")))
        case .unmapped(let bytes): fields += [("outcome", .string("ok")), ("bytes", .string(hex(bytes)))]
        case .translated(let phys): fields += [("outcome", .string("ok")), ("phys", .string(hex(phys)))]
        case .failed(let error): fields.append(("outcome", .string(error.rawValue)))
        case .partlyUnmapped(let error, let bytes): fields += [("outcome", .string(error.rawValue)), ("bytes", .string(hex(bytes)))]
        case .faulted(let fault): fields.append(("outcome", .string(fault.rawValue)))
        }
        return jsonLine(fields)
    }
}
