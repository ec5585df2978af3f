import Foundation
import Testing

/// Examples/swift-testing, built and tested as a user's package would be: it depends on this
/// one by path, its correct type passes, its buggy one is caught with one issue, and the
/// replay line that issue prints reproduces the failure; a filter that matches no test is
/// refused. It builds a second package (about a minute), so it runs when
/// IOMMU_CHECK_EXAMPLE_TESTS=1 is set, as .ci/run sets it.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["IOMMU_CHECK_EXAMPLE_TESTS"] == "1"))
struct ExamplePackageTests {
    @Test func theExamplePackageChecksItsTypesAndItsReplayLineReproduces() throws {
        let package = try copyOfTheExample()
        defer { try? FileManager.default.removeItem(at: package) }

        let test = try shell("swift test", in: package)
        #expect(test.status == 0, "the example's own swift test passes (its buggy type is a known issue):\n\(test.output.suffix(3000))")
        #expect(test.output.contains("✔ Test thePageTableConforms() passed"))
        #expect(test.output.contains("Test theStaleCacheIsCaught() passed after"))
        #expect(test.output.contains("with 1 known issue"))
        let saved = package.appendingPathComponent("Tests/ConformanceRegressions")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: saved.path)) ?? []).count == 1, "the failure was saved in the package")

        let line = try #require(test.output.split(separator: "\n").first { $0.contains("replay: ") }.map { String($0.split(separator: "replay: ", maxSplits: 1)[1]) })
        #expect(line.contains("swift run iommu-check replay-test --filter '^PageTableIOMMUTests\\.ConformanceTests/theStaleCacheIsCaught\\(\\)/'"))
        let replay = try shell(line, in: package)
        #expect(replay.status == 1, "the printed replay line reproduces the failure:\n\(replay.output.suffix(3000))")
        #expect(replay.output.contains("replay-test: the failure of 'PageTableIOMMUTests.ConformanceTests/theStaleCacheIsCaught()' reproduced"))

        let nothing = try shell("swift run iommu-check replay-test --filter '^PageTableIOMMUTests\\.NoSuchSuite/' --check nothing AAAA", in: package)
        #expect(nothing.status == 66)
        #expect(nothing.output.contains("nothing was replayed"))
    }

    /// The example in a temporary folder (so its saved regressions stay out of the tree),
    /// depending on this repository by absolute path.
    private func copyOfTheExample() throws -> URL {
        let source = repositoryRoot.appendingPathComponent("Examples/swift-testing")
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("example-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        for item in ["Package.swift", "Sources", "Tests/PageTableIOMMUTests"] {
            let target = copy.appendingPathComponent(item)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: source.appendingPathComponent(item), to: target)
        }
        let manifest = copy.appendingPathComponent("Package.swift")
        let text = try String(contentsOf: manifest, encoding: .utf8).replacingOccurrences(of: "path: \"../..\"", with: "path: \"\(repositoryRoot.path)\"")
        try text.write(to: manifest, atomically: true, encoding: .utf8)
        return copy
    }

    /// Runs `command` with /bin/sh in `folder`; its exit status and its output and errors.
    private func shell(_ command: String, in folder: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command + " 2>&1"]
        process.currentDirectoryURL = folder
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
