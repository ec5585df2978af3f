// swift-tools-version: 6.1
// An IOMMU of your own, checked from your own `swift test` (README, "Checking your own Swift
// type"): a page-table address space that conforms, and one with a stale translation cache
// that the checker catches.
import PackageDescription

let package = Package(
    name: "page-table-iommu",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "iommu-conformance", path: "../.."),
    ],
    targets: [
        .target(name: "PageTableIOMMU", dependencies: [.product(name: "IOMMUConformance", package: "iommu-conformance")]),
        .testTarget(
            name: "PageTableIOMMUTests",
            dependencies: ["PageTableIOMMU", .product(name: "IOMMUConformanceTesting", package: "iommu-conformance")]
        ),
    ]
)
