/*
 * The producer and consumer loops of the c-abi-* benchmark transports:
 * plain C99 calling the shmlane C ABI (ffi/include/shmlane.h), compiled by
 * benches/build.rs with the `cc` crate and linked into shmlane-bench.
 *
 * They mirror the Rust loops of the shmlane-spsc / shmlane-mpmc /
 * shmlane-bytes throughput rows: one message per call, the sequence number
 * as the u64 element (or in the first 8 bytes of a byte message), END
 * (UINT64_MAX) last. The clock stays on the Rust side: the producer asks
 * `stop(ctx, seq)` and the consumer calls `tick(ctx, seq)` only for
 * sequence numbers with `(seq & mask) == 0`, as the Rust meters do; the
 * consumer checks the order itself. Every handle spins while it waits
 * (SHMLANE_WAIT_SPIN), as the Rust rows do (WaitStrategy::Spin).
 *
 * Return values: 0 at the end of the stream, a shmlane_status from a failed
 * call, or -1 when a message arrived out of order (`*got` is what arrived,
 * `*count` how many arrived in order before it).
 */
#include <stdint.h>
#include <string.h>

#include "shmlane.h"

#define BENCH_END UINT64_MAX

static const shmlane_wait spin = {SHMLANE_WAIT_SPIN, 0, 0};

typedef int (*bench_stop_fn)(void *ctx, uint64_t seq);
typedef void (*bench_tick_fn)(void *ctx, uint64_t seq);

int shmlane_bench_produce_fixed(shmlane_fixed_producer *tx, uint64_t mask, bench_stop_fn stop, void *ctx);
int shmlane_bench_consume_fixed(shmlane_fixed_consumer *rx, uint64_t mask, bench_tick_fn tick, void *ctx,
                                uint64_t *count, uint64_t *got);
int shmlane_bench_produce_mpmc(shmlane_mpmc_sender *tx, uint64_t mask, bench_stop_fn stop, void *ctx);
int shmlane_bench_consume_mpmc(shmlane_mpmc_receiver *rx, uint64_t mask, bench_tick_fn tick, void *ctx,
                               uint64_t *count, uint64_t *got);
int shmlane_bench_produce_bytes(shmlane_producer *tx, size_t size, uint64_t mask, bench_stop_fn stop, void *ctx);
int shmlane_bench_consume_bytes(shmlane_consumer *rx, size_t size, uint64_t mask, bench_tick_fn tick, void *ctx,
                                uint64_t *count, uint64_t *got);

int shmlane_bench_produce_fixed(shmlane_fixed_producer *tx, uint64_t mask, bench_stop_fn stop, void *ctx) {
    uint64_t seq = 0;
    if (shmlane_fixed_producer_set_wait(tx, &spin) != SHMLANE_OK) return (int)SHMLANE_INVALID_ARGUMENT;
    for (;;) {
        int last = (seq & mask) == 0 && stop(ctx, seq);
        uint64_t v = last ? BENCH_END : seq;
        enum shmlane_status s = shmlane_fixed_push(tx, &v, sizeof v, -1);
        if (s != SHMLANE_OK) return (int)s;
        if (last) return 0;
        seq++;
    }
}

int shmlane_bench_consume_fixed(shmlane_fixed_consumer *rx, uint64_t mask, bench_tick_fn tick, void *ctx,
                                uint64_t *count, uint64_t *got) {
    uint64_t expected = 0, v = 0;
    size_t len = 0;
    if (shmlane_fixed_consumer_set_wait(rx, &spin) != SHMLANE_OK) return (int)SHMLANE_INVALID_ARGUMENT;
    for (;;) {
        enum shmlane_status s = shmlane_fixed_pop(rx, &v, sizeof v, &len, -1);
        if (s != SHMLANE_OK) return (int)s;
        if (v != expected) break;
        if ((v & mask) == 0) tick(ctx, v);
        expected++;
    }
    *count = expected;
    *got = v;
    return v == BENCH_END ? 0 : -1;
}

int shmlane_bench_produce_mpmc(shmlane_mpmc_sender *tx, uint64_t mask, bench_stop_fn stop, void *ctx) {
    uint64_t seq = 0;
    if (shmlane_mpmc_sender_set_wait(tx, &spin) != SHMLANE_OK) return (int)SHMLANE_INVALID_ARGUMENT;
    for (;;) {
        int last = (seq & mask) == 0 && stop(ctx, seq);
        uint64_t v = last ? BENCH_END : seq;
        enum shmlane_status s = shmlane_mpmc_send(tx, &v, sizeof v, -1);
        if (s != SHMLANE_OK) return (int)s;
        if (last) return 0;
        seq++;
    }
}

int shmlane_bench_consume_mpmc(shmlane_mpmc_receiver *rx, uint64_t mask, bench_tick_fn tick, void *ctx,
                               uint64_t *count, uint64_t *got) {
    uint64_t expected = 0, v = 0;
    size_t len = 0;
    if (shmlane_mpmc_receiver_set_wait(rx, &spin) != SHMLANE_OK) return (int)SHMLANE_INVALID_ARGUMENT;
    for (;;) {
        enum shmlane_status s = shmlane_mpmc_recv(rx, &v, sizeof v, &len, -1);
        if (s != SHMLANE_OK) return (int)s;
        if (v != expected) break;
        if ((v & mask) == 0) tick(ctx, v);
        expected++;
    }
    *count = expected;
    *got = v;
    return v == BENCH_END ? 0 : -1;
}

#define BENCH_MAX_MSG 4096

int shmlane_bench_produce_bytes(shmlane_producer *tx, size_t size, uint64_t mask, bench_stop_fn stop, void *ctx) {
    unsigned char buf[BENCH_MAX_MSG];
    uint64_t seq = 0;
    if (shmlane_producer_set_wait(tx, &spin) != SHMLANE_OK) return (int)SHMLANE_INVALID_ARGUMENT;
    if (size < 8 || size > BENCH_MAX_MSG) return (int)SHMLANE_INVALID_ARGUMENT;
    memset(buf, 0xa5, size);
    for (;;) {
        int last = (seq & mask) == 0 && stop(ctx, seq);
        uint64_t v = last ? BENCH_END : seq;
        enum shmlane_status s;
        memcpy(buf, &v, sizeof v);
        s = shmlane_send(tx, buf, size, 0, -1);
        if (s != SHMLANE_OK) return (int)s;
        if (last) return 0;
        seq++;
    }
}

int shmlane_bench_consume_bytes(shmlane_consumer *rx, size_t size, uint64_t mask, bench_tick_fn tick, void *ctx,
                                uint64_t *count, uint64_t *got) {
    unsigned char buf[BENCH_MAX_MSG];
    uint64_t expected = 0, v = 0;
    size_t len = 0;
    if (shmlane_consumer_set_wait(rx, &spin) != SHMLANE_OK) return (int)SHMLANE_INVALID_ARGUMENT;
    if (size < 8 || size > BENCH_MAX_MSG) return (int)SHMLANE_INVALID_ARGUMENT;
    for (;;) {
        enum shmlane_status s = shmlane_recv(rx, buf, sizeof buf, &len, NULL, -1);
        if (s != SHMLANE_OK) return (int)s;
        if (len != size) return -1;
        memcpy(&v, buf, sizeof v);
        if (v != expected) break;
        if ((v & mask) == 0) tick(ctx, v);
        expected++;
    }
    *count = expected;
    *got = v;
    return v == BENCH_END ? 0 : -1;
}
