import IOMMUSpec

/// An Isolation trace: a topology and a sequence of operations with their outcomes.
/// Format: docs/TRACES.md.
public struct IsolationTrace: Sendable {
    public struct Step: Sendable {
        public var line: Int
        public var operation: IsolationOperation
        public var outcome: IsolationOutcome?

        public init(line: Int, operation: IsolationOperation, outcome: IsolationOutcome?) {
            self.line = line
            self.operation = operation
            self.outcome = outcome
        }
    }

    public var topology: Topology
    /// Scenario files list the policies they hold under; empty when the topology names one.
    public var policies: [IsolationPolicy] = []
    public var description: String?
    public var steps: [Step]

    public init(topology: Topology, steps: [Step] = [], description: String? = nil) {
        self.topology = topology
        self.steps = steps
        self.description = description
    }

    /// The topologies the trace is judged under: one per policy it names.
    public var judgedTopologies: [Topology] {
        (policies.isEmpty ? [topology.policy] : policies).map { policy in
            var topology = self.topology
            topology.policy = policy
            return topology
        }
    }

    static var policyNames: String { IsolationPolicy.presetNames.joined(separator: ", ") + " (optionally :SWITCH=VALUE,...)" }

    public static func parse(_ text: String) throws(TraceError) -> IsolationTrace { try parsed(text) }

    init(header: TraceHeader, line number: Int) throws(TraceError) {
        guard header.version >= 2 else {
            throw TraceError(line: number, field: "version", "version-1 isolation traces were judged under a contract that no longer holds (PASIDs per device, a second claim by the same owner shared); set \"version\": 2 and name the policy in the configuration (\(Self.policyNames))")
        }
        let policies = try header.namedPolicies(IsolationPolicy.self, line: number)
        self.init(topology: try Self.topology(header.configuration, namedPolicies: policies), description: header.description)
        self.policies = policies
    }

    func step(_ line: JSONLine) throws(TraceError) -> Step {
        let operation = try Self.operation(line)
        return Step(line: line.number, operation: operation, outcome: line.has("outcome") ? try Self.outcome(line, for: operation) : nil)
    }

    private static func integers(_ line: JSONLine, _ field: String) throws(TraceError) -> [Int] {
        var result: [Int] = []
        for (index, value) in try line.array(field).enumerated() {
            result.append(try JSONLine(number: line.number, object: ["\(field)[\(index)]": value]).integer("\(field)[\(index)]"))
        }
        return result
    }

