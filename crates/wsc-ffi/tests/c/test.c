/* The C API end to end; tests/c_api.rs builds and runs it.
 * argv: policy.toml, signed.wasm, tampered.wasm, unsigned.wasm,
 * wrong-signer.wasm, then any number of hostile inputs (crafted modules).
 * Exits 0 when every check holds. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsc.h"

static int failures = 0;

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                     \
            failures++;                                                   \
        }                                                                 \
    } while (0)

struct bytes {
    uint8_t *data;
    size_t len;
};

static struct bytes read_file(const char *path) {
    struct bytes b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(3);
    }
    fseek(f, 0, SEEK_END);
    b.len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    b.data = malloc(b.len ? b.len : 1);
    if (fread(b.data, 1, b.len, f) != b.len) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(3);
    }
    fclose(f);
    return b;
}

static int contains(const char *s, const char *part) {
    return s != NULL && strstr(s, part) != NULL;
}

/* wsc_verify on `m`, expecting `code` and, when not NULL, `part` in the
 * report. */
static void expect_verify(const wsc_policy *p, struct bytes m, int code, const char *part) {
    char *report = NULL;
    int rc = wsc_verify(p, m.data, m.len, &report);
    if (rc != code) {
        fprintf(stderr, "wsc_verify: %d, expected %d: %s\n", rc, code, report ? report : "(no report)");
    }
    CHECK(rc == code);
    CHECK(report != NULL);
    if (part) {
        CHECK(contains(report, part));
    }
    wsc_string_free(report);
}

/* The streaming form, fed `piece` bytes at a time. */
static int stream(const wsc_policy *p, struct bytes m, size_t piece, char **report) {
    wsc_verifier *v = NULL;
    char *error = NULL;
    CHECK(wsc_verifier_new(p, &v, &error) == WSC_OK);
    CHECK(error == NULL);
    for (size_t at = 0; at < m.len; at += piece) {
        size_t n = m.len - at < piece ? m.len - at : piece;
        if (wsc_verifier_update(v, m.data + at, n) != WSC_OK) {
            break;
        }
    }
    return wsc_verifier_finish(v, report);
}

/* A hostile input: from memory, from its file and streamed in pieces of
 * 7 and 64 bytes, the same code (0, 1 or 2) and a report each time. */
static void hostile(const wsc_policy *p, const char *path, struct bytes m) {
    char *report = NULL;
    int rc = wsc_verify(p, m.data, m.len, &report);
    CHECK(rc == WSC_OK || rc == WSC_REJECTED || rc == WSC_ERROR);
    CHECK(report != NULL);
    wsc_string_free(report);
    report = NULL;
    int from_file = wsc_verify_file(p, path, &report);
    CHECK(report != NULL);
    wsc_string_free(report);
    size_t pieces[] = {7, 64};
    for (size_t i = 0; i < 2; i++) {
        report = NULL;
        int streamed = stream(p, m, pieces[i], &report);
        CHECK(report != NULL);
        if (streamed != rc) {
            fprintf(stderr, "%s: wsc_verify %d, streamed by %zu: %d\n", path, rc, pieces[i], streamed);
        }
        CHECK(streamed == rc);
        wsc_string_free(report);
    }
    if (from_file != rc) {
        fprintf(stderr, "%s: wsc_verify %d, wsc_verify_file %d\n", path, rc, from_file);
    }
    CHECK(from_file == rc);
}

struct job {
    const wsc_policy *policy;
    struct bytes signed_module;
    struct bytes tampered;
    const char *signed_path;
    int bad;
};

