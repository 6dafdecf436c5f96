/*
 * Colour management: an image's embedded profile or colour tags to sRGB, with LittleCMS 2.
 *
 * Every call makes its own lcms2 context whose log handler writes into the image's ic_color
 * report, so errors are per image and threads never share state. lcms2 reports errors by
 * returning NULL, never by jumping: nothing here is inside a setjmp region.
 */
#include "ic_color.h"
#include "ic_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lcms2.h>

static void ic_color_log(cmsContext context, cmsUInt32Number code, const char *text) {
    (void)code;
    ic_color *report = (ic_color *)cmsGetContextUserData(context);
    if (report != NULL && report->warning[0] == '\0')
        snprintf(report->warning, IC_MESSAGE_MAX, "the colour profile is unusable (%s)", text);
}

static void ic_color_warn(ic_color *report, const char *message) {
    if (report->warning[0] == '\0') snprintf(report->warning, IC_MESSAGE_MAX, "%s", message);
}

/* ---- The sRGB reference ---------------------------------------------------------------- */

static cmsToneCurve *ic_srgb_curve(cmsContext context) {
    /* IEC 61966-2-1: Y = ((X + 0.055) / 1.055)^2.4 above 0.04045, X / 12.92 below. */
    const cmsFloat64Number parameters[5] = { 2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045 };
    return cmsBuildParametricToneCurve(context, 4, parameters);
}

static int ic_close(double a, double b, double tolerance) { return fabs(a - b) <= tolerance; }

/* True when `profile` is an RGB matrix/shaper profile with sRGB's colorants and curves (HP's
   sRGB IEC61966-2.1, sRGB2014, Google's and Apple's compact sRGB all are): no transform needed. */
static int ic_profile_is_srgb(cmsContext context, cmsHPROFILE profile) {
    if (cmsGetColorSpace(profile) != cmsSigRgbData) return 0;
    static const cmsTagSignature colorants[3] = { cmsSigRedColorantTag, cmsSigGreenColorantTag, cmsSigBlueColorantTag };
    static const cmsTagSignature curves[3] = { cmsSigRedTRCTag, cmsSigGreenTRCTag, cmsSigBlueTRCTag };
    cmsHPROFILE srgb = cmsCreate_sRGBProfileTHR(context);
    if (srgb == NULL) return 0;
    cmsToneCurve *reference = ic_srgb_curve(context);
    int same = reference != NULL;
    for (int i = 0; i < 3 && same; i++) {
        const cmsCIEXYZ *have = (const cmsCIEXYZ *)cmsReadTag(profile, colorants[i]);
        const cmsCIEXYZ *want = (const cmsCIEXYZ *)cmsReadTag(srgb, colorants[i]);
        const cmsToneCurve *curve = (const cmsToneCurve *)cmsReadTag(profile, curves[i]);
        if (have == NULL || want == NULL || curve == NULL) { same = 0; break; }
        same = ic_close(have->X, want->X, 0.002) && ic_close(have->Y, want->Y, 0.002) && ic_close(have->Z, want->Z, 0.002);
        for (int step = 1; step <= 16 && same; step++) {
            float x = (float)step / 16.0f;
            same = ic_close(cmsEvalToneCurveFloat(curve, x), cmsEvalToneCurveFloat(reference, x), 0.002);
        }
    }
    if (reference != NULL) cmsFreeToneCurve(reference);
    cmsCloseProfile(srgb);
    return same;
}

/* A gray profile whose curve is sRGB's (gray output and the "already sRGB" test for gray). */
static cmsHPROFILE ic_srgb_gray_profile(cmsContext context) {
    cmsToneCurve *curve = ic_srgb_curve(context);
    if (curve == NULL) return NULL;
    cmsHPROFILE profile = cmsCreateGrayProfileTHR(context, cmsD50_xyY(), curve);
    cmsFreeToneCurve(curve);
    return profile;
}

static int ic_gray_profile_is_srgb(cmsContext context, cmsHPROFILE profile) {
    if (cmsGetColorSpace(profile) != cmsSigGrayData) return 0;
    const cmsToneCurve *curve = (const cmsToneCurve *)cmsReadTag(profile, cmsSigGrayTRCTag);
    cmsToneCurve *reference = ic_srgb_curve(context);
    if (curve == NULL || reference == NULL) {
        if (reference != NULL) cmsFreeToneCurve(reference);
        return 0;
    }
    int same = 1;
    for (int step = 1; step <= 16 && same; step++) {
        float x = (float)step / 16.0f;
        same = ic_close(cmsEvalToneCurveFloat(curve, x), cmsEvalToneCurveFloat(reference, x), 0.002);
    }
    cmsFreeToneCurve(reference);
    return same;
}

