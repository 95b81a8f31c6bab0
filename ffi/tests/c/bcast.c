/* Cross-process tests of the broadcast calls (shmlane_bcast_*) against
 * Rust processes (src/bin/peer.rs) in both directions, for both kinds
 * (fixed: 32-byte elements, bcast_elem in common.h; bytes: the messages of
 * producer 0 in common.h, with their type words) and both policies.
 *
 *   bcast c2rust KIND POLICY NAME COUNT NSUB PEER
 *       C publisher, NSUB Rust subscriber processes (peer bcast-sub). The
 *       C side creates NAME, waits (bounded) until every subscriber is
 *       attached, publishes COUNT messages (fixed: single and batch calls),
 *       closes; each Rust subscriber checks what it got.
 *   bcast rust2c KIND POLICY NAME COUNT NSUB PEER
 *       Rust publisher (peer bcast-pub), NSUB C subscriber processes (exec'd
 *       copies of this program in `sub` mode).
 *   bcast sub KIND NAME COUNT           (internal) one C subscriber process
 *   bcast kill KIND NAME COUNT PEER
 *       A C subscriber of a Rust publisher that hangs after COUNT messages;
 *       the publisher is killed and the subscriber must see
 *       SHMLANE_PEER_DIED after the last message.
 *
 * KIND is fixed or bytes, POLICY block or overwrite. A subscriber checks:
 * Block: every message once, in order, intact; Overwrite: every message
 * received intact and in increasing order, received + lost = COUNT, and
 * SHMLANE_LAGGED seen (it stops reading once, bounded, until the publisher
 * is a ring ahead, so that it is lapped). It receives alternately by copy
 * (shmlane_bcast_recv) and in place (shmlane_bcast_read/_release), and
 * checks that a message is in place exactly under Block. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "common.h"

#define T20 20000000000LL
#define FIXED_CAP 64
#define BYTES_CAP 4096
#define MAX_SUB 8

static const char *self_path;

static int is_fixed(const char *kind) { return strcmp(kind, "fixed") == 0; }

static pid_t spawn(char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        perror("execv");
        _exit(127);
    }
    return pid;
}

static int reap(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void pause_1ms(void) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
}

/* Waits (bounded: 20 s) until `want` subscribers are attached. */
static int wait_subscribers(shmlane_bcast *ch, uint32_t want) {
    shmlane_bcast_stats st;
    int polls;
    for (polls = 0; polls < 20000; polls++) {
        if (shmlane_bcast_stats_get(ch, &st) != SHMLANE_OK) return 0;
        if (st.subscribers >= want) return 1;
        pause_1ms();
    }
    fprintf(stderr, "only %u of %u subscribers attached\n", st.subscribers, want);
    return 0;
}

/* Waits (bounded) until `want` messages are published. */
static int wait_published(shmlane_bcast *ch, uint64_t want) {
    shmlane_bcast_stats st;
    int polls;
    for (polls = 0; polls < 20000; polls++) {
        if (shmlane_bcast_stats_get(ch, &st) != SHMLANE_OK) return 0;
        if (st.published >= want) return 1;
        pause_1ms();
    }
    fprintf(stderr, "only %llu of %llu messages published\n", (unsigned long long)st.published,
            (unsigned long long)want);
    return 0;
}

static int create(const char *kind, const char *policy, const char *name, shmlane_bcast **ch) {
    shmlane_bcast_options opt;
    shmlane_status s;
    memset(&opt, 0, sizeof opt);
    opt.policy = strcmp(policy, "overwrite") == 0 ? SHMLANE_POLICY_OVERWRITE : SHMLANE_POLICY_BLOCK;
    opt.endpoints = MAX_SUB + 2;
    shmlane_unlink(name);
    if (is_fixed(kind)) s = shmlane_bcast_create(name, FIXED_CAP, 32, 8, &opt, ch);
    else s = shmlane_bcast_bytes_create(name, BYTES_CAP, &opt, ch);
    CHECK_STATUS(s, SHMLANE_OK);
    return s == SHMLANE_OK;
}

/* Checks one received message `m` of `n` bytes (type `ty`, number `number`)
 * against message `seq` of the pattern. */
