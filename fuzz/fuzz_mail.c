/* Fuzz target: a raw RFC 822 mail through ft_data_mail_text (headers, MIME parts, quoted-printable,
 * base64, charsets, RFC 2047 words), with headers stripped when the input's length is odd, kept when
 * even; the result must be NUL-terminated text. */
#include "data/dataset.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *out = NULL;
    bool recoded = false;
    if (ft_data_mail_text((const char *)data, size, size % 2 == 1, &out, &recoded) == FT_OK) {
        ftfz_sink = (unsigned)strlen(out);
        free(out);
    }
    return 0;
}
