/* `clearcube dataset`: the config (YAML, one key table: `clearcube dataset
 * --help`), its sources of three kinds and where ${CLEARCUBE_SHARED} is.
 * Format: docs/formats/dataset.md. */
#define _GNU_SOURCE /* strdup, strndup, realpath */
#include "pipeline/boa/dataset-impl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "core/config.h"

/* ------------------------------------------------------------------ config */

enum { K_REF = 1 << CC_DS_REFERENCE, K_SIM = 1 << CC_DS_SEN2COR_L2A, K_PAIR = 1 << CC_DS_PAIR,
       K_LIB = 1 << CC_DS_LIBRARY, K_SYN = 1 << CC_DS_SIMULATED,
       K_ALL = K_REF | K_SIM | K_PAIR | K_LIB | K_SYN, K_READ = K_REF | K_SIM | K_PAIR | K_LIB };

#define SOFF(f) offsetof(ds_source, f)
#define COFF(f) offsetof(struct cc_dataset_config, f)
#define OPT CC_CFG_OPTIONAL
#define NE CC_CFG_NONEMPTY
#define PATHF (CC_CFG_NONEMPTY | CC_CFG_EXISTS)

static cc_status parse_sources(cc_config_ctx *x, const cc_config_key *k, const char *name, yaml_document_t *doc,
                               yaml_node_t *v, void *obj);

static const cc_config_key top_keys[] = {
    {CC_CFG_KEY("seed", CC_CFG_LONG, 0, 2147483647, "1",
                "seed of the random atmosphere/geometry draws (default 1); the dataset is deterministic", COFF(seed))},
    {CC_CFG_KEY("missing_bands", CC_CFG_CHOICE, 0, 0, "skip",
                "a source lacking one of the 12 L2A bands: 'skip' it with a warning (default) or fail",
                COFF(missing_bands_error)),
     .choices = "skip|error"},
    {CC_CFG_KEY("sources", CC_CFG_CUSTOM, 0, 0, NULL, "list of sources (keys below)", 0), .parse = parse_sources},
};

