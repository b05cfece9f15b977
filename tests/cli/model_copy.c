/* Test helper of disk_full.sh: reads a model file and writes it elsewhere
 * through the model writer (io/model_file.c).
 *   model_copy SRC DST
 * Exit 0 on success, 1 with "clearcube: error: <message>" on stderr. */
#include <stdio.h>

#include "core/error.h"
#include "io/model_file.h"
#include "kernels/nn.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: model_copy SRC DST\n");
        return 2;
    }
    cc_nn_model m;
    cc_nn_model_init(&m);
    cc_status st = cc_model_file_read(argv[1], &m);
    if (st == CC_OK)
        st = cc_model_file_write(argv[2], &m, NULL);
    if (st != CC_OK)
        fprintf(stderr, "clearcube: error: %s\n", cc_error_message());
    cc_nn_model_free(&m);
    return st == CC_OK ? 0 : 1;
}
