/* testlib.h: a few assertion macros shared by the test programs.
 * A failed CHECK prints file:line and the condition and marks the program
 * failed; main returns test_exit_code() so any failure gives a non-zero exit. */
#ifndef IJEPA_TESTLIB_H
#define IJEPA_TESTLIB_H

#include <stdio.h>

extern int test_failures;
extern int test_checks;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        test_checks++;                                                                \
        if (!(cond)) {                                                                \
            test_failures++;                                                          \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                             \
    } while (0)

#define CHECKF(cond, ...)                                                             \
    do {                                                                              \
        test_checks++;                                                                \
        if (!(cond)) {                                                                \
            test_failures++;                                                          \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
        }                                                                             \
    } while (0)

/* Returns 0 when every check passed; prints a summary line for the program. */
int test_exit_code(const char *program);
/* Path to tests/fixtures/<name> (works from the repository root). */
const char *test_fixture(const char *name);
/* A fresh temporary directory for this test program (removed by the OS /tmp policy). */
const char *test_tmpdir(void);

#endif
