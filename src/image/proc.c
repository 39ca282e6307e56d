/* image/proc: HF ViTImageProcessor's preprocessing (preprocessor_config.json), PIL's Image.convert and
 * Image.resize on 8-bit images, and the seeded torchvision-style augmentation. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "io/json.h"

/* ---------------- preprocessor_config.json ---------------- */
void ft_img_proc_default(ft_img_proc *p, int size, int channels) {
    *p = (ft_img_proc){.do_convert_rgb = channels == 3,
                       .do_resize = true,
                       .do_rescale = true,
                       .do_normalize = true,
                       .height = size,
                       .width = size,
                       .resample = FT_RESAMPLE_BILINEAR,
                       .rescale_factor = 1.0 / 255.0};
    p->n_mean = channels >= 1 && channels <= 4 ? channels : 3;
    for (int i = 0; i < 4; i++)
        p->mean[i] = p->std[i] = 0.5;
}

/* A size from JSON as an int: the value when it is a whole number in 0..2^20, else -1 (then refused as out of
 * range; a cast of 1e54 to int would be undefined). */
static int size_value(double v) {
    return v >= 0 && v <= 1048576.0 && v == floor(v) ? (int)v : -1;
}

static ft_status get_bool(const cJSON *o, const char *key, const char *name, bool *v) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j)
        return FT_OK;
    if (cJSON_IsNull(j))
        *v = false; /* transformers: None means the step is not taken */
    else if (cJSON_IsBool(j))
        *v = cJSON_IsTrue(j);
    else
        return ft_fail(FT_ERR_CONFIG, "%s: \"%s\" must be true, false or null", name, key);
    return FT_OK;
}

static ft_status get_stats(const cJSON *o, const char *key, const char *name, double *v, int *n) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j))
        return FT_OK;
    int k = 0;
    if (cJSON_IsNumber(j)) {
        v[0] = j->valuedouble;
        k = 1;
    } else if (cJSON_IsArray(j)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, j) {
            if (!cJSON_IsNumber(e) || k == 4)
                return ft_fail(FT_ERR_CONFIG, "%s: \"%s\" must be 1 to 4 numbers", name, key);
            v[k++] = e->valuedouble;
        }
    }
    if (k == 0)
        return ft_fail(FT_ERR_CONFIG, "%s: \"%s\" must be a number or a list of numbers", name, key);
    for (int i = 0; i < k; i++)
        if (!isfinite(v[i]))
            return ft_fail(FT_ERR_CONFIG, "%s: \"%s\" has a non-finite value", name, key);
    *n = k;
    return FT_OK;
}

