/* Ingest of openEO/xarray NetCDF series (pipeline/cloudless/ingest.h,
 * docs/formats/netcdf-series.md): which sensor each band belongs to, what
 * its values mean, the cloud mask, and the dates added to the sensor cubes.
 *
 * A file is ingested whole or not at all: the cubes it changes are written
 * in a staging folder DIR/.ingest-<pid> (a copy of the existing cube first:
 * not a hard link, since dates after a cube's last are appended in place, which
 * would change the cube of DIR before the commit, and a killed append's undo
 * log would be removed with the stale staging folder) and renamed over the
 * cubes of DIR together at the end; a failure removes the staging folder. */
#define _GNU_SOURCE /* strcasestr, kill */
#include "pipeline/cloudless/ingest.h"

#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netcdf.h>

#include "core/alloc.h"
#include "core/date.h"
#include "core/fs.h"
#include "core/log.h"
#include "io/cube.h"
#include "io/landsat/landsat.h"
#include "io/netcdf/ncseries.h"
#include "pipeline/atmos/cloudmask.h"
#include "pipeline/cloudless/ingest_netcdf-impl.h"

/* Values of one date in memory at most (the rest waits for the next batch). */
#define BATCH_BYTES ((size_t)256 << 20)

int cc_ingest_is_netcdf_series(const char *path)
{
    size_t n = strlen(path);
    if (n < 3 || strcasecmp(path + n - 3, ".nc") != 0)
        return 0;
    return cc_ingest_detect_sensor(path) != CC_SENSOR_OLCI; /* BEAM/SNAP OLCI has its own reader */
}

cc_status cc_ingest_grid_netcdf(const char *path, cc_ingest_grid *og)
{
    cc_ncs *s = NULL;
    cc_status st = cc_ncs_open(path, &s);
    if (st != CC_OK)
        return st;
    og->wkt = s->wkt;
    s->wkt = NULL;
    og->g = (cc_grid){.width = s->width, .height = s->height, .wkt = og->wkt};
    memcpy(og->g.gt, s->gt, sizeof og->g.gt);
    cc_ncs_close(s);
    return CC_OK;
}

/* ---- which band is what ------------------------------------------------ */

/* The name without the prefixes of openEO and USGS ("S2-L2A-B02", "SR_B5",
 * "S1-SIGMA0-VV"). */
static const char *strip_prefix(const char *n)
{
    static const char *pre[] = {"S2-L2A-", "S2_L2A_", "SENTINEL2_L2A_", "S1-SIGMA0-", "S1_SIGMA0_", "SIGMA0_",
                                "SIGMA0-",  "SR_",     "L8-",            "L8_"};
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
        if (!strncasecmp(n, pre[i], strlen(pre[i])))
            return n + strlen(pre[i]);
    return n;
}

/* The band number of "B5", "B05", "b07"; -1 for anything else. */
static int band_number(const char *n)
{
    if (toupper((unsigned char)n[0]) != 'B' || !isdigit((unsigned char)n[1]))
        return -1;
    char *end;
    long b = strtol(n + 1, &end, 10);
    return *end || b < 1 || b > 12 ? -1 : (int)b;
}

static int find_name(const cc_ncs *s, const char *name)
{
    for (int v = 0; v < s->nvars; v++)
        if (!strcasecmp(strip_prefix(s->vars[v].name), name))
            return v;
    return -1;
}

/* Does a global attribute that names the product mention one of the words? */
static int attrs_say(const cc_ncs *s, const char *const *words)
{
    static const char *atts[] = {"name", "title", "platform", "mission", "sensor", "source", "product_type",
                                 "id",   "collection", "description"};
    int hit = 0;
    for (size_t a = 0; a < sizeof atts / sizeof *atts && !hit; a++) {
        char *v = cc_ncs_text_att(s->ncid, NC_GLOBAL, atts[a]);
        for (int w = 0; v && words[w] && !hit; w++)
            hit = strcasestr(v, words[w]) != NULL;
        free(v);
    }
    return hit;
}

/* Which optical sensor the bands of s belong to: CC_SENSOR_LANDSAT,
 * CC_SENSOR_S2, or -1 if nothing says. */
