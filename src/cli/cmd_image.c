/* ftune image <subcommand>: look at image files and preprocess them as a ViT model would (docs/vision.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "image/image.h"

static const char group_usage[] =
    "usage: ftune image info [--json] FILE...\n"
    "       ftune image preprocess [--config preprocessor_config.json] [--size N] [--resample R]\n"
    "                              [--channels 1|3] [--index I] [--augment [--seed S] [--epoch E]]\n"
    "                              [--out FILE.bin | --json] FILE\n"
    "       ftune image config [--size N] [--channels 1|3] [--resample R] OUT.json\n"
    "Images are recognized by their first bytes: PNG, JPEG, IDX (MNIST family, gzip'd or not).\n"
    "  info        format, size (after the EXIF orientation), PIL-style mode, bit depth, orientation,\n"
    "              interlacing; IDX: the number of images\n"
    "  preprocess  the model input HF's ViTImageProcessor makes of FILE: convert to --channels (3, or 1\n"
    "              for a grayscale model), resize to the config's size with its resampling (PIL's\n"
    "              Image.resize), rescale, normalize, channel-first [C][H][W] float32.\n"
    "              --config: a preprocessor_config.json (default: ViT's defaults, 224x224 bilinear,\n"
    "              rescale 1/255, mean = std = 0.5); --size/--resample override it.\n"
    "              --index: the image of an IDX file (0). --augment: the training augmentation (random\n"
    "              resized crop, horizontal flip) drawn for (--seed, --epoch, --index).\n"
    "              Output: a summary line (shape, min, max, mean); --json: {\"shape\": [C, H, W],\n"
    "              \"pixel_values\": [...]} with every float; --out: the floats, little-endian float32\n"
    "  config      write a preprocessor_config.json with ViTImageProcessor's defaults (the one\n"
    "              `ftune init --arch vit` writes)\n";

static int info_cmd(int argc, char **argv) {
    const char *pos[256];
    int npos = 0;
    bool json = false, help;
    ft_opt opts[] = {{"json", FT_OPT_FLAG, &json}};
    int rc = ft_cli_parse("image info", argc, argv, opts, 1, group_usage, pos, 256, &npos, &help);
    if (rc || help)
        return rc;
    if (npos == 0) {
        fprintf(stderr, "ftune image info: no FILE\n%s", group_usage);
        return 2;
    }
    int fails = 0;
    for (int i = 0; i < npos; i++) {
        ft_img_info in;
        ft_status s = ft_img_probe(pos[i], &in);
        if (s != FT_OK) {
            ft_cli_fail("image info", s);
            fails++;
            continue;
        }
        if (!json && !strcmp(in.mode, "labels")) {
            printf("%s: IDX labels, %ld of them\n", pos[i], in.count);
            continue;
        }
        if (json)
            printf("{\"file\": \"%s\", \"format\": \"%s\", \"width\": %d, \"height\": %d, \"mode\": \"%s\", "
                   "\"bit_depth\": %d, \"orientation\": %d, \"interlaced\": %s, \"alpha\": %s, \"count\": "
                   "%ld}\n",
                   pos[i], ft_img_format_name(in.format), in.w, in.h, in.mode, in.bit_depth, in.orientation,
                   in.interlaced ? "true" : "false", in.alpha ? "true" : "false", in.count);
        else
            printf("%s: %s %dx%d %s %d-bit%s%s%s", pos[i], ft_img_format_name(in.format), in.w, in.h, in.mode,
                   in.bit_depth, in.interlaced ? " interlaced" : "", in.alpha ? " alpha" : "",
                   in.orientation > 1 ? " exif-orientation=" : "");
        if (!json && in.orientation > 1)
            printf("%d", in.orientation);
        if (!json && in.format == FT_IMG_IDX)
            printf(" %ld images", in.count);
        if (!json)
            printf("\n");
    }
    return fails ? 1 : 0;
}

/* Image `index` of FILE (an IDX file: that image; PNG/JPEG: index must be 0). */
static ft_status load_one(const char *path, long index, ft_img *im) {
    ft_img_info in;
    FT_TRY(ft_img_load(path, im, &in));
    if (in.format != FT_IMG_IDX || index == 0)
        return index == 0 ? FT_OK : ft_fail(FT_ERR_ARG, "%s: --index %ld of a single image", path, index);
    ft_img_free(im);
    ft_img_idx x;
    FT_TRY(ft_img_idx_load(path, &x));
    ft_status s = FT_OK;
    size_t sz = (size_t)x.h * (size_t)x.w;
    if (index < 0 || index >= x.n)
        s = ft_fail(FT_ERR_RANGE, "%s: --index %ld out of range (%ld images)", path, index, x.n);
    else if (!(im->px = malloc(sz)))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK) {
        memcpy(im->px, x.data + (size_t)index * sz, sz);
        im->w = x.w, im->h = x.h, im->c = 1, im->owned = true;
    }
    ft_img_idx_free(&x);
    return s;
}

