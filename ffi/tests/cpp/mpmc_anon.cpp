// Tests of the C++ wrapper's fixed-size MPMC rings, anonymous rings shared
// by fd and batch reads/sends, in one process and against Rust processes
// (src/bin/peer.rs) in both directions.
//   mpmc_anon NAME PEER
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>

#include "common.h"
#include "shmlane.hpp"

using namespace std::chrono_literals;
using shmlane::Status;
using Elem = std::array<std::uint64_t, 2>;

#define CHECK_S(expr, want) CHECK((expr) == Status::want)

static constexpr std::uint32_t kCount = 3000;

static Elem elem(std::uint32_t id, std::uint32_t seq) {
    std::uint64_t v = static_cast<std::uint64_t>(id) << 32 | seq;
    return {v, ~v};
}

static pid_t spawn(const char *peer, const char *mode, const std::string &a, const std::string &b,
                   const std::string &c) {
    pid_t pid = fork();
    if (pid == 0) {
        execl(peer, peer, mode, a.c_str(), b.c_str(), c.c_str(), static_cast<char *>(nullptr));
        _exit(127);
    }
    return pid;
}

static bool reap(pid_t pid) {
    int st = 0;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void in_process(const std::string &name) {
    shmlane::Channel::unlink(name);
    auto ch = shmlane::MpmcChannel::create<Elem>(name, 8);
    try {
        shmlane::MpmcChannel::open(name, 4);
        CHECK(!"open with another element size did not throw");
    } catch (const shmlane::Error &e) {
        CHECK(e.status() == Status::type_mismatch);
    }
    try {
        ch.fd();
        CHECK(!"fd() of a named ring did not throw");
    } catch (const shmlane::Error &e) {
        CHECK(e.status() == Status::invalid_argument);
    }
    CHECK(ch.elem_size() == sizeof(Elem));
    auto tx = ch.sender();
    auto rx1 = ch.receiver();
    auto rx2 = shmlane::MpmcChannel::open(name, sizeof(Elem)).receiver();
    shmlane_wait sw{};
    sw.strategy = SHMLANE_WAIT_SPIN;
    CHECK_S(tx.set_wait(&sw), ok);
    CHECK_S(rx1.set_wait(&sw), ok);
    sw.strategy = 99;
    CHECK_S(rx2.set_wait(&sw), invalid_argument);
    Elem in[10], out[10];
    for (std::uint32_t i = 0; i < 10; i++) in[i] = elem(0, i);
    std::size_t n = 0;
    CHECK_S(tx.send_batch(in, 10, n, shmlane::try_once), ok);
    CHECK(n == 8);
    CHECK_S(tx.send(in[8], shmlane::try_once), full);
    CHECK_S(rx1.recv_batch(out, 3, n, shmlane::try_once), ok);
    CHECK(n == 3 && out[2] == in[2]);
    shmlane::MpmcElement e;
    CHECK_S(rx2.read(e, 1s), ok);
    CHECK(e && e.as<Elem>() == in[3]);
    e.release();
    shmlane::MpmcClaim c;
    CHECK_S(tx.claim(c, shmlane::try_once), ok);
    c.as<Elem>() = in[8];
    CHECK_S(c.commit(), ok);
    CHECK_S(tx.claim(c, shmlane::try_once), ok);  // aborted when replaced below
    c = shmlane::MpmcClaim();
    Elem one{};
    for (std::uint32_t i = 4; i < 9; i++) {
        CHECK_S(rx1.recv(one, shmlane::try_once), ok);
        CHECK(one == in[i]);
    }
    CHECK_S(rx2.recv(one, shmlane::try_once), empty);
    auto st = ch.stats();
    CHECK(st.sent == 9 && st.received == 9 && st.aborted == 1 && st.receivers == 2);
    shmlane::Channel::unlink(name);

    // An anonymous byte ring reopened from its fd; batch reads.
    auto bytes = shmlane::Channel::anonymous(4096);
    int fd = bytes.fd();
    auto again = shmlane::Channel::from_fd(fd, SHMLANE_KIND_BYTES);
    close(fd);
    auto p = again.producer();
    auto r = bytes.consumer();
    for (const char *m : {"one", "two", "three"}) CHECK_S(p.send(m, 7), ok);
    shmlane::Batch b;
    CHECK_S(r.read_batch(b, 2, shmlane::try_once), ok);
    CHECK(b.size() == 2 && b.view(1) == "two" && b[0].msg_type == 7);
    shmlane::Record rec;
    CHECK_S(r.read(rec, shmlane::try_once), wrong_state);
    b.release();
    CHECK_S(r.read_batch(b, 8, shmlane::try_once), ok);
    CHECK(b.size() == 1 && b.view(0) == "three");
}

static void with_rust(const std::string &name, const char *peer) {
    // Rust -> C++: anonymous MPMC by inherited fd, batch receives.
    {
        auto ch = shmlane::MpmcChannel::anonymous<Elem>(64);
        auto rx = ch.receiver();
        int fd = ch.fd();
        pid_t pid = spawn(peer, "fd-produce", "mpmc", std::to_string(fd), std::to_string(kCount));
        close(fd);
        Elem out[16];
        std::uint32_t next = 0;
        while (next < kCount) {
            std::size_t n = 0;
            Status s = rx.recv_batch(out, 16, n, 20s);
            CHECK_S(s, ok);
            if (s != Status::ok) break;
            for (std::size_t k = 0; k < n; k++, next++) CHECK(out[k] == elem(0, next));
        }
        Elem one{};
        CHECK_S(rx.recv(one, 20s), disconnected);
        CHECK(reap(pid));
    }
    // C++ -> Rust: anonymous fixed SPSC by inherited fd, batch pushes.
    {
        auto ch = shmlane::FixedChannel::anonymous<Elem>(64);
        auto tx = ch.producer();
        int fd = ch.fd();
        pid_t pid = spawn(peer, "fd-consume", "fixed", std::to_string(fd), std::to_string(kCount));
        close(fd);
        std::uint32_t next = 0;
        Elem in[12];
        while (next < kCount) {
            std::size_t want = std::min<std::size_t>(12, kCount - next), n = 0;
            for (std::size_t k = 0; k < want; k++) in[k] = elem(0, next + static_cast<std::uint32_t>(k));
            CHECK_S(tx.push_batch(in, want, n, 20s), ok);
            if (n == 0) break;
            next += static_cast<std::uint32_t>(n);
        }
        tx = shmlane::FixedChannel::anonymous<Elem>(2).producer();  // closes the first producer
        CHECK(reap(pid));
    }
    // C++ -> Rust: named MPMC, a Rust consumer of two C++ senders (batches and claims).
    {
        shmlane::Channel::unlink(name);
        pid_t pid = spawn(peer, "mpmc-consume", name, std::to_string(kCount), "2");
        shmlane::MpmcChannel ch = [&] {
            for (int i = 0;; i++) {
                try {
                    return shmlane::MpmcChannel::open(name, sizeof(Elem));
                } catch (const shmlane::Error &e) {
                    if (i > 2000 || (e.status() != Status::not_found && e.status() != Status::not_initialized)) throw;
                    usleep(5000);
                }
            }
        }();
        auto a = ch.sender();
        auto b = ch.sender();
        for (std::uint32_t i = 0; i < kCount; i += 4) {
            Elem four[4] = {elem(0, i), elem(0, i + 1), elem(0, i + 2), elem(0, i + 3)};
            std::size_t done = 0;
            while (done < 4) {
                std::size_t n = 0;
                CHECK_S(a.send_batch(four + done, 4 - done, n, 20s), ok);
                if (n == 0) break;
                done += n;
            }
            shmlane::MpmcClaim c;
            for (std::uint32_t k = 0; k < 4; k++) {
                CHECK_S(b.claim(c, 20s), ok);
                c.as<Elem>() = elem(1, i + k);
                CHECK_S(c.commit(), ok);
            }
        }
        a = shmlane::MpmcChannel::anonymous<Elem>(2).sender();  // closes both senders
        b = shmlane::MpmcChannel::anonymous<Elem>(2).sender();
        CHECK(reap(pid));
    }
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    try {
        in_process(std::string(argv[1]) + "-a");
        with_rust(std::string(argv[1]) + "-b", argv[2]);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        failures++;
    }
    if (failures) {
        std::fprintf(stderr, "mpmc_anon: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("mpmc_anon: all checks passed\n");
    return 0;
}
