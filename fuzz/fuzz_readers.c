/* Fuzz target: dataset rows through ft_data_read. The first byte picks the format (jsonl, csv, tsv,
 * text) and whether a text pair / chat messages field is mapped; the rest is the file. */
#include "data/dataset.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    static const char *const FMT[4] = {"jsonl", "csv", "tsv", "text"};
    ft_data_cfg c;
    ft_data_cfg_default(&c);
    c.format = FMT[data[0] & 3];
    if (data[0] & 4)
        c.text_pair_field = "text2";
    if (data[0] & 8)
        c.label_field = "category";
    const char *path = ftfz_write("rows.data", data + 1, size - 1);
    ft_data_recs rs = {0};
    (void)ft_data_read(path, &c, &rs);
    ft_data_recs_free(&rs);
    return 0;
}
