import ArgumentParser
import Foundation
import IOMMUConformance

/// `iommu-check worker`: the child process that hosts a plug-in for `run --plugin`.
struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Host a plug-in for a checker in another process (started by 'run --plugin'; not for direct use).",
        shouldDisplay: false
    )

    @Option(help: "The plug-in library to load.")
    var plugin: String

    @Option(help: "The checker's shared frame memory.")
    var shared: String?

    @Option(help: "How long to spin for a frame before sleeping, in microseconds.")
    var spinUs: UInt64 = 0

    func run() throws {
        throw ExitCode(PluginWorker.serve(pluginPath: plugin, sharedPath: shared, spinMicroseconds: spinUs))
    }
}

/// The path of this executable, to start it again as a worker.
func ownExecutable() -> String {
    if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return resolved }
    return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
}