static int check_msg(int fixed, const void *m, size_t n, uint32_t ty, uint64_t number) {
    if (fixed) {
        uint64_t want[4];
        bcast_elem(number, want);
        if (n != 32 || memcmp(m, want, 32) != 0 || ty != 0) {
            fprintf(stderr, "element %llu torn or misnumbered\n", (unsigned long long)number);
            return 0;
        }
        return 1;
    } else {
        uint32_t next = (uint32_t)number;
        return msg_check(m, n, ty, &next, 1);
    }
}

/* Receives until the end of the stream and checks it (see the top). `end`
 * is the status expected after the last message. */
static int subscribe_and_check(shmlane_bcast *ch, uint32_t count, shmlane_status end) {
    shmlane_bcast_subscriber *rx = NULL;
    shmlane_bcast_info info;
    unsigned char buf[MSG_MAX];
    uint64_t next = 0, received = 0, lost = 0, lags = 0, round = 0, ring;
    int fixed, block, waited = 0, ok = 1;
    shmlane_status s;

    CHECK_STATUS(shmlane_bcast_info_get(ch, &info), SHMLANE_OK);
    fixed = info.kind == SHMLANE_KIND_BROADCAST;
    block = info.policy == SHMLANE_POLICY_BLOCK;
    /* Messages that surely lap a subscriber: a slot each, or at least 24
     * bytes each (16 of header, 8 of payload). */
    ring = fixed ? info.capacity + 1 : info.capacity / 24 + 1;
    CHECK_STATUS(shmlane_bcast_subscribe(ch, SHMLANE_BCAST_FROM_NEWEST, &rx), SHMLANE_OK);
    if (!rx) return 0;
    for (;;) {
        uint64_t missed = 0, number;
        const void *data = NULL;
        size_t n = 0;
        uint32_t ty = 0;
        int in_place = -1;
        shmlane_bcast_msg m;
        if (round++ % 2 == 0) {
            s = shmlane_bcast_recv(rx, buf, sizeof buf, &n, &ty, &missed, T20);
            data = buf;
            number = next; /* checked against the contents */
        } else {
            s = shmlane_bcast_read(rx, &m, &missed, T20);
            data = m.data;
            n = m.len;
            ty = m.msg_type;
            number = m.number;
            in_place = (int)m.in_place;
        }
        if (s == SHMLANE_LAGGED) {
            if (block) {
                fprintf(stderr, "SHMLANE_LAGGED under Block\n");
                ok = 0;
                break;
            }
            CHECK(missed > 0);
            lost += missed;
            next += missed;
            lags++;
            continue;
        }
        if (s != SHMLANE_OK) break;
        if (in_place >= 0 && number != next) {
            fprintf(stderr, "message number %llu, expected %llu\n", (unsigned long long)number,
                    (unsigned long long)next);
            ok = 0;
        }
        if (in_place >= 0 && in_place != block) {
            fprintf(stderr, "message %llu: in_place %d under %s\n", (unsigned long long)next, in_place,
                    block ? "Block" : "Overwrite");
            ok = 0;
        }
        ok = ok && check_msg(fixed, data, n, ty, next);
        if (in_place >= 0) CHECK_STATUS(shmlane_bcast_release(rx), SHMLANE_OK);
        if (!ok) break;
        received++;
        next++;
        if (!block && !waited && lags == 0) {
            /* Not lapped yet (so this was message 0): stop reading until
             * the publisher is a ring ahead, to be lapped. */
            waited = 1;
            if (!wait_published(ch, next + ring)) ok = 0;
        }
    }
    CHECK_STATUS(s, end);
    CHECK(ok);
    CHECK(received + lost == count);
    if (block) CHECK(lost == 0 && lags == 0);
    else CHECK(lags > 0);
    /* The end is sticky. */
    CHECK_STATUS(shmlane_bcast_recv(rx, buf, sizeof buf, &(size_t){0}, NULL, NULL, 0), end);
    shmlane_bcast_subscriber_close(rx);
    printf("C subscriber (%s, %s): received %llu, lost %llu in %llu lagged reports, of %u; end: %s\n",
           fixed ? "fixed" : "bytes", block ? "Block" : "Overwrite", (unsigned long long)received,
           (unsigned long long)lost, (unsigned long long)lags, count, shmlane_strerror((int)s));
    return ok && received + lost == count && s == end;
}

/* Publishes COUNT messages: fixed alternately one by one and in batches of
 * up to 7; bytes one by one with their type words. */
