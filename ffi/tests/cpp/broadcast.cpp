// Tests of the broadcast classes of include/shmlane.hpp: RAII, statuses
// (lagged with the count missed), exceptions, both kinds and policies, and
// C++ subscribers of a Rust publisher process (src/bin/peer.rs) on
// anonymous channels shared by an inherited fd.
//   broadcast NAME PEER
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "shmlane.hpp"

using namespace std::chrono_literals;
using shmlane::Status;

#define CHECK_S(expr, want) CHECK((expr) == Status::want)

struct Elem {
    std::uint64_t w[4];
};

static Elem elem(std::uint64_t seq) {
    Elem e;
    bcast_elem(seq, e.w);
    return e;
}

static bool same(const Elem &a, const Elem &b) { return std::memcmp(&a, &b, sizeof a) == 0; }

static void fixed_block(const std::string &name) {
    shmlane::BroadcastChannel::unlink(name);
    shmlane_bcast_options opt{};
    opt.endpoints = 4;
    auto ch = shmlane::BroadcastChannel::create<Elem>(name, 4, &opt);
    try {
        shmlane::BroadcastChannel::open(name, 0, 16);
        CHECK(!"open with the wrong element size did not throw");
    } catch (const shmlane::Error &e) {
        CHECK(e.status() == Status::type_mismatch);
    }
    try {
        shmlane::BroadcastChannel::open(name, SHMLANE_KIND_BROADCAST_BYTES);
        CHECK(!"open as the wrong kind did not throw");
    } catch (const shmlane::Error &e) {
        CHECK(e.status() == Status::kind_mismatch);
    }
    auto other = shmlane::BroadcastChannel::open(name, SHMLANE_KIND_BROADCAST, sizeof(Elem));
    auto info = other.info();
    CHECK(info.kind == SHMLANE_KIND_BROADCAST && info.elem_size == 32 && info.capacity == 4 &&
          info.policy == SHMLANE_POLICY_BLOCK);
    auto tx = ch.publisher();
    try {
        other.publisher();
        CHECK(!"a second publisher did not throw");
    } catch (const shmlane::Error &e) {
        CHECK(e.status() == Status::endpoint_busy);
    }
    auto a = ch.subscribe();
    auto b = other.subscribe();
    Elem got{};
    CHECK_S(a.recv(got, nullptr, shmlane::try_once), empty);
    CHECK_S(a.recv(got, nullptr, 1ms), timeout);
    for (std::uint64_t i = 0; i < 4; i++) CHECK_S(tx.publish(elem(i), shmlane::try_once), ok);
    CHECK_S(tx.publish(elem(4), shmlane::try_once), full);
    CHECK_S(tx.send("text"), kind_mismatch);
    CHECK_S(a.recv(got), ok);
    CHECK(same(got, elem(0)));
    {
        shmlane::BroadcastMessage m;
        CHECK_S(a.read(m), ok);
        CHECK(m && m.in_place() && m.number() == 1 && m.size() == 32 && same(m.as<Elem>(), elem(1)));
        shmlane::BroadcastMessage moved = std::move(m);
        CHECK(!m && moved);
    }  // released
    CHECK_S(a.recv(got), ok);
    CHECK(same(got, elem(2)));
    auto st = ch.stats();
    CHECK(st.published == 4 && st.subscribers == 2 && st.max_lag == 4);
    auto subs = ch.subscribers();
    CHECK(subs.size() == 2);
    for (auto &s : subs) CHECK(s.alive == 1 && (s.position == 3 || s.position == 0));
    {
        auto gone = std::move(b);
    }  // the slow subscriber leaves: the publisher is free
    Elem batch[3] = {elem(4), elem(5), elem(6)};
    std::size_t n = 0;
    CHECK_S(tx.publish_batch(batch, 3, n, shmlane::try_once), ok);
    CHECK(n == 3);
    {
        auto closing = std::move(tx);
    }
    for (std::uint64_t i = 3; i < 7; i++) {
        CHECK_S(a.recv(got), ok);
        CHECK(same(got, elem(i)));
    }
    CHECK_S(a.recv(got), disconnected);
    CHECK_S(shmlane::BroadcastChannel::unlink(name), ok);
}

static void fixed_overwrite() {
    shmlane_bcast_options opt{};
    opt.policy = SHMLANE_POLICY_OVERWRITE;
    auto ch = shmlane::BroadcastChannel::anonymous<std::uint64_t>(4, &opt);
    int fd = ch.fd();
    auto other = shmlane::BroadcastChannel::from_fd(fd, SHMLANE_KIND_BROADCAST, 8);
    close(fd);
    auto tx = ch.publisher();
    auto rx = other.subscribe();
    for (std::uint64_t i = 0; i < 10; i++) CHECK_S(tx.publish(i, shmlane::try_once), ok);
    std::uint64_t v = 0, lost = 0;
    CHECK_S(rx.recv(v, &lost), lagged);
    CHECK(lost == 6);
    CHECK_S(rx.recv(v, &lost), ok);
    CHECK(v == 6);
    shmlane::BroadcastMessage m;
    CHECK_S(rx.read(m, &lost), ok);
    CHECK(!m.in_place() && m.number() == 7 && m.as<std::uint64_t>() == 7);
    CHECK_S(rx.set_wait(nullptr), wrong_state);
    m.release();
    CHECK_S(rx.set_wait(nullptr), ok);
    CHECK(ch.stats().lost == 6);
}

