/* `clearcube dataset`: training patches for an L1C -> L2A emulator.
 * Config (YAML, one key table below), sources of three kinds, 128x128 patches
 * of the 12 L2A bands, one HDF5 file written atomically.
 * Format: docs/formats/dataset.md. */
#define _GNU_SOURCE /* strdup, strndup, realpath */
#include "pipeline/boa/dataset.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/reflectance.h"
#include "io/s2/scene.h"
#include "io/grid/grid.h"
#include "pipeline/atmos/reference.h"
#include "kernels/smac/smac.h"

#define P CC_DATASET_PATCH
#define NB CC_L2A_NBANDS
#define PP ((size_t)P * P)

/* ------------------------------------------------------------------ config */

typedef struct {
    char *scene;
    int kind;  /* cc_dataset_kind */
    int split; /* 0 train, 1 val */
    char *path, *l2a_path;
    char *bands, *spacecraft, *date, *l2a_bands;
    double sun_zenith, sun_azimuth, view_zenith, view_azimuth, dn_offset, l2a_dn_offset;
    double elevation, aot, water_vapour;
    int variants, real_atmosphere;
    int line;
} ds_source;

struct cc_dataset_config {
    char *file;
    char *dir;      /* folder of the config (absolute) */
    char *shared;   /* ${CLEARCUBE_SHARED} */
    long seed;
    int missing_bands_error;
    int nsrc;
    ds_source *src;
};

enum { K_REF = 1 << CC_DS_REFERENCE, K_SIM = 1 << CC_DS_SEN2COR_L2A, K_PAIR = 1 << CC_DS_PAIR,
       K_ALL = K_REF | K_SIM | K_PAIR };

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
                "(SMAC forward); pair: real L1C + real L2A",
                SOFF(kind)),
     .choices = "reference|sen2cor-l2a|pair"},
    {CC_CFG_KEY("split", CC_CFG_CHOICE, 0, 0, NULL, "train or val", SOFF(split)), .choices = "train|val"},
    {CC_CFG_KEY("path", CC_CFG_PATH, 0, 0, NULL,
                "input (L1C for reference/pair, L2A for sen2cor-l2a): SAFE dir/zip, GeoTIFF stack or band folder; "
                "${CLEARCUBE_SHARED} is expanded, relative paths are relative to the config",
                SOFF(path)),
     .flags = PATHF},
    {CC_CFG_KEY("l2a_path", CC_CFG_PATH, 0, 0, NULL, "pair: the Sen2Cor L2A of the same scene", SOFF(l2a_path)),
     .flags = PATHF},
    {CC_CFG_KEY("bands", CC_CFG_STR, 0, 0, NULL, "band order of a multi-band file (as --bands)", SOFF(bands)),
     .flags = OPT | NE},
    {CC_CFG_KEY("l2a_bands", CC_CFG_STR, 0, 0, NULL, "pair: band order of the L2A file", SOFF(l2a_bands)),
     .flags = OPT | NE},
    {CC_CFG_KEY("spacecraft", CC_CFG_STR, 0, 0, NULL, "S2A|S2B|S2C (as --spacecraft)", SOFF(spacecraft)),
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
};
/* the kinds each source key applies to (same order as source_keys) */
static const int source_kinds[] = {K_ALL, K_ALL, K_ALL, K_ALL, K_PAIR, K_ALL, K_PAIR, K_ALL, K_ALL, K_ALL, K_ALL,
                                   K_ALL, K_ALL, K_ALL, K_PAIR, K_ALL, K_REF | K_PAIR, K_REF | K_PAIR, K_SIM, K_SIM};
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

static const char *const kind_names[3] = {"reference", "sen2cor-l2a", "pair"};

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
                return cc_config_error(x, path, line[j], "does not apply to kind %s", kind_names[s->kind]);
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

/* ------------------------------------------------------------------ HDF5 writer */

typedef struct {
    hid_t f, l1c, l2a, ctx, scene, split, kind;
    hsize_t n;
} h5w;

static hid_t mkds(hid_t f, const char *name, hid_t type, int rank, const hsize_t *row, hsize_t chunk0)
{
    hsize_t dims[4] = {0}, maxd[4], chunk[4];
    maxd[0] = H5S_UNLIMITED;
    chunk[0] = chunk0;
    for (int i = 1; i < rank; i++) {
        dims[i] = maxd[i] = chunk[i] = row[i - 1];
    }
    hid_t sp = H5Screate_simple(rank, dims, maxd);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, rank, chunk);
    H5Pset_deflate(pl, 1);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Pclose(pl);
    H5Sclose(sp);
    return d;
}

static int h5_append(hid_t d, int rank, hsize_t n, const hsize_t *row, hid_t memtype, const void *buf)
{
    hsize_t dims[4], start[4] = {0}, count[4];
    dims[0] = n + 1;
    start[0] = n;
    count[0] = 1;
    for (int i = 1; i < rank; i++)
        dims[i] = count[i] = row[i - 1];
    if (H5Dset_extent(d, dims) < 0)
        return -1;
    hid_t fs = H5Dget_space(d);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    herr_t e = H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    return e < 0 ? -1 : 0;
}

