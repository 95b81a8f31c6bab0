// shmlane.hpp: header-only C++17 RAII wrapper over the shmlane C ABI.
//
// Error handling (chosen once for the whole wrapper):
//  - Acquiring a resource (Channel::create/open, attach, FixedChannel::...)
//    throws shmlane::Error (a std::system_error whose code() is a
//    std::error_code in shmlane::category(); code().value() is the
//    shmlane_status). Constructors cannot return a status, and a failed
//    setup is exceptional.
//  - The data path (send, claim, commit, recv, read, push, pop) never
//    throws: it returns shmlane::Status, because FULL, EMPTY, TIMEOUT,
//    DISCONNECTED and PEER_DIED are ordinary outcomes of a ring. A Status
//    converts to std::error_code (make_error_code) when wanted.
//
// Handles are move-only and close themselves; Grant and MpmcClaim abort,
// Record, Batch, MpmcElement and BroadcastMessage release on destruction.
// Broadcast (BroadcastChannel, BroadcastPublisher, BroadcastSubscriber):
// Status::lagged is an ordinary outcome too (an Overwrite subscriber fell a
// ring behind; the count missed comes back through `lost`).
// Anonymous rings (Channel::anonymous, FixedChannel::anonymous,
// MpmcChannel::anonymous) give their fd with fd(): a new descriptor without
// close-on-exec that the caller passes to a child or over a unix socket and
// closes; the other process opens it with from_fd (which duplicates it). Threading rules are those of shmlane.h: a
// Producer/Consumer may move between threads but is used by one at a time.
// Timeouts: shmlane::forever (default), shmlane::try_once, or any
// std::chrono duration.
#ifndef SHMLANE_HPP
#define SHMLANE_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "shmlane.h"

namespace shmlane {

/// Mirrors shmlane_status.
enum class Status : int {
    ok = SHMLANE_OK,
    full = SHMLANE_FULL,
    empty = SHMLANE_EMPTY,
    timeout = SHMLANE_TIMEOUT,
    disconnected = SHMLANE_DISCONNECTED,
    peer_died = SHMLANE_PEER_DIED,
    corrupt = SHMLANE_CORRUPT,
    too_large = SHMLANE_TOO_LARGE,
    buffer_too_small = SHMLANE_BUFFER_TOO_SMALL,
    not_found = SHMLANE_NOT_FOUND,
    already_exists = SHMLANE_ALREADY_EXISTS,
    permission_denied = SHMLANE_PERMISSION_DENIED,
    no_space = SHMLANE_NO_SPACE,
    type_mismatch = SHMLANE_TYPE_MISMATCH,
    kind_mismatch = SHMLANE_KIND_MISMATCH,
    abi_mismatch = SHMLANE_ABI_MISMATCH,
    endpoint_busy = SHMLANE_ENDPOINT_BUSY,
    endpoint_table_full = SHMLANE_ENDPOINT_TABLE_FULL,
    not_initialized = SHMLANE_NOT_INITIALIZED,
    invalid_name = SHMLANE_INVALID_NAME,
    invalid_argument = SHMLANE_INVALID_ARGUMENT,
    null_pointer = SHMLANE_NULL_POINTER,
    wrong_state = SHMLANE_WRONG_STATE,
    io = SHMLANE_IO,
    panic = SHMLANE_PANIC,
    lagged = SHMLANE_LAGGED,
};

inline const char *to_string(Status s) noexcept { return shmlane_strerror(static_cast<int>(s)); }

/// The std::error_category of shmlane statuses.
inline const std::error_category &category() noexcept {
    struct Cat final : std::error_category {
        const char *name() const noexcept override { return "shmlane"; }
        std::string message(int v) const override { return shmlane_strerror(v); }
    };
    static const Cat cat;
    return cat;
}

inline std::error_code make_error_code(Status s) noexcept { return {static_cast<int>(s), category()}; }

/// Thrown by the resource-acquiring calls only.
class Error : public std::system_error {
  public:
    explicit Error(Status s, const std::string &what)
        : std::system_error(make_error_code(s), what + ": " + shmlane_last_error_message()), status_(s) {}
    Status status() const noexcept { return status_; }

  private:
    Status status_;
};

using Timeout = std::chrono::nanoseconds;
/// Wait as long as it takes.
inline constexpr Timeout forever{-1};
/// Do not wait.
inline constexpr Timeout try_once{0};

namespace detail {
inline Status st(shmlane_status s) noexcept { return static_cast<Status>(s); }
inline void check(shmlane_status s, const char *what) {
    if (s != SHMLANE_OK) throw Error(st(s), what);
}
template <class T, void (*Close)(T *)> struct Closer {
    void operator()(T *p) const noexcept { Close(p); }
};
template <class T, void (*Close)(T *)> using Handle = std::unique_ptr<T, Closer<T, Close>>;
}  // namespace detail

/// A zero-copy claim: write data(), then commit(); destruction aborts.
class Grant {
  public:
    Grant() = default;
    Grant(Grant &&o) noexcept : p_(std::exchange(o.p_, nullptr)), data_(o.data_), size_(o.size_) {}
    Grant &operator=(Grant &&o) noexcept {
        if (this != &o) {
            abort();
            p_ = std::exchange(o.p_, nullptr);
            data_ = o.data_;
            size_ = o.size_;
        }
        return *this;
    }
    Grant(const Grant &) = delete;
    Grant &operator=(const Grant &) = delete;
    ~Grant() { abort(); }

