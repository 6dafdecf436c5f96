#ifndef IMGCACHE_CODECS_H
#define IMGCACHE_CODECS_H

/*
 * imgcache's C shim over libjpeg(-turbo), libpng, libwebp, libavif, giflib, libtiff, libheif, libjxl
 * and LittleCMS 2.
 *
 * This is the only code in imgcache that uses setjmp/longjmp. Every entry point
 * sets its own jump target, calls the library, and returns a status code plus
 * the library's message; no Swift code ever runs between a setjmp and its
 * longjmp, and no libjpeg/libpng error handler ever calls exit().
 *
 * Pixel buffers handed out by the decoders are allocated with malloc() after the
 * header's dimensions have been checked against the caller's limits; the caller
 * owns them and releases them with free() (or ic_free()).
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
enum {
    IC_OK = 0,
    IC_ERR_UNSUPPORTED = 1, /* a valid file this decoder cannot handle (12-bit, lossless JPEG) */
    IC_ERR_CORRUPT = 2,     /* malformed data, or a corrupt-data warning in strict mode */
    IC_ERR_TRUNCATED = 3,   /* the data ends before the image does */
    IC_ERR_TOO_LARGE = 4,   /* declared dimensions exceed the pixel limit */
    IC_ERR_NO_MEMORY = 5,   /* an allocation failed */
    IC_ERR_LIMIT = 6,       /* another resource limit: scans, warnings, ancillary chunk size */
    IC_ERR_INVALID_ARGUMENT = 7,
    IC_END = 100            /* an iterator has no more frames (not an error) */
};

/* Colour spaces as stored in the file. */
enum {
    IC_CS_UNKNOWN = 0,
    IC_CS_GRAY = 1,
    IC_CS_RGB = 2,
    IC_CS_YCBCR = 3,
    IC_CS_CMYK = 4,
    IC_CS_YCCK = 5,
    IC_CS_PALETTE = 6
};

#define IC_MESSAGE_MAX 256

typedef struct {
    int code;                            /* IC_OK or IC_ERR_* */
    int warnings;                        /* library warnings seen (corrupt data, bad chunks...) */
    char message[IC_MESSAGE_MAX];        /* the library's message for the error, if any */
    char first_warning[IC_MESSAGE_MAX];  /* the first warning, if any */
} ic_status;

typedef struct {
    uint32_t width;          /* as declared in the header */
    uint32_t height;
    int components;          /* JPEG: components in the file; PNG: channels after expansion */
    int color_space;         /* IC_CS_* */
    int progressive;         /* JPEG progressive, or PNG Adam7 interlaced */
    int bit_depth;
    int has_alpha;           /* PNG alpha channel or tRNS */
    int adobe_inverted;      /* JPEG: an Adobe APP14 marker (CMYK stored inverted) */
    int orientation;         /* 1...8 from the container (AVIF irot/imir); 0: read EXIF instead */
    int frames;              /* frames in an animation (the first is decoded), 1 for a still image */
    int duration_ms;         /* an animation's frame durations in all (GIF: probe and decode; WebP: decode) */
    int loop_count;          /* an animation's loop count, 0: for ever (a GIF without NETSCAPE2.0: 1) */
} ic_info;

typedef struct {
    uint64_t max_pixels;     /* 0: no limit. Checked against the header before any pixel allocation. */
    int scale_denom;         /* JPEG shrink-on-load: 1, 2, 4 or 8 */
    int lenient;             /* 1: keep a partial image on truncation/corrupt-data warnings */
    int max_scans;           /* progressive JPEG scan limit (0: default 100) */
    int max_warnings;        /* lenient mode: give up after this many warnings (0: default 1000) */
    size_t max_chunk_bytes;  /* PNG: largest ancillary chunk, decompressed (0: default 8 MB) */
    int color_manage;        /* 1: convert to sRGB using the embedded profile or colour tags */
    size_t max_profile_bytes;/* the largest ICC profile parsed (0: default 4 MB); a larger one is ignored */
    int max_frames;          /* an animation's frame limit (0: default 1000) */
    uint64_t max_animation_pixels; /* the limit on the sum of frame pixels (0: default 1e9) */
    uint32_t render_width;   /* SVG: the size to draw the whole document at (0: its intrinsic size) */
    uint32_t render_height;
} ic_decode_options;

/* Where an image's colour description came from. */
enum {
    IC_COLOR_NONE = 0,       /* nothing: sRGB assumed */
    IC_COLOR_ICC = 1,        /* an embedded ICC profile */
    IC_COLOR_CICP = 2,       /* PNG cICP or AVIF nclx code points */
    IC_COLOR_GAMA_CHRM = 3,  /* PNG gAMA and/or cHRM */
    IC_COLOR_SRGB_TAG = 4    /* PNG sRGB chunk */
};

/* What colour management did to a decoded image. */
typedef struct {
    int source;                          /* IC_COLOR_* */
    int converted;                       /* 1: the pixels were transformed to sRGB */
    int intent;                          /* when converted: 0 perceptual, 1 relative colorimetric */
    char description[IC_MESSAGE_MAX];    /* the profile's description ("Display P3"), or the tags' */
    char warning[IC_MESSAGE_MAX];        /* why a description was ignored, if it was */
} ic_color;

typedef struct {
    uint8_t *pixels;         /* malloc'd, rows top to bottom, no padding; free() it */
    uint32_t width;
    uint32_t height;
    int channels;            /* 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    ic_color color;          /* colour management's report */
} ic_image;

