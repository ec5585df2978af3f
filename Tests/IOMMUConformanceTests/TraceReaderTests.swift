import IOMMUConformance
import IOMMUSpec
import Testing

/// The trace reader refuses what it cannot read exactly, with the line and field, and judges
/// nothing then (issue 15, items 15 to 20: each case was a trace that used to be misread).
@Suite struct TraceReaderTests {
    static let header = AddressSpaceTraceTests.header
    static let map = #"{"op":"map","iova":"0x0","length":"0x1000","phys":"0x0","permissions":"rw","outcome":"ok"}"#

    static func refusal(_ text: String) -> TraceError? {
        do {
            _ = try RecordedTrace.verify(Array(text.utf8))
            return nil
        } catch {
            return error
        }
    }

    static func mapLine(iova: String) -> String {
        #"{"op":"map","iova":"# + iova + #","length":"0x1000","phys":"0x0","permissions":"rw","outcome":"ok"}"#
    }

    @Test(arguments: ["18446744073709551616", "1e20", "1E3", "4096.0", "-1", "-0", "99999999999999999999999"])
    func numbersOutsideUInt64AreRefusedNotWrapped(_ number: String) {
        let error = Self.refusal(Self.header + "\n" + Self.mapLine(iova: number))
        #expect(error?.line == 2)
        #expect(error?.field == "iova")
        #expect(error?.message.contains(number) == true)
    }

    @Test func theLargestUInt64IsRead() throws {
        let text = Self.header + "\n" + #"{"op":"translate","iova":18446744073709551615,"access":"read","outcome":"outside-aperture"}"#
        #expect(try RecordedTrace.verify(Array(text.utf8)).verdict.conforms)
    }

