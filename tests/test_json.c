/* ft_json_dump_py must produce Python's json.dumps(indent=2, sort_keys=True) text. */
#include <stdlib.h>

#include "ft_test.h"
#include "io/json.h"

static void check_dump(const char *in, const char *want) {
    cJSON *j = cJSON_Parse(in);
    FT_CHECK(j != NULL);
    char *got = ft_json_dump_py(j, true);
    FT_CHECKF(got && !strcmp(got, want), "got <%s> want <%s>", got ? got : "(null)", want);
    free(got);
    cJSON_Delete(j);
}

FT_TEST(test_python_format) {
    /* Expected strings were produced by python3 -c 'json.dumps(json.loads(IN), indent=2, sort_keys=True)'. */
    check_dump("{\"b\": 1, \"a\": [1, 2.5, \"x\"], \"c\": {}, \"d\": [], \"e\": null, \"f\": true}",
               "{\n  \"a\": [\n    1,\n    2.5,\n    \"x\"\n  ],\n  \"b\": 1,\n  \"c\": {},\n  \"d\": [],\n"
               "  \"e\": null,\n  \"f\": true\n}\n");
    check_dump("{\"eps\": 1e-05, \"lr\": 0.0003, \"big\": 1e+20, \"neg\": -0.1}",
               "{\n  \"big\": 1e+20,\n  \"eps\": 1e-05,\n  \"lr\": 0.0003,\n  \"neg\": -0.1\n}\n");
    check_dump("{\"s\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\\n\\t\"}",
               "{\n  \"s\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\\n\\t\"\n}\n");
    check_dump("[]", "[]\n");
}

int main(void) {
    FT_RUN(test_python_format);
    FT_DONE();
}