    explicit operator bool() const noexcept { return p_ != nullptr; }
    std::byte *data() const noexcept { return static_cast<std::byte *>(data_); }
    std::size_t size() const noexcept { return size_; }
    /// Publishes the message with type word `type`.
    Status commit(std::uint32_t type = 0) noexcept {
        if (!p_) return Status::wrong_state;
        return detail::st(shmlane_commit(std::exchange(p_, nullptr), type));
    }
    /// Gives the claim up (no-op when there is none).
    void abort() noexcept {
        if (p_) shmlane_abort(std::exchange(p_, nullptr));
    }

  private:
    friend class Producer;
    shmlane_producer *p_ = nullptr;
    void *data_ = nullptr;
    std::size_t size_ = 0;
};

/// A message read in place; released on destruction (or release()).
class Record {
  public:
    Record() = default;
    Record(Record &&o) noexcept : c_(std::exchange(o.c_, nullptr)), data_(o.data_), size_(o.size_), type_(o.type_) {}
    Record &operator=(Record &&o) noexcept {
        if (this != &o) {
            release();
            c_ = std::exchange(o.c_, nullptr);
            data_ = o.data_;
            size_ = o.size_;
            type_ = o.type_;
        }
        return *this;
    }
    Record(const Record &) = delete;
    Record &operator=(const Record &) = delete;
    ~Record() { release(); }

    explicit operator bool() const noexcept { return c_ != nullptr; }
    const std::byte *data() const noexcept { return static_cast<const std::byte *>(data_); }
    std::size_t size() const noexcept { return size_; }
    std::string_view view() const noexcept { return {static_cast<const char *>(data_), size_}; }
    std::uint32_t type() const noexcept { return type_; }
    void release() noexcept {
        if (c_) shmlane_release(std::exchange(c_, nullptr));
    }

  private:
    friend class Consumer;
    shmlane_consumer *c_ = nullptr;
    const void *data_ = nullptr;
    std::size_t size_ = 0;
    std::uint32_t type_ = 0;
};

/// Several messages read in place with one update of the read index
/// (Consumer::read_batch); all released together on destruction.
class Batch {
  public:
    Batch() = default;
    Batch(Batch &&o) noexcept : c_(std::exchange(o.c_, nullptr)), msgs_(std::move(o.msgs_)) {}
    Batch &operator=(Batch &&o) noexcept {
        if (this != &o) {
            release();
            c_ = std::exchange(o.c_, nullptr);
            msgs_ = std::move(o.msgs_);
        }
        return *this;
    }
    Batch(const Batch &) = delete;
    Batch &operator=(const Batch &) = delete;
    ~Batch() { release(); }

    explicit operator bool() const noexcept { return c_ != nullptr; }
    std::size_t size() const noexcept { return msgs_.size(); }
    const shmlane_msg &operator[](std::size_t i) const noexcept { return msgs_[i]; }
    std::string_view view(std::size_t i) const noexcept {
        return {static_cast<const char *>(msgs_[i].data), msgs_[i].len};
    }
    auto begin() const noexcept { return msgs_.begin(); }
    auto end() const noexcept { return msgs_.end(); }
    void release() noexcept {
        if (c_) shmlane_release(std::exchange(c_, nullptr));
        msgs_.clear();
    }

  private:
    friend class Consumer;
    shmlane_consumer *c_ = nullptr;
    std::vector<shmlane_msg> msgs_;
};

/// Sending side of a byte ring.
class Producer {
  public:
    /// Copies and sends one message. (No defaults here, so that
    /// send("text", 5) picks the string_view overload, type 5.)
    Status send(const void *data, std::size_t len, std::uint32_t type, Timeout t) noexcept {
        return detail::st(shmlane_send(h_.get(), data, len, type, t.count()));
    }
    Status send(std::string_view msg, std::uint32_t type = 0, Timeout t = forever) noexcept {
        return send(msg.data(), msg.size(), type, t);
    }
    /// Claims `len` bytes to write in place; one Grant at a time.
    Status claim(std::size_t len, Grant &out, Timeout t = forever) noexcept {
        out.abort();
        void *p = nullptr;
        Status s = detail::st(shmlane_claim(h_.get(), len, t.count(), &p));
        if (s == Status::ok) {
            out.p_ = h_.get();
            out.data_ = p;
            out.size_ = len;
        }
        return s;
    }
    /// How blocking calls wait (nullptr: the default); wrong_state while a
    /// claim or read in place is held.
    Status set_wait(const shmlane_wait *w) noexcept { return detail::st(shmlane_producer_set_wait(h_.get(), w)); }
    shmlane_producer *native() const noexcept { return h_.get(); }

