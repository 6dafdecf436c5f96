/*
 * PNG probe, decode and encode over libpng's full (non-simplified) API, which
 * gives control over its limits: user width/height limits, the largest
 * ancillary chunk it will allocate (zTXt/iCCP bombs) and CRC policy.
 *
 * libpng's error callback formats the message into the caller's ic_status and
 * longjmps back to the entry point through png_jmpbuf. Warnings are counted.
 */
#include "imgcache_codecs.h"
#include "ic_common.h"
#include "ic_color.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

/* Pillow's limit for text chunks; ICC profiles and EXIF blocks are far smaller in practice. */
#define IC_DEFAULT_MAX_CHUNK_BYTES ((size_t)1024 * 1024)

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    ic_status *status;
    uint8_t *volatile pixels;
    png_bytep *volatile rows;
    volatile int rows_complete;
    ic_color_source color;           /* read after png_read_info (the ICC is a copy: icc_copy) */
    uint8_t *volatile icc_copy;
} ic_png_reader;

/* The colour chunks, in the PNG 3rd edition's order of precedence: cICP, iCCP, sRGB, gAMA/cHRM. */
static void ic_png_collect_color(png_structp png, png_infop info, const ic_decode_options *options,
                                 ic_png_reader *reader) {
    ic_color_source *color = &reader->color;
    png_unknown_chunkp unknowns = NULL;
    int count = png_get_unknown_chunks(png, info, &unknowns);
    for (int i = 0; i < count; i++) {
        if (memcmp(unknowns[i].name, "cICP", 4) == 0 && unknowns[i].size == 4) {
            color->has_cicp = 1;
            color->cicp_primaries = unknowns[i].data[0];
            color->cicp_transfer = unknowns[i].data[1];
            color->cicp_matrix = unknowns[i].data[2];
            color->cicp_full_range = unknowns[i].data[3];
        }
    }
    png_charp name = NULL;
    int compression = 0;
    png_bytep profile = NULL;
    png_uint_32 length = 0;
    if (png_get_iCCP(png, info, &name, &compression, &profile, &length) && profile != NULL && length > 0) {
        size_t limit = options->max_profile_bytes ? options->max_profile_bytes : IC_DEFAULT_MAX_PROFILE_BYTES;
        if (length > limit) {
            color->icc = profile;      /* ic_color_begin reports it as over the limit; never parsed */
            color->icc_size = length;
        } else if ((reader->icc_copy = (uint8_t *)malloc(length)) != NULL) {
            memcpy(reader->icc_copy, profile, length);
            color->icc = reader->icc_copy;
            color->icc_size = length;
        }
    }
    int intent = 0;
    if (png_get_sRGB(png, info, &intent)) color->srgb_chunk = 1;
    double gamma = 0;
    if (png_get_gAMA(png, info, &gamma) && gamma > 0) {
        color->has_gamma = 1;
        color->gamma = gamma;
    }
    double wx, wy, rx, ry, gx, gy, bx, by;
    if (png_get_cHRM(png, info, &wx, &wy, &rx, &ry, &gx, &gy, &bx, &by)) {
        color->has_chromaticities = 1;
        color->white[0] = wx; color->white[1] = wy;
        color->red[0] = rx; color->red[1] = ry;
        color->green[0] = gx; color->green[1] = gy;
        color->blue[0] = bx; color->blue[1] = by;
    }
}

/* Converts the decoded pixels to sRGB (no libpng call happens in here, so no longjmp either). */
static void ic_png_manage_color(ic_png_reader *reader, const ic_decode_options *options, ic_image *image) {
    if (options->color_manage) {
        if (reader->color.icc != NULL && reader->color.icc != reader->icc_copy) {
            /* Over the limit: reported, never parsed. */
            size_t limit = options->max_profile_bytes ? options->max_profile_bytes : IC_DEFAULT_MAX_PROFILE_BYTES;
            image->color.source = IC_COLOR_ICC;
            snprintf(image->color.warning, IC_MESSAGE_MAX, "the %zu-byte ICC profile is over the %zu-byte limit: ignored",
                     reader->color.icc_size, limit);
            reader->color.icc = NULL;
        } else {
            ic_color_convert_in_place(image->pixels, image->width, image->height, image->channels, &reader->color,
                                      options->max_profile_bytes, &image->color);
        }
    }
    free(reader->icc_copy);
    reader->icc_copy = NULL;
}

