import ArgumentParser
import Foundation
import PropertyCheck

/// Runs one test with a replay bound to one of its checks: the command a failing
/// `Conformance.check` prints. Refuses a filter that runs no such check, which `swift test`
/// alone passes (a filter matching nothing exits 0).
struct ReplayTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay-test",
        abstract: "Replay a failure of a check in a Swift Testing test, as the failure printed it.",
        discussion: helpText("""
        Runs `swift test --filter FILTER` with IOMMU_CHECK_REPLAY set to the choices and bound to
        the check (IOMMU_CHECK_REPLAY_CHECK), so that check replays them and every other check
        of the test runs nothing. Exits 1 if the failure reproduced, 0 if the check replayed and
        passed, and 66 if no check of that name ran: a filter or check name that matches
        nothing is an error here, not a green run.

        Example (the line a failure prints):
          swift run iommu-check replay-test --filter '^MyTests\\.MyIOMMUTests/conforms\\(\\)/' --check 'MyTests.MyIOMMUTests/conforms()' AAEC...
        """)
    )

    @Option(help: "The `swift test --filter` regular expression that selects the test.")
    var filter: String

    @Option(help: "The name of the check whose failure it is.")
    var check: String

    @Argument(help: "The base64 choice sequence the failure printed.")
    var choices: String

    @Option(help: "The package to test (default: the current directory).")
    var packagePath: String?

    func validate() throws {
        guard !filter.isEmpty else { throw ValidationError("--filter must not be empty: it would run every test") }
        guard !check.isEmpty else { throw ValidationError("--check must name the check, as the failure printed it") }
        guard Data(base64Encoded: choices) != nil else { throw ValidationError("the choices must be the base64 sequence the failure printed, got '\(choices)'") }
    }

    func run() throws {
        let record = FileManager.default.temporaryDirectory.appendingPathComponent("iommu-check-replay-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0 ... .max))")
        guard FileManager.default.createFile(atPath: record.path, contents: nil) else { throw refuse("cannot create \(record.path)") }
        defer { try? FileManager.default.removeItem(at: record) }
        var environment = ProcessInfo.processInfo.environment
        environment["IOMMU_CHECK_REPLAY"] = choices
        environment["IOMMU_CHECK_REPLAY_CHECK"] = check
        environment["IOMMU_CHECK_REPLAY_RECORD"] = record.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["swift", "test", "--filter", filter] + (packagePath.map { ["--package-path", $0] } ?? [])
        process.environment = environment
        do {
            try process.run()
        } catch {
            throw refuse("cannot run swift test: \(error)")
        }
        process.waitUntilExit()
        let lines = (try? String(contentsOf: record, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        if lines.isEmpty {
            let status = process.terminationStatus == 0 ? "" : " (swift test exited \(process.terminationStatus): did it build?)"
            FileHandle.standardError.write(Data("replay-test: no check named '\(check)' ran under --filter '\(filter)'\(status): nothing was replayed. A filter that matches no test passes `swift test`; check both against the failure's printed line.\n".utf8))
            throw ExitCode(66)
        }
        if lines.contains(where: { $0.hasPrefix("failed ") }) {
            print("replay-test: the failure of '\(check)' reproduced")
            throw ExitCode(1)
        }
        print("replay-test: '\(check)' replayed and passed: the failure no longer reproduces")
    }
}