static int preprocess_cmd(int argc, char **argv) {
    const char *pos[2], *config = NULL, *outp = NULL;
    int npos = 0;
    long size = 0, resample = -1, channels = 3, index = 0, seed = 0, epoch = 0;
    bool json = false, augment = false, help;
    ft_opt opts[] = {{"config", FT_OPT_STR, &config},     {"size", FT_OPT_INT, &size},
                     {"resample", FT_OPT_INT, &resample}, {"channels", FT_OPT_INT, &channels},
                     {"index", FT_OPT_INT, &index},       {"augment", FT_OPT_FLAG, &augment},
                     {"seed", FT_OPT_INT, &seed},         {"epoch", FT_OPT_INT, &epoch},
                     {"out", FT_OPT_STR, &outp},          {"json", FT_OPT_FLAG, &json}};
    int rc = ft_cli_parse("image preprocess", argc, argv, opts, sizeof opts / sizeof *opts, group_usage, pos,
                          2, &npos, &help);
    if (rc || help)
        return rc;
    if (npos != 1 || (channels != 1 && channels != 3) || size < 0 || size > 8192) {
        fprintf(stderr, "ftune image preprocess: one FILE, --channels 1 or 3, --size 1..8192\n%s",
                group_usage);
        return 2;
    }
    ft_img_proc p;
    ft_img_proc_default(&p, 224, (int)channels);
    ft_status s = config ? ft_img_proc_load(config, &p) : FT_OK;
    if (s != FT_OK)
        return ft_cli_fail("image preprocess", s);
    if (size)
        p.height = p.width = (int)size;
    if (resample >= 0)
        p.resample = (int)resample;
    ft_img_aug aug;
    ft_img_aug_default(&aug);
    ft_img im;
    if ((s = load_one(pos[0], index, &im)) != FT_OK)
        return ft_cli_fail("image preprocess", s);
    size_t n = (size_t)channels * (size_t)p.height * (size_t)p.width;
    float *v = malloc(n * sizeof *v);
    s = v ? ft_img_preprocess(&im, &p, (int)channels, augment ? &aug : NULL, (uint64_t)seed, (uint64_t)epoch,
                              (uint64_t)index, v)
          : ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s != FT_OK)
        ft_fail_ctx(s, "%s", pos[0]);
    ft_img_free(&im);
    if (s == FT_OK && outp)
        s = ft_write_file_atomic(outp, v, n * sizeof *v); /* the host is little-endian (x86-64, aarch64) */
    if (s == FT_OK && json) {
        printf("{\"shape\": [%ld, %d, %d], \"pixel_values\": [", channels, p.height, p.width);
        for (size_t i = 0; i < n; i++)
            printf(i ? ", %.9g" : "%.9g", (double)v[i]);
        printf("]}\n");
    } else if (s == FT_OK && !outp) {
        double mn = v[0], mx = v[0], sum = 0;
        for (size_t i = 0; i < n; i++) {
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
            sum += v[i];
        }
        printf("%s: [%ld, %d, %d] min %.6g max %.6g mean %.6g\n", pos[0], channels, p.height, p.width, mn, mx,
               sum / (double)n);
    }
    free(v);
    return s == FT_OK ? 0 : ft_cli_fail("image preprocess", s);
}

static int config_cmd(int argc, char **argv) {
    const char *pos[2];
    int npos = 0;
    long size = 224, channels = 3, resample = FT_RESAMPLE_BILINEAR;
    bool help;
    ft_opt opts[] = {{"size", FT_OPT_INT, &size},
                     {"channels", FT_OPT_INT, &channels},
                     {"resample", FT_OPT_INT, &resample}};
    int rc = ft_cli_parse("image config", argc, argv, opts, 3, group_usage, pos, 2, &npos, &help);
    if (rc || help)
        return rc;
    if (npos != 1 || size < 1 || size > 8192 || (channels != 1 && channels != 3) || resample < 0 ||
        resample > 5) {
        fprintf(stderr, "ftune image config: one OUT, --size 1..8192, --channels 1 or 3, --resample 0..5\n%s",
                group_usage);
        return 2;
    }
    ft_img_proc p;
    ft_img_proc_default(&p, (int)size, (int)channels);
    p.resample = (int)resample;
    ft_status s = ft_img_proc_save(pos[0], &p);
    return s == FT_OK ? 0 : ft_cli_fail("image config", s);
}

int ft_cmd_image(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(group_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "info"))
        return info_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "preprocess"))
        return preprocess_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "config"))
        return config_cmd(argc - 1, argv + 1);
    fprintf(stderr, "ftune image: unknown subcommand '%s'\n%s", argv[1], group_usage);
    return 2;
}
