/* main.c: the `ijepa` program: dispatches to one subcommand per file. */
#include "cli/commands.h"

#include "backend/backend.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/version.h"
#include "dist/dist.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"train", cmd_train, "pretrain an I-JEPA model on unlabeled images"},
    {"embed", cmd_embed, "frozen features of a checkpoint as .npy files"},
    {"probe", cmd_probe, "linear probe, k-NN and low-shot evaluation beside raw-pixel and random-init baselines"},
    {"bench", cmd_bench, "training / feature-extraction throughput, GFLOP/s, fraction of sgemm peak, memory"},
    {"ablate", cmd_ablate, "a grid of short pretrainings, one change each, with probes and collapse diagnostics"},
    {"predict", cmd_predict, "classify images with a linear head saved by probe --save-head"},
    {"viz", cmd_viz, "pictures: masks over images, PCA of patch features, nearest patches to predictions"},
    {"info", cmd_info, "model shape, parameters, FLOPs, and a timed forward pass"},
};

static void usage(void)
{
    printf("ijepa: I-JEPA self-supervised image representation learning, in C\n\n"
           "usage: ijepa COMMAND [options]     (ijepa COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf("  %-8s %s\n", commands[i].name, commands[i].help);
    printf("\nevery command also takes --threads N (CPU threads; 0: all cores) and:\n"
           "  --backend NAME  cpu (the fast kernels, default) or ref (plain loops that read like the\n"
           "                  specification: slow, for checking); also the variable IJ_BACKEND\n"
           "exit status: 0 done, 1 the work failed, 2 a wrong command line, 128+N stopped by signal N\n"
           "ijepa --version prints the version.\n");
}

/* Takes --backend NAME / --backend=NAME out of argv (any command) and makes it the default backend. */
static int take_backend(int *argc, char **argv)
{
    if (ij_backend_check_env()) return -1;
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        const char *name = NULL;
        if (strcmp(argv[i], "--backend") == 0) {
            if (i + 1 >= *argc) return ij_error("--backend needs a name (cpu or ref)");
            name = argv[++i];
        } else if (strncmp(argv[i], "--backend=", 10) == 0) {
            name = argv[i] + 10;
        } else {
            argv[out++] = argv[i];
            continue;
        }
        if (ij_backend_set_default(name)) return -1;
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ijepa.c %s\n", IJ_VERSION);
        return 0;
    }
    if (take_backend(&argc, argv)) {
        fprintf(stderr, "ijepa: %s\n", ij_last_error());
        return 2;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        /* Under mpirun every rank runs the command (src/dist); rank 0 alone prints,
         * every rank reports its errors, and a failing rank ends the whole job. */
        if (ij_dist_init(&argc, &argv)) {
            fprintf(stderr, "ijepa %s: %s\n", argv[1], ij_last_error());
            return 1;
        }
        if (ij_dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) {
            fprintf(stderr, "ijepa %s: rank %d: cannot silence stdout\n", argv[1], ij_dist_rank());
            ij_dist_abort(1);
            return 1;
        }
        int rc = commands[i].run(argc, argv);
        if (rc >= 0) { /* 0, or 128 + a signal that stopped the command cleanly (it said so) */
            ij_dist_finalize();
            return rc;
        }
        if (ij_dist_size() > 1) fprintf(stderr, "ijepa %s: rank %d: %s\n", argv[1], ij_dist_rank(), ij_last_error());
        else fprintf(stderr, "ijepa %s: %s\n", argv[1], ij_last_error());
        fflush(stderr);
        rc = opt_usage_failed() ? 2 : 1; /* 2: the command line was wrong; 1: the work failed */
        ij_dist_abort(rc);
        return rc;
    }
    fprintf(stderr, "ijepa: unknown command '%s' (see ijepa --help)\n", argv[1]);
    return 2;
}