/* libpng's error pointer, for readers and writers alike. */
typedef struct {
    ic_status *status;
    int strict;      /* reading: fail on warnings about damaged chunks */
} ic_png_diagnostics;

static void ic_png_error(png_structp png, png_const_charp message) {
    ic_png_diagnostics *diagnostics = (ic_png_diagnostics *)png_get_error_ptr(png);
    if (diagnostics->status->code == IC_OK) {
        diagnostics->status->code = IC_ERR_CORRUPT;
        snprintf(diagnostics->status->message, IC_MESSAGE_MAX, "%s", message);
    }
    png_longjmp(png, 1);
}

/*
 * libpng warns (and, for "benign errors", goes on) about damaged chunks. Warnings about
 * chunks imgcache never uses for pixels (colour management: iCCP, sRGB, gAMA, cHRM, cICP),
 * surplus data after the last row and out-of-range tRNS samples (libpng masks them) leave
 * the pixels right. Any other warning means the file is damaged or over a limit (a text
 * chunk inflating past max_chunk_bytes): strict decoding fails on it.
 */
static int ic_png_warning_is_harmless(const char *message) {
    static const char *const harmless[] = {
        "iCCP", "sRGB", "gAMA", "cHRM", "cICP", "profile", "Extra compressed data",
        "tRNS chunk has out-of-range samples",
    };
    for (size_t i = 0; i < sizeof(harmless) / sizeof(harmless[0]); i++)
        if (strstr(message, harmless[i]) != NULL) return 1;
    return 0;
}

static void ic_png_warning(png_structp png, png_const_charp message) {
    ic_png_diagnostics *diagnostics = (ic_png_diagnostics *)png_get_error_ptr(png);
    ic_status *status = diagnostics->status;
    status->warnings++;
    if (status->warnings == 1)
        snprintf(status->first_warning, IC_MESSAGE_MAX, "%s", message);
    /* A chunk over png_set_chunk_malloc_max is only a benign error to libpng: it warns, then
       allocates the chunk anyway (a 57-byte file declaring a 1 GB pCAL took 1 GB). Over the
       limit is always the end, probing or decoding, strict or lenient: before the allocation. */
    if (strstr(message, "too large") != NULL) {
        if (status->code == IC_OK) {
            status->code = IC_ERR_LIMIT;
            snprintf(status->message, IC_MESSAGE_MAX, "a chunk over the size limit (%s)", message);
        }
        png_error(png, message);
    }
    if (diagnostics->strict && !ic_png_warning_is_harmless(message) && status->code == IC_OK) {
        status->code = IC_ERR_CORRUPT;
        snprintf(status->message, IC_MESSAGE_MAX, "damaged chunk: %s", message);
        png_error(png, message);
    }
}

/* Creates the read and info structs; on failure fills status and returns its code. */
static int ic_png_create_reader(ic_png_diagnostics *diagnostics, png_structp *png, png_infop *info) {
    *png = png_create_read_struct(PNG_LIBPNG_VER_STRING, diagnostics, ic_png_error, ic_png_warning);
    if (*png == NULL) return ic_fail(diagnostics->status, IC_ERR_NO_MEMORY, "cannot create a PNG reader");
    *info = png_create_info_struct(*png);
    if (*info == NULL) {
        png_destroy_read_struct(png, NULL, NULL);
        return ic_fail(diagnostics->status, IC_ERR_NO_MEMORY, "cannot create a PNG info struct");
    }
    return IC_OK;
}

static void ic_png_read(png_structp png, png_bytep out, size_t length) {
    ic_png_reader *reader = (ic_png_reader *)png_get_io_ptr(png);
    if (length > reader->size - reader->offset) {
        if (reader->status->code == IC_OK) {
            reader->status->code = IC_ERR_TRUNCATED;
            snprintf(reader->status->message, IC_MESSAGE_MAX,
                     "the data ends after %zu bytes, inside a chunk (truncated)", reader->size);
        }
        png_error(png, "truncated");
    }
    memcpy(out, reader->data + reader->offset, length);
    reader->offset += length;
}