static cc_status writer_open(h5w *w, const char *tmp, const char *out)
{
    memset(w, 0, sizeof *w);
    w->f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->f < 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot create the output (%s)", out,
                            errno ? strerror(errno) : "HDF5 create failed");
    hsize_t img[3] = {P, P, NB}, ctx[1] = {CC_DATASET_NCTX};
    w->l1c = mkds(w->f, "l1c", H5T_STD_U16LE, 4, img, 1);
    w->l2a = mkds(w->f, "l2a", H5T_STD_U16LE, 4, img, 1);
    w->ctx = mkds(w->f, "context", H5T_IEEE_F32LE, 2, ctx, 256);
    w->scene = mkds(w->f, "scene", H5T_STD_I32LE, 1, NULL, 1024);
    w->split = mkds(w->f, "split", H5T_STD_U8LE, 1, NULL, 1024);
    w->kind = mkds(w->f, "kind", H5T_STD_U8LE, 1, NULL, 1024);
    if (w->l1c < 0 || w->l2a < 0 || w->ctx < 0 || w->scene < 0 || w->split < 0 || w->kind < 0)
        return cc_error_set(CC_ERR_IO, "%s: cannot create the HDF5 datasets", out);
    return CC_OK;
}

static void writer_close(h5w *w)
{
    hid_t *ids[] = {&w->l1c, &w->l2a, &w->ctx, &w->scene, &w->split, &w->kind};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (*ids[i] > 0)
            H5Dclose(*ids[i]), *ids[i] = 0;
    if (w->f > 0)
        H5Fclose(w->f), w->f = 0;
}

static cc_status writer_add(h5w *w, const char *out, const uint16_t *l1c, const uint16_t *l2a,
                            const float *ctx, int scene, int split, int kind)
{
    hsize_t img[3] = {P, P, NB}, cr[1] = {CC_DATASET_NCTX};
    int32_t sc = scene;
    uint8_t sp = (uint8_t)split, kd = (uint8_t)kind;
    if (h5_append(w->l1c, 4, w->n, img, H5T_NATIVE_UINT16, l1c) || h5_append(w->l2a, 4, w->n, img, H5T_NATIVE_UINT16, l2a) ||
        h5_append(w->ctx, 2, w->n, cr, H5T_NATIVE_FLOAT, ctx) || h5_append(w->scene, 1, w->n, NULL, H5T_NATIVE_INT32, &sc) ||
        h5_append(w->split, 1, w->n, NULL, H5T_NATIVE_UINT8, &sp) ||
        h5_append(w->kind, 1, w->n, NULL, H5T_NATIVE_UINT8, &kd))
        return cc_error_set(CC_ERR_IO, "%s: cannot write patch %llu (disk full?)", out, (unsigned long long)w->n);
    w->n++;
    return CC_OK;
}

static hid_t vlen_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int attr_str(hid_t obj, const char *name, const char *val)
{
    hid_t t = vlen_str_type(), sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, t, &val);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return e < 0 ? -1 : 0;
}

