#!/bin/bash -eu
# OSS-Fuzz's build step (projects/iommu-conformance/build.sh): the flags of the Swift base
# image, then the project's build (fuzzing/build.sh, which ClusterFuzzLite runs too).
. precompile_swift
"$SRC/iommu-conformance/fuzzing/build.sh"
