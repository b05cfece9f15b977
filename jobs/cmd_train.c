/* clearcube train CONFIG: trains the Rapid BoA emulator (issue 4). Under
 * mpirun/srun the ranks share every step (data parallel, fixed reduction
 * order: the result does not depend on the number of ranks). */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "jobs/cli.h"
#include "pipeline/boa_train.h"

void cc_cmd_train_help(void)
{
    printf("Usage: clearcube train CONFIG.yaml [--resume] [--stop-after N] [--steps N] [--no-progress]\n"
           "       mpirun -n P clearcube train CONFIG.yaml ...\n\n"
           "Trains the Rapid BoA emulator (docs/boa-model.md) on a dataset from `clearcube dataset`\n"
           "and writes the model file. Under mpirun/srun the ranks split every step's batch (data\n"
           "parallel, gradients summed in a fixed order: the weights do not depend on the number of\n"
           "ranks). Checkpoints every train.checkpoint_every steps; --resume continues from the\n"
           "checkpoint exactly as if the run had not stopped.\n\n"
           "Options:\n"
           "  --resume          continue from the config's checkpoint when it exists\n"
           "  --stop-after N    stop after step N (checkpointed; for tests and preemption)\n"
           "  --steps N         override train.steps\n"
           "  --no-progress     no live progress line\n"
           "  --log-level LEVEL debug, info, warn, error, quiet\n\n");
    cc_boa_train_config_print_keys();
    printf("\nThe shipped model's recipe: models/boa-train.yaml (see docs/accuracy.md).\n");
}

static int under_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

int cc_cmd_train(int argc, char **argv)
{
    enum { O_RESUME = CC_OPT_SCENE_LAST + 1, O_STOP, O_STEPS, O_NOPROG };
    static const struct option longopts[] = {{"help", no_argument, 0, 'h'},
                                              {"resume", no_argument, 0, O_RESUME},
                                              {"stop-after", required_argument, 0, O_STOP},
                                              {"steps", required_argument, 0, O_STEPS},
                                              {"no-progress", no_argument, 0, O_NOPROG},
                                              {"log-level", required_argument, 0, CC_OPT_LOG_LEVEL},
                                              {0, 0, 0, 0}};
    cc_boa_train_options o = {.progress = isatty(2)};
    int c;
    double v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cc_cmd_train_help(); return 0;
        case O_RESUME: o.resume = 1; break;
        case O_STOP:
            if (cc_cli_parse_double("stop-after", optarg, &v) || v < 1) {
                fprintf(stderr, "clearcube: error: train: --stop-after must be >= 1\n");
                return 2;
            }
            o.stop_after = (long)v;
            break;
        case O_STEPS:
            if (cc_cli_parse_double("steps", optarg, &v) || v < 1) {
                fprintf(stderr, "clearcube: error: train: --steps must be >= 1\n");
                return 2;
            }
            o.steps_override = (long)v;
            break;
        case O_NOPROG: o.progress = 0; break;
        case CC_OPT_LOG_LEVEL: {
            cc_scene_options unused;
            if (cc_cli_scene_option(c, optarg, &unused) < 0)
                return 2;
            break;
        }
        default: fprintf(stderr, "clearcube: error: train: bad option (see clearcube train --help)\n"); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "clearcube: error: train: need exactly one CONFIG (see clearcube train --help)\n");
        return 2;
    }
    cc_boa_train_config cfg;
    if (cc_boa_train_config_load(argv[optind], &cfg) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        return cc_status_exit_code(cc_error_status());
    }
    int mpi = under_mpi();
    if (mpi) {
        int provided;
        if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            fprintf(stderr, "clearcube: error: train: MPI_Init failed\n");
            cc_boa_train_config_free(&cfg);
            return 1;
        }
    }
    cc_boa_train_result r;
    int rc = 0;
    if (cc_boa_train(&cfg, &o, &r) != CC_OK) {
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
        rc = cc_status_exit_code(cc_error_status());
        if (mpi)
            MPI_Abort(MPI_COMM_WORLD, rc);
    } else {
        int rank = 0;
        if (mpi)
            MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        if (rank == 0) {
            printf("{\"steps\":%ld,\"ranks\":%d,\"first_loss\":%.6g,\"last_loss\":%.6g,\"seconds\":%.2f,"
                   "\"px_per_s\":%.0f,\"train_mae_dn\":[",
                   r.steps_done, r.ranks, r.first_loss, r.last_loss, r.seconds, r.px_per_s);
            for (int k = 0; k < CC_BOA_NBANDS; k++)
                printf("%s%.3f", k ? "," : "", r.train_mae_dn[k]);
            printf("],\"val_mae_dn\":[");
            for (int k = 0; k < CC_BOA_NBANDS; k++)
                printf("%s%.3f", k ? "," : "", r.val_mae_dn[k]);
            printf("]");
            static const char *const kn[3] = {"reference", "simulated_l1c", "pair"};
            for (int q = 0; q < 3; q++) {
                if (!r.n_val_kind_px[q])
                    continue;
                printf(",\"val_%s_mae_dn\":[", kn[q]);
                for (int k = 0; k < CC_BOA_NBANDS; k++)
                    printf("%s%.3f", k ? "," : "", r.val_kind_mae_dn[q][k]);
                printf("]");
            }
            printf("}\n");
        }
    }
    if (mpi)
        MPI_Finalize();
    cc_boa_train_config_free(&cfg);
    return rc;
}