static void publish_all(shmlane_bcast_publisher *tx, int fixed, uint32_t count) {
    uint64_t batch[7 * 4];
    unsigned char buf[MSG_MAX];
    uint32_t seq = 0, round = 0;
    size_t n = 0, k;
    while (seq < count) {
        if (!fixed) {
            size_t len = msg_fill(0, seq, buf);
            CHECK_STATUS(shmlane_bcast_send(tx, buf, len, msg_type_of(seq), T20), SHMLANE_OK);
            seq++;
        } else if (round++ % 2 == 0) {
            bcast_elem(seq, batch);
            CHECK_STATUS(shmlane_bcast_publish(tx, batch, 32, T20), SHMLANE_OK);
            seq++;
        } else {
            size_t want = count - seq < 7 ? count - seq : 7;
            for (k = 0; k < want; k++) bcast_elem(seq + k, &batch[4 * k]);
            CHECK_STATUS(shmlane_bcast_publish_batch(tx, batch, want, &n, T20), SHMLANE_OK);
            if (n == 0) break;
            seq += (uint32_t)n;
        }
        if (failures) break;
    }
}

static int c2rust(const char *kind, const char *policy, const char *name, uint32_t count, uint32_t nsub,
                  const char *peer) {
    shmlane_bcast *ch = NULL;
    shmlane_bcast_publisher *tx = NULL;
    shmlane_bcast_stats st;
    pid_t pids[MAX_SUB];
    char cnt[16];
    char *argv[6];
    uint32_t i;
    if (nsub == 0 || nsub > MAX_SUB || !create(kind, policy, name, &ch)) return 1;
    snprintf(cnt, sizeof cnt, "%u", count);
    for (i = 0; i < nsub; i++) {
        argv[0] = (char *)peer;
        argv[1] = "bcast-sub";
        argv[2] = (char *)kind;
        argv[3] = (char *)name;
        argv[4] = cnt;
        argv[5] = NULL;
        pids[i] = spawn(argv);
    }
    CHECK_STATUS(shmlane_bcast_publisher_attach(ch, &tx), SHMLANE_OK);
    if (tx && wait_subscribers(ch, nsub)) publish_all(tx, is_fixed(kind), count);
    shmlane_bcast_publisher_close(tx);
    for (i = 0; i < nsub; i++) CHECK(reap(pids[i]));
    CHECK_STATUS(shmlane_bcast_stats_get(ch, &st), SHMLANE_OK);
    CHECK(st.published == count && st.publisher_attached == 0 && st.subscribers == 0);
    if (strcmp(policy, "block") == 0) CHECK(st.lost == 0);
    else CHECK(st.lost > 0);
    shmlane_bcast_close(ch);
    CHECK_STATUS(shmlane_unlink(name), SHMLANE_OK);
    if (failures) return 1;
    printf("bcast: C publisher -> %u Rust subscriber processes, %s %s, %u messages: ok\n", nsub, kind, policy,
           count);
    return 0;
}

static int rust2c(const char *kind, const char *policy, const char *name, uint32_t count, uint32_t nsub,
                  const char *peer) {
    shmlane_bcast *ch = NULL;
    shmlane_bcast_stats st;
    pid_t pids[MAX_SUB], pub;
    char cnt[16];
    char *argv[6];
    uint32_t i;
    if (nsub == 0 || nsub > MAX_SUB || !create(kind, policy, name, &ch)) return 1;
    snprintf(cnt, sizeof cnt, "%u", count);
    for (i = 0; i < nsub; i++) {
        argv[0] = (char *)self_path;
        argv[1] = "sub";
        argv[2] = (char *)kind;
        argv[3] = (char *)name;
        argv[4] = cnt;
        argv[5] = NULL;
        pids[i] = spawn(argv);
    }
    CHECK(wait_subscribers(ch, nsub));
    argv[0] = (char *)peer;
    argv[1] = "bcast-pub";
    argv[2] = (char *)kind;
    argv[3] = (char *)name;
    argv[4] = cnt;
    argv[5] = NULL;
    pub = spawn(argv);
    CHECK(reap(pub));
    for (i = 0; i < nsub; i++) CHECK(reap(pids[i]));
    CHECK_STATUS(shmlane_bcast_stats_get(ch, &st), SHMLANE_OK);
    CHECK(st.published == count && st.subscribers == 0);
    shmlane_bcast_close(ch);
    CHECK_STATUS(shmlane_unlink(name), SHMLANE_OK);
    if (failures) return 1;
    printf("bcast: Rust publisher -> %u C subscriber processes, %s %s, %u messages: ok\n", nsub, kind, policy,
           count);
    return 0;
}

