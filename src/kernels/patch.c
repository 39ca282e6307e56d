/* Image kernels of the Vision Transformer: patch extraction (the strided convolution's im2col) and the
 * bicubic resize of the position-embedding grid, forward and its transpose. */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "kernels/kernels.h"
#include "kernels/vecmath.h"

void ft_patchify(float *X, const float *pix, int B, int ch, int H, int W, int p) {
    const int gh = H / p, gw = W / p;
    const int64_t K = (int64_t)ch * p * p, rows = (int64_t)B * gh * gw;
#pragma omp parallel for schedule(static) if (rows * K >= FT_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t b = r / ((int64_t)gh * gw);
        const int i = (int)(r / gw % gh), j = (int)(r % gw);
        float *xr = X + r * K;
        for (int c = 0; c < ch; c++)
            for (int ky = 0; ky < p; ky++)
                memcpy(xr + ((int64_t)c * p + ky) * p,
                       pix + (((b * ch + c) * H) + (int64_t)i * p + ky) * W + (int64_t)j * p,
                       (size_t)p * sizeof(float));
    }
}

/* The 4 taps (clamped indices) and Keys' weights of output index o when resizing in → out. */
static void cubic_taps(int o, int in, int out, int idx[4], float w[4]) {
    const float A = -0.75f;
    const float src = (float)in / (float)out * ((float)o + 0.5f) - 0.5f;
    const float f = floorf(src), t = src - f;
    const float t1 = t + 1.0f, t2 = 1.0f - t, t3 = 2.0f - t;
    w[0] = ((A * t1 - 5.0f * A) * t1 + 8.0f * A) * t1 - 4.0f * A; /* |d| in [1, 2) */
    w[1] = ((A + 2.0f) * t - (A + 3.0f)) * t * t + 1.0f;          /* |d| in [0, 1) */
    w[2] = ((A + 2.0f) * t2 - (A + 3.0f)) * t2 * t2 + 1.0f;
    w[3] = ((A * t3 - 5.0f * A) * t3 + 8.0f * A) * t3 - 4.0f * A;
    for (int k = 0; k < 4; k++) {
        const int i = (int)f - 1 + k;
        idx[k] = i < 0 ? 0 : i >= in ? in - 1 : i;
    }
}

/* The 16 input rows (of an ih×iw grid) and weights that make output (oy, ox) of an oh×ow grid. */
static void taps2d(int oy, int ox, int ih, int iw, int oh, int ow, int64_t row[16], float w[16]) {
    int iy[4], ix[4];
    float wy[4], wx[4];
    cubic_taps(oy, ih, oh, iy, wy);
    cubic_taps(ox, iw, ow, ix, wx);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            row[a * 4 + b] = (int64_t)iy[a] * iw + ix[b];
            w[a * 4 + b] = wy[a] * wx[b];
        }
}

void ft_bicubic_resize_forward(float *y, const float *x, int ih, int iw, int oh, int ow, int64_t C) {
#pragma omp parallel for schedule(static) if ((int64_t)oh * ow * C * 16 >= FT_PAR_MIN)
    for (int64_t o = 0; o < (int64_t)oh * ow; o++) {
        int64_t row[16];
        float w[16];
        taps2d((int)(o / ow), (int)(o % ow), ih, iw, oh, ow, row, w);
        float *yr = y + o * C;
        memset(yr, 0, (size_t)C * sizeof(float));
        for (int k = 0; k < 16; k++)
            for (int64_t c = 0; c < C; c++)
                yr[c] += w[k] * x[row[k] * C + c];
    }
}

void ft_bicubic_resize_backward(float *dx, const float *dy, int ih, int iw, int oh, int ow, int64_t C) {
    for (int64_t o = 0; o < (int64_t)oh * ow; o++) { /* serial: outputs share input rows */
        int64_t row[16];
        float w[16];
        taps2d((int)(o / ow), (int)(o % ow), ih, iw, oh, ow, row, w);
        for (int k = 0; k < 16; k++)
            for (int64_t c = 0; c < C; c++)
                dx[row[k] * C + c] += w[k] * dy[o * C + c];
    }
}
