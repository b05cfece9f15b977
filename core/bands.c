/* clearcube: the one band table (core/bands.h). */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "core/bands.h"

#include <stdio.h>

const char *const cc_band_names[CC_NBANDS] = {"B01", "B02", "B03", "B04", "B05", "B06", "B07",
                                              "B08", "B8A", "B09", "B10", "B11", "B12"};
const int cc_band_resolution[CC_NBANDS] = {60, 10, 10, 10, 20, 20, 20, 10, 20, 60, 60, 20, 20};
/* science.md table */
const double cc_band_wavelength_nm[CC_NBANDS] = {442.7, 492.4, 559.8, 664.6, 704.1, 740.5, 782.8,
                                                 832.8, 864.7, 945.1, 1373.5, 1613.7, 2202.4};

int cc_band_index(const char *name)
{
    if (!name)
        return -1;
    char n[8];
    size_t len = strlen(name);
    if (len < 2 || len > 4 || toupper((unsigned char)name[0]) != 'B')
        return -1;
    /* normalise "B8", "b8a", "B8A", "B1" -> "B08", "B8A", "B01" */
    if (len == 2 || (len == 3 && toupper((unsigned char)name[2]) == 'A' && name[1] == '8')) {
        if (len == 3)
            return CC_B8A;
        snprintf(n, sizeof n, "B0%c", name[1]);
    } else {
        snprintf(n, sizeof n, "B%c%c", toupper((unsigned char)name[1]), toupper((unsigned char)name[2]));
        if (len == 4)
            return -1;
    }
    for (int b = 0; b < CC_NBANDS; b++)
        if (strcmp(n, cc_band_names[b]) == 0)
            return b;
    return -1;
}

cc_spacecraft cc_spacecraft_parse(const char *s)
{
    if (!s)
        return CC_SC_UNKNOWN;
    if (strcasecmp(s, "S2A") == 0 || strcasecmp(s, "Sentinel-2A") == 0)
        return CC_SC_S2A;
    if (strcasecmp(s, "S2B") == 0 || strcasecmp(s, "Sentinel-2B") == 0)
        return CC_SC_S2B;
    if (strcasecmp(s, "S2C") == 0 || strcasecmp(s, "Sentinel-2C") == 0)
        return CC_SC_S2C;
    return CC_SC_UNKNOWN;
}

const char *cc_spacecraft_name(cc_spacecraft sc)
{
    switch (sc) {
    case CC_SC_S2A: return "S2A";
    case CC_SC_S2B: return "S2B";
    case CC_SC_S2C: return "S2C";
    default: return "unknown";
    }
}


const char *const cc_cl_band_names[CC_CL_NBANDS] = {"B02", "B03", "B04", "B05", "B06",
                                                   "B07", "B08", "B8A", "B11", "B12"};

int cc_cl_band_index(const char *name)
{
    for (int b = 0; b < CC_CL_NBANDS; b++)
        if (name && strcmp(name, cc_cl_band_names[b]) == 0) return b;
    return -1;
}

const char *cc_sensor_name(cc_sensor s)
{
    switch (s) {
    case CC_SENSOR_S2: return "S2";
    case CC_SENSOR_LANDSAT: return "Landsat";
    case CC_SENSOR_OLCI: return "OLCI";
    case CC_SENSOR_S1: return "S1";
    default: return "unknown";
    }
}

