/*
 * WebP probe, decode and encode over libwebp (and libwebpdemux for ICC profiles and
 * animations). libwebp reports errors by status codes: no setjmp is needed here.
 *
 * The canvas size comes from the header (VP8/VP8L/VP8X) and is checked against the pixel
 * limit before any pixel memory is allocated; an animation's first frame is decoded.
 */
#include "imgcache_codecs.h"
#include "ic_common.h"
#include "ic_color.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include <webp/mux.h>

static int ic_webp_code(VP8StatusCode code) {
    switch (code) {
    case VP8_STATUS_OK: return IC_OK;
    case VP8_STATUS_OUT_OF_MEMORY: return IC_ERR_NO_MEMORY;
    case VP8_STATUS_UNSUPPORTED_FEATURE: return IC_ERR_UNSUPPORTED;
    case VP8_STATUS_NOT_ENOUGH_DATA: return IC_ERR_TRUNCATED;
    case VP8_STATUS_INVALID_PARAM: return IC_ERR_INVALID_ARGUMENT;
    default: return IC_ERR_CORRUPT;
    }
}

static const char *ic_webp_reason(VP8StatusCode code) {
    switch (code) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "a feature libwebp does not support";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "the data ends before the image does (truncated)";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "malformed WebP bitstream";
    default: return "the WebP decoder failed";
    }
}

static int ic_webp_features(const uint8_t *data, size_t size, WebPBitstreamFeatures *features,
                            ic_info *info, ic_status *status) {
    VP8StatusCode code = WebPGetFeatures(data, size, features);
    if (code != VP8_STATUS_OK) {
        status->code = ic_webp_code(code);
        snprintf(status->message, IC_MESSAGE_MAX, "WebP header: %s", ic_webp_reason(code));
        return status->code;
    }
    info->width = (uint32_t)features->width;
    info->height = (uint32_t)features->height;
    info->has_alpha = features->has_alpha ? 1 : 0;
    info->components = features->has_alpha ? 4 : 3;
    info->color_space = IC_CS_RGB;
    info->bit_depth = 8;
    info->frames = 1;
    return IC_OK;
}

/* An animation's frame count, loop count and duration, from the container (no frame decoded). */
static void ic_webp_animation(WebPDemuxer *demux, ic_info *info) {
    if (demux == NULL) return;
    info->frames = (int)WebPDemuxGetI(demux, WEBP_FF_FRAME_COUNT);
    info->loop_count = (int)WebPDemuxGetI(demux, WEBP_FF_LOOP_COUNT);
    info->duration_ms = 0;
    WebPIterator iterator;
    if (WebPDemuxGetFrame(demux, 1, &iterator)) {
        do { info->duration_ms += iterator.duration; } while (WebPDemuxNextFrame(&iterator));
        WebPDemuxReleaseIterator(&iterator);
    }
}

int ic_webp_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status) {
    if (ic_begin(data, size, info, NULL, status) != IC_OK) return status->code;
    WebPBitstreamFeatures features;
    if (ic_webp_features(data, size, &features, info, status) != IC_OK) return status->code;
    if (features.has_animation) {
        WebPData webp = { data, size };
        WebPDemuxer *demux = WebPDemux(&webp);
        ic_webp_animation(demux, info);
        WebPDemuxDelete(demux);
    }
    return IC_OK;
}

/* The first frame of an animation, composited on its canvas (RGBA). */
static int ic_webp_first_frame(const WebPData *webp, uint8_t *pixels, size_t canvas_bytes, ic_status *status) {
    WebPAnimDecoderOptions options;
    if (!WebPAnimDecoderOptionsInit(&options)) return ic_fail(status, IC_ERR_UNSUPPORTED, "libwebp's animation API version mismatch");
    options.color_mode = MODE_RGBA;
    options.use_threads = 0;
    WebPAnimDecoder *decoder = WebPAnimDecoderNew(webp, &options);
    if (decoder == NULL) return ic_fail(status, IC_ERR_CORRUPT, "malformed WebP animation");
    uint8_t *frame = NULL;
    int timestamp = 0;
    int ok = WebPAnimDecoderGetNext(decoder, &frame, &timestamp);
    if (ok && frame != NULL) memcpy(pixels, frame, canvas_bytes);
    WebPAnimDecoderDelete(decoder);
    return ok ? IC_OK : ic_fail(status, IC_ERR_CORRUPT, "the WebP animation's first frame does not decode");
}