  private:
    friend class Channel;
    explicit Producer(shmlane_producer *p) : h_(p) {}
    detail::Handle<shmlane_producer, shmlane_producer_close> h_;
};

/// Receiving side of a byte ring.
class Consumer {
  public:
    /// Receives one message by copy into `out` (resized to fit).
    Status recv(std::string &out, std::uint32_t *type = nullptr, Timeout t = forever) {
        if (out.size() < out.capacity()) out.resize(out.capacity());
        for (;;) {
            std::size_t n = 0;
            Status s = detail::st(shmlane_recv(h_.get(), out.data(), out.size(), &n, type, t.count()));
            if (s == Status::buffer_too_small) {
                out.resize(n);  // the message stays at the front: retry
                continue;
            }
            out.resize(s == Status::ok ? n : 0);
            return s;
        }
    }
    /// Reads one message in place; release it (or let it go) before reading on.
    Status read(Record &out, Timeout t = forever) noexcept {
        out.release();
        const void *p = nullptr;
        std::size_t n = 0;
        std::uint32_t ty = 0;
        Status s = detail::st(shmlane_read(h_.get(), &p, &n, &ty, t.count()));
        if (s == Status::ok) {
            out.c_ = h_.get();
            out.data_ = p;
            out.size_ = n;
            out.type_ = ty;
        }
        return s;
    }
    /// Reads up to `max` messages in place with one index update (at least
    /// one); `out` holds them until it is released or destroyed.
    Status read_batch(Batch &out, std::size_t max = 64, Timeout t = forever) {
        out.release();
        out.msgs_.resize(max);
        std::size_t n = 0;
        Status s = detail::st(shmlane_read_batch(h_.get(), out.msgs_.data(), max, &n, t.count()));
        out.msgs_.resize(s == Status::ok ? n : 0);
        if (s == Status::ok) out.c_ = h_.get();
        return s;
    }
    /// How blocking calls wait (nullptr: the default); wrong_state while a
    /// claim or read in place is held.
    Status set_wait(const shmlane_wait *w) noexcept { return detail::st(shmlane_consumer_set_wait(h_.get(), w)); }
    shmlane_consumer *native() const noexcept { return h_.get(); }

  private:
    friend class Channel;
    explicit Consumer(shmlane_consumer *c) : h_(c) {}
    detail::Handle<shmlane_consumer, shmlane_consumer_close> h_;
};

/// A byte ring (SPSC, MPSC or MPMC), not attached.
class Channel {
  public:
    static Channel create(const std::string &name, std::size_t capacity, const shmlane_options *opts = nullptr) {
        shmlane_channel *c = nullptr;
        detail::check(shmlane_channel_create(name.c_str(), capacity, opts, &c), "shmlane_channel_create");
        return Channel(c);
    }
    /// `kind` 0 accepts any byte kind.
    static Channel open(const std::string &name, std::uint32_t kind = 0) {
        shmlane_channel *c = nullptr;
        detail::check(shmlane_channel_open(name.c_str(), kind, &c), "shmlane_channel_open");
        return Channel(c);
    }
    static Status unlink(const std::string &name) noexcept { return detail::st(shmlane_unlink(name.c_str())); }
    /// An anonymous ring (memfd); share it with fd().
    static Channel anonymous(std::size_t capacity, const shmlane_options *opts = nullptr) {
        shmlane_channel *c = nullptr;
        detail::check(shmlane_channel_anonymous(capacity, opts, &c), "shmlane_channel_anonymous");
        return Channel(c);
    }
    /// Opens an anonymous ring from an fd (duplicated: the caller keeps `fd`).
    static Channel from_fd(int fd, std::uint32_t kind = 0) {
        shmlane_channel *c = nullptr;
        detail::check(shmlane_channel_from_fd(fd, kind, &c), "shmlane_channel_from_fd");
        return Channel(c);
    }
    /// A new inheritable fd of an anonymous ring; the caller closes it.
    int fd() const {
        int fd = -1;
        detail::check(shmlane_channel_fd(h_.get(), &fd), "shmlane_channel_fd");
        return fd;
    }

    Producer producer() const {
        shmlane_producer *p = nullptr;
        detail::check(shmlane_producer_attach(h_.get(), &p), "shmlane_producer_attach");
        return Producer(p);
    }
    Consumer consumer() const {
        shmlane_consumer *c = nullptr;
        detail::check(shmlane_consumer_attach(h_.get(), &c), "shmlane_consumer_attach");
        return Consumer(c);
    }
    shmlane_info info() const {
        shmlane_info i{};
        detail::check(shmlane_channel_info(h_.get(), &i), "shmlane_channel_info");
        return i;
    }
    shmlane_stats stats() const {
        shmlane_stats s{};
        detail::check(shmlane_channel_stats(h_.get(), &s), "shmlane_channel_stats");
        return s;
    }
    shmlane_channel *native() const noexcept { return h_.get(); }

  private:
    explicit Channel(shmlane_channel *c) : h_(c) {}
    detail::Handle<shmlane_channel, shmlane_channel_close> h_;
};

/// Producer of a fixed-size SPSC ring.
class FixedProducer {
  public:
    Status push(const void *elem, std::size_t len, Timeout t = forever) noexcept {
        return detail::st(shmlane_fixed_push(h_.get(), elem, len, t.count()));
    }
    template <class T> Status push(const T &v, Timeout t = forever) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");
        return push(&v, sizeof v, t);
    }
    /// Pushes up to `n` elements with one index update (at least one);
    /// `pushed` receives how many.
    template <class T> Status push_batch(const T *elems, std::size_t n, std::size_t &pushed, Timeout t = forever) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");
        return detail::st(shmlane_fixed_push_batch(h_.get(), elems, n, &pushed, t.count()));
    }

    /// How blocking calls wait (nullptr: the default).
    Status set_wait(const shmlane_wait *w) noexcept { return detail::st(shmlane_fixed_producer_set_wait(h_.get(), w)); }

  private:
    friend class FixedChannel;
    explicit FixedProducer(shmlane_fixed_producer *p) : h_(p) {}
    detail::Handle<shmlane_fixed_producer, shmlane_fixed_producer_close> h_;
};

