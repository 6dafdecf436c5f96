/*
 * TIFF probe and decode over libtiff: the first page (directory), strips or tiles, 1 to 16 bits,
 * gray, RGB, palette, CMYK, YCbCr, with or without alpha, through libtiff's RGBA image reader.
 * libtiff reports errors through a per-file handler (TIFFOpenOptions, no globals, no exit, no
 * longjmp); its single allocations are capped. The directory's size is checked against the
 * pixel limit before the raster is allocated. An embedded ICC profile (tag 34675) converts an
 * RGB or gray image to sRGB; a CMYK one is converted naively (libtiff's rule) and says so.
 */
#include "imgcache_codecs.h"
#include "ic_common.h"
#include "ic_color.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

/* libtiff's largest single allocation (strip and tile buffers): 256 MB. */
#define IC_TIFF_MAX_ALLOC ((tmsize_t)256 * 1024 * 1024)

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t position;
} ic_tiff_source;

static tmsize_t ic_tiff_read(thandle_t handle, void *buffer, tmsize_t length) {
    ic_tiff_source *source = (ic_tiff_source *)handle;
    size_t left = source->position < source->size ? source->size - source->position : 0;
    size_t count = length < 0 ? 0 : ((size_t)length < left ? (size_t)length : left);
    memcpy(buffer, source->data + source->position, count);
    source->position += count;
    return (tmsize_t)count;
}

static tmsize_t ic_tiff_write(thandle_t handle, void *buffer, tmsize_t length) {
    (void)handle; (void)buffer; (void)length;
    return -1;
}

static toff_t ic_tiff_seek(thandle_t handle, toff_t offset, int whence) {
    ic_tiff_source *source = (ic_tiff_source *)handle;
    uint64_t base = whence == SEEK_CUR ? source->position : whence == SEEK_END ? source->size : 0;
    uint64_t target = base + offset;
    if (target < base) return (toff_t)-1;
    source->position = target > source->size ? source->size : (size_t)target;
    return (toff_t)target;
}

static int ic_tiff_close(thandle_t handle) { (void)handle; return 0; }
static toff_t ic_tiff_size(thandle_t handle) { return ((ic_tiff_source *)handle)->size; }
static int ic_tiff_map(thandle_t handle, void **base, toff_t *size) { (void)handle; (void)base; (void)size; return 0; }
static void ic_tiff_unmap(thandle_t handle, void *base, toff_t size) { (void)handle; (void)base; (void)size; }

/* The first error is kept as the status's message; later ones are dropped. */
static int ic_tiff_error(TIFF *tiff, void *user, const char *module, const char *format, va_list args) {
    (void)tiff;
    ic_status *status = (ic_status *)user;
    if (status->message[0] == '\0') {
        char text[IC_MESSAGE_MAX];
        vsnprintf(text, sizeof text, format, args);
        snprintf(status->message, IC_MESSAGE_MAX, "TIFF %s: %s", module ? module : "", text);
    }
    return 1;
}

static int ic_tiff_warning(TIFF *tiff, void *user, const char *module, const char *format, va_list args) {
    (void)tiff;
    ic_status *status = (ic_status *)user;
    if (status->warnings++ == 0) {
        char text[IC_MESSAGE_MAX];
        vsnprintf(text, sizeof text, format, args);
        snprintf(status->first_warning, IC_MESSAGE_MAX, "TIFF %s: %s", module ? module : "", text);
    }
    return 1;
}

/* A message that says the data ran out is truncation; the rest is corruption. */
static int ic_tiff_fail(ic_status *status, const char *otherwise) {
    if (status->message[0] == '\0') snprintf(status->message, IC_MESSAGE_MAX, "%s", otherwise);
    status->code = (strstr(status->message, "Read error") || strstr(status->message, "unexpected end")
                    || strstr(status->message, "EOF") || strstr(status->message, "Cannot read"))
                       ? IC_ERR_TRUNCATED : IC_ERR_CORRUPT;
    if (strstr(status->message, "Memory allocation") || strstr(status->message, "Out of memory")
        || strstr(status->message, "exceeds limit"))
        status->code = IC_ERR_LIMIT;
    return status->code;
}

static TIFF *ic_tiff_open(ic_tiff_source *source, ic_info *info, ic_status *status) {
    TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
    if (options == NULL) {
        ic_fail(status, IC_ERR_NO_MEMORY, "cannot allocate libtiff's options");
        return NULL;
    }
    TIFFOpenOptionsSetMaxSingleMemAlloc(options, IC_TIFF_MAX_ALLOC);
    TIFFOpenOptionsSetErrorHandlerExtR(options, ic_tiff_error, status);
    TIFFOpenOptionsSetWarningHandlerExtR(options, ic_tiff_warning, status);
    /* "rm": read only, never memory-map (the bytes are already in memory, read through the procs). */
    TIFF *tiff = TIFFClientOpenExt("image.tiff", "rm", (thandle_t)source, ic_tiff_read, ic_tiff_write, ic_tiff_seek,
                                   ic_tiff_close, ic_tiff_size, ic_tiff_map, ic_tiff_unmap, options);
    TIFFOpenOptionsFree(options);
    if (tiff == NULL) {
        ic_tiff_fail(status, "not a readable TIFF");
        return NULL;
    }
    uint32_t width = 0, height = 0;
    uint16_t samples = 1, bits = 1, photometric = PHOTOMETRIC_MINISBLACK, orientation = ORIENTATION_TOPLEFT;
    uint16_t extra_count = 0;
    uint16_t *extra = NULL;
    TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &width);
    TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &height);
    TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLESPERPIXEL, &samples);
    TIFFGetFieldDefaulted(tiff, TIFFTAG_BITSPERSAMPLE, &bits);
    TIFFGetFieldDefaulted(tiff, TIFFTAG_ORIENTATION, &orientation);
    TIFFGetFieldDefaulted(tiff, TIFFTAG_EXTRASAMPLES, &extra_count, &extra);
    if (!TIFFGetField(tiff, TIFFTAG_PHOTOMETRIC, &photometric)) photometric = samples >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    if (width == 0 || height == 0) {
        ic_fail(status, IC_ERR_CORRUPT, "the TIFF's first page is empty (0 pixels wide or high)");
        TIFFClose(tiff);
        return NULL;
    }
    info->width = width;
    info->height = height;
    info->bit_depth = bits;
    info->components = samples;
    info->has_alpha = extra_count > 0 && (extra[0] == EXTRASAMPLE_ASSOCALPHA || extra[0] == EXTRASAMPLE_UNASSALPHA) ? 1 : 0;
    info->color_space = photometric == PHOTOMETRIC_SEPARATED ? IC_CS_CMYK
                      : photometric == PHOTOMETRIC_PALETTE ? IC_CS_PALETTE
                      : photometric == PHOTOMETRIC_YCBCR ? IC_CS_YCBCR
                      : (photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE) ? IC_CS_GRAY
                      : IC_CS_RGB;
    info->orientation = orientation >= 1 && orientation <= 8 ? orientation : 1;
    info->frames = 1;
    return tiff;
}

