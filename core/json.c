#include "core/json.h"

#include <stdlib.h>
#include <string.h>

json_t *cc_json_str(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t len = strlen(s);
    char *u = malloc(2 * len + 1), *q = u;
    if (!u)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            *q++ = (char)ch;
        } else {
            *q++ = (char)(0xC0 | ch >> 6);
            *q++ = (char)(0x80 | (ch & 0x3F));
        }
    }
    *q = '\0';
    j = json_string(u);
    free(u);
    return j;
}