/// Consumer of a fixed-size SPSC ring.
class FixedConsumer {
  public:
    Status pop(void *out, std::size_t cap, Timeout t = forever) noexcept {
        std::size_t n = 0;
        return detail::st(shmlane_fixed_pop(h_.get(), out, cap, &n, t.count()));
    }
    template <class T> Status pop(T &v, Timeout t = forever) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");
        return pop(&v, sizeof v, t);
    }
    /// Pops up to `max` elements with one index update (at least one);
    /// `popped` receives how many.
    template <class T> Status pop_batch(T *out, std::size_t max, std::size_t &popped, Timeout t = forever) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");
        return detail::st(shmlane_fixed_pop_batch(h_.get(), out, max * sizeof(T), &popped, t.count()));
    }

    /// How blocking calls wait (nullptr: the default).
    Status set_wait(const shmlane_wait *w) noexcept { return detail::st(shmlane_fixed_consumer_set_wait(h_.get(), w)); }

  private:
    friend class FixedChannel;
    explicit FixedConsumer(shmlane_fixed_consumer *c) : h_(c) {}
    detail::Handle<shmlane_fixed_consumer, shmlane_fixed_consumer_close> h_;
};

/// A fixed-size SPSC ring (elements known by size and alignment).
class FixedChannel {
  public:
    static FixedChannel create(const std::string &name, std::size_t capacity, std::size_t elem_size,
                               std::size_t elem_align, std::uint32_t mode = 0) {
        shmlane_fixed *f = nullptr;
        detail::check(shmlane_fixed_create(name.c_str(), capacity, elem_size, elem_align, mode, &f),
                      "shmlane_fixed_create");
        return FixedChannel(f);
    }
    template <class T> static FixedChannel create(const std::string &name, std::size_t capacity) {
        return create(name, capacity, sizeof(T), alignof(T));
    }
    /// `elem_size` 0 accepts any element size.
    static FixedChannel open(const std::string &name, std::size_t elem_size = 0) {
        shmlane_fixed *f = nullptr;
        detail::check(shmlane_fixed_open(name.c_str(), elem_size, &f), "shmlane_fixed_open");
        return FixedChannel(f);
    }
    /// An anonymous ring (memfd); share it with fd().
    static FixedChannel anonymous(std::size_t capacity, std::size_t elem_size, std::size_t elem_align) {
        shmlane_fixed *f = nullptr;
        detail::check(shmlane_fixed_anonymous(capacity, elem_size, elem_align, &f), "shmlane_fixed_anonymous");
        return FixedChannel(f);
    }
    template <class T> static FixedChannel anonymous(std::size_t capacity) {
        return anonymous(capacity, sizeof(T), alignof(T));
    }
    /// Opens an anonymous ring from an fd (duplicated: the caller keeps `fd`).
    static FixedChannel from_fd(int fd, std::size_t elem_size = 0) {
        shmlane_fixed *f = nullptr;
        detail::check(shmlane_fixed_from_fd(fd, elem_size, &f), "shmlane_fixed_from_fd");
        return FixedChannel(f);
    }
    /// A new inheritable fd of an anonymous ring; the caller closes it.
    int fd() const {
        int fd = -1;
        detail::check(shmlane_fixed_fd(h_.get(), &fd), "shmlane_fixed_fd");
        return fd;
    }
    FixedProducer producer() const {
        shmlane_fixed_producer *p = nullptr;
        detail::check(shmlane_fixed_producer_attach(h_.get(), &p), "shmlane_fixed_producer_attach");
        return FixedProducer(p);
    }
    FixedConsumer consumer() const {
        shmlane_fixed_consumer *c = nullptr;
        detail::check(shmlane_fixed_consumer_attach(h_.get(), &c), "shmlane_fixed_consumer_attach");
        return FixedConsumer(c);
    }
    shmlane_fixed_stats stats() const {
        shmlane_fixed_stats s{};
        detail::check(shmlane_fixed_stats_get(h_.get(), &s), "shmlane_fixed_stats_get");
        return s;
    }

  private:
    explicit FixedChannel(shmlane_fixed *f) : h_(f) {}
    detail::Handle<shmlane_fixed, shmlane_fixed_close> h_;
};

/// A slot of an MPMC ring claimed to write in place: fill data(), then
/// commit(); destruction aborts (receivers pass over it).
class MpmcClaim {
  public:
    MpmcClaim() = default;
    MpmcClaim(MpmcClaim &&o) noexcept : s_(std::exchange(o.s_, nullptr)), data_(o.data_) {}
    MpmcClaim &operator=(MpmcClaim &&o) noexcept {
        if (this != &o) {
            abort();
            s_ = std::exchange(o.s_, nullptr);
            data_ = o.data_;
        }
        return *this;
    }
    MpmcClaim(const MpmcClaim &) = delete;
    MpmcClaim &operator=(const MpmcClaim &) = delete;
    ~MpmcClaim() { abort(); }

