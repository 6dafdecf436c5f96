/*
 * AVIF probe, decode and encode over libavif (dav1d or libaom to decode, libaom to encode).
 * libavif reports errors by result codes: no setjmp is needed here.
 *
 * The size comes from the container (ispe) and is checked, by libavif's own limits set from
 * ours and again here, before any pixel memory is allocated; a sequence's first frame is decoded.
 */
#include "imgcache_codecs.h"
#include "ic_common.h"
#include "ic_color.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avif/avif.h>

static int ic_avif_code(avifResult result) {
    switch (result) {
    case AVIF_RESULT_OK: return IC_OK;
    case AVIF_RESULT_TRUNCATED_DATA: return IC_ERR_TRUNCATED;
    case AVIF_RESULT_OUT_OF_MEMORY: return IC_ERR_NO_MEMORY;
    case AVIF_RESULT_NO_CODEC_AVAILABLE:
    case AVIF_RESULT_NOT_IMPLEMENTED: return IC_ERR_UNSUPPORTED;
    case AVIF_RESULT_INVALID_ARGUMENT: return IC_ERR_INVALID_ARGUMENT;
    default: return IC_ERR_CORRUPT;
    }
}

static int ic_avif_fail(ic_status *status, avifResult result, const char *stage) {
    status->code = ic_avif_code(result);
    snprintf(status->message, IC_MESSAGE_MAX, "AVIF %s: %s", stage, avifResultToString(result));
    return status->code;
}

/* irot (anticlockwise quarter turns) then imir, as the EXIF orientation that displays the same. */
static int ic_avif_orientation(const avifImage *image) {
    int angle = (image->transformFlags & AVIF_TRANSFORM_IROT) ? image->irot.angle & 3 : 0;
    int mirror = (image->transformFlags & AVIF_TRANSFORM_IMIR) ? (int)image->imir.mode : -1;
    static const int rotated[4] = { 1, 8, 3, 6 };
    static const int flipped_left_right[4] = { 2, 7, 4, 5 };
    static const int flipped_top_bottom[4] = { 4, 5, 2, 7 };
    if (mirror == 1) return flipped_left_right[angle];
    if (mirror == 0) return flipped_top_bottom[angle];
    return rotated[angle];
}

/* Creates a decoder over `data` with imgcache's limits and parses the container. */
static avifDecoder *ic_avif_open(const uint8_t *data, size_t size, uint64_t max_pixels, ic_info *info, ic_status *status) {
    avifDecoder *decoder = avifDecoderCreate();
    if (decoder == NULL) {
        ic_fail(status, IC_ERR_NO_MEMORY, "cannot create an AVIF decoder");
        return NULL;
    }
    decoder->maxThreads = 1;
    decoder->ignoreExif = AVIF_TRUE;
    decoder->ignoreXMP = AVIF_TRUE;
    if (max_pixels > 0) decoder->imageSizeLimit = max_pixels < UINT32_MAX ? (uint32_t)max_pixels : UINT32_MAX;
    decoder->imageCountLimit = 100000;
    avifResult result = avifDecoderSetIOMemory(decoder, data, size);
    if (result == AVIF_RESULT_OK) result = avifDecoderParse(decoder);
    if (result != AVIF_RESULT_OK) {
        ic_avif_fail(status, result, "container");
        if (decoder->diag.error[0] != '\0') {
            size_t used = strlen(status->message);
            snprintf(status->message + used, IC_MESSAGE_MAX - used, " (%s)", decoder->diag.error);
            /* libavif's own size and count limits, set from ours. */
            if (strstr(decoder->diag.error, "too large") != NULL || strstr(decoder->diag.error, "limit") != NULL)
                status->code = IC_ERR_TOO_LARGE;
        }
        avifDecoderDestroy(decoder);
        return NULL;
    }
    const avifImage *image = decoder->image;
    info->width = image->width;
    info->height = image->height;
    info->bit_depth = (int)image->depth;
    info->has_alpha = decoder->alphaPresent ? 1 : 0;
    info->color_space = image->yuvFormat == AVIF_PIXEL_FORMAT_YUV400 ? IC_CS_GRAY : IC_CS_YCBCR;
    info->components = (image->yuvFormat == AVIF_PIXEL_FORMAT_YUV400 ? 1 : 3) + info->has_alpha;
    info->orientation = ic_avif_orientation(image);
    info->frames = decoder->imageCount > 0 ? decoder->imageCount : 1;
    return decoder;
}

int ic_avif_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status) {
    if (ic_begin(data, size, info, NULL, status) != IC_OK) return status->code;
    avifDecoder *decoder = ic_avif_open(data, size, 0, info, status);
    if (decoder == NULL) return status->code;
    avifDecoderDestroy(decoder);
    return IC_OK;
}

/* The colour description of a decoded frame: an ICC profile, or the nclx code points. */
static void ic_avif_color_source(const avifImage *image, ic_color_source *source) {
    memset(source, 0, sizeof *source);
    if (image->icc.size > 0) {
        source->icc = image->icc.data;
        source->icc_size = image->icc.size;
        return;
    }
    source->has_cicp = 1;
    source->cicp_primaries = (uint8_t)image->colorPrimaries;
    source->cicp_transfer = (uint8_t)image->transferCharacteristics;
    source->cicp_matrix = 0;        /* libavif has already applied the YCbCr matrix */
    source->cicp_full_range = 1;
}

