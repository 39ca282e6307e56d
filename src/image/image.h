/* image: image files → preprocessed float batches (prefix ft_img_). PNG (libpng), JPEG (libjpeg-turbo,
 * EXIF orientation applied), the IDX files of the MNIST family (plain or gzip'd); HF ViTImageProcessor's
 * preprocessing (PIL resize, rescale, normalize, channel-first) driven by preprocessor_config.json;
 * seeded training augmentation (random resized crop, horizontal flip); datasets (class folders,
 * CSV/JSONL lists, IDX pairs). docs/vision.md. Library code: errors are ft_status + ft_fail. */
#ifndef FT_IMAGE_H
#define FT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Limits checked on the header, before any pixel buffer is allocated. */
#define FT_IMG_MAX_SIDE 32768
#define FT_IMG_MAX_PIXELS (1L << 26)

typedef enum { FT_IMG_NONE = 0, FT_IMG_PNG, FT_IMG_JPEG, FT_IMG_IDX } ft_img_format;

/* An 8-bit image, interleaved, row-major: px[(y*w + x)*c + k]. c: 1 L, 2 LA, 3 RGB, 4 RGBA. */
typedef struct {
    int w, h, c;
    uint8_t *px;
    bool owned; /* px is ours to free (false: a view into a dataset's preloaded array) */
} ft_img;

/* What a file says about itself (before conversion to 8-bit L/LA/RGB/RGBA). */
typedef struct {
    ft_img_format format;
    char mode[8];    /* as PIL names it: "1", "L", "LA", "P", "RGB", "RGBA", "I;16", "CMYK" */
    int w, h;        /* after the EXIF orientation */
    int bit_depth;   /* per sample in the file */
    int orientation; /* EXIF orientation 1..8 (JPEG), 0 when absent */
    bool interlaced; /* PNG Adam7 or progressive JPEG */
    bool alpha;      /* the decoded image carries an alpha channel (RGBA/LA, palette or tRNS) */
    long count;      /* IDX: number of images (1 for PNG/JPEG) */
} ft_img_info;

const char *ft_img_format_name(ft_img_format f);
/* The format from the first bytes (PNG/JPEG/IDX signature; gzip counts as IDX), FT_IMG_NONE otherwise. */
ft_img_format ft_img_sniff(const uint8_t *data, size_t n);
/* Decode a PNG or JPEG in memory (name: the file, for messages); an IDX file gives its first image.
 * 16-bit samples keep their high byte; palettes expand to RGB(A); tRNS becomes alpha; the EXIF orientation
 * (JPEG APP1, PNG eXIf) is applied; CMYK → RGB as PIL. info may be NULL. */
ft_status ft_img_decode(const uint8_t *data, size_t n, const char *name, ft_img *out, ft_img_info *info);
/* Read and decode a PNG/JPEG file; an IDX file gives its first image. */
ft_status ft_img_load(const char *path, ft_img *out, ft_img_info *info);
/* What a file is: IDX from its header (label files too: mode "labels"); PNG/JPEG by decoding it. */
ft_status ft_img_probe(const char *path, ft_img_info *info);
void ft_img_free(ft_img *im);

/* IDX (MNIST family, big-endian header, ubyte data), read whole; `.gz` (gzip magic) through zlib.
 * idx3: n images of h×w; idx1: n labels. */
typedef struct {
    int dims; /* 1 labels, 3 images */
    long n;
    int h, w;      /* images only */
    uint8_t *data; /* n*h*w or n bytes */
} ft_img_idx;
ft_status ft_img_idx_load(const char *path, ft_img_idx *out);
/* The same from memory (name for messages); data may be gzip'd. */
ft_status ft_img_idx_parse(const uint8_t *data, size_t n, const char *name, ft_img_idx *out);
void ft_img_idx_free(ft_img_idx *x);
/* gzip'd data (name for messages) inflated into *out (malloc'd, at most 2^30 bytes). */
ft_status ft_img_gunzip(const uint8_t *data, size_t n, const char *name, uint8_t **out, size_t *out_n);

/* ---- preprocessing: HF ViTImageProcessor ---- */
/* PIL's resampling codes (Image.Resampling). */
enum {
    FT_RESAMPLE_NEAREST = 0,
    FT_RESAMPLE_LANCZOS = 1,
    FT_RESAMPLE_BILINEAR = 2,
    FT_RESAMPLE_BICUBIC = 3,
    FT_RESAMPLE_BOX = 4,
    FT_RESAMPLE_HAMMING = 5
};

typedef struct {
    bool do_convert_rgb, do_resize, do_rescale, do_normalize;
    int height, width; /* size {"height","width"} (or an int: square) */
    int resample;      /* FT_RESAMPLE_* */
    double rescale_factor;
    int n_mean; /* 1 (broadcast) or the channel count */
    double mean[4], std[4];
} ft_img_proc;

/* ViTImageProcessor's defaults for a size×size model with `channels` (1 or 3) input channels:
 * resize bilinear, rescale 1/255, normalize with mean = std = 0.5. */