    explicit operator bool() const noexcept { return s_ != nullptr; }
    std::byte *data() const noexcept { return static_cast<std::byte *>(data_); }
    /// The slot as a T (the ring's element size and alignment must fit T).
    template <class T> T &as() const noexcept { return *static_cast<T *>(data_); }
    Status commit() noexcept {
        if (!s_) return Status::wrong_state;
        return detail::st(shmlane_mpmc_commit(std::exchange(s_, nullptr)));
    }
    void abort() noexcept {
        if (s_) shmlane_mpmc_abort(std::exchange(s_, nullptr));
    }

  private:
    friend class MpmcSender;
    shmlane_mpmc_sender *s_ = nullptr;
    void *data_ = nullptr;
};

/// An element of an MPMC ring read in place; released on destruction.
class MpmcElement {
  public:
    MpmcElement() = default;
    MpmcElement(MpmcElement &&o) noexcept : r_(std::exchange(o.r_, nullptr)), data_(o.data_) {}
    MpmcElement &operator=(MpmcElement &&o) noexcept {
        if (this != &o) {
            release();
            r_ = std::exchange(o.r_, nullptr);
            data_ = o.data_;
        }
        return *this;
    }
    MpmcElement(const MpmcElement &) = delete;
    MpmcElement &operator=(const MpmcElement &) = delete;
    ~MpmcElement() { release(); }

    explicit operator bool() const noexcept { return r_ != nullptr; }
    const std::byte *data() const noexcept { return static_cast<const std::byte *>(data_); }
    template <class T> const T &as() const noexcept { return *static_cast<const T *>(data_); }
    void release() noexcept {
        if (r_) shmlane_mpmc_release(std::exchange(r_, nullptr));
    }

  private:
    friend class MpmcReceiver;
    shmlane_mpmc_receiver *r_ = nullptr;
    const void *data_ = nullptr;
};

/// A sender of a fixed-size MPMC ring.
class MpmcSender {
  public:
    Status send(const void *elem, std::size_t len, Timeout t = forever) noexcept {
        return detail::st(shmlane_mpmc_send(h_.get(), elem, len, t.count()));
    }
    template <class T> Status send(const T &v, Timeout t = forever) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");
        return send(&v, sizeof v, t);
    }
    /// Sends up to `n` elements with one claim (at least one); `sent`
    /// receives how many.
    template <class T> Status send_batch(const T *elems, std::size_t n, std::size_t &sent, Timeout t = forever) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");
        return detail::st(shmlane_mpmc_send_batch(h_.get(), elems, n, &sent, t.count()));
    }
    /// Claims a slot to write in place; one claim at a time.
    Status claim(MpmcClaim &out, Timeout t = forever) noexcept {
        out.abort();
        void *p = nullptr;
        Status s = detail::st(shmlane_mpmc_claim(h_.get(), t.count(), &p));
        if (s == Status::ok) {
            out.s_ = h_.get();
            out.data_ = p;
        }
        return s;
    }
    /// How blocking calls wait (nullptr: the default); wrong_state while a
    /// claim or read in place is held.
    Status set_wait(const shmlane_wait *w) noexcept { return detail::st(shmlane_mpmc_sender_set_wait(h_.get(), w)); }
    shmlane_mpmc_sender *native() const noexcept { return h_.get(); }

  private:
    friend class MpmcChannel;
    explicit MpmcSender(shmlane_mpmc_sender *s) : h_(s) {}
    detail::Handle<shmlane_mpmc_sender, shmlane_mpmc_sender_close> h_;
};

/// A receiver of a fixed-size MPMC ring (receivers compete for elements).
class MpmcReceiver {
  public:
    Status recv(void *out, std::size_t cap, Timeout t = forever) noexcept {
        std::size_t n = 0;
        return detail::st(shmlane_mpmc_recv(h_.get(), out, cap, &n, t.count()));
    }
    template <class T> Status recv(T &v, Timeout t = forever) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");
        return recv(&v, sizeof v, t);
    }
    /// Receives up to `max` elements with one claim (at least one);
    /// `received` gets how many.
    template <class T> Status recv_batch(T *out, std::size_t max, std::size_t &received, Timeout t = forever) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");
        return detail::st(shmlane_mpmc_recv_batch(h_.get(), out, max * sizeof(T), &received, t.count()));
    }
    /// Reads the oldest element in place; release it before reading on.
    Status read(MpmcElement &out, Timeout t = forever) noexcept {
        out.release();
        const void *p = nullptr;
        Status s = detail::st(shmlane_mpmc_read(h_.get(), &p, t.count()));
        if (s == Status::ok) {
            out.r_ = h_.get();
            out.data_ = p;
        }
        return s;
    }
    /// How blocking calls wait (nullptr: the default); wrong_state while a
    /// claim or read in place is held.
    Status set_wait(const shmlane_wait *w) noexcept { return detail::st(shmlane_mpmc_receiver_set_wait(h_.get(), w)); }
    shmlane_mpmc_receiver *native() const noexcept { return h_.get(); }

  private:
    friend class MpmcChannel;
    explicit MpmcReceiver(shmlane_mpmc_receiver *r) : h_(r) {}
    detail::Handle<shmlane_mpmc_receiver, shmlane_mpmc_receiver_close> h_;
};