static int optical_sensor(const cc_ncs *s)
{
    static const char *const landsat[] = {"LANDSAT", "L8_", "L9_", "L8-", "L9-", "LC08", "LC09", "OLI_TIRS", NULL};
    static const char *const s2[] = {"SENTINEL-2", "SENTINEL2", "S2_", "S2-", "S2A", "S2B", "S2C", "MSIL2A", NULL};
    if (find_name(s, "pixel_qa") >= 0 || find_name(s, "QA_PIXEL") >= 0 || find_name(s, "QA-PIXEL") >= 0)
        return CC_SENSOR_LANDSAT;
    if (find_name(s, "SCL") >= 0)
        return CC_SENSOR_S2;
    if (attrs_say(s, landsat))
        return CC_SENSOR_LANDSAT;
    if (attrs_say(s, s2))
        return CC_SENSOR_S2;
    /* bands only Sentinel-2 has (Landsat's B8 is panchromatic, B10/B11 thermal) */
    if (find_name(s, "B8A") >= 0 || find_name(s, "B12") >= 0 || find_name(s, "B08") >= 0)
        return CC_SENSOR_S2;
    return -1;
}

/* The plan of sensor `sensor` in s; p->nbands == 0 when s has none of its bands. */
static void plan_sensor(const cc_ncs *s, int sensor, cc_nc_plan *p)
{
    memset(p, 0, sizeof *p);
    p->sensor = sensor;
    p->mask_var = -1;
    for (int k = 0; k < CC_CL_NBANDS; k++)
        p->var[k] = -1;
    if (sensor == CC_SENSOR_S1) {
        p->var[0] = find_name(s, "VV"), p->var[1] = find_name(s, "VH");
        p->nbands = (p->var[0] >= 0) + (p->var[1] >= 0);
        return;
    }
    for (int v = 0; v < s->nvars; v++) {
        const char *n = strip_prefix(s->vars[v].name);
        int k = -1;
        if (sensor == CC_SENSOR_S2)
            k = cc_band_index(n) >= 0 ? cc_cl_band_index(cc_band_names[cc_band_index(n)]) : -1;
        else {
            const int b = band_number(n); /* OLI numbering: B5 NIR, B6 SWIR1, B7 SWIR2 */
            k = b >= 2 && b <= 7 ? cc_hls_cl_index(b) : -1;
            if (k >= 0)
                p->oli_band[k] = b;
        }
        if (k >= 0 && p->var[k] < 0)
            p->var[k] = v, p->nbands++;
    }
    if (sensor == CC_SENSOR_S2 && (p->mask_var = find_name(s, "SCL")) >= 0)
        p->mask_kind = CC_NC_MASK_SCL;
    else if (sensor == CC_SENSOR_LANDSAT && (p->mask_var = find_name(s, "pixel_qa")) >= 0)
        p->mask_kind = CC_NC_MASK_C1_SR;
    else if (sensor == CC_SENSOR_LANDSAT &&
             ((p->mask_var = find_name(s, "QA_PIXEL")) >= 0 || (p->mask_var = find_name(s, "QA-PIXEL")) >= 0))
        p->mask_kind = CC_NC_MASK_C2;
}

/* Checks the encodings of the plan's variables. */
static cc_status plan_check(const cc_ncs *s, cc_nc_plan *p)
{
    for (int k = 0; k < CC_CL_NBANDS; k++) {
        if (p->var[k] < 0)
            continue;
        const cc_ncs_var *v = &s->vars[p->var[k]];
        const int is_int = v->type != NC_FLOAT && v->type != NC_DOUBLE;
        if (p->sensor == CC_SENSOR_S1) {
            if (v->units && (strcasestr(v->units, "linear") || !strcmp(v->units, "1")))
                p->linear[k] = 1; /* sigma0 as a power ratio: 10 log10 on read */
            else if (is_int && !v->has_scale)
                return cc_error_set(CC_ERR_FORMAT, "%s: %s holds integers without scale_factor: its dB encoding is "
                                    "unknown", s->path, v->name);
        } else if (is_int && !v->has_scale) {
            if (p->sensor == CC_SENSOR_LANDSAT)
                return cc_error_set(CC_ERR_FORMAT, "%s: Landsat band %s has no scale_factor (Collection 1 and 2 "
                                    "encodings differ)", s->path, v->name);
            p->dn_scale[k] = 1e-4; /* openEO's Sentinel-2 L2A: DN = 10000 rho */
        }
    }
    return CC_OK;
}

