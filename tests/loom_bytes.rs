//! Loom models of the byte rings' framing: SPSC, MPSC and MPMC
//! publication, wrap-around with a padding record (and with the implicit
//! 8-byte gap), aborted claims turned into padding, a dead producer's
//! claim skipped by the consumer, and for MPMC competing consumers taking
//! one record each and releasing out of order (the done-marker / head
//! handshake), and held commits handed over by a flush or by a claim that
//! finds the ring full.
//!
//! The models use the public API on in-process rings (loom atomics replace
//! the real ones under `--cfg loom`; payload bytes are shadowed by loom
//! cells, so a payload read that is not ordered after its write is a
//! reported race). They are tiny on purpose: a 64- or 128-byte area, two
//! or three threads, two to four records; producers come back through
//! `join` so that their detach is not explored. Each model finishes in a
//! few seconds at `LOOM_MAX_PREEMPTIONS=2`, and in under 15 s at 3. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test loom_bytes`.

#![cfg(loom)]

use loom::thread;
use shmlane::bytes::Builder;
use shmlane::layout::Kind;
use std::time::Duration;

fn payload(i: u8, len: usize) -> Vec<u8> {
    (0..len).map(|k| i.wrapping_mul(16).wrapping_add(k as u8)).collect()
}

/// Three 8-byte messages (24-byte records) in a 64-byte area: the third
/// does not fit in the 16 bytes left at the end, so a padding record goes
/// there and the message starts the next lap.
fn wrap_with_padding(kind: Kind) {
    loom::model(move || {
        let ch = Builder::new()
            .kind(kind)
            .endpoints(2)
            .max_message(16)
            .in_process(64)
            .unwrap();
        let mut tx = ch.producer().unwrap();
        let mut rx = ch.consumer().unwrap();
        let t = thread::spawn(move || {
            for i in 1..=3u8 {
                tx.send_with_type(u32::from(i), &payload(i, 8)).unwrap();
            }
            tx
        });
        for i in 1..=3u8 {
            let r = rx.read().unwrap();
            assert_eq!((&r[..], r.msg_type()), (&payload(i, 8)[..], u32::from(i)));
        }
        drop(t.join().unwrap());
        assert!(rx.read().is_err(), "disconnected after the producer left");
    });
}

#[test]
fn spsc_wrap_with_padding() {
    wrap_with_padding(Kind::Bytes);
}

#[test]
fn mpsc_wrap_with_padding() {
    wrap_with_padding(Kind::BytesMpsc);
}

#[test]
fn mpmc_wrap_with_padding() {
    wrap_with_padding(Kind::BytesMpmc);
}

/// A claim given up between two messages must never reach the consumer.
/// From position 40, the 32-byte claim does not fit in the 24 bytes left:
/// MPSC turns padding and claim into two padding records the consumer
/// skips (the next message then lands in the next lap); SPSC publishes
/// nothing and reuses the space.
fn abort_then_send(kind: Kind) {
    loom::model(move || {
        let ch = Builder::new()
            .kind(kind)
            .endpoints(2)
            .max_message(16)
            .in_process(64)
            .unwrap();
        let mut tx = ch.producer().unwrap();
        let mut rx = ch.consumer().unwrap();
        tx.send(&payload(0, 8)).unwrap(); // [0, 24)
        tx.send(&[]).unwrap(); // [24, 40)
        drop(rx.try_read_batch(2).unwrap());
        let t = thread::spawn(move || {
            let mut g = tx.claim(16).unwrap();
            g.copy_from_slice(&payload(9, 16));
            g.abort();
            tx.send(&payload(1, 8)).unwrap();
            tx
        });
        let r = rx.read().unwrap();
        assert_eq!(&r[..], &payload(1, 8)[..]);
        drop(r);
        drop(t.join().unwrap());
    });
}

#[test]
fn spsc_abort_then_send() {
    abort_then_send(Kind::Bytes);
}