static void ic_png_configure(png_structp png, const ic_decode_options *options) {
    size_t max_chunk = options && options->max_chunk_bytes ? options->max_chunk_bytes : IC_DEFAULT_MAX_CHUNK_BYTES;
    png_set_chunk_malloc_max(png, max_chunk);
    png_set_chunk_cache_max(png, 1000);
    /* Text chunks say nothing a thumbnail needs: skipped unread (their CRC is still checked),
       so a zTXt that inflates to gigabytes costs no more than its compressed bytes. */
    static const png_byte text_chunks[] = "tEXt\0zTXt\0iTXt";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, text_chunks, 3);
    /* cICP is newer than this libpng: kept as an unknown chunk for colour management. */
    static const png_byte cicp_chunk[] = "cICP";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_ALWAYS, cicp_chunk, 1);
    /* Strict: a chunk whose CRC fails, ancillary or not, fails the image; lenient: libpng's
       default (a damaged ancillary chunk is dropped with a warning). */
    if (options == NULL || !options->lenient)
        png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
}

static void ic_png_fill_info(png_structp png, png_infop info, ic_info *out) {
    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    int trns = png_get_valid(png, info, PNG_INFO_tRNS) ? 1 : 0;
    out->width = width;
    out->height = height;
    out->bit_depth = bit_depth;
    out->progressive = interlace != PNG_INTERLACE_NONE;
    out->adobe_inverted = 0;
    out->frames = 1;
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
        out->color_space = IC_CS_GRAY; out->components = 1 + trns; out->has_alpha = trns; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        out->color_space = IC_CS_GRAY; out->components = 2; out->has_alpha = 1; break;
    case PNG_COLOR_TYPE_PALETTE:
        out->color_space = IC_CS_PALETTE; out->components = 3 + trns; out->has_alpha = trns; break;
    case PNG_COLOR_TYPE_RGB:
        out->color_space = IC_CS_RGB; out->components = 3 + trns; out->has_alpha = trns; break;
    default:
        out->color_space = IC_CS_RGB; out->components = 4; out->has_alpha = 1; break;
    }
}

int ic_png_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status) {
    if (ic_begin(data, size, info, NULL, status) != IC_OK) return status->code;
    ic_png_reader reader = { .data = data, .size = size, .status = status };  /* the rest zeroed */
    ic_png_diagnostics diagnostics = { status, 0 };
    png_structp png;
    png_infop png_info;
    if (ic_png_create_reader(&diagnostics, &png, &png_info) != IC_OK) return status->code;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &png_info, NULL);
        return status->code;
    }
    ic_png_configure(png, NULL);
    png_set_read_fn(png, &reader, ic_png_read);
    png_read_info(png, png_info);
    ic_png_fill_info(png, png_info, info);
    png_destroy_read_struct(&png, &png_info, NULL);
    return IC_OK;
}