int ic_avif_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                   ic_info *info, ic_image *image, ic_status *status) {
    if (ic_begin(data, size, info, image, status) != IC_OK) return status->code;
    avifDecoder *decoder = ic_avif_open(data, size, options->max_pixels, info, status);
    if (decoder == NULL) return status->code;
    if (ic_over_pixel_limit(info->width, info->height, options->max_pixels, status)) {
        avifDecoderDestroy(decoder);
        return status->code;
    }
    avifResult result = avifDecoderNextImage(decoder);
    if (result != AVIF_RESULT_OK) {
        ic_avif_fail(status, result, "frame");
        avifDecoderDestroy(decoder);
        return status->code;
    }
    int channels = decoder->alphaPresent ? 4 : 3;
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, decoder->image);
    rgb.format = channels == 4 ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
    rgb.depth = 8;
    rgb.rowBytes = decoder->image->width * (uint32_t)channels;
    rgb.pixels = (uint8_t *)malloc((size_t)rgb.rowBytes * decoder->image->height);
    if (rgb.pixels == NULL) {
        avifDecoderDestroy(decoder);
        return ic_fail(status, IC_ERR_NO_MEMORY, "cannot allocate the AVIF image");
    }
    result = avifImageYUVToRGB(decoder->image, &rgb);
    if (result != AVIF_RESULT_OK) {
        free(rgb.pixels);
        ic_avif_fail(status, result, "colour conversion");
        avifDecoderDestroy(decoder);
        return status->code;
    }
    image->pixels = rgb.pixels;
    image->width = decoder->image->width;
    image->height = decoder->image->height;
    image->channels = channels;
    if (options->color_manage) {
        ic_color_source source;
        ic_avif_color_source(decoder->image, &source);
        ic_color_convert_in_place(image->pixels, image->width, image->height, channels, &source,
                                  options->max_profile_bytes, &image->color);
    }
    avifDecoderDestroy(decoder);
    return IC_OK;
}

/* libavif 1.0's mapping of a 0...100 quality to AV1's 0...63 quantizer (lower is better). */
static int ic_avif_quantizer(int quality) {
    if (quality < 0) quality = 0;
    if (quality > 100) quality = 100;
    return ((100 - quality) * 63 + 50) / 100;
}

int ic_avif_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                   int quality, int speed, ic_buffer *out, ic_status *status) {
    memset(status, 0, sizeof(*status));
    memset(out, 0, sizeof(*out));
    if (pixels == NULL || width == 0 || height == 0 || channels < 1 || channels > 4)
        return ic_fail(status, IC_ERR_INVALID_ARGUMENT, "AVIF encoding takes 1 to 4 channels and a non-empty image");
    uint8_t *wide = NULL;
    if (channels <= 2) {
        if ((wide = ic_widen_gray(pixels, width, height, channels, &channels)) == NULL)
            return ic_fail(status, IC_ERR_NO_MEMORY, "cannot widen the gray image");
        pixels = wide;
    }
    avifImage *image = avifImageCreate(width, height, 8, AVIF_PIXEL_FORMAT_YUV420);
    avifEncoder *encoder = avifEncoderCreate();
    avifRWData output = AVIF_DATA_EMPTY;
    avifResult result = image == NULL || encoder == NULL ? AVIF_RESULT_OUT_OF_MEMORY : AVIF_RESULT_OK;
    if (result == AVIF_RESULT_OK) {
        /* sRGB: BT.709 primaries, the sRGB transfer, BT.601 matrix, full range (what browsers assume). */
        image->colorPrimaries = AVIF_COLOR_PRIMARIES_BT709;
        image->transferCharacteristics = AVIF_TRANSFER_CHARACTERISTICS_SRGB;
        image->matrixCoefficients = AVIF_MATRIX_COEFFICIENTS_BT601;
        image->yuvRange = AVIF_RANGE_FULL;
        avifRGBImage rgb;
        avifRGBImageSetDefaults(&rgb, image);
        rgb.format = channels == 4 ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
        rgb.depth = 8;
        rgb.pixels = (uint8_t *)pixels;
        rgb.rowBytes = width * (uint32_t)channels;
        result = avifImageRGBToYUV(image, &rgb);
    }
    if (result == AVIF_RESULT_OK) {
        int quantizer = ic_avif_quantizer(quality);
        encoder->codecChoice = AVIF_CODEC_CHOICE_AOM;
        encoder->maxThreads = 1;
        encoder->speed = speed;
        encoder->minQuantizer = quantizer;
        encoder->maxQuantizer = quantizer;
        encoder->minQuantizerAlpha = AVIF_QUANTIZER_LOSSLESS;
        encoder->maxQuantizerAlpha = ic_avif_quantizer(quality + (100 - quality) / 2);
        result = avifEncoderWrite(encoder, image, &output);
    }
    if (encoder != NULL) avifEncoderDestroy(encoder);
    if (image != NULL) avifImageDestroy(image);
    free(wide);
    if (result != AVIF_RESULT_OK) {
        avifRWDataFree(&output);
        return ic_avif_fail(status, result, "encoding");
    }
    int code = ic_buffer_copy(out, output.data, output.size, status);
    avifRWDataFree(&output);
    return code;
}
