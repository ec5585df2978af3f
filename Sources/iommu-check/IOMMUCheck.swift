import ArgumentParser
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
        subcommands: [Run.self, Replay.self, ReplayTest.self, Shrink.self, Verify.self, Explain.self, MutantsCommand.self, Worker.self],
        defaultSubcommand: Run.self
    )

    static func main() {
        AllocatorTuning.keepFreedMemory()
        main(nil)
    }
}
