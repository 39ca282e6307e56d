/* image/decode: PNG (libpng), JPEG (libjpeg-turbo, EXIF orientation), IDX (+gzip through zlib).
 * libpng and libjpeg report errors through longjmp from their error hooks back to our setjmp. */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* after stdio.h: jpeglib.h uses FILE and size_t */
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "image/image.h"

const char *ft_img_format_name(ft_img_format f) {
    switch (f) {
    case FT_IMG_PNG: return "PNG";
    case FT_IMG_JPEG: return "JPEG";
    case FT_IMG_IDX: return "IDX";
    default: return "unknown";
    }
}

ft_img_format ft_img_sniff(const uint8_t *d, size_t n) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(d, png_sig, 8) == 0)
        return FT_IMG_PNG;
    if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
        return FT_IMG_JPEG;
    if (n >= 2 && d[0] == 0x1f && d[1] == 0x8b)
        return FT_IMG_IDX; /* gzip: only IDX files are read gzip'd */
    if (n >= 4 && d[0] == 0 && d[1] == 0 && d[2] == 0x08 && (d[3] == 1 || d[3] == 3))
        return FT_IMG_IDX;
    return FT_IMG_NONE;
}

void ft_img_free(ft_img *im) {
    if (im && im->owned)
        free(im->px);
    if (im)
        *im = (ft_img){0};
}

static ft_status check_size(const char *name, long w, long h) {
    if (w <= 0 || h <= 0)
        return ft_fail(FT_ERR_FORMAT, "%s: zero-sized image (%ldx%ld)", name, w, h);
    if (w > FT_IMG_MAX_SIDE || h > FT_IMG_MAX_SIDE || w * h > FT_IMG_MAX_PIXELS)
        return ft_fail(FT_ERR_RANGE,
                       "%s: image of %ldx%ld exceeds the limit (each side <= %d, width*height <= %ld)", name,
                       w, h, FT_IMG_MAX_SIDE, (long)FT_IMG_MAX_PIXELS);
    return FT_OK;
}

static unsigned rd16(const uint8_t *p, bool le) {
    return le ? p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1];
}
static unsigned long rd32(const uint8_t *p, bool le) {
    return le ? (unsigned long)rd16(p, true) | (unsigned long)rd16(p + 2, true) << 16
              : (unsigned long)rd16(p, false) << 16 | rd16(p + 2, false);
}

static int tiff_orientation(const uint8_t *d, size_t n);
static ft_status orient(ft_img *im, int o, const char *name);

/* ---------------- PNG ---------------- */
typedef struct {
    const uint8_t *data;
    size_t n, off;
    char msg[200];
    uint8_t *px; /* owned until handed out (freed on the longjmp path) */
    png_bytep *rows;
} png_job;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}
static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png, (void)msg; /* ancillary-chunk problems: libpng skips the chunk, as PIL does */
}
static void png_read_mem(png_structp png, png_bytep out, size_t len) {
    png_job *j = png_get_io_ptr(png);
    if (len > j->n - j->off)
        png_error(png, "truncated file");
    memcpy(out, j->data + j->off, len);
    j->off += len;
}

