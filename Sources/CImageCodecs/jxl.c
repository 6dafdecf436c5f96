/*
 * JPEG XL probe and decode over libjxl's event decoder: the basic info (size, alpha,
 * orientation, animation) is read and checked against the pixel limit before libjxl decodes a
 * frame or imgcache allocates the output; then the first frame (coalesced, as displayed) to
 * 8-bit gray or RGB, with alpha when the image has it. libjxl returns statuses (no setjmp, no
 * exit). The pixels' colour profile (what libjxl says the decoded data is in) converts them to sRGB.
 */
#include "imgcache_codecs.h"
#include "ic_common.h"
#include "ic_color.h"

#include <stdlib.h>
#include <string.h>

#include <jxl/decode.h>
#include <jxl/encode.h>  /* JxlColorEncodingSetToSRGB (in libjxl itself) */

typedef struct {
    JxlDecoder *decoder;
    JxlBasicInfo basic;
    JxlPixelFormat format;
    uint8_t *icc;
    size_t icc_size;
} ic_jxl_session;

static void ic_jxl_info(const JxlBasicInfo *basic, ic_info *info) {
    info->width = basic->xsize;
    info->height = basic->ysize;
    info->bit_depth = (int)basic->bits_per_sample;
    info->has_alpha = basic->alpha_bits > 0 ? 1 : 0;
    int gray = basic->num_color_channels == 1;
    info->color_space = gray ? IC_CS_GRAY : IC_CS_RGB;
    info->components = (int)basic->num_color_channels + info->has_alpha;
    info->orientation = basic->orientation >= 1 && basic->orientation <= 8 ? (int)basic->orientation : 1;
    info->frames = 1;
    if (basic->have_animation) {
        info->frames = 2;  /* at least: only the first frame is decoded */
        info->loop_count = (int)basic->animation.num_loops;
    }
}

/* Keeps the decoded data's ICC profile (the colour libjxl writes the pixels in). */
static void ic_jxl_keep_profile(ic_jxl_session *session, size_t max_bytes) {
    size_t size = 0;
    if (JxlDecoderGetICCProfileSize(session->decoder, NULL, JXL_COLOR_PROFILE_TARGET_DATA, &size) != JXL_DEC_SUCCESS) return;
    if (size == 0 || size > (max_bytes ? max_bytes : IC_DEFAULT_MAX_PROFILE_BYTES)) return;
    session->icc = (uint8_t *)malloc(size);
    if (session->icc == NULL) return;
    if (JxlDecoderGetColorAsICCProfile(session->decoder, NULL, JXL_COLOR_PROFILE_TARGET_DATA, session->icc, size) != JXL_DEC_SUCCESS) {
        free(session->icc);
        session->icc = NULL;
        return;
    }
    session->icc_size = size;
}

