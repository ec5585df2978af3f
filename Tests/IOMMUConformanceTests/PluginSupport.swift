import Foundation
import IOMMUConformance
import PropertyCheck

/// Builds the example C plug-ins (Examples/c-plugin) with the toolchain's clang, once per
/// variant per test process, and points checks at them.
enum ExamplePlugins {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var built: [String: String] = [:]
    private static let directory = FileManager.default.temporaryDirectory.appendingPathComponent("iommu-check-plugins-\(getpid())")

    /// The misbehaving plug-in of Tests/Fixtures/misbehaving.c: an example wrapped to break
    /// one rule (`misbehaviour` without its MISBEHAVE_ prefix).
    static func misbehaving(_ misbehaviour: String, isolation: Bool = false) throws -> String {
        try build("../../Tests/Fixtures/misbehaving.c", ["MISBEHAVE_\(misbehaviour)"] + (isolation ? ["EXAMPLE_ISOLATION"] : []))
    }

    /// The path of `source` (a file in Examples/c-plugin) built with `defines`.
    static func build(_ source: String, _ defines: [String] = []) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let key = ([source] + defines).joined(separator: " ")
        if let path = built[key] { return path }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let output = directory.appendingPathComponent("lib\(built.count)-\(URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent).so").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["clang", "-shared", "-fPIC", "-O1", "-Wall", "-Werror",
                             "-I", repositoryRoot.appendingPathComponent("Sources/CIOMMUCheck/include").path,
                             repositoryRoot.appendingPathComponent("Examples/c-plugin/\(source)").path, "-o", output] + defines.map { "-D\($0)" }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BuildFailure(command: process.arguments!.joined(separator: " ")) }
        built[key] = output
        return output
    }

    struct BuildFailure: Error, CustomStringConvertible {
        let command: String
        var description: String { "clang failed: \(command)" }
    }

    /// iommu-check, built beside the test bundle by `swift test`, runs the plug-in workers.
    static var workerExecutable: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        // Linux: .build/debug/<package>PackageTests.xctest; macOS adds Contents/MacOS.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("iommu-check").path), directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("iommu-check").path
    }

    static func reference(_ path: String, worker: Bool, timeout: Double = 5) -> PluginReference {
        PluginReference(path: path, workerExecutable: worker ? workerExecutable : nil, timeout: timeout)
    }
}