static int attr_int(hid_t obj, const char *name, int v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT, &v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return e < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ patches */

/* deterministic random numbers: splitmix64 */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double urand(uint64_t *s, double lo, double hi)
{
    *s = mix64(*s);
    return lo + (hi - lo) * ((double)(*s >> 11) * (1.0 / 9007199254740992.0));
}
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

typedef struct {
    double sz, sa, vz, va, aot, wv, p_hpa;
} ds_atmos;

static void context_of(const ds_atmos *a, float ctx[CC_DATASET_NCTX])
{
    const double d2r = M_PI / 180.0;
    ctx[0] = (float)cos(a->sz * d2r);
    ctx[1] = (float)cos(a->vz * d2r);
    ctx[2] = (float)cos((a->sa - a->va) * d2r);
    ctx[3] = (float)a->aot;
    ctx[4] = (float)a->wv;
    ctx[5] = (float)(a->p_hpa / 1013.25);
}

/* Random atmosphere and geometry of variant v of patch `patch` (documented ranges). */
static void draw_atmos(uint64_t source_seed, size_t patch, int v, ds_atmos *a)
{
    uint64_t s = mix64(source_seed ^ mix64((uint64_t)patch * 100003ULL + (uint64_t)v));
    a->aot = exp(urand(&s, log(0.02), log(0.6)));
    a->wv = urand(&s, 0.3, 4.0);
    a->sz = urand(&s, 20.0, 70.0);
    a->vz = urand(&s, 0.0, 11.0);
    double raa = urand(&s, 0.0, 180.0);
    a->sa = urand(&s, 90.0, 270.0);
    a->va = a->sa - raa;
    a->p_hpa = cc_smac_pressure_from_elevation(urand(&s, 0.0, 2500.0));
}

void cc_dataset_region_angles(const cc_scene *s, const cc_grid *g, int x0, int y0, int w, int h, double *sun_zenith,
                              double *sun_azimuth, double *view_zenith, double *view_azimuth)
{
    double szs = 0, vzs = 0, sas = 0, sac = 0, vas = 0, vac = 0;
    int n = 0, nv = 0;
    const double d2r = M_PI / 180.0;
    for (int r = 0; r < h; r += 8)
        for (int c = 0; c < w; c += 8) {
            int col = x0 + c, row = y0 + r;
            if (col >= g->width)
                col = g->width - 1;
            if (row >= g->height)
                row = g->height - 1;
            double x, y;
            cc_grid_xy(g, col, row, &x, &y);
            double z = cc_angle_grid_sample(&s->sun_zenith, x, y);
            double az = cc_angle_grid_sample_azimuth(&s->sun_azimuth, x, y);
            if (!isnan(z) && !isnan(az)) {
                szs += z;
                sas += sin(az * d2r);
                sac += cos(az * d2r);
                n++;
            }
            for (int k = 0; k < NB; k++) {
                int b = cc_l2a_bands[k];
                if (!s->view_zenith[b].v || !s->view_azimuth[b].v)
                    continue;
                double vz = cc_angle_grid_sample(&s->view_zenith[b], x, y);
                double va = cc_angle_grid_sample_azimuth(&s->view_azimuth[b], x, y);
                if (isnan(vz) || isnan(va))
                    continue;
                vzs += vz;
                vas += sin(va * d2r);
                vac += cos(va * d2r);
                nv++;
            }
        }
    *sun_zenith = n ? szs / n : NAN;
    *sun_azimuth = n ? atan2(sas, sac) / d2r : NAN;
    *view_zenith = nv ? vzs / nv : 0.0;
    *view_azimuth = nv ? atan2(vas, vac) / d2r : 0.0;
}

/* Patch-mean angles (cc_dataset_region_angles over the patch). */
static void patch_angles(const cc_scene *s, const cc_grid *g, int x0, int y0, ds_atmos *a)
{
    cc_dataset_region_angles(s, g, x0, y0, P, P, &a->sz, &a->sa, &a->vz, &a->va);
}

/* Copies a patch of 12 full-grid bands into channels-last `out`, and clears
 * `valid` where a pixel is outside the grid or nodata in any band. */
static void gather(uint16_t *const full[NB], const cc_grid *g, int x0, int y0, uint16_t *out, uint8_t *valid)
{
    for (int r = 0; r < P; r++)
        for (int c = 0; c < P; c++) {
            size_t pi = (size_t)r * P + c;
            uint16_t *o = out + pi * NB;
            int col = x0 + c, row = y0 + r;
            if (col >= g->width || row >= g->height) {
                memset(o, 0, NB * sizeof *o);
                valid[pi] = 0;
                continue;
            }
            size_t i = (size_t)row * g->width + col;
            for (int k = 0; k < NB; k++) {
                o[k] = full[k][i];
                if (!o[k])
                    valid[pi] = 0;
            }
        }
}

/* Zeroes invalid pixels in both patches; returns the number of valid pixels. */
static size_t apply_mask(uint16_t *l1c, uint16_t *l2a, const uint8_t *valid)
{
    size_t nv = 0;
    for (size_t pi = 0; pi < PP; pi++) {
        if (valid[pi]) {
            nv++;
            continue;
        }
        memset(l1c + pi * NB, 0, NB * sizeof *l1c);
        memset(l2a + pi * NB, 0, NB * sizeof *l2a);
    }
    return nv;
}

#define MIN_VALID (PP / 2)

typedef struct {
    const cc_dataset_config *c;
    h5w *w;
    const char *out;
    cc_dataset_summary *sum;
    int scene_idx;
    uint16_t *p1, *p2; /* patch buffers P*P*NB */
    uint8_t *valid;
} run_ctx;

static cc_status emit(run_ctx *rc, const ds_source *src, const ds_atmos *a)
{
    float ctx[CC_DATASET_NCTX];
    context_of(a, ctx);
    cc_status st = writer_add(rc->w, rc->out, rc->p1, rc->p2, ctx, rc->scene_idx, src->split, src->kind);
    if (st == CC_OK) {
        rc->sum->n_patches++;
        if (src->split)
            rc->sum->n_val++;
        else
            rc->sum->n_train++;
        rc->sum->n_kind[src->kind]++;
    }
    return st;
}

static cc_status open_scene(const ds_source *src, int l2a, cc_scene **s)
{
    cc_scene_options o;
    cc_scene_options_init(&o);
    o.bands = l2a ? src->l2a_bands : src->bands;
    o.spacecraft = src->spacecraft;
    o.date = src->date;
    o.sun_zenith = src->sun_zenith;
    o.sun_azimuth = src->sun_azimuth;
    o.view_zenith = src->view_zenith;
    o.view_azimuth = src->view_azimuth;
    o.dn_offset = l2a ? src->l2a_dn_offset : src->dn_offset;
    if (src->kind == CC_DS_SEN2COR_L2A) {
        /* angles only matter for the real-atmosphere variant; placeholders
         * let a stack without them open (its random variants draw their own) */
        if (isnan(o.sun_zenith)) o.sun_zenith = 45;
        if (isnan(o.sun_azimuth)) o.sun_azimuth = 150;
        if (isnan(o.view_zenith)) o.view_zenith = 5;
        if (isnan(o.view_azimuth)) o.view_azimuth = 100;
    }
    return cc_scene_open(l2a ? src->l2a_path : src->path, &o, s);
}

int cc_dataset_has_l2a_bands(const cc_scene *s, char *miss, size_t len)
{
    miss[0] = '\0';
    for (int k = 0; k < NB; k++)
        if (!s->band[cc_l2a_bands[k]].present) {
            size_t l = strlen(miss);
            snprintf(miss + l, len - l, "%s%s", l ? "," : "", cc_band_names[cc_l2a_bands[k]]);
        }
    return miss[0] == '\0';
}
#define has_bands cc_dataset_has_l2a_bands

/* Resamples a band onto g and encodes it as dataset DN (0 = nodata). */
static cc_status band_to_dn(const cc_scene *s, int b, const cc_grid *g, float *tmp, uint16_t *out)
{
    cc_status st = cc_grid_resample_band(&s->band[b], s->wkt, g, tmp);
    if (st != CC_OK)
        return st;
    size_t n = cc_grid_npix(g);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[i] <= 0.0f ? 0
                                : cc_refl_encode(cc_refl_decode(tmp[i], s->radio_offset[b], s->quantification),
                                                 CC_DATASET_DN_OFFSET, CC_REFL_QUANT);
    return CC_OK;
}

static cc_status skip_or_fail(const run_ctx *rc, int i, const ds_source *src, const char *miss)
{
    if (rc->c->missing_bands_error)
        return cc_error_set(CC_ERR_MISSING, "%s: sources[%d] (%s): lacks band(s) %s of the 12 L2A bands", src->path,
                            i, src->scene, miss);
    cc_warn("%s: sources[%d] (%s) lacks band(s) %s of the 12 L2A bands: skipped", src->path, i, src->scene, miss);
    rc->sum->n_sources_skipped++;
    return CC_OK;
}

/* kind reference and pair: real L1C, targets from cc_reference_run or the real L2A */
static cc_status run_l1c_source(run_ctx *rc, int i, const ds_source *src)
{
    cc_status st;
    cc_scene *s = NULL, *s2 = NULL;
    cc_reference_result r;
    memset(&r, 0, sizeof r);
    uint16_t *l1c[NB] = {0}, *l2a[NB] = {0};
    float *tmp = NULL;
    char miss[64];
    if ((st = open_scene(src, 0, &s)) != CC_OK)
        goto out;
    if (s->level != CC_LEVEL_L1C) {
        st = cc_error_set(CC_ERR_ARG, "%s: sources[%d]: input is Level-2A; kind %s needs L1C", src->path, i,
                          kind_names[src->kind]);
        goto out;
    }
    if (!has_bands(s, miss, sizeof miss)) {
        st = skip_or_fail(rc, i, src, miss);
        goto out;
    }
    if (src->kind == CC_DS_PAIR) {
        if ((st = open_scene(src, 1, &s2)) != CC_OK)
            goto out;
        if (!has_bands(s2, miss, sizeof miss)) {
            st = skip_or_fail(rc, i, src, miss);
            goto out;
        }
    }
    cc_reference_options ro;
    cc_reference_options_init(&ro);
    ro.aot550 = src->aot;
    ro.water_vapour = src->water_vapour;
    ro.elevation_m = src->elevation;
    if ((st = cc_reference_run(s, &ro, &r)) != CC_OK)
        goto out;
    const cc_grid *g = &r.grid;
    size_t n = cc_grid_npix(g);
    if (!(tmp = cc_malloc3(n, sizeof(float), 1))) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    for (int k = 0; k < NB; k++) {
        int b = cc_l2a_bands[k];
        if (!(l1c[k] = cc_malloc3(n, sizeof(uint16_t), 1)) || !(l2a[k] = cc_malloc3(n, sizeof(uint16_t), 1))) {
            st = CC_ERR_NOMEM;
            goto out;
        }
        if ((st = band_to_dn(s, b, g, tmp, l1c[k])) != CC_OK)
            goto out;
        if (src->kind == CC_DS_PAIR) {
            if ((st = band_to_dn(s2, b, g, tmp, l2a[k])) != CC_OK)
                goto out;
        } else {
            int ok = -1;
            for (int j = 0; j < r.nbands; j++)
                if (r.band[j] == b)
                    ok = j;
            if (ok < 0) {
                st = cc_error_set(CC_ERR_MISSING, "%s: reference output lacks band %s", src->path, cc_band_names[b]);
                goto out;
            }
            for (size_t q = 0; q < n; q++) {
                uint16_t v = r.boa[ok][q];
                if (!v) {
                    l2a[k][q] = 0;
                    continue;
                }
                long dn = (long)v - lround(r.dn_offset) + CC_DATASET_DN_OFFSET; /* same rho, new offset */
                l2a[k][q] = cc_refl_dn_round((double)dn);
            }
        }
    }
    ds_atmos a = {.aot = r.aot550, .wv = r.water_vapour, .p_hpa = r.pressure_hpa};
    size_t kept = 0;
    for (int y0 = 0; y0 < g->height; y0 += P)
        for (int x0 = 0; x0 < g->width; x0 += P) {
            memset(rc->valid, 1, PP);
            gather(l1c, g, x0, y0, rc->p1, rc->valid);
            gather(l2a, g, x0, y0, rc->p2, rc->valid);
            if (apply_mask(rc->p1, rc->p2, rc->valid) < MIN_VALID)
                continue;
            patch_angles(s, g, x0, y0, &a);
            if ((st = emit(rc, src, &a)) != CC_OK)
                goto out;
            kept++;
        }
    cc_info("%s: sources[%d] (%s, %s, %s): %zu patches from a %dx%d grid; %s", src->path, i, src->scene,
            kind_names[src->kind], src->split ? "val" : "train", kept, g->width, g->height, r.parameters);
    rc->sum->n_sources_used++;
    st = CC_OK;
out:
    for (int k = 0; k < NB; k++) {
        free(l1c[k]);
        free(l2a[k]);
    }
    free(tmp);
    cc_reference_result_free(&r);
    cc_scene_free(s);
    cc_scene_free(s2);
    return st;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void cc_dataset_l2a_free(cc_dataset_l2a *l)
{
    free(l->data);
    free(l->aot);
    free(l->wv);
    memset(l, 0, sizeof *l);
    l->wv_median = NAN;
}

cc_status cc_dataset_l2a_read(const cc_scene *s, int atmosphere, cc_dataset_l2a *l)
{
    cc_status st;
    float *tmp = NULL, *sorted = NULL;
    memset(l, 0, sizeof *l);
    l->wv_median = NAN;
    if ((st = cc_grid_for_scene(s, 0, &l->grid)) != CC_OK)
        return st;
    const cc_grid *g = &l->grid;
    size_t n = cc_grid_npix(g);
    if (!(tmp = cc_malloc3(n, sizeof(float), 1)) || !(l->data = cc_malloc3(n, NB, sizeof(uint16_t)))) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    for (int k = 0; k < NB; k++) {
        l->boa[k] = l->data + (size_t)k * n;
        if ((st = band_to_dn(s, cc_l2a_bands[k], g, tmp, l->boa[k])) != CC_OK)
            goto out;
    }
    if (!atmosphere || !s->aot.present || !s->wvp.present) {
        st = CC_OK;
        goto out;
    }
    l->aot = cc_malloc3(n, sizeof(float), 1);
    l->wv = cc_malloc3(n, sizeof(float), 1);
    sorted = cc_malloc3(n, sizeof(float), 1);
    if (!l->aot || !l->wv || !sorted) {
        st = CC_ERR_NOMEM;
        goto out;
    }
    if ((st = cc_grid_resample_band(&s->aot, s->wkt, g, l->aot)) != CC_OK ||
        (st = cc_grid_resample_band(&s->wvp, s->wkt, g, l->wv)) != CC_OK)
        goto out;
    size_t m = 0;
    for (size_t q = 0; q < n; q++) {
        l->aot[q] = l->aot[q] > 0 ? (float)(l->aot[q] / s->aot_quantification) : NAN;
        l->wv[q] = l->wv[q] > 0 ? (float)(l->wv[q] / s->wvp_quantification) : NAN;
        if (!isnan(l->wv[q]))
            sorted[m++] = l->wv[q];
    }
    if (m == 0) {
        free(l->aot);
        free(l->wv);
        l->aot = l->wv = NULL;
    } else {
        qsort(sorted, m, sizeof *sorted, cmp_float);
        l->wv_median = m % 2 ? sorted[m / 2] : 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]);
    }
    st = CC_OK;
out:
    free(tmp);
    free(sorted);
    if (st != CC_OK)
        cc_dataset_l2a_free(l);
    return st;
}

