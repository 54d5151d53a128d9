/* tools-private: the zoo command's subcommands, one file each. */
#ifndef ZOO_TOOLS_COMMANDS_H
#define ZOO_TOOLS_COMMANDS_H

/* Exit codes: 0 success, 1 run-time failure, 2 usage error. */
enum { EXIT_RUN_FAILURE = 1, EXIT_USAGE = 2 };

int cmd_summary(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_finetune(int argc, char **argv);

/* Parses "H,W,C" into three positive ints; false if malformed. */
int parse_triple(const char *s, int out[3]);

#endif
