// Tests of include/shmlane.hpp: RAII, statuses, exceptions, and a C++
// consumer fed by a Rust producer process (src/bin/peer.rs).
//   wrapper NAME PEER
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

static void in_process(const std::string &name) {
    shmlane::Channel::unlink(name);
    auto ch = shmlane::Channel::create(name, 1024);
    try {
        shmlane::Channel::create(name, 1024);
        CHECK(!"create of an existing name did not throw");
    } catch (const shmlane::Error &e) {
        CHECK(e.status() == Status::already_exists);
        CHECK(e.code() == std::error_code(Status::already_exists));
    }
    auto tx = ch.producer();
    auto rx = ch.consumer();
    try {
        ch.producer();
        CHECK(!"second SPSC producer did not throw");
    } catch (const shmlane::Error &e) {
        CHECK(e.status() == Status::endpoint_busy);
    }
    std::string out;
    std::uint32_t ty = 0;
    CHECK_S(rx.recv(out, &ty, shmlane::try_once), empty);
    CHECK_S(rx.recv(out, &ty, 1ms), timeout);
    CHECK_S(tx.send("hello world", 5), ok);
    CHECK_S(rx.recv(out, &ty), ok);
    CHECK(out == "hello world" && ty == 5);
    {
        shmlane::Grant g;
        CHECK_S(tx.claim(3, g), ok);
        std::memcpy(g.data(), "abc", 3);
        CHECK_S(g.commit(6), ok);
        CHECK_S(tx.claim(4, g), ok);  // aborted when g goes out of scope
    }
    CHECK_S(tx.send(std::string(200, 'y'), 7), ok);  // longer than `out`: recv grows it
    {
        shmlane::Record r;
        CHECK_S(rx.read(r), ok);
        CHECK(r.view() == "abc" && r.type() == 6);
    }  // released
    CHECK_S(rx.recv(out, &ty, shmlane::try_once), ok);
    CHECK(out == std::string(200, 'y') && ty == 7);
    auto st = ch.stats();
    CHECK(st.sent == 3 && st.received == 3);
    {
        auto moved = std::move(tx);
    }  // closes the producer
    CHECK_S(rx.recv(out, nullptr, shmlane::forever), disconnected);
    CHECK_S(shmlane::Channel::unlink(name), ok);
    try {
        shmlane::Channel::open(name);
        CHECK(!"open of a removed name did not throw");
    } catch (const shmlane::Error &e) {
        CHECK(e.status() == Status::not_found);
    }

    struct Pair {
        std::uint64_t a, b;
    };
    auto f = shmlane::FixedChannel::create<Pair>(name, 4);
    auto fp = f.producer();
    auto fc = f.consumer();
    CHECK_S(fp.push(Pair{1, 2}), ok);
    Pair p{};
    CHECK_S(fc.pop(p), ok);
    CHECK(p.a == 1 && p.b == 2);
    CHECK_S(fc.pop(p, shmlane::try_once), empty);
    CHECK_S(shmlane::Channel::unlink(name), ok);
}

static void from_rust(const std::string &name, const char *peer) {
    const std::uint32_t count = 5000;
    shmlane::Channel::unlink(name);
    auto ch = shmlane::Channel::create(name, 4096);
    auto rx = ch.consumer();
    pid_t pid = fork();
    if (pid == 0) {
        execl(peer, peer, "produce", name.c_str(), "5000", "0", static_cast<char *>(nullptr));
        _exit(127);
    }
    std::uint32_t next[1] = {0};
    std::string out;
    shmlane::Record r;
    for (std::uint32_t i = 0; i < count; i++) {
        std::uint32_t ty = 0;
        if (i % 2 == 0) {
            Status s = rx.recv(out, &ty, 20s);
            CHECK(s == Status::ok);
            if (s != Status::ok || !msg_check(reinterpret_cast<const unsigned char *>(out.data()), out.size(), ty,
                                              next, 1))
                break;
        } else {
            Status s = rx.read(r, 20s);
            CHECK(s == Status::ok);
            if (s != Status::ok ||
                !msg_check(reinterpret_cast<const unsigned char *>(r.data()), r.size(), r.type(), next, 1))
                break;
            r.release();
        }
    }
    CHECK(next[0] == count);
    CHECK_S(rx.recv(out, nullptr, 20s), disconnected);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    shmlane::Channel::unlink(name);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    try {
        in_process(std::string(argv[1]) + "-a");
        from_rust(std::string(argv[1]) + "-b", argv[2]);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        failures++;
    }
    if (failures) {
        std::fprintf(stderr, "wrapper: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("wrapper: all checks passed\n");
    return 0;
}
