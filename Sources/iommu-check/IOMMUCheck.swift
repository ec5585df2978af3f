import ArgumentParser
import Foundation
import IOMMUConformance

@main
struct IOMMUCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iommu-check",
        abstract: "Checks IOMMU implementations against the reference model of IOMMU semantics.",
        discussion: helpText("""
        Every command runs an implementation in lockstep with the reference model and reports the
        first disagreement, shrunk to a minimal trace with the command that replays it.

        Start with:  swift run -c release iommu-check run
        """),
        version: "iommu-check \(IOMMUConformanceVersion.current) (plug-in ABI \(IOMMUConformanceVersion.pluginABI))",
        subcommands: [Run.self, Merge.self, Replay.self, ReplayTest.self, Shrink.self, Verify.self, Explain.self, MutantsCommand.self, Worker.self],
        defaultSubcommand: Run.self
    )

    static func main() {
        AllocatorTuning.keepFreedMemory()
        // `run` is the default subcommand, so a mistyped one would be read as an argument of
        // `run` and blamed on it: a first word that names no subcommand is refused here.
        if let first = CommandLine.arguments.dropFirst().first, !first.hasPrefix("-"), !subcommandNames.contains(first) {
            FileHandle.standardError.write(Data("Error: '\(first)' is not a subcommand; the subcommands are \(subcommandNames.joined(separator: ", ")) (iommu-check --help)\n".utf8))
            Foundation.exit(64)
        }
        main(nil)
    }

    static var subcommandNames: [String] { configuration.subcommands.map { $0._commandName } + ["help"] }
}
