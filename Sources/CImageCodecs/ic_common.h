#ifndef IMGCACHE_IC_COMMON_H
#define IMGCACHE_IC_COMMON_H
#include <stdio.h>
#include "imgcache_codecs.h"

/* Records an error that happened outside any library call (no longjmp needed). */
static inline int ic_fail(ic_status *status, int code, const char *message) {
    status->code = code;
    snprintf(status->message, IC_MESSAGE_MAX, "%s", message);
    return code;
}
/* Gray (1) and gray + alpha (2) widened to RGB and RGBA, malloc'd; NULL when out of memory. */
uint8_t *ic_widen_gray(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int *out_channels);
#endif
