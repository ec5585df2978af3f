import Foundation
import IOMMUConformance
import IOMMUConformanceTesting
import IOMMUMutants
import IOMMUOptimized
import IOMMUSpec
import PropertyCheck
import Testing

@Suite struct ProtectedDMATests {
    @Test(.conformance(cases: 1_500)) func theSwiotlbLayerAgreesWithTheModel() throws {
        let report = Conformance.check(try SurfaceCheck.make(.protectedDMA, implementation: .optimized), regressions: regressions(.protectedDMA))
        guard report.generated else { return }
        for (kind, outcome) in [("map", "ok"), ("map", "mapping-error"), ("setup-virtqueue", "ok"), ("setup-virtqueue", "refused"), ("alloc-coherent", "ok")] {
            #expect((report.statistics.outcomes[OutcomeKey(kind: kind, outcome: outcome)] ?? 0) > 0, "no \(kind) came back \(outcome)")
        }
    }

    @Test(arguments: ProtectedDMAMutants.all.map(\.name))
    func theCheckerCatchesThePlantedBug(mutant: String) throws {
        var configuration = CheckConfiguration(name: "protected-dma-\(mutant)", seed: 1, cases: 2_000)
        configuration.health.enabled = false
        let report = try ProtectedDMACheck(implementation: .mutant(mutant)).run(configuration)
        let failure = try #require(report.failure, "\(mutant) was not caught in 2000 cases")
        let shortest = try #require(DetectionBenchmark.shortestKnownTrace[mutant])
        // Two bugs shrink to a longer road than the shortest known: the data a leak shows gets
        // into the slot by a device write and an unmap (not a CPU write), and the freed slot is
        // reached by filling a four-slot pool (not a one-slot pool). Deleting steps cannot turn
        // one road into the other; docs/DETECTION.md gives the lengths.
        let slack = ["from-device-map-not-bounced": 2, "unmap-frees-before-copy-back": 3][mutant] ?? 1
        #expect(failure.trace.count <= shortest + slack, "shrunk trace longer than expected (shortest known: \(shortest)):\n\(failure)")
        guard case .fail = FuzzEntry.verdict(.protectedDMA, failure.bytes, implementation: .mutant(mutant)) else {
            Issue.record("the fuzz entry point does not reproduce \(mutant)")
            return
        }
    }

    static let scenarios: [String] = (try? corpusFiles("protected-dma", "scenarios", extension: "jsonl").map(\.name)) ?? []

    static func scenario(_ name: String) throws -> ProtectedDMATrace {
        let url = repositoryRoot.appendingPathComponent("Corpus/protected-dma/scenarios").appendingPathComponent(name)
        return try ProtectedDMATrace.parse(String(contentsOf: url, encoding: .utf8))
    }

