/* clearcube: JSON helpers over jansson (libjansson-dev), the one JSON library of
 * the project (job files, STAC, logs, `clearcube info`). */
#ifndef CC_CORE_JSON_H
#define CC_CORE_JSON_H

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A JSON string for any C string (a new reference; NULL only when out of
 * memory): valid UTF-8 is kept as is; a string that is not (a file name in
 * another encoding) has each byte >= 0x80 read as Latin-1 (U+0080..U+00FF),
 * so that every byte stays visible. Control characters are escaped by the
 * encoder. s NULL gives JSON null. */
json_t *cc_json_str(const char *s);

#ifdef __cplusplus
}
#endif
#endif
