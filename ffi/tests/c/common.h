/* Shared by the C test programs: the message pattern (same as
 * src/bin/peer.rs) and a checking macro. */
#ifndef SHMLANE_TEST_COMMON_H
#define SHMLANE_TEST_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shmlane.h"

static int failures = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__,   \
                    __LINE__, #cond, shmlane_last_error_message());                   \
            failures++;                                                               \
        }                                                                             \
    } while (0)

#define CHECK_STATUS(expr, want)                                                      \
    do {                                                                              \
        shmlane_status got_ = (expr);                                                 \
        if (got_ != (want)) {                                                         \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s (last error: %s)\n", \
                    __FILE__, __LINE__, #expr, (int)got_, shmlane_strerror((int)got_), \
                    #want, shmlane_last_error_message());                             \
            failures++;                                                               \
        }                                                                             \
    } while (0)

#define MSG_MAX 320

static inline size_t msg_len(uint32_t id, uint32_t seq) {
    return 8 + (((size_t)seq * 37 + (size_t)id * 11) % 300);
}

static inline uint32_t msg_type_of(uint32_t seq) { return seq ^ 0x5A5A0000u; }

static inline size_t msg_fill(uint32_t id, uint32_t seq, unsigned char *out) {
    size_t n = msg_len(id, seq), k;
    for (k = 0; k < 4; k++) {
        out[k] = (unsigned char)(id >> (8 * k));
        out[4 + k] = (unsigned char)(seq >> (8 * k));
    }
    for (k = 8; k < n; k++) {
        out[k] = (unsigned char)((size_t)(seq * 31u) + k * 7 + (size_t)id * 13);
    }
    return n;
}

static inline uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Checks one received message against the pattern; updates next[id]. */
static inline int msg_check(const unsigned char *m, size_t n, uint32_t ty, uint32_t *next, uint32_t nprod) {
    unsigned char want[MSG_MAX];
    uint32_t id, seq;
    if (n < 8) {
        fprintf(stderr, "message of %zu bytes\n", n);
        return 0;
    }
    id = le32(m);
    seq = le32(m + 4);
    if (id >= nprod) {
        fprintf(stderr, "unknown producer id %u\n", id);
        return 0;
    }
    if (seq != next[id]) {
        fprintf(stderr, "producer %u: seq %u, expected %u\n", id, seq, next[id]);
        return 0;
    }
    if (n != msg_fill(id, seq, want) || memcmp(m, want, n) != 0 || ty != msg_type_of(seq)) {
        fprintf(stderr, "producer %u seq %u: contents differ\n", id, seq);
        return 0;
    }
    next[id]++;
    return 1;
}

/* Element `seq` of the broadcast tests (32 bytes; the Rust peer's
 * bcast_elem, received there as [u64; 4]). */
static inline void bcast_elem(uint64_t seq, uint64_t out[4]) {
    out[0] = seq;
    out[1] = ~seq;
    out[2] = seq * 0x9E3779B97F4A7C15ULL;
    out[3] = seq ^ 0xA5A5A5A5A5A5A5A5ULL;
}

#endif