    @Test(arguments: scenarios)
    func scenarioHolds(name: String) throws {
        let trace = try Self.scenario(name)
        let problems = trace.checkScenario { ProtectedDMAOptimized(configuration: $0, memory: $1) }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// Each scenario from the sources catches the planted bug it is about.
    @Test(arguments: [("from-device-partial-write.jsonl", "from-device-map-not-bounced"), ("min-align-nvme.jsonl", "min-align-mask-ignored"),
                      ("ownership-cycle.jsonl", "sync-for-cpu-wrong-direction"), ("unmap-beside-another-cpu.jsonl", "unmap-frees-before-copy-back"),
                      ("virtio-without-access-platform.jsonl", "virtio-ring-private")])
    func aScenarioCatchesItsBug(scenario: String, mutant: String) throws {
        let trace = try Self.scenario(scenario)
        let problems = trace.checkScenario { configuration, memory in
            let layer = ProtectedDMAOptimized(configuration: configuration, memory: memory)
            layer.plantedBug = ProtectedDMAMutants.catalogue.bug(IOMMUConformanceTests.mutant(mutant))
            return layer
        }
        #expect(!problems.isEmpty, "\(scenario) does not catch \(mutant)")
    }

    /// A stated answer the model does not give fails verification, at its line.
    @Test func aWrongAnswerInATraceIsCaughtAtItsLine() throws {
        let url = repositoryRoot.appendingPathComponent("Corpus/protected-dma/scenarios/from-device-partial-write.jsonl")
        let text = try String(contentsOf: url, encoding: .utf8)
        // What the layer before ddbd89deb7d3 returned: the slot's last user's bytes.
        let leaked = text.replacingOccurrences(of: #""data":"c1c2b3b4b5b6b7b8""#, with: #""data":"c1c2a3a4a5a6a7a8""#)
        let (surface, verdict) = try RecordedTrace.verify(leaked)
        #expect(surface == .protectedDMA)
        #expect(verdict.problem?.line == 9, "\(verdict)")
        // A four-slot buffer placed one slot in runs past the pool.
        let shifted = text.replacingOccurrences(of: #""mapped":[[0,"0x10000000"]]"#, with: #""mapped":[[0,"0x10000800"]]"#)
        let problem = try RecordedTrace.verify(shifted).verdict.problem
        #expect(problem?.line == 3 && problem?.message.contains("runs past the end of the 4-slot pool") == true, "\(String(describing: problem))")
    }

    /// Rules 7 to 9 judged from a trace's answers: each holds a conforming answer and refuses a
    /// broken one, at its line.
    @Test func placementRulesFromTheSources() throws {
        let header = #"{"trace":"iommu-conformance","version":2,"surface":"protected-dma","configuration":{"bufferPages":4,"coherentPages":4,"poolSlots":8,"segmentSlots":8,"minAlignMask":"0x0","virtio":"none"}}"#
        func verdict(_ lines: String...) throws -> TraceVerdict { try RecordedTrace.verify(([header] + lines).joined(separator: "\n")).verdict }
        // 14cebf689a78: a page or more without min_align_mask is page-aligned.
        let page = #"{"op":"map","id":0,"offset":0,"size":4096,"direction":"to-device","mapped":[[0,"0x%@"]]}"#
        #expect(try verdict(page.replacingOccurrences(of: "%@", with: "10001000")).conforms)
        #expect(try verdict(page.replacingOccurrences(of: "%@", with: "10000800")).problem?.message.contains("page-aligned") == true)
        // __dma_direct_alloc_pages takes an order-2 block for three pages: the fourth is not free.
        let three = #"{"op":"alloc-coherent","id":1,"size":12288,"coherent":["0x1000000","0x1000000"]}"#
        #expect(try verdict(three, #"{"op":"alloc-coherent","id":2,"size":4096,"coherent":[]}"#).conforms)
        let one = #"{"op":"alloc-coherent","id":1,"size":4096,"coherent":["0x1000000","0x1000000"]}"#
        #expect(try verdict(one, #"{"op":"alloc-coherent","id":2,"size":4096,"coherent":[]}"#).problem?.line == 3)
        // An unmap that copies back still holds its slots before its first memory call.
        let whole = #"{"op":"map","id":1,"offset":0,"size":16384,"direction":"%@","mapped":[[1,"0x10000000"]]}"#
        let unmap = #"{"op":"unmap","id":1,"during":[{"after":0,"event":"map","id":2,"offset":0,"size":16,"direction":"to-device"}],"mapped":[[2,"0x10000000"]]}"#
        #expect(try verdict(whole.replacingOccurrences(of: "%@", with: "from-device"), unmap).problem?.line == 3)
        #expect(try verdict(whole.replacingOccurrences(of: "%@", with: "to-device"), unmap).conforms, "a to-device unmap makes no call: the slots are free when the map runs")
    }

    @Test func malformedTracesAreClearErrors() {
        let header = #"{"trace":"iommu-conformance","version":2,"surface":"protected-dma","configuration":{"bufferPages":2,"coherentPages":2,"poolSlots":4,"segmentSlots":4}}"#
        #expect { try RecordedTrace.verify(header + "\n" + #"{"op":"map","id":0,"offset":8190,"size":4,"direction":"to-device","mapped":[[0,null]]}"#) } throws: {
            "\($0)".contains("runs past the 8192 bytes")
        }
        #expect { try RecordedTrace.verify(header + "\n" + #"{"op":"cpu-write","target":"buffers","offset":0,"data":"abc"}"#) } throws: { "\($0)".contains("hex digits") }
        #expect { try RecordedTrace.verify(header + "\n" + #"{"op":"device-read","target":"buffers","offset":0,"length":1,"data":"00"}"#) } throws: {
            "\($0)".contains("not the driver's private buffers")
        }
        let badPool = header.replacingOccurrences(of: #""poolSlots":4"#, with: #""poolSlots":6"#)
        #expect { try RecordedTrace.verify(badPool) } throws: { "\($0)".contains("whole segments") }
        // A name that is not live is the trace's mistake, refused at its line.
        #expect(throws: TraceError(line: 2, "mapping 7 is not live")) { try RecordedTrace.verify(header + "\n" + #"{"op":"unmap","id":7}"#) }
    }

    @Test func theModelIsNotALayerAndThereAreNoPolicies() {
        #expect { try SurfaceCheck.make(.protectedDMA, implementation: .reference) } throws: { "\($0)".contains("chooses no addresses") }
        #expect { try SurfaceCheck.make(.protectedDMA, implementation: .optimized, policy: "linux") } throws: { "\($0)".contains("no policies") }
        #expect { try SurfaceCheck.make(.protectedDMA, implementation: .mutant("stale-iotlb")) } throws: { "\($0)".contains("not of protected-dma") }
    }

    /// The memory rules fail a layer that breaks them, whatever its answers.
    @Test func theMemoryCallsAreJudged() {
        let configuration = ProtectedDMAConfiguration(bufferPages: 2, coherentPages: 2, poolSlots: 4, segmentSlots: 4, minAlignMask: 0, virtio: .none)
        let memory = GuestMemory(configuration: configuration)
        memory.readable = ProtectedDMAConfiguration.bufferBase..<ProtectedDMAConfiguration.bufferBase + 16
        _ = memory.read(ProtectedDMAConfiguration.bufferBase + 8, count: 16)
        #expect(memory.takeViolation()?.contains("read the driver's private memory outside the buffer") == true)
        #expect(!memory.share(ProtectedDMAConfiguration.bufferBase, pages: 1))
        #expect(memory.takeViolation()?.contains("must never be shared") == true)
        #expect(memory.share(ProtectedDMAConfiguration.coherentBase, pages: 1))
        #expect(memory.takeViolation() == nil)
        #expect(memory.deviceRead(ProtectedDMAConfiguration.coherentBase, count: 4096) != nil)
        #expect(memory.deviceRead(ProtectedDMAConfiguration.coherentBase, count: 4097) == nil, "the second page is private: a fault")
    }

    @Test func everyCorpusInputPasses() throws {
        let files = try corpusFiles("protected-dma") + corpusFiles("protected-dma", "regressions")
        #expect(files.count >= 20)
        for (name, bytes) in files {
            if case .fail(let failure) = FuzzEntry.verdict(.protectedDMA, bytes) { Issue.record("\(name): \(failure.message)") }
        }
    }
}