static ft_status decode_png(const uint8_t *data, size_t n, const char *name, ft_img *out, ft_img_info *info) {
    /* the size limit on the IHDR itself (the first chunk), before libpng reads on to the first IDAT */
    if (n >= 24 && memcmp(data + 12, "IHDR", 4) == 0)
        FT_TRY(check_size(name, (long)rd32(data + 16, false), (long)rd32(data + 20, false)));
    png_job job = {.data = data, .n = n};
    png_job *j = &job;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, j, png_on_error, png_on_warning);
    png_infop pi = png ? png_create_info_struct(png) : NULL;
    if (!pi) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ft_fail(FT_ERR_NOMEM, "%s: libpng could not start", name);
    }
    ft_status st = FT_OK;
    if (setjmp(png_jmpbuf(png))) {
        st = ft_fail(FT_ERR_FORMAT, "%s: corrupt PNG: %s", name, j->msg);
        goto done;
    }
    png_set_read_fn(png, j, png_read_mem);
    png_read_info(png, pi);
    png_uint_32 w = png_get_image_width(png, pi), h = png_get_image_height(png, pi);
    int depth = png_get_bit_depth(png, pi), ct = png_get_color_type(png, pi);
    bool trns = png_get_valid(png, pi, PNG_INFO_tRNS) != 0;
    st = check_size(name, (long)w, (long)h);
    if (st != FT_OK)
        goto done;
    if (info) {
        const char *mode = ct == PNG_COLOR_TYPE_PALETTE ? "P"
                           : ct == PNG_COLOR_TYPE_GRAY  ? (depth == 16  ? "I;16"
                                                           : depth == 1 ? "1"
                                                                        : "L")
                           : ct == PNG_COLOR_TYPE_GA    ? "LA"
                           : ct == PNG_COLOR_TYPE_RGB   ? "RGB"
                                                        : "RGBA";
        snprintf(info->mode, sizeof info->mode, "%s", mode);
        info->bit_depth = depth;
        info->interlaced = png_get_interlace_type(png, pi) != PNG_INTERLACE_NONE;
    }
    if (ct == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png); /* scaled: 1-bit → 0/255, as PIL */
    if (trns)
        png_set_tRNS_to_alpha(png);
    if (depth == 16)
        png_set_strip_16(png); /* the high byte, as PIL's RGB;16B / LA;16B unpackers */
    png_set_interlace_handling(png);
    png_read_update_info(png, pi);
    int c = png_get_channels(png, pi);
    size_t rowbytes = png_get_rowbytes(png, pi);
    if (c < 1 || c > 4 || rowbytes != (size_t)w * (size_t)c) {
        st = ft_fail(FT_ERR_UNSUPPORTED, "%s: PNG color type %d depth %d not supported", name, ct, depth);
        goto done;
    }
    j->px = malloc(rowbytes * h);
    j->rows = malloc(sizeof(png_bytep) * h);
    if (!j->px || !j->rows) {
        st = ft_fail(FT_ERR_NOMEM, "%s: out of memory for %ux%u pixels", name, (unsigned)w, (unsigned)h);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++)
        j->rows[y] = j->px + (size_t)y * rowbytes;
    png_read_image(png, j->rows);
    png_read_end(png, pi); /* an eXIf chunk may follow the image data */
    int o = 0;
#ifdef PNG_eXIf_SUPPORTED
    png_uint_32 exif_n = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(png, pi, &exif_n, &exif) && exif)
        o = tiff_orientation(exif, exif_n); /* PIL's exif_transpose honours it in PNGs too */
#endif
    *out = (ft_img){.w = (int)w, .h = (int)h, .c = c, .px = j->px, .owned = true};
    j->px = NULL;
    if ((st = orient(out, o, name)) != FT_OK) {
        ft_img_free(out);
        goto done;
    }
    if (info) {
        info->orientation = o;
        info->w = out->w;
        info->h = out->h;
        info->alpha = c == 2 || c == 4;
    }
done:
    png_destroy_read_struct(&png, &pi, NULL);
    free(j->px);
    free(j->rows);
    return st;
}

/* ---------------- EXIF orientation ---------------- */
/* Tag 0x0112 of IFD0 in a TIFF-structured EXIF block; 0 when absent or malformed. */
static int tiff_orientation(const uint8_t *d, size_t n) {
    if (n < 8)
        return 0;
    bool le;
    if (d[0] == 'I' && d[1] == 'I')
        le = true;
    else if (d[0] == 'M' && d[1] == 'M')
        le = false;
    else
        return 0;
    unsigned long ifd = rd32(d + 4, le);
    if (ifd + 2 > n)
        return 0;
    unsigned cnt = rd16(d + ifd, le);
    for (unsigned i = 0; i < cnt; i++) {
        size_t e = ifd + 2 + (size_t)i * 12;
        if (e + 12 > n)
            return 0;
        if (rd16(d + e, le) == 0x0112 && rd16(d + e + 2, le) == 3) {
            unsigned v = rd16(d + e + 8, le);
            return v >= 1 && v <= 8 ? (int)v : 0;
        }
    }
    return 0;
}

/* The same in a JPEG APP1 "Exif\0\0" payload. */
static int exif_orientation(const uint8_t *d, size_t n) {
    return n >= 14 && memcmp(d, "Exif\0\0", 6) == 0 ? tiff_orientation(d + 6, n - 6) : 0;
}

/* Apply orientation o (PIL's ImageOps.exif_transpose: 2 mirror, 3 rotate 180, 4 flip, 5 transpose,
 * 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise). */
