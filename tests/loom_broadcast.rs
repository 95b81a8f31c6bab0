//! loom models of the broadcast channel (`src/broadcast/`) on in-process
//! channels: one publisher and two subscribers.
//!
//! What they prove, for every interleaving loom explores (bounded by
//! `LOOM_MAX_PREEMPTIONS`):
//! - Block: each subscriber receives every message, intact and in order,
//!   then `Disconnected`; the publisher never overwrites an unread message
//!   (a stale or torn element shows as a wrong value), and nobody sleeps
//!   through a wake-up (loom reports a lost wake-up as a deadlock).
//! - Block, a subscriber leaving mid-stream: the publisher is not held back
//!   by it afterwards (the model would deadlock), the other one gets all.
//! - Block, a subscriber joining while the publisher runs on a cached gate
//!   (the Dekker handshake): it receives a gap-free run of messages up to
//!   the last one, never `Lagged`.
//! - Block, a dead subscriber: evicted (time does not pass under loom, so
//!   the stall has always expired), the live one gets everything.
//! - Overwrite, with laps: every element a subscriber receives is intact
//!   (both words equal: the seqlock never delivers a torn copy) and in
//!   order, and received + reported lost = published.
//! - Byte messages (`mod bytes`): the same for a lap across a wrap padding
//!   and a subscriber leaving; held messages (`send_held`, `flush`, drop)
//!   arrive complete and in order under Block, intact and accounted under
//!   Overwrite; a subscriber joining while the first message is written is
//!   never lapped under Block. Under loom a byte subscriber stores its gate
//!   every half area, so the models also cover the gate left behind and
//!   stored when the subscriber finds nothing to read (a missing store
//!   deadlocks the Block models).
//!
//! Bounds: see [`THREE_THREADS`]; the planted bugs tried (a Relaxed
//! publication of a slot's sequence, a missing wake after a join's cursor
//! update, the join's SeqCst fence removed) are each caught at these bounds.
//!
//! Elements are `[u64; 2]` so that a torn read (one word of one message,
//! one of another) is visible. Capacity 2 and three or four messages force
//! the wrap-around, full and lapped paths with few operations; each publish
//! is about eight atomic operations, so larger models explode.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test loom_broadcast`
#![cfg(loom)]

use loom::thread;
use shmlane::broadcast::{Builder, Channel, Policy, RecvError, Subscriber, TryRecvError};

type M = [u64; 2];

/// Preemption bound of the three-thread models (publisher and two
/// blocking subscribers): 3-27 s each at 1 on a shared 2-core machine,
/// several minutes at 2. The two-thread models follow
/// `LOOM_MAX_PREEMPTIONS` up to 2.
const THREE_THREADS: usize = 1;

/// `loom::model` with at most `max` preemptions (fewer if
/// `LOOM_MAX_PREEMPTIONS` asks for fewer).
fn model_at_most<F: Fn() + Sync + Send + 'static>(max: usize, f: F) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(b.preemption_bound.map_or(max, |p| p.min(max)));
    b.check(f);
}

fn ring(policy: Policy) -> Channel<M> {
    Builder::new()
        .capacity(2)
        .policy(policy)
        .endpoints(4)
        .in_process()
        .unwrap()
}

/// Receives until `Disconnected`: (values in order, total reported lost).
fn drain(s: &mut Subscriber<M>) -> (Vec<u64>, u64) {
    let (mut got, mut lost) = (Vec::new(), 0);
    loop {
        match s.recv() {
            Ok([a, b]) => {
                assert_eq!(a, b, "torn element");
                got.push(a);
            }
            Err(RecvError::Lagged(n)) => lost += n,
            Err(RecvError::Disconnected) => return (got, lost),
            Err(e) => panic!("{e:?}"),
        }
    }
}

fn publish(ch: &Channel<M>, n: u64) {
    let mut tx = ch.publisher().unwrap();
    for i in 0..n {
        tx.send([i, i]).unwrap();
    }
}

#[test]
fn block_every_subscriber_gets_every_message() {
    model_at_most(THREE_THREADS, || {
        let ch = ring(Policy::Block);
        let subs: Vec<_> = (0..2)
            .map(|_| {
                let mut s = ch.subscribe().unwrap();
                thread::spawn(move || drain(&mut s))
            })
            .collect();
        publish(&ch, 3);
        for t in subs {
            assert_eq!(t.join().unwrap(), (vec![0, 1, 2], 0));
        }
    });
}

#[test]
fn block_subscriber_leaving_frees_the_publisher() {
    model_at_most(THREE_THREADS, || {
        let ch = ring(Policy::Block);
        let mut leaver = ch.subscribe().unwrap();
        let mut stayer = ch.subscribe().unwrap();
        let l = thread::spawn(move || {
            let first = leaver.recv().unwrap();
            assert_eq!(first, [0, 0]);
            drop(leaver);
        });
        let s = thread::spawn(move || drain(&mut stayer));
        publish(&ch, 3);
        l.join().unwrap();
        assert_eq!(s.join().unwrap(), (vec![0, 1, 2], 0));
        assert_eq!(ch.stats().subscribers, 0);
    });
}

