/*
 * HEIC/HEIF probe and decode over libheif (libde265 for HEVC): the primary image, its
 * transformations (irot, imir, clap) applied by libheif, to 8-bit RGB or RGBA. libheif reports
 * errors by return values (no setjmp, no exit) and keeps its own security limits on (image
 * size, tiles, boxes). The primary image's size is checked against the pixel limit before
 * anything is decoded. An ICC profile or nclx colour box converts the pixels to sRGB.
 */
#include "imgcache_codecs.h"
#include "ic_common.h"
#include "ic_color.h"

#include <stdlib.h>
#include <string.h>

#include <libheif/heif.h>

#define IC_HEIF_MAX_SIDE 16384

static int ic_heif_fail(ic_status *status, struct heif_error error, const char *stage) {
    status->code = error.subcode == heif_suberror_End_of_data ? IC_ERR_TRUNCATED
                 : error.subcode == heif_suberror_Security_limit_exceeded ? IC_ERR_LIMIT
                 : error.code == heif_error_Memory_allocation_error ? IC_ERR_NO_MEMORY
                 : (error.code == heif_error_Unsupported_feature || error.code == heif_error_Unsupported_filetype) ? IC_ERR_UNSUPPORTED
                 : IC_ERR_CORRUPT;
    snprintf(status->message, IC_MESSAGE_MAX, "HEIF %s: %s", stage, error.message ? error.message : "failed");
    return status->code;
}

typedef struct {
    struct heif_context *context;
    struct heif_image_handle *handle;
} ic_heif_file;

static void ic_heif_close(ic_heif_file *file) {
    if (file->handle) heif_image_handle_release(file->handle);
    if (file->context) heif_context_free(file->context);
}

/* Parses the container and finds the primary image (no pixel decoded). */
static int ic_heif_open(const uint8_t *data, size_t size, ic_heif_file *file, ic_info *info, ic_status *status) {
    memset(file, 0, sizeof *file);
    file->context = heif_context_alloc();
    if (file->context == NULL) return ic_fail(status, IC_ERR_NO_MEMORY, "cannot create a HEIF context");
    /* Every image item's side, the alpha and other auxiliary images included (a 32x32 primary
       image with a huge alpha image took 2 GB before failing), within 16384 (a 48 MP phone photo
       is 8064 wide); the primary image is also checked against the pixel limit below. */
    heif_context_set_maximum_image_size_limit(file->context, IC_HEIF_MAX_SIDE);
    struct heif_error error = heif_context_read_from_memory_without_copy(file->context, data, size, NULL);
    if (error.code != heif_error_Ok) {
        ic_heif_fail(status, error, "container");  /* the message lives in the context: copied before it is freed */
        ic_heif_close(file);
        return status->code;
    }
    error = heif_context_get_primary_image_handle(file->context, &file->handle);
    if (error.code != heif_error_Ok) {
        ic_heif_fail(status, error, "primary image");  /* the message lives in the context: copied before it is freed */
        ic_heif_close(file);
        return status->code;
    }
    int width = heif_image_handle_get_width(file->handle), height = heif_image_handle_get_height(file->handle);
    if (width <= 0 || height <= 0) {
        ic_heif_close(file);
        return ic_fail(status, IC_ERR_CORRUPT, "the HEIF's primary image is empty (0 pixels wide or high)");
    }
    int luma = heif_image_handle_get_luma_bits_per_pixel(file->handle);
    info->width = (uint32_t)width;
    info->height = (uint32_t)height;
    info->bit_depth = luma > 0 ? luma : 8;
    info->has_alpha = heif_image_handle_has_alpha_channel(file->handle) ? 1 : 0;
    info->color_space = IC_CS_YCBCR;
    info->components = 3 + info->has_alpha;
    info->orientation = 1;  /* libheif applies irot/imir: the size above is the displayed one */
    info->frames = 1;
    return IC_OK;
}

int ic_heif_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status) {
    if (ic_begin(data, size, info, NULL, status) != IC_OK) return status->code;
    ic_heif_file file;
    if (ic_heif_open(data, size, &file, info, status) != IC_OK) return status->code;
    ic_heif_close(&file);
    return IC_OK;
}

