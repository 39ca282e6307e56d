/* image: decoding (every PNG colour type/depth, interlaced, tRNS; JPEG with EXIF orientations; IDX plain and
 * gzip'd), errors (truncated, corrupt, zero-sized, gigantic, unsupported), PIL's convert and resize on
 * hand-computed cases, preprocessing, augmentation (determinism, geometry, thread independence), datasets
 * (folders, CSV/JSONL, IDX) and their errors. The bit-exact comparison with PIL is tests/image_pil.sh. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* after stdio.h: jpeglib.h uses FILE and size_t */
#include <jpeglib.h>
#include <omp.h>
#include <png.h>
#include <zlib.h>

#include "ft_test.h"
#include "image/image.h"

static char tmpdir[64];

static const char *tpath(const char *name) {
    static char p[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static void put(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* ---- a PNG writer (classic libpng) to memory ---- */
typedef struct {
    uint8_t *d;
    size_t n, cap;
} membuf;
static void mb_write(png_structp png, png_bytep data, size_t len) {
    membuf *m = png_get_io_ptr(png);
    if (m->n + len > m->cap) {
        m->cap = (m->n + len) * 2;
        m->d = realloc(m->d, m->cap);
    }
    memcpy(m->d + m->n, data, len);
    m->n += len;
}
static void mb_flush(png_structp png) {
    (void)png;
}

/* The sample of channel k at (x, y) in a `depth`-bit image: a pattern covering the range. */
static unsigned sample(int x, int y, int k, int depth) {
    unsigned v = (unsigned)(x * 37 + y * 91 + k * 53) & 255;
    return depth == 16 ? v * 257u ^ (unsigned)(x & 1) : v >> (8 - depth);
}

/* w×h PNG of color type ct, bit depth, interlace; palette: 16 entries (i*16, 255-i*16, i) with
 * alpha 255-i*8 when trns. Gray+trns: the gray value 0 is transparent. */
static membuf make_png(int w, int h, int ct, int depth, bool interlace, bool trns) {
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop pi = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "png write failed\n");
        exit(2);
    }
    png_set_write_fn(png, &m, mb_write, mb_flush);
    png_set_IHDR(png, pi, (png_uint_32)w, (png_uint_32)h, depth, ct,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (ct == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[16];
        png_byte alpha[16];
        for (int i = 0; i < 16; i++) {
            pal[i] = (png_color){(png_byte)(i * 16), (png_byte)(255 - i * 16), (png_byte)i};
            alpha[i] = (png_byte)(255 - i * 8);
        }
        png_set_PLTE(png, pi, pal, 1 << (depth < 4 ? depth : 4));
        if (trns)
            png_set_tRNS(png, pi, alpha, 1 << (depth < 4 ? depth : 4), NULL);
    } else if (trns) {
        png_color_16 t = {0};
        png_set_tRNS(png, pi, NULL, 0, &t);
    }
    png_write_info(png, pi);
    int ch = ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_PALETTE ? 1
             : ct == PNG_COLOR_TYPE_GA                                 ? 2
             : ct == PNG_COLOR_TYPE_RGB                                ? 3
                                                                       : 4;
    size_t rb = ((size_t)w * (size_t)ch * (size_t)depth + 7) / 8;
    uint8_t *img = calloc(rb * (size_t)h, 1);
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++) {
        rows[y] = img + rb * (size_t)y;
        for (int x = 0; x < w; x++)
            for (int k = 0; k < ch; k++) {
                int pd = ct == PNG_COLOR_TYPE_PALETTE ? (depth < 4 ? depth : 4) : depth;
                unsigned v = sample(x, y, k, pd);
                size_t i = (size_t)x * (size_t)ch + (size_t)k;
                if (depth == 16) {
                    rows[y][2 * i] = (uint8_t)(v >> 8);
                    rows[y][2 * i + 1] = (uint8_t)v;
                } else if (depth == 8) {
                    rows[y][i] = (uint8_t)v;
                } else {
                    size_t bit = i * (size_t)depth;
                    rows[y][bit / 8] |= (uint8_t)(v << (8 - (size_t)depth - bit % 8));
                }
            }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &pi);
    free(rows);
    free(img);
    return m;
}

FT_TEST(png_every_colour_type) {
    struct {
        int ct, depth;
        bool trns;
        int out_c;
    } cases[] = {{PNG_COLOR_TYPE_GRAY, 1, false, 1},   {PNG_COLOR_TYPE_GRAY, 2, false, 1},
                 {PNG_COLOR_TYPE_GRAY, 4, false, 1},   {PNG_COLOR_TYPE_GRAY, 8, false, 1},
                 {PNG_COLOR_TYPE_GRAY, 16, false, 1},  {PNG_COLOR_TYPE_GRAY, 8, true, 2},
                 {PNG_COLOR_TYPE_GA, 8, false, 2},     {PNG_COLOR_TYPE_GA, 16, false, 2},
                 {PNG_COLOR_TYPE_RGB, 8, false, 3},    {PNG_COLOR_TYPE_RGB, 16, false, 3},
                 {PNG_COLOR_TYPE_RGB, 8, true, 4},     {PNG_COLOR_TYPE_RGBA, 8, false, 4},
                 {PNG_COLOR_TYPE_RGBA, 16, false, 4},  {PNG_COLOR_TYPE_PALETTE, 8, false, 3},
                 {PNG_COLOR_TYPE_PALETTE, 4, true, 4}, {PNG_COLOR_TYPE_PALETTE, 1, false, 3},
                 {PNG_COLOR_TYPE_PALETTE, 2, true, 4}};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
        for (int il = 0; il < 2; il++) {
            int w = 13, h = 9, ct = cases[ci].ct, depth = cases[ci].depth;
            membuf m = make_png(w, h, ct, depth, il, cases[ci].trns);
            ft_img im;
            ft_img_info in;
            FT_CHECK_OK(ft_img_decode(m.d, m.n, "t.png", &im, &in));
            FT_CHECKF(im.w == w && im.h == h && im.c == cases[ci].out_c, "case %zu: %dx%dx%d", ci, im.w, im.h,
                      im.c);
            FT_CHECK(in.format == FT_IMG_PNG && in.bit_depth == depth && in.interlaced == (il == 1));
            int bad = 0;
            for (int y = 0; y < h && im.px && im.c == cases[ci].out_c; y++)
                for (int x = 0; x < w; x++)
                    for (int k = 0; k < im.c; k++) {
                        unsigned want,
                            got = im.px[((size_t)y * (size_t)w + (size_t)x) * (size_t)im.c + (size_t)k];
                        if (ct == PNG_COLOR_TYPE_PALETTE) {
                            unsigned i = sample(x, y, 0, depth < 4 ? depth : 4);
                            want = k == 0 ? i * 16 : k == 1 ? 255 - i * 16 : k == 2 ? i : 255 - i * 8;
                        } else if (cases[ci].trns && k == im.c - 1) { /* tRNS: colour 0 is transparent */
                            bool zero = true;
                            for (int q = 0; q < im.c - 1; q++)
                                zero = zero && sample(x, y, q, depth) == 0;
                            want = zero ? 0 : 255;
                        } else {
                            unsigned v = sample(x, y, k, depth);
                            /* low depths scale to 8 bits (v * 255 / max), 16 bits keep the high byte */
                            want = depth == 16 ? v >> 8 : depth == 8 ? v : v * 255 / ((1u << depth) - 1);
                        }
                        bad += got != want;
                    }
            FT_CHECKF(bad == 0, "case %zu interlace %d: %d samples differ", ci, il, bad);
            ft_img_free(&im);
            free(m.d);
        }
}

FT_TEST(png_errors) {
    membuf m = make_png(20, 20, PNG_COLOR_TYPE_RGB, 8, false, false);
    ft_img im;
    FT_CHECK_FAILS(ft_img_decode(m.d, m.n / 2, "half.png", &im, NULL), FT_ERR_FORMAT,
                   "half.png: corrupt PNG: truncated");
    FT_CHECK(im.px == NULL);
    m.d[m.n - 20] ^= 0x55; /* inside IDAT: its CRC no longer matches */
    FT_CHECK_FAILS(ft_img_decode(m.d, m.n, "crc.png", &im, NULL), FT_ERR_FORMAT, "crc.png: corrupt PNG");
    /* a hand-made header: width/height patched (CRC recomputed) */
    uint8_t hdr[33 + 12];
    memcpy(hdr, "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
    static const struct {
        uint32_t w, h;
        ft_status st;
        const char *msg;
    } dims[] = {{30000, 30000, FT_ERR_RANGE, "exceeds the limit"},
                {40000, 1, FT_ERR_RANGE, "exceeds the limit"},
                {0, 5, FT_ERR_FORMAT, "big.png"}};
    for (size_t i = 0; i < 3; i++) {
        uint8_t *p = hdr + 16;
        uint32_t w = dims[i].w, h = dims[i].h;
        uint8_t f[13] = {(uint8_t)(w >> 24),
                         (uint8_t)(w >> 16),
                         (uint8_t)(w >> 8),
                         (uint8_t)w,
                         (uint8_t)(h >> 24),
                         (uint8_t)(h >> 16),
                         (uint8_t)(h >> 8),
                         (uint8_t)h,
                         8,
                         2,
                         0,
                         0,
                         0};
        memcpy(p, f, 13);
        uLong crc = crc32(0, hdr + 12, 17);
        uint8_t c[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
        memcpy(hdr + 29, c, 4);
        memcpy(hdr + 33, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
        FT_CHECK_FAILS(ft_img_decode(hdr, sizeof hdr, "big.png", &im, NULL), dims[i].st, dims[i].msg);
    }
    FT_CHECK_FAILS(ft_img_decode((const uint8_t *)"GIF89a\1\0\1\0", 10, "a.gif", &im, NULL),
                   FT_ERR_UNSUPPORTED, "a.gif: not a PNG, JPEG or IDX");
    FT_CHECK_FAILS(ft_img_decode((const uint8_t *)"", 0, "empty.png", &im, NULL), FT_ERR_FORMAT,
                   "empty.png: empty");
    FT_CHECK_FAILS(ft_img_load(tpath("missing.png"), &im, NULL), FT_ERR_IO, "missing.png");
    free(m.d);
}

/* ---- JPEG ---- */
/* 16×8 image, quadrants red | green over blue | white, quality 100 4:4:4, with an EXIF orientation
 * (0: no APP1), big-endian TIFF when mm. */
static membuf make_jpeg(int orientation, bool mm, bool gray) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &buf, &n);
    c.image_width = 16;
    c.image_height = 8;
    c.input_components = gray ? 1 : 3;
    c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    for (int i = 0; i < c.num_components; i++)
        c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    jpeg_start_compress(&c, TRUE);
    if (orientation) {
        uint8_t ex[6 + 8 + 2 + 12 + 4] = "Exif\0\0";
        uint8_t *t = ex + 6;
        if (mm)
            memcpy(t, "MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01", 18), t[18] = 0,
                                                                            t[19] = (uint8_t)orientation;
        else
            memcpy(t, "II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0", 18), t[18] = (uint8_t)orientation,
                                                                            t[19] = 0;
        jpeg_write_marker(&c, JPEG_APP0 + 1, ex, sizeof ex);
    }
    uint8_t row[16 * 3];
    for (int y = 0; y < 8; y++) {
        for (int x = 0; x < 16; x++) {
            static const uint8_t q[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
            const uint8_t *v = q[(y >= 4) * 2 + (x >= 8)];
            if (gray)
                row[x] = (uint8_t)(y * 16 + x);
            else
                memcpy(row + x * 3, v, 3);
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return (membuf){buf, n, n};
}

FT_TEST(jpeg_exif_orientations) {
    /* the corners (TL, TR, BL, BR) of the displayed image for each orientation, as PIL's exif_transpose
     * shows them: R G B W = red, green, blue, white */
    static const char *const want[9] = {"RGBW", "RGBW", "GRWB", "WBGR", "BWRG",
                                        "RBGW", "BRWG", "WGBR", "GWRB"};
    for (int o = 0; o <= 8; o++)
        for (int mm = 0; mm < 2; mm++) {
            membuf m = make_jpeg(o, mm, false);
            ft_img im;
            ft_img_info in;
            FT_CHECK_OK(ft_img_decode(m.d, m.n, "o.jpg", &im, &in));
            bool swap = o >= 5;
            FT_CHECKF(im.w == (swap ? 8 : 16) && im.h == (swap ? 16 : 8) && im.c == 3, "o=%d: %dx%d", o, im.w,
                      im.h);
            FT_CHECK(in.orientation == o && in.format == FT_IMG_JPEG && !strcmp(in.mode, "RGB"));
            char got[5] = "????";
            int xs[4] = {0, im.w - 1, 0, im.w - 1}, ys[4] = {0, 0, im.h - 1, im.h - 1};
            for (int k = 0; k < 4 && im.px; k++) {
                const uint8_t *p = im.px + ((size_t)ys[k] * (size_t)im.w + (size_t)xs[k]) * 3;
                got[k] = p[0] > 200 && p[1] > 200 ? 'W'
                         : p[0] > 200             ? 'R'
                         : p[1] > 200             ? 'G'
                         : p[2] > 200             ? 'B'
                                                  : '?';
            }
            FT_CHECKF(!strcmp(got, want[o]), "orientation %d (%s): corners %s, want %s", o, mm ? "MM" : "II",
                      got, want[o]);
            ft_img_free(&im);
            free(m.d);
        }
}

FT_TEST(jpeg_gray_and_errors) {
    membuf m = make_jpeg(0, false, true);
    ft_img im;
    ft_img_info in;
    FT_CHECK_OK(ft_img_decode(m.d, m.n, "g.jpg", &im, &in));
    FT_CHECK(im.c == 1 && im.w == 16 && !strcmp(in.mode, "L"));
    int maxd = 0; /* quality 100: within a couple of levels of the input */
    for (int i = 0; im.px && i < 16 * 8; i++) {
        int d = abs(im.px[i] - ((i / 16) * 16 + i % 16));
        maxd = d > maxd ? d : maxd;
    }
    FT_CHECKF(maxd <= 2, "gray JPEG off by %d", maxd);
    ft_img_free(&im);
    FT_CHECK_FAILS(ft_img_decode(m.d, m.n * 2 / 3, "cut.jpg", &im, NULL), FT_ERR_FORMAT,
                   "cut.jpg: truncated JPEG");
    FT_CHECK_FAILS(ft_img_decode(m.d, 40, "head.jpg", &im, NULL), FT_ERR_FORMAT, "head.jpg: truncated JPEG");
    /* SOF0 dimensions patched to 40000×40000: refused before any pixel buffer */
    for (size_t i = 2; i + 9 < m.n; i++)
        if (m.d[i] == 0xff && m.d[i + 1] == 0xc0) {
            m.d[i + 5] = 0x9c, m.d[i + 6] = 0x40, m.d[i + 7] = 0x9c, m.d[i + 8] = 0x40;
            break;
        }
    FT_CHECK_FAILS(ft_img_decode(m.d, m.n, "huge.jpg", &im, NULL), FT_ERR_RANGE,
                   "huge.jpg: image of 40000x40000");
    uint8_t junk[64] = {0xff, 0xd8, 0xff, 0xe0, 0, 4, 1, 2};
    FT_CHECK_FAILS(ft_img_decode(junk, sizeof junk, "junk.jpg", &im, NULL), FT_ERR_FORMAT, "junk.jpg:");
    free(m.d);
}

/* ---- IDX ---- */
static membuf gzip_bytes(const uint8_t *d, size_t n) {
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    membuf m = {malloc(n + 256), 0, n + 256};
    z.next_in = (Bytef *)d, z.avail_in = (uInt)n, z.next_out = m.d, z.avail_out = (uInt)m.cap;
    deflate(&z, Z_FINISH);
    m.n = m.cap - z.avail_out;
    deflateEnd(&z);
    return m;
}

static size_t idx3(uint8_t *b, int n, int h, int w) {
    uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)n, 0, 0, 0, (uint8_t)h, 0, 0, 0, (uint8_t)w};
    memcpy(b, hdr, 16);
    for (int i = 0; i < n * h * w; i++)
        b[16 + i] = (uint8_t)(i * 7);
    return 16 + (size_t)n * (size_t)h * (size_t)w;
}

FT_TEST(idx_files) {
    uint8_t b[16 + 3 * 2 * 3];
    size_t n = idx3(b, 3, 2, 3);
    ft_img_idx x;
    FT_CHECK_OK(ft_img_idx_parse(b, n, "x.idx3", &x));
    FT_CHECK(x.dims == 3 && x.n == 3 && x.h == 2 && x.w == 3 && x.data && x.data[17] == (uint8_t)(17 * 7));
    ft_img_idx_free(&x);
    membuf g = gzip_bytes(b, n);
    FT_CHECK_OK(ft_img_idx_parse(g.d, g.n, "x.idx3.gz", &x));
    FT_CHECK(x.n == 3 && x.data && x.data[5] == 35);
    ft_img_idx_free(&x);
    FT_CHECK_FAILS(ft_img_idx_parse(g.d, g.n - 9, "cut.gz", &x), FT_ERR_FORMAT, "cut.gz: truncated gzip");
    FT_CHECK_FAILS(ft_img_idx_parse(b, n - 1, "short.idx3", &x), FT_ERR_FORMAT,
                   "short.idx3: IDX header says");
    b[3] = 2;
    FT_CHECK_FAILS(ft_img_idx_parse(b, n, "bad.idx", &x), FT_ERR_FORMAT, "bad.idx: not an IDX ubyte file");
    free(g.d);
    const char *img = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
               *lab = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    if (access(img, R_OK) != 0) {
        printf("  (no dataset-fashion-mnist: the real-file check skipped)\n");
        return;
    }
    /* the expected values were read with Python's gzip + numpy */
    ft_img_dataset ds;
    FT_CHECK_OK(ft_img_dataset_idx(img, lab, &ds));
    FT_CHECK(ds.n == 10000 && ds.idx.h == 28 && ds.idx.w == 28 && ds.n_classes == 10);
    FT_CHECK(ds.labels && ds.labels[0] == 9 && ds.labels[1] == 2 && ds.labels[4] == 6);
    long sum = 0;
    for (int i = 0; ds.idx.data && i < 28 * 28; i++)
        sum += ds.idx.data[i];
    FT_CHECK(sum == 33456 && ds.idx.data[14 * 28 + 14] == 110);
    ft_img_dataset_free(&ds);
    FT_CHECK_FAILS(ft_img_dataset_idx(lab, img, &ds), FT_ERR_FORMAT, "where images (idx3) were expected");
}

/* ---- convert / resize / preprocess ---- */
FT_TEST(convert_and_resize_by_hand) {
    uint8_t rgb[9] = {255, 0, 0, 0, 255, 0, 0, 0, 255};
    ft_img in = {.w = 3, .h = 1, .c = 3, .px = rgb}, out;
    FT_CHECK_OK(ft_img_convert(&in, 1, &out)); /* PIL: L of pure red, green, blue */
    FT_CHECK(out.px && out.px[0] == 76 && out.px[1] == 150 && out.px[2] == 29);
    ft_img_free(&out);
    uint8_t la[4] = {10, 0, 200, 255};
    ft_img g = {.w = 2, .h = 1, .c = 2, .px = la};
    FT_CHECK_OK(ft_img_convert(&g, 3, &out)); /* alpha dropped, gray replicated */
    FT_CHECK(out.px && out.c == 3 && out.px[0] == 10 && out.px[2] == 10 && out.px[3] == 200 &&
             out.px[5] == 200);
    ft_img_free(&out);
    /* bilinear 4 -> 2: the filter widens to support 2; out[0] = (3*0 + 3*100 + 1*200) / 7 = 71.4 -> 71,
     * out[1] = (1*100 + 3*200 + 3*255) / 7 = 209.3 -> 209 */
    uint8_t row[4] = {0, 100, 200, 255};
    ft_img r = {.w = 4, .h = 1, .c = 1, .px = row};
    FT_CHECK_OK(ft_img_resize(&r, 2, 1, FT_RESAMPLE_BILINEAR, &out));
    FT_CHECK(out.px && out.px[0] == 71 && out.px[1] == 209);
    ft_img_free(&out);
    /* bilinear 2 -> 4 (no widening): centers 0.25, 0.75, 1.25, 1.75 -> 0, 25, 75, 100 of [0, 100], edges
     * clamp */
    uint8_t two[2] = {0, 100};
    ft_img t = {.w = 2, .h = 1, .c = 1, .px = two};
    FT_CHECK_OK(ft_img_resize(&t, 4, 1, FT_RESAMPLE_BILINEAR, &out));
    FT_CHECK(out.px && out.px[0] == 0 && out.px[1] == 25 && out.px[2] == 75 && out.px[3] == 100);
    ft_img_free(&out);
    /* nearest 4 -> 2 picks 1 and 3; same size is a copy; bad arguments refused */
    FT_CHECK_OK(ft_img_resize(&r, 2, 1, FT_RESAMPLE_NEAREST, &out));
    FT_CHECK(out.px && out.px[0] == 100 && out.px[1] == 255);
    ft_img_free(&out);
    FT_CHECK_OK(ft_img_resize(&r, 4, 1, FT_RESAMPLE_BICUBIC, &out));
    FT_CHECK(out.px && !memcmp(out.px, row, 4));
    ft_img_free(&out);
    FT_CHECK_FAILS(ft_img_resize(&r, 2, 1, 7, &out), FT_ERR_ARG, "resample 7");
    FT_CHECK_FAILS(ft_img_resize(&r, 0, 1, 2, &out), FT_ERR_ARG, "resize to 0x1");
}

FT_TEST(preprocess_layout_and_math) {
    /* 2×1 RGB, no resize: out[c][y][x] = (u/255 - 0.5) / 0.5 in float32 */
    uint8_t px[6] = {255, 0, 51, 0, 255, 102};
    ft_img im = {.w = 2, .h = 1, .c = 3, .px = px};
    ft_img_proc p;
    ft_img_proc_default(&p, 1, 3);
    p.width = 2;
    float out[6];
    FT_CHECK_OK(ft_img_preprocess(&im, &p, 3, NULL, 0, 0, 0, out));
    float want[6] = {1, -1, -1, 1, ((float)(51.0 / 255) - 0.5f) / 0.5f, ((float)(102.0 / 255) - 0.5f) / 0.5f};
    for (int i = 0; i < 6; i++)
        FT_CHECKF(out[i] == want[i], "out[%d] = %.9g, want %.9g", i, out[i], want[i]);
    p.do_resize = false;
    p.width = 3;
    FT_CHECK_FAILS(ft_img_preprocess(&im, &p, 3, NULL, 0, 0, 0, out), FT_ERR_SHAPE, "do_resize is false");
    p.width = 2;
    p.n_mean = 2;
    FT_CHECK_FAILS(ft_img_preprocess(&im, &p, 3, NULL, 0, 0, 0, out), FT_ERR_CONFIG,
                   "2 values for 3 channels");
}

FT_TEST(processor_config) {
    ft_img_proc p;
    FT_CHECK_OK(
        ft_img_proc_parse("{\"do_normalize\": true, \"do_resize\": true, \"image_mean\": [0.485, 0.456, "
                          "0.406], \"image_std\": [0.229, 0.224, 0.225], \"resample\": 3, \"size\": 384}",
                          "vit.json", &p));
    FT_CHECK(p.height == 384 && p.width == 384 && p.resample == 3 && p.n_mean == 3 && p.std[2] == 0.225);
    FT_CHECK(p.do_rescale && p.rescale_factor == 1.0 / 255 && !p.do_convert_rgb);
    FT_CHECK_OK(ft_img_proc_parse("{\"size\": {\"height\": 32, \"width\": 48}, \"do_convert_rgb\": null, "
                                  "\"image_mean\": 0.1307, \"image_std\": 0.3081}",
                                  "m.json", &p));
    FT_CHECK(p.height == 32 && p.width == 48 && p.n_mean == 1 && p.mean[0] == 0.1307);
    FT_CHECK_FAILS(ft_img_proc_parse("{\"size\": {\"shortest_edge\": 224}}", "se.json", &p),
                   FT_ERR_UNSUPPORTED, "se.json: size.shortest_edge");
    FT_CHECK_FAILS(ft_img_proc_parse("{\"do_center_crop\": true}", "cc.json", &p), FT_ERR_UNSUPPORTED,
                   "cc.json: \"do_center_crop\"");
    FT_CHECK_FAILS(ft_img_proc_parse("{\"resample\": 9}", "r.json", &p), FT_ERR_CONFIG,
                   "r.json: \"resample\"");
    FT_CHECK_FAILS(ft_img_proc_parse("{\"image_mean\": [1, 2], \"image_std\": [1]}", "ms.json", &p),
                   FT_ERR_CONFIG, "ms.json: image_mean has 2 values");
    FT_CHECK_FAILS(ft_img_proc_parse("{\"image_mean\": [0], \"image_std\": [0]}", "z.json", &p),
                   FT_ERR_CONFIG, "z.json: image_std[0] is 0");
    FT_CHECK_FAILS(ft_img_proc_parse("{", "bad.json", &p), FT_ERR_FORMAT, "bad.json: not valid JSON");
    /* numbers far outside int are refused, not cast (fuzz/regress/image/config-size-huge) */
    FT_CHECK_FAILS(ft_img_proc_parse("{\"size\": 3e54}", "h.json", &p), FT_ERR_CONFIG,
                   "h.json: size 3e+54 is not a whole number");
    FT_CHECK_FAILS(ft_img_proc_parse("{\"size\": {\"height\": 1e300, \"width\": 8}}", "h2.json", &p),
                   FT_ERR_CONFIG, "h2.json: size 8x1e+300 (width x height) is not whole");
    FT_CHECK_FAILS(ft_img_proc_parse("{\"resample\": 1e30}", "r2.json", &p), FT_ERR_CONFIG,
                   "r2.json: \"resample\" must be a PIL resampling code 0..5");
    /* save then load gives the same processor */
    ft_img_proc a, b;
    ft_img_proc_default(&a, 28, 1);
    a.resample = FT_RESAMPLE_BICUBIC;
    FT_CHECK_OK(ft_img_proc_save(tpath("pp.json"), &a));
    FT_CHECK_OK(ft_img_proc_load(tpath("pp.json"), &b));
    FT_CHECK(b.height == 28 && b.width == 28 && b.resample == 3 && b.n_mean == 1 && b.mean[0] == 0.5 &&
             !b.do_convert_rgb && b.do_rescale && b.rescale_factor == a.rescale_factor);
}

/* ---- augmentation ---- */
FT_TEST(augment_geometry_and_determinism) {
    ft_img_aug a;
    ft_img_aug_default(&a);
    FT_CHECK_OK(ft_img_aug_check(&a));
    int flips = 0, changed = 0;
    for (int i = 0; i < 2000; i++) {
        int x0, y0, cw, ch, x1, y1, cw1, ch1;
        bool f, f1;
        ft_img_aug_draw(&a, 64, 48, 7, 1, (uint64_t)i, &x0, &y0, &cw, &ch, &f);
        FT_CHECK(x0 >= 0 && y0 >= 0 && cw >= 1 && ch >= 1 && x0 + cw <= 64 && y0 + ch <= 48);
        double area = (double)cw * ch / (64 * 48), ratio = (double)cw / ch;
        /* rounding w and h to integers moves area and ratio a little past the drawn ranges */
        FT_CHECKF(area > 0.05 && area <= 1.0 && ratio > 0.6 && ratio < 1.7, "i=%d: %dx%d", i, cw, ch);
        flips += f;
        ft_img_aug_draw(&a, 64, 48, 7, 1, (uint64_t)i, &x1, &y1, &cw1, &ch1, &f1);
        FT_CHECK(x1 == x0 && y1 == y0 && cw1 == cw && ch1 == ch && f1 == f);
        ft_img_aug_draw(&a, 64, 48, 7, 2, (uint64_t)i, &x1, &y1, &cw1, &ch1, &f1);
        changed += x1 != x0 || y1 != y0 || cw1 != cw || ch1 != ch;
    }
    FT_CHECKF(flips > 900 && flips < 1100, "%d flips in 2000", flips);
    FT_CHECKF(changed > 1900, "another epoch changed only %d of 2000 crops", changed);
    /* a 100×1 strip: no attempt fits the ratio range -> centre crop of ratio 4/3 -> 1×1 at x = 49 */
    int x0, y0, cw, ch;
    bool f;
    ft_img_aug_draw(&a, 100, 1, 3, 0, 5, &x0, &y0, &cw, &ch, &f);
    FT_CHECKF(x0 == 49 && y0 == 0 && cw == 1 && ch == 1, "fallback %d,%d %dx%d", x0, y0, cw, ch);
    a.hflip = 1.5;
    FT_CHECK_FAILS(ft_img_aug_check(&a), FT_ERR_CONFIG, "data.hflip");
    /* flip alone mirrors the preprocessed image */
    ft_img_aug fl = {.hflip = 1.0};
    uint8_t px[6] = {0, 50, 100, 150, 200, 250};
    ft_img im = {.w = 3, .h = 2, .c = 1, .px = px};
    ft_img_proc p;
    ft_img_proc_default(&p, 2, 1);
    p.width = 3;
    p.do_normalize = p.do_rescale = false;
    float out[6];
    FT_CHECK_OK(ft_img_preprocess(&im, &p, 1, &fl, 1, 0, 0, out));
    FT_CHECK(out[0] == 100 && out[1] == 50 && out[2] == 0 && out[3] == 250 && out[5] == 150);
}

/* ---- datasets ---- */
static void write_png_file(const char *path, int w, int h, int ct) {
    membuf m = make_png(w, h, ct, 8, false, false);
    put(path, m.d, m.n);
    free(m.d);
}

FT_TEST(dataset_folder) {
    char root[300];
    snprintf(root, sizeof root, "%s/folder", tmpdir);
    const char *dirs[] = {"", "/dog", "/dog/sub", "/dog/sub/x", "/dog/sub-b", "/cat", "/Zebra"};
    for (size_t i = 0; i < 7; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s%s", root, dirs[i]);
        mkdir(p, 0755);
    }
    const char *files[] = {"/dog/b.png",       "/dog/a.JPG",       "/dog/sub/c.png",
                           "/dog/sub/x/e.png", "/dog/sub-b/d.png", "/dog/notes.txt",
                           "/dog/.hidden.png", "/cat/x.png",       "/Zebra/z.png"};
    for (size_t i = 0; i < 9; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s%s", root, files[i]);
        if (strstr(files[i], ".JPG")) {
            membuf m = make_jpeg(0, false, false);
            put(p, m.d, m.n);
            free(m.d);
        } else {
            write_png_file(p, 5, 4, PNG_COLOR_TYPE_RGB);
        }
    }
    ft_img_dataset ds;
    FT_CHECK_OK(ft_img_dataset_folder(root, &ds));
    /* classes sorted by code point (uppercase first, as Python's sorted); dog's own files, then sub/ */
    FT_CHECK(ds.n_classes == 3 && !strcmp(ds.classes[0], "Zebra") && !strcmp(ds.classes[1], "cat") &&
             !strcmp(ds.classes[2], "dog"));
    /* os.walk roots sorted as strings: dog/sub < dog/sub-b < dog/sub/x ('-' sorts before '/') */
    FT_CHECKF(ds.n == 7, "%ld images", ds.n);
    static const char *const order[] = {"Zebra/z.png",   "cat/x.png",       "dog/a.JPG",      "dog/b.png",
                                        "dog/sub/c.png", "dog/sub-b/d.png", "dog/sub/x/e.png"};
    static const int lab[] = {0, 1, 2, 2, 2, 2, 2};
    for (long i = 0; i < ds.n && i < 7; i++)
        FT_CHECKF(strstr(ds.paths[i], order[i]) && ds.labels[i] == lab[i], "%ld: %s label %d", i, ds.paths[i],
                  ds.labels[i]);
    /* a batch of every image, 8x8, in parallel; the JPEG is 16x8, the PNGs 5x4: all resized */
    ft_img_proc p;
    ft_img_proc_default(&p, 8, 3);
    long idx[5] = {4, 3, 2, 1, 0};
    float out[5 * 3 * 64];
    int labels[5];
    FT_CHECK_OK(ft_img_dataset_batch(&ds, idx, 5, &p, 3, NULL, 0, 0, out, labels));
    FT_CHECK(labels[0] == 2 && labels[4] == 0);
    /* an image that does not decode: the error names it */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/dog/b.png", root);
    put(bad, "not a png", 9);
    FT_CHECK_FAILS(ft_img_dataset_batch(&ds, idx, 5, &p, 3, NULL, 0, 0, out, labels), FT_ERR_UNSUPPORTED,
                   "dog/b.png: not a PNG, JPEG or IDX");
    ft_img_dataset_free(&ds);
    /* a class folder without images */
    char empty[400];
    snprintf(empty, sizeof empty, "%s/empty", root);
    mkdir(empty, 0755);
    snprintf(bad, sizeof bad, "%s/readme.txt", empty);
    put(bad, "x", 1);
    FT_CHECK_FAILS(ft_img_dataset_folder(root, &ds), FT_ERR_FORMAT, "class folder 'empty' has no image");
    FT_CHECK_FAILS(ft_img_dataset_folder(tpath("nowhere"), &ds), FT_ERR_IO, "nowhere: cannot open directory");
}

FT_TEST(dataset_lists) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/list", tmpdir);
    mkdir(dir, 0755);
    char p[400];
    snprintf(p, sizeof p, "%s/a.png", dir);
    write_png_file(p, 3, 3, PNG_COLOR_TYPE_GRAY);
    snprintf(p, sizeof p, "%s/b.png", dir);
    write_png_file(p, 4, 2, PNG_COLOR_TYPE_RGBA);
    snprintf(p, sizeof p, "%s/l.csv", dir);
    const char *csv = "image,label\na.png,dog\nb.png,cat\n\nb.png,dog\n";
    put(p, csv, strlen(csv));
    ft_img_dataset ds;
    FT_CHECK_OK(ft_img_dataset_list(p, NULL, 0, &ds));
    FT_CHECK(ds.n == 3 && ds.n_classes == 2 && !strcmp(ds.classes[0], "cat") && ds.labels[0] == 1 &&
             ds.labels[1] == 0 && ds.labels[2] == 1);
    FT_CHECK(strstr(ds.paths[0], "/list/a.png") != NULL);
    ft_img_proc pr;
    ft_img_proc_default(&pr, 4, 1);
    float out[3 * 16];
    long idx[3] = {0, 1, 2};
    FT_CHECK_OK(ft_img_dataset_batch(&ds, idx, 3, &pr, 1, NULL, 0, 0, out, NULL));
    ft_img_dataset_free(&ds);
    const char *const set[] = {"dog"};
    FT_CHECK_FAILS(ft_img_dataset_list(p, set, 1, &ds), FT_ERR_FORMAT, "l.csv:3: unknown label 'cat'");
    snprintf(p, sizeof p, "%s/l.jsonl", dir);
    const char *jl = "{\"image\": \"a.png\", \"label\": 3}\n{\"image\": \"b.png\", \"label\": 1}\n";
    put(p, jl, strlen(jl));
    const char *const nums[] = {"0", "1", "2", "3"};
    FT_CHECK_OK(ft_img_dataset_list(p, nums, 4, &ds));
    FT_CHECK(ds.n == 2 && ds.n_classes == 4 && ds.labels[0] == 3 && ds.labels[1] == 1);
    ft_img_dataset_free(&ds);
    const char *nolab = "{\"image\": \"a.png\"}\n";
    put(p, nolab, strlen(nolab));
    FT_CHECK_FAILS(ft_img_dataset_list(p, NULL, 0, &ds), FT_ERR_FORMAT, "l.jsonl:1: no \"label\"");
}

FT_TEST(batch_threads_and_augment) {
    /* an IDX set of 12 images 6x5: the augmented batch is the same with 1 and 2 threads, changes with the
     * epoch */
    uint8_t b[16 + 12 * 30], l[8 + 12] = {0, 0, 8, 1, 0, 0, 0, 12};
    size_t n = idx3(b, 12, 6, 5);
    for (int i = 0; i < 12; i++)
        l[8 + i] = (uint8_t)(i % 3);
    put(tpath("i.idx3"), b, n);
    put(tpath("l.idx1"), l, sizeof l);
    ft_img_dataset ds;
    FT_CHECK_OK(ft_img_dataset_idx(tpath("i.idx3"), tpath("l.idx1"), &ds));
    FT_CHECK(ds.n == 12 && ds.n_classes == 3 && !strcmp(ds.classes[2], "2"));
    ft_img_proc p;
    ft_img_proc_default(&p, 8, 1);
    ft_img_aug a;
    ft_img_aug_default(&a);
    long idx[12];
    for (int i = 0; i < 12; i++)
        idx[i] = 11 - i;
    static float o1[12 * 64], o2[12 * 64], o3[12 * 64], o4[12 * 64];
    int labels[12];
    omp_set_num_threads(1);
    FT_CHECK_OK(ft_img_dataset_batch(&ds, idx, 12, &p, 1, &a, 5, 0, o1, labels));
    omp_set_num_threads(2);
    FT_CHECK_OK(ft_img_dataset_batch(&ds, idx, 12, &p, 1, &a, 5, 0, o2, labels));
    FT_CHECK(!memcmp(o1, o2, sizeof o1));
    FT_CHECK(labels[0] == 2 && labels[11] == 0);
    FT_CHECK_OK(ft_img_dataset_batch(&ds, idx, 12, &p, 1, &a, 5, 1, o3, labels));
    FT_CHECK(memcmp(o1, o3, sizeof o1) != 0);
    /* evaluation (no augmentation) equals preprocessing each image alone; 3 channels replicate gray */
    FT_CHECK_OK(ft_img_dataset_batch(&ds, idx, 12, &p, 1, NULL, 5, 0, o4, NULL));
    ft_img im;
    FT_CHECK_OK(ft_img_dataset_get(&ds, 11, &im));
    float one[64];
    FT_CHECK_OK(ft_img_preprocess(&im, &p, 1, NULL, 0, 0, 0, one));
    FT_CHECK(!memcmp(one, o4, sizeof one));
    ft_img_dataset_free(&ds);
    l[7] = 11;
    put(tpath("l11.idx1"), l, sizeof l - 1);
    FT_CHECK_FAILS(ft_img_dataset_idx(tpath("i.idx3"), tpath("l11.idx1"), &ds), FT_ERR_FORMAT,
                   "l11.idx1: 11 labels for the 12 images");
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%.40s/ftimg-XXXXXX", t && *t && strlen(t) < 40 ? t : "/tmp");
    if (!mkdtemp(tmpdir))
        return 2;
    FT_RUN(png_every_colour_type);
    FT_RUN(png_errors);
    FT_RUN(jpeg_exif_orientations);
    FT_RUN(jpeg_gray_and_errors);
    FT_RUN(idx_files);
    FT_RUN(convert_and_resize_by_hand);
    FT_RUN(preprocess_layout_and_math);
    FT_RUN(processor_config);
    FT_RUN(augment_geometry_and_determinism);
    FT_RUN(dataset_folder);
    FT_RUN(dataset_lists);
    FT_RUN(batch_threads_and_augment);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    FT_DONE();
}
