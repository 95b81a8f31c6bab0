/* One-process tests of the C ABI: the whole API on named segments, and
 * every bad argument returning its status instead of crashing. Run under
 * valgrind by tests/run.sh.
 *
 *   unit NAME_PREFIX        (e.g. /shmlane-c-unit-1234) */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>
#include "common.h"

#define MS 1000000LL

static char names[8][128];

static void test_version(void) {
    int i;
    CHECK(shmlane_version() != NULL && strlen(shmlane_version()) > 0);
    CHECK(shmlane_abi_version() == SHMLANE_ABI_VERSION);
    for (i = 0; i <= SHMLANE_STATUS_MAX; i++) CHECK(strlen(shmlane_strerror(i)) > 0);
    CHECK(strcmp(shmlane_strerror(SHMLANE_OK), "ok") == 0);
    CHECK(strcmp(shmlane_strerror(-1), "unknown status") == 0);
    CHECK(strcmp(shmlane_strerror(SHMLANE_STATUS_MAX + 1), "unknown status") == 0);
    CHECK(SHMLANE_MAGIC == 0x00454E414C4D4853ULL);
}

static void test_bytes_api(void) {
    shmlane_channel *ch = NULL, *ch2 = NULL;
    shmlane_producer *p = NULL, *p2 = NULL;
    shmlane_consumer *c = NULL, *c2 = NULL;
    shmlane_options opt;
    shmlane_info info;
    shmlane_stats st;
    unsigned char buf[256];
    char big[200];
    void *w = NULL;
    const void *r = NULL;
    size_t n = 0;
    uint32_t ty = 0;
    int alive = -1, i;

    memset(&opt, 0, sizeof opt);
    opt.max_message = 100;
    CHECK_STATUS(shmlane_channel_create(names[0], 1024, &opt, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_channel_info(ch, &info), SHMLANE_OK);
    CHECK(info.kind == SHMLANE_KIND_BYTES && info.capacity == 1024 && info.max_message == 100);
    CHECK_STATUS(shmlane_channel_create(names[0], 1024, NULL, &ch2), SHMLANE_ALREADY_EXISTS);
    CHECK_STATUS(shmlane_channel_open(names[0], SHMLANE_KIND_BYTES_MPSC, &ch2), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_channel_open(names[0], 0, &ch2), SHMLANE_OK);

    CHECK_STATUS(shmlane_producer_attach(ch, &p), SHMLANE_OK);
    CHECK_STATUS(shmlane_producer_attach(ch2, &p2), SHMLANE_ENDPOINT_BUSY);
    CHECK_STATUS(shmlane_consumer_attach(ch2, &c), SHMLANE_OK);
    CHECK_STATUS(shmlane_consumer_attach(ch, &c2), SHMLANE_ENDPOINT_BUSY);
    CHECK_STATUS(shmlane_consumer_producer_alive(c, &alive), SHMLANE_OK);
    CHECK(alive == 1);

    /* Empty, timeout. */
    CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, 0), SHMLANE_EMPTY);
    CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, 1 * MS), SHMLANE_TIMEOUT);
    CHECK_STATUS(shmlane_read(c, &r, &n, &ty, 1 * MS), SHMLANE_TIMEOUT);

    /* Copy send and receive, zero-length message. */
    CHECK_STATUS(shmlane_send(p, "hello", 5, 7, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_send(p, NULL, 0, 8, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, -1), SHMLANE_OK);
    CHECK(n == 5 && ty == 7 && memcmp(buf, "hello", 5) == 0);
    CHECK_STATUS(shmlane_recv(c, NULL, 0, &n, NULL, 0), SHMLANE_OK);
    CHECK(n == 0);

    /* Too large, too small a buffer (the message stays). */
    memset(big, 'x', sizeof big);
    CHECK_STATUS(shmlane_send(p, big, 101, 0, 0), SHMLANE_TOO_LARGE);
    CHECK_STATUS(shmlane_claim(p, 101, 0, &w), SHMLANE_TOO_LARGE);
    CHECK_STATUS(shmlane_send(p, big, 100, 1, 0), SHMLANE_OK);
    n = 0;
    CHECK_STATUS(shmlane_recv(c, buf, 10, &n, &ty, 0), SHMLANE_BUFFER_TOO_SMALL);
    CHECK(n == 100);
    CHECK_STATUS(shmlane_recv(c, NULL, 0, &n, &ty, 0), SHMLANE_BUFFER_TOO_SMALL);
    CHECK(n == 100);
    CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, 0), SHMLANE_OK);
    CHECK(n == 100 && ty == 1 && buf[99] == 'x');

    /* Zero-copy: claim, commit, abort, read, release. */
    CHECK_STATUS(shmlane_claim(p, 4, 0, &w), SHMLANE_OK);
    CHECK(w != NULL);
    CHECK_STATUS(shmlane_claim(p, 4, 0, &w), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_send(p, "x", 1, 0, 0), SHMLANE_WRONG_STATE);
    memcpy(w, "abcd", 4);
    CHECK_STATUS(shmlane_commit(p, 42), SHMLANE_OK);
    CHECK_STATUS(shmlane_commit(p, 42), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_abort(p), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_claim(p, 8, 0, &w), SHMLANE_OK);
    CHECK_STATUS(shmlane_abort(p), SHMLANE_OK);
    CHECK_STATUS(shmlane_send(p, "efg", 3, 43, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_release(c), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_read(c, &r, &n, &ty, 0), SHMLANE_OK);
    CHECK(n == 4 && ty == 42 && memcmp(r, "abcd", 4) == 0);
    /* A second read before the release returns the same record. */
    CHECK_STATUS(shmlane_read(c, &r, &n, NULL, 0), SHMLANE_OK);
    CHECK(n == 4 && memcmp(r, "abcd", 4) == 0);
    CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, 0), SHMLANE_OK); /* takes the held one */
    CHECK(n == 4 && ty == 42);
    CHECK_STATUS(shmlane_read(c, &r, &n, &ty, 0), SHMLANE_OK);
    CHECK(n == 3 && ty == 43 && memcmp(r, "efg", 3) == 0); /* the aborted claim was skipped */
    CHECK_STATUS(shmlane_release(c), SHMLANE_OK);

    /* Full: fill the ring with the non-blocking send. */
    for (i = 0; i < 100; i++) {
        shmlane_status s = shmlane_send(p, big, 100, 0, 0);
        if (s != SHMLANE_OK) {
            CHECK_STATUS(s, SHMLANE_FULL);
            break;
        }
    }
    CHECK(i > 0 && i < 100);
    CHECK_STATUS(shmlane_send(p, big, 100, 0, 1 * MS), SHMLANE_TIMEOUT);
    CHECK_STATUS(shmlane_claim(p, 100, 1 * MS, &w), SHMLANE_TIMEOUT);
    CHECK_STATUS(shmlane_channel_stats(ch, &st), SHMLANE_OK);
    CHECK(st.sent == (uint64_t)(5 + i) && st.received == 5 && st.depth_records == (uint64_t)i);
    CHECK(st.consumers_alive == 1 && st.producers_alive >= 1);

    /* Close with a claim outstanding (aborted), then the end of stream. */
    CHECK_STATUS(shmlane_read(c, &r, &n, &ty, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_claim(p, 10, 0, &w), SHMLANE_OK); /* aborted by the close */
    shmlane_producer_close(p);
    for (; i > 0; i--) CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, -1), SHMLANE_DISCONNECTED);
    CHECK_STATUS(shmlane_read(c, &r, &n, &ty, 1 * MS), SHMLANE_DISCONNECTED);

    /* A new producer; then the consumer closes with a record held. */
    CHECK_STATUS(shmlane_producer_attach(ch, &p), SHMLANE_OK);
    CHECK_STATUS(shmlane_send(p, "z", 1, 0, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_read(c, &r, &n, &ty, 0), SHMLANE_OK);
    shmlane_consumer_close(c);
    CHECK_STATUS(shmlane_send(p, "z", 1, 0, -1), SHMLANE_DISCONNECTED);
    CHECK_STATUS(shmlane_claim(p, 1, 0, &w), SHMLANE_DISCONNECTED);
    shmlane_producer_close(p);
    shmlane_channel_close(ch2);
    shmlane_channel_close(ch);
    CHECK_STATUS(shmlane_unlink(names[0]), SHMLANE_OK);
    CHECK_STATUS(shmlane_unlink(names[0]), SHMLANE_NOT_FOUND);
    CHECK_STATUS(shmlane_channel_open(names[0], 0, &ch), SHMLANE_NOT_FOUND);
}

