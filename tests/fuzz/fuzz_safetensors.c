/* fuzz_safetensors.c: libFuzzer harness for fuzz_safetensors() (tests/fuzz/targets.h); the
 * input goes through an in-memory file (fuzz_file.h). */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz_file.h"
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_safetensors(fuzz_file(0, data, size)) == FUZZ_BROKEN) abort();
    return 0;
}