typedef struct {
    uint8_t *bytes;          /* malloc'd; free() it */
    size_t size;
} ic_buffer;

/* Probe: read only the header. Never allocates pixel memory. */
int ic_jpeg_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status);
int ic_png_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status);
int ic_webp_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status);
int ic_avif_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status);
/* GIF: the logical screen's size; frames counted (a file cut after its first frame probes). */
int ic_gif_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status);

/* Decode to 8-bit gray, gray+alpha, RGB or RGBA. JPEG CMYK/YCCK come out as RGB. */
int ic_jpeg_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                   ic_info *info, ic_image *image, ic_status *status);
int ic_png_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                  ic_info *info, ic_image *image, ic_status *status);
/* WebP (lossy, lossless, alpha; an animation's first frame) and AVIF (8 to 12 bits; a
   sequence's first frame), to 8-bit RGB or RGBA. */
int ic_webp_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                   ic_info *info, ic_image *image, ic_status *status);
int ic_avif_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                   ic_info *info, ic_image *image, ic_status *status);
/* GIF: the first frame composited onto the logical screen, RGBA (transparent where no frame
   pixel falls or the frame's transparent index is). */
int ic_gif_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                  ic_info *info, ic_image *image, ic_status *status);

/* TIFF (libtiff): the first page, strips or tiles, 1 to 16 bits, gray/RGB/palette/CMYK/YCbCr, to 8-bit
   RGB or RGBA; the orientation tag is reported (rows as stored). HEIC/HEIF (libheif): the primary
   image with its transformations applied, RGB or RGBA. JPEG XL (libjxl): the first frame, gray or
   RGB with alpha if present; the orientation is reported. Each checks its header's size against
   max_pixels before any pixel memory is allocated, and converts to sRGB by its ICC profile or nclx. */
int ic_tiff_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status);
int ic_tiff_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                   ic_info *info, ic_image *image, ic_status *status);
int ic_heif_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status);
int ic_heif_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                   ic_info *info, ic_image *image, ic_status *status);
int ic_jxl_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status);
int ic_jxl_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                  ic_info *info, ic_image *image, ic_status *status);

/* SVG (librsvg + cairo): the intrinsic size (absolute width/height, else the viewBox, else 300x150);
   decode draws the whole document at render_width x render_height (or that size) into a
   transparent RGBA canvas, after checking it against max_pixels. No base URL: only data: URLs load. */
int ic_svg_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status);
int ic_svg_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                  ic_info *info, ic_image *image, ic_status *status);

/* A GIF's frames one at a time, each composited onto the screen as browsers show it (disposal
   to transparent or to the previous screen applied before the next frame): one screen-sized
   canvas and one saved copy, whatever the frame count. Limits as ic_gif_decode's, per frame. */
typedef struct ic_gif_frames ic_gif_frames;
ic_gif_frames *ic_gif_frames_open(const uint8_t *data, size_t size, const ic_decode_options *options,
                                  ic_info *info, ic_status *status);
/* IC_OK with *pixels (RGBA, the screen's size, valid until the next call) and the frame's delay,
   IC_END after the last frame, or an error. */
int ic_gif_frames_next(ic_gif_frames *frames, const uint8_t **pixels, int *delay_ms, ic_status *status);
void ic_gif_frames_close(ic_gif_frames *frames);

/* An animated WebP's frames one at a time (libwebp's WebPAnimDecoder composites them), with the
   same calls and limits as the GIF frames: *pixels is the canvas, valid until the next call. */
typedef struct ic_webp_frames ic_webp_frames;
ic_webp_frames *ic_webp_frames_open(const uint8_t *data, size_t size, const ic_decode_options *options,
                                    ic_info *info, ic_status *status);
int ic_webp_frames_next(ic_webp_frames *frames, const uint8_t **pixels, int *delay_ms, ic_status *status);
void ic_webp_frames_close(ic_webp_frames *frames);

/* An animated WebP, frame by frame (libwebpmux's WebPAnimEncoder: lossy frames at `quality`,
   sub-rectangles and blending chosen by libwebp). */
typedef struct ic_webp_anim ic_webp_anim;
ic_webp_anim *ic_webp_anim_new(uint32_t width, uint32_t height, int loop_count, int quality, int method, ic_status *status);
/* RGBA pixels of the canvas size, shown from `timestamp_ms`. */
int ic_webp_anim_add(ic_webp_anim *anim, const uint8_t *rgba, int timestamp_ms, ic_status *status);
/* The file; `end_ms` is when the last frame ends. Frees nothing: call ic_webp_anim_free. */
int ic_webp_anim_finish(ic_webp_anim *anim, int end_ms, ic_buffer *out, ic_status *status);
void ic_webp_anim_free(ic_webp_anim *anim);

/* Encode. JPEG takes 1 or 3 channels; PNG takes 1 to 4. */
int ic_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                   int quality, int progressive, ic_buffer *out, ic_status *status);
int ic_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                  int compression_level, ic_buffer *out, ic_status *status);

/* WebP and AVIF take 1 to 4 channels (gray is written as colour). quality 1...100; WebP's
   method 0...6 (slower is smaller); AVIF's speed 0...10 (faster is larger), 4:2:0, sRGB. */
int ic_webp_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                   int quality, int method, ic_buffer *out, ic_status *status);
int ic_avif_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                   int quality, int speed, ic_buffer *out, ic_status *status);

void ic_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