    private static func topology(_ line: JSONLine, namedPolicies: [IsolationPolicy]) throws(TraceError) -> Topology {
        var policy = namedPolicies.first ?? .iommufd
        if line.has("policy") {
            policy = try line.policy(IsolationPolicy.self)
        } else if namedPolicies.isEmpty {
            throw TraceError(line: line.number, field: "configuration.policy", "missing: a trace names the policy it was recorded under (\(policyNames)), or a scenario lists its policies")
        }
        var groups: [[Int]] = []
        for (index, value) in try line.array("groups").enumerated() {
            guard case .array = value else { throw TraceError(line: line.number, field: "configuration.groups[\(index)]", "expected an array of device numbers") }
            groups.append(try integers(JSONLine(number: line.number, object: ["groups[\(index)]": value]), "groups[\(index)]"))
        }
        var pasidCapable: [Bool] = []
        for (index, value) in try line.array("pasidCapable").enumerated() {
            guard case .boolean(let flag) = value else {
                throw TraceError(line: line.number, field: "configuration.pasidCapable[\(index)]", "expected true or false")
            }
            pasidCapable.append(flag)
        }
        var drivers: [Driver] = []
        for (index, value) in try line.array("drivers").enumerated() {
            guard case .string(let text) = value, let driver = Driver(rawValue: text) else {
                throw TraceError(line: line.number, field: "configuration.drivers[\(index)]", "expected one of: \(Driver.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            drivers.append(driver)
        }
        let topology = Topology(
            groups: groups, pasidCapable: pasidCapable, contexts: try line.integer("contexts"),
            domainOwners: try integers(line, "domainOwners"), initialDrivers: drivers,
            maxPASID: try maxPASID(line), policy: policy
        )
        do {
            try topology.validate()
        } catch {
            throw TraceError(line: line.number, field: "configuration", error.description)
        }
        return topology
    }

    private static func maxPASID(_ line: JSONLine) throws(TraceError) -> UInt32 {
        guard line.has("maxPASID") else { return 15 }
        let value = try line.integer("maxPASID")
        guard value >= 1 && value < 1 << 20 else { throw TraceError(line: line.number, field: "configuration.maxPASID", "\(value) must be in 1 ... 2^20 - 1") }
        return UInt32(value)
    }

    private static let operations: [(String, Int)] = IsolationOperation.kindNames.enumerated().map { ($0.element, $0.offset) }

    private static func operation(_ line: JSONLine) throws(TraceError) -> IsolationOperation {
        switch try line.choice("op", operations) {
        case 0: return .bind(device: try line.integer("device"), driver: try line.choice("driver", Driver.allCases.map { ($0.rawValue, $0) }))
        case 1: return .claim(context: try line.integer("context"), group: try line.integer("group"))
        case 2: return .release(context: try line.integer("context"), group: try line.integer("group"))
        case 3: return .attach(context: try line.integer("context"), group: try line.integer("group"), domain: try line.integer("domain"))
        case 4: return .detach(context: try line.integer("context"), group: try line.integer("group"))
        case 5: return .attachPASID(context: try line.integer("context"), device: try line.integer("device"), pasid: try pasid(line), domain: try line.integer("domain"))
        case 6: return .detachPASID(context: try line.integer("context"), device: try line.integer("device"), pasid: try pasid(line))
        case 8: return .claimDevice(context: try line.integer("context"), device: try line.integer("device"))
        case 9: return .releaseDevice(context: try line.integer("context"), device: try line.integer("device"))
        case 10: return .attachDevice(context: try line.integer("context"), device: try line.integer("device"), domain: try line.integer("domain"))
        case 11: return .detachDevice(context: try line.integer("context"), device: try line.integer("device"))
        default:
            return .dma(device: try line.integer("device"), pasid: line.has("pasid") ? try pasid(line) : nil,
                        iova: try line.address("iova"), access: try line.choice("access", Access.allCases.map { ($0.description, $0) }))
        }
    }

    private static func pasid(_ line: JSONLine) throws(TraceError) -> UInt32 {
        let value = try line.address("pasid")
        guard value <= UInt64(UInt32.max) else { throw TraceError(line: line.number, field: "pasid", "\(value) does not fit in 32 bits") }
        return UInt32(value)
    }

    /// `"outcome": "ok"` (a DMA adds `"domain"` and `"phys"`), an error name, or a DMA fault.
    private static func outcome(_ line: JSONLine, for operation: IsolationOperation) throws(TraceError) -> IsolationOutcome {
        let text = try line.string("outcome")
        if case .dma = operation {
            switch text {
            case "ok": return .dma(.reached(domain: try line.integer("domain"), phys: try line.address("phys")))
            case "kernel-domain": return .dma(.kernelDomain)
            case "blocked": return .dma(.blocked)
            case "bypass": return .dma(.bypass)
            case "no-domain": return .dma(.noDomain)
            default:
                guard let fault = TranslationFault(rawValue: text) else {
                    throw TraceError(line: line.number, field: "outcome", "'\(text)' is not a DMA outcome; expected ok, kernel-domain, blocked, bypass, no-domain or one of: \(TranslationFault.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return .dma(.faulted(fault))
            }
        }
        if text == "ok" { return .done }
        guard let error = IsolationError(rawValue: text) else {
            throw TraceError(line: line.number, field: "outcome", "'\(text)' is not an outcome of this operation; expected ok or one of: \(IsolationError.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return .failed(error)
    }

    public func encoded() -> String {
        let t = topology
        let header = TraceHeader.encode(surface: .isolation, configuration: [
            ("groups", .array(t.groups.map { .array($0.map { .integer($0) }) })),
            ("pasidCapable", .array(t.pasidCapable.map { .boolean($0) })),
            ("contexts", .integer(t.contexts)),
            ("domainOwners", .array(t.domainOwners.map { .integer($0) })),
            ("drivers", .array(t.initialDrivers.map { .string($0.rawValue) })),
            ("maxPASID", .integer(Int(t.maxPASID))),
            ("policy", .string(t.policy.description)),
        ], description: description)
        return ([header] + steps.map { Self.encode($0.operation, $0.outcome) }).joined(separator: "\n") + "\n"
    }

    static func encode(_ operation: IsolationOperation, _ outcome: IsolationOutcome?) -> String {
        var fields: [(String, JSONValue)] = [("op", .string(IsolationOperation.kindNames[operation.kind]))]
        switch operation {
        case .bind(let device, let driver): fields += [("device", .integer(device)), ("driver", .string(driver.rawValue))]
        case .claim(let context, let group), .release(let context, let group), .detach(let context, let group):
            fields += [("context", .integer(context)), ("group", .integer(group))]
        case .attach(let context, let group, let domain): fields += [("context", .integer(context)), ("group", .integer(group)), ("domain", .integer(domain))]
        case .attachPASID(let context, let device, let pasid, let domain):
            fields += [("context", .integer(context)), ("device", .integer(device)), ("pasid", .integer(Int(pasid))), ("domain", .integer(domain))]
        case .detachPASID(let context, let device, let pasid): fields += [("context", .integer(context)), ("device", .integer(device)), ("pasid", .integer(Int(pasid)))]
        case .claimDevice(let context, let device), .releaseDevice(let context, let device), .detachDevice(let context, let device):
            fields += [("context", .integer(context)), ("device", .integer(device))]
        case .attachDevice(let context, let device, let domain): fields += [("context", .integer(context)), ("device", .integer(device)), ("domain", .integer(domain))]
        case .dma(let device, let pasid, let iova, let access):
            fields.append(("device", .integer(device)))
            if let pasid { fields.append(("pasid", .integer(Int(pasid)))) }
            fields += [("iova", .string(hex(iova))), ("access", .string(access.description))]
        }
        switch outcome {
        case nil: break
        case .done: fields.append(("outcome", .string("ok")))
        case .failed(let error): fields.append(("outcome", .string(error.rawValue)))
        case .dma(.reached(let domain, let phys)): fields += [("outcome", .string("ok")), ("domain", .integer(domain)), ("phys", .string(hex(phys)))]
        case .dma(let other): fields.append(("outcome", .string(other.label)))
        }
        return jsonLine(fields)
    }
}
