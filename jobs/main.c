/* clearcube CLI: placeholder until the subcommand table lands. */
#include <stdio.h>
int main(void) { puts("clearcube"); return 0; }
