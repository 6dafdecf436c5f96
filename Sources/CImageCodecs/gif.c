/*
 * GIF probe and decode over giflib. giflib reports errors by return codes (no setjmp, no
 * exit). Its record-by-record API is used rather than DGifSlurp, which allocates every
 * frame before anything can be checked: here the logical screen is checked against the
 * pixel limit before the canvas is allocated, each frame's size before its pixels are read,
 * and the frame count and the sum of frame pixels while walking the file.
 *
 * The first frame is composited as a browser shows it: onto a transparent logical screen, at
 * its offset (clipped to the screen), its transparent index left transparent, interlaced rows
 * put in their places. Later frames are counted (their LZW data is skipped, not decoded).
 */
#include "imgcache_codecs.h"
#include "ic_common.h"

#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t position;
} ic_gif_reader;

static int ic_gif_read(GifFileType *gif, GifByteType *buffer, int length) {
    ic_gif_reader *reader = (ic_gif_reader *)gif->UserData;
    size_t left = reader->size - reader->position;
    size_t count = length < 0 ? 0 : ((size_t)length < left ? (size_t)length : left);
    memcpy(buffer, reader->data + reader->position, count);
    reader->position += count;
    return (int)count;
}

/* giflib's error as a status: a read past the end is truncation, the rest corruption. */
static int ic_gif_fail(ic_status *status, int error, const char *during) {
    const char *text = GifErrorString(error);
    int code = (error == D_GIF_ERR_READ_FAILED || error == D_GIF_ERR_EOF_TOO_SOON) ? IC_ERR_TRUNCATED
             : (error == D_GIF_ERR_NOT_ENOUGH_MEM) ? IC_ERR_NO_MEMORY : IC_ERR_CORRUPT;
    status->code = code;
    snprintf(status->message, IC_MESSAGE_MAX, "%s: %s", during,
             code == IC_ERR_TRUNCATED ? "the data ends before the image does (truncated)" : (text ? text : "malformed GIF"));
    return code;
}

static GifFileType *ic_gif_open(ic_gif_reader *reader, ic_status *status) {
    int error = 0;
    GifFileType *gif = DGifOpen(reader, ic_gif_read, &error);
    if (!gif) {
        ic_gif_fail(status, error, "reading the GIF header");
        return NULL;
    }
    if (gif->SWidth <= 0 || gif->SHeight <= 0) {
        ic_fail(status, IC_ERR_CORRUPT, "the GIF's logical screen is empty (0 pixels wide or high)");
        DGifCloseFile(gif, &error);
        return NULL;
    }
    return gif;
}

/* What the walk over the records found and did. */
/* A frame's delay as browsers show it: under 20 ms is 100 ms. */
static int ic_gif_delay_ms(int centiseconds) { return centiseconds * 10 < 20 ? 100 : centiseconds * 10; }

/* Reads one extension: a graphic control (transparent index, disposal, delay in centiseconds)
   or NETSCAPE2.0's loop count; others are skipped. */
static int ic_gif_read_extension(GifFileType *gif, int *transparent, int *disposal, int *delay, int *loop_count,
                                 ic_status *status) {
    int function = 0, netscape = 0;
    GifByteType *extension = NULL;
    if (DGifGetExtension(gif, &function, &extension) == GIF_ERROR) return ic_gif_fail(status, gif->Error, "reading an extension");
    if (function == GRAPHICS_EXT_FUNC_CODE && extension && extension[0] >= 4) {
        GraphicsControlBlock control;
        if (DGifExtensionToGCB(extension[0], extension + 1, &control) == GIF_OK) {
            *transparent = control.TransparentColor;
            *disposal = control.DisposalMode;
            *delay = control.DelayTime;
        }
    }
    if (function == APPLICATION_EXT_FUNC_CODE && extension && extension[0] == 11 && memcmp(extension + 1, "NETSCAPE2.0", 11) == 0)
        netscape = 1;
    while (extension != NULL) {
        if (DGifGetExtensionNext(gif, &extension) == GIF_ERROR) return ic_gif_fail(status, gif->Error, "reading an extension");
        if (netscape && extension && extension[0] >= 3 && extension[1] == 1) {
            *loop_count = extension[2] | (extension[3] << 8);
            netscape = 0;
        }
    }
    return IC_OK;
}

