/* Fuzz target: `ftune dump`'s batch.json through ft_batch_load_json; every element of an accepted batch
 * is read (B x T matrices, one label or target per row). */
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
               (b.type_ids ? (unsigned)b.type_ids[i] : 0u) + (b.labels ? (unsigned)b.labels[i] : 0u);
    for (int i = 0; i < b.B; i++)
        sum += (b.cls_labels ? (unsigned)b.cls_labels[i] : 0u) +
               (b.reg_targets && b.reg_targets[i] != 0.0f ? 1u : 0u);
    ftfz_sink = sum;
    ft_batch_free(&b);
    return 0;
}
