/* clearcube quicklook CUBE -o OUT.png: a true-colour PNG of one date of a cube
 * with a percentile stretch (pipeline/report/quicklook.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "jobs/cli/cli.h"
#include "pipeline/report/quicklook.h"

void cc_cmd_quicklook_help(void)
{
    printf("Usage: clearcube quicklook CUBE.nc -o OUT.png [--date-index N] [--bands R,G,B]\n"
           "                           [--stretch common|band] [--percentiles LO,HI] [--max-size PX]\n\n"
           "Writes a true-colour PNG (RGBA, nodata transparent) of one date of a clearcube cube\n"
           "(reference, boa, cloudless) with a percentile stretch: the LO-th and HI-th percentiles\n"
           "of the valid DN map to black and white, with a gamma of 2.\n\n"
           "Options:\n"
           "  -o, --output OUT.png    the PNG (written atomically)\n"
           "  --date-index N          the date (0: the first, the default)\n"
           "  --bands R,G,B           the layers (default B04,B03,B02)\n"
           "  --stretch common|band   percentiles over the three bands together (default: colours\n"
           "                          stay true) or band by band (more contrast)\n"
           "  --percentiles LO,HI     in %% (default 2,98)\n"
           "  --max-size PX           block-average larger images down to PX on a side (default 2048)\n");
}

int cc_cmd_quicklook(int argc, char **argv)
{
    enum { O_DATE = 2300, O_BANDS, O_STRETCH, O_PCT, O_MAX };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},     {"help", no_argument, 0, 'h'},
        {"date-index", required_argument, 0, O_DATE}, {"bands", required_argument, 0, O_BANDS},
        {"stretch", required_argument, 0, O_STRETCH}, {"percentiles", required_argument, 0, O_PCT},
        {"max-size", required_argument, 0, O_MAX},  {0, 0, 0, 0}};
    cc_quicklook_options o;
    cc_quicklook_options_init(&o);
    const char *out = NULL, *bands = NULL;
    double v;
    int date = 0, c;
    char tail;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': cc_cmd_quicklook_help(); return 0;
        case O_BANDS: bands = optarg; break;
        case O_DATE:
            if (cc_cli_parse_double("date-index", optarg, &v) || v < 0 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --date-index %s: must be an integer >= 0\n", optarg);
                return 2;
            }
            date = (int)v;
            break;
        case O_STRETCH:
            if (strcmp(optarg, "common") && strcmp(optarg, "band")) {
                fprintf(stderr, "clearcube: error: --stretch %s: expected common or band\n", optarg);
                return 2;
            }
            o.mode = !strcmp(optarg, "band") ? CC_QL_PER_BAND : CC_QL_COMMON;
            break;
        case O_PCT:
            if (sscanf(optarg, "%lf,%lf%c", &o.p_lo, &o.p_hi, &tail) != 2 || !(o.p_lo >= 0 && o.p_lo < o.p_hi &&
                                                                              o.p_hi <= 100)) {
                fprintf(stderr, "clearcube: error: --percentiles %s: expected LO,HI with 0 <= LO < HI <= 100\n",
                        optarg);
                return 2;
            }
            break;
        case O_MAX:
            if (cc_cli_parse_double("max-size", optarg, &v) || v < 16 || v > 65536 || v != (int)v) {
                fprintf(stderr, "clearcube: error: --max-size %s: must be an integer in [16, 65536]\n", optarg);
                return 2;
            }
            o.max_dim = (int)v;
            break;
        default:
            fprintf(stderr, "clearcube: error: quicklook: bad option (see clearcube quicklook --help)\n");
            return 2;
        }
    }
    if (optind != argc - 1 || !out) {
        fprintf(stderr, "clearcube: error: quicklook: need one CUBE and -o OUT.png (see clearcube quicklook --help)\n");
        return 2;
    }
    if (cc_quicklook_cube(argv[optind], bands, date, out, &o) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(cc_error_status());
    }
    return 0;
}