cc_status cc_dataset_forward_init(cc_dataset_forward *f, cc_spacecraft sc, double sun_zenith, double sun_azimuth,
                                  double view_zenith, double view_azimuth, double pressure_hpa, double aot550,
                                  double water_vapour)
{
    f->at = (cc_smac_atmos){.tetas = sun_zenith, .phis = sun_azimuth, .tetav = view_zenith, .phiv = view_azimuth,
                            .pressure_hpa = pressure_hpa, .aot550 = aot550, .uo3 = 0.331, .uh2o = water_vapour};
    for (int k = 0; k < NB; k++) {
        if (!(f->cf[k] = cc_smac_coefs_get(sc, cc_l2a_bands[k])))
            return CC_ERR_ARG;
        cc_smac_terms_compute(f->cf[k], &f->at, &f->t[k]);
    }
    return CC_OK;
}

void cc_dataset_forward_pixel(const cc_dataset_forward *f, double aot550, double water_vapour, const uint16_t *in,
                              size_t in_stride, uint16_t *out, size_t out_stride)
{
    cc_smac_terms tp[NB];
    const cc_smac_terms *t = f->t;
    if (!isnan(aot550) || !isnan(water_vapour)) {
        cc_smac_atmos at = f->at;
        if (!isnan(aot550))
            at.aot550 = aot550;
        if (!isnan(water_vapour))
            at.uh2o = water_vapour;
        for (int k = 0; k < NB; k++)
            cc_smac_terms_compute(f->cf[k], &at, &tp[k]);
        t = tp;
    }
    for (int k = 0; k < NB; k++) {
        double rho_s = cc_refl_decode(in[k * in_stride], -CC_DATASET_DN_OFFSET, CC_REFL_QUANT);
        out[k * out_stride] = cc_refl_encode(cc_smac_forward(&t[k], rho_s), CC_DATASET_DN_OFFSET, CC_REFL_QUANT);
    }
}

