/* ftune image <subcommand>: look at image files and preprocess them as a ViT model would (docs/vision.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

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
    ftune_ctx *ctx = ft_cli_ctx("image info", 0);
    if (!ctx)
        return 1;
    int fails = 0;
    for (int i = 0; i < npos; i++) {
        ftune_image_info in;
        ftune_image_info_init(&in);
        if (ftune_image_probe(ctx, pos[i], &in) != FT_OK) {
            ft_cli_fail_ctx("image info", ctx);
            fails++;
            continue;
        }
        if (!json && !strcmp(in.mode, "labels")) {
            printf("%s: IDX labels, %lld of them\n", pos[i], (long long)in.count);
            continue;
        }
        if (json)
            printf("{\"file\": \"%s\", \"format\": \"%s\", \"width\": %d, \"height\": %d, \"mode\": \"%s\", "
                   "\"bit_depth\": %d, \"orientation\": %d, \"interlaced\": %s, \"alpha\": %s, \"count\": "
                   "%lld}\n",
                   pos[i], in.format, in.width, in.height, in.mode, in.bit_depth, in.orientation,
                   in.interlaced ? "true" : "false", in.alpha ? "true" : "false", (long long)in.count);
        else
            printf("%s: %s %dx%d %s %d-bit%s%s%s", pos[i], in.format, in.width, in.height, in.mode,
                   in.bit_depth, in.interlaced ? " interlaced" : "", in.alpha ? " alpha" : "",
                   in.orientation > 1 ? " exif-orientation=" : "");
        if (!json && in.orientation > 1)
            printf("%d", in.orientation);
        if (!json && !strcmp(in.format, "IDX"))
            printf(" %lld images", (long long)in.count);
        if (!json)
            printf("\n");
    }
    ftune_ctx_free(ctx);
    return fails ? 1 : 0;
}

/* --index of a file that has no such image: print the command's message (the library's names no option)
 * and return 1; 0 when the index is fine or the file does not probe (the preprocessing's message says why).
 */
static int bad_index(ftune_ctx *ctx, const char *path, long index) {
    ftune_image_info in;
    ftune_image_info_init(&in);
    if (index == 0 || ftune_image_probe(ctx, path, &in) != FT_OK)
        return 0;
    if (strcmp(in.format, "IDX") != 0)
        fprintf(stderr, "ftune image preprocess: %s: --index %ld of a single image\n", path, index);
    else if (index < 0 || index >= in.count)
        fprintf(stderr, "ftune image preprocess: %s: --index %ld out of range (%lld images)\n", path, index,
                (long long)in.count);
    else
        return 0;
    return 1;
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
    ftune_ctx *ctx = ft_cli_ctx("image preprocess", 0);
    if (!ctx)
        return 1;
    ftune_image_opts o;
    ftune_image_opts_init(&o);
    o.config = config;
    o.size = (int)size;
    o.resample = resample >= 0 ? (int)(resample > 1000 ? 1000 : resample) : -1; /* > 5: the library says */
    o.channels = (int)channels;
    o.index = index;
    o.augment = augment;
    o.seed = (uint64_t)seed;
    o.epoch = (uint64_t)epoch;
    o.out = outp;
    float *v = NULL;
    int shape[3] = {0, 0, 0};
    ftune_status s = ftune_image_preprocess(ctx, pos[0], &o, &v, shape);
    if (s != FT_OK) {
        char msg[1024]; /* before bad_index's probe replaces it */
        snprintf(msg, sizeof msg, "%s", ftune_last_error(ctx));
        if (!strstr(msg, ": image index ") || !bad_index(ctx, pos[0], index)) /* the library's index error */
            fprintf(stderr, "ftune image preprocess: %s\n", msg);
        ftune_ctx_free(ctx);
        return 1;
    }
    size_t n = (size_t)shape[0] * (size_t)shape[1] * (size_t)shape[2];
    if (json) {
        printf("{\"shape\": [%d, %d, %d], \"pixel_values\": [", shape[0], shape[1], shape[2]);
        for (size_t i = 0; i < n; i++)
            printf(i ? ", %.9g" : "%.9g", (double)v[i]);
        printf("]}\n");
    } else if (!outp) {
        double mn = v[0], mx = v[0], sum = 0;
        for (size_t i = 0; i < n; i++) {
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
            sum += v[i];
        }
        printf("%s: [%d, %d, %d] min %.6g max %.6g mean %.6g\n", pos[0], shape[0], shape[1], shape[2], mn, mx,
               sum / (double)n);
    }
    ftune_free(v);
    ftune_ctx_free(ctx);
    return 0;
}

static int config_cmd(int argc, char **argv) {
    const char *pos[2];
    int npos = 0;
    long size = 224, channels = 3, resample = 2; /* PIL bilinear, ViTImageProcessor's default */
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
    ftune_ctx *ctx = ft_cli_ctx("image config", 0);
    if (!ctx)
        return 1;
    rc = ftune_image_config_write(ctx, pos[0], (int)size, (int)channels, (int)resample) == FT_OK
             ? 0
             : ft_cli_fail_ctx("image config", ctx);
    ftune_ctx_free(ctx);
    return rc;
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
