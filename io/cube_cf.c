/* clearcube: the CF attributes of a cube's integer layers (docs/formats/cube.md,
 * "CF conventions"): _FillValue, valid_range and the flag_* attributes, in the
 * variable's own type (uint16 layers; uint8 flag layers), as CF checkers and
 * xarray/GDAL expect; coordinates naming the grid mapping (rioxarray). */
#include "io/cube-impl.h"

#include <string.h>

/* valid_range of a uint16 layer: every DN but the fill (0 or 65535, the two
 * fills clearcube uses; another fill leaves the whole range). */
static void u16_range(unsigned fill, unsigned short r[2])
{
    r[0] = fill == 0 ? 1 : 0;
    r[1] = fill == 65535 ? 65534 : 65535;
}

cc_status cc_cube_put_int_atts(int ncid, int v, const cc_cube_layer *L, const char *ncfile)
{
    cc_status st = CC_OK;
    /* the grid mapping as a scalar coordinate (CF 5.7): xarray then keeps it as a coordinate,
     * where rioxarray's .rio.crs looks for it (xarray writes the same for rioxarray's files) */
    NC(nc_put_att_text(ncid, v, "coordinates", strlen(CUBE_GRID_MAPPING), CUBE_GRID_MAPPING));
    if (L->nflags <= 0) {
        unsigned short fv = L->fill_value, r[2];
        u16_range(L->fill_value, r);
        NC(nc_put_att_ushort(ncid, v, "_FillValue", NC_USHORT, 1, &fv));
        NC(nc_put_att_ushort(ncid, v, "valid_range", NC_USHORT, 2, r));
        goto out;
    }
    unsigned char fv8 = (unsigned char)L->fill_value, r8[2] = {255, 0};
    NC(nc_put_att_uchar(ncid, v, "_FillValue", NC_UBYTE, 1, &fv8));
    if (L->flag_masks) {
        unsigned all = 0;
        for (int i = 0; i < L->nflags; i++)
            all |= L->flag_masks[i];
        r8[0] = 0;
        r8[1] = (unsigned char)(all >= fv8 ? fv8 - 1u : all);
        NC(nc_put_att_uchar(ncid, v, "flag_masks", NC_UBYTE, (size_t)L->nflags, L->flag_masks));
    } else {
        for (int i = 0; i < L->nflags; i++) {
            r8[0] = L->flag_values[i] < r8[0] ? L->flag_values[i] : r8[0];
            r8[1] = L->flag_values[i] > r8[1] ? L->flag_values[i] : r8[1];
        }
        NC(nc_put_att_uchar(ncid, v, "flag_values", NC_UBYTE, (size_t)L->nflags, L->flag_values));
    }
    NC(nc_put_att_uchar(ncid, v, "valid_range", NC_UBYTE, 2, r8));
    NC(nc_put_att_text(ncid, v, "flag_meanings", strlen(L->flag_meanings), L->flag_meanings));
out:
    return st;
}
