#ifndef IMGCACHE_IC_COMMON_H
#define IMGCACHE_IC_COMMON_H
#include <stdio.h>
#include <string.h>
#include "imgcache_codecs.h"

/* Records an error that happened outside any library call (no longjmp needed). */
static inline int ic_fail(ic_status *status, int code, const char *message) {
    status->code = code;
    snprintf(status->message, IC_MESSAGE_MAX, "%s", message);
    return code;
}
/* Every probe's and decode's first step: the outputs zeroed (image may be NULL for a probe),
   and an empty input refused. IC_OK, or the error with status filled. */
static inline int ic_begin(const uint8_t *data, size_t size, ic_info *info, ic_image *image, ic_status *status) {
    memset(status, 0, sizeof(*status));
    memset(info, 0, sizeof(*info));
    if (image != NULL) memset(image, 0, sizeof(*image));
    if (data == NULL || size == 0) return ic_fail(status, IC_ERR_TRUNCATED, "empty input");
    return IC_OK;
}

/* The pixel limit, checked from the header before any pixel memory: 1 (status filled) when over it. */
static inline int ic_over_pixel_limit(uint32_t width, uint32_t height, uint64_t max_pixels, ic_status *status) {
    uint64_t pixels = (uint64_t)width * (uint64_t)height;
    if (max_pixels == 0 || pixels <= max_pixels) return 0;
    status->code = IC_ERR_TOO_LARGE;
    snprintf(status->message, IC_MESSAGE_MAX, "%ux%u is %llu pixels, over the limit of %llu", width, height,
             (unsigned long long)pixels, (unsigned long long)max_pixels);
    return 1;
}

/* One colour channel of a premultiplied pixel back to straight alpha (alpha 1...254), rounded. */
static inline uint8_t ic_unpremultiply(unsigned value, unsigned alpha) {
    unsigned straight = (value * 255 + alpha / 2) / alpha;
    return (uint8_t)(straight > 255 ? 255 : straight);
}

/* Copies an encoder's output into a malloc'd buffer Swift releases with free(). */
int ic_buffer_copy(ic_buffer *out, const uint8_t *bytes, size_t size, ic_status *status);

/* Gray (1) and gray + alpha (2) widened to RGB and RGBA, malloc'd; NULL when out of memory. */
uint8_t *ic_widen_gray(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int *out_channels);
#endif