/// A fixed-size MPMC ring (elements known by size and alignment); any
/// number of senders and receivers attach.
class MpmcChannel {
  public:
    static MpmcChannel create(const std::string &name, std::size_t capacity, std::size_t elem_size,
                              std::size_t elem_align, const shmlane_options *opts = nullptr) {
        shmlane_mpmc *m = nullptr;
        detail::check(shmlane_mpmc_create(name.c_str(), capacity, elem_size, elem_align, opts, &m),
                      "shmlane_mpmc_create");
        return MpmcChannel(m);
    }
    template <class T>
    static MpmcChannel create(const std::string &name, std::size_t capacity, const shmlane_options *opts = nullptr) {
        return create(name, capacity, sizeof(T), alignof(T), opts);
    }
    static MpmcChannel anonymous(std::size_t capacity, std::size_t elem_size, std::size_t elem_align,
                                 const shmlane_options *opts = nullptr) {
        shmlane_mpmc *m = nullptr;
        detail::check(shmlane_mpmc_anonymous(capacity, elem_size, elem_align, opts, &m), "shmlane_mpmc_anonymous");
        return MpmcChannel(m);
    }
    template <class T> static MpmcChannel anonymous(std::size_t capacity, const shmlane_options *opts = nullptr) {
        return anonymous(capacity, sizeof(T), alignof(T), opts);
    }
    /// `elem_size` 0 accepts any element size.
    static MpmcChannel open(const std::string &name, std::size_t elem_size = 0) {
        shmlane_mpmc *m = nullptr;
        detail::check(shmlane_mpmc_open(name.c_str(), elem_size, &m), "shmlane_mpmc_open");
        return MpmcChannel(m);
    }
    /// Opens an anonymous ring from an fd (duplicated: the caller keeps `fd`).
    static MpmcChannel from_fd(int fd, std::size_t elem_size = 0) {
        shmlane_mpmc *m = nullptr;
        detail::check(shmlane_mpmc_from_fd(fd, elem_size, &m), "shmlane_mpmc_from_fd");
        return MpmcChannel(m);
    }
    /// A new inheritable fd of an anonymous ring; the caller closes it.
    int fd() const {
        int fd = -1;
        detail::check(shmlane_mpmc_fd(h_.get(), &fd), "shmlane_mpmc_fd");
        return fd;
    }
    MpmcSender sender() const {
        shmlane_mpmc_sender *s = nullptr;
        detail::check(shmlane_mpmc_sender_attach(h_.get(), &s), "shmlane_mpmc_sender_attach");
        return MpmcSender(s);
    }
    MpmcReceiver receiver() const {
        shmlane_mpmc_receiver *r = nullptr;
        detail::check(shmlane_mpmc_receiver_attach(h_.get(), &r), "shmlane_mpmc_receiver_attach");
        return MpmcReceiver(r);
    }
    std::size_t elem_size() const {
        std::size_t e = 0;
        detail::check(shmlane_mpmc_info(h_.get(), &e, nullptr), "shmlane_mpmc_info");
        return e;
    }
    shmlane_mpmc_stats stats() const {
        shmlane_mpmc_stats s{};
        detail::check(shmlane_mpmc_stats_get(h_.get(), &s), "shmlane_mpmc_stats_get");
        return s;
    }
    shmlane_mpmc *native() const noexcept { return h_.get(); }

  private:
    explicit MpmcChannel(shmlane_mpmc *m) : h_(m) {}
    detail::Handle<shmlane_mpmc, shmlane_mpmc_close> h_;
};

/// A broadcast message read by BroadcastSubscriber::read: in place under
/// Block (in_place()), a validated copy owned by the subscriber under
/// Overwrite; released (the subscriber moves past it) on destruction.
class BroadcastMessage {
  public:
    BroadcastMessage() = default;
    BroadcastMessage(BroadcastMessage &&o) noexcept : s_(std::exchange(o.s_, nullptr)), m_(o.m_) {}
    BroadcastMessage &operator=(BroadcastMessage &&o) noexcept {
        if (this != &o) {
            release();
            s_ = std::exchange(o.s_, nullptr);
            m_ = o.m_;
        }
        return *this;
    }
    BroadcastMessage(const BroadcastMessage &) = delete;
    BroadcastMessage &operator=(const BroadcastMessage &) = delete;
    ~BroadcastMessage() { release(); }

    explicit operator bool() const noexcept { return s_ != nullptr; }
    const std::byte *data() const noexcept { return static_cast<const std::byte *>(m_.data); }
    std::size_t size() const noexcept { return m_.len; }
    std::string_view view() const noexcept { return {static_cast<const char *>(m_.data), m_.len}; }
    /// The element as a T (the channel's element size must be sizeof(T)).
    template <class T> const T &as() const noexcept { return *static_cast<const T *>(m_.data); }
    /// Byte messages: the sender's type word (0 for elements).
    std::uint32_t type() const noexcept { return m_.msg_type; }
    /// Messages published before this one.
    std::uint64_t number() const noexcept { return m_.number; }
    bool in_place() const noexcept { return m_.in_place != 0; }
    void release() noexcept {
        if (s_) shmlane_bcast_release(std::exchange(s_, nullptr));
    }

