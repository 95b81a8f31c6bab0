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
//! ```
//! Elements of fixed-size rings are `(v, !v)` with `v = id << 32 | seq`.
//! Messages follow `tests/c/common.h`: bytes 0..4 the producer id, 4..8 the
//! sequence number (little endian), then a pattern of both; the type word is
//! `seq ^ 0x5A5A0000`. Exit status 0 on success, 1 on a failed check.

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
