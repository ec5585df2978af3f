/* The C plug-in ABI of iommu-conformance: defined by the plug-in issue. */
#ifndef IOMMU_CHECK_H
#define IOMMU_CHECK_H
#endif