static int sub(const char *name, uint32_t count) {
    shmlane_bcast *ch = NULL;
    CHECK_STATUS(shmlane_bcast_open(name, 0, 0, &ch), SHMLANE_OK);
    if (!ch) return 1;
    subscribe_and_check(ch, count, SHMLANE_DISCONNECTED);
    shmlane_bcast_close(ch);
    return failures ? 1 : 0;
}

/* The subscriber runs in this process; the Rust publisher hangs after
 * COUNT messages and is killed once they are all read (the subscriber
 * waits for the last one, bounded, before the kill). */
static int kill_publisher(const char *kind, const char *name, uint32_t count, const char *peer) {
    shmlane_bcast *ch = NULL;
    shmlane_bcast_subscriber *rx = NULL;
    shmlane_bcast_msg m;
    shmlane_wait w;
    unsigned char buf[MSG_MAX];
    uint32_t seq;
    size_t n = 0;
    uint32_t ty = 0;
    char cnt[16];
    char *argv[7];
    pid_t pub;
    int fixed = is_fixed(kind);
    if (!create(kind, "block", name, &ch)) return 1;
    CHECK_STATUS(shmlane_bcast_subscribe(ch, SHMLANE_BCAST_FROM_NEWEST, &rx), SHMLANE_OK);
    if (!rx) return 1;
    memset(&w, 0, sizeof w);
    w.check_interval_ns = 10000000; /* notice the death within 10 ms */
    CHECK_STATUS(shmlane_bcast_subscriber_set_wait(rx, &w), SHMLANE_OK);
    snprintf(cnt, sizeof cnt, "%u", count);
    argv[0] = (char *)peer;
    argv[1] = "bcast-pub";
    argv[2] = (char *)kind;
    argv[3] = (char *)name;
    argv[4] = cnt;
    argv[5] = "hang";
    argv[6] = NULL;
    pub = spawn(argv);
    for (seq = 0; seq < count && !failures; seq++) {
        if (seq % 2) {
            CHECK_STATUS(shmlane_bcast_recv(rx, buf, sizeof buf, &n, &ty, NULL, T20), SHMLANE_OK);
            CHECK(check_msg(fixed, buf, n, ty, seq));
        } else {
            CHECK_STATUS(shmlane_bcast_read(rx, &m, NULL, T20), SHMLANE_OK);
            CHECK(m.number == seq && m.in_place == 1 && check_msg(fixed, m.data, m.len, m.msg_type, seq));
            CHECK_STATUS(shmlane_bcast_release(rx), SHMLANE_OK);
        }
    }
    CHECK_STATUS(shmlane_bcast_recv(rx, buf, sizeof buf, &n, &ty, NULL, 0), SHMLANE_EMPTY);
    kill(pub, SIGKILL);
    waitpid(pub, NULL, 0);
    CHECK_STATUS(shmlane_bcast_recv(rx, buf, sizeof buf, &n, &ty, NULL, T20), SHMLANE_PEER_DIED);
    CHECK_STATUS(shmlane_bcast_read(rx, &m, NULL, 0), SHMLANE_PEER_DIED);
    shmlane_bcast_subscriber_close(rx);
    shmlane_bcast_close(ch);
    CHECK_STATUS(shmlane_unlink(name), SHMLANE_OK);
    if (failures) return 1;
    printf("bcast: %u %s messages from a Rust publisher, then it was killed: SHMLANE_PEER_DIED\n", count, kind);
    return 0;
}

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc == 8 && strcmp(argv[1], "c2rust") == 0)
        return c2rust(argv[2], argv[3], argv[4], (uint32_t)atoi(argv[5]), (uint32_t)atoi(argv[6]), argv[7]);
    if (argc == 8 && strcmp(argv[1], "rust2c") == 0)
        return rust2c(argv[2], argv[3], argv[4], (uint32_t)atoi(argv[5]), (uint32_t)atoi(argv[6]), argv[7]);
    if (argc == 5 && strcmp(argv[1], "sub") == 0) return sub(argv[3], (uint32_t)atoi(argv[4]));
    if (argc == 6 && strcmp(argv[1], "kill") == 0)
        return kill_publisher(argv[2], argv[3], (uint32_t)atoi(argv[4]), argv[5]);
    fprintf(stderr, "usage: see the comment at the top of bcast.c\n");
    return 2;
}
