/*
 * JPEG probe, decode and encode over libjpeg(-turbo).
 *
 * Error handling: libjpeg reports fatal errors through error_exit, which must
 * not return. Ours formats the message into the caller's ic_status and
 * longjmps back to the entry point, which destroys the libjpeg object, frees
 * what it allocated and returns the status code. Warnings (corrupt data) arrive
 * through emit_message(-1): they are counted, and in strict mode the first one
 * that signals damage aborts the decode the same way.
 */
#include "imgcache_codecs.h"
#include "ic_common.h"
#include "ic_color.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#define IC_DEFAULT_MAX_SCANS 100
#define IC_DEFAULT_MAX_WARNINGS 1000

typedef struct {
    struct jpeg_error_mgr pub;      /* must be first: libjpeg casts cinfo->err to this */
    jmp_buf jump;
    ic_status *status;
    int lenient;
    int max_warnings;
} ic_jpeg_error;

typedef struct {
    struct jpeg_progress_mgr pub;   /* must be first */
    int max_scans;
} ic_jpeg_progress;

/* Map libjpeg's message codes to imgcache's status codes. */
static int ic_jpeg_code_for(int msg_code) {
    switch (msg_code) {
    case JERR_IMAGE_TOO_BIG:
    case JERR_WIDTH_OVERFLOW:
        return IC_ERR_TOO_LARGE;
    case JERR_BAD_PRECISION:
    case JERR_NOTIMPL:
    case JERR_NOT_COMPILED:
    case JERR_SOF_UNSUPPORTED:
    case JERR_CCIR601_NOTIMPL:
    case JERR_FRACT_SAMPLE_NOTIMPL:
#if JPEG_LIB_VERSION < 70
    case JERR_ARITH_NOTIMPL:
#endif
    case JERR_CONVERSION_NOTIMPL:
    case JERR_BAD_J_COLORSPACE:
        return IC_ERR_UNSUPPORTED;
    case JERR_OUT_OF_MEMORY:
        return IC_ERR_NO_MEMORY;
    case JERR_INPUT_EMPTY:
    case JERR_INPUT_EOF:
        return IC_ERR_TRUNCATED;
    case JERR_NO_BACKING_STORE:
        return IC_ERR_LIMIT;
    default:
        return IC_ERR_CORRUPT;
    }
}

static void ic_jpeg_error_exit(j_common_ptr cinfo) {
    ic_jpeg_error *err = (ic_jpeg_error *)cinfo->err;
    if (err->status->code == IC_OK) {
        err->status->code = ic_jpeg_code_for(err->pub.msg_code);
        (*cinfo->err->format_message)(cinfo, err->status->message);
    }
    longjmp(err->jump, 1);
}

/* Warnings that say nothing about the pixels. */
static int ic_jpeg_warning_is_benign(int msg_code) {
    return msg_code == JWRN_JFIF_MAJOR || msg_code == JWRN_BOGUS_ICC || msg_code == JWRN_ADOBE_XFORM;
}

static void ic_jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
    ic_jpeg_error *err = (ic_jpeg_error *)cinfo->err;
    if (msg_level >= 0) return; /* trace messages */
    err->pub.num_warnings++;
    err->status->warnings++;
    if (err->status->warnings == 1)
        (*cinfo->err->format_message)(cinfo, err->status->first_warning);
    int code = err->pub.msg_code;
    if (ic_jpeg_warning_is_benign(code)) return;
    int truncated = (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER);
    if (!err->lenient) {
        char library[JMSG_LENGTH_MAX];
        (*cinfo->err->format_message)(cinfo, library);
        err->status->code = truncated ? IC_ERR_TRUNCATED : IC_ERR_CORRUPT;
        snprintf(err->status->message, IC_MESSAGE_MAX, "%s", library);
        longjmp(err->jump, 1);
    }
    if (err->status->warnings > err->max_warnings) {
        err->status->code = IC_ERR_LIMIT;
        snprintf(err->status->message, IC_MESSAGE_MAX,
                 "more than %d corrupt-data warnings", err->max_warnings);
        longjmp(err->jump, 1);
    }
}

/* Called by libjpeg before each chunk of input is consumed: bounds the number of scans. */
static void ic_jpeg_progress_monitor(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    ic_jpeg_progress *progress = (ic_jpeg_progress *)cinfo->progress;
    if (dinfo->input_scan_number > progress->max_scans) {
        ic_jpeg_error *err = (ic_jpeg_error *)cinfo->err;
        err->status->code = IC_ERR_LIMIT;
        snprintf(err->status->message, IC_MESSAGE_MAX,
                 "more than %d progressive scans", progress->max_scans);
        longjmp(err->jump, 1);
    }
}

static void ic_jpeg_install_errors(ic_jpeg_error *err, ic_status *status, int lenient, int max_warnings) {
    jpeg_std_error(&err->pub);
    err->pub.error_exit = ic_jpeg_error_exit;
    err->pub.emit_message = ic_jpeg_emit_message;
    err->status = status;
    err->lenient = lenient;
    err->max_warnings = max_warnings > 0 ? max_warnings : IC_DEFAULT_MAX_WARNINGS;
}