  private:
    friend class BroadcastSubscriber;
    shmlane_bcast_subscriber *s_ = nullptr;
    shmlane_bcast_msg m_{};
};

/// The publisher of a broadcast channel: publish() for fixed-size
/// elements, send() for byte messages (the other is Status::kind_mismatch).
class BroadcastPublisher {
  public:
    Status publish(const void *elem, std::size_t len, Timeout t = forever) noexcept {
        return detail::st(shmlane_bcast_publish(h_.get(), elem, len, t.count()));
    }
    template <class T> Status publish(const T &v, Timeout t = forever) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");
        return publish(&v, sizeof v, t);
    }
    /// Publishes up to `n` elements with one tail update (at least one);
    /// `published` receives how many.
    template <class T>
    Status publish_batch(const T *elems, std::size_t n, std::size_t &published, Timeout t = forever) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");
        return detail::st(shmlane_bcast_publish_batch(h_.get(), elems, n, &published, t.count()));
    }
    /// Byte messages: copies and publishes one with type word `type`.
    Status send(const void *data, std::size_t len, std::uint32_t type, Timeout t) noexcept {
        return detail::st(shmlane_bcast_send(h_.get(), data, len, type, t.count()));
    }
    Status send(std::string_view msg, std::uint32_t type = 0, Timeout t = forever) noexcept {
        return send(msg.data(), msg.size(), type, t);
    }
    /// How blocking calls wait (nullptr: the default).
    Status set_wait(const shmlane_wait *w) noexcept { return detail::st(shmlane_bcast_publisher_set_wait(h_.get(), w)); }
    shmlane_bcast_publisher *native() const noexcept { return h_.get(); }

  private:
    friend class BroadcastChannel;
    explicit BroadcastPublisher(shmlane_bcast_publisher *p) : h_(p) {}
    detail::Handle<shmlane_bcast_publisher, shmlane_bcast_publisher_close> h_;
};

/// A subscriber of a broadcast channel. Every receive may return
/// Status::lagged (nothing received; `*lost`, when given, is the number
/// missed; the next receive returns the oldest message still in the ring).
class BroadcastSubscriber {
  public:
    /// Copies the next element into `out` (`cap` bytes); `len` gets its size.
    Status recv(void *out, std::size_t cap, std::size_t &len, std::uint64_t *lost = nullptr,
                Timeout t = forever) noexcept {
        return detail::st(shmlane_bcast_recv(h_.get(), out, cap, &len, nullptr, lost, t.count()));
    }
    template <class T> Status recv(T &v, std::uint64_t *lost = nullptr, Timeout t = forever) noexcept {
        static_assert(std::is_trivially_copyable_v<T>, "elements are copied as bytes");
        std::size_t n = 0;
        return recv(&v, sizeof v, n, lost, t);
    }
    /// Byte messages: copies the next one into `out` (resized to fit).
    Status recv(std::string &out, std::uint32_t *type = nullptr, std::uint64_t *lost = nullptr,
                Timeout t = forever) {
        if (out.size() < out.capacity()) out.resize(out.capacity());
        for (;;) {
            std::size_t n = 0;
            Status s = detail::st(shmlane_bcast_recv(h_.get(), out.data(), out.size(), &n, type, lost, t.count()));
            if (s == Status::buffer_too_small) {
                out.resize(n);  // the message stays held: retry
                continue;
            }
            out.resize(s == Status::ok ? n : 0);
            return s;
        }
    }
    /// Reads the next message without copying it out; release it (or let
    /// it go) before reading on.
    Status read(BroadcastMessage &out, std::uint64_t *lost = nullptr, Timeout t = forever) noexcept {
        out.release();
        shmlane_bcast_msg m{};
        Status s = detail::st(shmlane_bcast_read(h_.get(), &m, lost, t.count()));
        if (s == Status::ok) {
            out.s_ = h_.get();
            out.m_ = m;
        }
        return s;
    }
    /// How blocking calls wait (nullptr: the default); wrong_state while a
    /// message read in place is held.
    Status set_wait(const shmlane_wait *w) noexcept {
        return detail::st(shmlane_bcast_subscriber_set_wait(h_.get(), w));
    }
    shmlane_bcast_subscriber *native() const noexcept { return h_.get(); }

  private:
    friend class BroadcastChannel;
    explicit BroadcastSubscriber(shmlane_bcast_subscriber *s) : h_(s) {}
    detail::Handle<shmlane_bcast_subscriber, shmlane_bcast_subscriber_close> h_;
};

