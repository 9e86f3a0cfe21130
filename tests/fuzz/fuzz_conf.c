/* libFuzzer: the config loader on arbitrary files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    char err[1024];
    struct conf *c;
    FILE *f;

    if (path[0] == '\0') {
        snprintf(path, sizeof(path), "/tmp/lf-fuzz-conf.%ld", (long)getpid());
        log_use(LOG_TO_STDERR, -1, LOG_LEVEL_ERR);
    }
    if ((f = fopen(path, "wb")) == NULL)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    c = conf_load(path, err, sizeof(err));
    unlink(path);               /* nothing is left in /tmp after a run */
    if (c != NULL)
        conf_free(c);
    return 0;
}
