/* SMAC tests: reference vectors, round trips, the science.md unit case and the
 * coefficient table against the sen2like .dat files.
 *
 * Tolerance for the reference vectors: |c - ref| <= 1e-9 * max(1, |ref|),
 * i.e. absolute 1e-9 for values up to 1 and relative 1e-9 above (only the
 * meaningless B10 surface values exceed 1). The maximum absolute and relative
 * errors are printed. */
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/s2/scene.h"
#include "kernels/smac/smac.h"
#include "testutil.h"

#define TOL 1e-9

static int close_enough(double c, double ref)
{
    double scale = fabs(ref) > 1.0 ? fabs(ref) : 1.0;
    return fabs(c - ref) <= TOL * scale;
}

static double max_abs = 0.0, max_rel = 0.0;

static void track(double c, double ref)
{
    double d = fabs(c - ref);
    if (d > max_abs)
        max_abs = d;
    if (ref != 0.0 && d / fabs(ref) > max_rel)
        max_rel = d / fabs(ref);
}

/* ---- reference_vectors.csv ---- */
enum { NCOL = 20 };
static const char *const csv_cols[NCOL] = {
    "case", "platform", "band", "rho", "tetas", "phis", "tetav", "phiv", "pressure_hpa",
    "aot550", "uo3", "uh2o", "rho_surf_from_toa", "rho_toa_from_surf", "tg", "t_down", "t_up",
    "s", "ratm", "taup"};

static int split_csv(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        f[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    char *nl = strpbrk(f[n - 1], "\r\n");
    if (nl)
        *nl = '\0';
    return n;
}

static double num(const char *s, int *bad)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0')
        *bad = 1;
    return v;
}

static void test_reference_vectors(const char *shared)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/data/smac-coefficients/reference_vectors.csv", shared);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (!fp)
        return;
    char line[4096];
    char *f[NCOL + 1];
    CHECK(fgets(line, sizeof line, fp) != NULL);
    int nh = split_csv(line, f, NCOL + 1);
    CHECK(nh == NCOL);
    for (int i = 0; i < nh && i < NCOL; i++)
        CHECK(strcmp(f[i], csv_cols[i]) == 0);

    long rows = 0, failed_rows = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '\n' || line[0] == '\0')
            continue;
        int n = split_csv(line, f, NCOL + 1);
        if (n != NCOL) {
            fprintf(stderr, "FAIL: row %ld has %d fields\n", rows + 1, n);
            cc_test_failures++;
            continue;
        }
        int bad = 0;
        cc_spacecraft sc = cc_spacecraft_parse(f[1]);
        int band = cc_band_index(f[2]);
        double v[NCOL];
        for (int i = 3; i < NCOL; i++)
            v[i] = num(f[i], &bad);
        if (bad || band < 0 || sc == CC_SC_UNKNOWN) {
            fprintf(stderr, "FAIL: cannot parse row %ld\n", rows + 1);
            cc_test_failures++;
            continue;
        }
        rows++;
        const cc_smac_coefs *c = cc_smac_coefs_get(sc, band);
        CHECK(c != NULL);
        if (!c)
            continue;
        cc_smac_atmos a = {.tetas = v[4], .phis = v[5], .tetav = v[6], .phiv = v[7],
                           .pressure_hpa = v[8], .aot550 = v[9], .uo3 = v[10], .uh2o = v[11]};
        cc_smac_terms t;
        cc_smac_terms_compute(c, &a, &t);
        const double got[8] = {cc_smac_inverse(&t, v[3]), cc_smac_forward(&t, v[3]), t.tg,
                               t.t_down, t.t_up, t.s, t.ratm, t.taup};
        int row_bad = 0;
        for (int k = 0; k < 8; k++) {
            double ref = v[12 + k];
            track(got[k], ref);
            if (!close_enough(got[k], ref)) {
                if (failed_rows < 20)
                    fprintf(stderr, "FAIL case %s %s %s: %s = %.17g, expected %.17g\n", f[0],
                            f[1], f[2], csv_cols[12 + k], got[k], ref);
                row_bad = 1;
            }
        }
        if (row_bad) {
            failed_rows++;
            cc_test_failures++;
        }
    }
    fclose(fp);
    printf("reference vectors: %ld rows, %ld failed; max abs err %.3g, max rel err %.3g\n",
           rows, failed_rows, max_abs, max_rel);
    CHECK(rows == 1560);
}

