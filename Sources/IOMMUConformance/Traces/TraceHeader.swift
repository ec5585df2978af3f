import Foundation
import IOMMUSpec

/// The first line of every trace: what it is, which surface, under which configuration.
/// `{"trace":"iommu-conformance","version":2,"surface":"address-space","configuration":{...}}`
/// Scenario files may add `"policies": [...]` (run once per policy) and `"description"`.
/// Version 2 changed the address-space configuration (docs/TRACES.md); version 1 still reads.
struct TraceHeader {
    static let format = "iommu-conformance"
    static let version = 2
    static let readable = 1...2

    let version: Int
    let surface: Surface
    let configuration: JSONLine
    let policies: [String]
    let description: String?

    init(_ line: JSONLine) throws(TraceError) {
        let format = try line.string("trace")
        guard format == Self.format else { throw TraceError(line: line.number, field: "trace", "expected \"\(Self.format)\" (is this the first line of a trace?)") }
        version = try line.integer("version")
        guard Self.readable.contains(version) else { throw TraceError(line: line.number, field: "version", "version \(version) is not supported; this checker reads versions \(Self.readable.lowerBound) to \(Self.readable.upperBound)") }
        surface = try line.choice("surface", Surface.allCases.map { ($0.rawValue, $0) })
        configuration = try line.nested("configuration")
        if line.has("policies") {
            var names: [String] = []
            for (index, value) in try line.array("policies").enumerated() {
                guard case .string(let name) = value else { throw TraceError(line: line.number, field: "policies[\(index)]", "expected a policy name string") }
                names.append(name)
            }
            policies = names
        } else {
            policies = []
        }
        description = try line.optionalString("description")
    }

    /// The policies a scenario lists (`"policies"`), each refused with its sentence.
    func namedPolicies<P: SwitchedPolicy>(_ type: P.Type, line: Int) throws(TraceError) -> [P] {
        var result: [P] = []
        for (index, name) in policies.enumerated() {
            do {
                result.append(try P(parsing: name))
            } catch {
                throw TraceError(line: line, field: "policies[\(index)]", error.description)
            }
        }
        return result
    }

    /// `configuration` if it is possible, else the header's error with the reason.
    func validated<C: ValidatedConfiguration>(_ configuration: C, line: Int, under prefix: String = "") throws(TraceError) -> C {
        do {
            try configuration.validate()
        } catch {
            throw TraceError(line: line, field: "configuration", prefix + error.description)
        }
        return configuration
    }

    static func encode(surface: Surface, configuration: [(String, JSONValue)], description: String? = nil) -> String {
        var fields: [(String, JSONValue)] = [("trace", .string(format)), ("version", .integer(version)), ("surface", .string(surface.rawValue)), ("configuration", .object(configuration))]
        if let description { fields.append(("description", .string(description))) }
        return jsonLine(fields)
    }
}