static void test_mpsc_mpmc(void) {
    shmlane_channel *ch = NULL;
    shmlane_producer *p[3] = {NULL, NULL, NULL};
    shmlane_consumer *c = NULL, *c2 = NULL;
    shmlane_options opt;
    unsigned char buf[16];
    size_t n;
    uint32_t ty, seen = 0;
    int i;

    memset(&opt, 0, sizeof opt);
    opt.kind = SHMLANE_KIND_BYTES_MPSC;
    opt.endpoints = 3; /* the consumer and two producers */
    CHECK_STATUS(shmlane_channel_create(names[1], 4096, &opt, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_producer_attach(ch, &p[0]), SHMLANE_OK);
    CHECK_STATUS(shmlane_producer_attach(ch, &p[1]), SHMLANE_OK);
    CHECK_STATUS(shmlane_producer_attach(ch, &p[2]), SHMLANE_ENDPOINT_TABLE_FULL);
    CHECK_STATUS(shmlane_consumer_attach(ch, &c), SHMLANE_OK);
    for (i = 0; i < 2; i++) CHECK_STATUS(shmlane_send(p[i], "m", 1, (uint32_t)i, 0), SHMLANE_OK);
    for (i = 0; i < 2; i++) {
        CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, 0), SHMLANE_OK);
        seen |= 1u << ty;
    }
    CHECK(seen == 3);
    shmlane_producer_close(p[0]);
    CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, 0), SHMLANE_EMPTY); /* one producer left */
    shmlane_producer_close(p[1]);
    CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, 0), SHMLANE_DISCONNECTED);
    shmlane_consumer_close(c);
    shmlane_channel_close(ch);
    CHECK_STATUS(shmlane_unlink(names[1]), SHMLANE_OK);

    /* MPMC: two competing consumers. */
    opt.kind = SHMLANE_KIND_BYTES_MPMC;
    opt.endpoints = 4;
    CHECK_STATUS(shmlane_channel_create(names[1], 4096, &opt, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_producer_attach(ch, &p[0]), SHMLANE_OK);
    CHECK_STATUS(shmlane_consumer_attach(ch, &c), SHMLANE_OK);
    CHECK_STATUS(shmlane_consumer_attach(ch, &c2), SHMLANE_OK);
    CHECK_STATUS(shmlane_send(p[0], "a", 1, 1, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_send(p[0], "b", 1, 2, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, 0), SHMLANE_OK);
    CHECK(ty == 1);
    CHECK_STATUS(shmlane_recv(c2, buf, sizeof buf, &n, &ty, 0), SHMLANE_OK);
    CHECK(ty == 2);
    CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &n, &ty, 0), SHMLANE_EMPTY);
    shmlane_producer_close(p[0]);
    shmlane_consumer_close(c);
    shmlane_consumer_close(c2);
    shmlane_channel_close(ch);
    CHECK_STATUS(shmlane_unlink(names[1]), SHMLANE_OK);
}

