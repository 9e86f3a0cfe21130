/* libFuzzer: header validation; name and value split at the first NUL. */
#include <stdint.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *name = (const char *)data, *value, *why = NULL;
    const char *nul = memchr(data, '\0', size);
    size_t nlen = nul ? (size_t)(nul - name) : size;
    size_t vlen = nul ? size - nlen - 1 : 0;
    size_t i;

    value = nul ? nul + 1 : name + size;
    if (request_check_header(name, nlen, value, vlen, &why) == 0) {
        /* what passes must be safe to put on a header line */
        for (i = 0; i < nlen; i++)
            if (name[i] <= ' ' || name[i] == ':' || name[i] == 127)
                __builtin_trap();
        for (i = 0; i < vlen; i++)
            if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
                __builtin_trap();
    } else if (why == NULL)
        __builtin_trap();
    return 0;
}