/* The container's ICC profile, copied (NULL when there is none). */
static uint8_t *ic_webp_icc(WebPDemuxer *demux, size_t *size) {
    *size = 0;
    if (demux == NULL || !(WebPDemuxGetI(demux, WEBP_FF_FORMAT_FLAGS) & ICCP_FLAG)) return NULL;
    WebPChunkIterator chunk;
    uint8_t *copy = NULL;
    if (WebPDemuxGetChunk(demux, "ICCP", 1, &chunk)) {
        if (chunk.chunk.size > 0 && (copy = (uint8_t *)malloc(chunk.chunk.size)) != NULL) {
            memcpy(copy, chunk.chunk.bytes, chunk.chunk.size);
            *size = chunk.chunk.size;
        }
        WebPDemuxReleaseChunkIterator(&chunk);
    }
    return copy;
}

int ic_webp_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                   ic_info *info, ic_image *image, ic_status *status) {
    if (ic_begin(data, size, info, image, status) != IC_OK) return status->code;
    WebPBitstreamFeatures features;
    if (ic_webp_features(data, size, &features, info, status) != IC_OK) return status->code;
    if (ic_over_pixel_limit(info->width, info->height, options->max_pixels, status)) return status->code;
    WebPData webp = { data, size };
    WebPDemuxer *demux = WebPDemux(&webp);  /* NULL for a damaged container: the decoder says why */
    if (features.has_animation) ic_webp_animation(demux, info);
    int channels = features.has_alpha || features.has_animation ? 4 : 3;
    size_t stride = (size_t)info->width * (size_t)channels, bytes = stride * info->height;
    uint8_t *buffer = (uint8_t *)malloc(bytes > 0 ? bytes : 1);
    if (buffer == NULL) {
        WebPDemuxDelete(demux);
        return ic_fail(status, IC_ERR_NO_MEMORY, "cannot allocate the WebP canvas");
    }
    int code = IC_OK;
    if (features.has_animation) {
        code = demux == NULL ? ic_fail(status, IC_ERR_CORRUPT, "malformed WebP animation container")
                             : ic_webp_first_frame(&webp, buffer, bytes, status);
    } else {
        uint8_t *decoded = channels == 4 ? WebPDecodeRGBAInto(data, size, buffer, bytes, (int)stride)
                                         : WebPDecodeRGBInto(data, size, buffer, bytes, (int)stride);
        if (decoded == NULL) {
            /* WebPDecode*Into says only "failed"; the incremental decoder tells truncation apart. */
            WebPDecoderConfig config;
            VP8StatusCode reason = VP8_STATUS_BITSTREAM_ERROR;
            if (WebPInitDecoderConfig(&config)) {
                config.output.colorspace = channels == 4 ? MODE_RGBA : MODE_RGB;
                config.output.is_external_memory = 1;
                config.output.u.RGBA.rgba = buffer;
                config.output.u.RGBA.stride = (int)stride;
                config.output.u.RGBA.size = bytes;
                reason = WebPDecode(data, size, &config);
                WebPFreeDecBuffer(&config.output);
            }
            status->code = ic_webp_code(reason == VP8_STATUS_OK ? VP8_STATUS_BITSTREAM_ERROR : reason);
            snprintf(status->message, IC_MESSAGE_MAX, "%s", ic_webp_reason(reason));
            code = status->code;
        }
    }
    size_t icc_size = 0;
    uint8_t *icc = code == IC_OK && options->color_manage ? ic_webp_icc(demux, &icc_size) : NULL;
    WebPDemuxDelete(demux);
    if (code != IC_OK) {
        free(buffer);
        return code;
    }
    image->pixels = buffer;
    image->width = info->width;
    image->height = info->height;
    image->channels = channels;
    if (icc != NULL) {
        ic_color_source source;
        memset(&source, 0, sizeof source);
        source.icc = icc;
        source.icc_size = icc_size;
        ic_color_convert_in_place(buffer, info->width, info->height, channels, &source, options->max_profile_bytes, &image->color);
        free(icc);
    }
    return IC_OK;
}

/* Gray and gray + alpha widened to RGB and RGBA (WebP and AVIF are colour formats). */
uint8_t *ic_widen_gray(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int *out_channels) {
    int wide = channels == 1 ? 3 : 4;
    size_t count = (size_t)width * height;
    uint8_t *out = (uint8_t *)malloc(count * (size_t)wide);
    if (out == NULL) return NULL;
    for (size_t i = 0; i < count; i++) {
        uint8_t value = pixels[i * (size_t)channels];
        out[i * wide] = out[i * wide + 1] = out[i * wide + 2] = value;
        if (wide == 4) out[i * wide + 3] = pixels[i * (size_t)channels + 1];
    }
    *out_channels = wide;
    return out;
}