typedef struct {
    int frames;
    int duration_ms;
    int loop_count;
    uint64_t frame_pixels;       /* the sum over frames */
    int has_transparency;        /* the first frame's graphic control names a transparent index */
    int first_done;
} ic_gif_walk;

/* Counts the frame whose descriptor was just read against the limits: its own size against
   `max_pixels`, the frame count and the sum of frame pixels. IC_OK, or the limit it breaks. */
static int ic_gif_admit_frame(const GifFileType *gif, uint64_t max_pixels, int max_frames, uint64_t max_animation,
                              int *frames, uint64_t *frame_pixels, ic_status *status) {
    uint32_t width = (uint32_t)gif->Image.Width, height = (uint32_t)gif->Image.Height;
    if (ic_over_pixel_limit(width, height, max_pixels, status)) return status->code;
    *frames += 1;
    *frame_pixels += (uint64_t)width * height;
    if (*frames > max_frames) {
        status->code = IC_ERR_LIMIT;
        snprintf(status->message, IC_MESSAGE_MAX, "more than %d frames (the frame limit)", max_frames);
        return IC_ERR_LIMIT;
    }
    if (*frame_pixels > max_animation) {
        status->code = IC_ERR_LIMIT;
        snprintf(status->message, IC_MESSAGE_MAX, "the frames hold over %llu pixels in all (the animation limit)",
                 (unsigned long long)max_animation);
        return IC_ERR_LIMIT;
    }
    return IC_OK;
}

/* Skips a frame's LZW data without decoding it. */
static int ic_gif_skip_frame(GifFileType *gif, ic_status *status) {
    int size = 0;
    GifByteType *block = NULL;
    if (DGifGetCode(gif, &size, &block) == GIF_ERROR) return ic_gif_fail(status, gif->Error, "reading a frame");
    while (block != NULL) {
        if (DGifGetCodeNext(gif, &block) == GIF_ERROR) return ic_gif_fail(status, gif->Error, "reading a frame");
    }
    return IC_OK;
}

/* Decodes the current frame onto `canvas` (RGBA, screen-sized), `transparent` (-1: none). */
static int ic_gif_draw_frame(GifFileType *gif, uint8_t *canvas, int transparent, ic_status *status) {
    GifImageDesc *frame = &gif->Image;
    if (frame->Width <= 0 || frame->Height <= 0) return ic_gif_skip_frame(gif, status);
    ColorMapObject *map = frame->ColorMap ? frame->ColorMap : gif->SColorMap;
    if (!map) return ic_fail(status, IC_ERR_CORRUPT, "the GIF's first frame has no colour table");
    GifPixelType *line = malloc((size_t)frame->Width);
    if (!line) return ic_fail(status, IC_ERR_NO_MEMORY, "out of memory for a GIF row");
    static const int start[] = {0, 4, 2, 1}, step[] = {8, 8, 4, 2};
    int passes = frame->Interlace ? 4 : 1;
    for (int pass = 0; pass < passes; pass++) {
        int first = frame->Interlace ? start[pass] : 0, stride = frame->Interlace ? step[pass] : 1;
        for (int y = first; y < frame->Height; y += stride) {
            if (DGifGetLine(gif, line, frame->Width) == GIF_ERROR) {
                free(line);
                return ic_gif_fail(status, gif->Error, "decoding the first frame");
            }
            int row = frame->Top + y;
            if (row < 0 || row >= gif->SHeight) continue;
            uint8_t *out = canvas + (size_t)row * (size_t)gif->SWidth * 4;
            for (int x = 0; x < frame->Width; x++) {
                int column = frame->Left + x, index = line[x];
                /* An index past the colour table is left transparent, as browsers do. */
                if (column < 0 || column >= gif->SWidth || index == transparent || index >= map->ColorCount) continue;
                GifColorType color = map->Colors[index];
                uint8_t *pixel = out + (size_t)column * 4;
                pixel[0] = color.Red; pixel[1] = color.Green; pixel[2] = color.Blue; pixel[3] = 255;
            }
        }
    }
    free(line);
    return IC_OK;
}