/// A broadcast channel (publish-subscribe) of fixed-size elements or of
/// byte messages, not attached: one publisher, many subscribers, each
/// receiving every message. The policy (Block or Overwrite) is in
/// shmlane_bcast_options.
class BroadcastChannel {
  public:
    static BroadcastChannel create(const std::string &name, std::size_t capacity, std::size_t elem_size,
                                   std::size_t elem_align, const shmlane_bcast_options *opts = nullptr) {
        shmlane_bcast *c = nullptr;
        detail::check(shmlane_bcast_create(name.c_str(), capacity, elem_size, elem_align, opts, &c),
                      "shmlane_bcast_create");
        return BroadcastChannel(c);
    }
    template <class T>
    static BroadcastChannel create(const std::string &name, std::size_t capacity,
                                   const shmlane_bcast_options *opts = nullptr) {
        return create(name, capacity, sizeof(T), alignof(T), opts);
    }
    /// Byte messages in a `capacity`-byte record area.
    static BroadcastChannel create_bytes(const std::string &name, std::size_t capacity,
                                         const shmlane_bcast_options *opts = nullptr) {
        shmlane_bcast *c = nullptr;
        detail::check(shmlane_bcast_bytes_create(name.c_str(), capacity, opts, &c), "shmlane_bcast_bytes_create");
        return BroadcastChannel(c);
    }
    /// An anonymous channel (memfd); share it with fd().
    static BroadcastChannel anonymous(std::size_t capacity, std::size_t elem_size, std::size_t elem_align,
                                      const shmlane_bcast_options *opts = nullptr) {
        shmlane_bcast *c = nullptr;
        detail::check(shmlane_bcast_anonymous(capacity, elem_size, elem_align, opts, &c), "shmlane_bcast_anonymous");
        return BroadcastChannel(c);
    }
    template <class T>
    static BroadcastChannel anonymous(std::size_t capacity, const shmlane_bcast_options *opts = nullptr) {
        return anonymous(capacity, sizeof(T), alignof(T), opts);
    }
    static BroadcastChannel anonymous_bytes(std::size_t capacity, const shmlane_bcast_options *opts = nullptr) {
        shmlane_bcast *c = nullptr;
        detail::check(shmlane_bcast_bytes_anonymous(capacity, opts, &c), "shmlane_bcast_bytes_anonymous");
        return BroadcastChannel(c);
    }
    /// `kind` 0 accepts either broadcast kind; `elem_size` 0 any size.
    static BroadcastChannel open(const std::string &name, std::uint32_t kind = 0, std::size_t elem_size = 0) {
        shmlane_bcast *c = nullptr;
        detail::check(shmlane_bcast_open(name.c_str(), kind, elem_size, &c), "shmlane_bcast_open");
        return BroadcastChannel(c);
    }
    /// Opens an anonymous channel from an fd (duplicated: the caller keeps `fd`).
    static BroadcastChannel from_fd(int fd, std::uint32_t kind = 0, std::size_t elem_size = 0) {
        shmlane_bcast *c = nullptr;
        detail::check(shmlane_bcast_from_fd(fd, kind, elem_size, &c), "shmlane_bcast_from_fd");
        return BroadcastChannel(c);
    }
    static Status unlink(const std::string &name) noexcept { return detail::st(shmlane_unlink(name.c_str())); }
    /// A new inheritable fd of an anonymous channel; the caller closes it.
    int fd() const {
        int fd = -1;
        detail::check(shmlane_bcast_fd(h_.get(), &fd), "shmlane_bcast_fd");
        return fd;
    }
    BroadcastPublisher publisher() const {
        shmlane_bcast_publisher *p = nullptr;
        detail::check(shmlane_bcast_publisher_attach(h_.get(), &p), "shmlane_bcast_publisher_attach");
        return BroadcastPublisher(p);
    }
    /// A subscriber from the newest message (or the oldest still in the ring).
    BroadcastSubscriber subscribe(bool from_oldest = false) const {
        shmlane_bcast_subscriber *s = nullptr;
        detail::check(shmlane_bcast_subscribe(h_.get(), from_oldest ? SHMLANE_BCAST_FROM_OLDEST : SHMLANE_BCAST_FROM_NEWEST,
                                              &s),
                      "shmlane_bcast_subscribe");
        return BroadcastSubscriber(s);
    }
    shmlane_bcast_info info() const {
        shmlane_bcast_info i{};
        detail::check(shmlane_bcast_info_get(h_.get(), &i), "shmlane_bcast_info_get");
        return i;
    }
    shmlane_bcast_stats stats() const {
        shmlane_bcast_stats s{};
        detail::check(shmlane_bcast_stats_get(h_.get(), &s), "shmlane_bcast_stats_get");
        return s;
    }
    /// Position, lag and losses of every attached subscriber.
    std::vector<shmlane_bcast_subscriber_stats> subscribers() const {
        std::vector<shmlane_bcast_subscriber_stats> v(8);
        for (;;) {
            std::size_t n = 0;
            detail::check(shmlane_bcast_subscribers_get(h_.get(), v.data(), v.size(), &n),
                          "shmlane_bcast_subscribers_get");
            if (n <= v.size()) {
                v.resize(n);
                return v;
            }
            v.resize(n);  // more attached meanwhile: ask again
        }
    }
    shmlane_bcast *native() const noexcept { return h_.get(); }

  private:
    explicit BroadcastChannel(shmlane_bcast *c) : h_(c) {}
    detail::Handle<shmlane_bcast, shmlane_bcast_close> h_;
};

}  // namespace shmlane

namespace std {
template <> struct is_error_code_enum<shmlane::Status> : true_type {};
}  // namespace std

#endif  // SHMLANE_HPP
