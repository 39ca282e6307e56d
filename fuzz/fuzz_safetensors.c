/* Fuzz target: a safetensors file (header + data) through ft_st_open's validation; every tensor it
 * accepts is looked up by name and its whole byte span read, so a header that lies about its offsets
 * shows up under ASan. */
#include "fuzz_util.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = ftfz_write("model.safetensors", data, size);
    ft_st_file *f = NULL;
    if (ft_st_open(path, &f) != FT_OK)
        return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < ft_st_count(f); i++) {
        const ft_st_tensor *t = ft_st_at(f, i);
        if (ft_st_find(f, t->name) != t)
            abort(); /* a name that does not find its own tensor */
        const uint8_t *b = t->data;
        for (size_t k = 0; k < t->nbytes; k++)
            sum += b[k];
    }
    (void)ft_st_metadata(f, "format");
    ft_st_close(f);
    ftfz_sink = sum;
    return 0;
}