/*
 * Walks every record: counts frames within `max_frames` and `max_frame_pixels`, reads the
 * graphic control of the first frame, and draws that frame onto `canvas` when it is not NULL.
 */
static int ic_gif_walk_records(GifFileType *gif, uint8_t *canvas, const ic_decode_options *options,
                               ic_gif_walk *walk, ic_status *status) {
    int max_frames = options && options->max_frames > 0 ? options->max_frames : 1000;
    uint64_t max_animation = options && options->max_animation_pixels > 0 ? options->max_animation_pixels : 1000000000ull;
    uint64_t max_pixels = options ? options->max_pixels : 0;
    int transparent = -1, disposal = 0, delay = 0;
    GifRecordType record;
    do {
        if (DGifGetRecordType(gif, &record) == GIF_ERROR) return ic_gif_fail(status, gif->Error, "reading the GIF");
        if (record == EXTENSION_RECORD_TYPE) {
            int first_transparent = transparent;
            int code = ic_gif_read_extension(gif, &transparent, &disposal, &delay, &walk->loop_count, status);
            if (code != IC_OK) return code;
            if (walk->first_done) transparent = first_transparent;  /* only the first frame is drawn */
        } else if (record == IMAGE_DESC_RECORD_TYPE) {
            walk->duration_ms += ic_gif_delay_ms(delay);
            delay = 0;
            if (DGifGetImageDesc(gif) == GIF_ERROR) return ic_gif_fail(status, gif->Error, "reading a frame header");
            int code = ic_gif_admit_frame(gif, max_pixels, max_frames, max_animation, &walk->frames, &walk->frame_pixels, status);
            if (code != IC_OK) return code;
            if (!walk->first_done && canvas) {
                code = ic_gif_draw_frame(gif, canvas, transparent, status);
                walk->has_transparency = transparent >= 0;
            } else {
                code = ic_gif_skip_frame(gif, status);
            }
            if (code != IC_OK) return code;
            walk->first_done = 1;
        }
    } while (record != TERMINATE_RECORD_TYPE);
    if (walk->frames == 0) return ic_fail(status, IC_ERR_CORRUPT, "the GIF holds no image");
    return IC_OK;
}

static void ic_gif_fill_info(GifFileType *gif, const ic_gif_walk *walk, ic_info *info) {
    info->width = (uint32_t)gif->SWidth;
    info->height = (uint32_t)gif->SHeight;
    info->components = 4;
    info->color_space = IC_CS_PALETTE;
    info->bit_depth = 8;
    info->progressive = gif->Image.Interlace ? 1 : 0;
    info->has_alpha = 1;
    info->frames = walk->frames;
    info->duration_ms = walk->frames > 1 ? walk->duration_ms : 0;
    info->loop_count = walk->loop_count < 0 ? 1 : walk->loop_count;
}

int ic_gif_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status) {
    memset(info, 0, sizeof *info);
    ic_gif_reader reader = {data, size, 0};
    GifFileType *gif = ic_gif_open(&reader, status);
    if (!gif) return status->code;
    ic_gif_walk walk = {0};
    walk.loop_count = -1;  /* no NETSCAPE2.0 extension: the animation plays once */
    /* Frames are counted under the default limits (no pixel limit: the decode checks it). */
    int code = ic_gif_walk_records(gif, NULL, NULL, &walk, status);
    if (code == IC_OK || walk.frames > 0) {
        ic_gif_fill_info(gif, &walk, info);
        if (code == IC_ERR_TRUNCATED) code = IC_OK, status->code = IC_OK, status->message[0] = 0;
    }
    int error = 0;
    DGifCloseFile(gif, &error);
    return code;
}