static void *worker(void *arg) {
    struct job *j = arg;
    for (int i = 0; i < 3; i++) {
        char *report = NULL;
        if (wsc_verify(j->policy, j->signed_module.data, j->signed_module.len, &report) != WSC_OK ||
            !contains(report, "\"accepted\"")) {
            j->bad++;
        }
        wsc_string_free(report);
        if (wsc_verify(j->policy, j->tampered.data, j->tampered.len, NULL) != WSC_REJECTED) {
            j->bad++;
        }
        if (wsc_verify_file(j->policy, j->signed_path, NULL) != WSC_OK) {
            j->bad++;
        }
        report = NULL;
        if (stream(j->policy, j->signed_module, 100, &report) != WSC_OK) {
            j->bad++;
        }
        wsc_string_free(report);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s policy signed tampered unsigned wrong-signer [hostile ...]\n", argv[0]);
        return 3;
    }
    const char *policy_path = argv[1];
    struct bytes signed_module = read_file(argv[2]);
    struct bytes tampered = read_file(argv[3]);
    struct bytes unsigned_module = read_file(argv[4]);
    struct bytes wrong = read_file(argv[5]);

    CHECK(wsc_version() != NULL && strlen(wsc_version()) > 0);

    /* A policy file, with its key file beside it. */
    wsc_policy *p = NULL;
    char *error = NULL;
    CHECK(wsc_policy_from_file(policy_path, &p, &error) == WSC_OK);
    CHECK(p != NULL);
    CHECK(error == NULL);
    if (p == NULL) {
        fprintf(stderr, "policy: %s\n", error ? error : "(no message)");
        return 1;
    }

    /* The four verdicts, in memory and from files. */
    expect_verify(p, signed_module, WSC_OK, "\"accepted\"");
    expect_verify(p, tampered, WSC_REJECTED, "\"rejected\"");
    expect_verify(p, unsigned_module, WSC_REJECTED, "\"rejected\"");
    expect_verify(p, wrong, WSC_REJECTED, "\"rejected\"");
    char *report = NULL;
    CHECK(wsc_verify_file(p, argv[2], &report) == WSC_OK);
    CHECK(contains(report, "\"decision\": \"accepted\""));
    wsc_string_free(report);
    CHECK(wsc_verify_file(p, argv[3], NULL) == WSC_REJECTED);
    report = NULL;
    CHECK(wsc_verify_file(p, "/nonexistent/module.wasm", &report) == WSC_ERROR);
    CHECK(contains(report, "\"error\"") && contains(report, "/nonexistent/module.wasm"));
    wsc_string_free(report);

    /* Hostile input: not a module, a truncated one, a huge length field. */
    static const uint8_t garbage[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
                                      0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    expect_verify(p, (struct bytes){(uint8_t *)garbage, sizeof garbage}, WSC_ERROR, "\"error\"");
    expect_verify(p, (struct bytes){(uint8_t *)"hello", 5}, WSC_ERROR, "\"error\"");
    expect_verify(p, (struct bytes){signed_module.data, signed_module.len / 2}, WSC_ERROR, "\"error\"");
    expect_verify(p, (struct bytes){(uint8_t *)"", 0}, WSC_ERROR, "\"error\"");

    /* Bad policies: with a message, and nothing in *out. */
    static const char bad[] = "schema = \"wsc-policy/v9\"\n";
    wsc_policy *q = NULL;
    error = NULL;
    CHECK(wsc_policy_from_bytes((const uint8_t *)bad, strlen(bad), &q, &error) == WSC_ERROR);
    CHECK(q == NULL);
    CHECK(contains(error, "wsc-policy/v1"));
    wsc_string_free(error);
    error = NULL;
    CHECK(wsc_policy_from_file("/nonexistent/policy.toml", &q, &error) == WSC_ERROR);
    CHECK(q == NULL && contains(error, "policy"));
    wsc_string_free(error);
    /* A policy from bytes cannot read files. */
    static const char names_file[] =
        "schema = \"wsc-policy/v1\"\n[principals.a]\nkind = \"key\"\nalgorithm = \"ed25519\"\n"
        "file = \"k1.pk\"\n[default]\nrule = \"a\"\n";
    error = NULL;
    CHECK(wsc_policy_from_bytes((const uint8_t *)names_file, strlen(names_file), &q, &error) == WSC_ERROR);
    CHECK(q == NULL && error != NULL);
    wsc_string_free(error);
    /* One that names no file loads, and rejects an unsigned module. */
    static const char keyless[] =
        "schema = \"wsc-policy/v1\"\n[principals.ci]\nkind = \"keyless\"\n"
        "issuer = \"https://token.actions.githubusercontent.com\"\n"
        "identity = \"https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main\"\n"
        "[default]\nrule = \"ci\"\n";
    CHECK(wsc_policy_from_bytes((const uint8_t *)keyless, strlen(keyless), &q, NULL) == WSC_OK);
    expect_verify(q, unsigned_module, WSC_REJECTED, "no_signature");
    wsc_policy_free(q);

    /* NULL arguments and a path that is not UTF-8. */
    error = NULL;
    CHECK(wsc_policy_from_file(NULL, &q, &error) == WSC_ERROR);
    CHECK(contains(error, "NULL"));
    wsc_string_free(error);
    CHECK(wsc_policy_from_file(policy_path, NULL, NULL) == WSC_ERROR);
    CHECK(wsc_policy_from_bytes(NULL, 3, &q, NULL) == WSC_ERROR);
    error = NULL;
    CHECK(wsc_policy_from_file("/tmp/\xff\xfe.toml", &q, &error) == WSC_ERROR);
    CHECK(contains(error, "UTF-8"));
    wsc_string_free(error);
    report = NULL;
    CHECK(wsc_verify(NULL, signed_module.data, signed_module.len, &report) == WSC_ERROR);
    CHECK(contains(report, "NULL"));
    wsc_string_free(report);
    CHECK(wsc_verify(p, NULL, 10, NULL) == WSC_ERROR);
    CHECK(wsc_verify_file(p, NULL, NULL) == WSC_ERROR);
    report = NULL;
    CHECK(wsc_verify_file(p, "/tmp/\xff.wasm", &report) == WSC_ERROR);
    CHECK(contains(report, "UTF-8"));
    wsc_string_free(report);
    wsc_verifier *v = NULL;
    error = NULL;
    CHECK(wsc_verifier_new(NULL, &v, &error) == WSC_ERROR);
    CHECK(v == NULL && contains(error, "NULL"));
    wsc_string_free(error);
    CHECK(wsc_verifier_new(p, NULL, NULL) == WSC_ERROR);
    CHECK(wsc_verifier_update(NULL, (const uint8_t *)"x", 1) == WSC_ERROR);
    report = NULL;
    CHECK(wsc_verifier_finish(NULL, &report) == WSC_ERROR);
    CHECK(contains(report, "NULL"));
    wsc_string_free(report);
    wsc_policy_free(NULL);
    wsc_string_free(NULL);
    wsc_verifier_free(NULL);

    /* Streaming, in pieces of 1, 7 and 4096 bytes. */
    size_t pieces[] = {1, 7, 4096};
    for (size_t i = 0; i < 3; i++) {
        report = NULL;
        CHECK(stream(p, signed_module, pieces[i], &report) == WSC_OK);
        CHECK(contains(report, "\"accepted\""));
        wsc_string_free(report);
        CHECK(stream(p, tampered, pieces[i], NULL) == WSC_REJECTED);
        CHECK(stream(p, wrong, pieces[i], NULL) == WSC_REJECTED);
    }
    /* A malformed stream: an error, with a report that says so. */
    report = NULL;
    CHECK(stream(p, (struct bytes){(uint8_t *)garbage, sizeof garbage}, 3, &report) == WSC_ERROR);
    CHECK(contains(report, "\"error\""));
    wsc_string_free(report);
    /* NULL data; then abandoned half way. */
    CHECK(wsc_verifier_new(p, &v, NULL) == WSC_OK);
    CHECK(wsc_verifier_update(v, NULL, 4) == WSC_ERROR);
    CHECK(wsc_verifier_update(v, signed_module.data, 10) == WSC_OK);
    wsc_verifier_free(v);
    /* A verifier outlives the policy it was made from. */
    wsc_policy *r = NULL;
    CHECK(wsc_policy_from_file(policy_path, &r, NULL) == WSC_OK);
    v = NULL;
    CHECK(wsc_verifier_new(r, &v, NULL) == WSC_OK);
    wsc_policy_free(r);
    CHECK(wsc_verifier_update(v, signed_module.data, signed_module.len) == WSC_OK);
    CHECK(wsc_verifier_finish(v, NULL) == WSC_OK);

    /* Four threads, one policy. */
    pthread_t threads[4];
    struct job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct job){p, signed_module, tampered, argv[2], 0};
        CHECK(pthread_create(&threads[i], NULL, worker, &jobs[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(jobs[i].bad == 0);
    }

    for (int i = 6; i < argc; i++) {
        struct bytes m = read_file(argv[i]);
        hostile(p, argv[i], m);
        free(m.data);
    }

    wsc_policy_free(p);
    free(signed_module.data);
    free(tampered.data);
    free(unsigned_module.data);
    free(wrong.data);
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