int ic_webp_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                   int quality, int method, ic_buffer *out, ic_status *status) {
    memset(status, 0, sizeof(*status));
    memset(out, 0, sizeof(*out));
    if (pixels == NULL || width == 0 || height == 0 || channels < 1 || channels > 4)
        return ic_fail(status, IC_ERR_INVALID_ARGUMENT, "WebP encoding takes 1 to 4 channels and a non-empty image");
    if (width > WEBP_MAX_DIMENSION || height > WEBP_MAX_DIMENSION)
        return ic_fail(status, IC_ERR_TOO_LARGE, "WebP images are at most 16383 pixels on a side");
    uint8_t *wide = NULL;
    if (channels <= 2) {
        if ((wide = ic_widen_gray(pixels, width, height, channels, &channels)) == NULL)
            return ic_fail(status, IC_ERR_NO_MEMORY, "cannot widen the gray image");
        pixels = wide;
    }
    WebPConfig config;
    WebPPicture picture;
    WebPMemoryWriter writer;
    if (!WebPConfigInit(&config) || !WebPPictureInit(&picture)) {
        free(wide);
        return ic_fail(status, IC_ERR_UNSUPPORTED, "libwebp version mismatch");
    }
    config.quality = (float)quality;
    config.method = method;
    picture.use_argb = 0;
    picture.width = (int)width;
    picture.height = (int)height;
    WebPMemoryWriterInit(&writer);
    picture.writer = WebPMemoryWrite;
    picture.custom_ptr = &writer;
    int stride = (int)width * channels;
    int imported = channels == 4 ? WebPPictureImportRGBA(&picture, pixels, stride) : WebPPictureImportRGB(&picture, pixels, stride);
    int ok = imported && WebPEncode(&config, &picture);
    int error = picture.error_code;
    WebPPictureFree(&picture);
    free(wide);
    if (!ok) {
        WebPMemoryWriterClear(&writer);
        status->code = error == VP8_ENC_ERROR_OUT_OF_MEMORY ? IC_ERR_NO_MEMORY : IC_ERR_INVALID_ARGUMENT;
        snprintf(status->message, IC_MESSAGE_MAX, "WebP encoding failed (libwebp error %d)", error);
        return status->code;
    }
    /* Out of libwebp's allocator: Swift releases the copy with free(). */
    int code = ic_buffer_copy(out, writer.mem, writer.size, status);
    WebPMemoryWriterClear(&writer);
    return code;
}

int ic_buffer_copy(ic_buffer *out, const uint8_t *bytes, size_t size, ic_status *status) {
    out->bytes = (uint8_t *)malloc(size > 0 ? size : 1);
    if (out->bytes == NULL) return ic_fail(status, IC_ERR_NO_MEMORY, "cannot allocate the encoded output");
    memcpy(out->bytes, bytes, size);
    out->size = size;
    return IC_OK;
}

/* ---- Animated WebP (libwebpmux's WebPAnimEncoder) ---- */

struct ic_webp_anim {
    WebPAnimEncoder *encoder;
    WebPConfig config;
    uint32_t width, height;
};

ic_webp_anim *ic_webp_anim_new(uint32_t width, uint32_t height, int loop_count, int quality, int method, ic_status *status) {
    memset(status, 0, sizeof(*status));
    if (width == 0 || height == 0 || width > WEBP_MAX_DIMENSION || height > WEBP_MAX_DIMENSION) {
        ic_fail(status, IC_ERR_INVALID_ARGUMENT, "an animated WebP is 1 to 16383 pixels on a side");
        return NULL;
    }
    ic_webp_anim *anim = calloc(1, sizeof *anim);
    WebPAnimEncoderOptions options;
    if (!anim || !WebPAnimEncoderOptionsInit(&options) || !WebPConfigInit(&anim->config)) {
        free(anim);
        ic_fail(status, IC_ERR_NO_MEMORY, "cannot set up the WebP animation encoder");
        return NULL;
    }
    options.anim_params.loop_count = loop_count;
    anim->config.quality = (float)quality;
    anim->config.method = method;
    anim->width = width;
    anim->height = height;
    anim->encoder = WebPAnimEncoderNew((int)width, (int)height, &options);
    if (!anim->encoder) {
        free(anim);
        ic_fail(status, IC_ERR_NO_MEMORY, "cannot create the WebP animation encoder");
        return NULL;
    }
    return anim;
}

