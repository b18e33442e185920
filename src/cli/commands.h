/* commands.h: one entry point per subcommand; each returns 0 or -1 (ij_error set). */
#ifndef IJEPA_CLI_COMMANDS_H
#define IJEPA_CLI_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_ablate(int argc, char **argv);
int cmd_viz(int argc, char **argv);

#endif