/* Keys of one source; required ones (no OPT flag) only for the kinds in source_kinds[]. */
static const cc_config_key source_keys[] = {
    {CC_CFG_KEY("scene", CC_CFG_STR, 0, 0, NULL, "scene name; all sources of one scene must have the same split",
                SOFF(scene)),
     .flags = NE},
    {CC_CFG_KEY("kind", CC_CFG_CHOICE, 0, 0, NULL,
                "reference: real L1C, targets from the reference processor; sen2cor-l2a: real L2A -> SIMULATED L1C "
                "(SMAC forward); pair: real L1C + real L2A; library: real surface reflectance spectra for the "
                "spectral library (no patches of its own); simulated: SIMULATED L1C drawn from the library over "
                "the whole geometry/atmosphere domain, targets from the reference processor's per-pixel inversion",
                SOFF(kind)),
     .choices = "reference|sen2cor-l2a|pair|library|simulated"},
    {CC_CFG_KEY("split", CC_CFG_CHOICE, 0, 0, NULL, "train or val", SOFF(split)), .choices = "train|val"},
    {CC_CFG_KEY("path", CC_CFG_PATH, 0, 0, NULL,
                "input (L1C for reference/pair, L2A for sen2cor-l2a): SAFE dir/zip, GeoTIFF stack or band folder; "
                "${CLEARCUBE_SHARED} is expanded, relative paths are relative to the config",
                SOFF(path)),
     .flags = OPT | PATHF},
    {CC_CFG_KEY("l2a_path", CC_CFG_PATH, 0, 0, NULL, "pair: the Sen2Cor L2A of the same scene", SOFF(l2a_path)),
     .flags = PATHF},
    {CC_CFG_KEY("bands", CC_CFG_STR, 0, 0, NULL, "band order of a multi-band file (as --bands)", SOFF(bands)),
     .flags = OPT | NE},
    {CC_CFG_KEY("l2a_bands", CC_CFG_STR, 0, 0, NULL, "pair: band order of the L2A file", SOFF(l2a_bands)),
     .flags = OPT | NE},
    {CC_CFG_KEY("spacecraft", CC_CFG_STR, 0, 0, NULL,
                "S2A|S2B|S2C (as --spacecraft); simulated: the spacecraft simulated (default S2A)",
                SOFF(spacecraft)),
     .flags = OPT | NE},
    {CC_CFG_KEY("date", CC_CFG_STR, 0, 0, NULL, "sensing date YYYY-MM-DD (as --date)", SOFF(date)), .flags = OPT | NE},
    {CC_CFG_KEY("sun_zenith", CC_CFG_NUM, 0, 90, NULL, "degrees (as --sun-zenith)", SOFF(sun_zenith)), .flags = OPT},
    {CC_CFG_KEY("sun_azimuth", CC_CFG_NUM, -360, 360, NULL, "degrees (as --sun-azimuth)", SOFF(sun_azimuth)),
     .flags = OPT},
    {CC_CFG_KEY("view_zenith", CC_CFG_NUM, 0, 90, NULL, "degrees (as --view-zenith)", SOFF(view_zenith)),
     .flags = OPT},
    {CC_CFG_KEY("view_azimuth", CC_CFG_NUM, -360, 360, NULL, "degrees (as --view-azimuth)", SOFF(view_azimuth)),
     .flags = OPT},
    {CC_CFG_KEY("dn_offset", CC_CFG_NUM, -65535, 65535, NULL, "radiometric offset added to DN (as --dn-offset)",
                SOFF(dn_offset)),
     .flags = OPT},
    {CC_CFG_KEY("l2a_dn_offset", CC_CFG_NUM, -65535, 65535, NULL, "pair: offset added to the L2A DN",
                SOFF(l2a_dn_offset)),
     .flags = OPT},
    {CC_CFG_KEY("elevation", CC_CFG_NUM, -500, 9000, NULL,
                "surface elevation in metres (pressure); default sea level", SOFF(elevation)),
     .flags = OPT},
    {CC_CFG_KEY("aot", CC_CFG_NUM, 0, 3, NULL, "AOT550 for the reference processor (default: DDV)", SOFF(aot)),
     .flags = OPT},
    {CC_CFG_KEY("water_vapour", CC_CFG_NUM, 0, 8, NULL,
                "water vapour g cm-2 for the reference processor (default: B9/B8A)", SOFF(water_vapour)),
     .flags = OPT},
    {CC_CFG_KEY("variants", CC_CFG_INT, 0, 10000, NULL,
                "sen2cor-l2a: random atmosphere/geometry draws per patch (default 0)", SOFF(variants)),
     .flags = OPT},
    {CC_CFG_KEY("real_atmosphere", CC_CFG_BOOL, 0, 0, NULL,
                "sen2cor-l2a: also one variant with the product's own AOT/WVP layers and the given angles "
                "(default true; needs AOT and WVP layers and sun/view angles)",
                SOFF(real_atmosphere)),
     .flags = OPT},
    {CC_CFG_KEY("format", CC_CFG_CHOICE, 0, 0, "scene",
                "library: 'scene' (an L2A product the scene reader opens: SAFE, band folder, stack with "
                "bands), 'stack' (one multi-band raster, `bands` names its bands; one date), 'netcdf' (each "
                "name in `bands` is a variable whose raster bands are dates; xarray/openEO layout)",
                SOFF(format)),
     .choices = "scene|stack|netcdf", .flags = OPT},
    {CC_CFG_KEY("path2", CC_CFG_PATH, 0, 0, NULL,
                "library, netcdf: a second file with more band variables (e.g. the 20 m bands), same dates",
                SOFF(path2)),
     .flags = OPT | PATHF},
    {CC_CFG_KEY("bands2", CC_CFG_STR, 0, 0, NULL, "library, netcdf: the band variables of path2", SOFF(bands2)),
     .flags = OPT | NE},
    {CC_CFG_KEY("classes", CC_CFG_STR, 0, 0, NULL,
                "library: Sentinel-2 scene classes (SCL): a variable of path/path2 (netcdf) or, with any format, "
                "a raster file (as path); absent: classes by the documented spectral rules",
                SOFF(classes)),
     .flags = OPT | NE},
    {CC_CFG_KEY("scale", CC_CFG_NUM, 0, 1, NULL,
                "library: reflectance = (value + dn_offset) * scale (default: the raster's scale_factor, else "
                "1e-4)",
                SOFF(scale)),
     .flags = OPT},
    {CC_CFG_KEY("max_spectra", CC_CFG_INT, 1, 10000000, "20000",
                "library: at most this many spectra per class from the source (a deterministic random draw)",
                SOFF(max_spectra)),
     .flags = OPT},
    {CC_CFG_KEY("patches", CC_CFG_INT, 1, 100000, NULL, "simulated: number of 128x128 patches", SOFF(patches))},
    {CC_CFG_KEY("domain", CC_CFG_CHOICE, 0, 0, "full",
                "simulated: 'full' (sun zenith 15-75, view zenith 0-12, all relative azimuths, AOT550 0.01-1.0, "
                "water vapour 0.2-5 g cm-2, elevation 0-4000 m, ozone 0.25-0.45 cm-atm) or a stress set at the "
                "domain's edge: low_sun, high_aerosol, dry, humid, mountains, snow, water, cloud",
                SOFF(domain)),
     .choices = "full|low_sun|high_aerosol|dry|humid|mountains|snow|water|cloud", .flags = OPT},
    {CC_CFG_KEY("exclude", CC_CFG_STR, 0, 0, NULL,
                "simulated: library scenes (comma separated) whose spectra are not drawn (leave-one-out)",
                SOFF(exclude)),
     .flags = OPT | NE},
};
/* the kinds each source key applies to (same order as source_keys) */
static const int source_kinds[] = {K_ALL, K_ALL, K_ALL, K_READ, K_PAIR, K_READ, K_PAIR, K_READ | K_SYN, K_READ, K_READ,
                                   K_READ, K_READ, K_READ, K_READ, K_PAIR, K_READ, K_REF | K_PAIR,
                                   K_REF | K_PAIR, K_SIM, K_SIM, K_LIB, K_LIB, K_LIB, K_LIB, K_LIB, K_LIB,
                                   K_SYN, K_SYN, K_SYN};
