//! The Rust side of the cross-language tests (`ffi/tests/run.sh`), using the
//! shmlane library directly (not the C ABI).
//!
//! ```text
//! shmlane-ffi-peer produce NAME COUNT ID [hang]   open NAME (retrying while it does not exist),
//!                                                 send COUNT messages as producer ID, then close
//!                                                 (or, with `hang`, wait to be killed)
//! shmlane-ffi-peer consume NAME COUNT KIND NPROD  create NAME (kind bytes|mpsc), receive until
//!                                                 every producer closed, check COUNT messages
//!                                                 from each of NPROD producers, unlink
//! shmlane-ffi-peer fixed-consume NAME COUNT       create a fixed-size SPSC ring of 16-byte
//!                                                 elements, pop COUNT (seq, !seq) pairs, unlink
//! shmlane-ffi-peer mpmc-consume NAME COUNT NPROD create a named MPMC ring of 16-byte elements
//!                                                 (Rust type [u64; 2]), receive COUNT from each of
//!                                                 NPROD producers until all closed, unlink
//! shmlane-ffi-peer mpmc-produce NAME COUNT ID     open NAME (retrying), send COUNT elements as
//!                                                 producer ID (in batches), close
//! shmlane-ffi-peer fd-produce KIND FD COUNT       open an anonymous ring (bytes|fixed|mpmc) from the
//!                                                 inherited FD, send COUNT messages, close
//! shmlane-ffi-peer fd-consume KIND FD COUNT       open it from FD, receive and check COUNT messages
//!                                                 (batch reads), then the end of the stream
//! shmlane-ffi-peer bcast-sub KIND NAME COUNT      open the broadcast channel NAME (fixed|bytes,
//!                                                 retrying while it does not exist), subscribe,
//!                                                 receive until the publisher closed and check
//!                                                 (Block: COUNT, in order, intact; Overwrite:
//!                                                 received + lost = COUNT, in order, intact, and
//!                                                 Lagged seen: it waits once, bounded, until the
//!                                                 publisher is a ring ahead)
//! shmlane-ffi-peer bcast-pub KIND NAME COUNT [hang]  open NAME, publish COUNT messages, close (or,
//!                                                 with `hang`, wait to be killed)
//! shmlane-ffi-peer bcast-fd-pub KIND FD COUNT     as bcast-pub on an anonymous channel from an
//!                                                 inherited FD, once a subscriber is attached
//! ```
//! Broadcast elements are `[u64; 4]` (`bcast_elem`, as `tests/c/common.h`'s
//! `bcast_elem`), received as the Rust type (the C side creates the channel
//! with element size 32, alignment 8); broadcast byte messages are those of
//! producer 0 below.
//! Elements of fixed-size rings are `(v, !v)` with `v = id << 32 | seq`.
//! Messages follow `tests/c/common.h`: bytes 0..4 the producer id, 4..8 the
//! sequence number (little endian), then a pattern of both; the type word is
//! `seq ^ 0x5A5A0000`. Exit status 0 on success, 1 on a failed check.

use shmlane_core::broadcast::{self, BytesChannel, Policy};
use shmlane_core::bytes::Builder;
use shmlane_core::layout::Kind;
use shmlane_core::mpmc;
use shmlane_core::spsc::{self, RawChannel};
use shmlane_core::{Error, RecvError};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::exit;
use std::time::{Duration, Instant};

fn msg_len(id: u32, seq: u32) -> usize {
    8 + ((seq as usize * 37 + id as usize * 11) % 300)
}

fn fill(id: u32, seq: u32, out: &mut Vec<u8>) {
    out.clear();
    let n = msg_len(id, seq);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    for k in 8..n {
        out.push((seq.wrapping_mul(31) as usize + k * 7 + id as usize * 13) as u8);
    }
}

fn die(msg: String) -> ! {
    eprintln!("peer: {msg}");
    exit(1)
}

fn arg(i: usize) -> String {
    std::env::args()
        .nth(i)
        .unwrap_or_else(|| die(format!("missing argument {i}")))
}

fn num(i: usize) -> u32 {
    arg(i)
        .parse()
        .unwrap_or_else(|_| die(format!("argument {i} is not a number")))
}