static void bytes_block(const std::string &name) {
    shmlane::BroadcastChannel::unlink(name);
    shmlane_bcast_options opt{};
    opt.max_message = 256;
    auto ch = shmlane::BroadcastChannel::create_bytes(name, 4096, &opt);
    CHECK(ch.info().max_message == 256);
    auto tx = ch.publisher();
    auto rx = shmlane::BroadcastChannel::open(name).subscribe();
    CHECK_S(tx.publish(std::uint64_t{1}), kind_mismatch);
    CHECK_S(tx.send("hello", 5), ok);
    CHECK_S(tx.send(std::string(200, 'y'), 6), ok);
    CHECK_S(tx.send(std::string(257, 'z'), 7), too_large);
    std::string out;
    std::uint32_t ty = 0;
    CHECK_S(rx.recv(out, &ty), ok);
    CHECK(out == "hello" && ty == 5);
    CHECK_S(rx.recv(out, &ty), ok);  // longer than `out`: recv grows it
    CHECK(out == std::string(200, 'y') && ty == 6);
    CHECK_S(tx.send("abc", 8), ok);
    {
        shmlane::BroadcastMessage m;
        CHECK_S(rx.read(m), ok);
        CHECK(m.view() == "abc" && m.type() == 8 && m.in_place() && m.number() == 2);
    }
    CHECK_S(rx.recv(out, &ty, nullptr, shmlane::try_once), empty);
    {
        auto closing = std::move(tx);
    }
    CHECK_S(rx.recv(out), disconnected);
    CHECK_S(shmlane::BroadcastChannel::unlink(name), ok);
}

/// A Rust publisher (peer bcast-fd-pub) to a C++ subscriber through an
/// anonymous channel whose fd the publisher inherits.
static void from_rust(const char *peer, bool fixed, bool block) {
    const std::uint32_t count = 5000;
    shmlane_bcast_options opt{};
    opt.policy = block ? SHMLANE_POLICY_BLOCK : SHMLANE_POLICY_OVERWRITE;
    auto ch = fixed ? shmlane::BroadcastChannel::anonymous<Elem>(64, &opt)
                    : shmlane::BroadcastChannel::anonymous_bytes(4096, &opt);
    auto rx = ch.subscribe();
    int fd = ch.fd();
    std::string fds = std::to_string(fd), cnt = std::to_string(count);
    pid_t pid = fork();
    if (pid == 0) {
        execl(peer, peer, "bcast-fd-pub", fixed ? "fixed" : "bytes", fds.c_str(), cnt.c_str(), (char *)nullptr);
        _exit(127);
    }
    close(fd);
    std::uint64_t next = 0, received = 0, lost_total = 0, lost = 0;
    Status s;
    for (;;) {
        shmlane::BroadcastMessage m;
        s = rx.read(m, &lost, 20s);
        if (s == Status::lagged) {
            CHECK(!block && lost > 0);
            lost_total += lost;
            next += lost;
            continue;
        }
        if (s != Status::ok) break;
        CHECK(m.number() == next && m.in_place() == block);
        if (fixed) {
            CHECK(m.size() == sizeof(Elem) && same(m.as<Elem>(), elem(next)));
        } else {
            std::uint32_t n32 = static_cast<std::uint32_t>(next);
            CHECK(msg_check(reinterpret_cast<const unsigned char *>(m.data()), m.size(), m.type(), &n32, 1));
        }
        next++;
        received++;
        if (failures) break;
    }
    CHECK_S(s, disconnected);
    CHECK(received + lost_total == count);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    std::printf("C++ subscriber of a Rust publisher (%s, %s): received %llu, lost %llu\n", fixed ? "fixed" : "bytes",
                block ? "Block" : "Overwrite", static_cast<unsigned long long>(received),
                static_cast<unsigned long long>(lost_total));
}

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: broadcast NAME PEER\n");
        return 2;
    }
    try {
        fixed_block(argv[1]);
        fixed_overwrite();
        bytes_block(argv[1]);
        for (bool fixed : {true, false})
            for (bool block : {true, false}) from_rust(argv[2], fixed, block);
    } catch (const shmlane::Error &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        failures++;
    }
    if (failures) {
        std::fprintf(stderr, "broadcast (C++): %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("broadcast (C++): all checks passed\n");
    return 0;
}
