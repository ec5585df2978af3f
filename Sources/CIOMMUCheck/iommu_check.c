/* Placeholder translation unit: SwiftPM needs one source file in a C target. */
#include "iommu_check.h"
