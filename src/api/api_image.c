/* api/api_image: `ftune image` as library calls (include/ftune.h, FTUNE_HAS_IMAGE_FILES): probing an image
 * file, ViTImageProcessor's preprocessing of one image, and a default preprocessor_config.json, over
 * image/. Prefix ftune_image_. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_ctx.h"
#include "image/image.h"

void ftune_image_info_init(ftune_image_info *i) {
    if (!i)
        return;
    memset(i, 0, sizeof *i);
    i->struct_size = sizeof *i;
}

ftune_status ftune_image_probe(ftune_ctx *ctx, const char *path, ftune_image_info *out) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    if (!path || !out)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_image_probe: NULL path or out"));
    if (out->struct_size < sizeof(size_t) + 16)
        return api_end(ctx, ft_fail(FT_ERR_ARG,
                                    "ftune_image_info.struct_size %zu: set it with "
                                    "ftune_image_info_init",
                                    out->struct_size));
    ft_img_info in;
    ft_status s = ft_img_probe(path, &in);
    if (s != FT_OK)
        return api_end(ctx, s);
    ftune_image_info r;
    ftune_image_info_init(&r);
    snprintf(r.format, sizeof r.format, "%s", ft_img_format_name(in.format));
    snprintf(r.mode, sizeof r.mode, "%s", in.mode);
    r.width = in.w, r.height = in.h, r.bit_depth = in.bit_depth, r.orientation = in.orientation;
    r.interlaced = in.interlaced, r.alpha = in.alpha, r.count = in.count;
    size_t n = out->struct_size < sizeof r ? out->struct_size : sizeof r;
    r.struct_size = out->struct_size;
    memcpy(out, &r, n);
    return api_end(ctx, FT_OK);
}

void ftune_image_opts_init(ftune_image_opts *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->resample = -1;
    o->channels = 3;
}

/* Image `index` of path (an IDX file: that image; PNG/JPEG: index must be 0). */
static ft_status load_one(const char *path, int64_t index, ft_img *im) {
    ft_img_info in;
    FT_TRY(ft_img_load(path, im, &in));
    if (index == 0)
        return FT_OK;
    ft_img_free(im); /* an IDX file's image comes from the whole set below; a single image has only 0 */
    if (in.format != FT_IMG_IDX)
        return ft_fail(FT_ERR_ARG, "%s: image index %lld of a single image", path, (long long)index);
    ft_img_idx x;
    FT_TRY(ft_img_idx_load(path, &x));
    ft_status s = FT_OK;
    size_t sz = (size_t)x.h * (size_t)x.w;
    if (index < 0 || index >= x.n)
        s = ft_fail(FT_ERR_RANGE, "%s: image index %lld out of range (%ld images)", path, (long long)index,
                    x.n);
    else if (!(im->px = malloc(sz)))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK) {
        memcpy(im->px, x.data + (size_t)index * sz, sz);
        im->w = x.w, im->h = x.h, im->c = 1, im->owned = true;
    }
    ft_img_idx_free(&x);
    return s;
}

static ft_status preprocess(const char *path, const ftune_image_opts *o, float **pixels, int shape[3]) {
    if (o->channels != 1 && o->channels != 3)
        return ft_fail(FT_ERR_ARG, "ftune_image_preprocess: channels %d (1 or 3)", o->channels);
    if (o->size < 0 || o->size > 8192)
        return ft_fail(FT_ERR_ARG, "ftune_image_preprocess: size %d (0, or 1..8192)", o->size);
    ft_img_proc p;
    ft_img_proc_default(&p, 224, o->channels);
    if (o->config)
        FT_TRY(ft_img_proc_load(o->config, &p));
    if (o->size)
        p.height = p.width = o->size;
    if (o->resample >= 0)
        p.resample = o->resample;
    ft_img_aug aug;
    ft_img_aug_default(&aug);
    ft_img im;
    FT_TRY(load_one(path, o->index, &im));
    size_t n = (size_t)o->channels * (size_t)p.height * (size_t)p.width;
    float *v = malloc(n * sizeof *v);
    ft_status s = v ? ft_img_preprocess(&im, &p, o->channels, o->augment ? &aug : NULL, o->seed, o->epoch,
                                        (uint64_t)o->index, v)
                    : ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s != FT_OK)
        ft_fail_ctx(s, "%s", path);
    ft_img_free(&im);
    if (s == FT_OK && o->out)
        s = ft_write_file_atomic(o->out, v, n * sizeof *v); /* the host is little-endian (x86-64, aarch64) */
    if (s != FT_OK) {
        free(v);
        return s;
    }
    if (shape)
        shape[0] = o->channels, shape[1] = p.height, shape[2] = p.width;
    if (pixels)
        *pixels = v;
    else
        free(v);
    return FT_OK;
}

ftune_status ftune_image_preprocess(ftune_ctx *ctx, const char *path, const ftune_image_opts *o,
                                    float **pixels, int shape[3]) {
    if (!ctx)
        return FT_ERR_ARG;
    if (pixels)
        *pixels = NULL;
    api_begin(ctx);
    if (!path)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_image_preprocess: no image path (NULL)"));
    ftune_image_opts u;
    ftune_image_opts_init(&u);
    ft_status s =
        api_opts(&u, sizeof u, o, offsetof(ftune_image_opts, out) + sizeof u.out, /* the first layout */
                 "ftune_image_opts");
    if (s != FT_OK)
        return api_end(ctx, s);
    return api_end(ctx, preprocess(path, &u, pixels, shape));
}

ftune_status ftune_image_config_write(ftune_ctx *ctx, const char *path, int size, int channels,
                                      int resample) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    if (!path)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_image_config_write: no path (NULL)"));
    if (size < 1 || size > 8192 || (channels != 1 && channels != 3) || resample < 0 || resample > 5)
        return api_end(
            ctx, ft_fail(FT_ERR_ARG,
                         "ftune_image_config_write: size %d, channels %d, resample %d (1..8192, 1 or 3, "
                         "0..5)",
                         size, channels, resample));
    ft_img_proc p;
    ft_img_proc_default(&p, size, channels);
    p.resample = resample;
    return api_end(ctx, ft_img_proc_save(path, &p));
}
