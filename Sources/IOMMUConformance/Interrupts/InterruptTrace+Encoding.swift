import IOMMUSpec

extension InterruptTrace {
    public init(configuration: InterruptConfiguration) {
        self.init(configuration: configuration, description: nil, steps: [])
    }

    /// The trace as JSON Lines (docs/TRACES.md); `parse` reads it back.
    public func encoded() -> String {
        let header = TraceHeader.encode(surface: .interrupts, configuration: [
            ("vectors", .integer(configuration.vectors)),
            ("dynamicAllocation", .boolean(configuration.dynamicAllocation)),
            ("defaultPASID", .integer(Int(configuration.defaultPASID))),
            ("policy", .string(configuration.policy.description)),
        ], description: description)
        return ([header] + steps.map { Self.encode($0.operation, $0.outcome) }).joined(separator: "\n") + "\n"
    }

    static func encode(_ operation: InterruptOperation, _ outcome: Outcome?) -> String {
        var fields: [(String, JSONValue)] = [("op", .string(InterruptOperation.kindNames[operation.kind]))]
        switch operation {
        case .setEnabled(let on, _), .setFunctionMask(let on, _): fields.append(("on", .boolean(on)))
        case .writeEntry(let vector, let address, let data, _):
            fields += [("vector", .integer(vector)), ("address", .string(hex(address))), ("data", .string(hex(UInt64(data))))]
        case .setVectorMask(let vector, let masked, _): fields += [("vector", .integer(vector)), ("masked", .boolean(masked))]
        case .setPASID(let vector, let pasid, _):
            fields.append(("vector", .integer(vector)))
            if let pasid { fields.append(("pasid", .integer(Int(pasid)))) }
        case .raise(let vector, let pasid): fields += [("vector", .integer(vector)), ("pasid", .integer(Int(pasid)))]
        }
        if !operation.injections.isEmpty {
            fields.append(("raises", .array(operation.injections.map {
                .object([("after", .integer($0.afterCall)), ("vector", .integer($0.vector)), ("pasid", .integer(Int($0.pasid)))])
            })))
        }
        if let outcome {
            fields.append(("delivered", .array(outcome.delivered.map {
                .array([.integer($0.vector), .string(hex($0.address)), .string(hex(UInt64($0.data)))])
            })))
            fields.append(("pending", .string(hex(outcome.pending))))
        }
        return jsonLine(fields)
    }
}