/* SMAC forward of one patch: l2a patch in rc->p2, valid mask, into rc->p1.
 * aot/wv NULL: uniform atmosphere `a`; else per-pixel layers (full grid). */
static void forward_patch(run_ctx *rc, cc_spacecraft sc, const ds_atmos *a, const float *aot, const float *wv,
                          const cc_grid *g, int x0, int y0)
{
    cc_dataset_forward f;
    cc_dataset_forward_init(&f, sc, a->sz, a->sa, a->vz, a->va, a->p_hpa, a->aot, a->wv);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < P; r++)
        for (int c = 0; c < P; c++) {
            size_t pi = (size_t)r * P + c;
            uint16_t *o = rc->p1 + pi * NB;
            if (!rc->valid[pi]) {
                memset(o, 0, NB * sizeof *o);
                continue;
            }
            size_t i = (size_t)(y0 + r) * g->width + (x0 + c);
            cc_dataset_forward_pixel(&f, aot ? aot[i] : NAN, aot ? wv[i] : NAN, rc->p2 + pi * NB, 1, o, 1);
        }
}

/* kind sen2cor-l2a: real L2A -> SIMULATED L1C */
static cc_status run_l2a_source(run_ctx *rc, int i, const ds_source *src)
{
    cc_status st;
    cc_scene *s = NULL;
    cc_dataset_l2a l2;
    memset(&l2, 0, sizeof l2);
    char miss[64];
    if ((st = open_scene(src, 0, &s)) != CC_OK)
        goto out;
    if (s->level != CC_LEVEL_L2A) {
        st = cc_error_set(CC_ERR_ARG,
                          "%s: sources[%d]: not recognised as Level-2A (no SCL/AOT/WVP layer, no L2A/MSIL2A/BOA "
                          "token in the name); kind sen2cor-l2a needs Sen2Cor L2A", src->path, i);
        goto out;
    }
    if (!has_bands(s, miss, sizeof miss)) {
        st = skip_or_fail(rc, i, src, miss);
        goto out;
    }
    if (!cc_smac_coefs_get(s->spacecraft, CC_B02)) {
        st = cc_error_set(CC_ERR_ARG, "%s: sources[%d]: spacecraft unknown (set spacecraft: S2A|S2B|S2C)", src->path, i);
        goto out;
    }
    int real = src->real_atmosphere && s->aot.present && s->wvp.present && !isnan(src->sun_zenith) &&
               !isnan(src->sun_azimuth) && !isnan(src->view_zenith) && !isnan(src->view_azimuth);
    if (src->real_atmosphere && !real && src->variants == 0) {
        st = cc_error_set(CC_ERR_MISSING,
                          "%s: sources[%d]: real_atmosphere needs AOT and WVP layers and sun/view angles, and "
                          "variants is 0: nothing to make", src->path, i);
        goto out;
    }
    if (src->real_atmosphere && !real)
        cc_info("%s: sources[%d]: no AOT/WVP layers or angles: random variants only", src->path, i);
    if ((st = cc_dataset_l2a_read(s, real, &l2)) != CC_OK)
        goto out;
    if (real && !l2.aot) {
        real = 0;
        cc_warn("%s: sources[%d]: WVP layer has no valid pixel: random variants only", src->path, i);
    }
    const cc_grid g = l2.grid;
    uint16_t *const *l2a = l2.boa;
    const float *aot = l2.aot, *wv = l2.wv;
    double wv_median = l2.wv_median;
    uint64_t seed = mix64((uint64_t)rc->c->seed ^ hash_str(src->scene) ^ mix64((uint64_t)i + 1));
    double p_real = isnan(src->elevation) ? 1013.25 : cc_smac_pressure_from_elevation(src->elevation);
    size_t kept = 0, patch = 0;
    for (int y0 = 0; y0 < g.height; y0 += P)
        for (int x0 = 0; x0 < g.width; x0 += P, patch++) {
            memset(rc->valid, 1, PP);
            gather(l2a, &g, x0, y0, rc->p2, rc->valid);
            size_t nv = 0;
            for (size_t pi = 0; pi < PP; pi++)
                nv += rc->valid[pi];
            if (nv < MIN_VALID)
                continue;
            apply_mask(rc->p1, rc->p2, rc->valid); /* a pixel is valid in all bands or nodata in all */
            if (real) {
                /* pixels without AOT/WVP are not usable for this variant */
                uint8_t *keep = malloc(PP);
                if (!keep) {
                    st = CC_ERR_NOMEM;
                    goto out;
                }
                memcpy(keep, rc->valid, PP);
                double asum = 0;
                size_t an = 0;
                for (int r = 0; r < P; r++)
                    for (int c = 0; c < P; c++) {
                        size_t pi = (size_t)r * P + c;
                        if (!rc->valid[pi])
                            continue;
                        size_t q = (size_t)(y0 + r) * g.width + (x0 + c);
                        if (isnan(aot[q]) || isnan(wv[q])) {
                            rc->valid[pi] = 0;
                            continue;
                        }
                        asum += aot[q];
                        an++;
                    }
                if (an >= MIN_VALID) {
                    ds_atmos a = {.aot = asum / an, .wv = wv_median, .p_hpa = p_real};
                    patch_angles(s, &g, x0, y0, &a);
                    forward_patch(rc, s->spacecraft, &a, aot, wv, &g, x0, y0);
                    /* p2 is overwritten by apply_mask: keep a copy of the L2A */
                    uint16_t *save = malloc(PP * NB * sizeof *save);
                    if (!save) {
                        free(keep);
                        st = CC_ERR_NOMEM;
                        goto out;
                    }
                    memcpy(save, rc->p2, PP * NB * sizeof *save);
                    apply_mask(rc->p1, rc->p2, rc->valid);
                    st = emit(rc, src, &a);
                    memcpy(rc->p2, save, PP * NB * sizeof *save);
                    free(save);
                    if (st != CC_OK) {
                        free(keep);
                        goto out;
                    }
                    kept++;
                }
                memcpy(rc->valid, keep, PP);
                free(keep);
            }
            for (int v = 1; v <= src->variants; v++) {
                ds_atmos a;
                draw_atmos(seed, patch, v, &a);
                forward_patch(rc, s->spacecraft, &a, NULL, NULL, &g, x0, y0);
                if ((st = emit(rc, src, &a)) != CC_OK)
                    goto out;
                kept++;
            }
        }
    cc_info("%s: sources[%d] (%s, sen2cor-l2a -> SIMULATED L1C, %s): %zu patches from a %dx%d grid "
            "(%s real-atmosphere variant, %d random variants per patch)",
            src->path, i, src->scene, src->split ? "val" : "train", kept, g.width, g.height, real ? "with" : "no",
            src->variants);
    rc->sum->n_sources_used++;
    st = CC_OK;
out:
    cc_dataset_l2a_free(&l2);
    cc_scene_free(s);
    return st;
}