#define NKEYS(a) (int)(sizeof a / sizeof a[0])
_Static_assert(NKEYS(source_kinds) == NKEYS(source_keys), "one kinds mask per source key");

void cc_dataset_config_print_keys(void)
{
    cc_config_print_keys("Config keys (YAML):", top_keys, NKEYS(top_keys), 18, 0);
    cc_config_print_keys("Keys of each item of sources:", source_keys, NKEYS(source_keys), 18, 0);
}

void cc_dataset_config_free(cc_dataset_config *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nsrc; i++)
        cc_config_free(source_keys, NKEYS(source_keys), &c->src[i]);
    free(c->src);
    free(c->file);
    free(c->dir);
    free(c->shared);
    free(c);
}

/* ${CLEARCUBE_SHARED}: the environment variable, else ../shared next to the
 * repository holding the config (the first ancestor with a CMakeLists.txt or
 * .git), else ../shared next to the config's folder. */
static char *find_shared(const char *cfg_dir)
{
    const char *e = getenv("CLEARCUBE_SHARED");
    if (e && *e)
        return strdup(e);
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", cfg_dir);
    for (;;) {
        char probe[PATH_MAX + 32];
        struct stat st;
        snprintf(probe, sizeof probe, "%s/.git", d);
        int is_repo = stat(probe, &st) == 0;
        snprintf(probe, sizeof probe, "%s/CMakeLists.txt", d);
        is_repo |= stat(probe, &st) == 0;
        if (is_repo) {
            snprintf(probe, sizeof probe, "%s/../shared", d);
            return strdup(probe);
        }
        char *slash = strrchr(d, '/');
        if (!slash || slash == d)
            break;
        *slash = '\0';
    }
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/../shared", cfg_dir);
    return strdup(probe);
}

const char *const cc_dataset_kind_names[CC_DS_NKINDS] = {"reference", "sen2cor-l2a", "pair", "library",
                                                         "simulated"};

