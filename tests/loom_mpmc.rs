//! loom models of the MPMC ring (`src/mpmc.rs`) on in-process channels.
//!
//! What they prove, for every interleaving loom explores (bounded by
//! `LOOM_MAX_PREEMPTIONS`): with two producers, or two consumers, every
//! element is delivered exactly once and in per-producer order, the element
//! reads see the writes (no data race on a slot: loom checks every access
//! to the slot cells), and nobody sleeps through a wake-up (a lost wake-up
//! is a deadlock loom reports). The crash models prove that a claim of a
//! dead producer is skipped and counted, that a late commit and the skip
//! cannot both succeed (the element is delivered iff the commit succeeded),
//! and that a slot held by a dead consumer is freed for producers. The
//! deferred-release models prove that a producer completing a receiver's
//! deferred releases (a CAS on the range's `lo`) and the receiver releasing
//! the same range free each slot exactly once, after its read, and that a
//! dead receiver's range is freed without loss. Under loom a receiver
//! releases its range every 2 positions instead of 16, so the range is
//! extended, taken and released within the models' few operations.
//!
//! Why so small: the state space grows exponentially with the number of
//! operations, and each send or receive is about ten atomic operations.
//! Capacity 2 forces the wrap-around and full/empty paths with few items.
//! Under loom there is no time: every stall has expired and every poll
//! checks liveness (see `Pacer` in `src/mpmc.rs`); "death" is simulated by
//! giving the endpoint the owner token of a dead process with our pid.
//!
//! The models with two threads racing on the same index (two producers,
//! two consumers, batch against single), the batches across the wrap and
//! the dead producer's skip run with at most two preemptions whatever
//! `LOOM_MAX_PREEMPTIONS` says: they take 5-60 s at 2 and from minutes to
//! more than a quarter of an hour at 3 (CI runs the loom suite at 3). The
//! other models follow `LOOM_MAX_PREEMPTIONS`.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test loom_mpmc`
#![cfg(loom)]

use loom::thread;
use shmlane::mpmc::{Builder, Channel};
use shmlane::{RecvError, TryRecvError};

/// `loom::model` with at most `max` preemptions (fewer if
/// `LOOM_MAX_PREEMPTIONS` asks for fewer).
fn model_at_most<F: Fn() + Sync + Send + 'static>(max: usize, f: F) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(b.preemption_bound.map_or(max, |p| p.min(max)));
    b.check(f);
}

fn ring(cap: usize) -> Channel<u32> {
    Builder::new().capacity(cap).endpoints(4).in_process().unwrap()
}

/// A ring for models of dead peers: liveness checked on every poll.
fn crash_ring(cap: usize) -> Channel<u32> {
    Builder::new()
        .capacity(cap)
        .endpoints(4)
        .__check_every_poll()
        .in_process()
        .unwrap()
}

/// Checks per-producer order (value = producer * 100 + sequence) and
/// returns the values sorted.
fn check_order(got: &[u32]) -> Vec<u32> {
    for p in 0..4 {
        let mine: Vec<u32> = got.iter().copied().filter(|v| v / 100 == p).collect();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "producer {p} out of order: {got:?}"
        );
    }
    let mut all = got.to_vec();
    all.sort_unstable();
    all
}

/// Receives until `Disconnected`.
fn drain(rx: &mut shmlane::mpmc::Receiver<u32>) -> Vec<u32> {
    let mut got = Vec::new();
    loop {
        match rx.recv() {
            Ok(v) => got.push(v),
            Err(e) => {
                assert_eq!(e, RecvError::Disconnected);
                return got;
            }
        }
    }
}

/// Two producers race for positions 1 and 2 (slot 1, then slot 0 on its
/// second lap: the wrap-around and the `seq = p + cap` hand-over).
#[test]
fn two_producers_one_consumer() {
    model_at_most(2, || {
        let ch = ring(2);
        let mut rx = ch.receiver().unwrap();
        {
            let mut tx = ch.sender().unwrap();
            tx.send(7).unwrap();
            assert_eq!(rx.recv(), Ok(7));
        }
        let producers: Vec<_> = (0..2u32)
            .map(|p| {
                let mut tx = ch.sender().unwrap();
                thread::spawn(move || tx.send(p * 100).unwrap())
            })
            .collect();
        let got = drain(&mut rx);
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(check_order(&got), vec![0, 100]);
    });
}

