/* One-process tests of the C ABI: the whole API on named segments, and
 * every bad argument returning its status instead of crashing. Run under
 * valgrind by tests/run.sh.
 *
 *   unit NAME_PREFIX        (e.g. /shmlane-c-unit-1234) */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>
#include "common.h"

#define MS 1000000LL

static char names[6][128];

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

int main(int argc, char **argv) {
    int i;
    if (argc < 2) {
        fprintf(stderr, "usage: unit NAME_PREFIX\n");
        return 2;
    }
    for (i = 0; i < 6; i++) snprintf(names[i], sizeof names[i], "%s-%d", argv[1], i);
    for (i = 0; i < 6; i++) shmlane_unlink(names[i]);
    test_version();
    test_bytes_api();
    test_mpsc_mpmc();
    test_fixed();
    test_bad_arguments();
    test_mpmc_anon_batches();
    test_new_bad_arguments();
    test_wait_settings();
    for (i = 0; i < 6; i++) shmlane_unlink(names[i]);
    if (failures) {
        fprintf(stderr, "unit: %d check(s) failed\n", failures);
        return 1;
    }
    printf("unit: all checks passed\n");
    return 0;
}