/* ---- forward(inverse(x)) == x ---- */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void test_round_trip(void)
{
    const cc_spacecraft scs[3] = {CC_SC_S2A, CC_SC_S2B, CC_SC_S2C};
    double worst = 0.0;
    long n = 0;
    for (int k = 0; k < 3000; k++) {
        cc_smac_atmos a = {.tetas = 70.0 * urand(), .phis = 360.0 * urand(),
                           .tetav = 12.0 * urand(), .phiv = 360.0 * urand(),
                           .pressure_hpa = 700.0 + 330.0 * urand(), .aot550 = 0.8 * urand(),
                           .uo3 = 0.2 + 0.3 * urand(), .uh2o = 0.1 + 4.9 * urand()};
        for (int b = 0; b < CC_NBANDS; b++) {
            if (b == CC_B10)
                continue; /* meaningless surface values (science.md) */
            cc_smac_terms t;
            cc_smac_terms_compute(cc_smac_coefs_get(scs[k % 3], b), &a, &t);
            double x = 0.9 * urand();
            double toa = cc_smac_forward(&t, x);
            double back = cc_smac_forward(&t, cc_smac_inverse(&t, x));
            double back2 = cc_smac_inverse(&t, toa);
            double d = fmax(fabs(back - x), fabs(back2 - x));
            if (d > worst)
                worst = d;
            n++;
        }
    }
    printf("round trip: %ld cases, max |forward(inverse(x)) - x| = %.3g\n", n, worst);
    CHECK(worst <= TOL);
}

/* ---- science.md unit test ---- */
static void test_unit_case(void)
{
    cc_smac_atmos a = {.tetas = 45, .phis = 200, .tetav = 5, .phiv = 20, .pressure_hpa = 1013,
                       .aot550 = 0.1, .uo3 = 0.3, .uh2o = 0.3};
    const int bands[5] = {CC_B02, CC_B04, CC_B8A, CC_B11, CC_B12};
    const double expect[5] = {0.171419, 0.201737, 0.199801, 0.210468, 0.214067};
    for (int i = 0; i < 5; i++) {
        cc_smac_terms t;
        cc_smac_terms_compute(cc_smac_coefs_get(CC_SC_S2A, bands[i]), &a, &t);
        double rs = cc_smac_inverse(&t, 0.2);
        CHECK_NEAR(rs, expect[i], 5e-7); /* expected values are given to 6 decimals */
        CHECK_NEAR(cc_smac_forward(&t, rs), 0.2, 1e-12);
    }
    /* S2A B04 anchors quoted in science.md */
    CHECK(cc_smac_coefs_get(CC_SC_S2A, CC_B04)->ah2o == -0.0034756);
    CHECK(cc_smac_coefs_get(CC_SC_S2A, CC_B04)->taur == 0.0453);
    CHECK(cc_smac_coefs_get(CC_SC_UNKNOWN, CC_B04) == NULL);
    CHECK(cc_smac_coefs_get(CC_SC_S2A, -1) == NULL);
    CHECK(cc_smac_coefs_get(CC_SC_S2A, CC_NBANDS) == NULL);
    CHECK_NEAR(cc_smac_pressure_from_elevation(0.0), 1013.25, 1e-12);
    CHECK_NEAR(cc_smac_pressure_from_elevation(2000.0),
               1013.25 * pow(1.0 - 0.0065 * 2000.0 / 288.15, 5.31), 1e-12);
    CHECK(cc_smac_pressure_from_elevation(2000.0) > 790 &&
          cc_smac_pressure_from_elevation(2000.0) < 800);
}