static ft_status orient(ft_img *im, int o, const char *name) {
    if (o <= 1)
        return FT_OK;
    int W = im->w, H = im->h, c = im->c;
    bool swap = o >= 5;
    int ow = swap ? H : W, oh = swap ? W : H;
    uint8_t *px = malloc((size_t)ow * (size_t)oh * (size_t)c);
    if (!px)
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory rotating", name);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = W - 1 - x, sy = y; break;
            case 3: sx = W - 1 - x, sy = H - 1 - y; break;
            case 4: sx = x, sy = H - 1 - y; break;
            case 5: sx = y, sy = x; break;
            case 6: sx = y, sy = H - 1 - x; break;
            case 7: sx = W - 1 - y, sy = H - 1 - x; break;
            default: sx = W - 1 - y, sy = x; break;
            }
            memcpy(px + ((size_t)y * (size_t)ow + (size_t)x) * (size_t)c,
                   im->px + ((size_t)sy * (size_t)W + (size_t)sx) * (size_t)c, (size_t)c);
        }
    free(im->px);
    im->px = px;
    im->w = ow;
    im->h = oh;
    return FT_OK;
}

/* ---------------- JPEG ---------------- */
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    bool truncated;
    uint8_t *px;
} jpeg_job;

static void jpeg_on_error(j_common_ptr ci) {
    jpeg_job *j = (jpeg_job *)ci->err;
    longjmp(j->jb, 1);
}
static void jpeg_on_message(j_common_ptr ci, int level) {
    jpeg_job *j = (jpeg_job *)ci->err;
    /* libjpeg pads a truncated stream and warns: PIL calls that "image file is truncated", so do we */
    if (level < 0 && ci->err->msg_code == JWRN_JPEG_EOF)
        j->truncated = true;
}

