#!/bin/bash -eu
# Builds every libFuzzer target into $OUT, each with its seed corpus (<target>_seed_corpus.zip:
# the seeds and shrunk regressions of Corpus/<surface>/), its dictionary (<target>.dict) and its
# options (<target>.options). ClusterFuzzLite (.clusterfuzzlite/build.sh) and OSS-Fuzz
# (fuzzing/oss-fuzz/build.sh) run it in gcr.io/oss-fuzz-base/base-builder-swift after
# `. precompile_swift`; `scripts/fuzz oss-fuzz-check` runs it here with the environment that
# image sets (OUT, WORK, SANITIZER, CFLAGS, SWIFT6_2FLAGS).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
swift --version
# SwiftPM 6.2 and later take --sanitize=fuzzer themselves (SWIFT6_2FLAGS); older images set
# SWIFTFLAGS only.
flags=${SWIFT6_2FLAGS:-${SWIFTFLAGS:-}}
case "${SANITIZER:-address}" in
  coverage|none) ;;
  # "--sanitize=fuzzer --sanitize=address" leaves the Swift code without the sanitizer (the
  # driver keeps one): name both to the compiler.
  *) flags="$flags -Xswiftc -sanitize=fuzzer,$SANITIZER" ;;
esac
scratch="${WORK:-/tmp}/iommu-conformance-fuzz"
cd "$root/Fuzz"
# shellcheck disable=SC2086 # the flags are words
swift build -c release $flags --scratch-path "$scratch"
# shellcheck disable=SC2086
bin=$(swift build -c release $flags --scratch-path "$scratch" --show-bin-path)
for surface in address-space isolation shadow interrupts protected-dma; do
  target="fuzz-$surface"
  cp "$bin/$target" "$OUT/$target"
  python3 - "$root/Corpus/$surface" "$OUT/${target}_seed_corpus.zip" <<'PY'
import os, sys, zipfile
corpus, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w") as archive:
    for folder in (corpus, os.path.join(corpus, "regressions")):
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            # Choice sequences only: the scenarios (.jsonl) are traces, not fuzz inputs.
            if os.path.isfile(path) and not name.endswith(".jsonl"):
                archive.write(path, arcname=os.path.relpath(path, corpus).replace("/", "-"))
PY
  cp "$root/fuzzing/dictionaries/$surface.dict" "$OUT/$target.dict"
  # A custom mutator turns libFuzzer's length control off: bound the inputs here.
  printf '[libfuzzer]\nmax_len = 4096\n' > "$OUT/$target.options"
done