int ic_png_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                  ic_info *info, ic_image *image, ic_status *status) {
    if (ic_begin(data, size, info, image, status) != IC_OK) return status->code;
    ic_png_reader reader = { .data = data, .size = size, .status = status };  /* the rest zeroed */
    ic_png_diagnostics diagnostics = { status, !options->lenient };
    png_structp png;
    png_infop png_info;
    if (ic_png_create_reader(&diagnostics, &png, &png_info) != IC_OK) return status->code;
    /* Volatile: read after the longjmp. */
    volatile uint32_t out_width = 0, out_height = 0;
    volatile int out_channels = 0;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &png_info, NULL);
        free(reader.rows);
        /* Lenient: a file damaged after its last image row (or cut inside it) keeps what was read. */
        int partial_ok = options->lenient && reader.pixels != NULL &&
                         (reader.rows_complete || status->code == IC_ERR_TRUNCATED);
        if (partial_ok) {
            status->warnings++;
            if (status->warnings == 1) snprintf(status->first_warning, IC_MESSAGE_MAX, "%s", status->message);
            status->code = IC_OK;
            status->message[0] = '\0';
            image->pixels = reader.pixels;
            image->width = out_width;
            image->height = out_height;
            image->channels = out_channels;
            ic_png_manage_color(&reader, options, image);
            return IC_OK;
        }
        free(reader.pixels);
        free(reader.icc_copy);
        return status->code;
    }
    ic_png_configure(png, options);
    png_set_read_fn(png, &reader, ic_png_read);
    png_read_info(png, png_info);
    ic_png_fill_info(png, png_info, info);
    if (options->color_manage) ic_png_collect_color(png, png_info, options, &reader);

    if (ic_over_pixel_limit(info->width, info->height, options->max_pixels, status)) png_longjmp(png, 1);

    png_byte color_type = png_get_color_type(png, png_info);
    png_byte bit_depth = png_get_bit_depth(png, png_info);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, png_info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_scale_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, png_info);

    int channels = png_get_channels(png, png_info);
    size_t stride = (size_t)info->width * (size_t)channels;
    if (channels < 1 || channels > 4 || png_get_rowbytes(png, png_info) != stride) {
        status->code = IC_ERR_UNSUPPORTED;
        snprintf(status->message, IC_MESSAGE_MAX, "unexpected PNG layout after expansion (%d channels)", channels);
        png_longjmp(png, 1);
    }
    /* calloc: rows a truncated file never reaches stay transparent black in lenient mode. */
    reader.pixels = (uint8_t *)calloc((size_t)info->height, stride);
    reader.rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)info->height);
    if (reader.pixels == NULL || reader.rows == NULL) {
        status->code = IC_ERR_NO_MEMORY;
        snprintf(status->message, IC_MESSAGE_MAX, "cannot allocate %zu bytes", stride * info->height);
        png_longjmp(png, 1);
    }
    out_width = info->width;
    out_height = info->height;
    out_channels = channels;
    for (uint32_t y = 0; y < info->height; y++) reader.rows[y] = reader.pixels + (size_t)y * stride;
    png_read_image(png, reader.rows);
    reader.rows_complete = 1;
    png_read_end(png, png_info);

    image->pixels = reader.pixels;
    image->width = info->width;
    image->height = info->height;
    image->channels = channels;
    free(reader.rows);
    /* Before png_destroy_read_struct: an over-limit profile is still libpng's memory. */
    ic_png_manage_color(&reader, options, image);
    png_destroy_read_struct(&png, &png_info, NULL);
    return IC_OK;
}

typedef struct {
    uint8_t *volatile bytes;
    volatile size_t size;
    volatile size_t capacity;
    ic_status *status;
} ic_png_writer;

static void ic_png_write(png_structp png, png_bytep data, size_t length) {
    ic_png_writer *writer = (ic_png_writer *)png_get_io_ptr(png);
    if (length > writer->capacity - writer->size) {
        size_t capacity = writer->capacity ? writer->capacity : 4096;
        while (capacity - writer->size < length) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(writer->bytes, capacity);
        if (grown == NULL) {
            writer->status->code = IC_ERR_NO_MEMORY;
            snprintf(writer->status->message, IC_MESSAGE_MAX, "cannot grow the PNG output to %zu bytes", capacity);
            png_error(png, "out of memory");
        }
        writer->bytes = grown;
        writer->capacity = capacity;
    }
    memcpy(writer->bytes + writer->size, data, length);
    writer->size += length;
}

static void ic_png_flush(png_structp png) { (void)png; }

int ic_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                  int compression_level, ic_buffer *out, ic_status *status) {
    memset(status, 0, sizeof(*status));
    memset(out, 0, sizeof(*out));
    if (pixels == NULL || width == 0 || height == 0 || channels < 1 || channels > 4) {
        return ic_fail(status, IC_ERR_INVALID_ARGUMENT, "PNG encoding takes 1 to 4 channels and a non-empty image");
    }
    static const int color_types[] = { PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA };
    ic_png_writer writer = { NULL, 0, 0, status };
    ic_png_diagnostics diagnostics = { status, 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &diagnostics, ic_png_error, ic_png_warning);
    if (png == NULL) return ic_fail(status, IC_ERR_NO_MEMORY, "cannot create a PNG writer");
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        return ic_fail(status, IC_ERR_NO_MEMORY, "cannot create a PNG info struct");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(writer.bytes);
        return status->code;
    }
    png_set_write_fn(png, &writer, ic_png_write, ic_png_flush);
    png_set_compression_level(png, compression_level);
    png_set_IHDR(png, info, width, height, 8, color_types[channels - 1], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * stride));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    out->bytes = writer.bytes;
    out->size = writer.size;
    return IC_OK;
}
