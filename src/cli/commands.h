/* commands.h: one entry point per subcommand; each returns 0, -1 (ij_error set), or 128 + a signal
 * that stopped it cleanly (train, ablate). */
#ifndef IJEPA_CLI_COMMANDS_H
#define IJEPA_CLI_COMMANDS_H

#include "train/run.h"

int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_ablate(int argc, char **argv);
int cmd_viz(int argc, char **argv);
int cmd_predict(int argc, char **argv);

/* `ijepa train`'s flags (argv[2..]: the settings, --config, --resume, --force, ...) into a validated
 * configuration and run options: 0, 1 when --help was printed, -1 on error. */
int train_parse_args(int argc, char **argv, IjTrainConfig *c, IjRunOptions *ro);
/* ij_train_run with the online probe and the collapse diagnostics as its hooks. */
int train_run_with_probes(const IjTrainConfig *c, const IjRunOptions *ro);

#endif