/* Runs the decoder until the basic info (probe: options NULL) or the first full frame. */
static int ic_jxl_run(ic_jxl_session *session, const uint8_t *data, size_t size, const ic_decode_options *options,
                      ic_info *info, ic_image *image, ic_status *status) {
    int events = JXL_DEC_BASIC_INFO | (options ? JXL_DEC_COLOR_ENCODING | JXL_DEC_FULL_IMAGE : 0);
    if (JxlDecoderSubscribeEvents(session->decoder, events) != JXL_DEC_SUCCESS
        || JxlDecoderSetKeepOrientation(session->decoder, JXL_TRUE) != JXL_DEC_SUCCESS
        || JxlDecoderSetUnpremultiplyAlpha(session->decoder, JXL_TRUE) != JXL_DEC_SUCCESS
        || JxlDecoderSetInput(session->decoder, data, size) != JXL_DEC_SUCCESS)
        return ic_fail(status, IC_ERR_NO_MEMORY, "cannot set up the JPEG XL decoder");
    JxlDecoderCloseInput(session->decoder);
    for (;;) {
        JxlDecoderStatus event = JxlDecoderProcessInput(session->decoder);
        switch (event) {
        case JXL_DEC_BASIC_INFO:
            if (JxlDecoderGetBasicInfo(session->decoder, &session->basic) != JXL_DEC_SUCCESS)
                return ic_fail(status, IC_ERR_CORRUPT, "JPEG XL: unreadable basic info");
            ic_jxl_info(&session->basic, info);
            if (info->width == 0 || info->height == 0) return ic_fail(status, IC_ERR_CORRUPT, "the JPEG XL image is empty");
            if (options == NULL) return IC_OK;
            if (ic_over_pixel_limit(info->width, info->height, options->max_pixels, status)) return status->code;
            session->format = (JxlPixelFormat){ (uint32_t)info->components, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0 };
            break;
        case JXL_DEC_COLOR_ENCODING:
            /* An XYB (lossy) image has no colour of its own to decode to: libjxl's default for 8-bit
               output is linear sRGB (banding, and a conversion). Ask for sRGB itself. */
            if (!session->basic.uses_original_profile) {
                JxlColorEncoding srgb;
                JxlColorEncodingSetToSRGB(&srgb, session->basic.num_color_channels == 1);
                JxlDecoderSetPreferredColorProfile(session->decoder, &srgb);
            }
            if (options->color_manage) ic_jxl_keep_profile(session, options->max_profile_bytes);
            break;
        case JXL_DEC_NEED_IMAGE_OUT_BUFFER: {
            size_t bytes = 0;
            if (JxlDecoderImageOutBufferSize(session->decoder, &session->format, &bytes) != JXL_DEC_SUCCESS
                || bytes != (size_t)info->width * info->height * (size_t)info->components)
                return ic_fail(status, IC_ERR_CORRUPT, "JPEG XL: unexpected output size");
            if ((image->pixels = (uint8_t *)malloc(bytes)) == NULL)
                return ic_fail(status, IC_ERR_NO_MEMORY, "cannot allocate the JPEG XL image");
            if (JxlDecoderSetImageOutBuffer(session->decoder, &session->format, image->pixels, bytes) != JXL_DEC_SUCCESS)
                return ic_fail(status, IC_ERR_CORRUPT, "JPEG XL: the output buffer was refused");
            break;
        }
        case JXL_DEC_FULL_IMAGE:
        case JXL_DEC_SUCCESS:
            if (image->pixels == NULL) return ic_fail(status, IC_ERR_CORRUPT, "JPEG XL: the file ends without a frame");
            image->width = info->width;
            image->height = info->height;
            image->channels = info->components;
            return IC_OK;
        case JXL_DEC_NEED_MORE_INPUT:
            return ic_fail(status, IC_ERR_TRUNCATED, "JPEG XL: the data ends before the image does (truncated)");
        case JXL_DEC_ERROR:
            return ic_fail(status, IC_ERR_CORRUPT, "JPEG XL: malformed codestream or container");
        default:
            break;
        }
    }
}

static int ic_jxl(const uint8_t *data, size_t size, const ic_decode_options *options, ic_info *info, ic_image *image,
                  ic_status *status) {
    if (ic_begin(data, size, info, image, status) != IC_OK) return status->code;
    ic_jxl_session session;
    memset(&session, 0, sizeof session);
    if ((session.decoder = JxlDecoderCreate(NULL)) == NULL) return ic_fail(status, IC_ERR_NO_MEMORY, "cannot create a JPEG XL decoder");
    int code = ic_jxl_run(&session, data, size, options, info, image, status);
    JxlDecoderDestroy(session.decoder);
    if (code != IC_OK) {
        free(image->pixels);
        memset(image, 0, sizeof(*image));
    } else if (options && options->color_manage && session.icc != NULL) {
        ic_color_source source;
        memset(&source, 0, sizeof source);
        source.icc = session.icc;
        source.icc_size = session.icc_size;
        ic_color_convert_in_place(image->pixels, image->width, image->height, image->channels, &source,
                                  options->max_profile_bytes, &image->color);
    }
    free(session.icc);
    return code;
}

int ic_jxl_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status) {
    ic_image unused;
    return ic_jxl(data, size, NULL, info, &unused, status);
}

int ic_jxl_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                  ic_info *info, ic_image *image, ic_status *status) {
    return ic_jxl(data, size, options, info, image, status);
}