#[test]
fn block_join_while_publishing_is_never_lapped() {
    model_at_most(THREE_THREADS, || {
        let ch = ring(Policy::Block);
        let mut early = ch.subscribe().unwrap();
        let ch2 = ch.clone();
        let late = thread::spawn(move || {
            let mut s = ch2.subscribe().unwrap();
            drain(&mut s)
        });
        let e = thread::spawn(move || drain(&mut early));
        publish(&ch, 3);
        assert_eq!(e.join().unwrap(), (vec![0, 1, 2], 0));
        let (got, lost) = late.join().unwrap();
        assert_eq!(lost, 0, "a joined subscriber was lapped under Block");
        // A gap-free run ending at the last message (or nothing).
        let want: Vec<u64> = (3 - got.len() as u64..3).collect();
        assert_eq!(got, want);
    });
}

#[test]
fn block_dead_subscriber_is_evicted() {
    model_at_most(2, || {
        let ch = Builder::new()
            .capacity(2)
            .policy(Policy::Block)
            .endpoints(4)
            .__check_every_poll()
            .in_process::<M>()
            .unwrap();
        // SIGKILLed before the publisher reaches it: nothing wakes the
        // publisher when a process dies; in real time its sleeps are sliced
        // by the check interval, under loom there is no time.
        ch.subscribe().unwrap().__crash();
        let mut live = ch.subscribe().unwrap();
        let s = thread::spawn(move || drain(&mut live));
        publish(&ch, 3);
        assert_eq!(s.join().unwrap(), (vec![0, 1, 2], 0));
        assert_eq!(ch.stats().evicted, 1);
    });
}

