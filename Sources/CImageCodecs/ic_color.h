#ifndef IMGCACHE_IC_COLOR_H
#define IMGCACHE_IC_COLOR_H
/*
 * Colour management over LittleCMS 2: what a decoder found about an image's colours (an ICC
 * profile, a cICP tag, PNG's sRGB/gAMA/cHRM chunks) and the transform of its pixels to sRGB.
 *
 * lcms2 never longjmps: its errors arrive through a per-call context's log handler, which
 * copies the message into the image's ic_color report. A profile that cannot be used is
 * ignored (the pixels keep their numbers) with that report's warning saying why.
 */
#include <stddef.h>
#include <stdint.h>
#include "imgcache_codecs.h"

/* What a decoder found. `icc` may point into the decoder's input or a malloc'd copy (the caller owns it). */
typedef struct {
    const uint8_t *icc;
    size_t icc_size;
    int icc_rejected;           /* a profile was present but could not be assembled (warning already set) */
    int has_cicp;
    uint8_t cicp_primaries, cicp_transfer, cicp_matrix, cicp_full_range;
    int srgb_chunk;             /* PNG sRGB chunk */
    int has_gamma;
    double gamma;               /* PNG gAMA: the file (encoding) gamma, 0.45455 for 1/2.2 */
    int has_chromaticities;
    double white[2], red[2], green[2], blue[2];
} ic_color_source;

/* Pixel layouts a transform converts. */
enum { IC_PIXELS_GRAY = 1, IC_PIXELS_GRAY_ALPHA = 2, IC_PIXELS_RGB = 3, IC_PIXELS_RGBA = 4,
       IC_PIXELS_CMYK = 5, IC_PIXELS_CMYK_INVERTED = 6 };

/* A transform to sRGB for one image (NULL members: nothing to do). */
typedef struct {
    void *context;
    void *transform;
    int in_bytes, out_bytes;    /* per pixel */
} ic_color_session;

/* Decides what to do for `source` and pixels of `layout`, and fills `report`. Returns 1 when
   the pixels need a transform (then `session` holds it; end it with ic_color_end), 0 when they
   are sRGB already or the description was ignored (report->warning says why). */
int ic_color_begin(ic_color_session *session, const ic_color_source *source, int layout,
                   size_t max_profile_bytes, ic_color *report);
/* Converts `count` pixels; `in` and `out` may be the same buffer when the layouts match. */
void ic_color_rows(ic_color_session *session, const void *in, void *out, size_t count);
void ic_color_end(ic_color_session *session);

/* In place, for decoders whose output layout is the same as their input's. */
void ic_color_convert_in_place(uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                               const ic_color_source *source, size_t max_profile_bytes, ic_color *report);

/* JPEG: finds the APP2 ICC_PROFILE chunks before the first scan and reassembles them in
   sequence order into a malloc'd buffer (*profile, free() it). A profile with missing,
   repeated or inconsistent chunks, or larger than max_bytes, is not assembled: the function
   returns 0 with `warning` saying why; 1 when a profile was assembled; 0 with an empty
   warning when the file has none. Reads only the marker segments, linear in their size. */
int ic_jpeg_find_icc(const uint8_t *data, size_t size, size_t max_bytes, uint8_t **profile,
                     size_t *profile_size, char warning[IC_MESSAGE_MAX]);

#define IC_DEFAULT_MAX_PROFILE_BYTES ((size_t)4 * 1024 * 1024)
#endif
