/* fuzz_idx.c: libFuzzer harness for fuzz_idx() (tests/fuzz/targets.h); the
 * input goes through an in-memory file (fuzz_file.h), beside a second one
 * holding the 1x1 image that the input is read as labels for. */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz_file.h"
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *tiny;
    if (!tiny) {
        tiny = fuzz_file(1, NULL, 0);
        if (fuzz_write_tiny_images(tiny) != 0) abort();
    }
    if (fuzz_idx(fuzz_file(0, data, size), tiny) == FUZZ_BROKEN) abort();
    return 0;
}
