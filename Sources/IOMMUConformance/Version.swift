import CIOMMUCheck

/// What `iommu-check --version` prints: this package's version (a release tags it) and the
/// plug-in ABI it loads.
public enum IOMMUConformanceVersion {
    public static let current = "0.18.0"
    /// The C plug-in ABI, version and revision (Sources/CIOMMUCheck/include/iommu_check.h).
    public static let pluginABI = "\(IOMMU_CHECK_ABI_VERSION).\(IOMMU_CHECK_ABI_REVISION)"
}
