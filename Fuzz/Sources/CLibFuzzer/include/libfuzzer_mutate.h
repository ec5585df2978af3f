// libFuzzer's own byte mutation, for the custom mutator to fall back on (FuzzerInterface.h:
// "libFuzzer-provided function to be used inside LLVMFuzzerCustomMutator").
#ifndef LIBFUZZER_MUTATE_H
#define LIBFUZZER_MUTATE_H

#include <stddef.h>
#include <stdint.h>

size_t LLVMFuzzerMutate(uint8_t *Data, size_t Size, size_t MaxSize);

#endif