#[test]
fn overwrite_lapped_subscribers_never_see_torn_messages() {
    model_at_most(2, || {
        let ch = ring(Policy::Overwrite);
        // Subscriber `a` races the publisher with a few non-blocking
        // receives (blocking ones, or a third thread, multiply the state
        // space); `b` reads between publications on the publisher's
        // thread, so it is lapped in every execution. Then both drain.
        let mut a = ch.subscribe().unwrap();
        let mut b = ch.subscribe().unwrap();
        let t = thread::spawn(move || {
            let (mut got, mut lost) = (Vec::new(), 0);
            for _ in 0..2 {
                match a.try_recv() {
                    Ok([x, y]) => {
                        assert_eq!(x, y, "torn element");
                        got.push(x);
                    }
                    Err(TryRecvError::Lagged(n)) => lost += n,
                    Err(TryRecvError::Empty) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
            (a, got, lost)
        });
        let mut tx = ch.publisher().unwrap();
        tx.send([0, 0]).unwrap();
        assert_eq!(b.try_recv(), Ok([0, 0]));
        for i in 1..4 {
            tx.send([i, i]).unwrap();
        }
        drop(tx);
        let (mut a, mut got_a, mut lost_a) = t.join().unwrap();
        let (rest, more) = drain(&mut a);
        got_a.extend(rest);
        lost_a += more;
        let (mut got_b, lost_b) = drain(&mut b);
        got_b.insert(0, 0);
        assert_eq!((got_b, lost_b), (vec![0, 2, 3], 1));
        assert!(got_a.windows(2).all(|w| w[0] < w[1]), "out of order: {got_a:?}");
        assert_eq!(got_a.len() as u64 + lost_a, 4, "got {got_a:?}, lost {lost_a}");
        assert_eq!(got_a.last(), Some(&3));
    });
}

// ---- Byte messages (`broadcast::bytes`): a 64-byte area (the smallest),
// messages of 0, 16, 16 bytes (records of 16, 32, 32 bytes): the third
// needs a wrap padding record (16 bytes at offset 48) and laps the first two.

mod bytes {
    use super::model_at_most;
    use loom::thread;
    use shmlane::broadcast::{BytesBuilder, BytesChannel, BytesSubscriber, Policy, RecvError};

    fn ring(policy: Policy) -> BytesChannel {
        BytesBuilder::new()
            .capacity(64)
            .max_message(16)
            .policy(policy)
            .endpoints(4)
            .in_process()
            .unwrap()
    }

    /// Message `i`: 0 or 16 bytes, every byte `i + 1`.
    fn msg(i: u64) -> Vec<u8> {
        vec![i as u8 + 1; if i % 3 == 0 { 0 } else { 16 }]
    }

    /// Receives until `Disconnected`: (numbers in order, total lost).
    fn drain(s: &mut BytesSubscriber) -> (Vec<u64>, u64) {
        let (mut got, mut lost) = (Vec::new(), 0);
        loop {
            match s.read() {
                Ok(m) => {
                    assert_eq!(m.bytes(), &msg(m.number())[..], "torn or misframed message");
                    got.push(m.number());
                }
                Err(RecvError::Lagged(n)) => lost += n,
                Err(RecvError::Disconnected) => return (got, lost),
                Err(e) => panic!("{e:?}"),
            }
        }
    }

    fn publish(ch: &BytesChannel, n: u64) {
        let mut tx = ch.publisher().unwrap();
        for i in 0..n {
            tx.send(&msg(i)).unwrap();
        }
    }

    #[test]
    fn bytes_overwrite_lap_with_wrap_padding_never_torn() {
        model_at_most(super::THREE_THREADS, || {
            let ch = ring(Policy::Overwrite);
            let subs: Vec<_> = (0..2)
                .map(|_| {
                    let mut s = ch.subscribe().unwrap();
                    thread::spawn(move || drain(&mut s))
                })
                .collect();
            // 16 + 32 + (16 padding) 32 bytes: wraps and laps.
            publish(&ch, 3);
            for t in subs {
                let (got, lost) = t.join().unwrap();
                assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order {got:?}");
                assert_eq!(got.len() as u64 + lost, 3, "{got:?} lost {lost}");
            }
        });
    }

    /// Held messages, Block: the first two are handed over (the second
    /// would take the held span past half the area, so the first goes
    /// before it; then the flush), the third waits for the subscriber to
    /// free the start of the area and is handed over by the drop. The
    /// subscriber gets all, in order.
    #[test]
    fn bytes_block_held_messages_arrive_in_order() {
        model_at_most(2, || {
            let ch = ring(Policy::Block);
            let mut s = ch.subscribe().unwrap();
            let t = thread::spawn(move || drain(&mut s));
            let mut tx = ch.publisher().unwrap();
            for i in 0..2 {
                tx.send_held(&msg(i)).unwrap();
            }
            tx.flush();
            tx.send_held(&msg(2)).unwrap();
            drop(tx);
            let (got, lost) = t.join().unwrap();
            assert_eq!((got, lost), (vec![0, 1, 2], 0));
        });
    }

    /// Held messages, Overwrite: the third wraps and overwrites the first
    /// two while they may be read; whatever the subscriber receives is
    /// intact and in order, and received + lost = published.
    #[test]
    fn bytes_overwrite_held_messages_never_torn() {
        model_at_most(2, || {
            let ch = ring(Policy::Overwrite);
            let mut s = ch.subscribe().unwrap();
            let t = thread::spawn(move || drain(&mut s));
            let mut tx = ch.publisher().unwrap();
            tx.send(&msg(0)).unwrap();
            tx.send_held(&msg(1)).unwrap();
            tx.send_held(&msg(2)).unwrap();
            drop(tx);
            let (got, lost) = t.join().unwrap();
            assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order {got:?}");
            assert_eq!(got.len() as u64 + lost, 3, "{got:?} lost {lost}");
            assert_eq!(got.last(), Some(&2));
        });
    }

    /// Block, a subscriber joining while the first message is written: the
    /// publisher's cached limit must not let later records overwrite the
    /// start of that message before the subscriber read it (the limit once
    /// reached `end - 8 + capacity`: the fourth record below overwrote the
    /// first 16 bytes of the first without a rescan, and the subscriber
    /// was told `Lagged` under Block).
    #[test]
    fn bytes_block_join_while_publishing_is_never_lapped() {
        model_at_most(2, || {
            let ch = ring(Policy::Block);
            let ch2 = ch.clone();
            let t = thread::spawn(move || {
                let mut s = ch2.subscribe().unwrap();
                let mut got = Vec::new();
                loop {
                    match s.read() {
                        Ok(m) => {
                            let len = if m.number() == 0 { 16 } else { 0 };
                            assert_eq!(m.bytes(), &vec![m.number() as u8 + 1; len][..]);
                            got.push(m.number());
                        }
                        Err(RecvError::Disconnected) => return got,
                        Err(e) => panic!("{e:?} after {got:?}"),
                    }
                }
            });
            // Records of 32, 16, 16, 16 bytes: the last wraps onto the
            // first.
            let mut tx = ch.publisher().unwrap();
            tx.send(&[1; 16]).unwrap();
            for i in 1..4u8 {
                tx.send(&vec![i + 1; 0]).unwrap();
            }
            drop(tx);
            let got = t.join().unwrap();
            // A gap-free run up to the last message.
            assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{got:?}");
            assert!(got.is_empty() || got.last() == Some(&3), "{got:?}");
        });
    }

    #[test]
    fn bytes_block_subscriber_leaving_frees_the_publisher() {
        model_at_most(super::THREE_THREADS, || {
            let ch = ring(Policy::Block);
            let mut leaver = ch.subscribe().unwrap();
            let mut stayer = ch.subscribe().unwrap();
            let l = thread::spawn(move || {
                assert_eq!(leaver.read().unwrap().number(), 0);
                drop(leaver);
            });
            let s = thread::spawn(move || drain(&mut stayer));
            publish(&ch, 4);
            l.join().unwrap();
            assert_eq!(s.join().unwrap(), (vec![0, 1, 2, 3], 0));
        });
    }
}
