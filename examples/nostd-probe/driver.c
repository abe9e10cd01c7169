/*
 * The host program of the no_std probe (`cargo xtask nostd` builds and
 * runs it): reads a 32-byte Ed25519 public key and a module, verifies the
 * module with libwsc_nostd_probe.a on a thread whose stack is painted,
 * and prints the result, the heap marks and the stack used.
 *
 * Built with -DWSC_PROBE_STUB, the library's functions are stubs: the same
 * program without the library, to measure what the library adds.
 *
 * usage: driver PUBLIC_KEY_FILE MODULE_FILE
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wsc_probe_verify_ed25519(const uint8_t *public_key, const uint8_t *module, size_t module_len);
size_t wsc_probe_heap_high_water(void);
size_t wsc_probe_heap_peak_live(void);
size_t wsc_probe_heap_live(void);
_Noreturn void wsc_probe_abort(void);

/* What a panic in the library does. */
_Noreturn void wsc_probe_abort(void) {
    fputs("wsc-nostd-probe: panic\n", stderr);
    abort();
}

/*
 * The host's prebuilt core library unwinds, so its code names Rust's
 * personality routine. Nothing unwinds here (panic = "abort", and a panic
 * calls wsc_probe_abort), so it is never called. Bare-metal targets such
 * as thumbv7em-none-eabihf abort by default and need no such symbol.
 */
void rust_eh_personality(void);
void rust_eh_personality(void) { abort(); }

#ifdef WSC_PROBE_STUB
int wsc_probe_verify_ed25519(const uint8_t *public_key, const uint8_t *module, size_t module_len) {
    (void)public_key;
    (void)module;
    (void)module_len;
    return 0;
}
size_t wsc_probe_heap_high_water(void) { return 0; }
size_t wsc_probe_heap_peak_live(void) { return 0; }
size_t wsc_probe_heap_live(void) { return 0; }
#endif

#define STACK_SIZE (1024 * 1024)
#define PAINT 0xA5

struct job {
    const uint8_t *key;
    const uint8_t *module;
    size_t len;
    int result;
    uintptr_t entry;
};

static void *run(void *arg) {
    struct job *job = arg;
    volatile char marker = 0;
    job->entry = (uintptr_t)&marker;
    job->result = wsc_probe_verify_ed25519(job->key, job->module, job->len);
    return NULL;
}

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fputs("out of memory\n", stderr);
            exit(2);
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            break;
        }
        cap *= 2;
        buf = realloc(buf, cap);
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fputs("usage: driver PUBLIC_KEY_FILE MODULE_FILE\n", stderr);
        return 2;
    }
    size_t key_len, module_len;
    uint8_t *key = read_file(argv[1], &key_len);
    uint8_t *module = read_file(argv[2], &module_len);
    if (key_len != 32) {
        fprintf(stderr, "%s: %zu bytes, expected a 32-byte Ed25519 public key\n", argv[1], key_len);
        return 2;
    }

    /* A painted stack: the lowest byte that changed is the deepest use. */
    uint8_t *stack = aligned_alloc(4096, STACK_SIZE);
    if (!stack) {
        fputs("out of memory\n", stderr);
        return 2;
    }
    memset(stack, PAINT, STACK_SIZE);
    pthread_attr_t attr;
    pthread_t thread;
    struct job job = {key, module, module_len, -1, 0};
    if (pthread_attr_init(&attr) || pthread_attr_setstack(&attr, stack, STACK_SIZE) ||
        pthread_create(&thread, &attr, run, &job) || pthread_join(thread, NULL)) {
        fputs("cannot run the verification thread\n", stderr);
        return 2;
    }
    size_t untouched = 0;
    while (untouched < STACK_SIZE && stack[untouched] == PAINT) {
        untouched++;
    }

    printf("result %d\n", job.result);
    printf("heap_high_water %zu\n", wsc_probe_heap_high_water());
    printf("heap_peak_live %zu\n", wsc_probe_heap_peak_live());
    printf("heap_live_after %zu\n", wsc_probe_heap_live());
    printf("stack %zu\n", (size_t)(job.entry - ((uintptr_t)stack + untouched)));
    return 0;
}