static int ic_jpeg_color_space(J_COLOR_SPACE cs) {
    switch (cs) {
    case JCS_GRAYSCALE: return IC_CS_GRAY;
    case JCS_RGB: return IC_CS_RGB;
    case JCS_YCbCr: return IC_CS_YCBCR;
    case JCS_CMYK: return IC_CS_CMYK;
    case JCS_YCCK: return IC_CS_YCCK;
    default: return IC_CS_UNKNOWN;
    }
}

static void ic_jpeg_fill_info(j_decompress_ptr cinfo, ic_info *info) {
    info->width = cinfo->image_width;
    info->height = cinfo->image_height;
    info->components = cinfo->num_components;
    info->color_space = ic_jpeg_color_space(cinfo->jpeg_color_space);
    info->progressive = cinfo->progressive_mode ? 1 : 0;
    info->bit_depth = cinfo->data_precision;
    info->has_alpha = 0;
    info->adobe_inverted = cinfo->saw_Adobe_marker ? 1 : 0;
    info->frames = 1;
}

int ic_jpeg_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status) {
    if (ic_begin(data, size, info, NULL, status) != IC_OK) return status->code;
    struct jpeg_decompress_struct cinfo;
    ic_jpeg_error err;
    ic_jpeg_install_errors(&err, status, 1, 0);
    cinfo.err = &err.pub;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return status->code;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    ic_jpeg_fill_info(&cinfo, info);
    jpeg_destroy_decompress(&cinfo);
    return IC_OK;
}

/* Adobe CMYK (Photoshop) is stored inverted; plain CMYK is not. */
static void ic_cmyk_row_to_rgb(const JSAMPLE *in, uint8_t *out, JDIMENSION width, int inverted) {
    for (JDIMENSION x = 0; x < width; x++) {
        unsigned c = in[0], m = in[1], y = in[2], k = in[3];
        if (!inverted) {
            c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k;
        }
        /* With inverted storage, c = 255 - cyan etc., so red = c * k / 255. */
        out[0] = (uint8_t)((c * k + 127) / 255);
        out[1] = (uint8_t)((m * k + 127) / 255);
        out[2] = (uint8_t)((y * k + 127) / 255);
        in += 4;
        out += 3;
    }
}

typedef struct {
    uint8_t *volatile pixels;
    JSAMPLE *volatile cmyk_row;
    uint8_t *volatile icc;              /* the reassembled profile, or NULL */
    volatile size_t icc_size;
    ic_color_session cmyk_transform;    /* CMYK with a profile: its transform to sRGB */
    volatile int cmyk_managed;
} ic_jpeg_decode_buffers;

static void ic_jpeg_free_buffers(ic_jpeg_decode_buffers *buffers) {
    free(buffers->pixels);
    free(buffers->cmyk_row);
    free(buffers->icc);
    if (buffers->cmyk_managed) ic_color_end(&buffers->cmyk_transform);
}

/* The profile found before decoding, as a colour source (and its warning in the report). */
static ic_color_source ic_jpeg_color_source(const ic_jpeg_decode_buffers *buffers) {
    ic_color_source source;
    memset(&source, 0, sizeof source);
    source.icc = buffers->icc;
    source.icc_size = buffers->icc_size;
    return source;
}

