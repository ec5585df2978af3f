import IOMMUConformance
import IOMMUSpec
import Testing

@Suite struct AddressSpaceTraceTests {
    static let header = #"{"trace":"iommu-conformance","version":2,"surface":"address-space","configuration":{"pageSize":"0x1000","aperture":["0x0","0xffffffffffff"],"reserved":[["0xfee00000","0xfeefffff","msi"]],"mappingLimit":65535,"policy":"vfio-type1"}}"#
    static let versionOneHeader = #"{"trace":"iommu-conformance","version":1,"surface":"address-space","configuration":{"pageSize":"0x1000","addressWidth":48,"policy":"vfio-type1"}}"#

    @Test func aTraceRoundTripsThroughItsText() throws {
        let configuration = AddressSpaceConfiguration(pageSize: 0x800, aperture: 0x4000_0000...0x7FFF_FFFF, reservedRegions: [ReservedRegion(0x5000_0000...0x5000_0FFF, kind: .reserved)],
                                                      mappingLimit: nil, policy: try AddressSpacePolicy(parsing: "iommufd-vfio-compat:write-only-reads=either"))
        var trace = AddressSpaceTrace(configuration: configuration, description: "round trip")
        trace.steps = [
            .init(line: 2, operation: .map(iova: 0x1000, length: 0x2000, phys: 0xfffff000, permissions: .read), outcome: .mapped),
            .init(line: 3, operation: .translate(iova: 0x1fff, access: .read), outcome: .translated(phys: 0x100000fff)),
            .init(line: 4, operation: .unmap(iova: 0x1000, length: 0x1000), outcome: .partlyUnmapped(.partialUnmap, bytes: 0x800)),
            .init(line: 5, operation: .unmapAll(), outcome: .unmapped(bytes: 0x2000)),
            .init(line: 6, operation: .unmapAll(iova: 0x1000, length: 0), outcome: .failed(.unmapAllArguments)),
        ]
        let parsed = try AddressSpaceTrace.parse(trace.encoded())
        #expect(parsed.configuration == trace.configuration)
        #expect(parsed.steps.map(\.operation) == trace.steps.map(\.operation))
        #expect(parsed.steps.map(\.outcome) == trace.steps.map(\.outcome))
        #expect(parsed.steps.map(\.line) == [2, 3, 4, 5, 6])
        #expect(parsed.configuration.policy.spelled == "iommufd-vfio-compat:write-only-reads=either")
    }

    @Test func verifyAcceptsAConformingTrace() throws {
        let text = Self.header + "\n" + [
            #"{"op":"map","iova":"0x0","length":"0x2000","phys":"0x10000","permissions":"rw","outcome":"ok"}"#,
            #"{"op":"unmap","iova":"0x0","length":"0x1000","outcome":"bisects-mapping"}"#,
            #"{"op":"translate","iova":"0x1004","access":"write","outcome":"ok","phys":"0x11004"}"#,
        ].joined(separator: "\n")
        let verdict = try AddressSpaceTrace.parse(text).verify()
        #expect(verdict.conforms, "\(verdict)")
        #expect(verdict.checkedSteps == 3)
    }