/* ------------------------------------------------------------------ build */

static char *provenance(const cc_dataset_config *c)
{
    size_t cap = 4096 + (size_t)c->nsrc * 2048, len = 0;
    char *p = malloc(cap);
    if (!p)
        return NULL;
    len += (size_t)snprintf(p + len, cap - len, "config=%s; seed=%ld; missing_bands=%s; CLEARCUBE_SHARED=%s",
                            c->file, c->seed, c->missing_bands_error ? "error" : "skip", c->shared);
    for (int i = 0; i < c->nsrc && len < cap; i++) {
        const ds_source *s = &c->src[i];
        len += (size_t)snprintf(p + len, cap - len, "\nsources[%d]: scene=%s kind=%s%s split=%s path=%s", i, s->scene,
                                kind_names[s->kind], s->kind == CC_DS_SEN2COR_L2A ? " (SIMULATED L1C)" : "",
                                s->split ? "val" : "train", s->path);
        if (s->l2a_path && len < cap)
            len += (size_t)snprintf(p + len, cap - len, " l2a_path=%s", s->l2a_path);
        if (s->kind == CC_DS_SEN2COR_L2A && len < cap)
            len += (size_t)snprintf(p + len, cap - len, " variants=%d real_atmosphere=%d", s->variants,
                                    s->real_atmosphere);
        if (!isnan(s->elevation) && len < cap)
            len += (size_t)snprintf(p + len, cap - len, " elevation=%g", s->elevation);
    }
    return p;
}

