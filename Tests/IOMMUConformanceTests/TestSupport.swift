import Foundation
import IOMMUConformance
import IOMMUMutants
import IOMMUOptimized
import IOMMUSpec
import PropertyCheck

/// The repository root, found from this file's path (Tests/IOMMUConformanceTests/TestSupport.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Every regular file under `Corpus/<surface>/<subdirectory>`, sorted, with its bytes.
func corpusFiles(_ surface: String, _ subdirectory: String? = nil, extension wanted: String? = nil) throws -> [(name: String, bytes: [UInt8])] {
    var directory = repositoryRoot.appendingPathComponent("Corpus").appendingPathComponent(surface)
    if let subdirectory { directory = directory.appendingPathComponent(subdirectory) }
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
    var files: [(String, [UInt8])] = []
    for name in names.sorted() where !name.hasPrefix(".") {
        let url = directory.appendingPathComponent(name)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
        // Without an extension asked for, the choice sequences: not the traces beside them.
        if let wanted { if url.pathExtension != wanted { continue } } else if url.pathExtension == "jsonl" { continue }
        files.append((name, [UInt8](try Data(contentsOf: url))))
    }
    return files
}

/// A check configuration for tests: the environment may raise the cases (IOMMU_CHECK_CASES) or
/// set the seed; a malformed variable fails the test with its message instead of being ignored.
func testConfiguration(_ name: String, cases: Int) throws -> CheckConfiguration {
    try CheckConfiguration.fromEnvironment(name: name, cases: cases)
}

/// Where the differential tests save and replay their failures: Corpus/<surface>/regressions,
/// which every later `swift test` and fuzz run replays.
func regressions(_ surface: Surface) -> String {
    repositoryRoot.appendingPathComponent("Corpus/\(surface.rawValue)/regressions").path
}

/// Runs the iommu-check this test run built with `arguments`: its exit status, output and errors.
func iommuCheck(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ExamplePlugins.workerExecutable)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_BACKTRACE"] = "enable=no"
    process.environment = environment
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let out = output.fileHandleForReading.readDataToEndOfFile(), err = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

/// Tests name planted bugs; the checker takes the typed value. An unknown name is a typo in a
/// test, which then fails at once.
func mutant(_ name: String) -> Mutant {
    guard let mutant = Mutants.named(name) else { preconditionFailure("no planted bug named \(name)") }
    return mutant
}

extension ImplementationChoice {
    static func mutant(_ name: String) -> ImplementationChoice { .mutant(IOMMUConformanceTests.mutant(name)) }
}

/// The optimized implementations with a named bug planted, for scenarios run directly.
func plantedAddressSpace(_ name: String, _ configuration: AddressSpaceConfiguration) -> AddressSpaceOptimized {
    let space = AddressSpaceOptimized(configuration: configuration)
    space.plantedBug = AddressSpaceMutants.catalogue.bug(mutant(name))
    return space
}

func plantedIsolation(_ name: String, _ topology: Topology, _ checkpoint: @escaping () -> Void) -> IsolationOptimized {
    let system = IsolationOptimized(topology: topology, checkpoint: checkpoint)
    system.plantedBug = IsolationMutants.catalogue.bug(mutant(name))
    return system
}

func plantedShadow(_ name: String, _ guest: GuestIOMMU, _ host: ShadowHost) -> ShadowOptimized {
    let system = ShadowOptimized(guest: guest, host: host)
    system.plantedBug = ShadowMutants.catalogue.bug(mutant(name))
    return system
}

func plantedInterrupts(_ name: String, _ configuration: InterruptConfiguration, _ host: InterruptHost) -> InterruptOptimized {
    let system = InterruptOptimized(configuration: configuration, host: host)
    system.plantedBug = InterruptMutants.catalogue.bug(mutant(name))
    return system
}
