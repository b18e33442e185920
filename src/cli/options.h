/* options.h: a table-driven command-line parser shared by the subcommands.
 * Each option is "--name VALUE" or "--name=VALUE" (flags take no value);
 * values are checked strictly (whole string, range) and a bad or unknown
 * option is a one-line error, never silently clamped. */
#ifndef IJEPA_CLI_OPTIONS_H
#define IJEPA_CLI_OPTIONS_H

/* PAIR: "a,b" into double[2]; SWITCH: on/off (also true/false, 1/0) into int 1/0, bare: on;
 * TEXT: copied into char[max] (a longer value is an error) */
typedef enum { OPT_INT, OPT_FLOAT, OPT_STRING, OPT_FLAG, OPT_PAIR, OPT_SWITCH, OPT_TEXT } OptType;

typedef struct {
    const char *name;     /* without the leading "--" */
    OptType type;
    void *value;          /* int*, double*, const char**, int* (flag), double[2] (pair), int* (switch), char[] (text) */
    const char *help;
    double min, max;      /* for OPT_INT / OPT_FLOAT (inclusive); ignored if min > max */
    int *seen;            /* optional: set to 1 when given on the command line */
} Option;

/* Parse argv[first..argc) against opts. Returns 0, 1 if --help was asked (help printed),
 * or -1 with ij_error set. */
int opt_parse(const Option *opts, int nopts, int argc, char **argv, int first, const char *usage);
void opt_print_help(const Option *opts, int nopts, const char *usage);
/* A usage error (a missing or contradictory option): ij_error, and the program exits with 2. */
int opt_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Whether a usage error was reported (a failed opt_parse or opt_usage_error): exit code 2, not 1. */
int opt_usage_failed(void);
/* --threads N (0: all cores): OpenMP and OpenBLAS both (OpenBLAS's OpenMP build shares the pool). */
#define OPT_THREADS(var) {"threads", OPT_INT, &(var), "CPU threads (0: all cores)", 0, 4096, NULL}
void opt_apply_threads(int threads);

#endif
