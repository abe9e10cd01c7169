/* `cargo xtask bench --ffi` runs this: wsc_verify through the C API on a
 * module held in memory, the verdict JSON requested and freed, RUNS times
 * after one warm-up call. Prints the milliseconds of each call.
 *
 * Usage: bench POLICY MODULE RUNS */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "wsc.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bench POLICY MODULE RUNS\n");
        return 2;
    }
    wsc_policy *policy = NULL;
    char *error = NULL;
    if (wsc_policy_from_file(argv[1], &policy, &error) != WSC_OK) {
        fprintf(stderr, "policy: %s\n", error);
        wsc_string_free(error);
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "cannot open %s\n", argv[2]);
        return 2;
    }
    long len = ftell(f);
    rewind(f);
    unsigned char *module = malloc((size_t)len);
    if (!module || fread(module, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 2;
    }
    fclose(f);
    int runs = atoi(argv[3]);
    for (int i = -1; i < runs; i++) {
        char *report = NULL;
        double t = now_ms();
        int rc = wsc_verify(policy, module, (size_t)len, &report);
        wsc_string_free(report);
        double ms = now_ms() - t;
        if (rc != WSC_OK) {
            fprintf(stderr, "wsc_verify returned %d\n", rc);
            return 1;
        }
        if (i >= 0) {
            printf("%.3f\n", ms);
        }
    }
    free(module);
    wsc_policy_free(policy);
    return 0;
}
