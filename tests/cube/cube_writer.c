/* Test helper: writes (creates or appends) one date of the test pattern.
 *   cube_writer PATH WIDTH HEIGHT NLAYERS YYYY-MM-DD SEED
 * Grid: EPSG:32632, origin 580560,5102120, 10 m. Exit 0 on success, 1 on a
 * cube error (message on stderr), 2 on bad arguments. */
#include <stdio.h>
#include <stdlib.h>

#include "cube_test_common.h"

int main(int argc, char **argv)
{
    int w, h, nl, y, m, d, seed, rc = 1;
    if (argc != 7 || sscanf(argv[2], "%d", &w) != 1 || sscanf(argv[3], "%d", &h) != 1 ||
        sscanf(argv[4], "%d", &nl) != 1 || !cc_date_parse_ymd(argv[5], &y, &m, &d) ||
        sscanf(argv[6], "%d", &seed) != 1 || nl < 1 || nl > CT_MAX_LAYERS) {
        fprintf(stderr, "usage: cube_writer PATH WIDTH HEIGHT NLAYERS YYYY-MM-DD SEED\n");
        return 2;
    }
    uint16_t *data[CT_MAX_LAYERS] = {0};
    cc_cube_layer L[CT_MAX_LAYERS];
    char *wkt = ct_epsg_wkt(32632);
    if (!wkt) {
        fprintf(stderr, "cube_writer: cannot build the EPSG:32632 WKT\n");
        goto out;
    }
    for (int i = 0; i < nl; i++)
        if (!(data[i] = ct_make_layer(i, seed, w, h))) {
            fprintf(stderr, "cube_writer: out of memory\n");
            goto out;
        }
    ct_layers(L, nl, data);
    cc_cube_write_args a = {
        .path = argv[1], .tile_id = "32TMR", .product = "test", .wkt = wkt,
        .gt = {CT_ORIGIN_X, CT_RES, 0, CT_ORIGIN_Y, 0, -CT_RES},
        .width = w, .height = h, .year = y, .month = m, .day = d,
        .nlayers = nl, .layers = L,
        .inputs = "synthetic test pattern", .processor = "cube_writer (tests/cube)",
        .parameters = argv[6],
    };
    cc_status st = cc_cube_write(&a);
    if (st != CC_OK) {
        fprintf(stderr, "cube_writer: %s\n", cc_error_message());
        goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < nl; i++)
        free(data[i]);
    CPLFree(wkt);
    return rc;
}
