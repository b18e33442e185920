/* testlib.c: counters and helpers behind testlib.h. */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

int test_failures = 0;
int test_checks = 0;

int test_exit_code(const char *program)
{
    printf("%s: %d checks, %d failed\n", program, test_checks, test_failures);
    if (test_checks == 0) {
        printf("%s: no checks ran\n", program);
        return 1;
    }
    return test_failures ? 1 : 0;
}

const char *test_fixture(const char *name)
{
    static char path[4096];
    const char *dir = getenv("IJEPA_FIXTURES");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/fixtures", name);
    return path;
}

const char *test_tmpdir(void)
{
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/ijepa-test-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(1);
        }
    }
    return dir;
}
