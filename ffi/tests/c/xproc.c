/* Cross-process tests of the newer C calls: fixed-size MPMC rings,
 * anonymous segments shared by fd (inherited across fork+exec, or passed
 * over a unix socket) and batch reads and sends, against Rust processes
 * (src/bin/peer.rs) in both directions and against C processes.
 *
 *   xproc anon PEER                         every anonymous kind, Rust -> C and C -> Rust
 *                                           by inherited fd; C -> C by an fd sent over a
 *                                           unix socket to an exec'd copy of this program
 *   xproc mpmc-consume NAME COUNT NPROD PEER  C consumer of NPROD Rust MPMC producers
 *   xproc mpmc-produce NAME COUNT ID        C MPMC producer (for a Rust consumer)
 *   xproc sock-child SOCKFD COUNT           (internal) the C -> C child over a socket
 *   xproc fd-child FD COUNT                 (internal) the C -> C child by inherited fd
 *
 * Elements of fixed-size rings are (v, ~v) with v = id << 32 | seq, as the
 * Rust peer's. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "common.h"

#define COUNT 3000
#define T20 20000000000LL

static const char *self_path;

static void elem(uint32_t id, uint32_t seq, uint64_t out[2]) {
    out[0] = (uint64_t)id << 32 | seq;
    out[1] = ~out[0];
}

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

static pid_t spawn_peer(const char *peer, const char *mode, const char *kind, int fd) {
    char fds[16], cnt[16];
    char *argv[7];
    snprintf(fds, sizeof fds, "%d", fd);
    snprintf(cnt, sizeof cnt, "%d", COUNT);
    argv[0] = (char *)peer;
    argv[1] = (char *)mode;
    argv[2] = (char *)kind;
    argv[3] = fds;
    argv[4] = cnt;
    argv[5] = NULL;
    return spawn(argv);
}

/* Rust -> C through an anonymous byte ring: batch reads in place. */
static void bytes_from_rust(const char *peer) {
    shmlane_channel *ch = NULL;
    shmlane_consumer *rx = NULL;
    shmlane_msg msgs[8];
    uint32_t next = 0;
    size_t n = 0, k;
    int fd = -1, ok = 1;
    pid_t pid;
    CHECK_STATUS(shmlane_channel_anonymous(4096, NULL, &ch), SHMLANE_OK);
    CHECK_STATUS(shmlane_channel_fd(ch, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_consumer_attach(ch, &rx), SHMLANE_OK);
    if (!rx) return;
    pid = spawn_peer(peer, "fd-produce", "bytes", fd);
    close(fd);
    while (ok && next < COUNT) {
        shmlane_status s = shmlane_read_batch(rx, msgs, 8, &n, T20);
        CHECK_STATUS(s, SHMLANE_OK);
        if (s != SHMLANE_OK) break;
        CHECK(n >= 1 && n <= 8);
        for (k = 0; k < n; k++) ok = ok && msg_check(msgs[k].data, msgs[k].len, msgs[k].msg_type, &next, 1);
        CHECK_STATUS(shmlane_release(rx), SHMLANE_OK);
    }
    CHECK(ok && next == COUNT);
    CHECK_STATUS(shmlane_read_batch(rx, msgs, 8, &n, T20), SHMLANE_DISCONNECTED);
    CHECK(reap(pid));
    shmlane_consumer_close(rx);
    shmlane_channel_close(ch);
}

/* C -> Rust through an anonymous byte ring. */
static void bytes_to_rust(const char *peer) {
    shmlane_channel *ch = NULL;
    shmlane_producer *tx = NULL;
    unsigned char buf[MSG_MAX];
    uint32_t seq;
    int fd = -1;
    pid_t pid;
    CHECK_STATUS(shmlane_channel_anonymous(4096, NULL, &ch), SHMLANE_OK);
    CHECK_STATUS(shmlane_channel_fd(ch, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_producer_attach(ch, &tx), SHMLANE_OK);
    if (!tx) return;
    pid = spawn_peer(peer, "fd-consume", "bytes", fd);
    close(fd);
    for (seq = 0; seq < COUNT; seq++) {
        size_t n = msg_fill(0, seq, buf);
        CHECK_STATUS(shmlane_send(tx, buf, n, msg_type_of(seq), T20), SHMLANE_OK);
    }
    shmlane_producer_close(tx);
    CHECK(reap(pid));
    shmlane_channel_close(ch);
}

/* Rust -> C and C -> Rust through an anonymous fixed-size SPSC ring: batches. */
static void fixed_both_ways(const char *peer) {
    shmlane_fixed *ch = NULL;
    shmlane_fixed_producer *tx = NULL;
    shmlane_fixed_consumer *rx = NULL;
    uint64_t buf[2 * 10], want[2];
    uint32_t next = 0;
    size_t n = 0, k;
    int fd = -1;
    pid_t pid;

    CHECK_STATUS(shmlane_fixed_anonymous(64, 16, 8, &ch), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_fd(ch, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_consumer_attach(ch, &rx), SHMLANE_OK);
    if (!rx) return;
    pid = spawn_peer(peer, "fd-produce", "fixed", fd);
    close(fd);
    while (next < COUNT) {
        shmlane_status s = shmlane_fixed_pop_batch(rx, buf, sizeof buf, &n, T20);
        CHECK_STATUS(s, SHMLANE_OK);
        if (s != SHMLANE_OK) break;
        for (k = 0; k < n; k++, next++) {
            elem(0, next, want);
            if (memcmp(&buf[2 * k], want, 16) != 0) {
                fprintf(stderr, "fixed element %u differs\n", next);
                failures++;
                next = COUNT;
                break;
            }
        }
    }
    CHECK_STATUS(shmlane_fixed_pop_batch(rx, buf, sizeof buf, &n, T20), SHMLANE_DISCONNECTED);
    CHECK(reap(pid));
    shmlane_fixed_consumer_close(rx);
    shmlane_fixed_close(ch);

    ch = NULL;
    CHECK_STATUS(shmlane_fixed_anonymous(64, 16, 8, &ch), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_fd(ch, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_fixed_producer_attach(ch, &tx), SHMLANE_OK);
    if (!tx) return;
    pid = spawn_peer(peer, "fd-consume", "fixed", fd);
    close(fd);
    next = 0;
    while (next < COUNT) {
        size_t want_n = COUNT - next < 10 ? COUNT - next : 10;
        for (k = 0; k < want_n; k++) elem(0, next + (uint32_t)k, &buf[2 * k]);
        CHECK_STATUS(shmlane_fixed_push_batch(tx, buf, want_n, &n, T20), SHMLANE_OK);
        if (n == 0) break;
        next += (uint32_t)n;
    }
    shmlane_fixed_producer_close(tx);
    CHECK(reap(pid));
    shmlane_fixed_close(ch);
}

/* Receives COUNT elements of producer 0 from an MPMC ring, alternating batch
 * receives, single receives and reads in place; then the end of stream. */
static void mpmc_drain(shmlane_mpmc_receiver *rx, uint32_t count, uint32_t nprod) {
    uint64_t buf[2 * 12];
    uint32_t next[16] = {0}, total = 0, round = 0;
    size_t n = 0, k;
    int ok = 1;
    struct timespec ms = {0, 1000000};
    time_t give_up = time(NULL) + 30;
    while (ok && total < count * nprod) {
        const void *p = NULL;
        shmlane_status s;
        round++;
        if (round % 3 == 0) {
            s = shmlane_mpmc_read(rx, &p, T20);
            if (s == SHMLANE_OK) {
                memcpy(buf, p, 16);
                n = 1;
                CHECK_STATUS(shmlane_mpmc_release(rx), SHMLANE_OK);
            }
        } else if (round % 3 == 1) {
            s = shmlane_mpmc_recv(rx, buf, sizeof buf, &n, T20);
            n = s == SHMLANE_OK ? 1 : 0;
        } else {
            s = shmlane_mpmc_recv_batch(rx, buf, sizeof buf, &n, T20);
        }
        if (s == SHMLANE_DISCONNECTED && time(NULL) < give_up) {
            nanosleep(&ms, NULL); /* a producer may not have attached yet */
            continue;
        }
        CHECK_STATUS(s, SHMLANE_OK);
        if (s != SHMLANE_OK) break;
        for (k = 0; k < n && ok; k++) {
            uint32_t id = (uint32_t)(buf[2 * k] >> 32), seq = (uint32_t)buf[2 * k];
            ok = id < nprod && seq == next[id] && buf[2 * k + 1] == ~buf[2 * k];
            if (!ok) fprintf(stderr, "mpmc element (%u, %u) out of order or torn\n", id, seq);
            else next[id]++;
        }
        total += (uint32_t)n;
    }
    CHECK(ok && total == count * nprod);
    CHECK_STATUS(shmlane_mpmc_recv_batch(rx, buf, sizeof buf, &n, T20), SHMLANE_DISCONNECTED);
}

/* Sends COUNT elements as producer `id`: batches, single sends, claims. */
static void mpmc_fill(shmlane_mpmc_sender *tx, uint32_t count, uint32_t id) {
    uint64_t buf[2 * 9];
    uint32_t next = 0, round = 0;
    size_t n = 0, k;
    while (next < count) {
        round++;
        if (round % 3 == 0) {
            void *slot = NULL;
            CHECK_STATUS(shmlane_mpmc_claim(tx, T20, &slot), SHMLANE_OK);
            if (!slot) break;
            elem(id, next, buf);
            memcpy(slot, buf, 16);
            CHECK_STATUS(shmlane_mpmc_commit(tx), SHMLANE_OK);
            next++;
        } else if (round % 3 == 1) {
            elem(id, next, buf);
            CHECK_STATUS(shmlane_mpmc_send(tx, buf, 16, T20), SHMLANE_OK);
            next++;
        } else {
            size_t want = count - next < 9 ? count - next : 9;
            for (k = 0; k < want; k++) elem(id, next + (uint32_t)k, &buf[2 * k]);
            CHECK_STATUS(shmlane_mpmc_send_batch(tx, buf, want, &n, T20), SHMLANE_OK);
            if (n == 0) break;
            next += (uint32_t)n;
        }
    }
}

static void mpmc_both_ways(const char *peer) {
    shmlane_mpmc *ch = NULL;
    shmlane_mpmc_sender *tx = NULL;
    shmlane_mpmc_receiver *rx = NULL;
    int fd = -1;
    pid_t pid;
    CHECK_STATUS(shmlane_mpmc_anonymous(64, 16, 8, NULL, &ch), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_fd(ch, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_receiver_attach(ch, &rx), SHMLANE_OK);
    if (!rx) return;
    pid = spawn_peer(peer, "fd-produce", "mpmc", fd);
    close(fd);
    mpmc_drain(rx, COUNT, 1);
    CHECK(reap(pid));
    shmlane_mpmc_receiver_close(rx);
    shmlane_mpmc_close(ch);

    ch = NULL;
    CHECK_STATUS(shmlane_mpmc_anonymous(64, 16, 8, NULL, &ch), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_fd(ch, &fd), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_sender_attach(ch, &tx), SHMLANE_OK);
    if (!tx) return;
    pid = spawn_peer(peer, "fd-consume", "mpmc", fd);
    close(fd);
    mpmc_fill(tx, COUNT, 0);
    shmlane_mpmc_sender_close(tx);
    CHECK(reap(pid));
    shmlane_mpmc_close(ch);
}

/* C -> C: an anonymous MPMC ring's fd sent over a unix socket (SCM_RIGHTS)
 * to an exec'd copy of this program. */
static int send_fd(int sock, int fd) {
    char byte = 'f';
    struct iovec iov;
    struct msghdr m;
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct cmsghdr *c;
    memset(&m, 0, sizeof m);
    memset(&u, 0, sizeof u);
    iov.iov_base = &byte;
    iov.iov_len = 1;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.buf;
    m.msg_controllen = sizeof u.buf;
    c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock) {
    char byte;
    struct iovec iov;
    struct msghdr m;
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct cmsghdr *c;
    int fd = -1;
    memset(&m, 0, sizeof m);
    iov.iov_base = &byte;
    iov.iov_len = 1;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.buf;
    m.msg_controllen = sizeof u.buf;
    if (recvmsg(sock, &m, 0) != 1) return -1;
    c = CMSG_FIRSTHDR(&m);
    if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

static void c_to_c_over_socket(void) {
    shmlane_mpmc *ch = NULL;
    shmlane_mpmc_receiver *rx = NULL;
    int sv[2], fd = -1;
    char sock[16], cnt[16];
    char *argv[5];
    pid_t pid;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        perror("socketpair");
        failures++;
        return;
    }
    CHECK_STATUS(shmlane_mpmc_anonymous(32, 16, 8, NULL, &ch), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_receiver_attach(ch, &rx), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_fd(ch, &fd), SHMLANE_OK);
    if (!rx) return;
    snprintf(sock, sizeof sock, "%d", sv[1]);
    snprintf(cnt, sizeof cnt, "%d", COUNT);
    argv[0] = (char *)self_path;
    argv[1] = "sock-child";
    argv[2] = sock;
    argv[3] = cnt;
    argv[4] = NULL;
    pid = spawn(argv);
    close(sv[1]);
    CHECK(send_fd(sv[0], fd) == 0);
    close(fd);
    close(sv[0]);
    mpmc_drain(rx, COUNT, 1);
    CHECK(reap(pid));
    shmlane_mpmc_receiver_close(rx);
    shmlane_mpmc_close(ch);
}

/* C -> C: an anonymous byte ring whose fd an exec'd copy of this program
 * inherits (its number on the command line); batch reads in the parent. */
static void c_to_c_inherited(void) {
    shmlane_channel *ch = NULL;
    shmlane_consumer *rx = NULL;
    shmlane_msg msgs[5];
    char fds[16], cnt[16];
    char *argv[5];
    uint32_t next = 0;
    size_t n = 0, k;
    int fd = -1, ok = 1;
    pid_t pid;
    CHECK_STATUS(shmlane_channel_anonymous(2048, NULL, &ch), SHMLANE_OK);
    CHECK_STATUS(shmlane_consumer_attach(ch, &rx), SHMLANE_OK);
    CHECK_STATUS(shmlane_channel_fd(ch, &fd), SHMLANE_OK);
    if (!rx) return;
    snprintf(fds, sizeof fds, "%d", fd);
    snprintf(cnt, sizeof cnt, "%d", COUNT);
    argv[0] = (char *)self_path;
    argv[1] = "fd-child";
    argv[2] = fds;
    argv[3] = cnt;
    argv[4] = NULL;
    pid = spawn(argv);
    close(fd);
    while (ok && next < COUNT) {
        shmlane_status s = shmlane_read_batch(rx, msgs, 5, &n, T20);
        CHECK_STATUS(s, SHMLANE_OK);
        if (s != SHMLANE_OK) break;
        for (k = 0; k < n; k++) ok = ok && msg_check(msgs[k].data, msgs[k].len, msgs[k].msg_type, &next, 1);
        CHECK_STATUS(shmlane_release(rx), SHMLANE_OK);
    }
    CHECK(ok && next == COUNT);
    CHECK_STATUS(shmlane_read_batch(rx, msgs, 5, &n, T20), SHMLANE_DISCONNECTED);
    CHECK(reap(pid));
    shmlane_consumer_close(rx);
    shmlane_channel_close(ch);
}

static int fd_child(int fd, uint32_t count) {
    shmlane_channel *ch = NULL;
    shmlane_producer *tx = NULL;
    unsigned char buf[MSG_MAX];
    uint32_t seq;
    void *slot = NULL;
    CHECK_STATUS(shmlane_channel_from_fd(fd, SHMLANE_KIND_BYTES_MPSC, &ch), SHMLANE_KIND_MISMATCH);
    CHECK_STATUS(shmlane_channel_from_fd(fd, 0, &ch), SHMLANE_OK);
    close(fd);
    if (!ch) return 1;
    CHECK_STATUS(shmlane_producer_attach(ch, &tx), SHMLANE_OK);
    shmlane_channel_close(ch);
    for (seq = 0; tx && seq < count; seq++) {
        size_t n = msg_fill(0, seq, buf);
        if (seq % 2) {
            CHECK_STATUS(shmlane_send(tx, buf, n, msg_type_of(seq), T20), SHMLANE_OK);
        } else if (shmlane_claim(tx, n, T20, &slot) == SHMLANE_OK) {
            memcpy(slot, buf, n);
            CHECK_STATUS(shmlane_commit(tx, msg_type_of(seq)), SHMLANE_OK);
        } else {
            failures++;
        }
    }
    shmlane_producer_close(tx);
    return failures ? 1 : 0;
}

static int sock_child(int sock, uint32_t count) {
    shmlane_mpmc *ch = NULL;
    shmlane_mpmc_sender *tx = NULL;
    size_t es = 0, cap = 0;
    int fd = recv_fd(sock);
    CHECK(fd >= 0);
    CHECK_STATUS(shmlane_mpmc_from_fd(fd, 8, &ch), SHMLANE_TYPE_MISMATCH);
    CHECK_STATUS(shmlane_mpmc_from_fd(fd, 16, &ch), SHMLANE_OK);
    close(fd); /* the library keeps its own duplicate */
    if (!ch) return 1;
    CHECK_STATUS(shmlane_mpmc_info(ch, &es, &cap), SHMLANE_OK);
    CHECK(es == 16 && cap == 32);
    CHECK_STATUS(shmlane_mpmc_sender_attach(ch, &tx), SHMLANE_OK);
    shmlane_mpmc_close(ch);
    if (tx) mpmc_fill(tx, count, 0);
    shmlane_mpmc_sender_close(tx);
    return failures ? 1 : 0;
}

static int mpmc_consume(const char *name, uint32_t count, uint32_t nprod, const char *peer) {
    shmlane_mpmc *ch = NULL;
    shmlane_mpmc_receiver *rx = NULL;
    pid_t pids[16];
    uint32_t i;
    char cnt[16], id[16];
    char *argv[6];
    shmlane_mpmc_stats st;
    CHECK_STATUS(shmlane_mpmc_create(name, 64, 16, 8, NULL, &ch), SHMLANE_OK);
    CHECK_STATUS(shmlane_mpmc_receiver_attach(ch, &rx), SHMLANE_OK);
    if (!rx || nprod > 16) return 1;
    snprintf(cnt, sizeof cnt, "%u", count);
    for (i = 0; i < nprod; i++) {
        snprintf(id, sizeof id, "%u", i);
        argv[0] = (char *)peer;
        argv[1] = "mpmc-produce";
        argv[2] = (char *)name;
        argv[3] = cnt;
        argv[4] = id;
        argv[5] = NULL;
        pids[i] = spawn(argv);
    }
    mpmc_drain(rx, count, nprod);
    for (i = 0; i < nprod; i++) CHECK(reap(pids[i]));
    CHECK_STATUS(shmlane_mpmc_stats_get(ch, &st), SHMLANE_OK);
    CHECK(st.received == (uint64_t)count * nprod && st.depth == 0 && st.capacity == 64);
    shmlane_mpmc_receiver_close(rx);
    shmlane_mpmc_close(ch);
    shmlane_unlink(name);
    return failures ? 1 : 0;
}

static int mpmc_produce(const char *name, uint32_t count, uint32_t id) {
    shmlane_mpmc *ch = NULL;
    shmlane_mpmc_sender *tx = NULL;
    struct timespec ms = {0, 5000000};
    int tries;
    shmlane_status s = SHMLANE_NOT_FOUND;
    for (tries = 0; tries < 2000 && s != SHMLANE_OK; tries++) {
        s = shmlane_mpmc_open(name, 16, &ch);
        if (s == SHMLANE_NOT_FOUND || s == SHMLANE_NOT_INITIALIZED) nanosleep(&ms, NULL);
        else break;
    }
    CHECK_STATUS(s, SHMLANE_OK);
    if (!ch) return 1;
    CHECK_STATUS(shmlane_mpmc_sender_attach(ch, &tx), SHMLANE_OK);
    shmlane_mpmc_close(ch);
    if (tx) mpmc_fill(tx, count, id);
    shmlane_mpmc_sender_close(tx);
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc == 3 && strcmp(argv[1], "anon") == 0) {
        bytes_from_rust(argv[2]);
        bytes_to_rust(argv[2]);
        fixed_both_ways(argv[2]);
        mpmc_both_ways(argv[2]);
        c_to_c_over_socket();
        c_to_c_inherited();
        if (failures) {
            fprintf(stderr, "xproc anon: %d check(s) failed\n", failures);
            return 1;
        }
        printf("xproc anon: bytes, fixed and mpmc by fd both ways; C -> C over a socket and by inherited fd: ok\n");
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "sock-child") == 0) return sock_child(atoi(argv[2]), (uint32_t)atoi(argv[3]));
    if (argc == 4 && strcmp(argv[1], "fd-child") == 0) return fd_child(atoi(argv[2]), (uint32_t)atoi(argv[3]));
    if (argc == 6 && strcmp(argv[1], "mpmc-consume") == 0)
        return mpmc_consume(argv[2], (uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), argv[5]);
    if (argc == 5 && strcmp(argv[1], "mpmc-produce") == 0)
        return mpmc_produce(argv[2], (uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]));
    fprintf(stderr, "usage: see the comment at the top of xproc.c\n");
    return 2;
}