static cc_status parse_source(cc_config_ctx *x, yaml_document_t *doc, int idx, yaml_node_t *m, ds_source *s)
{
    char where[64], path[128];
    snprintf(where, sizeof where, "sources[%d]", idx);
    s->line = (int)m->start_mark.line + 1;
    s->kind = -1;
    s->split = -1;
    s->sun_zenith = s->sun_azimuth = s->view_zenith = s->view_azimuth = NAN;
    s->dn_offset = s->l2a_dn_offset = s->elevation = s->aot = s->water_vapour = NAN;
    s->variants = 0;
    s->real_atmosphere = -1;
    s->scale = NAN;
    s->format = 0;          /* scene */
    s->max_spectra = 20000;
    s->domain = 0;          /* full */
    int line[NKEYS(source_keys)] = {0};
    cc_status st = cc_config_set_mapping(x, source_keys, NKEYS(source_keys), doc, m, where, s, line);
    if (st != CC_OK)
        return st;
    for (int pass = 0; pass < 2; pass++) /* 0: required keys missing; 1: keys of other kinds */
        for (int j = 0; j < NKEYS(source_keys); j++) {
            int applies = source_kinds[j] == K_ALL || (s->kind >= 0 && (source_kinds[j] & (1 << s->kind)));
            snprintf(path, sizeof path, "%s.%s", where, source_keys[j].key);
            if (pass == 0 && !line[j] && !(source_keys[j].flags & CC_CFG_OPTIONAL) && applies)
                return cc_config_error(x, path, s->line, "missing (required key)");
            if (pass == 1 && line[j] && !applies)
                return cc_config_error(x, path, line[j], "does not apply to kind %s", cc_dataset_kind_names[s->kind]);
        }
    if (s->kind != CC_DS_SIMULATED && !s->path) {
        snprintf(path, sizeof path, "%s.path", where);
        return cc_config_error(x, path, s->line, "missing (required key)");
    }
    if (s->kind == CC_DS_LIBRARY && s->format != 0 && !s->bands) {
        snprintf(path, sizeof path, "%s.bands", where);
        return cc_config_error(x, path, s->line, "missing (format stack/netcdf needs the band names)");
    }
    if (s->kind == CC_DS_LIBRARY && (!s->path2) != (!s->bands2)) {
        snprintf(path, sizeof path, "%s.%s", where, s->path2 ? "bands2" : "path2");
        return cc_config_error(x, path, s->line, "missing (path2 and bands2 go together)");
    }
    if (s->kind == CC_DS_SEN2COR_L2A) {
        if (s->real_atmosphere < 0)
            s->real_atmosphere = 1;
        if (!s->real_atmosphere && s->variants == 0) {
            snprintf(path, sizeof path, "%s.variants", where);
            return cc_config_error(x, path, s->line, "0 with real_atmosphere false: the source would give nothing");
        }
    }
    return CC_OK;
}

/* The `sources` key: a non-empty list of source mappings. */
static cc_status parse_sources(cc_config_ctx *x, const cc_config_key *k, const char *name, yaml_document_t *doc,
                               yaml_node_t *v, void *obj)
{
    (void)k;
    cc_dataset_config *c = obj;
    if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top == v->data.sequence.items.start)
        return cc_config_error(x, name, (int)v->start_mark.line + 1,
                               "missing or empty (a list of sources is required)");
    int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (!(c->src = calloc((size_t)n, sizeof *c->src)))
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", c->file);
    for (int i = 0; i < n; i++) {
        c->nsrc = i + 1;
        yaml_node_t *m = yaml_document_get_node(doc, v->data.sequence.items.start[i]);
        cc_status st = parse_source(x, doc, i, m, &c->src[i]);
        if (st != CC_OK)
            return st;
    }
    return CC_OK;
}

cc_status cc_dataset_config_load(const char *file, cc_dataset_config **out)
{
    *out = NULL;
    cc_status st = CC_OK;
    cc_dataset_config *c = calloc(1, sizeof *c);
    if (!c)
        return cc_error_set(CC_ERR_NOMEM, "%s: out of memory", file);
    c->file = strdup(file);
    char absbuf[PATH_MAX];
    if (!realpath(file, absbuf))
        snprintf(absbuf, sizeof absbuf, "%s", file);
    char *slash = strrchr(absbuf, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(absbuf, sizeof absbuf, ".");
    c->dir = strdup(absbuf);
    c->shared = c->dir ? find_shared(c->dir) : NULL;
    if (!c->file || !c->dir || !c->shared) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", file);
        goto out;
    }
    st = cc_config_load(file, top_keys, NKEYS(top_keys), c, &(cc_config_opts){.dir = c->dir, .shared = c->shared});
    if (st != CC_OK)
        goto out;
    /* a scene belongs to one split */
    for (int i = 0; i < c->nsrc; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(c->src[i].scene, c->src[j].scene) && c->src[i].split != c->src[j].split) {
                st = cc_error_set(CC_ERR_ARG,
                                  "%s: sources[%d].split: scene '%s' is '%s' here (line %d) but '%s' in "
                                  "sources[%d] (line %d); a scene must be in one split only",
                                  file, i, c->src[i].scene, c->src[i].split ? "val" : "train", c->src[i].line,
                                  c->src[j].split ? "val" : "train", j, c->src[j].line);
                goto out;
            }
out:
    if (st != CC_OK) {
        cc_dataset_config_free(c);
        return st;
    }
    *out = c;
    return CC_OK;
}