/* ---- Profiles from tags (cICP, gAMA/cHRM) ------------------------------------------------ */

static cmsHPROFILE ic_rgb_profile(cmsContext context, const double white[2], const double primaries[6],
                                  cmsToneCurve *curve) {
    cmsCIExyY whitePoint = { white[0], white[1], 1.0 };
    cmsCIExyYTRIPLE triple = {
        { primaries[0], primaries[1], 1.0 }, { primaries[2], primaries[3], 1.0 }, { primaries[4], primaries[5], 1.0 } };
    cmsToneCurve *curves[3] = { curve, curve, curve };
    return cmsCreateRGBProfileTHR(context, &whitePoint, &triple, curves);
}

/* ITU-T H.273 code points: the ones a still image uses. Returns NULL (warning set) otherwise,
   and sets *is_srgb for BT.709 primaries with the sRGB transfer. */
static cmsHPROFILE ic_cicp_profile(cmsContext context, const ic_color_source *source, int gray,
                                   int *is_srgb, ic_color *report) {
    static const double d65[2] = { 0.3127, 0.3290 }, dci_white[2] = { 0.314, 0.351 };
    static const double bt709[6] = { 0.640, 0.330, 0.300, 0.600, 0.150, 0.060 };
    static const double p3[6] = { 0.680, 0.320, 0.265, 0.690, 0.150, 0.060 };
    static const double bt2020[6] = { 0.708, 0.292, 0.170, 0.797, 0.131, 0.046 };
    const double *white = d65, *primaries = NULL;
    const char *primaries_name = "";
    switch (source->cicp_primaries) {
    case 1: case 2: primaries = bt709; primaries_name = "BT.709"; break;  /* 2: unspecified, read as sRGB */
    case 9: primaries = bt2020; primaries_name = "BT.2020"; break;
    case 11: primaries = p3; white = dci_white; primaries_name = "DCI-P3"; break;
    case 12: primaries = p3; primaries_name = "Display P3"; break;
    default: break;
    }
    cmsToneCurve *curve = NULL;
    const char *transfer_name = "";
    switch (source->cicp_transfer) {
    case 2: case 13: curve = ic_srgb_curve(context); transfer_name = "sRGB"; break;
    case 1: case 6: case 14: case 15: {
        const cmsFloat64Number bt709_eotf[5] = { 1.0 / 0.45, 1.0 / 1.099, 0.099 / 1.099, 1.0 / 4.5, 0.081 };
        curve = cmsBuildParametricToneCurve(context, 4, bt709_eotf);
        transfer_name = "BT.709";
        break;
    }
    case 4: curve = cmsBuildGamma(context, 2.2); transfer_name = "gamma 2.2"; break;
    case 5: curve = cmsBuildGamma(context, 2.8); transfer_name = "gamma 2.8"; break;
    case 8: curve = cmsBuildGamma(context, 1.0); transfer_name = "linear"; break;
    default: break;
    }
    snprintf(report->description, IC_MESSAGE_MAX, "cICP %s%s%s (%u/%u/%u)", primaries_name,
             primaries_name[0] && transfer_name[0] ? ", " : "", transfer_name,
             source->cicp_primaries, source->cicp_transfer, source->cicp_matrix);
    if (primaries == NULL || curve == NULL) {
        char message[IC_MESSAGE_MAX];
        snprintf(message, sizeof message, "cICP primaries %u, transfer %u: %s are not converted; the pixels are kept as they are",
                 source->cicp_primaries, source->cicp_transfer,
                 source->cicp_transfer == 16 || source->cicp_transfer == 18 ? "HDR transfer functions (PQ, HLG)" : "these code points");
        ic_color_warn(report, message);
        if (curve != NULL) cmsFreeToneCurve(curve);
        return NULL;
    }
    *is_srgb = primaries == bt709 && (source->cicp_transfer == 13 || source->cicp_transfer == 2);
    cmsHPROFILE profile = gray ? cmsCreateGrayProfileTHR(context, cmsD50_xyY(), curve)
                               : ic_rgb_profile(context, white, primaries, curve);
    cmsFreeToneCurve(curve);
    return profile;
}

/* PNG gAMA/cHRM without iCCP or sRGB. A file gamma of 1/2.2 with sRGB's (or no) chromaticities
   is what most encoders write for sRGB: *is_srgb. */
