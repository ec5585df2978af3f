// swift-tools-version: 6.1
// Benchmarks live in their own package so that the root build never compiles ordo-one/benchmark.
// Run: cd Benchmarks && swift package benchmark --no-progress
import PackageDescription

let package = Package(
    name: "iommu-conformance-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "iommu-conformance", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PropertyCheck", package: "iommu-conformance"),
                .product(name: "PropertyCheckFixtures", package: "iommu-conformance"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "AddressSpaceBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "IOMMUConformance", package: "iommu-conformance"),
                .product(name: "PropertyCheck", package: "iommu-conformance"),
            ],
            path: "Benchmarks/AddressSpaceBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SurfaceBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "IOMMUConformance", package: "iommu-conformance"),
                .product(name: "PropertyCheck", package: "iommu-conformance"),
            ],
            path: "Benchmarks/SurfaceBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "PluginBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "IOMMUConformance", package: "iommu-conformance"),
                .product(name: "PropertyCheck", package: "iommu-conformance"),
            ],
            path: "Benchmarks/PluginBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
