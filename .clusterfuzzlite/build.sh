#!/bin/bash -eu
# ClusterFuzzLite's build step: the flags of the Swift base image, then the project's build
# (fuzzing/build.sh, which OSS-Fuzz's build.sh runs too).
. precompile_swift
"$SRC/iommu-conformance/fuzzing/build.sh"
