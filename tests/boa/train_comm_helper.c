/* cc_boa_train on the communicator it is given (tests/boa/boa_cli.sh, train):
 *   mpirun -n P train_comm_helper CONFIG STEPS
 * 1. every rank trains ALONE on MPI_COMM_SELF into <stem>.self<rank>.h5 (its own
 *    checkpoint, log and plot): each must report 1 rank and write its model;
 * 2. all ranks train together on MPI_COMM_WORLD into <stem>.world.h5: P ranks.
 * (d.h5 -> d.self0.h5, d.world.h5; the same tag goes into the other outputs.)
 * The script then checks that every model has the same weights (the fixed
 * reduction order makes the rank count irrelevant). Prints one line per run. */
#include <gdal.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "pipeline/boa/boa_train.h"

/* the config's output paths with a tag before the extension (d.h5 -> d.TAG.h5;
 * owned strings replaced) */
static void tag_outputs(cc_boa_train_config *c, const char *tag)
{
    char **paths[] = {&c->model, &c->checkpoint, &c->loss_plot, &c->log};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        if (!*paths[i])
            continue;
        const char *old = *paths[i], *dot = strrchr(old, '.');
        int stem = dot && !strchr(dot, '/') ? (int)(dot - old) : (int)strlen(old);
        size_t n = strlen(old) + strlen(tag) + 2;
        char *p = malloc(n);
        if (!p)
            abort();
        snprintf(p, n, "%.*s.%s%s", stem, old, tag, old + stem);
        free(*paths[i]);
        *paths[i] = p;
    }
}

static int train_on(MPI_Comm comm, const char *config, long steps, const char *sfx, int expect_ranks)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    cc_boa_train_config c;
    if (cc_boa_train_config_load(config, &c) != CC_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, cc_error_message());
        return 1;
    }
    tag_outputs(&c, sfx);
    cc_boa_train_options o = {.steps_override = steps};
    cc_boa_train_result r;
    int bad = cc_boa_train(comm, &c, &o, &r) != CC_OK;
    if (bad)
        fprintf(stderr, "rank %d: %s\n", rank, cc_error_message());
    else if (r.ranks != expect_ranks) {
        fprintf(stderr, "rank %d: %s: trained on %d rank(s), expected %d\n", rank, sfx, r.ranks, expect_ranks);
        bad = 1;
    } else
        printf("rank %d: %s: %d rank(s), %ld steps, model %s\n", rank, sfx, r.ranks, r.steps_done, c.model);
    cc_boa_train_config_free(&c);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mpirun -n P train_comm_helper CONFIG STEPS\n");
        return 2;
    }
    MPI_Init(&argc, &argv);
    GDALAllRegister(); /* the loss plot is drawn through GDAL's MEM and PNG drivers */
    cc_log_set_level(CC_LOG_WARN);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long steps = atol(argv[2]);
    char sfx[32];
    snprintf(sfx, sizeof sfx, "self%d", rank);
    int bad = train_on(MPI_COMM_SELF, argv[1], steps, sfx, 1);
    MPI_Barrier(MPI_COMM_WORLD);
    bad |= train_on(MPI_COMM_WORLD, argv[1], steps, "world", size);
    int any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    MPI_Finalize();
    return any ? 1 : 0;
}