int ic_tiff_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status) {
    if (ic_begin(data, size, info, NULL, status) != IC_OK) return status->code;
    ic_tiff_source source = { data, size, 0 };
    TIFF *tiff = ic_tiff_open(&source, info, status);
    if (tiff == NULL) return status->code;
    TIFFClose(tiff);
    status->message[0] = '\0';
    return IC_OK;
}

/* libtiff's raster is premultiplied: back to straight alpha, RGB kept where fully opaque. */
static void ic_tiff_unpremultiply(uint8_t *pixels, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint8_t *p = pixels + i * 4;
        unsigned alpha = p[3];
        if (alpha == 255) continue;
        if (alpha == 0) { p[0] = p[1] = p[2] = 0; continue; }
        for (int c = 0; c < 3; c++) p[c] = ic_unpremultiply(p[c], alpha);
    }
}

/* RGBA (or RGB, when the image has no alpha) packed in place. */
static int ic_tiff_pack(uint8_t *pixels, size_t count, int has_alpha) {
    if (has_alpha) {
        ic_tiff_unpremultiply(pixels, count);
        return 4;
    }
    for (size_t i = 0; i < count; i++) memmove(pixels + i * 3, pixels + i * 4, 3);
    return 3;
}

/* An RGB or gray image with an ICC profile is converted to sRGB; CMYK was already made RGB by libtiff. */
static void ic_tiff_color(TIFF *tiff, const ic_info *info, const ic_decode_options *options, ic_image *image) {
    uint32_t icc_size = 0;
    void *icc = NULL;
    if (!TIFFGetField(tiff, TIFFTAG_ICCPROFILE, &icc_size, &icc) || icc == NULL || icc_size == 0) return;
    if (info->color_space == IC_CS_CMYK) {
        snprintf(image->color.warning, IC_MESSAGE_MAX, "the CMYK TIFF's ICC profile was not used (converted as uncalibrated CMYK)");
        image->color.source = IC_COLOR_ICC;
        return;
    }
    ic_color_source source;
    memset(&source, 0, sizeof source);
    source.icc = (const uint8_t *)icc;
    source.icc_size = icc_size;
    ic_color_convert_in_place(image->pixels, image->width, image->height, image->channels, &source,
                              options->max_profile_bytes, &image->color);
}

int ic_tiff_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                   ic_info *info, ic_image *image, ic_status *status) {
    if (ic_begin(data, size, info, image, status) != IC_OK) return status->code;
    ic_tiff_source source = { data, size, 0 };
    TIFF *tiff = ic_tiff_open(&source, info, status);
    if (tiff == NULL) return status->code;
    if (ic_over_pixel_limit(info->width, info->height, options->max_pixels, status)) {
        TIFFClose(tiff);
        return status->code;
    }
    char message[1024] = "";
    TIFFRGBAImage reader;
    if (!TIFFRGBAImageOK(tiff, message) || !TIFFRGBAImageBegin(&reader, tiff, 0, message)) {
        TIFFClose(tiff);
        status->code = IC_ERR_UNSUPPORTED;
        snprintf(status->message, IC_MESSAGE_MAX, "TIFF: %s", message[0] ? message : "this kind of TIFF cannot be read");
        return status->code;
    }
    reader.req_orientation = reader.orientation;  /* rows as stored; the orientation is reported, then applied */
    size_t count = (size_t)info->width * info->height;
    uint8_t *pixels = (uint8_t *)malloc(count * 4);
    if (pixels == NULL) {
        TIFFRGBAImageEnd(&reader);
        TIFFClose(tiff);
        return ic_fail(status, IC_ERR_NO_MEMORY, "cannot allocate the TIFF image");
    }
    int ok = TIFFRGBAImageGet(&reader, (uint32_t *)pixels, info->width, info->height);
    TIFFRGBAImageEnd(&reader);
    if (!ok) {  /* strict even when lenient: libtiff does not say which rows it got */
        free(pixels);
        TIFFClose(tiff);
        return ic_tiff_fail(status, "the TIFF's pixels could not be read");
    }
    image->pixels = pixels;
    image->width = info->width;
    image->height = info->height;
    image->channels = ic_tiff_pack(pixels, count, info->has_alpha);
    if (options->color_manage) ic_tiff_color(tiff, info, options, image);
    TIFFClose(tiff);
    return IC_OK;
}