/// Two consumers race for positions 0 and 1.
#[test]
fn one_producer_two_consumers() {
    model_at_most(2, || {
        let ch = ring(2);
        let mut tx = ch.sender().unwrap();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let mut rx = ch.receiver().unwrap();
                thread::spawn(move || drain(&mut rx))
            })
            .collect();
        for i in 0..2 {
            tx.send(i).unwrap();
        }
        drop(tx);
        let mut all = Vec::new();
        for c in consumers {
            let got = c.join().unwrap();
            check_order(&got);
            all.extend(got);
        }
        all.sort_unstable();
        assert_eq!(all, vec![0, 1]);
        assert_eq!(ch.stats().received, 2);
    });
}

/// A full ring: the producer sleeps on `not_full` and must be woken.
#[test]
fn full_ring_blocks_and_wakes() {
    loom::model(|| {
        let ch = ring(2);
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        let t = thread::spawn(move || drain(&mut rx));
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert_eq!(t.join().unwrap(), vec![0, 1, 2]);
    });
}

/// A batch claim (one CAS for three positions) races a single send.
#[test]
fn batch_send_and_receive() {
    model_at_most(2, || {
        let ch = ring(4);
        let mut rx = ch.receiver().unwrap();
        let mut a = ch.sender().unwrap();
        let mut b = ch.sender().unwrap();
        let ta = thread::spawn(move || a.send_slice(&[0, 1, 2]).unwrap());
        let tb = thread::spawn(move || b.send(100).unwrap());
        let mut got = Vec::new();
        let mut buf = [0u32; 4];
        while let Ok(n) = rx.recv_slice(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        ta.join().unwrap();
        tb.join().unwrap();
        assert_eq!(check_order(&got), vec![0, 1, 2, 100]);
    });
}

/// Batches across the wrap, one producer and one consumer: the producer
/// commits each batch from its last slot to its first and waits for slots
/// the consumer releases the same way, lap after lap.
#[test]
fn batches_wrap_around() {
    model_at_most(2, || {
        let ch = ring(2);
        let mut rx = ch.receiver().unwrap();
        let mut tx = ch.sender().unwrap();
        let t = thread::spawn(move || tx.send_slice(&[0, 1, 2, 3]).unwrap());
        let mut got = Vec::new();
        let mut buf = [0u32; 2];
        while got.len() < 4 {
            let n = rx.recv_slice(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        t.join().unwrap();
        assert_eq!(got, vec![0, 1, 2, 3]);
    });
}

#[test]
fn dead_producer_claim_is_skipped() {
    model_at_most(2, || {
        let ch = crash_ring(2);
        let mut rx = ch.receiver().unwrap();
        let mut dead = ch.sender().unwrap();
        let mut live = ch.sender().unwrap();
        // The dead producer claimed position 0, wrote half of it, and died.
        let mut c = dead.try_claim().unwrap();
        *c = 666;
        c.__crash();
        drop(dead);
        let t = thread::spawn(move || {
            live.send(1).unwrap();
            live.send(2).unwrap();
        });
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        t.join().unwrap();
        // The dead sender never detached: PeerDied once drained.
        assert!(matches!(rx.recv(), Err(RecvError::PeerDied { .. })));
        let s = ch.stats();
        assert_eq!((s.lost_sends, s.sent, s.received), (1, 2, 2));
    });
}

#[test]
fn late_commit_races_the_skip() {
    loom::model(|| {
        let ch = crash_ring(2);
        let mut rx = ch.receiver().unwrap();
        let mut tx = ch.sender().unwrap();
        let t = thread::spawn(move || {
            let mut c = tx.try_claim().unwrap();
            *c = 7;
            // Judged dead from here on, but still running.
            c.__mark_dead();
            c.commit().is_ok()
        });
        let got = rx.recv();
        let committed = t.join().unwrap();
        if committed {
            assert_eq!(got, Ok(7));
            assert_eq!(ch.stats().lost_sends, 0);
        } else {
            assert!(matches!(got, Err(RecvError::PeerDied { .. })), "{got:?}");
            assert_eq!(ch.stats().lost_sends, 1);
        }
        assert!(matches!(rx.try_recv(), Err(TryRecvError::PeerDied { .. })));
    });
}

#[test]
fn late_release_races_the_reclaim() {
    loom::model(|| {
        let ch = crash_ring(2);
        let mut tx = ch.sender().unwrap();
        let mut late = ch.receiver().unwrap();
        let mut rx = ch.receiver().unwrap();
        tx.send(0).unwrap();
        tx.send(1).unwrap();
        let t = thread::spawn(move || {
            let r = late.try_claim().unwrap();
            assert_eq!(*r, 0);
            // Judged dead from here on, but still running.
            r.__mark_dead();
            r.release().is_ok()
        });
        // Position 2 needs the slot of position 0: freed by the late
        // release or reclaimed from the "dead" receiver, never both.
        tx.send(2).unwrap();
        let released = t.join().unwrap();
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(ch.stats().lost_recvs, u64::from(!released));
    });
}

#[test]
fn dead_consumer_claim_is_freed() {
    loom::model(|| {
        let ch = crash_ring(2);
        let mut tx = ch.sender().unwrap();
        let mut dead = ch.receiver().unwrap();
        let mut rx = ch.receiver().unwrap();
        tx.send(0).unwrap();
        tx.send(1).unwrap();
        // The dead consumer claimed position 0 and died reading it.
        let r = dead.try_claim().unwrap();
        assert_eq!(*r, 0);
        r.__crash();
        drop(dead);
        let t = thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(v) = rx.recv() {
                got.push(v);
            }
            got
        });
        tx.send(2).unwrap();
        drop(tx);
        assert_eq!(t.join().unwrap(), vec![1, 2]);
        let s = ch.stats();
        assert_eq!((s.lost_recvs, s.received), (1, 2));
    });
}

/// Deferred releases (module docs, "Deferred releases"): position 2 needs
/// the slot of position 0, which the receiver may have read and not
/// released yet. The sender takes the range (a CAS on its `lo`) while the
/// receiver, reading position 1, extends the range and releases it (the
/// same CAS): each slot is freed once, by one of them, after its read, and
/// nothing is lost or read twice.
#[test]
fn a_sender_completes_deferred_releases() {
    loom::model(|| {
        let ch = ring(2);
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        tx.send(0).unwrap();
        tx.send(1).unwrap();
        let t = thread::spawn(move || drain(&mut rx));
        tx.send(2).unwrap();
        tx.send(3).unwrap();
        drop(tx);
        assert_eq!(t.join().unwrap(), vec![0, 1, 2, 3]);
        let s = ch.stats();
        assert_eq!((s.sent, s.received, s.lost_recvs), (4, 4, 0));
    });
}

/// A receiver died holding deferred releases: the sender frees the slots
/// it read (no stall, nothing counted lost) while another receiver goes on.
#[test]
fn a_dead_receivers_deferred_reads_are_freed() {
    loom::model(|| {
        let ch = crash_ring(2);
        let mut tx = ch.sender().unwrap();
        let mut dead = ch.receiver().unwrap();
        let mut rx = ch.receiver().unwrap();
        tx.send(0).unwrap();
        tx.send(1).unwrap();
        assert_eq!(dead.recv(), Ok(0));
        dead.__crash();
        let t = thread::spawn(move || drain(&mut rx));
        tx.send(2).unwrap();
        drop(tx);
        assert_eq!(t.join().unwrap(), vec![1, 2]);
        let s = ch.stats();
        assert_eq!((s.lost_recvs, s.received), (0, 3));
    });
}