static ft_status decode_jpeg(const uint8_t *data, size_t n, const char *name, ft_img *out,
                             ft_img_info *info) {
    struct jpeg_decompress_struct ci;
    jpeg_job job = {0};
    jpeg_job *j = &job;
    ci.err = jpeg_std_error(&j->pub);
    j->pub.error_exit = jpeg_on_error;
    j->pub.emit_message = jpeg_on_message;
    ft_status st = FT_OK;
    if (setjmp(j->jb)) {
        char msg[JMSG_LENGTH_MAX];
        (*ci.err->format_message)((j_common_ptr)&ci, msg);
        st = ft_fail(FT_ERR_FORMAT, "%s: %s JPEG: %s", name, j->truncated ? "truncated" : "corrupt", msg);
        goto done;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, data, (unsigned long)n);
    jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&ci, TRUE);
    st = check_size(name, (long)ci.image_width, (long)ci.image_height);
    if (st != FT_OK)
        goto done;
    int o = 0;
    for (jpeg_saved_marker_ptr m = ci.marker_list; m && !o; m = m->next)
        if (m->marker == JPEG_APP0 + 1)
            o = exif_orientation(m->data, m->data_length);
    J_COLOR_SPACE in = ci.jpeg_color_space;
    bool cmyk = in == JCS_CMYK || in == JCS_YCCK;
    if (in == JCS_GRAYSCALE)
        ci.out_color_space = JCS_GRAYSCALE;
    else if (cmyk)
        ci.out_color_space = JCS_CMYK;
    else
        ci.out_color_space = JCS_RGB;
    if (info) {
        snprintf(info->mode, sizeof info->mode, "%s", in == JCS_GRAYSCALE ? "L" : cmyk ? "CMYK" : "RGB");
        info->bit_depth = 8;
        info->orientation = o;
        info->interlaced = jpeg_has_multiple_scans(&ci) != 0;
        info->alpha = false;
    }
    jpeg_start_decompress(&ci);
    int oc = ci.output_components, c = cmyk ? 3 : oc;
    size_t w = ci.output_width, h = ci.output_height;
    if ((cmyk && oc != 4) || (!cmyk && oc != 1 && oc != 3)) {
        st = ft_fail(FT_ERR_UNSUPPORTED, "%s: JPEG with %d components not supported", name, oc);
        goto done;
    }
    j->px = malloc(w * h * (size_t)oc);
    if (!j->px) {
        st = ft_fail(FT_ERR_NOMEM, "%s: out of memory for %zux%zu pixels", name, w, h);
        goto done;
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = j->px + (size_t)ci.output_scanline * w * (size_t)oc;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    if (j->truncated) {
        st = ft_fail(FT_ERR_FORMAT, "%s: truncated JPEG (the data ends before the image does)", name);
        goto done;
    }
    jpeg_finish_decompress(&ci);
    if (cmyk) {
        /* Adobe CMYK is stored inverted (PIL's "CMYK;I"); then PIL's cmyk2rgb:
         * r = clip(nk - nk*c/255) with nk = 255 - k, its rounding MULDIV255(a, b) = ((t >> 8) + t) >> 8, t =
         * a*b + 128 */
        bool inv = ci.saw_Adobe_marker;
        for (size_t i = 0; i < w * h; i++) {
            const uint8_t *s = j->px + i * 4;
            int k = inv ? 255 - s[3] : s[3], nk = 255 - k;
            uint8_t rgb[3];
            for (int q = 0; q < 3; q++) {
                int cv = inv ? 255 - s[q] : s[q], t = cv * nk + 128, v = nk - (((t >> 8) + t) >> 8);
                rgb[q] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
            memcpy(j->px + i * 3, rgb, 3);
        }
    }
    *out = (ft_img){.w = (int)w, .h = (int)h, .c = c, .px = j->px, .owned = true};
    j->px = NULL;
    st = orient(out, o, name);
    if (st != FT_OK) {
        ft_img_free(out);
        goto done;
    }
    if (info) {
        info->w = out->w;
        info->h = out->h;
    }
done:
    jpeg_destroy_decompress(&ci);
    free(j->px);
    return st;
}

ft_status ft_img_decode(const uint8_t *data, size_t n, const char *name, ft_img *out, ft_img_info *info) {
    *out = (ft_img){0};
    if (info) {
        *info = (ft_img_info){0};
        info->count = 1;
    }
    ft_img_format f = ft_img_sniff(data, n);
    if (info)
        info->format = f;
    if (n == 0)
        return ft_fail(FT_ERR_FORMAT, "%s: empty file", name);
    if (f == FT_IMG_PNG)
        return decode_png(data, n, name, out, info);
    if (f == FT_IMG_JPEG)
        return decode_jpeg(data, n, name, out, info);
    if (f == FT_IMG_IDX) { /* the first image of an idx3 file */
        ft_img_idx x;
        FT_TRY(ft_img_idx_parse(data, n, name, &x));
        ft_status st = FT_OK;
        size_t sz = (size_t)x.h * (size_t)x.w;
        uint8_t *px = NULL;
        if (x.dims != 3 || x.n < 1)
            st = ft_fail(FT_ERR_FORMAT, "%s: an IDX %s file has no image to decode", name,
                         x.dims == 1 ? "label" : "image");
        else if (!(px = malloc(sz)))
            st = ft_fail(FT_ERR_NOMEM, "%s: out of memory", name);
        if (st == FT_OK) {
            memcpy(px, x.data, sz);
            *out = (ft_img){.w = x.w, .h = x.h, .c = 1, .px = px, .owned = true};
            if (info) {
                snprintf(info->mode, sizeof info->mode, "L");
                info->w = x.w, info->h = x.h, info->bit_depth = 8, info->count = x.n;
            }
        }
        ft_img_idx_free(&x);
        return st;
    }
    return ft_fail(FT_ERR_UNSUPPORTED,
                   "%s: not a PNG, JPEG or IDX file (unrecognized signature %02x %02x %02x %02x)", name,
                   n > 0 ? data[0] : 0, n > 1 ? data[1] : 0, n > 2 ? data[2] : 0, n > 3 ? data[3] : 0);
}

ft_status ft_img_load(const char *path, ft_img *out, ft_img_info *info) {
    char *buf;
    size_t n;
    *out = (ft_img){0};
    FT_TRY(ft_read_file(path, &buf, &n));
    ft_status st = ft_img_decode((const uint8_t *)buf, n, path, out, info);
    free(buf);
    return st;
}

ft_status ft_img_probe(const char *path, ft_img_info *info) {
    char *buf;
    size_t n;
    FT_TRY(ft_read_file(path, &buf, &n));
    ft_status st;
    if (ft_img_sniff((const uint8_t *)buf, n) == FT_IMG_IDX) { /* labels too: the header is the answer */
        ft_img_idx x;
        *info = (ft_img_info){.format = FT_IMG_IDX, .bit_depth = 8};
        st = ft_img_idx_parse((const uint8_t *)buf, n, path, &x);
        if (st == FT_OK) {
            snprintf(info->mode, sizeof info->mode, "%s", x.dims == 3 ? "L" : "labels");
            info->w = x.w, info->h = x.h, info->count = x.n;
        }
        ft_img_idx_free(&x);
    } else {
        ft_img im;
        st = ft_img_decode((const uint8_t *)buf, n, path, &im, info);
        ft_img_free(&im);
    }
    free(buf);
    return st;
}

/* ---------------- IDX ---------------- */
/* gunzip into a buffer of at most `cap` bytes (IDX sizes are bounded by the image limits). */
ft_status ft_img_gunzip(const uint8_t *d, size_t n, const char *name, uint8_t **out, size_t *out_n) {
    const size_t cap = (size_t)FT_IMG_MAX_PIXELS * 16 + 16;
    z_stream zs = {0};
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return ft_fail(FT_ERR_NOMEM, "%s: zlib could not start", name);
    size_t size = n * 4 + 1024, len = 0;
    uint8_t *buf = malloc(size);
    ft_status st = FT_OK;
    zs.next_in = (Bytef *)d;
    zs.avail_in = (uInt)n;
    for (;;) {
        if (!buf) {
            st = ft_fail(FT_ERR_NOMEM, "%s: out of memory inflating", name);
            break;
        }
        zs.next_out = buf + len;
        zs.avail_out = (uInt)(size - len);
        int r = inflate(&zs, Z_NO_FLUSH);
        len = size - zs.avail_out;
        if (r == Z_STREAM_END)
            break;
        if (r != Z_OK && r != Z_BUF_ERROR) {
            st =
                ft_fail(FT_ERR_FORMAT, "%s: corrupt gzip data: %s", name, zs.msg ? zs.msg : "inflate failed");
            break;
        }
        if (r == Z_BUF_ERROR && zs.avail_in == 0) {
            st = ft_fail(FT_ERR_FORMAT, "%s: truncated gzip data", name);
            break;
        }
        if (len == size) {
            if (size >= cap) {
                st = ft_fail(FT_ERR_RANGE, "%s: gzip data inflates past %zu bytes", name, cap);
                break;
            }
            size = size * 2 > cap ? cap : size * 2;
            uint8_t *nb = realloc(buf, size);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    inflateEnd(&zs);
    if (st != FT_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_n = len;
    return FT_OK;
}

ft_status ft_img_idx_parse(const uint8_t *data, size_t n, const char *name, ft_img_idx *out) {
    *out = (ft_img_idx){0};
    uint8_t *unz = NULL;
    if (n >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        FT_TRY(ft_img_gunzip(data, n, name, &unz, &n));
        data = unz;
    }
    ft_status st = FT_OK;
    if (n < 8 || data[0] || data[1] || data[2] != 0x08 || (data[3] != 1 && data[3] != 3)) {
        st =
            ft_fail(FT_ERR_FORMAT, "%s: not an IDX ubyte file of 1 or 3 dimensions (magic %02x%02x%02x%02x)",
                    name, n > 0 ? data[0] : 0, n > 1 ? data[1] : 0, n > 2 ? data[2] : 0, n > 3 ? data[3] : 0);
        goto done;
    }
    int dims = data[3];
    size_t hdr = 4 + 4 * (size_t)dims;
    if (n < hdr) {
        st = ft_fail(FT_ERR_FORMAT, "%s: truncated IDX header", name);
        goto done;
    }
    unsigned long cnt = rd32(data + 4, false), h = dims == 3 ? rd32(data + 8, false) : 1,
                  w = dims == 3 ? rd32(data + 12, false) : 1;
    if (dims == 3 && (st = check_size(name, (long)w, (long)h)) != FT_OK)
        goto done;
    if (cnt > (unsigned long)FT_IMG_MAX_PIXELS * 16 / (h * w)) {
        st = ft_fail(FT_ERR_RANGE, "%s: IDX count %lu too large", name, cnt);
        goto done;
    }
    size_t need = (size_t)cnt * h * w;
    if (n - hdr != need) {
        st = ft_fail(FT_ERR_FORMAT,
                     "%s: IDX header says %lu x %lu x %lu = %zu bytes of data, the file has %zu", name, cnt,
                     h, w, need, n - hdr);
        goto done;
    }
    out->data = malloc(need ? need : 1);
    if (!out->data) {
        st = ft_fail(FT_ERR_NOMEM, "%s: out of memory (%zu bytes)", name, need);
        goto done;
    }
    memcpy(out->data, data + hdr, need);
    out->dims = dims;
    out->n = (long)cnt;
    out->h = dims == 3 ? (int)h : 0;
    out->w = dims == 3 ? (int)w : 0;
done:
    free(unz);
    return st;
}

ft_status ft_img_idx_load(const char *path, ft_img_idx *out) {
    char *buf;
    size_t n;
    *out = (ft_img_idx){0};
    FT_TRY(ft_read_file(path, &buf, &n));
    ft_status st = ft_img_idx_parse((const uint8_t *)buf, n, path, out);
    free(buf);
    return st;
}

void ft_img_idx_free(ft_img_idx *x) {
    if (x) {
        free(x->data);
        *x = (ft_img_idx){0};
    }
}