cc_status cc_dataset_build(const cc_dataset_config *c, const char *out, cc_dataset_summary *sum)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(sum, 0, sizeof *sum);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    cc_status st = CC_OK;
    char tmp[PATH_MAX + 64];
    if ((st = cc_fs_temp_name(out, NULL, tmp, sizeof tmp)) != CC_OK)
        return st;
    struct stat sto;
    if (stat(out, &sto) == 0 && S_ISDIR(sto.st_mode))
        return cc_error_set(CC_ERR_ARG, "%s: is a directory (need an output file name)", out);
    /* scene table: unique names in config order */
    const char **scenes = calloc((size_t)c->nsrc, sizeof *scenes);
    char *prov = provenance(c);
    h5w w;
    memset(&w, 0, sizeof w);
    run_ctx rc = {.c = c, .w = &w, .out = out, .sum = sum};
    rc.p1 = malloc(PP * NB * sizeof(uint16_t));
    rc.p2 = malloc(PP * NB * sizeof(uint16_t));
    rc.valid = malloc(PP);
    int created = 0;
    if (!scenes || !prov || !rc.p1 || !rc.p2 || !rc.valid) {
        st = cc_error_set(CC_ERR_NOMEM, "%s: out of memory", out);
        goto out;
    }
    int ns = 0;
    for (int i = 0; i < c->nsrc; i++) {
        int j;
        for (j = 0; j < ns; j++)
            if (!strcmp(scenes[j], c->src[i].scene))
                break;
        if (j == ns)
            scenes[ns++] = c->src[i].scene;
    }
    sum->n_scenes = ns;
    errno = 0;
    st = writer_open(&w, tmp, out);
    created = w.f > 0;
    if (st != CC_OK)
        goto out;
    for (int i = 0; i < c->nsrc; i++) {
        const ds_source *src = &c->src[i];
        for (rc.scene_idx = 0; strcmp(scenes[rc.scene_idx], src->scene); rc.scene_idx++)
            ;
        st = src->kind == CC_DS_SEN2COR_L2A ? run_l2a_source(&rc, i, src) : run_l1c_source(&rc, i, src);
        if (st != CC_OK) {
            if (!strstr(cc_error_message(), src->path) && !strstr(cc_error_message(), c->file))
                cc_error_set(cc_error_status(), "%s: sources[%d] (%s): %s", c->file, i, src->scene,
                             cc_error_message());
            goto out;
        }
    }
    if (sum->n_patches == 0) {
        st = cc_error_set(CC_ERR_NODATA, "%s: no patch was produced (%d source(s) skipped, none with >= 50 %% valid "
                                         "pixels in a %dx%d patch)", c->file, sum->n_sources_skipped, P, P);
        goto out;
    }
    /* scenes, attributes */
    {
        hsize_t d = (hsize_t)ns;
        hid_t t = vlen_str_type(), sp = H5Screate_simple(1, &d, NULL);
        hid_t ds = H5Dcreate2(w.f, "scenes", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        herr_t e = ds < 0 ? -1 : H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, scenes);
        if (ds >= 0)
            H5Dclose(ds);
        H5Sclose(sp);
        H5Tclose(t);
        int bad = e < 0;
        bad |= attr_str(w.f, "format", "clearcube-boa-dataset");
        bad |= attr_int(w.f, "version", 1);
        bad |= attr_str(w.f, "bands", "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B11,B12");
        bad |= attr_int(w.f, "patch_size", P);
        bad |= attr_int(w.f, "dn_offset", CC_DATASET_DN_OFFSET);
        bad |= attr_str(w.f, "context", "mu_s,mu_v,cos_raa,aot550,wv,p_rel");
        bad |= attr_str(w.f, "provenance", prov);
        bad |= attr_str(w.f, "kinds",
                        "0=reference (real L1C; l2a from the clearcube reference processor),"
                        "1=sen2cor-l2a (SIMULATED L1C: SMAC forward model applied to real Sen2Cor L2A),"
                        "2=pair (real L1C; real Sen2Cor L2A)");
        bad |= attr_str(w.f, "splits", "0=train,1=val");
        bad |= attr_str(w.l1c, "description",
                        "TOA reflectance DN (10000*rho + 1000, 0 = nodata); patches of kind 1 are SIMULATED L1C");
        bad |= attr_str(w.l2a, "description", "BOA reflectance DN (10000*rho + 1000, 0 = nodata)");
        if (bad) {
            st = cc_error_set(CC_ERR_IO, "%s: cannot write the scene table/attributes", out);
            goto out;
        }
    }
    writer_close(&w);
    created = 0; /* after the commit it is the dataset, or removed */
    st = cc_fs_commit(tmp, out);
out:
    writer_close(&w);
    if (created)
        cc_fs_abort(tmp);
    free(scenes);
    free(prov);
    free(rc.p1);
    free(rc.p2);
    free(rc.valid);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sum->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return st;
}