static cmsHPROFILE ic_png_chunks_profile(cmsContext context, const ic_color_source *source, int gray,
                                        int *is_srgb, ic_color *report) {
    static const double d65[2] = { 0.3127, 0.3290 };
    static const double bt709[6] = { 0.640, 0.330, 0.300, 0.600, 0.150, 0.060 };
    double primaries[6];
    memcpy(primaries, bt709, sizeof primaries);
    const double *white = d65;
    int srgb_primaries = 1;
    if (source->has_chromaticities) {
        const double given[6] = { source->red[0], source->red[1], source->green[0], source->green[1],
                                  source->blue[0], source->blue[1] };
        for (int i = 0; i < 6; i++) {
            if (!(given[i] > 0.0 && given[i] < 1.0)) {
                ic_color_warn(report, "cHRM chromaticities out of range: ignored");
                return NULL;
            }
            if (!ic_close(given[i], bt709[i], 0.01)) srgb_primaries = 0;
        }
        if (!ic_close(source->white[0], d65[0], 0.01) || !ic_close(source->white[1], d65[1], 0.01)) srgb_primaries = 0;
        memcpy(primaries, given, sizeof primaries);
        white = source->white;
    }
    double gamma = source->has_gamma ? source->gamma : 1.0 / 2.2;
    if (!(gamma > 0.01 && gamma < 10.0)) {
        ic_color_warn(report, "gAMA out of range: ignored");
        return NULL;
    }
    snprintf(report->description, IC_MESSAGE_MAX, "PNG %s%s%s", source->has_gamma ? "gAMA" : "",
             source->has_gamma && source->has_chromaticities ? " + " : "", source->has_chromaticities ? "cHRM" : "");
    if (source->has_gamma) {
        size_t used = strlen(report->description);
        snprintf(report->description + used, IC_MESSAGE_MAX - used, " (gamma %.5f)", gamma);
    }
    *is_srgb = srgb_primaries && ic_close(gamma, 1.0 / 2.2, 0.0005);
    cmsToneCurve *curve = source->has_gamma ? cmsBuildGamma(context, 1.0 / gamma) : ic_srgb_curve(context);
    if (curve == NULL) return NULL;
    cmsHPROFILE profile = gray ? cmsCreateGrayProfileTHR(context, cmsD50_xyY(), curve)
                               : ic_rgb_profile(context, white, primaries, curve);
    cmsFreeToneCurve(curve);
    return profile;
}

/* ---- The transform ----------------------------------------------------------------------- */

static cmsUInt32Number ic_lcms_format(int layout) {
    switch (layout) {
    case IC_PIXELS_GRAY: return TYPE_GRAY_8;
    case IC_PIXELS_GRAY_ALPHA: return TYPE_GRAYA_8;
    case IC_PIXELS_RGB: return TYPE_RGB_8;
    case IC_PIXELS_RGBA: return TYPE_RGBA_8;
    case IC_PIXELS_CMYK: return TYPE_CMYK_8;
    default: return TYPE_CMYK_8_REV;  /* Adobe's inverted CMYK */
    }
}

static cmsColorSpaceSignature ic_layout_space(int layout) {
    if (layout == IC_PIXELS_GRAY || layout == IC_PIXELS_GRAY_ALPHA) return cmsSigGrayData;
    if (layout == IC_PIXELS_RGB || layout == IC_PIXELS_RGBA) return cmsSigRgbData;
    return cmsSigCmykData;
}

