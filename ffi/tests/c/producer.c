/* C producer into a ring created by a Rust consumer (src/bin/peer.rs).
 *
 *   producer NAME COUNT ID          byte ring: alternate shmlane_send and
 *                                   shmlane_claim/shmlane_commit
 *   producer NAME COUNT fixed       fixed-size SPSC ring of 16-byte
 *                                   elements: push (seq, ~seq)
 *
 * Opens NAME (retrying while the Rust side has not created it yet), sends
 * COUNT messages, closes. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#include "common.h"

#define SECOND 1000000000LL

static void nap(void) {
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
}

static int run_fixed(const char *name, uint32_t count) {
    shmlane_fixed *ch = NULL;
    shmlane_fixed_producer *p = NULL;
    shmlane_status s;
    uint64_t i, e[2];
    int tries = 0;
    size_t esz = 0;
    while ((s = shmlane_fixed_open(name, 16, &ch)) == SHMLANE_NOT_FOUND && tries++ < 2000) nap();
    CHECK_STATUS(s, SHMLANE_OK);
    if (!ch) return 1;
    CHECK_STATUS(shmlane_fixed_info(ch, &esz, NULL), SHMLANE_OK);
    CHECK(esz == 16);
    CHECK_STATUS(shmlane_fixed_producer_attach(ch, &p), SHMLANE_OK);
    shmlane_fixed_close(ch);
    for (i = 0; p && i < count; i++) {
        e[0] = i;
        e[1] = ~i;
        CHECK_STATUS(shmlane_fixed_push(p, e, sizeof e, 20 * SECOND), SHMLANE_OK);
    }
    shmlane_fixed_producer_close(p);
    return 0;
}

int main(int argc, char **argv) {
    shmlane_channel *ch = NULL;
    shmlane_producer *p = NULL;
    unsigned char buf[MSG_MAX];
    uint32_t count, id, seq;
    shmlane_status s;
    int tries = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: producer NAME COUNT ID|fixed\n");
        return 2;
    }
    count = (uint32_t)strtoul(argv[2], NULL, 10);
    if (strcmp(argv[3], "fixed") == 0) {
        run_fixed(argv[1], count);
    } else {
        id = (uint32_t)strtoul(argv[3], NULL, 10);
        while ((s = shmlane_channel_open(argv[1], 0, &ch)) == SHMLANE_NOT_FOUND && tries++ < 2000) nap();
        CHECK_STATUS(s, SHMLANE_OK);
        if (!ch) return 1;
        CHECK_STATUS(shmlane_producer_attach(ch, &p), SHMLANE_OK);
        shmlane_channel_close(ch); /* the producer keeps the mapping */
        for (seq = 0; p && seq < count && !failures; seq++) {
            size_t n = msg_fill(id, seq, buf);
            if (seq % 2 == 0) {
                CHECK_STATUS(shmlane_send(p, buf, n, msg_type_of(seq), 20 * SECOND), SHMLANE_OK);
            } else {
                void *w = NULL;
                CHECK_STATUS(shmlane_claim(p, n, -1, &w), SHMLANE_OK);
                if (w) {
                    memcpy(w, buf, n);
                    CHECK_STATUS(shmlane_commit(p, msg_type_of(seq)), SHMLANE_OK);
                }
            }
        }
        shmlane_producer_close(p);
    }
    if (failures) {
        fprintf(stderr, "producer: %d check(s) failed\n", failures);
        return 1;
    }
    printf("producer: sent %u messages\n", count);
    return 0;
}