static void test_fixed(void) {
    shmlane_fixed *ch = NULL, *ch2 = NULL;
    shmlane_fixed_producer *p = NULL, *p2 = NULL;
    shmlane_fixed_consumer *c = NULL;
    shmlane_fixed_stats st;
    shmlane_channel *bch = NULL;
    uint64_t e[2] = {1, 2}, o[2] = {0, 0};
    size_t n = 0, esz = 0, cap = 0;
    int i;

    CHECK_STATUS(shmlane_fixed_create(names[2], 4, 16, 8, 0, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_fixed_info(ch, &esz, &cap), SHMLANE_OK);
    CHECK(esz == 16 && cap == 4);
    CHECK_STATUS(shmlane_fixed_open(names[2], 8, &ch2), SHMLANE_TYPE_MISMATCH);
    CHECK_STATUS(shmlane_channel_open(names[2], 0, &bch), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_fixed_open(names[2], 0, &ch2), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_producer_attach(ch, &p), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_producer_attach(ch2, &p2), SHMLANE_ENDPOINT_BUSY);
    CHECK_STATUS(shmlane_fixed_consumer_attach(ch2, &c), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_pop(c, o, sizeof o, &n, 0), SHMLANE_EMPTY);
    CHECK_STATUS(shmlane_fixed_pop(c, o, sizeof o, &n, 1 * MS), SHMLANE_TIMEOUT);
    CHECK_STATUS(shmlane_fixed_push(p, e, 8, 0), SHMLANE_INVALID_ARGUMENT);
    for (i = 0; i < 4; i++) {
        e[0] = (uint64_t)i;
        CHECK_STATUS(shmlane_fixed_push(p, e, sizeof e, 0), SHMLANE_OK);
    }
    CHECK_STATUS(shmlane_fixed_push(p, e, sizeof e, 0), SHMLANE_FULL);
    CHECK_STATUS(shmlane_fixed_push(p, e, sizeof e, 1 * MS), SHMLANE_TIMEOUT);
    CHECK_STATUS(shmlane_fixed_stats_get(ch, &st), SHMLANE_OK);
    CHECK(st.capacity == 4 && st.pushed == 4 && st.popped == 0 && st.depth == 4);
    n = 0;
    CHECK_STATUS(shmlane_fixed_pop(c, o, 8, &n, 0), SHMLANE_BUFFER_TOO_SMALL);
    CHECK(n == 16);
    for (i = 0; i < 4; i++) {
        CHECK_STATUS(shmlane_fixed_pop(c, o, sizeof o, &n, -1), SHMLANE_OK);
        CHECK(n == 16 && o[0] == (uint64_t)i && o[1] == 2);
    }
    shmlane_fixed_producer_close(p);
    CHECK_STATUS(shmlane_fixed_pop(c, o, sizeof o, &n, -1), SHMLANE_DISCONNECTED);
    shmlane_fixed_consumer_close(c);
    shmlane_fixed_close(ch2);
    shmlane_fixed_close(ch);
    CHECK_STATUS(shmlane_unlink(names[2]), SHMLANE_OK);
}

static void test_bad_arguments(void) {
    shmlane_channel *ch = NULL;
    shmlane_producer *p = NULL;
    shmlane_consumer *c = NULL;
    shmlane_fixed *f = NULL;
    shmlane_fixed_producer *fp = NULL;
    shmlane_fixed_consumer *fc = NULL;
    shmlane_options opt;
    shmlane_info info;
    shmlane_stats st;
    shmlane_fixed_stats fst;
    char longname[400];
    unsigned char buf[8];
    void *w;
    const void *r;
    size_t n;
    uint32_t ty;
    int alive;

    /* NULL pointers. */
    CHECK_STATUS(shmlane_channel_create(NULL, 1024, NULL, &ch), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_channel_create(names[3], 1024, NULL, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_channel_open(NULL, 0, &ch), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_channel_open(names[3], 0, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_unlink(NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_channel_info(NULL, &info), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_channel_stats(NULL, &st), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_producer_attach(NULL, &p), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_consumer_attach(NULL, &c), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_send(NULL, "x", 1, 0, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_claim(NULL, 1, 0, &w), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_commit(NULL, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_abort(NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_recv(NULL, buf, sizeof buf, &n, &ty, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_read(NULL, &r, &n, &ty, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_release(NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_consumer_producer_alive(NULL, &alive), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_create(NULL, 4, 8, 8, 0, &f), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_create(names[3], 4, 8, 8, 0, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_open(NULL, 0, &f), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_info(NULL, &n, &n), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_stats_get(NULL, &fst), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_producer_attach(NULL, &fp), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_consumer_attach(NULL, &fc), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_push(NULL, buf, 8, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_pop(NULL, buf, 8, &n, 0), SHMLANE_NULL_POINTER);
    shmlane_channel_close(NULL);
    shmlane_producer_close(NULL);
    shmlane_consumer_close(NULL);
    shmlane_fixed_close(NULL);
    shmlane_fixed_producer_close(NULL);
    shmlane_fixed_consumer_close(NULL);

    /* Bad names. */
    memset(longname, 'a', sizeof longname);
    longname[0] = '/';
    longname[sizeof longname - 1] = '\0';
    CHECK_STATUS(shmlane_channel_create("no-slash", 1024, NULL, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_channel_create("", 1024, NULL, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_channel_create("/a/b", 1024, NULL, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_channel_create(longname, 1024, NULL, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_channel_create("/\xff\xfe", 1024, NULL, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_channel_open("bad", 0, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_unlink("bad"), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_fixed_create("bad", 4, 8, 8, 0, &f), SHMLANE_INVALID_NAME);

    /* Out-of-range arguments. */
    memset(&opt, 0, sizeof opt);
    CHECK_STATUS(shmlane_channel_create(names[3], 0, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_channel_create(names[3], 1000, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_channel_create(names[3], 32, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.kind = 99;
    CHECK_STATUS(shmlane_channel_create(names[3], 1024, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_channel_open(names[3], 99, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.kind = SHMLANE_KIND_SPSC; /* fixed-size kinds go through shmlane_fixed_* */
    CHECK_STATUS(shmlane_channel_create(names[3], 1024, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.kind = 0;
    opt.max_message = 1024; /* more than half the area */
    CHECK_STATUS(shmlane_channel_create(names[3], 1024, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.max_message = 0;
    opt.kind = SHMLANE_KIND_BYTES_MPSC;
    opt.endpoints = 1;
    CHECK_STATUS(shmlane_channel_create(names[3], 1024, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_fixed_create(names[3], 0, 8, 8, 0, &f), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_fixed_create(names[3], 3, 8, 8, 0, &f), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_fixed_create(names[3], 4, 0, 8, 0, &f), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_fixed_create(names[3], 4, 12, 8, 0, &f), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_fixed_create(names[3], 4, 8, 3, 0, &f), SHMLANE_INVALID_ARGUMENT);
    CHECK(ch == NULL && f == NULL); /* out-parameters untouched on failure */

    /* Handle-level bad arguments on a live ring. */
    CHECK_STATUS(shmlane_channel_create(names[3], 1024, NULL, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_channel_info(ch, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_channel_stats(ch, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_producer_attach(ch, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_consumer_attach(ch, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_producer_attach(ch, &p), SHMLANE_OK);
    CHECK_STATUS(shmlane_consumer_attach(ch, &c), SHMLANE_OK);
    CHECK_STATUS(shmlane_send(p, NULL, 1, 0, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_send(p, "x", 1, SHMLANE_PADDING_TYPE, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_claim(p, 1, 0, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_recv(c, NULL, 4, &n, &ty, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, NULL, &ty, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_read(c, NULL, &n, &ty, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_read(c, &r, NULL, &ty, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_consumer_producer_alive(c, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_claim(p, 1, 0, &w), SHMLANE_OK);
    CHECK_STATUS(shmlane_commit(p, SHMLANE_PADDING_TYPE), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_commit(p, 0), SHMLANE_OK);
    shmlane_producer_close(p);
    shmlane_consumer_close(c);
    shmlane_channel_close(ch);
    CHECK_STATUS(shmlane_unlink(names[3]), SHMLANE_OK);

    CHECK_STATUS(shmlane_fixed_create(names[3], 4, 8, 8, 0, &f), SHMLANE_OK);
    if (!f) return;
    CHECK_STATUS(shmlane_fixed_producer_attach(f, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_producer_attach(f, &fp), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_consumer_attach(f, &fc), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_stats_get(f, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_push(fp, NULL, 8, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_push(fp, buf, 0, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_fixed_pop(fc, NULL, 8, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_pop(fc, buf, 8, NULL, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_info(f, NULL, NULL), SHMLANE_OK);
    shmlane_fixed_producer_close(fp);
    shmlane_fixed_consumer_close(fc);
    shmlane_fixed_close(f);
    CHECK_STATUS(shmlane_unlink(names[3]), SHMLANE_OK);
}

/* Fixed-size MPMC rings, anonymous segments and batches in one process. */
static void test_mpmc_anon_batches(void) {
    shmlane_mpmc *m = NULL, *m2 = NULL, *m3 = NULL;
    shmlane_mpmc_sender *tx = NULL;
    shmlane_mpmc_receiver *rx = NULL, *rx2 = NULL;
    shmlane_mpmc_stats st;
    shmlane_options opt;
    shmlane_channel *ch = NULL, *ch2 = NULL;
    shmlane_producer *p = NULL;
    shmlane_consumer *c = NULL;
    shmlane_msg msgs[4];
    shmlane_fixed *f = NULL, *f2 = NULL;
    shmlane_fixed_producer *fp = NULL;
    shmlane_fixed_consumer *fc = NULL;
    uint32_t v[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
    size_t n = 0, es = 0, cap = 0;
    const void *r = NULL;
    void *w = NULL;
    uint32_t ty = 0;
    int fd = -1;
    char b[16];

    /* Named MPMC ring of 4-byte elements. */
    CHECK_STATUS(shmlane_mpmc_create(names[4], 4, 4, 4, NULL, &m), SHMLANE_OK);
    if (!m) return;
    CHECK_STATUS(shmlane_mpmc_open(names[4], 8, &m2), SHMLANE_TYPE_MISMATCH);
    CHECK_STATUS(shmlane_mpmc_open(names[4], 0, &m2), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_open(names[4], 0, &f), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_mpmc_open(names[3], 0, &m3), SHMLANE_NOT_FOUND);
    CHECK_STATUS(shmlane_mpmc_info(m2, &es, &cap), SHMLANE_OK);
    CHECK(es == 4 && cap == 4);
    CHECK_STATUS(shmlane_mpmc_fd(m, &fd), SHMLANE_INVALID_ARGUMENT); /* named: no fd */
    CHECK_STATUS(shmlane_mpmc_sender_attach(m, &tx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_receiver_attach(m2, &rx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_receiver_attach(m2, &rx2), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_recv(rx, out, 4, &n, 0), SHMLANE_EMPTY);
    CHECK_STATUS(shmlane_mpmc_recv(rx, out, 4, &n, 1000000), SHMLANE_TIMEOUT);
    CHECK_STATUS(shmlane_mpmc_send_batch(tx, v, 8, &n, 0), SHMLANE_OK);
    CHECK(n == 4); /* one claim of every free slot */
    CHECK_STATUS(shmlane_mpmc_send(tx, &v[4], 4, 0), SHMLANE_FULL);
    CHECK_STATUS(shmlane_mpmc_send_batch(tx, &v[4], 4, &n, 0), SHMLANE_FULL);
    CHECK(n == 0);
    CHECK_STATUS(shmlane_mpmc_recv(rx2, out, sizeof out, &n, 0), SHMLANE_OK);
    CHECK(n == 4 && out[0] == 1);
    CHECK_STATUS(shmlane_mpmc_recv_batch(rx, out, 2 * 4 + 3, &n, 0), SHMLANE_OK);
    CHECK(n == 2 && out[0] == 2 && out[1] == 3);
    CHECK_STATUS(shmlane_mpmc_read(rx, &r, 0), SHMLANE_OK);
    CHECK(r && *(const uint32_t *)r == 4);
    CHECK_STATUS(shmlane_mpmc_recv(rx, out, 4, &n, 0), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_mpmc_recv_batch(rx, out, 4, &n, 0), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_mpmc_release(rx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_release(rx), SHMLANE_WRONG_STATE);
    /* Claims: commit, abort (passed over), one at a time. */
    CHECK_STATUS(shmlane_mpmc_claim(tx, 0, &w), SHMLANE_OK);
    CHECK(w != NULL && ((uintptr_t)w % 4) == 0);
    CHECK_STATUS(shmlane_mpmc_claim(tx, 0, &w), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_mpmc_send(tx, v, 4, 0), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_mpmc_abort(tx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_abort(tx), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_mpmc_commit(tx), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_mpmc_claim(tx, -1, &w), SHMLANE_OK);
    if (w) memcpy(w, &v[7], 4);
    CHECK_STATUS(shmlane_mpmc_commit(tx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_recv(rx, out, 4, &n, 0), SHMLANE_OK);
    CHECK(out[0] == 8);
    CHECK_STATUS(shmlane_mpmc_stats_get(m, &st), SHMLANE_OK);
    CHECK(st.sent == 5 && st.received == 5 && st.aborted == 1 && st.depth == 0 && st.senders == 1 &&
          st.receivers == 2 && st.capacity == 4 && st.stall_timeout_ns > 0);
    shmlane_mpmc_sender_close(tx);
    CHECK_STATUS(shmlane_mpmc_recv(rx, out, 4, &n, -1), SHMLANE_DISCONNECTED);
    CHECK_STATUS(shmlane_mpmc_read(rx2, &r, 0), SHMLANE_DISCONNECTED);
    shmlane_mpmc_receiver_close(rx);
    shmlane_mpmc_receiver_close(rx2);
    shmlane_mpmc_close(m);
    shmlane_mpmc_close(m2);
    CHECK_STATUS(shmlane_unlink(names[4]), SHMLANE_OK);

    /* Anonymous MPMC: fd round trip in one process; closing with a claim
     * and a read outstanding. */
    memset(&opt, 0, sizeof opt);
    opt.endpoints = 3;
    CHECK_STATUS(shmlane_mpmc_anonymous(8, 16, 16, &opt, &m), SHMLANE_OK);
    if (!m) return;
    CHECK_STATUS(shmlane_mpmc_fd(m, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_from_fd(fd, 16, &m2), SHMLANE_OK);
    close(fd);
    CHECK_STATUS(shmlane_mpmc_stats_get(m2, &st), SHMLANE_OK);
    CHECK(st.endpoint_capacity == 3 && st.capacity == 8);
    CHECK_STATUS(shmlane_mpmc_sender_attach(m2, &tx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_receiver_attach(m, &rx), SHMLANE_OK);
    memset(b, 7, sizeof b);
    CHECK_STATUS(shmlane_mpmc_send(tx, b, 16, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_claim(tx, 0, &w), SHMLANE_OK);
    CHECK(((uintptr_t)w % 16) == 0);
    CHECK_STATUS(shmlane_mpmc_read(rx, &r, 0), SHMLANE_OK);
    CHECK(r && ((uintptr_t)r % 16) == 0 && ((const char *)r)[15] == 7);
    shmlane_mpmc_sender_close(tx); /* aborts the claim */
    shmlane_mpmc_receiver_close(rx); /* releases the read */
    shmlane_mpmc_close(m);
    shmlane_mpmc_close(m2);

    /* Anonymous byte ring: fd round trip, batch reads in place. */
    CHECK_STATUS(shmlane_channel_anonymous(1024, NULL, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_channel_fd(ch, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_channel_from_fd(fd, SHMLANE_KIND_BYTES_MPSC, &ch2), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_channel_from_fd(fd, SHMLANE_KIND_BYTES, &ch2), SHMLANE_OK);
    close(fd);
    CHECK_STATUS(shmlane_producer_attach(ch2, &p), SHMLANE_OK);
    CHECK_STATUS(shmlane_consumer_attach(ch, &c), SHMLANE_OK);
    CHECK_STATUS(shmlane_read_batch(c, msgs, 4, &n, 0), SHMLANE_EMPTY);
    CHECK_STATUS(shmlane_send(p, "a", 1, 1, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_send(p, "bb", 2, 2, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_send(p, "", 0, 3, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_read_batch(c, msgs, 2, &n, 0), SHMLANE_OK);
    CHECK(n == 2 && msgs[0].len == 1 && msgs[1].len == 2 && msgs[1].msg_type == 2 &&
          memcmp(msgs[1].data, "bb", 2) == 0);
    CHECK_STATUS(shmlane_read_batch(c, msgs, 2, &n, 0), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_recv(c, b, sizeof b, &n, &ty, 0), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_read(c, &r, &n, &ty, 0), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_release(c), SHMLANE_OK);
    CHECK_STATUS(shmlane_read(c, &r, &n, &ty, 0), SHMLANE_OK);
    CHECK(n == 0 && ty == 3);
    CHECK_STATUS(shmlane_read_batch(c, msgs, 2, &n, 0), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_release(c), SHMLANE_OK);
    CHECK_STATUS(shmlane_send(p, "z", 1, 9, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_read_batch(c, msgs, 4, &n, 0), SHMLANE_OK); /* closed while held */
    shmlane_producer_close(p);
    shmlane_consumer_close(c);
    shmlane_channel_close(ch);
    shmlane_channel_close(ch2);

    /* Anonymous fixed SPSC ring: fd round trip, batches that wrap. */
    CHECK_STATUS(shmlane_fixed_anonymous(4, 4, 4, &f), SHMLANE_OK);
    if (!f) return;
    CHECK_STATUS(shmlane_fixed_fd(f, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_from_fd(fd, 8, &f2), SHMLANE_TYPE_MISMATCH);
    CHECK_STATUS(shmlane_fixed_from_fd(fd, 0, &f2), SHMLANE_OK);
    close(fd);
    CHECK_STATUS(shmlane_fixed_producer_attach(f, &fp), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_consumer_attach(f2, &fc), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_pop_batch(fc, out, sizeof out, &n, 0), SHMLANE_EMPTY);
    CHECK_STATUS(shmlane_fixed_push_batch(fp, v, 3, &n, 0), SHMLANE_OK);
    CHECK(n == 3);
    CHECK_STATUS(shmlane_fixed_pop_batch(fc, out, 2 * 4, &n, 0), SHMLANE_OK);
    CHECK(n == 2 && out[0] == 1 && out[1] == 2);
    CHECK_STATUS(shmlane_fixed_push_batch(fp, &v[3], 5, &n, 0), SHMLANE_OK);
    CHECK(n == 3); /* wraps around the end of the ring */
    CHECK_STATUS(shmlane_fixed_push_batch(fp, v, 1, &n, 0), SHMLANE_FULL);
    CHECK_STATUS(shmlane_fixed_push_batch(fp, v, 1, &n, 1000000), SHMLANE_TIMEOUT);
    CHECK_STATUS(shmlane_fixed_pop_batch(fc, out, sizeof out, &n, -1), SHMLANE_OK);
    CHECK(n == 4 && out[0] == 3 && out[3] == 6);
    shmlane_fixed_producer_close(fp);
    CHECK_STATUS(shmlane_fixed_pop_batch(fc, out, sizeof out, &n, -1), SHMLANE_DISCONNECTED);
    shmlane_fixed_consumer_close(fc);
    shmlane_fixed_close(f);
    shmlane_fixed_close(f2);
}

/* Every new call's bad arguments return a status. */
static void test_new_bad_arguments(void) {
    shmlane_mpmc *m = NULL;
    shmlane_mpmc_sender *tx = NULL;
    shmlane_mpmc_receiver *rx = NULL;
    shmlane_channel *ch = NULL;
    shmlane_consumer *c = NULL;
    shmlane_fixed *f = NULL;
    shmlane_fixed_producer *fp = NULL;
    shmlane_fixed_consumer *fc = NULL;
    shmlane_options opt;
    shmlane_msg msgs[2];
    shmlane_mpmc_stats st;
    uint64_t e[4] = {0};
    size_t n = 0;
    const void *r = NULL;
    void *w = NULL;
    int fd = -1;

    memset(&opt, 0, sizeof opt);
    CHECK_STATUS(shmlane_mpmc_create(NULL, 4, 8, 8, NULL, &m), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_create(names[5], 4, 8, 8, NULL, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_create("bad", 4, 8, 8, NULL, &m), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_mpmc_create(names[5], 3, 8, 8, NULL, &m), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_create(names[5], 1, 8, 8, NULL, &m), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_create(names[5], 4, 0, 8, NULL, &m), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_create(names[5], 4, 12, 8, NULL, &m), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_create(names[5], 4, 8, 3, NULL, &m), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_create(names[5], 4, 8, 0, NULL, &m), SHMLANE_INVALID_ARGUMENT);
    opt.kind = SHMLANE_KIND_BYTES;
    CHECK_STATUS(shmlane_mpmc_create(names[5], 4, 8, 8, &opt, &m), SHMLANE_INVALID_ARGUMENT);
    opt.kind = SHMLANE_KIND_MPMC;
    opt.max_message = 8;
    CHECK_STATUS(shmlane_mpmc_anonymous(4, 8, 8, &opt, &m), SHMLANE_INVALID_ARGUMENT);
    opt.max_message = 0;
    opt.endpoints = 100000;
    CHECK_STATUS(shmlane_mpmc_anonymous(4, 8, 8, &opt, &m), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_anonymous(4, 8, 8, NULL, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_anonymous(0, 8, 8, NULL, &m), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_open(NULL, 0, &m), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_open(names[5], 0, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_from_fd(-1, 0, &m), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_from_fd(12345, 0, &m), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_from_fd(0, 0, NULL), SHMLANE_NULL_POINTER);
    CHECK(m == NULL);
    CHECK_STATUS(shmlane_mpmc_fd(NULL, &fd), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_info(NULL, &n, &n), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_stats_get(NULL, &st), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_sender_attach(NULL, &tx), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_receiver_attach(NULL, &rx), SHMLANE_NULL_POINTER);
    shmlane_mpmc_close(NULL);
    shmlane_mpmc_sender_close(NULL);
    shmlane_mpmc_receiver_close(NULL);

    CHECK_STATUS(shmlane_mpmc_anonymous(4, 8, 8, NULL, &m), SHMLANE_OK);
    if (!m) return;
    CHECK_STATUS(shmlane_mpmc_fd(m, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_stats_get(m, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_sender_attach(m, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_sender_attach(m, &tx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_receiver_attach(m, &rx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_send(NULL, e, 8, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_send(tx, NULL, 8, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_send(tx, e, 0, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_send(tx, e, 4, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_send(tx, e, 16, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_send_batch(NULL, e, 1, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_send_batch(tx, NULL, 1, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_send_batch(tx, e, 1, NULL, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_send_batch(tx, e, 0, &n, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_send_batch(tx, e, SIZE_MAX, &n, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_claim(NULL, 0, &w), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_claim(tx, 0, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_commit(NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_abort(NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_send(tx, e, 8, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_recv(NULL, e, 8, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_recv(rx, NULL, 8, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_recv(rx, e, 8, NULL, 0), SHMLANE_NULL_POINTER);
    n = 0;
    CHECK_STATUS(shmlane_mpmc_recv(rx, e, 7, &n, 0), SHMLANE_BUFFER_TOO_SMALL);
    CHECK(n == 8);
    CHECK_STATUS(shmlane_mpmc_recv(rx, e, 0, &n, 0), SHMLANE_BUFFER_TOO_SMALL);
    CHECK_STATUS(shmlane_mpmc_recv_batch(NULL, e, 8, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_recv_batch(rx, NULL, 8, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_recv_batch(rx, e, 8, NULL, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_recv_batch(rx, e, 7, &n, 0), SHMLANE_BUFFER_TOO_SMALL);
    CHECK_STATUS(shmlane_mpmc_read(NULL, &r, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_read(rx, NULL, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_release(NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_mpmc_recv(rx, e, 8, &n, 0), SHMLANE_OK); /* still there */
    shmlane_mpmc_sender_close(tx);
    shmlane_mpmc_receiver_close(rx);
    shmlane_mpmc_close(m);

    /* Anonymous segments and fds of the other kinds. */
    CHECK_STATUS(shmlane_channel_anonymous(1024, NULL, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_channel_anonymous(1000, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.kind = 99;
    opt.endpoints = 0;
    CHECK_STATUS(shmlane_channel_anonymous(1024, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_channel_from_fd(-1, 0, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_channel_from_fd(0, 0, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_channel_from_fd(0, 99, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_channel_fd(NULL, &fd), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_anonymous(3, 8, 8, &f), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_fixed_anonymous(4, 12, 8, &f), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_fixed_anonymous(4, 8, 8, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_from_fd(-5, 0, &f), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_fixed_from_fd(0, 0, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_fd(NULL, &fd), SHMLANE_NULL_POINTER);
    CHECK(ch == NULL && f == NULL);

    /* Named segments have no fd. */
    CHECK_STATUS(shmlane_channel_create(names[5], 1024, NULL, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_channel_fd(ch, &fd), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_channel_fd(ch, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_consumer_attach(ch, &c), SHMLANE_OK);
    CHECK_STATUS(shmlane_read_batch(NULL, msgs, 2, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_read_batch(c, NULL, 2, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_read_batch(c, msgs, 2, NULL, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_read_batch(c, msgs, 0, &n, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_release(c), SHMLANE_WRONG_STATE);
    shmlane_consumer_close(c);
    shmlane_channel_close(ch);
    CHECK_STATUS(shmlane_unlink(names[5]), SHMLANE_OK);

    CHECK_STATUS(shmlane_fixed_anonymous(4, 8, 8, &f), SHMLANE_OK);
    if (!f) return;
    CHECK_STATUS(shmlane_fixed_fd(f, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_producer_attach(f, &fp), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_consumer_attach(f, &fc), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_push_batch(NULL, e, 1, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_push_batch(fp, NULL, 1, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_push_batch(fp, e, 1, NULL, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_push_batch(fp, e, 0, &n, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_fixed_push_batch(fp, e, SIZE_MAX / 4, &n, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_fixed_pop_batch(NULL, e, 8, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_pop_batch(fc, NULL, 8, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_pop_batch(fc, e, 8, NULL, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_fixed_pop_batch(fc, e, 7, &n, 0), SHMLANE_BUFFER_TOO_SMALL);
    {
        shmlane_wait wt;
        memset(&wt, 0, sizeof wt);
        CHECK_STATUS(shmlane_fixed_producer_set_wait(NULL, &wt), SHMLANE_NULL_POINTER);
        CHECK_STATUS(shmlane_fixed_producer_set_wait(fp, NULL), SHMLANE_OK);
        wt.strategy = 77;
        CHECK_STATUS(shmlane_fixed_producer_set_wait(fp, &wt), SHMLANE_INVALID_ARGUMENT);
        CHECK_STATUS(shmlane_fixed_consumer_set_wait(fc, &wt), SHMLANE_INVALID_ARGUMENT);
        wt.strategy = SHMLANE_WAIT_SPIN_THEN_PARK;
        wt.spin_ns = 1000;
        wt.check_interval_ns = 1000000;
        CHECK_STATUS(shmlane_fixed_consumer_set_wait(fc, &wt), SHMLANE_OK);
        CHECK_STATUS(shmlane_fixed_pop(fc, e, 8, &n, 2000000), SHMLANE_TIMEOUT);
        wt.strategy = SHMLANE_WAIT_PARK;
        CHECK_STATUS(shmlane_fixed_consumer_set_wait(NULL, &wt), SHMLANE_NULL_POINTER);
        CHECK_STATUS(shmlane_producer_set_wait(NULL, &wt), SHMLANE_NULL_POINTER);
        CHECK_STATUS(shmlane_consumer_set_wait(NULL, &wt), SHMLANE_NULL_POINTER);
        CHECK_STATUS(shmlane_mpmc_sender_set_wait(NULL, &wt), SHMLANE_NULL_POINTER);
        CHECK_STATUS(shmlane_mpmc_receiver_set_wait(NULL, &wt), SHMLANE_NULL_POINTER);
    }
    shmlane_fixed_producer_close(fp);
    shmlane_fixed_consumer_close(fc);
    shmlane_fixed_close(f);
}

/* Wait settings: every handle kind; refused while a claim or read is held. */
static void test_wait_settings(void) {
    shmlane_wait spin, park, bad;
    shmlane_channel *ch = NULL;
    shmlane_producer *p = NULL;
    shmlane_consumer *c = NULL;
    shmlane_mpmc *m = NULL;
    shmlane_mpmc_sender *tx = NULL;
    shmlane_mpmc_receiver *rx = NULL;
    shmlane_msg msgs[2];
    void *w = NULL;
    const void *r = NULL;
    size_t n = 0;
    uint64_t v = 5;
    memset(&spin, 0, sizeof spin);
    spin.strategy = SHMLANE_WAIT_SPIN;
    park = spin;
    park.strategy = SHMLANE_WAIT_PARK;
    bad = spin;
    bad.strategy = 4;
    CHECK_STATUS(shmlane_channel_anonymous(1024, NULL, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_producer_attach(ch, &p), SHMLANE_OK);
    CHECK_STATUS(shmlane_consumer_attach(ch, &c), SHMLANE_OK);
    CHECK_STATUS(shmlane_producer_set_wait(p, &spin), SHMLANE_OK);
    CHECK_STATUS(shmlane_producer_set_wait(p, &bad), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_consumer_set_wait(c, &park), SHMLANE_OK);
    CHECK_STATUS(shmlane_claim(p, 4, 0, &w), SHMLANE_OK);
    CHECK_STATUS(shmlane_producer_set_wait(p, &spin), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_commit(p, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_read_batch(c, msgs, 2, &n, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_consumer_set_wait(c, &spin), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_release(c), SHMLANE_OK);
    CHECK_STATUS(shmlane_consumer_set_wait(c, NULL), SHMLANE_OK);
    shmlane_producer_close(p);
    shmlane_consumer_close(c);
    shmlane_channel_close(ch);

    CHECK_STATUS(shmlane_mpmc_anonymous(4, 8, 8, NULL, &m), SHMLANE_OK);
    if (!m) return;
    CHECK_STATUS(shmlane_mpmc_sender_attach(m, &tx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_receiver_attach(m, &rx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_sender_set_wait(tx, &bad), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_mpmc_sender_set_wait(tx, &park), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_receiver_set_wait(rx, &spin), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_claim(tx, 0, &w), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_sender_set_wait(tx, &spin), SHMLANE_WRONG_STATE);
    if (w) memcpy(w, &v, 8);
    CHECK_STATUS(shmlane_mpmc_commit(tx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_read(rx, &r, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_receiver_set_wait(rx, &park), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_mpmc_release(rx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_recv(rx, &v, 8, &n, 1000000), SHMLANE_TIMEOUT); /* spins, bounded */
    shmlane_mpmc_sender_close(tx);
    shmlane_mpmc_receiver_close(rx);
    shmlane_mpmc_close(m);
}

/* Broadcast of fixed-size elements, Block: the whole API on a named channel. */
static void test_bcast_fixed(void) {
    shmlane_bcast *ch = NULL, *ch2 = NULL, *other = NULL;
    shmlane_bcast_publisher *p = NULL, *p2 = NULL;
    shmlane_bcast_subscriber *a = NULL, *b = NULL, *old = NULL, *extra = NULL;
    shmlane_bcast_options opt;
    shmlane_bcast_info info;
    shmlane_bcast_stats st;
    shmlane_bcast_subscriber_stats subs[4];
    shmlane_bcast_msg m, m2;
    shmlane_channel *bch = NULL;
    shmlane_fixed *fch = NULL;
    shmlane_wait w;
    uint64_t e[4 * 3], o[4], lost = 0;
    size_t n = 0, cnt = 0, k;
    uint32_t ty = 0;
    int i, fd = -1;

    memset(&opt, 0, sizeof opt);
    memset(&w, 0, sizeof w);
    opt.endpoints = 4;
    opt.stall_timeout_ns = 50 * MS;
    CHECK_STATUS(shmlane_bcast_create(names[6], 4, 32, 8, &opt, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_bcast_info_get(ch, &info), SHMLANE_OK);
    CHECK(info.kind == SHMLANE_KIND_BROADCAST && info.policy == SHMLANE_POLICY_BLOCK && info.capacity == 4);
    CHECK(info.elem_size == 32 && info.elem_align == 8 && info.max_message == 0);
    CHECK(info.endpoint_capacity == 4 && info.stall_timeout_ns == (uint64_t)(50 * MS));
    CHECK_STATUS(shmlane_bcast_fd(ch, &fd), SHMLANE_INVALID_ARGUMENT); /* named: no fd */
    CHECK_STATUS(shmlane_bcast_create(names[6], 4, 32, 8, NULL, &other), SHMLANE_ALREADY_EXISTS);
    CHECK_STATUS(shmlane_bcast_open(names[6], SHMLANE_KIND_BROADCAST_BYTES, 0, &other), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_bcast_open(names[6], 0, 16, &other), SHMLANE_TYPE_MISMATCH);
    CHECK_STATUS(shmlane_bcast_open(names[6], SHMLANE_KIND_BROADCAST, 8, &other), SHMLANE_TYPE_MISMATCH);
    CHECK_STATUS(shmlane_channel_open(names[6], 0, &bch), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_fixed_open(names[6], 0, &fch), SHMLANE_KIND_MISMATCH);
    CHECK(other == NULL && bch == NULL && fch == NULL);
    CHECK_STATUS(shmlane_bcast_open(names[6], SHMLANE_KIND_BROADCAST, 32, &ch2), SHMLANE_OK);
    if (!ch2) return;

    CHECK_STATUS(shmlane_bcast_publisher_attach(ch, &p), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_publisher_attach(ch2, &p2), SHMLANE_ENDPOINT_BUSY);
    CHECK_STATUS(shmlane_bcast_subscribe(ch2, SHMLANE_BCAST_FROM_NEWEST, &a), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_subscribe(ch, SHMLANE_BCAST_FROM_NEWEST, &b), SHMLANE_OK);
    if (!p || !a || !b) return;

    /* Empty, timeouts. */
    CHECK_STATUS(shmlane_bcast_recv(a, o, sizeof o, &n, &ty, &lost, 0), SHMLANE_EMPTY);
    CHECK_STATUS(shmlane_bcast_recv(a, o, sizeof o, &n, &ty, &lost, 1 * MS), SHMLANE_TIMEOUT);
    CHECK_STATUS(shmlane_bcast_read(a, &m, &lost, 1 * MS), SHMLANE_TIMEOUT);

    /* Block: four fit, then the slowest subscriber holds the publisher. */
    for (i = 0; i < 4; i++) {
        bcast_elem((uint64_t)i, e);
        CHECK_STATUS(shmlane_bcast_publish(p, e, 32, 0), SHMLANE_OK);
    }
    CHECK_STATUS(shmlane_bcast_publish(p, e, 32, 0), SHMLANE_FULL);
    CHECK_STATUS(shmlane_bcast_publish(p, e, 32, 1 * MS), SHMLANE_TIMEOUT);
    CHECK_STATUS(shmlane_bcast_publish(p, e, 16, 0), SHMLANE_INVALID_ARGUMENT); /* wrong element size */
    CHECK_STATUS(shmlane_bcast_send(p, "x", 1, 0, 0), SHMLANE_KIND_MISMATCH);   /* wrong kind */

    /* Copy: a buffer too small consumes nothing. */
    n = 0;
    CHECK_STATUS(shmlane_bcast_recv(a, o, 16, &n, &ty, &lost, 0), SHMLANE_BUFFER_TOO_SMALL);
    CHECK(n == 32);
    CHECK_STATUS(shmlane_bcast_recv(a, NULL, 0, &n, NULL, NULL, 0), SHMLANE_BUFFER_TOO_SMALL);
    ty = 99;
    CHECK_STATUS(shmlane_bcast_recv(a, o, sizeof o, &n, &ty, &lost, -1), SHMLANE_OK);
    bcast_elem(0, e);
    CHECK(n == 32 && ty == 0 && memcmp(o, e, 32) == 0);

    /* In place: held until released; a second read returns it again; a
     * recv copies and releases it. */
    CHECK_STATUS(shmlane_bcast_release(a), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_bcast_read(a, &m, &lost, 0), SHMLANE_OK);
    bcast_elem(1, e);
    CHECK(m.number == 1 && m.in_place == 1 && m.len == 32 && m.msg_type == 0);
    CHECK(memcmp(m.data, e, 32) == 0 && (uintptr_t)m.data % 8 == 0);
    CHECK_STATUS(shmlane_bcast_read(a, &m2, &lost, 0), SHMLANE_OK);
    CHECK(m2.data == m.data && m2.number == 1);
    CHECK_STATUS(shmlane_bcast_subscriber_set_wait(a, &w), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_bcast_recv(a, o, sizeof o, &n, &ty, &lost, 0), SHMLANE_OK);
    CHECK(n == 32 && memcmp(o, e, 32) == 0);
    CHECK_STATUS(shmlane_bcast_release(a), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_bcast_read(a, &m, &lost, 0), SHMLANE_OK);
    CHECK(m.number == 2);
    CHECK_STATUS(shmlane_bcast_release(a), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_subscriber_set_wait(a, &w), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_recv(a, o, sizeof o, &n, NULL, NULL, 0), SHMLANE_OK);
    CHECK(o[0] == 3);

    /* Counters: `b` has read nothing. */
    CHECK_STATUS(shmlane_bcast_stats_get(ch2, &st), SHMLANE_OK);
    CHECK(st.published == 4 && st.publisher_attached == 1 && st.subscribers == 2);
    CHECK(st.lost == 0 && st.evicted == 0 && st.max_lag == 4);
    CHECK_STATUS(shmlane_bcast_subscribers_get(ch, NULL, 0, &cnt), SHMLANE_OK);
    CHECK(cnt == 2);
    CHECK_STATUS(shmlane_bcast_subscribers_get(ch, subs, 1, &cnt), SHMLANE_OK);
    CHECK(cnt == 2);
    CHECK_STATUS(shmlane_bcast_subscribers_get(ch, subs, 4, &cnt), SHMLANE_OK);
    CHECK(cnt == 2);
    for (k = 0; k < cnt && k < 4; k++) {
        CHECK(subs[k].pid == (uint32_t)getpid() && subs[k].alive == 1 && subs[k].evicted == 0);
        CHECK(subs[k].lost == 0);
        CHECK((subs[k].position == 4 && subs[k].received == 4 && subs[k].lag == 0) ||
              (subs[k].position == 0 && subs[k].received == 0 && subs[k].lag == 4));
    }

    /* A subscriber from the oldest reads what is still in the ring (as
     * copies: it joined after them, so they are not held for it). */
    CHECK_STATUS(shmlane_bcast_subscribe(ch, SHMLANE_BCAST_FROM_OLDEST, &old), SHMLANE_OK);
    if (!old) return;
    for (i = 0; i < 4; i++) {
        CHECK_STATUS(shmlane_bcast_read(old, &m, NULL, 0), SHMLANE_OK);
        bcast_elem((uint64_t)i, e);
        CHECK(m.number == (uint64_t)i && m.in_place == 0 && memcmp(m.data, e, 32) == 0);
        CHECK_STATUS(shmlane_bcast_release(old), SHMLANE_OK);
    }
    CHECK_STATUS(shmlane_bcast_read(old, &m, NULL, 0), SHMLANE_EMPTY);
    CHECK_STATUS(shmlane_bcast_subscribe(ch, SHMLANE_BCAST_FROM_NEWEST, &extra),
                 SHMLANE_ENDPOINT_TABLE_FULL); /* 1 publisher + 3 subscribers */
    CHECK(extra == NULL);

    /* `b` leaves: the publisher is free; a batch takes what fits. */
    shmlane_bcast_subscriber_close(b);
    b = NULL;
    for (k = 0; k < 3; k++) bcast_elem(4 + k, &e[4 * k]);
    CHECK_STATUS(shmlane_bcast_publish_batch(p, e, 3, &n, 0), SHMLANE_OK);
    CHECK(n == 3);
    for (i = 4; i < 7; i++) {
        CHECK_STATUS(shmlane_bcast_recv(a, o, sizeof o, &n, NULL, &lost, 0), SHMLANE_OK);
        CHECK(o[0] == (uint64_t)i && o[1] == ~(uint64_t)i);
    }
    CHECK_STATUS(shmlane_bcast_read(old, &m, NULL, 0), SHMLANE_OK);
    CHECK(m.number == 4 && m.in_place == 1);
    CHECK_STATUS(shmlane_bcast_release(old), SHMLANE_OK);

    /* The publisher closes: the rest, then the end of the stream. */
    shmlane_bcast_publisher_close(p);
    CHECK_STATUS(shmlane_bcast_recv(a, o, sizeof o, &n, NULL, NULL, -1), SHMLANE_DISCONNECTED);
    CHECK_STATUS(shmlane_bcast_read(a, &m, NULL, 1 * MS), SHMLANE_DISCONNECTED);
    CHECK_STATUS(shmlane_bcast_recv(old, o, sizeof o, &n, NULL, NULL, -1), SHMLANE_OK);
    CHECK(o[0] == 5);
    CHECK_STATUS(shmlane_bcast_read(old, &m, NULL, 0), SHMLANE_OK);
    CHECK(m.number == 6);
    CHECK_STATUS(shmlane_bcast_release(old), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_recv(old, o, sizeof o, &n, NULL, NULL, 0), SHMLANE_DISCONNECTED);
    CHECK_STATUS(shmlane_bcast_stats_get(ch, &st), SHMLANE_OK);
    CHECK(st.published == 7 && st.publisher_attached == 0 && st.subscribers == 2);

    /* A new publisher continues the numbering. */
    CHECK_STATUS(shmlane_bcast_publisher_attach(ch2, &p), SHMLANE_OK);
    bcast_elem(7, e);
    CHECK_STATUS(shmlane_bcast_publish(p, e, 32, -1), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_read(a, &m, NULL, 0), SHMLANE_OK);
    CHECK(m.number == 7 && memcmp(m.data, e, 32) == 0);
    shmlane_bcast_subscriber_close(a); /* with a message held */
    shmlane_bcast_subscriber_close(old);
    shmlane_bcast_publisher_close(p);
    shmlane_bcast_close(ch2);
    shmlane_bcast_close(ch);
    CHECK_STATUS(shmlane_unlink(names[6]), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_open(names[6], 0, 0, &ch), SHMLANE_NOT_FOUND);
}

/* Overwrite on an anonymous channel shared by fd: SHMLANE_LAGGED with the
 * number missed, copies instead of references. */
static void test_bcast_overwrite_anon(void) {
    shmlane_bcast *ch = NULL, *ch2 = NULL, *other = NULL;
    shmlane_bcast_publisher *p = NULL;
    shmlane_bcast_subscriber *a = NULL;
    shmlane_bcast_options opt;
    shmlane_bcast_info info;
    shmlane_bcast_stats st;
    shmlane_bcast_subscriber_stats sub;
    shmlane_bcast_msg m;
    uint64_t v[10], o = 0, lost = 0;
    size_t n = 0, cnt = 0;
    int i, fd = -1;

    memset(&opt, 0, sizeof opt);
    opt.policy = SHMLANE_POLICY_OVERWRITE;
    CHECK_STATUS(shmlane_bcast_anonymous(4, 8, 8, &opt, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_bcast_fd(ch, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_from_fd(fd, SHMLANE_KIND_BROADCAST_BYTES, 0, &other), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_bcast_from_fd(fd, 0, 4, &other), SHMLANE_TYPE_MISMATCH);
    CHECK_STATUS(shmlane_bcast_from_fd(fd, SHMLANE_KIND_BROADCAST, 8, &ch2), SHMLANE_OK);
    close(fd); /* the library keeps its own */
    if (!ch2) return;
    CHECK_STATUS(shmlane_bcast_info_get(ch2, &info), SHMLANE_OK);
    CHECK(info.policy == SHMLANE_POLICY_OVERWRITE && info.capacity == 4 && info.elem_size == 8);
    CHECK(info.endpoint_capacity == 64);
    CHECK_STATUS(shmlane_bcast_publisher_attach(ch, &p), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_subscribe(ch2, SHMLANE_BCAST_FROM_NEWEST, &a), SHMLANE_OK);
    if (!p || !a) return;
    for (i = 0; i < 10; i++) {
        v[i] = (uint64_t)i;
        CHECK_STATUS(shmlane_bcast_publish(p, &v[i], 8, 0), SHMLANE_OK); /* never full */
    }
    CHECK_STATUS(shmlane_bcast_recv(a, &o, 8, &n, NULL, &lost, 0), SHMLANE_LAGGED);
    CHECK(lost == 6);
    lost = 12345; /* written only with SHMLANE_LAGGED */
    CHECK_STATUS(shmlane_bcast_recv(a, &o, 8, &n, NULL, &lost, 0), SHMLANE_OK);
    CHECK(o == 6 && n == 8 && lost == 12345);
    CHECK_STATUS(shmlane_bcast_read(a, &m, &lost, 0), SHMLANE_OK);
    CHECK(m.number == 7 && m.in_place == 0 && m.len == 8 && *(const uint64_t *)m.data == 7);
    CHECK_STATUS(shmlane_bcast_release(a), SHMLANE_OK);
    /* Another lap; a NULL `lost` is allowed. */
    for (i = 0; i < 10; i++) CHECK_STATUS(shmlane_bcast_publish(p, &v[i], 8, -1), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_recv(a, &o, 8, &n, NULL, NULL, -1), SHMLANE_LAGGED);
    lost = 0;
    CHECK_STATUS(shmlane_bcast_publish_batch(p, v, 10, &n, 0), SHMLANE_OK);
    CHECK(n == 4); /* at most a ring's worth per call */
    CHECK_STATUS(shmlane_bcast_read(a, &m, &lost, 1 * MS), SHMLANE_LAGGED);
    CHECK(lost == 4);
    for (i = 0; i < 4; i++) {
        CHECK_STATUS(shmlane_bcast_read(a, &m, &lost, 0), SHMLANE_OK);
        CHECK(m.number == (uint64_t)(20 + i) && *(const uint64_t *)m.data == (uint64_t)i);
        CHECK_STATUS(shmlane_bcast_release(a), SHMLANE_OK);
    }
    CHECK_STATUS(shmlane_bcast_read(a, &m, &lost, 0), SHMLANE_EMPTY);
    CHECK_STATUS(shmlane_bcast_stats_get(ch, &st), SHMLANE_OK);
    CHECK(st.published == 24 && st.lost == 6 + 8 + 4 && st.max_lag == 0);
    CHECK_STATUS(shmlane_bcast_subscribers_get(ch, &sub, 1, &cnt), SHMLANE_OK);
    CHECK(cnt == 1 && sub.lost == 18 && sub.received == 6 && sub.position == 24 && sub.lag == 0);
    shmlane_bcast_publisher_close(p);
    CHECK_STATUS(shmlane_bcast_read(a, &m, &lost, -1), SHMLANE_DISCONNECTED);
    shmlane_bcast_subscriber_close(a);
    shmlane_bcast_close(ch);
    shmlane_bcast_close(ch2);
}

/* Broadcast of byte messages: type words, sizes, in place. */
static void test_bcast_bytes(void) {
    shmlane_bcast *ch = NULL, *ch2 = NULL, *other = NULL;
    shmlane_bcast_publisher *p = NULL;
    shmlane_bcast_subscriber *a = NULL;
    shmlane_bcast_options opt;
    shmlane_bcast_info info;
    shmlane_bcast_msg m;
    char big[101], buf[64];
    uint64_t e[4] = {0};
    size_t n = 0;
    uint32_t ty = 0;
    int fd = -1;

    memset(&opt, 0, sizeof opt);
    opt.max_message = 100;
    CHECK_STATUS(shmlane_bcast_bytes_create(names[7], 1024, &opt, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_bcast_info_get(ch, &info), SHMLANE_OK);
    CHECK(info.kind == SHMLANE_KIND_BROADCAST_BYTES && info.capacity == 1024 && info.max_message == 100);
    CHECK(info.elem_size == 0 && info.policy == SHMLANE_POLICY_BLOCK);
    CHECK_STATUS(shmlane_bcast_open(names[7], SHMLANE_KIND_BROADCAST, 0, &other), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_bcast_open(names[7], 0, 8, &other), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_bcast_open(names[7], SHMLANE_KIND_BROADCAST_BYTES, 8, &other), SHMLANE_INVALID_ARGUMENT);
    CHECK(other == NULL);
    CHECK_STATUS(shmlane_bcast_open(names[7], 0, 0, &ch2), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_fd(ch2, &fd), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_publisher_attach(ch, &p), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_subscribe(ch2, SHMLANE_BCAST_FROM_NEWEST, &a), SHMLANE_OK);
    if (!p || !a) return;
    CHECK_STATUS(shmlane_bcast_publish(p, e, 32, 0), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_bcast_publish_batch(p, e, 1, &n, 0), SHMLANE_KIND_MISMATCH);
    memset(big, 'x', sizeof big);
    CHECK_STATUS(shmlane_bcast_send(p, big, 101, 0, 0), SHMLANE_TOO_LARGE);
    CHECK_STATUS(shmlane_bcast_send(p, big, 1, SHMLANE_PADDING_TYPE, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_send(p, "hello", 5, 7, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_send(p, NULL, 0, 8, -1), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_send(p, big, 100, 9, 1 * MS), SHMLANE_OK);
    /* Too small a buffer: the message stays. */
    n = 0;
    CHECK_STATUS(shmlane_bcast_recv(a, buf, 2, &n, &ty, NULL, 0), SHMLANE_BUFFER_TOO_SMALL);
    CHECK(n == 5);
    CHECK_STATUS(shmlane_bcast_recv(a, NULL, 0, &n, &ty, NULL, 0), SHMLANE_BUFFER_TOO_SMALL);
    CHECK(n == 5);
    CHECK_STATUS(shmlane_bcast_recv(a, buf, sizeof buf, &n, &ty, NULL, 0), SHMLANE_OK);
    CHECK(n == 5 && ty == 7 && memcmp(buf, "hello", 5) == 0);
    CHECK_STATUS(shmlane_bcast_recv(a, NULL, 0, &n, &ty, NULL, 0), SHMLANE_OK);
    CHECK(n == 0 && ty == 8);
    CHECK_STATUS(shmlane_bcast_read(a, &m, NULL, 0), SHMLANE_OK);
    CHECK(m.len == 100 && m.msg_type == 9 && m.number == 2 && m.in_place == 1 && ((const char *)m.data)[99] == 'x');
    CHECK_STATUS(shmlane_bcast_recv(a, buf, sizeof buf, &n, &ty, NULL, 0), SHMLANE_BUFFER_TOO_SMALL);
    CHECK(n == 100);
    CHECK_STATUS(shmlane_bcast_release(a), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_recv(a, buf, sizeof buf, &n, &ty, NULL, 0), SHMLANE_EMPTY);
    shmlane_bcast_publisher_close(p);
    CHECK_STATUS(shmlane_bcast_recv(a, buf, sizeof buf, &n, &ty, NULL, 0), SHMLANE_DISCONNECTED);
    shmlane_bcast_subscriber_close(a);
    shmlane_bcast_close(ch2);
    shmlane_bcast_close(ch);
    CHECK_STATUS(shmlane_unlink(names[7]), SHMLANE_OK);

    /* Anonymous, Overwrite, from the oldest. */
    opt.policy = SHMLANE_POLICY_OVERWRITE;
    opt.max_message = 113; /* more than 256 / 2 - 16 */
    CHECK_STATUS(shmlane_bcast_bytes_anonymous(256, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.max_message = 0;
    CHECK_STATUS(shmlane_bcast_bytes_anonymous(256, &opt, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_bcast_fd(ch, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_from_fd(fd, SHMLANE_KIND_BROADCAST, 0, &other), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_bcast_from_fd(fd, 0, 0, &ch2), SHMLANE_OK);
    close(fd);
    CHECK_STATUS(shmlane_bcast_info_get(ch2, &info), SHMLANE_OK);
    CHECK(info.kind == SHMLANE_KIND_BROADCAST_BYTES && info.max_message == 112 && info.policy == SHMLANE_POLICY_OVERWRITE);
    CHECK_STATUS(shmlane_bcast_publisher_attach(ch, &p), SHMLANE_OK);
    if (!p) return;
    CHECK_STATUS(shmlane_bcast_send(p, "one", 3, 1, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_subscribe(ch2, SHMLANE_BCAST_FROM_OLDEST, &a), SHMLANE_OK);
    if (!a) return;
    CHECK_STATUS(shmlane_bcast_read(a, &m, NULL, 0), SHMLANE_OK);
    CHECK(m.len == 3 && m.msg_type == 1 && m.in_place == 0 && memcmp(m.data, "one", 3) == 0);
    CHECK_STATUS(shmlane_bcast_release(a), SHMLANE_OK);
    shmlane_bcast_publisher_close(p);
    shmlane_bcast_subscriber_close(a);
    shmlane_bcast_close(ch);
    shmlane_bcast_close(ch2);
}

/* Every broadcast call's bad arguments return a status. */
static void test_bcast_bad_arguments(void) {
    shmlane_bcast *ch = NULL, *other = NULL;
    shmlane_bcast_publisher *p = NULL;
    shmlane_bcast_subscriber *s = NULL;
    shmlane_bcast_options opt;
    shmlane_bcast_info info;
    shmlane_bcast_stats st;
    shmlane_bcast_subscriber_stats subs[2];
    shmlane_bcast_msg m;
    shmlane_wait w;
    uint64_t e[4] = {0}, lost = 0;
    size_t n = 0, cnt = 0;
    uint32_t ty = 0;
    int fd = -1;

    memset(&opt, 0, sizeof opt);
    memset(&w, 0, sizeof w);
    /* NULL pointers, bad names. */
    CHECK_STATUS(shmlane_bcast_create(NULL, 4, 8, 8, NULL, &ch), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_create(names[6], 4, 8, 8, NULL, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_create("bad", 4, 8, 8, NULL, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_bcast_create("/a/b", 4, 8, 8, NULL, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_bcast_create("", 4, 8, 8, NULL, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_bcast_create("/\xff", 4, 8, 8, NULL, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_bcast_bytes_create(NULL, 1024, NULL, &ch), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_bytes_create(names[6], 1024, NULL, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_bytes_create("no-slash", 1024, NULL, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_bcast_anonymous(4, 8, 8, NULL, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_bytes_anonymous(1024, NULL, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_open(NULL, 0, 0, &ch), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_open(names[6], 0, 0, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_open("bad", 0, 0, &ch), SHMLANE_INVALID_NAME);
    CHECK_STATUS(shmlane_bcast_open(names[6], 0, 0, &ch), SHMLANE_NOT_FOUND);
    CHECK_STATUS(shmlane_bcast_from_fd(0, 0, 0, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_fd(NULL, &fd), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_info_get(NULL, &info), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_stats_get(NULL, &st), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_subscribers_get(NULL, subs, 2, &cnt), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_publisher_attach(NULL, &p), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_subscribe(NULL, 0, &s), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_publish(NULL, e, 8, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_publish_batch(NULL, e, 1, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_send(NULL, "x", 1, 0, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_recv(NULL, e, 8, &n, &ty, &lost, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_read(NULL, &m, &lost, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_release(NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_publisher_set_wait(NULL, &w), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_subscriber_set_wait(NULL, &w), SHMLANE_NULL_POINTER);
    shmlane_bcast_close(NULL);
    shmlane_bcast_publisher_close(NULL);
    shmlane_bcast_subscriber_close(NULL);

    /* Out-of-range arguments. */
    CHECK_STATUS(shmlane_bcast_create(names[6], 0, 8, 8, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_create(names[6], 1, 8, 8, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_create(names[6], 3, 8, 8, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_create(names[6], 4, 0, 8, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_create(names[6], 4, 12, 8, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_create(names[6], 4, 8, 3, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_create(names[6], 4, 8, 0, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_anonymous(4, 256, 256, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.policy = 3;
    CHECK_STATUS(shmlane_bcast_create(names[6], 4, 8, 8, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_bytes_anonymous(1024, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.policy = 0;
    opt.max_message = 8; /* fixed-size elements have no max_message */
    CHECK_STATUS(shmlane_bcast_anonymous(4, 8, 8, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.max_message = 0;
    opt.endpoints = 1; /* a publisher and no subscriber */
    CHECK_STATUS(shmlane_bcast_anonymous(4, 8, 8, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_bytes_create(names[6], 1024, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.endpoints = 0;
    CHECK_STATUS(shmlane_bcast_bytes_create(names[6], 0, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_bytes_create(names[6], 32, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_bytes_anonymous(1000, NULL, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.max_message = 1024;
    CHECK_STATUS(shmlane_bcast_bytes_anonymous(1024, &opt, &ch), SHMLANE_INVALID_ARGUMENT);
    opt.max_message = 0;
    CHECK_STATUS(shmlane_bcast_open(names[6], 99, 0, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_from_fd(-1, 0, 0, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_from_fd(12345, 0, 0, &ch), SHMLANE_INVALID_ARGUMENT);
    CHECK(ch == NULL); /* out-parameters untouched on failure */

    /* Handle-level bad arguments on a live channel. */
    CHECK_STATUS(shmlane_bcast_anonymous(4, 8, 8, NULL, &ch), SHMLANE_OK);
    if (!ch) return;
    CHECK_STATUS(shmlane_bcast_fd(ch, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_from_fd(fd, 99, 0, &other), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_from_fd(fd, SHMLANE_KIND_BROADCAST_BYTES, 8, &other), SHMLANE_INVALID_ARGUMENT);
    CHECK(other == NULL);
    close(fd);
    CHECK_STATUS(shmlane_bcast_fd(ch, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_info_get(ch, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_stats_get(ch, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_subscribers_get(ch, subs, 2, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_subscribers_get(ch, NULL, 2, &cnt), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_publisher_attach(ch, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_subscribe(ch, SHMLANE_BCAST_FROM_NEWEST, NULL), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_subscribe(ch, 2, &s), SHMLANE_INVALID_ARGUMENT);
    CHECK(s == NULL);
    CHECK_STATUS(shmlane_bcast_publisher_attach(ch, &p), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_subscribe(ch, SHMLANE_BCAST_FROM_NEWEST, &s), SHMLANE_OK);
    if (!p || !s) return;
    CHECK_STATUS(shmlane_bcast_publish(p, NULL, 8, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_publish(p, e, 0, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_publish(p, e, 4, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_publish(p, e, 16, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_publish_batch(p, NULL, 1, &n, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_publish_batch(p, e, 1, NULL, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_publish_batch(p, e, 0, &n, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_publish_batch(p, e, SIZE_MAX, &n, 0), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_send(p, NULL, 1, 0, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_publisher_set_wait(p, NULL), SHMLANE_OK);
    w.strategy = 42;
    CHECK_STATUS(shmlane_bcast_publisher_set_wait(p, &w), SHMLANE_INVALID_ARGUMENT);
    CHECK_STATUS(shmlane_bcast_subscriber_set_wait(s, &w), SHMLANE_INVALID_ARGUMENT);
    w.strategy = SHMLANE_WAIT_SPIN;
    CHECK_STATUS(shmlane_bcast_subscriber_set_wait(s, &w), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_recv(s, e, 8, &n, &ty, &lost, 1 * MS), SHMLANE_TIMEOUT); /* spins, bounded */
    CHECK_STATUS(shmlane_bcast_publish(p, e, 8, 0), SHMLANE_OK);
    CHECK_STATUS(shmlane_bcast_recv(s, NULL, 8, &n, &ty, &lost, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_recv(s, e, 8, NULL, &ty, &lost, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_recv(s, e, 7, &n, &ty, &lost, 0), SHMLANE_BUFFER_TOO_SMALL);
    CHECK_STATUS(shmlane_bcast_read(s, NULL, &lost, 0), SHMLANE_NULL_POINTER);
    CHECK_STATUS(shmlane_bcast_release(s), SHMLANE_WRONG_STATE);
    CHECK_STATUS(shmlane_bcast_recv(s, e, 8, &n, NULL, NULL, 0), SHMLANE_OK); /* still there */
    shmlane_bcast_publisher_close(p);
    shmlane_bcast_subscriber_close(s);
    shmlane_bcast_close(ch);
}

int main(int argc, char **argv) {
    int i;
    if (argc < 2) {
        fprintf(stderr, "usage: unit NAME_PREFIX\n");
        return 2;
    }
    for (i = 0; i < 8; i++) snprintf(names[i], sizeof names[i], "%s-%d", argv[1], i);
    for (i = 0; i < 8; i++) shmlane_unlink(names[i]);
    test_version();
    test_bytes_api();
    test_mpsc_mpmc();
    test_fixed();
    test_bad_arguments();
    test_mpmc_anon_batches();
    test_new_bad_arguments();
    test_wait_settings();
    test_bcast_fixed();
    test_bcast_overwrite_anon();
    test_bcast_bytes();
    test_bcast_bad_arguments();
    for (i = 0; i < 8; i++) shmlane_unlink(names[i]);
    if (failures) {
        fprintf(stderr, "unit: %d check(s) failed\n", failures);
        return 1;
    }
    printf("unit: all checks passed\n");
    return 0;
}