/* The input profile for `source`, or NULL (nothing to do, or ignored with a warning). */
static cmsHPROFILE ic_input_profile(cmsContext context, const ic_color_source *source, int layout,
                                    size_t max_profile_bytes, int *is_srgb, ic_color *report) {
    int gray = ic_layout_space(layout) == cmsSigGrayData;
    *is_srgb = 0;
    if (source->has_cicp) {
        report->source = IC_COLOR_CICP;
        if (source->cicp_matrix != 0 || !source->cicp_full_range) {
            /* PNG: cICP for RGB data must say matrix 0 (identity) and full range. */
            snprintf(report->description, IC_MESSAGE_MAX, "cICP %u/%u/%u", source->cicp_primaries,
                     source->cicp_transfer, source->cicp_matrix);
            ic_color_warn(report, "cICP with a YCbCr matrix or narrow range in an RGB image: ignored");
            return NULL;
        }
        return ic_cicp_profile(context, source, gray, is_srgb, report);
    }
    if (source->icc != NULL) {
        report->source = IC_COLOR_ICC;
        if (source->icc_size > max_profile_bytes) {
            char message[IC_MESSAGE_MAX];
            snprintf(message, sizeof message, "the %zu-byte ICC profile is over the %zu-byte limit: ignored",
                     source->icc_size, max_profile_bytes);
            ic_color_warn(report, message);
            return NULL;
        }
        cmsHPROFILE profile = cmsOpenProfileFromMemTHR(context, source->icc, (cmsUInt32Number)source->icc_size);
        if (profile == NULL) {
            ic_color_warn(report, "the ICC profile is malformed: ignored");
            return NULL;
        }
        cmsGetProfileInfoASCII(profile, cmsInfoDescription, "en", "US", report->description, IC_MESSAGE_MAX);
        if (report->description[0] == '\0') snprintf(report->description, IC_MESSAGE_MAX, "ICC profile without a description");
        if (cmsGetColorSpace(profile) != ic_layout_space(layout)) {
            ic_color_warn(report, "the ICC profile's colour space does not match the image's: ignored");
            cmsCloseProfile(profile);
            return NULL;
        }
        *is_srgb = gray ? ic_gray_profile_is_srgb(context, profile) : ic_profile_is_srgb(context, profile);
        return profile;
    }
    if (source->icc_rejected) {
        report->source = IC_COLOR_ICC;
        return NULL;
    }
    if (source->srgb_chunk) {
        report->source = IC_COLOR_SRGB_TAG;
        snprintf(report->description, IC_MESSAGE_MAX, "PNG sRGB chunk");
        *is_srgb = 1;
        return NULL;
    }
    if (source->has_gamma || source->has_chromaticities) {
        report->source = IC_COLOR_GAMA_CHRM;
        return ic_png_chunks_profile(context, source, gray, is_srgb, report);
    }
    return NULL;
}

int ic_color_begin(ic_color_session *session, const ic_color_source *source, int layout,
                   size_t max_profile_bytes, ic_color *report) {
    session->context = NULL;
    session->transform = NULL;
    if (max_profile_bytes == 0) max_profile_bytes = IC_DEFAULT_MAX_PROFILE_BYTES;
    cmsContext context = cmsCreateContext(NULL, report);
    if (context == NULL) {
        ic_color_warn(report, "cannot create a colour management context");
        return 0;
    }
    cmsSetLogErrorHandlerTHR(context, ic_color_log);
    int is_srgb = 0;
    cmsHPROFILE input = ic_input_profile(context, source, layout, max_profile_bytes, &is_srgb, report);
    if (input == NULL || is_srgb) {
        if (input != NULL) cmsCloseProfile(input);
        cmsDeleteContext(context);
        return 0;
    }
    int gray = ic_layout_space(layout) == cmsSigGrayData;
    cmsHPROFILE output = gray ? ic_srgb_gray_profile(context) : cmsCreate_sRGBProfileTHR(context);
    int intent = INTENT_PERCEPTUAL;
    if (!cmsIsIntentSupported(input, INTENT_PERCEPTUAL, LCMS_USED_AS_INPUT)) intent = INTENT_RELATIVE_COLORIMETRIC;
    cmsUInt32Number flags = intent == INTENT_RELATIVE_COLORIMETRIC ? cmsFLAGS_BLACKPOINTCOMPENSATION : 0;
    int alpha = layout == IC_PIXELS_RGBA || layout == IC_PIXELS_GRAY_ALPHA;
    if (alpha) flags |= cmsFLAGS_COPY_ALPHA;
    cmsUInt32Number out_format = layout == IC_PIXELS_CMYK || layout == IC_PIXELS_CMYK_INVERTED ? TYPE_RGB_8 : ic_lcms_format(layout);
    cmsHTRANSFORM transform = output == NULL ? NULL
        : cmsCreateTransformTHR(context, input, ic_lcms_format(layout), output, out_format, (cmsUInt32Number)intent, flags);
    cmsCloseProfile(input);
    if (output != NULL) cmsCloseProfile(output);
    if (transform == NULL) {
        ic_color_warn(report, "no transform from this profile to sRGB: ignored");
        cmsDeleteContext(context);
        return 0;
    }
    session->context = context;
    session->transform = transform;
    session->in_bytes = layout >= IC_PIXELS_CMYK ? 4 : layout;
    session->out_bytes = layout >= IC_PIXELS_CMYK ? 3 : layout;
    report->converted = 1;
    report->intent = intent == INTENT_PERCEPTUAL ? 0 : 1;
    return 1;
}

