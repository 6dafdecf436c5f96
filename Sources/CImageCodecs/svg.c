/*
 * SVG over librsvg (the renderer libvips, imgproxy and sharp use), drawn with cairo straight at
 * the size asked for: a vector image is never rasterised at one size and resampled to another.
 *
 * The document is loaded from memory with no base URL, so librsvg's URL resolver refuses every
 * reference that is not a data: URL: no external image, stylesheet or XInclude, no file:, no
 * network. Scripts are never run (librsvg has no script engine). The Swift side (SVGCodec)
 * screens the bytes first: entity declarations, XInclude, element count and nesting depth; and
 * librsvg keeps its own limits on loaded and referenced elements. librsvg and cairo report
 * errors by return values and GError (no setjmp, no exit).
 */
#include "imgcache_codecs.h"
#include "ic_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <librsvg/rsvg.h>
#include <cairo.h>

/* cairo's largest image surface side. */
#define IC_SVG_MAX_SIDE 32767

static int ic_svg_fail(ic_status *status, GError *error, const char *stage) {
    status->code = IC_ERR_CORRUPT;
    snprintf(status->message, IC_MESSAGE_MAX, "SVG %s: %s", stage, error && error->message ? error->message : "failed");
    if (error) g_error_free(error);
    return status->code;
}

static RsvgHandle *ic_svg_load(const uint8_t *data, size_t size, ic_status *status) {
    GError *error = NULL;
    RsvgHandle *handle = rsvg_handle_new_from_data(data, size, &error);
    if (handle == NULL) {
        ic_svg_fail(status, error, "document");
        return NULL;
    }
    rsvg_handle_set_dpi(handle, 96.0);
    return handle;
}

/* Absolute width and height; else the viewBox's (scaled to one absolute side if there is one);
   else the 300x150 a browser gives an <img> of an SVG without either. */
static void ic_svg_size(RsvgHandle *handle, double *width, double *height) {
    if (rsvg_handle_get_intrinsic_size_in_pixels(handle, width, height) && *width > 0 && *height > 0) return;
    gboolean has_width = FALSE, has_height = FALSE, has_viewbox = FALSE;
    RsvgLength w, h;
    RsvgRectangle viewbox;
    rsvg_handle_get_intrinsic_dimensions(handle, &has_width, &w, &has_height, &h, &has_viewbox, &viewbox);
    if (has_viewbox && viewbox.width > 0 && viewbox.height > 0) {
        *width = viewbox.width;
        *height = viewbox.height;
        return;
    }
    *width = 300;
    *height = 150;
}

static int ic_svg_info(RsvgHandle *handle, ic_info *info, ic_status *status) {
    double width = 0, height = 0;
    ic_svg_size(handle, &width, &height);
    if (!(width >= 0.5 && height >= 0.5) || width > 4e9 || height > 4e9)
        return ic_fail(status, IC_ERR_CORRUPT, "SVG: the document's size is empty or not a number");
    info->width = (uint32_t)lround(width);
    info->height = (uint32_t)lround(height);
    info->components = 4;
    info->has_alpha = 1;
    info->color_space = IC_CS_RGB;
    info->bit_depth = 8;
    info->orientation = 1;
    info->frames = 1;
    return IC_OK;
}

int ic_svg_probe(const uint8_t *data, size_t size, ic_info *info, ic_status *status) {
    if (ic_begin(data, size, info, NULL, status) != IC_OK) return status->code;
    RsvgHandle *handle = ic_svg_load(data, size, status);
    if (handle == NULL) return status->code;
    int code = ic_svg_info(handle, info, status);
    g_object_unref(handle);
    return code;
}

/* cairo's premultiplied native-endian ARGB to straight RGBA, in a buffer of its own. */
static uint8_t *ic_svg_unpremultiply(cairo_surface_t *surface, uint32_t width, uint32_t height) {
    uint8_t *pixels = (uint8_t *)malloc((size_t)width * height * 4);
    if (pixels == NULL) return NULL;
    const uint8_t *rows = cairo_image_surface_get_data(surface);
    int stride = cairo_image_surface_get_stride(surface);
    for (uint32_t y = 0; y < height; y++) {
        const uint32_t *row = (const uint32_t *)(rows + (size_t)y * (size_t)stride);
        uint8_t *out = pixels + (size_t)y * width * 4;
        for (uint32_t x = 0; x < width; x++) {
            uint32_t argb = row[x];
            unsigned a = argb >> 24, r = (argb >> 16) & 255, g = (argb >> 8) & 255, b = argb & 255;
            if (a != 0 && a != 255) {
                r = ic_unpremultiply(r, a);
                g = ic_unpremultiply(g, a);
                b = ic_unpremultiply(b, a);
            }
            out[x * 4] = (uint8_t)r;
            out[x * 4 + 1] = (uint8_t)g;
            out[x * 4 + 2] = (uint8_t)b;
            out[x * 4 + 3] = (uint8_t)a;
        }
    }
    return pixels;
}

/* The whole document drawn into a transparent width x height canvas. */
static int ic_svg_draw(RsvgHandle *handle, uint32_t width, uint32_t height, ic_image *image, ic_status *status) {
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)width, (int)height);
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surface);
        return ic_fail(status, IC_ERR_NO_MEMORY, "cannot allocate the SVG canvas");
    }
    cairo_t *cr = cairo_create(surface);
    RsvgRectangle viewport = { 0, 0, (double)width, (double)height };
    GError *error = NULL;
    gboolean drawn = rsvg_handle_render_document(handle, cr, &viewport, &error);
    cairo_destroy(cr);
    cairo_surface_flush(surface);
    int code = drawn ? IC_OK : ic_svg_fail(status, error, "rendering");
    if (code == IC_OK && (image->pixels = ic_svg_unpremultiply(surface, width, height)) == NULL)
        code = ic_fail(status, IC_ERR_NO_MEMORY, "cannot allocate the SVG image");
    cairo_surface_destroy(surface);
    image->width = width;
    image->height = height;
    image->channels = 4;
    return code;
}

int ic_svg_decode(const uint8_t *data, size_t size, const ic_decode_options *options,
                  ic_info *info, ic_image *image, ic_status *status) {
    if (ic_begin(data, size, info, image, status) != IC_OK) return status->code;
    RsvgHandle *handle = ic_svg_load(data, size, status);
    if (handle == NULL) return status->code;
    int code = ic_svg_info(handle, info, status);
    uint32_t width = options->render_width ? options->render_width : info->width;
    uint32_t height = options->render_height ? options->render_height : info->height;
    if (code == IC_OK && (width > IC_SVG_MAX_SIDE || height > IC_SVG_MAX_SIDE)) {
        code = IC_ERR_TOO_LARGE;
        snprintf(status->message, IC_MESSAGE_MAX, "SVG: a %ux%u rendering is over cairo's %d-pixel side", width, height, IC_SVG_MAX_SIDE);
        status->code = code;
    }
    if (code == IC_OK && ic_over_pixel_limit(width, height, options->max_pixels, status)) code = status->code;
    if (code == IC_OK) code = ic_svg_draw(handle, width, height, image, status);
    g_object_unref(handle);
    return code;
}
