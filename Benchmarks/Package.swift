// swift-tools-version: 6.1
// Benchmarks live in their own package so that the root build never compiles ordo-one/benchmark.
// Run: cd Benchmarks && swift package benchmark --no-progress
import PackageDescription

let package = Package(
    name: "iommu-conformance-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "iommu-conformance", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/x-sheep/swift-property-based", exact: "2.0.1"),
    ],
    targets: [
        benchmark("EngineBenchmarks", [
            .product(name: "PropertyCheck", package: "iommu-conformance"),
            .product(name: "PropertyCheckFixtures", package: "iommu-conformance"),
            .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
    ] + ["AddressSpaceBenchmarks", "SurfaceBenchmarks", "PluginBenchmarks", "TraceBenchmarks"].map { name in
        benchmark(name, [
            .product(name: "IOMMUConformance", package: "iommu-conformance"),
            .product(name: "PropertyCheck", package: "iommu-conformance"),
        ])
    }
)

/// One benchmark executable in Benchmarks/NAME, run by ordo-one's plugin.
func benchmark(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name,
        dependencies: [.product(name: "Benchmark", package: "benchmark")] + dependencies,
        path: "Benchmarks/\(name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}
