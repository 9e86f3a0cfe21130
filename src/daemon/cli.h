/* cli.h: the command line: its options, and -t, the check of a config. */
#ifndef LF_CLI_H
#define LF_CLI_H

#include <limits.h>

struct cli_options {
    const char *config;
    char        config_abs[PATH_MAX];   /* config made absolute */
    int         foreground;
    int         test;
};

void cli_parse(int argc, char **argv, struct cli_options *o);
int  cli_test(const char *path);

#endif