int ic_gif_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                  ic_info *info, ic_image *image, ic_status *status) {
    memset(info, 0, sizeof *info);
    memset(image, 0, sizeof *image);
    ic_gif_reader reader = {data, size, 0};
    GifFileType *gif = ic_gif_open(&reader, status);
    if (!gif) return status->code;
    int error = 0;
    /* The logical screen is the canvas: checked before it is allocated. */
    if (ic_over_pixel_limit((uint32_t)gif->SWidth, (uint32_t)gif->SHeight, options->max_pixels, status)) {
        DGifCloseFile(gif, &error);
        return status->code;
    }
    uint8_t *canvas = calloc((size_t)gif->SWidth * (size_t)gif->SHeight, 4);
    if (!canvas) {
        DGifCloseFile(gif, &error);
        return ic_fail(status, IC_ERR_NO_MEMORY, "out of memory for the GIF's canvas");
    }
    ic_gif_walk walk = {0};
    walk.loop_count = -1;  /* no NETSCAPE2.0 extension: the animation plays once */
    int code = ic_gif_walk_records(gif, canvas, options, &walk, status);
    /* Lenient: a file cut after (or inside) its first frame keeps what was drawn. */
    if (code == IC_ERR_TRUNCATED && options->lenient && walk.frames > 0) {
        status->warnings += 1;
        snprintf(status->first_warning, IC_MESSAGE_MAX, "%s", status->message);
        status->code = IC_OK;
        status->message[0] = 0;
        code = IC_OK;
    }
    if (code != IC_OK) {
        free(canvas);
        DGifCloseFile(gif, &error);
        return code;
    }
    ic_gif_fill_info(gif, &walk, info);
    image->pixels = canvas;
    image->width = (uint32_t)gif->SWidth;
    image->height = (uint32_t)gif->SHeight;
    image->channels = 4;
    DGifCloseFile(gif, &error);
    return IC_OK;
}

/* ---- Every frame, composited, one at a time (for animated output) ---- */

struct ic_gif_frames {
    ic_gif_reader reader;
    GifFileType *gif;
    uint8_t *canvas;            /* the screen as shown after the current frame */
    uint8_t *saved;             /* the screen before the current frame (for "restore to previous") */
    int frames;
    uint64_t frame_pixels;
    int max_frames;
    uint64_t max_animation;
    uint64_t max_pixels;
    int disposal;               /* the current frame's disposal, applied before the next is drawn */
    GifImageDesc rect;          /* the current frame's place */
    int loop_count;             /* NETSCAPE2.0's count (0: for ever), -1 when the file has none (plays once) */
};

static void ic_gif_dispose(ic_gif_frames *f) {
    GifFileType *gif = f->gif;
    size_t row_bytes = (size_t)gif->SWidth * 4;
    if (f->disposal == DISPOSE_PREVIOUS) {
        memcpy(f->canvas, f->saved, row_bytes * (size_t)gif->SHeight);
    } else if (f->disposal == DISPOSE_BACKGROUND) {
        /* To transparent, as browsers and gif2webp do (not the background colour). */
        for (int y = f->rect.Top; y < f->rect.Top + f->rect.Height; y++) {
            if (y < 0 || y >= gif->SHeight) continue;
            int left = f->rect.Left < 0 ? 0 : f->rect.Left;
            int right = f->rect.Left + f->rect.Width > gif->SWidth ? gif->SWidth : f->rect.Left + f->rect.Width;
            if (right > left) memset(f->canvas + (size_t)y * row_bytes + (size_t)left * 4, 0, (size_t)(right - left) * 4);
        }
    }
}

