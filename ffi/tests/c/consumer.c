/* C consumer of a byte ring fed by Rust producers (src/bin/peer.rs).
 *
 *   consumer NAME KIND COUNT NPROD PEER [kill]
 *
 * Creates NAME (KIND: bytes or mpsc), starts NPROD Rust producers
 * (PEER produce NAME COUNT ID), receives alternately by copy (shmlane_recv)
 * and in place (shmlane_read/shmlane_release), checks every message (once,
 * in order per producer, intact), then expects SHMLANE_DISCONNECTED. With
 * `kill`: one producer that hangs after COUNT messages is killed, and the
 * consumer must see SHMLANE_PEER_DIED after the last message. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

#define MAX_PROD 8
#define SECOND 1000000000LL

static pid_t spawn(const char *peer, const char *name, const char *count, unsigned id, int hang) {
    char ids[16];
    pid_t pid;
    snprintf(ids, sizeof ids, "%u", id);
    pid = fork();
    if (pid == 0) {
        execl(peer, peer, "produce", name, count, ids, hang ? "hang" : (char *)NULL, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int main(int argc, char **argv) {
    shmlane_options opt;
    shmlane_channel *ch = NULL;
    shmlane_consumer *c = NULL;
    shmlane_stats st;
    uint32_t next[MAX_PROD] = {0};
    pid_t pids[MAX_PROD];
    unsigned char buf[MSG_MAX];
    unsigned long total = 0, want_total;
    uint32_t count, nprod, i;
    int kill_mode, status, ok = 1;
    shmlane_status s;

    if (argc < 6) {
        fprintf(stderr, "usage: consumer NAME KIND COUNT NPROD PEER [kill]\n");
        return 2;
    }
    count = (uint32_t)strtoul(argv[3], NULL, 10);
    nprod = (uint32_t)strtoul(argv[4], NULL, 10);
    kill_mode = argc > 6 && strcmp(argv[6], "kill") == 0;
    if (nprod == 0 || nprod > MAX_PROD) return 2;
    want_total = (unsigned long)count * nprod;

    memset(&opt, 0, sizeof opt);
    opt.kind = strcmp(argv[2], "mpsc") == 0 ? SHMLANE_KIND_BYTES_MPSC : SHMLANE_KIND_BYTES;
    opt.max_message = 1024;
    /* Small ring: the producers wrap it many times and block when it is full. */
    CHECK_STATUS(shmlane_channel_create(argv[1], 4096, &opt, &ch), SHMLANE_OK);
    if (!ch) return 1;
    CHECK_STATUS(shmlane_consumer_attach(ch, &c), SHMLANE_OK);
    for (i = 0; i < nprod; i++) pids[i] = spawn(argv[5], argv[1], argv[3], i, kill_mode);
    /* End of stream is "every producer that attached has detached": a fast
     * producer must not finish before a slow one attaches. None can finish
     * before we read (COUNT messages overflow the small ring), so wait,
     * bounded, until all of them are attached. */
    {
        struct shmlane_stats st;
        int polls = 0;
        do {
            CHECK_STATUS(shmlane_channel_stats(ch, &st), SHMLANE_OK);
            if (st.producers_alive >= nprod) break;
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        } while (++polls < 20000);
        CHECK(st.producers_alive >= nprod);
    }

    while (ok && total < want_total) {
        size_t n = 0;
        uint32_t ty = 0;
        if (total % 2 == 0) {
            s = shmlane_recv(c, buf, sizeof buf, &n, &ty, 20 * SECOND);
            if (s == SHMLANE_OK) ok = msg_check(buf, n, ty, next, nprod);
        } else {
            const void *p = NULL;
            s = shmlane_read(c, &p, &n, &ty, 20 * SECOND);
            if (s == SHMLANE_OK) {
                ok = msg_check((const unsigned char *)p, n, ty, next, nprod);
                CHECK_STATUS(shmlane_release(c), SHMLANE_OK);
            }
        }
        if (s != SHMLANE_OK) {
            fprintf(stderr, "receive after %lu messages: %s (%s)\n", total, shmlane_strerror((int)s),
                    shmlane_last_error_message());
            ok = 0;
        }
        total++;
    }
    CHECK(ok);
    CHECK(total == want_total);

    if (kill_mode) {
        for (i = 0; i < nprod; i++) kill(pids[i], SIGKILL);
        for (i = 0; i < nprod; i++) waitpid(pids[i], &status, 0);
        CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &(size_t){0}, NULL, 20 * SECOND), SHMLANE_PEER_DIED);
    } else {
        CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &(size_t){0}, NULL, 20 * SECOND), SHMLANE_DISCONNECTED);
        /* End of stream is sticky. */
        CHECK_STATUS(shmlane_recv(c, buf, sizeof buf, &(size_t){0}, NULL, 0), SHMLANE_DISCONNECTED);
        for (i = 0; i < nprod; i++) {
            waitpid(pids[i], &status, 0);
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
    CHECK_STATUS(shmlane_channel_stats(ch, &st), SHMLANE_OK);
    CHECK(st.received == want_total);
    CHECK(st.sent == want_total);
    CHECK(st.lost == 0);

    shmlane_consumer_close(c);
    shmlane_channel_close(ch);
    CHECK_STATUS(shmlane_unlink(argv[1]), SHMLANE_OK);
    if (failures) {
        fprintf(stderr, "consumer: %d check(s) failed\n", failures);
        return 1;
    }
    printf("consumer: %lu messages from %u Rust producer(s) intact and in order; end: %s\n", total, nprod,
           kill_mode ? "peer died" : "disconnected");
    return 0;
}
