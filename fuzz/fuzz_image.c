/* Fuzz target: the image decoders and the processor config. The first byte picks what reads the rest:
 * 0 ft_img_decode (PNG/JPEG/IDX by signature) then preprocessing to a small size with the resampling
 * filter of bits 2-4, 1 the IDX parser (plain or gzip'd), 2 preprocessor_config.json, 3 decode then the
 * training augmentation (random resized crop + flip). Bit 7 set: the rest is a pixel CSV (sklearn digits /
 * Kaggle MNIST rows, plain or gzip'd) read by ft_img_dataset_pixels from a file, pixel_max from bits 5-6. */
#include "fuzz_util.h"
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    int mode = data[0] & 3, resample = (data[0] >> 2) % 6;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    if (data[0] & 0x80) {
        static const double pmax[4] = {16, 255, 1, 0.5};
        ft_img_dataset ds;
        if (ft_img_dataset_pixels(ftfz_write("fuzz.csv", d, n), pmax[(data[0] >> 5) & 3], "label", -1, &ds) ==
            FT_OK) {
            ftfz_sink += (unsigned)ds.n + (unsigned)ds.idx.data[0] + (unsigned)ds.labels[ds.n - 1];
            ft_img_dataset_free(&ds);
        }
        return 0;
    }
    if (mode == 1) {
        ft_img_idx x;
        if (ft_img_idx_parse(d, n, "fuzz.idx", &x) == FT_OK) {
            ftfz_sink += x.n ? x.data[0] : 0;
            ft_img_idx_free(&x);
        }
        return 0;
    }
    if (mode == 2) {
        char *s = ftfz_str(d, n);
        ft_img_proc p;
        if (ft_img_proc_parse(s, "fuzz.json", &p) == FT_OK)
            ftfz_sink += (unsigned)p.height;
        free(s);
        return 0;
    }
    ft_img im;
    if (ft_img_decode(d, n, "fuzz.img", &im, NULL) != FT_OK)
        return 0;
    if ((long)im.w * im.h > (1L << 20)) { /* a legal large image from a few bytes (JPEG/PNG compress well):
                                             decoding it is the finding's whole interest; converting and
                                             resizing megapixels under the sanitizers only burns the time
                                             budget (a 3.8-megapixel gray JPEG of 232 bytes took 8 s) */
        ft_img_free(&im);
        return 0;
    }
    ft_img_proc p;
    ft_img_proc_default(&p, 7, 3);
    p.width = 5;
    p.resample = resample;
    ft_img_aug a;
    ft_img_aug_default(&a);
    float out[3 * 7 * 5];
    if (ft_img_preprocess(&im, &p, 3, mode == 3 ? &a : NULL, 1, 2, 3, out) == FT_OK)
        ftfz_sink += out[0] > 0;
    ft_img_free(&im);
    return 0;
}