#[test]
fn mpsc_abort_then_send() {
    abort_then_send(Kind::BytesMpsc);
}

/// 16- and 8-byte messages (32 + 24 bytes) leave exactly 8 bytes at the
/// end of a 64-byte area: no header fits, both sides skip them.
fn implicit_gap(kind: Kind) {
    loom::model(move || {
        let ch = Builder::new()
            .kind(kind)
            .endpoints(2)
            .max_message(16)
            .in_process(64)
            .unwrap();
        let mut tx = ch.producer().unwrap();
        let mut rx = ch.consumer().unwrap();
        let t = thread::spawn(move || {
            tx.send(&payload(1, 16)).unwrap();
            tx.send(&payload(2, 8)).unwrap();
            tx.send(&payload(3, 16)).unwrap();
            tx
        });
        let mut buf = Vec::new();
        for (i, len) in [(1u8, 16), (2, 8), (3, 16)] {
            rx.recv(&mut buf).unwrap();
            assert_eq!(buf, payload(i, len));
        }
        drop(t.join().unwrap());
    });
}

#[test]
fn spsc_implicit_gap() {
    implicit_gap(Kind::Bytes);
}

#[test]
fn mpsc_implicit_gap() {
    implicit_gap(Kind::BytesMpsc);
}

/// Two producers race for the claim index of a 64-byte area; the consumer
/// batch-reads. Each message arrives once, intact.
#[test]
fn mpsc_two_producers_batch_read() {
    loom::model(|| {
        let ch = Builder::new()
            .kind(Kind::BytesMpsc)
            .endpoints(3)
            .max_message(16)
            .in_process(64)
            .unwrap();
        let mut rx = ch.consumer().unwrap();
        let handles: Vec<_> = (1..=2u8)
            .map(|p| {
                let mut tx = ch.producer().unwrap();
                // The producer comes back through join: its detach is not
                // part of what this model explores.
                thread::spawn(move || {
                    tx.send(&payload(p, 8)).unwrap();
                    tx
                })
            })
            .collect();
        let mut seen = [false; 2];
        let mut got = 0;
        while got < 2 {
            let batch = rx.read_batch(4).unwrap();
            for r in &batch {
                let p = (r[0] / 16) as usize;
                assert!((1..=2).contains(&p), "garbage record {:?}", &r[..]);
                assert_eq!(r.data(), &payload(p as u8, 8)[..]);
                assert!(!seen[p - 1], "duplicate");
                seen[p - 1] = true;
                got += 1;
            }
        }
        for h in handles {
            drop(h.join().unwrap());
        }
    });
}

/// A producer dies between claim and commit (wrapping claim: padding and
/// record both unpublished); another producer sends after it. With a zero
/// stall timeout (no time under loom) the consumer skips the dead claim,
/// never delivers it, and delivers the other message.
fn dead_claim_is_skipped(kind: Kind) {
    loom::model(move || {
        let ch = Builder::new()
            .kind(kind)
            .endpoints(3)
            .max_message(48)
            .stall_timeout(Duration::ZERO)
            .in_process(128)
            .unwrap();
        let mut rx = ch.consumer().unwrap();
        let mut a = ch.producer().unwrap();
        let mut b = ch.producer().unwrap();
        // Move the indices to 112 so that the dead claim wraps (a 16-byte
        // padding record, then the record), and b still finds room.
        a.send(&payload(0, 48)).unwrap();
        a.send(&payload(0, 32)).unwrap();
        drop(rx.try_read_batch(2).unwrap());
        let t = thread::spawn(move || {
            let mut g = a.claim(16).unwrap();
            g.copy_from_slice(&payload(7, 16));
            g.__crash();
            b.send(&payload(2, 8)).unwrap();
        });
        let r = rx.read().unwrap();
        assert_eq!(&r[..], &payload(2, 8)[..]);
        drop(r);
        t.join().unwrap();
        assert_eq!(ch.stats().lost, 1);
    });
}