int ic_jpeg_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                   ic_info *info, ic_image *image, ic_status *status) {
    if (ic_begin(data, size, info, image, status) != IC_OK) return status->code;
    int denom = options->scale_denom;
    if (denom != 1 && denom != 2 && denom != 4 && denom != 8) {
        return ic_fail(status, IC_ERR_INVALID_ARGUMENT, "scale_denom must be 1, 2, 4 or 8");
    }

    struct jpeg_decompress_struct cinfo;
    ic_jpeg_error err;
    ic_jpeg_progress progress;
    ic_jpeg_decode_buffers buffers;
    memset(&buffers, 0, sizeof buffers);
    if (options->color_manage) {
        uint8_t *icc = NULL;
        size_t icc_size = 0;
        if (!ic_jpeg_find_icc(data, size, options->max_profile_bytes, &icc, &icc_size, image->color.warning)
            && image->color.warning[0] != '\0')
            image->color.source = IC_COLOR_ICC;
        buffers.icc = icc;
        buffers.icc_size = icc_size;
    }
    ic_jpeg_install_errors(&err, status, options->lenient, options->max_warnings);
    cinfo.err = &err.pub;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        ic_jpeg_free_buffers(&buffers);
        return status->code;
    }
    jpeg_create_decompress(&cinfo);
    progress.pub.progress_monitor = ic_jpeg_progress_monitor;
    progress.max_scans = options->max_scans > 0 ? options->max_scans : IC_DEFAULT_MAX_SCANS;
    cinfo.progress = &progress.pub;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    ic_jpeg_fill_info(&cinfo, info);

    /* The limit is checked from the header, before libjpeg or we allocate image memory. */
    if (ic_over_pixel_limit(cinfo.image_width, cinfo.image_height, options->max_pixels, status)) longjmp(err.jump, 1);

    int cmyk = 0;
    int channels;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        channels = 1;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        channels = 3;
        cmyk = 1;
        break;
    default:
        cinfo.out_color_space = JCS_RGB;
        channels = 3;
        break;
    }
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned int)denom;
    cinfo.dct_method = JDCT_ISLOW;
    jpeg_calc_output_dimensions(&cinfo);

    size_t stride = (size_t)cinfo.output_width * (size_t)channels;
    size_t bytes = stride * (size_t)cinfo.output_height;
    buffers.pixels = (uint8_t *)malloc(bytes > 0 ? bytes : 1);
    if (buffers.pixels == NULL) {
        status->code = IC_ERR_NO_MEMORY;
        snprintf(status->message, IC_MESSAGE_MAX, "cannot allocate %zu bytes", bytes);
        longjmp(err.jump, 1);
    }
    if (cmyk) {
        buffers.cmyk_row = (JSAMPLE *)malloc((size_t)cinfo.output_width * 4);
        if (buffers.cmyk_row == NULL) {
            status->code = IC_ERR_NO_MEMORY;
            snprintf(status->message, IC_MESSAGE_MAX, "cannot allocate a row buffer");
            longjmp(err.jump, 1);
        }
        /* With a CMYK profile, lcms2 converts each row; without one, the naive formula. */
        if (buffers.icc != NULL) {
            ic_color_source source = ic_jpeg_color_source(&buffers);
            int layout = cinfo.saw_Adobe_marker ? IC_PIXELS_CMYK_INVERTED : IC_PIXELS_CMYK;
            buffers.cmyk_managed = ic_color_begin(&buffers.cmyk_transform, &source, layout,
                                                  options->max_profile_bytes, &image->color);
        }
    }

    jpeg_start_decompress(&cinfo);
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *row = buffers.pixels + (size_t)cinfo.output_scanline * stride;
        if (cmyk) {
            JSAMPROW in = buffers.cmyk_row;
            if (jpeg_read_scanlines(&cinfo, &in, 1) != 1) break;
            if (buffers.cmyk_managed)
                ic_color_rows(&buffers.cmyk_transform, in, row, cinfo.output_width);
            else
                ic_cmyk_row_to_rgb(in, row, cinfo.output_width, cinfo.saw_Adobe_marker);
        } else {
            JSAMPROW rows[16];
            JDIMENSION want = cinfo.output_height - cinfo.output_scanline;
            if (want > 16) want = 16;
            for (JDIMENSION i = 0; i < want; i++) rows[i] = row + (size_t)i * stride;
            if (jpeg_read_scanlines(&cinfo, rows, want) == 0) break;
        }
    }
    jpeg_finish_decompress(&cinfo);

    image->pixels = buffers.pixels;
    image->width = cinfo.output_width;
    image->height = cinfo.output_height;
    image->channels = channels;
    jpeg_destroy_decompress(&cinfo);
    /* Outside libjpeg now (no longjmp can happen): gray and RGB are converted in place. */
    if (!cmyk && buffers.icc != NULL) {
        ic_color_source source = ic_jpeg_color_source(&buffers);
        ic_color_convert_in_place(image->pixels, image->width, image->height, channels, &source,
                                  options->max_profile_bytes, &image->color);
    }
    buffers.pixels = NULL;
    ic_jpeg_free_buffers(&buffers);
    return IC_OK;
}

int ic_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                   int quality, int progressive, ic_buffer *out, ic_status *status) {
    memset(status, 0, sizeof(*status));
    memset(out, 0, sizeof(*out));
    if (pixels == NULL || width == 0 || height == 0 || (channels != 1 && channels != 3)) {
        return ic_fail(status, IC_ERR_INVALID_ARGUMENT, "JPEG encoding takes 1 or 3 channels and a non-empty image");
    }
    struct jpeg_compress_struct cinfo;
    ic_jpeg_error err;
    /* Written by libjpeg through their addresses, so never cached in registers across the longjmp. */
    unsigned char *destination = NULL;
    unsigned long destination_size = 0;
    ic_jpeg_install_errors(&err, status, 1, 0);
    cinfo.err = &err.pub;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(destination);
        return status->code;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &destination, &destination_size);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    cinfo.optimize_coding = TRUE;
    cinfo.dct_method = JDCT_ISLOW;
    if (progressive) jpeg_simple_progression(&cinfo);
    /* No JFIF density: the header carries nothing a browser uses. */
    cinfo.write_JFIF_header = TRUE;
    cinfo.density_unit = 0;
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW rows[16];
        JDIMENSION count = cinfo.image_height - cinfo.next_scanline;
        if (count > 16) count = 16;
        for (JDIMENSION i = 0; i < count; i++)
            rows[i] = (JSAMPROW)(pixels + (size_t)(cinfo.next_scanline + i) * stride);
        jpeg_write_scanlines(&cinfo, rows, count);
    }
    jpeg_finish_compress(&cinfo);
    out->bytes = destination;
    out->size = destination_size;
    jpeg_destroy_compress(&cinfo);
    return IC_OK;
}

void ic_free(void *pointer) { free(pointer); }