static ft_status parse_obj(const cJSON *o, const char *name, ft_img_proc *p) {
    if (!cJSON_IsObject(o))
        return ft_fail(FT_ERR_CONFIG, "%s: not a JSON object", name);
    FT_TRY(get_bool(o, "do_convert_rgb", name, &p->do_convert_rgb));
    FT_TRY(get_bool(o, "do_resize", name, &p->do_resize));
    FT_TRY(get_bool(o, "do_rescale", name, &p->do_rescale));
    FT_TRY(get_bool(o, "do_normalize", name, &p->do_normalize));
    static const char *const refused[] = {"do_center_crop", "do_pad", "do_reduce_labels"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, refused[i]);
        if (cJSON_IsTrue(j))
            return ft_fail(FT_ERR_UNSUPPORTED,
                           "%s: \"%s\": true is not implemented (ViTImageProcessor has no such step)", name,
                           refused[i]);
    }
    const cJSON *sz = cJSON_GetObjectItemCaseSensitive(o, "size");
    if (cJSON_IsNumber(sz)) {
        p->height = p->width = size_value(sz->valuedouble);
        if (p->height < 0)
            return ft_fail(FT_ERR_CONFIG, "%s: size %g is not a whole number of pixels in 1..8192", name,
                           sz->valuedouble);
    } else if (cJSON_IsObject(sz)) {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(sz, "height"),
                    *w = cJSON_GetObjectItemCaseSensitive(sz, "width");
        if (!cJSON_IsNumber(h) || !cJSON_IsNumber(w)) {
            const char *k = cJSON_GetObjectItemCaseSensitive(sz, "shortest_edge")  ? "shortest_edge"
                            : cJSON_GetObjectItemCaseSensitive(sz, "longest_edge") ? "longest_edge"
                                                                                   : "height/width";
            return ft_fail(
                FT_ERR_UNSUPPORTED,
                "%s: size.%s: ViTImageProcessor resizes to size.height x size.width; other size forms "
                "are not supported",
                name, k);
        }
        p->height = size_value(h->valuedouble);
        p->width = size_value(w->valuedouble);
        if (p->height < 0 || p->width < 0)
            return ft_fail(FT_ERR_CONFIG,
                           "%s: size %gx%g (width x height) is not whole numbers of pixels in 1..8192", name,
                           w->valuedouble, h->valuedouble);
    } else if (sz && !cJSON_IsNull(sz)) {
        return ft_fail(FT_ERR_CONFIG, "%s: \"size\" must be a number or {\"height\", \"width\"}", name);
    }
    if (p->height < 1 || p->width < 1 || p->height > 8192 || p->width > 8192)
        return ft_fail(FT_ERR_CONFIG, "%s: size %dx%d out of range (1..8192)", name, p->width, p->height);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(o, "resample");
    if (rs && !cJSON_IsNull(rs)) {
        if (!cJSON_IsNumber(rs) || !(rs->valuedouble >= 0 && rs->valuedouble <= 5) ||
            rs->valuedouble != floor(rs->valuedouble))
            return ft_fail(FT_ERR_CONFIG, "%s: \"resample\" must be a PIL resampling code 0..5", name);
        p->resample = rs->valueint;
    }
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(o, "rescale_factor");
    if (rf && !cJSON_IsNull(rf)) {
        if (!cJSON_IsNumber(rf) || !isfinite(rf->valuedouble) || rf->valuedouble <= 0)
            return ft_fail(FT_ERR_CONFIG, "%s: \"rescale_factor\" must be a positive number", name);
        p->rescale_factor = rf->valuedouble;
    }
    int nm = p->n_mean, ns = p->n_mean;
    FT_TRY(get_stats(o, "image_mean", name, p->mean, &nm));
    FT_TRY(get_stats(o, "image_std", name, p->std, &ns));
    if (nm != ns)
        return ft_fail(FT_ERR_CONFIG, "%s: image_mean has %d values, image_std %d", name, nm, ns);
    p->n_mean = nm;
    for (int i = 0; i < nm; i++)
        if (p->std[i] == 0)
            return ft_fail(FT_ERR_CONFIG, "%s: image_std[%d] is 0", name, i);
    return FT_OK;
}

ft_status ft_img_proc_parse(const char *text, const char *name, ft_img_proc *p) {
    ft_img_proc_default(p, 224, 3);
    p->do_convert_rgb = false; /* transformers' default for ViTImageProcessor: None */
    cJSON *o = cJSON_Parse(text);
    if (!o)
        return ft_fail(FT_ERR_FORMAT, "%s: not valid JSON", name);
    ft_status st = parse_obj(o, name, p);
    cJSON_Delete(o);
    return st;
}

ft_status ft_img_proc_load(const char *path, ft_img_proc *p) {
    char *text;
    size_t n;
    FT_TRY(ft_read_file(path, &text, &n));
    ft_status st = ft_img_proc_parse(text, path, p);
    free(text);
    return st;
}

ft_status ft_img_proc_save(const char *path, const ft_img_proc *p) {
    cJSON *o = cJSON_CreateObject(), *sz = cJSON_CreateObject();
    cJSON *mean = cJSON_CreateArray(), *std = cJSON_CreateArray();
    if (!o || !sz || !mean || !std) {
        cJSON_Delete(o), cJSON_Delete(sz), cJSON_Delete(mean), cJSON_Delete(std);
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory", path);
    }
    cJSON_AddBoolToObject(o, "do_convert_rgb", p->do_convert_rgb);
    cJSON_AddBoolToObject(o, "do_normalize", p->do_normalize);
    cJSON_AddBoolToObject(o, "do_rescale", p->do_rescale);
    cJSON_AddBoolToObject(o, "do_resize", p->do_resize);
    for (int i = 0; i < p->n_mean; i++) {
        cJSON_AddItemToArray(mean, cJSON_CreateNumber(p->mean[i]));
        cJSON_AddItemToArray(std, cJSON_CreateNumber(p->std[i]));
    }
    cJSON_AddItemToObject(o, "image_mean", mean);
    cJSON_AddStringToObject(o, "image_processor_type", "ViTImageProcessor");
    cJSON_AddItemToObject(o, "image_std", std);
    cJSON_AddNumberToObject(o, "resample", p->resample);
    cJSON_AddNumberToObject(o, "rescale_factor", p->rescale_factor);
    cJSON_AddNumberToObject(sz, "height", p->height);
    cJSON_AddNumberToObject(sz, "width", p->width);
    cJSON_AddItemToObject(o, "size", sz);
    ft_status st = ft_json_write_file(path, o, true);
    cJSON_Delete(o);
    return st;
}