/* ---- the C table equals the .dat files ---- */
#define COEF(name) {#name, offsetof(cc_smac_coefs, name)}
static const struct {
    const char *name;
    size_t off;
} coef_fields[CC_SMAC_NCOEF] = {
    COEF(ah2o),  COEF(nh2o),   COEF(ao3),    COEF(no3),   COEF(ao2),   COEF(no2),   COEF(po2),
    COEF(aco2),  COEF(nco2),   COEF(pco2),   COEF(ach4),  COEF(nch4),  COEF(pch4),  COEF(ano2),
    COEF(nno2),  COEF(pno2),   COEF(aco),    COEF(nco),   COEF(pco),   COEF(a0s),   COEF(a1s),
    COEF(a2s),   COEF(a3s),    COEF(a0T),    COEF(a1T),   COEF(a2T),   COEF(a3T),   COEF(taur),
    COEF(sr),    COEF(a0taup), COEF(a1taup), COEF(wo),    COEF(gc),    COEF(a0P),   COEF(a1P),
    COEF(a2P),   COEF(a3P),    COEF(a4P),    COEF(Rest1), COEF(Rest2), COEF(Rest3), COEF(Rest4),
    COEF(Resr1), COEF(Resr2),  COEF(Resr3),  COEF(Resa1), COEF(Resa2), COEF(Resa3), COEF(Resa4)};

static double field(const cc_smac_coefs *c, int k)
{
    double v;
    memcpy(&v, (const char *)c + coef_fields[k].off, sizeof v);
    return v;
}

static void test_table(const char *shared)
{
    const char *tags[3] = {"S2A", "S2B", "S2C"};
    const cc_spacecraft scs[3] = {CC_SC_S2A, CC_SC_S2B, CC_SC_S2C};
    CHECK(sizeof(cc_smac_coefs) == CC_SMAC_NCOEF * sizeof(double));
    for (int s = 0; s < 3; s++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/data/smac-coefficients/Coef_%s_CONTINENTAL.dat", shared,
                 tags[s]);
        FILE *fp = fopen(path, "r");
        CHECK(fp != NULL);
        if (!fp)
            continue;
        char line[8192];
        CHECK(fgets(line, sizeof line, fp) != NULL && line[0] == '#');
        int row = 0;
        long compared = 0, mismatches = 0;
        while (fgets(line, sizeof line, fp)) {
            char *p = line;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '\n' || *p == '\r' || *p == '\0')
                continue;
            if (row >= CC_SMAC_NCOEF) {
                fprintf(stderr, "FAIL %s: more than %d rows\n", path, CC_SMAC_NCOEF);
                cc_test_failures++;
                break;
            }
            int col = 0;
            for (;;) {
                char *end;
                double v = strtod(p, &end);
                if (end == p)
                    break;
                p = end;
                if (col < CC_NBANDS) {
                    double t = field(cc_smac_coefs_get(scs[s], col), row);
                    compared++;
                    if (t != v) {
                        fprintf(stderr, "FAIL %s %s band %d: table %.17g, file %.17g\n",
                                tags[s], coef_fields[row].name, col, t, v);
                        mismatches++;
                    }
                }
                col++;
            }
            while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                p++;
            CHECK(*p == '\0');
            CHECK(col == CC_NBANDS);
            row++;
        }
        fclose(fp);
        CHECK(row == CC_SMAC_NCOEF);
        CHECK(compared == CC_SMAC_NCOEF * CC_NBANDS);
        CHECK(mismatches == 0);
        printf("table %s: %ld numbers compared, %ld mismatches\n", tags[s], compared, mismatches);
    }
}

int main(void)
{
    test_unit_case();
    test_round_trip();
    const char *shared = cc_test_shared_or_skip();
    test_table(shared);
    test_reference_vectors(shared);
    TEST_RETURN();
}
