// swift-tools-version: 6.1
// libFuzzer targets, one executable per surface, each a thin wrapper around the root library's
// fuzz entry point. A separate package, so `swift build` / `swift test` at the root never need
// libFuzzer. Build: swift build -c release --sanitize fuzzer   (or scripts/fuzz, see README)
import PackageDescription

let package = Package(
    name: "iommu-conformance-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        // Named explicitly: without `name:` the dependency takes the clone's folder name.
        .package(name: "iommu-conformance", path: ".."),
    ],
    targets: ["address-space", "isolation", "shadow", "interrupts"].map { surface in
        .executableTarget(
            name: "fuzz-\(surface)",
            dependencies: [.product(name: "IOMMUConformance", package: "iommu-conformance")]
        )
    }
)