/* ---------------- PIL Image.convert ---------------- */
ft_status ft_img_convert(const ft_img *in, int channels, ft_img *out) {
    if (channels != 1 && channels != 3)
        return ft_fail(FT_ERR_ARG, "image conversion to %d channels (1 or 3 supported)", channels);
    size_t np = (size_t)in->w * (size_t)in->h;
    uint8_t *px = malloc(np * (size_t)channels);
    if (!px)
        return ft_fail(FT_ERR_NOMEM, "out of memory converting a %dx%d image", in->w, in->h);
    for (size_t i = 0; i < np; i++) {
        const uint8_t *s = in->px + i * (size_t)in->c;
        uint8_t *d = px + i * (size_t)channels;
        bool rgb = in->c >= 3;
        if (channels == 3) {
            d[0] = s[0], d[1] = rgb ? s[1] : s[0], d[2] = rgb ? s[2] : s[0];
        } else { /* PIL's L24: (r*19595 + g*38470 + b*7471 + 0x8000) >> 16 */
            d[0] = rgb ? (uint8_t)((s[0] * 19595u + s[1] * 38470u + s[2] * 7471u + 0x8000u) >> 16) : s[0];
        }
    }
    *out = (ft_img){.w = in->w, .h = in->h, .c = channels, .px = px, .owned = true};
    return FT_OK;
}

/* ---------------- PIL Image.resize (Resample.c semantics, our code) ---------------- */
static double f_box(double x) {
    return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
}
static double f_bilinear(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}
static double f_hamming(double x) {
    x = fabs(x);
    if (x == 0.0)
        return 1.0;
    if (x >= 1.0)
        return 0.0;
    x *= M_PI;
    return sin(x) / x * (0.54f + 0.46f * cos(x)); /* float constants, as Pillow writes them */
}
static double f_bicubic(double x) { /* Keys cubic, a = -0.5 */
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}
static double sinc(double x) {
    if (x == 0.0)
        return 1.0;
    x *= M_PI;
    return sin(x) / x;
}
static double f_lanczos(double x) {
    return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
}

typedef struct {
    double (*f)(double);
    double support;
} rfilter;

#define PREC_BITS (32 - 8 - 2)

/* Coefficients of one axis: out pixel i reads in[bounds[2i] .. + bounds[2i+1]) with weights k[i*ks ..],
 * the filter stretched by the scale when reducing, normalized to sum 1, then to 22-bit fixed point. */
