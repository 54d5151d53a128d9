/* Thread-local error state: the library's only way of explaining failures. */
#include "engine/engine.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_message[1024];
static _Thread_local zoo_status last_status = ZOO_OK;

const char *zoo_status_name(zoo_status status)
{
    switch (status) {
#define ZOO_STATUS_CASE(code, text) \
    case code:                      \
        return text;
        ZOO_STATUS_LIST(ZOO_STATUS_CASE)
#undef ZOO_STATUS_CASE
    }
    return "unknown status";
}

const char *zoo_last_error(void) { return last_message; }

zoo_status zoo_last_status(void) { return last_status; }

void zoo_clear_error(void)
{
    last_message[0] = '\0';
    last_status = ZOO_OK;
}

zoo_status zoo_error(zoo_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_status = status;
    return status;
}
