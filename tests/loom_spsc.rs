//! Loom models of the SPSC ring and of the futex wait/wake protocol.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom_spsc`.
//! Under `--cfg loom` every atomic, fence and cell of the library is loom's,
//! so these models run the production ring code on heap memory and explore
//! every interleaving (bounded by `LOOM_MAX_PREEMPTIONS`). The models are
//! deliberately tiny — capacity 2, two threads, a handful of items — because
//! loom's cost grows exponentially with steps: a capacity-4 ring with 8 items
//! takes minutes, and the interesting interleavings (wrap, full, empty,
//! sleep/wake races) all occur at capacity 2.
//!
//! A lost wake-up (a consumer sleeping on the futex while an element is
//! available and nobody will wake it) appears to loom as a deadlock, which
//! fails the model.
#![cfg(loom)]

use loom::thread;
use shmlane::spsc::channel;
use shmlane::{RecvError, TryRecvError, TrySendError};

/// Non-blocking push/pop with yields: FIFO, no loss, no duplicate, and the
/// slot contents published by `tail` (a Relaxed store there is caught as a
/// data race on the slot cell).
#[test]
fn try_push_try_pop_fifo() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u64>(2).unwrap();
        let p = thread::spawn(move || {
            for i in 0..3u64 {
                let mut v = i;
                loop {
                    match tx.try_push(v) {
                        Ok(()) => break,
                        Err(TrySendError::Full(x)) => {
                            v = x;
                            thread::yield_now();
                        }
                        Err(e) => panic!("{e:?}"),
                    }
                }
            }
        });
        let mut next = 0;
        while next < 3 {
            match rx.try_pop() {
                Ok(v) => {
                    assert_eq!(v, next);
                    next += 1;
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e:?}"),
            }
        }
        p.join().unwrap();
    });
}

/// Blocking push and pop through the futex protocol on both sides (the
/// ring fills and empties): no lost wake-up, FIFO, then a clean disconnect.
#[test]
fn blocking_push_pop_no_lost_wakeup() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u64>(1).unwrap();
        let p = thread::spawn(move || {
            for i in 0..2u64 {
                tx.push(i).unwrap();
            }
        });
        assert_eq!(rx.pop(), Ok(0));
        assert_eq!(rx.pop(), Ok(1));
        assert_eq!(rx.pop(), Err(RecvError::Disconnected));
        p.join().unwrap();
    });
}

/// Zero-copy chunks: a two-slot reservation committed at once, read in
/// place and released; the producer then reuses the released slots.
#[test]
fn chunks_publish_and_release() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u32>(2).unwrap();
        let p = thread::spawn(move || {
            let mut w = loop {
                match tx.reserve(2) {
                    Ok(w) => break w,
                    Err(_) => thread::yield_now(),
                }
            };
            let (a, b) = w.as_mut_slices();
            a[0] = 10;
            if a.len() > 1 {
                a[1] = 11;
            } else {
                b[0] = 11;
            }
            w.commit_all();
            tx.push(12).unwrap();
        });
        let mut seen = Vec::new();
        while seen.len() < 3 {
            match rx.read_chunk(2) {
                Ok(c) => {
                    let (a, b) = c.as_slices();
                    seen.extend(a.iter().chain(b).copied());
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(seen, vec![10, 11, 12]);
        p.join().unwrap();
    });
}

/// A producer that closes right after its last push: the consumer blocked
/// in `pop` gets the element, then `Disconnected`, never a hang.
#[test]
fn close_wakes_blocked_consumer_after_drain() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u64>(2).unwrap();
        let p = thread::spawn(move || {
            tx.push(7).unwrap();
            drop(tx);
        });
        assert_eq!(rx.pop(), Ok(7));
        assert_eq!(rx.pop(), Err(RecvError::Disconnected));
        p.join().unwrap();
    });
}
