/* The driver of the fuzz harnesses in an ordinary build (no libFuzzer): each
 * argument is a file, or a folder whose files are, passed once to
 * LLVMFuzzerTestOneInput. The ctest fuzz_replay_<harness> replays the kept
 * corpus and crash regressions (tests/fuzz/corpus/<harness>/) this way under
 * the normal (and the ASan) build. A missing folder is skipped. */
#define _DEFAULT_SOURCE /* scandir, alphasort */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            } else
                buf = nb;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int nfiles = 0, errs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            printf("%s: absent, skipped\n", argv[i]);
            continue;
        }
        if (!S_ISDIR(sb.st_mode)) {
            errs += replay_file(argv[i]);
            nfiles++;
            continue;
        }
        struct dirent **ents = NULL;
        int ne = scandir(argv[i], &ents, NULL, alphasort);
        for (int k = 0; k < ne; k++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], ents[k]->d_name);
            if (ents[k]->d_name[0] != '.' && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
                errs += replay_file(p);
                nfiles++;
            }
            free(ents[k]);
        }
        free(ents);
    }
    printf("replayed %d input(s), %d unreadable\n", nfiles, errs);
    return errs ? 1 : 0;
}
