/* fuzz_tar.c: libFuzzer harness for fuzz_tar() (tests/fuzz/targets.h). */
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_tar(data, size) == FUZZ_BROKEN) abort();
    return 0;
}
