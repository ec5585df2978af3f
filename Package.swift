// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "iommu-conformance",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "PropertyCheck", targets: ["PropertyCheck"]),
        // Toy machines with known bugs: the engine's shrink benchmarks and tests share them.
        .library(name: "PropertyCheckFixtures", targets: ["PropertyCheckFixtures"]),
        // The checker, with the vocabulary, the models and the optimized implementations it runs.
        .library(name: "IOMMUConformance", targets: ["IOMMUConformance", "IOMMUSpec", "IOMMUReference", "IOMMUOptimized"]),
        // Checking your own Swift type from `swift test` (Swift Testing): `Conformance.check`.
        .library(name: "IOMMUConformanceTesting", targets: ["IOMMUConformanceTesting"]),
        .executable(name: "iommu-check", targets: ["iommu-check"]),
    ],
    dependencies: [
        // Pinned: a new release must not change a user's build (the local mirror serves 1.8.2).
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        // The engine: choice sequences, generators, stateful runs, shrinking. No IOMMU terms.
        .target(name: "PropertyCheck"),
        .target(name: "PropertyCheckFixtures", dependencies: ["PropertyCheck"]),
        // The C header of the plug-in ABI.
        .target(name: "CIOMMUCheck"),
        // Atomics on the memory a plug-in worker shares with the checker.
        .target(name: "CWorkerSync"),
        // glibc allocator settings for the command line and the fuzz targets.
        .target(name: "CAllocatorTuning"),
        // Shared vocabulary: addresses, permissions, errors, per-surface protocols, simulated hosts.
        .target(name: "IOMMUSpec"),
        // Reference models: the specification, written plainly.
        .target(name: "IOMMUReference", dependencies: ["IOMMUSpec"]),
        // Optimized implementations, shaped like production code.
        .target(name: "IOMMUOptimized", dependencies: ["IOMMUSpec"]),
        // Planted bugs: switches on the optimized implementations, each named after a real failure.
        .target(name: "IOMMUMutants", dependencies: ["IOMMUSpec", "IOMMUOptimized"]),
        // Generators, differential runners, fuzz entry points, traces, the plug-in loader.
        .target(
            name: "IOMMUConformance",
            dependencies: ["PropertyCheck", "IOMMUSpec", "IOMMUReference", "IOMMUOptimized", "IOMMUMutants", "CIOMMUCheck", "CWorkerSync", "CAllocatorTuning"]
        ),
        // The Swift Testing integration; the shipped corpus is its resource (a link to Corpus/).
        .target(
            name: "IOMMUConformanceTesting",
            dependencies: ["IOMMUConformance", "PropertyCheck"],
            resources: [.copy("Corpus")]
        ),
        .executableTarget(
            name: "iommu-check",
            dependencies: ["IOMMUConformance", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "PropertyCheckTests", dependencies: ["PropertyCheck", "PropertyCheckFixtures"]),
        .testTarget(
            name: "IOMMUConformanceTests",
            dependencies: ["IOMMUConformance", "IOMMUConformanceTesting", "IOMMUSpec", "IOMMUReference", "IOMMUOptimized", "IOMMUMutants", "PropertyCheck"]
        ),
    ]
)