void ft_img_proc_default(ft_img_proc *p, int size, int channels);
/* Parse preprocessor_config.json (path for messages); unknown processor fields are ignored, the ones
 * that change the math and are not implemented (shortest_edge sizes, do_center_crop, ...) refused by name. */
ft_status ft_img_proc_load(const char *path, ft_img_proc *p);
ft_status ft_img_proc_parse(const char *text, const char *name, ft_img_proc *p);
/* Write it as transformers writes ViTImageProcessor's (json.dumps indent 2, sorted keys), atomically. */
ft_status ft_img_proc_save(const char *path, const ft_img_proc *p);

/* Training augmentation (torchvision RandomResizedCrop + RandomHorizontalFlip). Off when NULL. */
typedef struct {
    bool crop;                   /* random resized crop to the model size */
    double scale_min, scale_max; /* area fraction, default (0.08, 1) */
    double ratio_min, ratio_max; /* aspect w/h, default (3/4, 4/3) */
    double hflip;                /* probability, default 0.5; 0 = off */
} ft_img_aug;
void ft_img_aug_default(ft_img_aug *a);
ft_status ft_img_aug_check(const ft_img_aug *a);
/* The crop box torchvision's RandomResizedCrop.get_params draws for a w×h image, with our counter-based
 * RNG keyed by (seed, epoch, index): 10 attempts, then the centre crop. Also the flip draw. */
void ft_img_aug_draw(const ft_img_aug *a, int w, int h, uint64_t seed, uint64_t epoch, uint64_t index,
                     int *x0, int *y0, int *cw, int *ch, bool *flip);

/* Channel conversion as PIL's Image.convert: to 1 ("L", ITU-R 601-2 luma) or 3 ("RGB", gray
 * replicated, alpha dropped). out->px is allocated. */
ft_status ft_img_convert(const ft_img *in, int channels, ft_img *out);
/* PIL's Image.resize on an 8-bit image (Resample.c: separable convolution, support widened by the
 * scale when reducing, 22-bit fixed-point coefficients, 8-bit clip between passes; NEAREST through
 * the affine transform). out->px is allocated. */
ft_status ft_img_resize(const ft_img *in, int ow, int oh, int resample, ft_img *out);
/* One image through the processor: convert to `channels`, [augmentation], resize, [flip], rescale,
 * normalize, out[c][y][x] with p->height × p->width (without do_resize the image must have that size). */
ft_status ft_img_preprocess(const ft_img *im, const ft_img_proc *p, int channels, const ft_img_aug *aug,
                            uint64_t seed, uint64_t epoch, uint64_t index, float *out);

/* ---- datasets ---- */
typedef struct {
    long n;
    char **paths; /* decoded lazily on each batch (NULL for IDX) */
    int *labels;  /* class index of each image */
    int n_classes;
    char **classes; /* class names (folder names, list labels, or "0".."9" for IDX) */
    ft_img_idx idx; /* IDX images, preloaded (n*h*w bytes) */
} ft_img_dataset;
/* root/<class>/ (and its subfolders) *.png, *.jpg, *.jpeg (case-insensitive; other files skipped), classes
 * sorted as torchvision's ImageFolder, files sorted by directory then name. A class folder with no image is
 * an error. */
ft_status ft_img_dataset_folder(const char *root, ft_img_dataset *ds);
/* A CSV (header with `image` and `label` columns) or JSONL ({"image": ..., "label": ...}) list; image
 * paths relative to the list's directory. labels/n_labels: the label set (NULL: the sorted distinct
 * labels of the file); a label outside it is an error naming the line. */
ft_status ft_img_dataset_list(const char *path, const char *const *labels, int n_labels, ft_img_dataset *ds);
/* An idx3 image file and its idx1 label file (same count). */
ft_status ft_img_dataset_idx(const char *images, const char *labels, ft_img_dataset *ds);
/* A CSV of pixel rows (plain or gzip'd), one image per line: the label and w·w gray values (a square
 * image, row-major), as sklearn's digits.csv.gz (64 values 0..16, then the label; no header) or Kaggle's
 * MNIST CSV (a header `label,pixel0,...`). With a header, the column named label_field holds the label;
 * without, column label_col (-1 = the last). Values are scaled to 8 bits: round(v·255/pixel_max), and must
 * lie in [0, pixel_max]; labels are integers >= 0 (classes "0".."max"). Preloaded like IDX images. */
ft_status ft_img_dataset_pixels(const char *path, double pixel_max, const char *label_field, int label_col,
                                ft_img_dataset *ds);
void ft_img_dataset_free(ft_img_dataset *ds);
/* Image i, decoded (or a view into the preloaded IDX array). */
ft_status ft_img_dataset_get(const ft_img_dataset *ds, long i, ft_img *out);
/* Fill out[B][C][H][W] (H, W from p) and labels[B] (may be NULL) for images idx[0..B), in parallel;
 * aug NULL at evaluation. The first failing image's error is returned, naming its file. */
ft_status ft_img_dataset_batch(const ft_img_dataset *ds, const long *idx, int B, const ft_img_proc *p,
                               int channels, const ft_img_aug *aug, uint64_t seed, uint64_t epoch, float *out,
                               int *labels);

#endif