cc_status cc_ingest_netcdf_plan(const cc_ncs *s, int sensor, cc_nc_plan plans[CC_SENSOR_COUNT], int *nplans)
{
    *nplans = 0;
    int cand[2], n = 0;
    if (sensor >= 0)
        cand[n++] = sensor;
    else {
        const int opt = optical_sensor(s);
        cc_nc_plan probe;
        plan_sensor(s, CC_SENSOR_S2, &probe);
        if (opt < 0 && probe.nbands)
            return cc_error_set(CC_ERR_ARG, "%s: cannot tell whether the bands are Sentinel-2 or Landsat (no SCL, "
                                "QA or attribute says; use --sensor s2 or landsat)", s->path);
        if (opt >= 0)
            cand[n++] = opt;
        cand[n++] = CC_SENSOR_S1;
    }
    for (int i = 0; i < n; i++) {
        cc_nc_plan *p = &plans[*nplans];
        plan_sensor(s, cand[i], p);
        if (!p->nbands)
            continue;
        cc_status st = plan_check(s, p);
        if (st != CC_OK)
            return st;
        (*nplans)++;
    }
    if (*nplans == 0) {
        char names[512] = "";
        for (int v = 0; v < s->nvars; v++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", v ? ", " : "", s->vars[v].name);
        return cc_error_set(CC_ERR_MISSING, "%s: no band of %s (variables: %s)", s->path,
                            sensor >= 0 ? cc_sensor_name((cc_sensor)sensor) : "Sentinel-2, Landsat or Sentinel-1",
                            names);
    }
    return CC_OK;
}

/* ---- cloud masks -------------------------------------------------------- */

/* Landsat Collection 1 surface reflectance pixel_qa (USGS LSDS-1368): bit 0
 * fill, 1 clear, 2 water, 3 cloud shadow, 4 snow, 5 cloud, 8-9 cirrus
 * confidence (high = 3 counts as cloud). */
static uint8_t class_c1_sr(unsigned q)
{
    if (q & 1u)
        return CC_CM_NODATA;
    if (q & 32u || ((q >> 8) & 3u) == 3u)
        return CC_CM_CLOUD;
    if (q & 8u)
        return CC_CM_SHADOW;
    if (q & 16u)
        return CC_CM_SNOW;
    if (q & 4u)
        return CC_CM_WATER;
    return (q & 2u) ? CC_CM_CLEAR : CC_CM_CLOUD;
}

/* Landsat Collection 2 QA_PIXEL: bit 0 fill, 1 dilated cloud, 2 cirrus,
 * 3 cloud, 4 shadow, 5 snow, 6 clear, 7 water. */
static uint8_t class_c2(unsigned q)
{
    if (q & 1u)
        return CC_CM_NODATA;
    if (q & 14u)
        return CC_CM_CLOUD;
    if (q & 16u)
        return CC_CM_SHADOW;
    if (q & 32u)
        return CC_CM_SNOW;
    if (q & 128u)
        return CC_CM_WATER;
    return (q & 64u) ? CC_CM_CLEAR : CC_CM_CLOUD;
}

void cc_ingest_netcdf_mask(int kind, const float *q, size_t n, uint8_t *mask)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(q[i]) || q[i] < 0 || q[i] > 65535) {
            mask[i] = CC_CM_NODATA;
            continue;
        }
        const unsigned v = (unsigned)q[i];
        if (kind == CC_NC_MASK_SCL) {
            const uint8_t scl = v < 256 ? (uint8_t)v : 255;
            cc_cloudmask_from_scl(&scl, 1, &mask[i]);
        } else
            mask[i] = kind == CC_NC_MASK_C1_SR ? class_c1_sr(v) : class_c2(v);
    }
}

/* ---- staging ------------------------------------------------------------ */

