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
//! ```
//! Messages follow `tests/c/common.h`: bytes 0..4 the producer id, 4..8 the
//! sequence number (little endian), then a pattern of both; the type word is
//! `seq ^ 0x5A5A0000`. Exit status 0 on success, 1 on a failed check.

use shmlane_core::bytes::Builder;
use shmlane_core::layout::Kind;
use shmlane_core::spsc::{self, RawChannel};
use shmlane_core::{Error, RecvError};
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
