/* clearcube: the command-line entry point. */
#include "jobs/cli/cli.h"

int main(int argc, char **argv) { return cc_cli_main(argc, argv); }