/* Removes the staging folders DIR/.ingest-<pid> of ingests that were killed
 * (their process is gone): their cubes were never committed. */
static void remove_stale_stages(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char *end;
        if (strncmp(e->d_name, ".ingest-", 8) != 0)
            continue;
        long pid = strtol(e->d_name + 8, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char stage[4096], f[4400];
        snprintf(stage, sizeof stage, "%s/%s", dir, e->d_name);
        DIR *sd = opendir(stage);
        struct dirent *se;
        while (sd && (se = readdir(sd)) != NULL)
            if (se->d_name[0] != '.' || (strcmp(se->d_name, ".") && strcmp(se->d_name, ".."))) {
                snprintf(f, sizeof f, "%s/%s", stage, se->d_name);
                unlink(f);
            }
        if (sd)
            closedir(sd);
        if (rmdir(stage) == 0)
            cc_info("%s: removed the staging folder of a killed ingest (pid %ld)", stage, pid);
    }
    if (d)
        closedir(d);
}

static cc_status stage_cube(const char *final, const char *staged)
{
    if (access(final, F_OK) != 0)
        return CC_OK;
    cc_status st = cc_cube_recover(final); /* an append killed earlier is rolled back first */
    if (st != CC_OK)
        return st;
    /* a copy, never a hard link (see the top of this file) */
    FILE *in = fopen(final, "rb"), *out = in ? fopen(staged, "wb") : NULL;
    char buf[1 << 16];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    if (out && fclose(out) != 0)
        ok = 0;
    if (in)
        fclose(in);
    return ok ? CC_OK : cc_error_set(CC_ERR_IO, "%s: cannot stage a copy of the cube: %s", final, strerror(errno));
}

cc_status cc_ingest_netcdf(const char *path, int sensor, const cc_grid *g, const char *tile, const char *dir,
                           cc_ingest_nc_stats *stats)
{
    cc_ncs *s = NULL;
    cc_nc_plan plans[CC_SENSOR_COUNT];
    int nplans = 0, nstaged = 0;
    char stage[4096] = "", finals[CC_SENSOR_COUNT][4096], staged[CC_SENSOR_COUNT][4096];
    const char *tmp[CC_SENSOR_COUNT], *target[CC_SENSOR_COUNT];
    if (stats)
        memset(stats, 0, sizeof *stats);
    cc_status st = cc_ncs_open(path, &s);
    if (st != CC_OK)
        return st;
    if ((st = cc_ingest_netcdf_plan(s, sensor, plans, &nplans)) != CC_OK)
        goto out;
    remove_stale_stages(dir);
    snprintf(stage, sizeof stage, "%s/.ingest-%ld", dir, (long)getpid());
    if (mkdir(stage, 0777) != 0 && errno != EEXIST) {
        st = cc_error_set(CC_ERR_IO, "%s: cannot create the staging folder: %s", stage, strerror(errno));
        goto out;
    }
    for (int i = 0; i < nplans; i++) {
        cc_cube_sensor_path(finals[i], sizeof finals[i], dir, tile, (cc_sensor)plans[i].sensor);
        cc_cube_sensor_path(staged[i], sizeof staged[i], stage, tile, (cc_sensor)plans[i].sensor);
        unlink(staged[i]); /* a left-over of a killed run with the same pid */
        tmp[i] = staged[i], target[i] = finals[i];
        nstaged = i + 1;
        if ((st = stage_cube(finals[i], staged[i])) != CC_OK)
            goto out;
        int nd = 0;
        if ((st = cc_ingest_netcdf_sensor(s, &plans[i], g, tile, stage, BATCH_BYTES, &nd)) != CC_OK)
            goto out;
        if (stats) {
            stats->ndates[plans[i].sensor] = nd;
            stats->sensors |= 1u << plans[i].sensor;
        }
    }
    st = cc_fs_commit_all(nplans, tmp, target);
    nstaged = 0; /* committed or removed */
out:
    for (int i = 0; i < nstaged; i++)
        cc_fs_abort(staged[i]);
    if (stage[0])
        rmdir(stage);
    cc_ncs_close(s);
    return st;
}
