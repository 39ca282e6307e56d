/* Fuzz target: a YAML recipe through ft_recipe_load_yaml_text, then validation and the YAML round trip
 * (the written recipe must load again). */
#include "fuzz_util.h"
#include "train/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ft_recipe r;
    if (ft_recipe_init(&r) != FT_OK)
        abort();
    if (ft_recipe_load_yaml_text(&r, (const char *)data, size, "recipe.yaml") == FT_OK) {
        (void)ft_recipe_validate(&r);
        char *y = NULL;
        if (ft_recipe_to_yaml(&r, &y) == FT_OK) {
            ft_recipe r2;
            if (ft_recipe_init(&r2) != FT_OK)
                abort();
            if (ft_recipe_load_yaml_text(&r2, y, strlen(y), "resolved.yaml") != FT_OK) {
                fprintf(stderr, "the resolved recipe does not load again: %s\n%s", ft_last_error(), y);
                abort();
            }
            ft_recipe_free(&r2);
            free(y);
        }
    }
    ft_recipe_free(&r);
    return 0;
}
