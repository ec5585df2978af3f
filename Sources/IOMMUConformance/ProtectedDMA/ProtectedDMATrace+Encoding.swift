import IOMMUSpec

extension ProtectedDMATrace: EncodableTrace {
    /// The trace as JSON Lines (docs/TRACES.md); `parse` reads it back.
    public func encoded() -> String {
        let c = configuration
        let header = TraceHeader.encode(surface: .protectedDMA, configuration: [
            ("bufferPages", .integer(c.bufferPages)), ("coherentPages", .integer(c.coherentPages)),
            ("poolSlots", .integer(c.poolSlots)), ("segmentSlots", .integer(c.segmentSlots)),
            ("minAlignMask", .string(hex(c.minAlignMask))), ("virtio", .string(c.virtio.rawValue)),
        ], description: description)
        return ([header] + steps.map { Self.encode($0.operation, $0.outcome) }).joined(separator: "\n") + "\n"
    }

    static func hexBytes(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func target(_ target: ProtectedDMAOperation.Target) -> [(String, JSONValue)] {
        switch target {
        case .buffers: [("target", .string("buffers"))]
        case .mapping(let id): [("target", .string("mapping")), ("of", .integer(id))]
        case .coherent(let id): [("target", .string("coherent")), ("of", .integer(id))]
        }
    }

    static func encode(_ operation: ProtectedDMAOperation, _ outcome: Outcome?) -> String {
        var fields: [(String, JSONValue)] = [("op", .string(ProtectedDMAOperation.kindNames[operation.kind]))]
        switch operation {
        case .map(let id, let offset, let size, let direction, _):
            fields += [("id", .integer(id)), ("offset", .integer(offset)), ("size", .integer(size)), ("direction", .string(direction.rawValue))]
        case .unmap(let id, _), .freeCoherent(let id, _): fields.append(("id", .integer(id)))
        case .syncForDevice(let id, let offset, let length, _), .syncForCPU(let id, let offset, let length, _):
            fields += [("id", .integer(id)), ("offset", .integer(offset)), ("length", .integer(length))]
        case .allocCoherent(let id, let size, _), .setupVirtqueue(let id, let size): fields += [("id", .integer(id)), ("size", .integer(size))]
        case .cpuWrite(let t, let offset, let data), .deviceWrite(let t, let offset, let data):
            fields += target(t) + [("offset", .integer(offset)), ("data", .string(hexBytes(data)))]
        case .cpuRead(let t, let offset, let length), .deviceRead(let t, let offset, let length):
            fields += target(t) + [("offset", .integer(offset)), ("length", .integer(length))]
        }
        if !operation.injections.isEmpty {
            fields.append(("during", .array(operation.injections.map { injection in
                switch injection.event {
                case .deviceWrite(let t, let offset, let data):
                    .object([("after", .integer(injection.after)), ("event", .string("device-write"))] + target(t) + [("offset", .integer(offset)), ("data", .string(hexBytes(data)))])
                case .map(let id, let offset, let size, let direction):
                    .object([("after", .integer(injection.after)), ("event", .string("map")), ("id", .integer(id)), ("offset", .integer(offset)),
                             ("size", .integer(size)), ("direction", .string(direction.rawValue))])
                }
            })))
        }
        if let outcome {
            if !outcome.mapped.isEmpty {
                fields.append(("mapped", .array(outcome.mapped.map { .array([.integer($0.id), $0.dma.map { .string(hex($0)) } ?? .null]) })))
            }
            switch operation {
            case .allocCoherent, .setupVirtqueue:
                fields.append(("coherent", .array(outcome.coherent.map { [.string(hex($0.cpu)), .string(hex($0.dma))] } ?? [])))
            case .cpuRead, .deviceRead:
                if let data = outcome.data { fields.append(("data", .string(hexBytes(data)))) } else { fields.append(("faulted", .boolean(true))) }
            default: break
            }
        }
        return jsonLine(fields)
    }
}