ic_gif_frames *ic_gif_frames_open(const uint8_t *data, size_t size, const ic_decode_options *options,
                                  ic_info *info, ic_status *status) {
    memset(info, 0, sizeof *info);
    ic_gif_frames *f = calloc(1, sizeof *f);
    if (!f) { ic_fail(status, IC_ERR_NO_MEMORY, "out of memory"); return NULL; }
    f->reader = (ic_gif_reader){data, size, 0};
    f->loop_count = -1;
    f->max_frames = options->max_frames > 0 ? options->max_frames : 1000;
    f->max_animation = options->max_animation_pixels > 0 ? options->max_animation_pixels : 1000000000ull;
    f->max_pixels = options->max_pixels;
    f->gif = ic_gif_open(&f->reader, status);
    if (!f->gif) { free(f); return NULL; }
    if (ic_over_pixel_limit((uint32_t)f->gif->SWidth, (uint32_t)f->gif->SHeight, options->max_pixels, status)) {
        ic_gif_frames_close(f);
        return NULL;
    }
    size_t bytes = (size_t)f->gif->SWidth * (size_t)f->gif->SHeight * 4;
    f->canvas = calloc(bytes, 1);
    f->saved = malloc(bytes);
    if (!f->canvas || !f->saved) {
        ic_gif_frames_close(f);
        ic_fail(status, IC_ERR_NO_MEMORY, "out of memory for the GIF's canvas");
        return NULL;
    }
    info->width = (uint32_t)f->gif->SWidth;
    info->height = (uint32_t)f->gif->SHeight;
    info->components = 4;
    info->color_space = IC_CS_PALETTE;
    info->bit_depth = 8;
    info->has_alpha = 1;
    return f;
}

int ic_gif_frames_next(ic_gif_frames *f, const uint8_t **pixels, int *delay_ms, ic_status *status) {
    GifFileType *gif = f->gif;
    int transparent = -1, disposal = DISPOSAL_UNSPECIFIED, delay = 0;
    if (f->frames > 0) ic_gif_dispose(f);
    GifRecordType record;
    do {
        if (DGifGetRecordType(gif, &record) == GIF_ERROR) return ic_gif_fail(status, gif->Error, "reading the GIF");
        if (record == EXTENSION_RECORD_TYPE) {
            int code = ic_gif_read_extension(gif, &transparent, &disposal, &delay, &f->loop_count, status);
            if (code != IC_OK) return code;
        } else if (record == IMAGE_DESC_RECORD_TYPE) {
            if (DGifGetImageDesc(gif) == GIF_ERROR) return ic_gif_fail(status, gif->Error, "reading a frame header");
            int admitted = ic_gif_admit_frame(gif, f->max_pixels, f->max_frames, f->max_animation, &f->frames, &f->frame_pixels, status);
            if (admitted != IC_OK) return admitted;
            if (disposal == DISPOSE_PREVIOUS) memcpy(f->saved, f->canvas, (size_t)gif->SWidth * (size_t)gif->SHeight * 4);
            int code = ic_gif_draw_frame(gif, f->canvas, transparent, status);
            if (code != IC_OK) return code;
            f->disposal = disposal;
            f->rect = gif->Image;
            *pixels = f->canvas;
            /* Browsers show a delay under 20 ms as 100 ms; so does the animated WebP made from it. */
            *delay_ms = ic_gif_delay_ms(delay);
            return IC_OK;
        }
    } while (record != TERMINATE_RECORD_TYPE);
    return IC_END;
}

void ic_gif_frames_close(ic_gif_frames *f) {
    if (!f) return;
    int error = 0;
    if (f->gif) DGifCloseFile(f->gif, &error);
    free(f->canvas);
    free(f->saved);
    free(f);
}