    /// A map accepted and not carried out (a kernel that could not pin it) ends what can be
    /// judged: it conforms where the model accepts the map, and nothing may follow it.
    @Test func anUnobservableMapEndsTheTrace() throws {
        let map = #"{"op":"map","iova":"0x0","length":"0x2000","phys":"0x10000","permissions":"rw","outcome":"unobservable"}"#
        let last = try AddressSpaceTrace.parse(Self.header + "\n" + map).verify()
        #expect(last.conforms, "\(last)")
        let followed = try AddressSpaceTrace.parse(Self.header + "\n" + map + "\n" + #"{"op":"translate","iova":"0x0","access":"read","outcome":"not-mapped"}"#).verify()
        #expect(followed.problem?.line == 3 && followed.problem?.message.contains("goes on after an unobservable map") == true, "\(followed)")
        let refused = try AddressSpaceTrace.parse(Self.header + "\n" + #"{"op":"map","iova":"0x800","length":"0x1000","phys":"0x0","permissions":"r","outcome":"unobservable"}"#).verify()
        #expect(refused.problem?.message.contains("accepted the request") == true, "a misaligned map the kernel cannot have accepted: \(refused)")
    }

    /// A trace recorded where faults have no reasons (a device's DMA) is judged so: a write to a
    /// read-only mapping recorded as not-mapped conforms there, and nowhere else.
    @Test func aTraceWithoutFaultReasonsIsJudgedAsRecorded() throws {
        let steps = [
            #"{"op":"map","iova":"0x0","length":"0x1000","phys":"0x10000","permissions":"r","outcome":"ok"}"#,
            #"{"op":"translate","iova":"0x0","access":"write","outcome":"not-mapped"}"#,
        ].joined(separator: "\n")
        let without = Self.header.replacingOccurrences(of: #""policy":"vfio-type1"}"#, with: #""policy":"vfio-type1","faultReasons":false}"#)
        let parsed = try AddressSpaceTrace.parse(without + "\n" + steps)
        #expect(!parsed.faultReasons && parsed.verify().conforms, "\(parsed.verify())")
        #expect(try AddressSpaceTrace.parse(parsed.encoded()).faultReasons == false)
        #expect(!(try AddressSpaceTrace.parse(Self.header + "\n" + steps).verify().conforms))
    }

    @Test func verifyNamesTheFirstLineTheModelRejects() throws {
        let text = Self.header + "\n" + [
            #"{"op":"map","iova":"0x0","length":"0x2000","phys":"0x10000","permissions":"rw","outcome":"ok"}"#,
            #"{"op":"unmap","iova":"0x0","length":"0x1000","outcome":"ok","bytes":"0x1000"}"#,
            #"{"op":"translate","iova":"0x0","access":"read","outcome":"not-mapped"}"#,
        ].joined(separator: "\n")
        let verdict = try AddressSpaceTrace.parse(text).verify()
        #expect(verdict.problem?.line == 3)
        #expect(verdict.problem?.message.contains("bisects-mapping") == true)
        #expect(verdict.checkedSteps == 1)
    }

    /// Any applicable error conforms: this request is both misaligned and wrapping.
    @Test func verifyAcceptsAnyApplicableError() throws {
        let line = #"{"op":"map","iova":"0xfffffffffffff800","length":"0x1000","phys":"0x0","permissions":"rw","outcome":"%@"}"#
        for outcome in ["misaligned", "overflow", "outside-aperture"] {
            let verdict = try AddressSpaceTrace.parse(Self.header + "\n" + line.replacingOccurrences(of: "%@", with: outcome)).verify()
            #expect(verdict.conforms, "\(outcome): \(verdict)")
        }
        let wrong = try AddressSpaceTrace.parse(Self.header + "\n" + line.replacingOccurrences(of: "%@", with: "overlap")).verify()
        #expect(!wrong.conforms)
    }

    @Test(arguments: [
        ("", 1, nil, "empty trace"),
        ("not json", 1, nil, "not valid JSON"),
        (#"{"trace":"something-else","version":1}"#, 1, "trace", "expected"),
        (#"{"trace":"iommu-conformance","version":9,"surface":"address-space","configuration":{}}"#, 1, "version", "not supported"),
        (#"{"trace":"iommu-conformance","version":1,"surface":"plumbing","configuration":{}}"#, 1, "surface", "not one of"),
        (#"{"trace":"iommu-conformance","version":1,"surface":"address-space","configuration":{"pageSize":"0x1001","policy":"vfio-type1"}}"#, 1, "configuration", "power of two"),
        (#"{"trace":"iommu-conformance","version":1,"surface":"address-space","configuration":{"policy":"lenient"}}"#, 1, "configuration.policy", "not a policy"),
        (#"{"trace":"iommu-conformance","version":1,"surface":"address-space","configuration":{}}"#, 1, "configuration", "empty; state the configuration"),
        (#"{"trace":"iommu-conformance","version":2,"surface":"address-space","configuration":{"policy":"iommufd"}}"#, 1, "configuration.pageSize", "missing"),
        (#"{"trace":"iommu-conformance","version":2,"surface":"address-space","configuration":{"pageSize":"0x1000","aperture":["0x0","0xffff"],"reserved":[["0x0","0xfff","doorbell"]],"policy":"iommufd"}}"#, 1, "configuration.reserved[0]", "not one of"),
        (#"{"trace":"iommu-conformance","version":2,"surface":"address-space","configuration":{"pageSize":"0x1000","aperture":["0x0","0xffff"],"reserved":[],"mappingLimit":4,"policy":"iommufd"}}"#, 1, "configuration", "no mapping limit"),
        (#"{"trace":"iommu-conformance","version":2,"surface":"address-space","configuration":{"pageSize":"0x1000","aperture":["0x0","0xffff"],"reserved":[],"policy":"vfio-type1:bytes=sometimes"}}"#, 1, "configuration.policy", "not a value of bytes"),
        (header + "\n" + #"{"op":"remap","iova":"0x0"}"#, 2, "op", "not one of"),
        (header + "\n" + #"{"op":"map","iova":"0x0","length":"0x1000","phys":"0x0","permissions":"rw","outcome":"maybe"}"#, 2, "outcome", "not an outcome"),
        (header + "\n" + #"{"op":"map","iova":"zero","length":"0x1000","phys":"0x0","permissions":"rw"}"#, 2, "iova", "not a 0x-hex"),
        (header + "\n" + #"{"op":"map","iova":"0x0","length":"0x1000","phys":"0x0","permissions":"x"}"#, 2, "permissions", "not one of"),
        (header + "\n" + #"{"op":"map","iova":"0x0","phys":"0x0","permissions":"rw"}"#, 2, "length", "missing"),
        (header + "\n" + #"{"op":"translate","iova":-4,"access":"read"}"#, 2, "iova", "not an unsigned 64-bit integer"),
        (header + "\n" + #"{"op":"translate","iova":"0x0","access":true}"#, 2, "access", "expected a string, found a boolean"),
        (header + "\n\n" + #"["op"]"#, 3, nil, "expected a JSON object"),
        (versionOneHeader + "\n" + #"{"op":"unmap","iova":"0x0","length":"0x1000","outcome":"ok"}"#, 2, "bytes", "reports the bytes"),
    ] as [(String, Int, String?, String)])
    func malformedLinesAreClearErrors(text: String, line: Int, field: String?, message: String) {
        #expect {
            _ = try AddressSpaceTrace.parse(text)
        } throws: { error in
            guard let error = error as? TraceError else { return false }
            return error.line == line && error.field == field && error.description.contains(message)
        }
    }
}