/* The colour description: an ICC profile (copied; free() it) or the nclx code points. */
static uint8_t *ic_heif_color_source(const struct heif_image_handle *handle, ic_color_source *source) {
    memset(source, 0, sizeof *source);
    enum heif_color_profile_type type = heif_image_handle_get_color_profile_type(handle);
    if (type == heif_color_profile_type_prof || type == heif_color_profile_type_rICC) {
        size_t size = heif_image_handle_get_raw_color_profile_size(handle);
        uint8_t *icc = size > 0 && size <= IC_DEFAULT_MAX_PROFILE_BYTES ? (uint8_t *)malloc(size) : NULL;
        if (icc != NULL && heif_image_handle_get_raw_color_profile(handle, icc).code == heif_error_Ok) {
            source->icc = icc;
            source->icc_size = size;
            return icc;
        }
        free(icc);
        return NULL;
    }
    struct heif_color_profile_nclx *nclx = NULL;
    if (heif_image_handle_get_nclx_color_profile(handle, &nclx).code == heif_error_Ok && nclx != NULL) {
        source->has_cicp = 1;
        source->cicp_primaries = (uint8_t)nclx->color_primaries;
        source->cicp_transfer = (uint8_t)nclx->transfer_characteristics;
        source->cicp_matrix = 0;  /* libheif has already applied the YCbCr matrix */
        source->cicp_full_range = 1;
        heif_nclx_color_profile_free(nclx);
    }
    return NULL;
}

/* The decoded planes copied into a malloc'd, unpadded buffer; a size other than the header's is an error. */
static int ic_heif_copy(struct heif_image *decoded, int channels, uint32_t expected_width, uint32_t expected_height,
                        ic_image *image, ic_status *status) {
    int stride = 0;
    const uint8_t *plane = heif_image_get_plane_readonly(decoded, heif_channel_interleaved, &stride);
    int width = heif_image_get_width(decoded, heif_channel_interleaved);
    int height = heif_image_get_height(decoded, heif_channel_interleaved);
    if (plane == NULL || width <= 0 || height <= 0 || stride < width * channels)
        return ic_fail(status, IC_ERR_CORRUPT, "libheif returned no interleaved image");
    if ((uint32_t)width != expected_width || (uint32_t)height != expected_height) {
        status->code = IC_ERR_CORRUPT;
        snprintf(status->message, IC_MESSAGE_MAX, "HEIF: the image decodes to %dx%d, its header says %ux%u", width, height,
                 expected_width, expected_height);
        return status->code;
    }
    size_t row = (size_t)width * (size_t)channels;
    uint8_t *pixels = (uint8_t *)malloc(row * (size_t)height);
    if (pixels == NULL) return ic_fail(status, IC_ERR_NO_MEMORY, "cannot allocate the HEIF image");
    for (int y = 0; y < height; y++) memcpy(pixels + row * (size_t)y, plane + (size_t)stride * (size_t)y, row);
    image->pixels = pixels;
    image->width = (uint32_t)width;
    image->height = (uint32_t)height;
    image->channels = channels;
    return IC_OK;
}

int ic_heif_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                   ic_info *info, ic_image *image, ic_status *status) {
    if (ic_begin(data, size, info, image, status) != IC_OK) return status->code;
    ic_heif_file file;
    if (ic_heif_open(data, size, &file, info, status) != IC_OK) return status->code;
    if (ic_over_pixel_limit(info->width, info->height, options->max_pixels, status)) {
        ic_heif_close(&file);
        return status->code;
    }
    int channels = info->has_alpha ? 4 : 3;
    struct heif_image *decoded = NULL;
    struct heif_error error = heif_decode_image(file.handle, &decoded, heif_colorspace_RGB,
                                                channels == 4 ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, NULL);
    int code = error.code == heif_error_Ok ? ic_heif_copy(decoded, channels, info->width, info->height, image, status) : ic_heif_fail(status, error, "image");
    if (decoded) heif_image_release(decoded);
    if (code == IC_OK && options->color_manage) {
        ic_color_source source;
        uint8_t *icc = ic_heif_color_source(file.handle, &source);
        ic_color_convert_in_place(image->pixels, image->width, image->height, channels, &source,
                                  options->max_profile_bytes, &image->color);
        free(icc);
    }
    ic_heif_close(&file);
    return code;
}
