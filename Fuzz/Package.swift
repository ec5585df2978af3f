// swift-tools-version: 6.1
// libFuzzer targets, one executable per surface, each a thin wrapper around the root library's
// fuzz entry point. A separate package, so `swift build` / `swift test` at the root never need
// libFuzzer. Build: swift build -c release --sanitize fuzzer   (or scripts/fuzz, see README)
//
// The root's modules are built here again from the same sources (Modules/NAME links to
// ../Sources/NAME), so that each gets its own instrumentation, which a dependency's targets
// cannot: the code under test (the optimized implementations and their planted bugs) gets
// libFuzzer's full instrumentation, comparison tracing included; the engine, the models and
// the harness get edge coverage only. Traced comparisons in the models and the harness took
// 40 to 67% of every execution and steered mutations toward the checker's own constants.
import PackageDescription

/// Edge coverage without comparison tracing (`-sanitize=fuzzer` alone adds trace-cmp).
let untraced: [SwiftSetting] = [.unsafeFlags(["-sanitize-coverage=edge,inline-8bit-counters,pc-table"])]

func module(_ name: String, _ dependencies: [Target.Dependency] = [], traced: Bool = false) -> Target {
    .target(name: name, dependencies: dependencies, path: "Modules/\(name)", swiftSettings: traced ? [] : untraced)
}

let package = Package(
    name: "iommu-conformance-fuzz",
    platforms: [.macOS(.v14)],
    targets: [
        .target(name: "CIOMMUCheck", path: "Modules/CIOMMUCheck"),
        .target(name: "CWorkerSync", path: "Modules/CWorkerSync"),
        .target(name: "CAllocatorTuning", path: "Modules/CAllocatorTuning"),
        // libFuzzer's LLVMFuzzerMutate, for the custom mutator's fallback.
        .target(name: "CLibFuzzer"),
        module("PropertyCheck"),
        module("IOMMUSpec"),
        module("IOMMUReference", ["IOMMUSpec"]),
        module("IOMMUOptimized", ["IOMMUSpec"], traced: true),
        module("IOMMUMutants", ["IOMMUSpec", "IOMMUOptimized"], traced: true),
        module("IOMMUConformance", ["PropertyCheck", "IOMMUSpec", "IOMMUReference", "IOMMUOptimized", "IOMMUMutants", "CIOMMUCheck", "CWorkerSync", "CAllocatorTuning"]),
    ] + ["address-space", "isolation", "shadow", "interrupts", "protected-dma"].map { surface in
        // One source for every target (Shared/FuzzTarget.swift), told its surface by a define.
        .executableTarget(
            name: "fuzz-\(surface)", dependencies: ["IOMMUConformance", "IOMMUSpec", "CLibFuzzer"],
            swiftSettings: [.define("FUZZ_" + String(surface.uppercased().map { $0 == "-" ? "_" : $0 }))]
        )
    }
)