static ft_status axis_coeffs(int in_size, int out_size, rfilter flt, int *ks_out, int **bounds_out,
                             int32_t **k_out) {
    double scale = (double)in_size / out_size, fscale = scale < 1.0 ? 1.0 : scale;
    double support = flt.support * fscale;
    int ks = (int)ceil(support) * 2 + 1;
    double *kd = malloc(sizeof(double) * (size_t)out_size * (size_t)ks);
    int32_t *k = malloc(sizeof(int32_t) * (size_t)out_size * (size_t)ks);
    int *b = malloc(sizeof(int) * 2 * (size_t)out_size);
    if (!kd || !k || !b) {
        free(kd), free(k), free(b);
        return ft_fail(FT_ERR_NOMEM, "out of memory resizing");
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / fscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        double *kk = kd + (size_t)xx * (size_t)ks;
        int x = 0;
        for (; x < xmax; x++) {
            kk[x] = flt.f((x + xmin - center + 0.5) * ss);
            ww += kk[x];
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0)
                kk[x] /= ww;
        for (; x < ks; x++)
            kk[x] = 0;
        b[2 * xx] = xmin;
        b[2 * xx + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * (size_t)ks; i++)
        k[i] = (int32_t)(kd[i] < 0 ? -0.5 + kd[i] * (1 << PREC_BITS) : 0.5 + kd[i] * (1 << PREC_BITS));
    free(kd);
    *ks_out = ks;
    *bounds_out = b;
    *k_out = k;
    return FT_OK;
}

static inline uint8_t clip8(int32_t v) {
    v >>= PREC_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* out (ow × h) from in (w × h): one horizontal pass. */
static void pass_h(const ft_img *in, uint8_t *out, int ow, int ks, const int *b, const int32_t *k) {
    size_t c = (size_t)in->c;
    for (int y = 0; y < in->h; y++) {
        const uint8_t *row = in->px + (size_t)y * (size_t)in->w * c;
        for (int xx = 0; xx < ow; xx++) {
            const int32_t *kk = k + (size_t)xx * (size_t)ks;
            int xmin = b[2 * xx], xmax = b[2 * xx + 1];
            for (size_t ch = 0; ch < c; ch++) {
                int32_t ss = 1 << (PREC_BITS - 1);
                for (int x = 0; x < xmax; x++)
                    ss += row[(size_t)(x + xmin) * c + ch] * kk[x];
                out[((size_t)y * (size_t)ow + (size_t)xx) * c + ch] = clip8(ss);
            }
        }
    }
}

/* out (w × oh) from in (w × h): one vertical pass. */
static void pass_v(const ft_img *in, uint8_t *out, int oh, int ks, const int *b, const int32_t *k) {
    size_t stride = (size_t)in->w * (size_t)in->c;
    for (int yy = 0; yy < oh; yy++) {
        const int32_t *kk = k + (size_t)yy * (size_t)ks;
        int ymin = b[2 * yy], ymax = b[2 * yy + 1];
        for (size_t i = 0; i < stride; i++) {
            int32_t ss = 1 << (PREC_BITS - 1);
            for (int y = 0; y < ymax; y++)
                ss += in->px[(size_t)(y + ymin) * stride + i] * kk[y];
            out[(size_t)yy * stride + i] = clip8(ss);
        }
    }
}

/* PIL's NEAREST goes through its affine scaling: the source coordinate starts at scale/2 and is
 * accumulated by adding scale per pixel (so 6.4 * 7.5 = 48 lands on 47.999..., pixel 47), truncated. */
static void resize_nearest(const ft_img *in, uint8_t *out, int ow, int oh, int *xtab) {
    double sx = (double)in->w / ow, sy = (double)in->h / oh, xo = sx * 0.5, yo = sy * 0.5;
    size_t c = (size_t)in->c;
    for (int x = 0; x < ow; x++, xo += sx)
        xtab[x] = (int)xo < in->w ? (int)xo : in->w - 1;
    for (int y = 0; y < oh; y++, yo += sy) {
        int yi = (int)yo < in->h ? (int)yo : in->h - 1;
        for (int x = 0; x < ow; x++)
            memcpy(out + ((size_t)y * (size_t)ow + (size_t)x) * c,
                   in->px + ((size_t)yi * (size_t)in->w + (size_t)xtab[x]) * c, c);
    }
}

ft_status ft_img_resize(const ft_img *in, int ow, int oh, int resample, ft_img *out) {
    *out = (ft_img){0};
    if (ow < 1 || oh < 1 || ow > FT_IMG_MAX_SIDE || oh > FT_IMG_MAX_SIDE)
        return ft_fail(FT_ERR_ARG, "resize to %dx%d", ow, oh);
    rfilter flt;
    switch (resample) {
    case FT_RESAMPLE_NEAREST: flt = (rfilter){NULL, 0}; break;
    case FT_RESAMPLE_LANCZOS: flt = (rfilter){f_lanczos, 3.0}; break;
    case FT_RESAMPLE_BILINEAR: flt = (rfilter){f_bilinear, 1.0}; break;
    case FT_RESAMPLE_BICUBIC: flt = (rfilter){f_bicubic, 2.0}; break;
    case FT_RESAMPLE_BOX: flt = (rfilter){f_box, 0.5}; break;
    case FT_RESAMPLE_HAMMING: flt = (rfilter){f_hamming, 1.0}; break;
    default: return ft_fail(FT_ERR_ARG, "resample %d is not a PIL resampling code (0..5)", resample);
    }
    int c = in->c;
    uint8_t *px = malloc((size_t)ow * (size_t)oh * (size_t)c);
    if (!px)
        return ft_fail(FT_ERR_NOMEM, "out of memory resizing to %dx%d", ow, oh);
    *out = (ft_img){.w = ow, .h = oh, .c = c, .px = px, .owned = true};
    if (ow == in->w && oh == in->h) { /* PIL returns a copy */
        memcpy(px, in->px, (size_t)ow * (size_t)oh * (size_t)c);
        return FT_OK;
    }
    if (!flt.f) {
        int *xtab = malloc(sizeof(int) * (size_t)ow);
        if (!xtab) {
            ft_img_free(out);
            return ft_fail(FT_ERR_NOMEM, "out of memory resizing");
        }
        resize_nearest(in, px, ow, oh, xtab);
        free(xtab);
        return FT_OK;
    }
    /* horizontal pass first (when the width changes), then vertical, each clipped to 8 bits */
    ft_img mid = *in;
    int ks, *b = NULL;
    int32_t *k = NULL;
    ft_status st = FT_OK;
    if (ow != in->w) {
        if (oh == in->h) {
            st = axis_coeffs(in->w, ow, flt, &ks, &b, &k);
            if (st == FT_OK)
                pass_h(in, px, ow, ks, b, k);
            goto done;
        }
        uint8_t *t = malloc((size_t)ow * (size_t)in->h * (size_t)c);
        if (!t) {
            st = ft_fail(FT_ERR_NOMEM, "out of memory resizing");
            goto done;
        }
        if ((st = axis_coeffs(in->w, ow, flt, &ks, &b, &k)) != FT_OK) {
            free(t);
            goto done;
        }
        pass_h(in, t, ow, ks, b, k);
        free(b), free(k);
        b = NULL, k = NULL;
        mid = (ft_img){.w = ow, .h = in->h, .c = c, .px = t, .owned = true};
    }
    if ((st = axis_coeffs(in->h, oh, flt, &ks, &b, &k)) == FT_OK)
        pass_v(&mid, px, oh, ks, b, k);
    if (mid.px != in->px)
        free(mid.px);
done:
    free(b), free(k);
    if (st != FT_OK)
        ft_img_free(out);
    return st;
}

/* ---------------- augmentation ---------------- */
void ft_img_aug_default(ft_img_aug *a) {
    *a = (ft_img_aug){.crop = true,
                      .scale_min = 0.08,
                      .scale_max = 1.0,
                      .ratio_min = 3.0 / 4.0,
                      .ratio_max = 4.0 / 3.0,
                      .hflip = 0.5};
}

ft_status ft_img_aug_check(const ft_img_aug *a) {
    if (!(a->scale_min > 0 && a->scale_min <= a->scale_max && a->scale_max <= 1))
        return ft_fail(FT_ERR_CONFIG, "data.augment_crop_scale: need 0 < min <= max <= 1 (got %g, %g)",
                       a->scale_min, a->scale_max);
    if (!(a->ratio_min > 0 && a->ratio_min <= a->ratio_max && isfinite(a->ratio_max)))
        return ft_fail(FT_ERR_CONFIG, "data.augment_crop_ratio: need 0 < min <= max (got %g, %g)",
                       a->ratio_min, a->ratio_max);
    if (!(a->hflip >= 0 && a->hflip <= 1))
        return ft_fail(FT_ERR_CONFIG, "data.hflip: a probability in [0, 1] (got %g)", a->hflip);
    return FT_OK;
}

/* uniform [0, 1) with 53 bits, draw number k of the image keyed by key */
static double u01(uint64_t key, uint64_t k) {
    return (double)(ft_rng_u64(key, 0x696d67, k) >> 11) * 0x1p-53;
}

void ft_img_aug_draw(const ft_img_aug *a, int w, int h, uint64_t seed, uint64_t epoch, uint64_t index,
                     int *x0, int *y0, int *cw, int *ch, bool *flip) {
    uint64_t key = ft_rng_u64(seed, 0x617567 + epoch, index); /* (seed, epoch, index) only */
    *x0 = 0, *y0 = 0, *cw = w, *ch = h;
    *flip = a->hflip > 0 && u01(key, 100) < a->hflip;
    if (!a->crop)
        return;
    double area = (double)w * h, lr0 = log(a->ratio_min), lr1 = log(a->ratio_max);
    for (int t = 0; t < 10; t++) {
        double target = area * (a->scale_min + (a->scale_max - a->scale_min) * u01(key, 4 * (uint64_t)t));
        double ar = exp(lr0 + (lr1 - lr0) * u01(key, 4 * (uint64_t)t + 1));
        int tw = (int)nearbyint(sqrt(target * ar)), th = (int)nearbyint(sqrt(target / ar));
        if (tw > 0 && tw <= w && th > 0 && th <= h) {
            *y0 = (int)(u01(key, 4 * (uint64_t)t + 2) * (h - th + 1));
            *x0 = (int)(u01(key, 4 * (uint64_t)t + 3) * (w - tw + 1));
            *cw = tw, *ch = th;
            return;
        }
    }
    /* fallback: the centre crop of the ratio range */
    double in_ratio = (double)w / h;
    if (in_ratio < a->ratio_min)
        *cw = w, *ch = (int)nearbyint(w / a->ratio_min);
    else if (in_ratio > a->ratio_max)
        *ch = h, *cw = (int)nearbyint(h * a->ratio_max);
    if (*cw < 1)
        *cw = 1;
    if (*ch < 1)
        *ch = 1;
    *y0 = (h - *ch) / 2;
    *x0 = (w - *cw) / 2;
}

static ft_status crop(const ft_img *in, int x0, int y0, int cw, int ch, ft_img *out) {
    uint8_t *px = malloc((size_t)cw * (size_t)ch * (size_t)in->c);
    if (!px)
        return ft_fail(FT_ERR_NOMEM, "out of memory cropping");
    size_t row = (size_t)cw * (size_t)in->c;
    for (int y = 0; y < ch; y++)
        memcpy(px + (size_t)y * row, in->px + ((size_t)(y0 + y) * (size_t)in->w + (size_t)x0) * (size_t)in->c,
               row);
    *out = (ft_img){.w = cw, .h = ch, .c = in->c, .px = px, .owned = true};
    return FT_OK;
}

ft_status ft_img_preprocess(const ft_img *im, const ft_img_proc *p, int channels, const ft_img_aug *aug,
                            uint64_t seed, uint64_t epoch, uint64_t index, float *out) {
    if (p->n_mean != 1 && p->n_mean != channels && p->do_normalize)
        return ft_fail(FT_ERR_CONFIG, "preprocessor: image_mean/image_std have %d values for %d channels",
                       p->n_mean, channels);
    ft_img cv = *im, cr = {0}, rs = {0};
    cv.owned = false;
    ft_status st = FT_OK;
    if (im->c != channels && (st = ft_img_convert(im, channels, &cv)) != FT_OK)
        return st;
    const ft_img *cur = &cv;
    bool flip = false;
    if (aug) {
        int x0, y0, cw, ch;
        ft_img_aug_draw(aug, cur->w, cur->h, seed, epoch, index, &x0, &y0, &cw, &ch, &flip);
        if (aug->crop) {
            if ((st = crop(cur, x0, y0, cw, ch, &cr)) != FT_OK)
                goto done;
            cur = &cr;
            if ((st = ft_img_resize(cur, p->width, p->height, p->resample, &rs)) != FT_OK)
                goto done;
            cur = &rs;
        }
    }
    if (cur->w != p->width || cur->h != p->height) {
        if (!p->do_resize) {
            st = ft_fail(FT_ERR_SHAPE, "image is %dx%d, the model takes %dx%d and do_resize is false", cur->w,
                         cur->h, p->width, p->height);
            goto done;
        }
        if ((st = ft_img_resize(cur, p->width, p->height, p->resample, &rs)) != FT_OK)
            goto done;
        cur = &rs;
    }
    /* HF: float32(float64(u8) * rescale_factor), then (x - mean) / std in float32; channel-first */
    int W = p->width, H = p->height;
    for (int c = 0; c < channels; c++) {
        float m = (float)p->mean[p->n_mean == 1 ? 0 : c], s = (float)p->std[p->n_mean == 1 ? 0 : c];
        float *o = out + (size_t)c * (size_t)H * (size_t)W;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int sx = flip ? W - 1 - x : x;
                uint8_t u = cur->px[((size_t)y * (size_t)W + (size_t)sx) * (size_t)channels + (size_t)c];
                float v = p->do_rescale ? (float)((double)u * p->rescale_factor) : (float)u;
                o[(size_t)y * (size_t)W + (size_t)x] = p->do_normalize ? (v - m) / s : v;
            }
    }
done:
    ft_img_free(&cv);
    ft_img_free(&cr);
    ft_img_free(&rs);
    return st;
}