fn main() {
    match arg(1).as_str() {
        "produce" => produce(
            &arg(2),
            num(3),
            num(4),
            std::env::args().nth(5).as_deref() == Some("hang"),
        ),
        "consume" => consume(&arg(2), num(3), &arg(4), num(5)),
        "fixed-consume" => fixed_consume(&arg(2), num(3)),
        "mpmc-consume" => mpmc_consume(&arg(2), num(3), num(4)),
        "mpmc-produce" => mpmc_produce(&arg(2), num(3), num(4)),
        "fd-produce" => fd_produce(&arg(2), num(3), num(4)),
        "fd-consume" => fd_consume(&arg(2), num(3), num(4)),
        "bcast-sub" => bcast_sub(&arg(2), &arg(3), num(4)),
        "bcast-pub" => bcast_pub(
            &arg(2),
            Target::Name(arg(3)),
            num(4),
            std::env::args().nth(5).as_deref() == Some("hang"),
        ),
        "bcast-fd-pub" => bcast_pub(&arg(2), Target::Fd(num(3)), num(4), false),
        other => die(format!("unknown mode {other}")),
    }
}

fn produce(name: &str, count: u32, id: u32, hang: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let ch = loop {
        match Builder::new().open(name) {
            Ok(ch) => break ch,
            Err(Error::NotFound { .. } | Error::NotInitialized { .. }) if Instant::now() < deadline => {
                // Polling for the creator; not synchronising on a result.
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => die(format!("open {name}: {e}")),
        }
    };
    let mut tx = ch.producer().unwrap_or_else(|e| die(format!("attach producer: {e}")));
    let mut buf = Vec::new();
    for seq in 0..count {
        fill(id, seq, &mut buf);
        if seq % 2 == 0 {
            tx.send_with_type(seq ^ 0x5A5A_0000, &buf)
                .unwrap_or_else(|e| die(format!("send {seq}: {e}")));
        } else {
            let mut g = tx.claim(buf.len()).unwrap_or_else(|e| die(format!("claim {seq}: {e}")));
            g.copy_from_slice(&buf);
            g.set_type(seq ^ 0x5A5A_0000);
            g.commit();
        }
    }
    if hang {
        // Wait to be killed by the test (bounded, in case it never comes).
        std::thread::sleep(Duration::from_secs(60));
        die("was not killed".into());
    }
}

fn consume(name: &str, count: u32, kind: &str, nprod: u32) {
    let kind = match kind {
        "bytes" => Kind::Bytes,
        "mpsc" => Kind::BytesMpsc,
        _ => die(format!("unknown kind {kind}")),
    };
    let ch = Builder::new()
        .kind(kind)
        .create(name, 1 << 14)
        .unwrap_or_else(|e| die(format!("create {name}: {e}")));
    let mut rx = ch.consumer().unwrap_or_else(|e| die(format!("attach consumer: {e}")));
    let mut next = vec![0u32; nprod as usize];
    let (mut buf, mut want) = (Vec::new(), Vec::new());
    let mut total = 0u64;
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    let result = loop {
        match rx.recv(&mut buf) {
            Ok(()) => {
                if buf.len() < 8 {
                    break Err(format!("message of {} bytes", buf.len()));
                }
                let id = u32::from_le_bytes(buf[0..4].try_into().unwrap_or_default());
                let seq = u32::from_le_bytes(buf[4..8].try_into().unwrap_or_default());
                let Some(n) = next.get_mut(id as usize) else {
                    break Err(format!("unknown producer id {id}"));
                };
                if seq != *n {
                    break Err(format!("producer {id}: got seq {seq}, expected {n}"));
                }
                fill(id, seq, &mut want);
                if buf != want {
                    break Err(format!("producer {id} seq {seq}: contents differ"));
                }
                *n += 1;
                total += 1;
                // Stop once all arrived: a second producer may attach after the first closed.
                if total == count as u64 * nprod as u64 {
                    break match rx.recv_timeout(&mut buf, Duration::from_secs(20)) {
                        Err(shmlane_core::RecvTimeoutError::Disconnected) => Ok(()),
                        r => Err(format!("after the last message: {r:?}")),
                    };
                }
            }
            // Every producer attached so far has closed, but not all have
            // attached yet (one may finish before the next starts): wait for
            // the rest, within a bound.
            Err(RecvError::Disconnected) if std::time::Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(RecvError::Disconnected) => break Err(format!("disconnected after {total} messages")),
            Err(e) => break Err(format!("recv: {e}")),
        }
    };
    let _ = shmlane_core::segment::unlink(name);
    match result {
        Ok(()) => println!("peer: received {total} messages from {nprod} C producer(s), all intact and in order"),
        Err(e) => die(e),
    }
}

fn fixed_consume(name: &str, count: u32) {
    let raw = RawChannel::create(&spsc::Builder::new(), name, 64, 16, 8)
        .unwrap_or_else(|e| die(format!("create {name}: {e}")));
    let mut rx = raw.consumer().unwrap_or_else(|e| die(format!("attach: {e}")));
    let mut out = [0u8; 16];
    let mut result = Ok(());
    for i in 0..count as u64 {
        if let Err(e) = rx.pop_timeout(&mut out, Some(Duration::from_secs(20))) {
            result = Err(format!("pop {i}: {e}"));
            break;
        }
        let a = u64::from_le_bytes(out[..8].try_into().unwrap_or_default());
        let b = u64::from_le_bytes(out[8..].try_into().unwrap_or_default());
        if a != i || b != !i {
            result = Err(format!("element {i}: got ({a}, {b})"));
            break;
        }
    }
    if result.is_ok() {
        match rx.pop_timeout(&mut out, Some(Duration::from_secs(20))) {
            Err(shmlane_core::RecvTimeoutError::Disconnected) => {}
            r => result = Err(format!("after the last element: {r:?}")),
        }
    }
    let _ = shmlane_core::segment::unlink(name);
    match result {
        Ok(()) => println!("peer: popped {count} fixed-size elements, all intact and in order"),
        Err(e) => die(e),
    }
}

fn elem(id: u32, seq: u32) -> [u64; 2] {
    let v = u64::from(id) << 32 | u64::from(seq);
    [v, !v]
}

fn mpmc_consume(name: &str, count: u32, nprod: u32) {
    let ch = mpmc::Builder::new()
        .capacity(64)
        .create::<[u64; 2]>(name)
        .unwrap_or_else(|e| die(format!("create {name}: {e}")));
    let mut rx = ch.receiver().unwrap_or_else(|e| die(format!("attach: {e}")));
    let mut next = vec![0u32; nprod as usize];
    let mut total = 0u64;
    let mut out = [[0u64; 2]; 16];
    let give_up = Instant::now() + Duration::from_secs(30);
    let result = loop {
        match rx.recv_slice(&mut out) {
            Ok(n) => {
                let mut bad = None;
                for e in &out[..n] {
                    let (id, seq) = ((e[0] >> 32) as u32, e[0] as u32);
                    match next.get_mut(id as usize) {
                        Some(k) if *k == seq && e[1] == !e[0] => *k += 1,
                        _ => bad = Some(format!("element {e:x?} out of order or torn")),
                    }
                }
                if let Some(b) = bad {
                    break Err(b);
                }
                total += n as u64;
                if total == u64::from(count) * u64::from(nprod) {
                    break match rx.recv_timeout(Duration::from_secs(20)) {
                        Err(shmlane_core::RecvTimeoutError::Disconnected) => Ok(()),
                        r => Err(format!("after the last element: {r:?}")),
                    };
                }
            }
            Err(RecvError::Disconnected) if Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => break Err(format!("recv after {total}: {e}")),
        }
    };
    let _ = shmlane_core::segment::unlink(name);
    match result {
        Ok(()) => println!("peer: received {total} MPMC elements from {nprod} producer(s), all in order"),
        Err(e) => die(e),
    }
}

fn mpmc_produce(name: &str, count: u32, id: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let ch = loop {
        match mpmc::Channel::<[u64; 2]>::open(name) {
            Ok(ch) => break ch,
            Err(Error::NotFound { .. } | Error::NotInitialized { .. }) if Instant::now() < deadline => {
                // Polling for the creator; not synchronising on a result.
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => die(format!("open {name}: {e}")),
        }
    };
    let mut tx = ch.sender().unwrap_or_else(|e| die(format!("attach: {e}")));
    let all: Vec<[u64; 2]> = (0..count).map(|s| elem(id, s)).collect();
    for chunk in all.chunks(7) {
        tx.send_slice(chunk).unwrap_or_else(|e| die(format!("send: {e}")));
    }
}

fn inherited(fd: u32) -> OwnedFd {
    // SAFETY: the test passes the number of an fd it left open (without
    // close-on-exec) for this process, which owns it from here on.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

fn fd_produce(kind: &str, fd: u32, count: u32) {
    let fd = inherited(fd);
    match kind {
        "bytes" => {
            let ch = Builder::new()
                .from_fd(fd)
                .unwrap_or_else(|e| die(format!("from_fd: {e}")));
            let mut tx = ch.producer().unwrap_or_else(|e| die(format!("attach: {e}")));
            let mut buf = Vec::new();
            for seq in 0..count {
                fill(0, seq, &mut buf);
                tx.send_with_type(seq ^ 0x5A5A_0000, &buf)
                    .unwrap_or_else(|e| die(format!("send {seq}: {e}")));
            }
        }
        "fixed" => {
            let ch = RawChannel::from_fd(fd, Some(16)).unwrap_or_else(|e| die(format!("from_fd: {e}")));
            let mut tx = ch.producer().unwrap_or_else(|e| die(format!("attach: {e}")));
            for seq in 0..count {
                let e = bytemuck_bytes(elem(0, seq));
                tx.push_timeout(&e, Some(Duration::from_secs(20)))
                    .unwrap_or_else(|e| die(format!("push {seq}: {e}")));
            }
        }
        "mpmc" => {
            let ch = mpmc::Builder::new()
                .from_fd::<[u64; 2]>(fd)
                .unwrap_or_else(|e| die(format!("from_fd: {e}")));
            let mut tx = ch.sender().unwrap_or_else(|e| die(format!("attach: {e}")));
            let all: Vec<[u64; 2]> = (0..count).map(|s| elem(0, s)).collect();
            for chunk in all.chunks(5) {
                tx.send_slice(chunk).unwrap_or_else(|e| die(format!("send: {e}")));
            }
        }
        k => die(format!("unknown kind {k}")),
    }
    println!("peer: sent {count} {kind} messages through an inherited fd");
}

fn bytemuck_bytes(e: [u64; 2]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&e[0].to_le_bytes());
    out[8..].copy_from_slice(&e[1].to_le_bytes());
    out
}

fn fd_consume(kind: &str, fd: u32, count: u32) {
    let fd = inherited(fd);
    let t = Duration::from_secs(20);
    let mut got = 0u32;
    let ok_end = |r: Result<(), String>| r.unwrap_or_else(|e| die(e));
    match kind {
        "bytes" => {
            let ch = Builder::new()
                .from_fd(fd)
                .unwrap_or_else(|e| die(format!("from_fd: {e}")));
            let mut rx = ch.consumer().unwrap_or_else(|e| die(format!("attach: {e}")));
            let mut want = Vec::new();
            while got < count {
                let batch = rx
                    .read_batch_timeout(8, t)
                    .unwrap_or_else(|e| die(format!("read: {e}")));
                for m in &batch {
                    fill(0, got, &mut want);
                    if m.data() != &want[..] || m.msg_type() != got ^ 0x5A5A_0000 {
                        die(format!("message {got} differs"));
                    }
                    got += 1;
                }
            }
            ok_end(match rx.read_timeout(t) {
                Err(shmlane_core::RecvTimeoutError::Disconnected) => Ok(()),
                r => Err(format!("after the last message: {:?}", r.map(|r| r.len()))),
            });
        }
        "fixed" => {
            let ch = RawChannel::from_fd(fd, Some(16)).unwrap_or_else(|e| die(format!("from_fd: {e}")));
            let mut rx = ch.consumer().unwrap_or_else(|e| die(format!("attach: {e}")));
            let mut out = [0u8; 16];
            while got < count {
                rx.pop_timeout(&mut out, Some(t))
                    .unwrap_or_else(|e| die(format!("pop {got}: {e}")));
                if out != bytemuck_bytes(elem(0, got)) {
                    die(format!("element {got} differs"));
                }
                got += 1;
            }
            ok_end(match rx.pop_timeout(&mut out, Some(t)) {
                Err(shmlane_core::RecvTimeoutError::Disconnected) => Ok(()),
                r => Err(format!("after the last element: {r:?}")),
            });
        }
        "mpmc" => {
            let ch = mpmc::Builder::new()
                .from_fd::<[u64; 2]>(fd)
                .unwrap_or_else(|e| die(format!("from_fd: {e}")));
            let mut rx = ch.receiver().unwrap_or_else(|e| die(format!("attach: {e}")));
            let mut out = [[0u64; 2]; 6];
            while got < count {
                let n = rx
                    .recv_slice(&mut out)
                    .unwrap_or_else(|e| die(format!("recv {got}: {e}")));
                for e in &out[..n] {
                    if *e != elem(0, got) {
                        die(format!("element {got} differs: {e:x?}"));
                    }
                    got += 1;
                }
            }
            ok_end(match rx.recv_timeout(t) {
                Err(shmlane_core::RecvTimeoutError::Disconnected) => Ok(()),
                r => Err(format!("after the last element: {r:?}")),
            });
        }
        k => die(format!("unknown kind {k}")),
    }
    println!("peer: received {count} {kind} messages through an inherited fd, in order, then the end");
}

/// Element `seq` of the broadcast tests.
fn bcast_elem(seq: u64) -> [u64; 4] {
    [
        seq,
        !seq,
        seq.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        seq ^ 0xA5A5_A5A5_A5A5_A5A5,
    ]
}

/// Retries `open` while the channel does not exist yet (bounded).
fn open_retrying<T>(name: &str, open: impl Fn() -> Result<T, Error>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open() {
            Ok(ch) => return ch,
            Err(Error::NotFound { .. } | Error::NotInitialized { .. }) if Instant::now() < deadline => {
                // Polling for the creator; not synchronising on a result.
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => die(format!("open {name}: {e}")),
        }
    }
}

/// Waits (bounded) until `published()` reaches `n`: the publisher is a ring
/// ahead of a subscriber that stopped reading, so an Overwrite subscriber
/// is sure to be lapped.
fn wait_published(published: impl Fn() -> u64, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while published() < n {
        if Instant::now() > deadline {
            die(format!("the publisher did not reach {n} messages"));
        }
        // Polling a counter, bounded; not synchronising on a result.
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What a subscriber saw: messages received, lost, and Lagged reports.
#[derive(Default)]
struct Tally {
    received: u64,
    lost: u64,
    lags: u64,
    next: u64,
}

impl Tally {
    /// Checks message `seq` (in order: no duplicate, no reorder; Block: no gap).
    fn got(&mut self, seq: u64, policy: Policy) {
        if seq < self.next || (policy == Policy::Block && seq != self.next) {
            die(format!(
                "message {seq} after {} received (expected {})",
                self.received, self.next
            ));
        }
        self.received += 1;
        self.next = seq + 1;
    }

    fn lagged(&mut self, n: u64, policy: Policy) {
        if policy == Policy::Block {
            die(format!("Lagged({n}) under Block"));
        }
        self.lost += n;
        self.lags += 1;
        self.next += n;
    }

    fn check(&self, count: u32, policy: Policy, what: &str) {
        let count = u64::from(count);
        if self.received + self.lost != count || (policy == Policy::Overwrite && self.lags == 0) {
            die(format!(
                "{what}: received {} + lost {} of {count} ({} Lagged reports)",
                self.received, self.lost, self.lags
            ));
        }
        println!(
            "peer: {what} {policy:?}: received {}, lost {} in {} Lagged reports, of {count}; in order, intact; then Disconnected",
            self.received, self.lost, self.lags
        );
    }
}

fn bcast_sub(kind: &str, name: &str, count: u32) {
    let t = Duration::from_secs(20);
    let mut tally = Tally::default();
    match kind {
        "fixed" => {
            let ch = open_retrying(name, || broadcast::Channel::<[u64; 4]>::open(name));
            let policy = ch.policy();
            let mut rx = ch.subscribe().unwrap_or_else(|e| die(format!("subscribe: {e}")));
            let mut waited = false;
            loop {
                match rx.recv_timeout(t) {
                    Ok(e) => {
                        if e != bcast_elem(e[0]) {
                            die(format!("element torn: {e:x?}"));
                        }
                        tally.got(e[0], policy);
                        if policy == Policy::Overwrite && !waited && tally.lags == 0 {
                            waited = true;
                            wait_published(|| ch.stats().published, tally.next + ch.capacity() as u64 + 1);
                        }
                    }
                    Err(broadcast::RecvTimeoutError::Lagged(n)) => tally.lagged(n, policy),
                    Err(broadcast::RecvTimeoutError::Disconnected) => break,
                    Err(e) => die(format!("recv after {}: {e}", tally.received)),
                }
            }
            tally.check(count, policy, "fixed");
        }
        "bytes" => {
            let ch = open_retrying(name, || BytesChannel::open(name));
            let policy = ch.policy();
            // A record takes at least 24 bytes (16 of header, 8 of payload).
            let ring = ch.capacity() as u64 / 24 + 1;
            let mut rx = ch.subscribe().unwrap_or_else(|e| die(format!("subscribe: {e}")));
            let (mut waited, mut want) = (false, Vec::new());
            loop {
                match rx.read_timeout(t) {
                    Ok(m) => {
                        let seq = m.number();
                        fill(0, seq as u32, &mut want);
                        if m.bytes() != &want[..] || m.ty() != seq as u32 ^ 0x5A5A_0000 {
                            die(format!("message {seq} differs"));
                        }
                        if (m.in_place()) != (policy == Policy::Block) {
                            die(format!("message {seq}: in place {}", m.in_place()));
                        }
                        drop(m);
                        tally.got(seq, policy);
                        if policy == Policy::Overwrite && !waited && tally.lags == 0 {
                            waited = true;
                            wait_published(|| ch.stats().published, tally.next + ring);
                        }
                    }
                    Err(broadcast::RecvTimeoutError::Lagged(n)) => tally.lagged(n, policy),
                    Err(broadcast::RecvTimeoutError::Disconnected) => break,
                    Err(e) => die(format!("read after {}: {e}", tally.received)),
                }
            }
            if rx.lost() != tally.lost || rx.received() != tally.received {
                die("the subscriber's own counts differ".into());
            }
            tally.check(count, policy, "bytes");
        }
        k => die(format!("unknown kind {k}")),
    }
}

enum Target {
    Name(String),
    Fd(u32),
}

fn bcast_pub(kind: &str, target: Target, count: u32, hang: bool) {
    let t = Duration::from_secs(20);
    match kind {
        "fixed" => {
            let b = broadcast::Builder::new();
            let ch = match &target {
                Target::Name(name) => open_retrying(name, || b.open::<[u64; 4]>(name)),
                Target::Fd(fd) => b
                    .from_fd::<[u64; 4]>(inherited(*fd))
                    .unwrap_or_else(|e| die(format!("from_fd: {e}"))),
            };
            if matches!(target, Target::Fd(_)) {
                wait_subscribed(|| ch.stats().subscribers);
            }
            let mut tx = ch.publisher().unwrap_or_else(|e| die(format!("attach: {e}")));
            for seq in 0..u64::from(count) {
                tx.send_timeout(bcast_elem(seq), t)
                    .unwrap_or_else(|e| die(format!("publish {seq}: {e}")));
            }
            if hang {
                hang_until_killed();
            }
        }
        "bytes" => {
            let ch = match &target {
                Target::Name(name) => open_retrying(name, || BytesChannel::open(name)),
                Target::Fd(fd) => broadcast::BytesBuilder::new()
                    .from_fd(inherited(*fd))
                    .unwrap_or_else(|e| die(format!("from_fd: {e}"))),
            };
            if matches!(target, Target::Fd(_)) {
                wait_subscribed(|| ch.stats().subscribers);
            }
            let mut tx = ch.publisher().unwrap_or_else(|e| die(format!("attach: {e}")));
            let mut buf = Vec::new();
            for seq in 0..count {
                fill(0, seq, &mut buf);
                tx.send_timeout_with_type(seq ^ 0x5A5A_0000, &buf, t)
                    .unwrap_or_else(|e| die(format!("send {seq}: {e}")));
            }
            if hang {
                hang_until_killed();
            }
        }
        k => die(format!("unknown kind {k}")),
    }
    println!("peer: published {count} {kind} broadcast messages");
}

fn wait_subscribed(subscribers: impl Fn() -> u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while subscribers() == 0 {
        if Instant::now() > deadline {
            die("no subscriber attached".into());
        }
        // Polling a counter, bounded; not synchronising on a result.
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn hang_until_killed() -> ! {
    // Wait to be killed by the test (bounded, in case it never comes).
    std::thread::sleep(Duration::from_secs(60));
    die("was not killed".into());
}