#[test]
fn mpsc_dead_claim_is_skipped() {
    dead_claim_is_skipped(Kind::BytesMpsc);
}

#[test]
fn mpmc_dead_claim_is_skipped() {
    dead_claim_is_skipped(Kind::BytesMpmc);
}

/// MPMC: two consumers compete for two published records; each takes one
/// (a consumer that finds the other mid-take waits and is woken), and
/// neither record is delivered twice.
#[test]
fn mpmc_two_consumers_take_one_each() {
    loom::model(|| {
        let ch = Builder::new()
            .kind(Kind::BytesMpmc)
            .endpoints(3)
            .max_message(16)
            .in_process(64)
            .unwrap();
        let mut tx = ch.producer().unwrap();
        tx.send(&payload(1, 8)).unwrap();
        tx.send(&payload(2, 8)).unwrap();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mut rx = ch.consumer().unwrap();
                thread::spawn(move || {
                    let first = rx.read().unwrap()[0];
                    (first, rx)
                })
            })
            .collect();
        let mut got: Vec<u8> = handles
            .into_iter()
            .map(|h| {
                let (first, rx) = h.join().unwrap();
                drop(rx);
                first / 16
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert_eq!(ch.stats().head, 48, "both released: head passed both");
    });
}

/// MPMC: two consumers hold one record each and release them in any
/// order; the release that comes second (in whatever interleaving) must
/// move `head` past both (the SeqCst done-marker / head handshake), so
/// that a message needing that room fits afterwards.
#[test]
fn mpmc_out_of_order_release_frees_the_space() {
    loom::model(|| {
        let ch = Builder::new()
            .kind(Kind::BytesMpmc)
            .endpoints(3)
            .max_message(16)
            .in_process(64)
            .unwrap();
        let mut tx = ch.producer().unwrap();
        let mut a = ch.consumer().unwrap();
        let mut b = ch.consumer().unwrap();
        tx.send(&payload(1, 8)).unwrap(); // [0, 24)
        tx.send(&payload(2, 8)).unwrap(); // [24, 48)
        let ra = a.try_read().unwrap();
        assert_eq!(ra[0], 16);
        let t = thread::spawn(move || {
            drop(b.try_read().unwrap());
            b
        });
        drop(ra); // concurrently with b's take and release
        let b = t.join().unwrap();
        // The third message wraps: [48, 64) padding + [64, 88): needs head >= 24.
        tx.try_send(&payload(3, 8)).expect("room after both releases");
        drop((a, b));
    });
}

/// Held commits (`Grant::commit_held`): two 8-byte messages (24-byte
/// records) are held, then a third does not fit in the 64-byte area, so
/// the blocking claim must hand the held ones over (and wake the consumer)
/// before it waits; the last is handed over by an explicit flush. The
/// consumer blocks throughout: a lost hand-off or wake-up is a deadlock
/// loom reports, a payload read before its write a race.
fn held_commits(kind: Kind) {
    loom::model(move || {
        let ch = Builder::new()
            .kind(kind)
            .endpoints(2)
            .max_message(16)
            .in_process(64)
            .unwrap();
        let mut tx = ch.producer().unwrap();
        let mut rx = ch.consumer().unwrap();
        let t = thread::spawn(move || {
            for i in 1..=3u8 {
                let mut g = tx.claim(8).unwrap();
                g.copy_from_slice(&payload(i, 8));
                g.commit_held();
            }
            tx.flush();
            tx
        });
        for i in 1..=3u8 {
            let r = rx.read().unwrap();
            assert_eq!(&r[..], &payload(i, 8)[..]);
        }
        drop(t.join().unwrap());
    });
}

#[test]
fn spsc_held_commits() {
    held_commits(Kind::Bytes);
}

#[test]
fn mpsc_held_commits() {
    held_commits(Kind::BytesMpsc);
}
