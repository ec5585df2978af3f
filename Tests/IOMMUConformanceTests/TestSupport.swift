import Foundation
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
        if let wanted, url.pathExtension != wanted { continue }
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
