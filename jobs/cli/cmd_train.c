/* clearcube train CONFIG: trains the Rapid BoA emulator (issue 4). Under
 * mpirun/srun the ranks share every step (data parallel, fixed reduction
 * order: the result does not depend on the number of ranks). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "jobs/cli/cli_train.h"
#include "pipeline/boa/boa_train.h"

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
           CC_CLI_TRAIN_OPTIONS_HELP "\n");
    cc_boa_train_config_print_keys();
    printf("\nThe shipped model's recipe: models/boa-train.yaml (see docs/accuracy.md).\n");
}

static int under_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

int cc_cmd_train(int argc, char **argv)
{
    enum { O_RESUME = CC_OPT_TRAIN_LAST + 1, O_STOP };
    static const struct option longopts[] = {CC_CLI_TRAIN_LONGOPTS,
                                              {"resume", no_argument, 0, O_RESUME},
                                              {"stop-after", required_argument, 0, O_STOP},
                                              {0, 0, 0, 0}};
    cc_boa_train_options o = {.progress = isatty(2)};
    cc_device_request dreq = {CC_DEVICE_AUTO, -1};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cc_cmd_train_help(); return 0;
        case CC_OPT_DEVICE: if (cc_cli_device_option(optarg, &dreq)) return 2; break;
        case O_RESUME: o.resume = 1; break;
        case O_STOP:
            if (cc_cli_train_count("train", "stop-after", optarg, &o.stop_after) < 0)
                return 2;
            break;
        default:
            if (cc_cli_train_option("train", c, optarg, &o.steps_override, &o.progress) < 0)
                return 2;
            break;
        }
    }
    int arg = cc_cli_train_config_arg("train", argc);
    if (arg < 0)
        return 2;
    cc_device dev;
    int drc = cc_cli_device(&dreq, "train",
                            "the forward pass, the loss and AdamW (the dense layers' backward GEMMs "
                            "run on the GPU)",
                            &dev);
    if (drc)
        return drc;
    o.device = &dev;
    cc_boa_train_config cfg;
    if (cc_boa_train_config_load(argv[arg], &cfg) != CC_OK)
        return cc_cli_train_fail();
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
    if (cc_boa_train(MPI_COMM_WORLD, &cfg, &o, &r) != CC_OK) {
        rc = cc_cli_train_fail();
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
            static const char *const kn[CC_BOA_TRAIN_NKINDS] = {"reference", "simulated_l1c", "pair", "library",
                                                                 "simulated_library"};
            for (int q = 0; q < CC_BOA_TRAIN_NKINDS; q++) {
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