    @Test(arguments: [#""0x+10000""#, #""+4096""#, #""-0""#, #""0x""#, #""""#, #"" 4096""#, #""0x1_000""#, #""٤""#])
    func signsAndStrayCharactersInAddressStringsAreRefused(_ text: String) {
        let error = Self.refusal(Self.header + "\n" + Self.mapLine(iova: text))
        #expect(error?.line == 2)
        #expect(error?.field == "iova")
    }

    @Test func aRepeatedKeyIsRefused() {
        let line = #"{"op":"map","iova":"0x0","iova":"0x1000","length":"0x1000","phys":"0x0","permissions":"rw","outcome":"ok"}"#
        let error = Self.refusal(Self.header + "\n" + line)
        #expect(error?.line == 2)
        #expect(error?.message.contains("'iova' appears twice") == true)
    }

    @Test func crlfLineEndsAreRead() throws {
        let text = Self.header + "\r\n" + Self.map + "\r\n" + Self.mapLine(iova: #""0x0""#).replacingOccurrences(of: #""ok""#, with: #""overlap""#) + "\r\n"
        let result = try RecordedTrace.verify(Array(text.utf8))
        #expect(result.verdict.conforms)
        #expect(result.verdict.checkedSteps == 2)
    }

    /// The byte-level line reader (issue 17) trims what Foundation's trim did: ASCII blanks,
    /// and Unicode spaces at an edge; blank and comment lines keep their numbers.
    @Test func blanksAroundLinesAndCommentsAreSkippedAsBefore() throws {
        let text = Self.header + "\n\t  \n   # a comment\n\u{00A0}" + Self.map + "\u{3000}\t\n \t" + Self.mapLine(iova: #""0x0""#).replacingOccurrences(of: #""ok""#, with: #""overlap""#)
        let result = try RecordedTrace.verify(Array(text.utf8))
        #expect(result.verdict.conforms)
        #expect(result.verdict.checkedSteps == 2)
        let wrong = Self.header + "\n\n# x\n " + Self.map + "\n\t" + Self.map
        let error = Self.refusal(wrong)
        #expect(error == nil)
        #expect(try RecordedTrace.verify(Array(wrong.utf8)).verdict.problem?.line == 5)
    }

    @Test(arguments: [("0X1000", UInt64(0x1000)), ("0xABCdef", 0xABCDEF), ("0xffffffffffffffff", .max), ("18446744073709551615", .max), ("007", 7)])
    func addressStringsAreRead(_ text: String, _ value: UInt64) {
        #expect(parseAddress(text) == value)
    }

    @Test(arguments: ["0x10000000000000000", "18446744073709551616", "0x", "0", "x10", "0x 1", "1 ", "0xg", "١"])
    func addressStringsOutOfRangeOrMalformedAreRefused(_ text: String) {
        #expect((parseAddress(text) == nil) == (text != "0"))
    }

    @Test func aLineWithoutItsOutcomeIsRefusedBeforeAnythingIsJudged() {
        // Line 2 does not conform (an overlap recorded as ok); line 3 has no outcome. Reading
        // the whole trace first means the unreadable line wins: exit 64, not a verdict.
        let wrong = Self.map + "\n" + Self.map
        let error = Self.refusal(Self.header + "\n" + wrong + "\n" + #"{"op":"unmap","iova":"0x0","length":"0x1000"}"#)
        #expect(error?.line == 4)
        #expect(error?.field == "outcome")
    }

    @Test func everySurfaceRefusesAnUnrecordedLine() {
        let cases: [(String, String, String)] = [
            (#"{"trace":"iommu-conformance","version":2,"surface":"interrupts","configuration":{"vectors":2,"dynamicAllocation":false,"defaultPASID":0,"policy":"emulated"}}"#,
             #"{"op":"enable","on":true}"#, "delivered"),
            (#"{"trace":"iommu-conformance","version":2,"surface":"isolation","configuration":{"groups":[[0,1]],"pasidCapable":[false,false],"contexts":2,"domainOwners":[0,0,1,1],"drivers":["user-access","user-access"],"maxPASID":15,"policy":"iommufd"}}"#,
             #"{"op":"claim","group":0,"context":0}"#, "outcome"),
            (#"{"trace":"iommu-conformance","version":1,"surface":"shadow","configuration":{"domains":1,"addressWidth":39,"policy":"atomic-replace"}}"#,
             #"{"op":"write-leaf","domain":0,"iova":"0x5000","size":"0x1000","gpa":"0x5000","permissions":"rw"}"# + "\n" + #"{"op":"invalidate","kind":"psi","domain":0,"iova":"0x5000","order":0}"#, "calls"),
        ]
        for (header, line, field) in cases {
            let error = Self.refusal(header + "\n" + line)
            #expect(error?.field == field, "\(String(describing: error))")
        }
    }

    @Test func anEmptyAddressSpaceConfigurationIsRefused() {
        for version in [1, 2] {
            let header = #"{"trace":"iommu-conformance","version":"# + String(version) + #","surface":"address-space","configuration":{}}"#
            let error = Self.refusal(header + "\n" + Self.map)
            #expect(error?.line == 1)
            #expect(error?.field?.hasPrefix("configuration") == true, "\(String(describing: error))")
        }
    }

    @Test func invalidUTF8IsRefusedWithItsLine() {
        let bytes = Array((Self.header + "\n" + Self.map + "\n").utf8) + [0x7B, 0xFF, 0x7D, 0x0A]
        do {
            _ = try RecordedTrace.verify(bytes)
            Issue.record("invalid UTF-8 was read")
        } catch {
            #expect(error.line == 3)
            #expect(error.message.contains("UTF-8"))
        }
    }

    @Test(arguments: [
        #"{"op":"map",}"#, #"{"op":"map""#, #"{"op":'map'}"#, #"{"op":"map"} x"#, #"["op"]"#, #"{"op":"a\qb"}"#,
        #"{"op":"map","iova":01}"#, #"{"op":"\ud800"}"#, String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ])
    func malformedJSONIsRefusedWithItsLine(_ line: String) {
        #expect(Self.refusal(Self.header + "\n" + line)?.line == 2)
    }

    @Test func escapesAndUnicodeInStringsAreRead() throws {
        let text = #"{"trace":"iommu-conformance","version":2,"surface":"address-space","description":"caf\u00e9 \ud83d\ude00 \"q\" \/","configuration":{"pageSize":"0x1000","aperture":["0x0","0xffffffffffff"],"reserved":[],"mappingLimit":65535,"policy":"vfio-type1"}}"#
        let trace = try AddressSpaceTrace.parse(text + "\n" + Self.map)
        #expect(trace.description == "café 😀 \"q\" /")
    }

    /// `verify` reads a trace a chunk at a time (issue 17): whatever the chunk size, the same
    /// verdict or the same refusal as for the whole bytes, a line split across chunks included.
    @Test func aTraceFedInChunksOfAnySizeReadsAsWhole() throws {
        let conforming = Self.header + "\r\n# c\n" + Self.map + "\n \u{00A0}" + Self.mapLine(iova: #""0x0""#).replacingOccurrences(of: #""ok""#, with: #""overlap""#) + "\n"
        let wrong = Self.header + "\n" + Self.map + "\n" + Self.map
        let unreadable = Array((wrong + "\n").utf8) + [0x7B, 0xFF, 0x7D]
        for bytes in [Array(conforming.utf8), Array(wrong.utf8), unreadable] {
            let whole = Result { try RecordedTrace.verify(bytes) }
            for size in [1, 2, 7, 64, bytes.count] {
                let reader = RecordedTraceReader()
                let chunked = Result {
                    for start in stride(from: 0, to: bytes.count, by: size) {
                        try bytes[start..<min(start + size, bytes.count)].withUnsafeBufferPointer { try reader.read($0) }
                    }
                    return try reader.finish()
                }
                switch (whole, chunked) {
                case (.success(let a), .success(let b)):
                    #expect(a.surface == b.surface && a.verdict.description == b.verdict.description, "chunks of \(size)")
                case (.failure(let a), .failure(let b)):
                    #expect(a as? TraceError == b as? TraceError && a is TraceError, "chunks of \(size)")
                default:
                    Issue.record("chunks of \(size): \(chunked), whole: \(whole)")
                }
            }
        }
    }

    @Test func aLineLongerThan16MiBIsRefusedAsItArrives() {
        let reader = RecordedTraceReader()
        let chunk = [UInt8](repeating: 0x20, count: 1 << 20)
        var error: TraceError?
        for _ in 0..<17 where error == nil {
            do { try chunk.withUnsafeBufferPointer { try reader.read($0) } } catch let refusal as TraceError { error = refusal } catch { Issue.record(error) }
        }
        #expect(error?.line == 1)
        #expect(error?.message.contains("longer than") == true)
    }
}
