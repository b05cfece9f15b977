/* tests/modelfile helper for the Python cross-check (check_python.py):
 *   mf_tool write <path>   writes the every-op model (mf_model.h)
 *   mf_tool dump <path>    reads a model file and prints the canonical dump */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include <stdio.h>
#include <string.h>

#include "io/model_file.h"
#include "mf_model.h"

int main(int argc, char **argv)
{
    cc_nn_model m;
    cc_status st;
    if (argc != 3 || (strcmp(argv[1], "write") != 0 && strcmp(argv[1], "dump") != 0)) {
        fprintf(stderr, "usage: mf_tool write|dump <model.h5>\n");
        return 2;
    }
    if (!strcmp(argv[1], "write")) {
        st = mf_build_every_op(&m);
        if (st == CC_OK)
            st = cc_model_file_write(argv[2], &m, NULL);
    } else {
        st = cc_model_file_read(argv[2], &m);
        if (st == CC_OK)
            mf_dump(stdout, &m);
    }
    if (st != CC_OK)
        fprintf(stderr, "mf_tool: %s\n", cc_error_message());
    cc_nn_model_free(&m);
    return cc_status_exit_code(st);
}
