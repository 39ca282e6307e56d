/* Fuzz target: `ftune dump`'s batch.json through ft_batch_load_json; every element of an accepted batch
 * is read (B x T matrices, B x T_dec decoder fields, one label or target per row). */
#include "data/pretok.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = ftfz_write("batch.json", data, size);
    ft_batch b;
    if (ft_batch_load_json(path, &b) != FT_OK)
        return 0;
    unsigned sum = 0;
    const size_t n = (size_t)b.B * (size_t)b.T;
    for (size_t i = 0; i < n; i++)
        sum += (unsigned)b.input_ids[i] + (b.mask ? (unsigned)b.mask[i] : 0u) +
               (b.type_ids ? (unsigned)b.type_ids[i] : 0u) +
               (b.labels && !b.T_dec ? (unsigned)b.labels[i] : 0u);
    const size_t nd = (size_t)b.B * (size_t)b.T_dec; /* the decoder's fields (labels then are [B][T_dec]) */
    for (size_t i = 0; i < nd; i++)
        sum += (b.decoder_input_ids ? (unsigned)b.decoder_input_ids[i] : 0u) +
               (b.decoder_mask ? (unsigned)b.decoder_mask[i] : 0u) + (b.labels ? (unsigned)b.labels[i] : 0u);
    for (int i = 0; i < b.B; i++)
        sum += (b.cls_labels ? (unsigned)b.cls_labels[i] : 0u) +
               (b.reg_targets && b.reg_targets[i] != 0.0f ? 1u : 0u);
    ftfz_sink = sum;
    ft_batch_free(&b);
    return 0;
}