void ic_color_rows(ic_color_session *session, const void *in, void *out, size_t count) {
    /* cmsDoTransform takes a 32-bit count: convert in slices. */
    const size_t slice = (size_t)1 << 24;
    size_t in_bytes = (size_t)session->in_bytes, out_bytes = (size_t)session->out_bytes;
    const uint8_t *source = (const uint8_t *)in;
    uint8_t *target = (uint8_t *)out;
    while (count > 0) {
        size_t now = count < slice ? count : slice;
        cmsDoTransform((cmsHTRANSFORM)session->transform, source, target, (cmsUInt32Number)now);
        source += now * in_bytes;
        target += now * out_bytes;
        count -= now;
    }
}

void ic_color_end(ic_color_session *session) {
    if (session->transform != NULL) cmsDeleteTransform((cmsHTRANSFORM)session->transform);
    if (session->context != NULL) cmsDeleteContext((cmsContext)session->context);
    session->transform = NULL;
    session->context = NULL;
}

void ic_color_convert_in_place(uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                               const ic_color_source *source, size_t max_profile_bytes, ic_color *report) {
    ic_color_session session;
    if (pixels == NULL || channels < 1 || channels > 4) return;
    if (!ic_color_begin(&session, source, channels, max_profile_bytes, report)) return;
    ic_color_rows(&session, pixels, pixels, (size_t)width * (size_t)height);
    ic_color_end(&session);
}

/* ---- JPEG APP2 ICC_PROFILE chunks --------------------------------------------------------- */

int ic_jpeg_find_icc(const uint8_t *data, size_t size, size_t max_bytes, uint8_t **profile,
                     size_t *profile_size, char warning[IC_MESSAGE_MAX]) {
    static const char signature[12] = { 'I', 'C', 'C', '_', 'P', 'R', 'O', 'F', 'I', 'L', 'E', 0 };
    const uint8_t *chunk_data[256] = { 0 };
    size_t chunk_size[256] = { 0 };
    int count = -1, seen = 0;
    size_t total = 0;
    *profile = NULL;
    *profile_size = 0;
    warning[0] = '\0';
    if (max_bytes == 0) max_bytes = IC_DEFAULT_MAX_PROFILE_BYTES;
    size_t at = 2;  /* after SOI */
    while (at + 4 <= size) {
        if (data[at] != 0xFF) break;
        uint8_t marker = data[at + 1];
        if (marker == 0xFF) { at++; continue; }  /* fill bytes */
        if (marker == 0xDA || marker == 0xD9) break;  /* SOS, EOI: no more headers */
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { at += 2; continue; }
        size_t length = ((size_t)data[at + 2] << 8) | data[at + 3];
        if (length < 2 || at + 2 + length > size) break;
        const uint8_t *segment = data + at + 4;
        size_t segment_size = length - 2;
        if (marker == 0xE2 && segment_size > 14 && memcmp(segment, signature, 12) == 0) {
            int sequence = segment[12], chunks = segment[13];
            if (sequence == 0 || chunks == 0 || sequence > chunks || (count >= 0 && chunks != count)) {
                snprintf(warning, IC_MESSAGE_MAX, "ICC profile chunk %d of %d is inconsistent: the profile is ignored", sequence, chunks);
                return 0;
            }
            if (chunk_data[sequence] != NULL) {
                snprintf(warning, IC_MESSAGE_MAX, "ICC profile chunk %d appears twice: the profile is ignored", sequence);
                return 0;
            }
            count = chunks;
            chunk_data[sequence] = segment + 14;
            chunk_size[sequence] = segment_size - 14;
            total += segment_size - 14;
            seen++;
            if (total > max_bytes) {
                snprintf(warning, IC_MESSAGE_MAX, "the ICC profile is over the %zu-byte limit: ignored", max_bytes);
                return 0;
            }
        }
        at += 2 + length;
    }
    if (count < 0) return 0;
    if (seen != count) {
        snprintf(warning, IC_MESSAGE_MAX, "the ICC profile has %d of its %d chunks: ignored", seen, count);
        return 0;
    }
    uint8_t *assembled = (uint8_t *)malloc(total > 0 ? total : 1);
    if (assembled == NULL) {
        snprintf(warning, IC_MESSAGE_MAX, "cannot allocate %zu bytes for the ICC profile: ignored", total);
        return 0;
    }
    size_t offset = 0;
    for (int sequence = 1; sequence <= count; sequence++) {
        memcpy(assembled + offset, chunk_data[sequence], chunk_size[sequence]);
        offset += chunk_size[sequence];
    }
    *profile = assembled;
    *profile_size = total;
    return 1;
}