int ic_webp_anim_add(ic_webp_anim *anim, const uint8_t *rgba, int timestamp_ms, ic_status *status) {
    WebPPicture picture;
    if (!WebPPictureInit(&picture)) return ic_fail(status, IC_ERR_UNSUPPORTED, "libwebp version mismatch");
    picture.use_argb = 1;
    picture.width = (int)anim->width;
    picture.height = (int)anim->height;
    int ok = WebPPictureImportRGBA(&picture, rgba, (int)anim->width * 4)
          && WebPAnimEncoderAdd(anim->encoder, &picture, timestamp_ms, &anim->config);
    WebPPictureFree(&picture);
    if (!ok) {
        status->code = IC_ERR_INVALID_ARGUMENT;
        snprintf(status->message, IC_MESSAGE_MAX, "adding a WebP animation frame failed: %s",
                 WebPAnimEncoderGetError(anim->encoder));
        return status->code;
    }
    return IC_OK;
}

int ic_webp_anim_finish(ic_webp_anim *anim, int end_ms, ic_buffer *out, ic_status *status) {
    memset(out, 0, sizeof(*out));
    WebPData data;
    WebPDataInit(&data);
    if (!WebPAnimEncoderAdd(anim->encoder, NULL, end_ms, NULL) || !WebPAnimEncoderAssemble(anim->encoder, &data)) {
        status->code = IC_ERR_INVALID_ARGUMENT;
        snprintf(status->message, IC_MESSAGE_MAX, "assembling the WebP animation failed: %s",
                 WebPAnimEncoderGetError(anim->encoder));
        WebPDataClear(&data);
        return status->code;
    }
    int code = ic_buffer_copy(out, data.bytes, data.size, status);
    WebPDataClear(&data);
    return code;
}

void ic_webp_anim_free(ic_webp_anim *anim) {
    if (!anim) return;
    WebPAnimEncoderDelete(anim->encoder);
    free(anim);
}

/* An animated WebP's frames through libwebp's WebPAnimDecoder, which composites each onto the
   canvas (blending and disposal) as browsers show it. The canvas, the frame count and frames x
   canvas pixels are checked against the limits from the container before any frame is decoded. */
struct ic_webp_frames {
    WebPAnimDecoder *decoder;
    int previous_ms;
};

ic_webp_frames *ic_webp_frames_open(const uint8_t *data, size_t size, const ic_decode_options *options,
                                    ic_info *info, ic_status *status) {
    memset(status, 0, sizeof(*status));
    memset(info, 0, sizeof(*info));
    if (ic_webp_probe(data, size, info, status) != IC_OK) return NULL;
    if (ic_over_pixel_limit(info->width, info->height, options->max_pixels, status)) return NULL;
    int max_frames = options->max_frames > 0 ? options->max_frames : 1000;
    uint64_t max_animation = options->max_animation_pixels > 0 ? options->max_animation_pixels : 1000000000ull;
    uint64_t work = (uint64_t)info->width * info->height * (uint64_t)(info->frames > 0 ? info->frames : 1);
    if (info->frames > max_frames || work > max_animation) {
        status->code = IC_ERR_LIMIT;
        snprintf(status->message, IC_MESSAGE_MAX, "WebP animation: %d frames of %ux%u, over the limit of %d frames or %llu frame pixels",
                 info->frames, info->width, info->height, max_frames, (unsigned long long)max_animation);
        return NULL;
    }
    WebPAnimDecoderOptions decoder_options;
    if (!WebPAnimDecoderOptionsInit(&decoder_options)) {
        ic_fail(status, IC_ERR_UNSUPPORTED, "libwebp's animation API version mismatch");
        return NULL;
    }
    decoder_options.color_mode = MODE_RGBA;
    decoder_options.use_threads = 0;
    WebPData webp = { data, size };
    ic_webp_frames *frames = (ic_webp_frames *)calloc(1, sizeof *frames);
    if (frames == NULL || (frames->decoder = WebPAnimDecoderNew(&webp, &decoder_options)) == NULL) {
        free(frames);
        ic_fail(status, IC_ERR_CORRUPT, "malformed WebP animation");
        return NULL;
    }
    return frames;
}

int ic_webp_frames_next(ic_webp_frames *frames, const uint8_t **pixels, int *delay_ms, ic_status *status) {
    memset(status, 0, sizeof(*status));
    if (!WebPAnimDecoderHasMoreFrames(frames->decoder)) return IC_END;
    uint8_t *canvas = NULL;
    int timestamp = 0;
    if (!WebPAnimDecoderGetNext(frames->decoder, &canvas, &timestamp) || canvas == NULL)
        return ic_fail(status, IC_ERR_CORRUPT, "a frame of the WebP animation does not decode");
    *pixels = canvas;
    *delay_ms = timestamp - frames->previous_ms;
    frames->previous_ms = timestamp;
    return IC_OK;
}

void ic_webp_frames_close(ic_webp_frames *frames) {
    if (frames == NULL) return;
    WebPAnimDecoderDelete(frames->decoder);
    free(frames);
}
