//! Operation sequences on an in-process byte ring of each kind (SPSC,
//! MPSC, MPMC; two producers and, for MPMC, two consumers, used from one
//! thread) against a reference model: every message committed comes out
//! once, in commit order, with its length, type word and bytes; aborted
//! claims and claims of "crashed" producers are never delivered; a
//! "crashed" consumer's message is delivered again to its successor (SPSC,
//! MPSC) or lost (MPMC), as the module docs promise; `Empty` only when
//! nothing committed is waiting; the ring never accepts more than its
//! capacity; `TooLarge` exactly above `max_message`; after the producers
//! leave, the consumers drain.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shmlane::bytes::{record_size, Builder, Channel, Consumer, Producer};
use shmlane::layout::Kind;
use shmlane::{TryRecvError, TrySendError};
use std::collections::VecDeque;
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum Op {
    Send(bool, u16),
    /// Claim in place; commit or abort.
    Claim(bool, u16, bool),
    Read(bool),
    Recv(bool),
    Batch(bool, u8),
    /// The producer dies between claim and commit; a new one attaches.
    CrashClaim(bool, u16),
    /// The consumer dies holding a record; a new one attaches.
    CrashHolding(bool),
    ReattachProducer(bool),
    ReattachConsumer(bool),
}

#[derive(Arbitrary, Debug)]
struct Input {
    kind: u8,
    log_cap: u8,
    max_div: u8,
    ops: Vec<Op>,
}

fn fill(seq: u32, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        *b = (seq as usize).wrapping_mul(31).wrapping_add(i) as u8;
    }
}

struct Model {
    /// (seq, len) of committed messages not yet received.
    q: VecDeque<(u32, usize)>,
    next: u32,
}

impl Model {
    fn got(&mut self, data: &[u8], ty: u32) {
        let (seq, len) = self.q.pop_front().expect("a message the model does not have");
        assert_eq!((ty, data.len()), (seq, len), "message order, type or length");
        let mut want = vec![0u8; len];
        fill(seq, &mut want);
        assert!(data == &want[..], "message {seq} bytes");
    }
    fn empty(&self) {
        assert!(self.q.is_empty(), "Empty with {} messages waiting", self.q.len());
    }
    fn bytes(&self) -> usize {
        self.q.iter().map(|&(_, l)| record_size(l)).sum()
    }
}

fn producer(ch: &Channel) -> Producer {
    ch.producer().expect("attach a producer")
}

fn consumer(ch: &Channel) -> Consumer {
    ch.consumer().expect("attach a consumer")
}

fuzz_target!(|input: Input| {
    let kind = [Kind::Bytes, Kind::BytesMpsc, Kind::BytesMpmc][usize::from(input.kind % 3)];
    let cap = 64usize << (input.log_cap % 6);
    let max = shmlane::bytes::max_message_limit(cap) / (1 + usize::from(input.max_div % 4));
    let ch = Builder::new()
        .kind(kind)
        .max_message(max)
        .endpoints(16)
        .stall_timeout(Duration::ZERO)
        .in_process(cap)
        .unwrap();
    let np = if kind == Kind::Bytes { 1 } else { 2 };
    let nc = if kind == Kind::BytesMpmc { 2 } else { 1 };
    let mut tx: Vec<Producer> = (0..np).map(|_| producer(&ch)).collect();
    let mut rx: Vec<Consumer> = (0..nc).map(|_| consumer(&ch)).collect();
    let mut m = Model {
        q: VecDeque::new(),
        next: 0,
    };
    let mut crashes = 0;
    let (mut dead_tx, mut dead_rx) = (Vec::new(), Vec::new());
    let mut buf = Vec::new();
    let p = |i: bool| usize::from(i) % np;
    let c = |j: bool| usize::from(j) % nc;
    for op in input.ops.iter().take(256) {
        match *op {
            Op::Send(i, len) | Op::Claim(i, len, _) => {
                let len = usize::from(len) % (max + 2);
                let seq = m.next;
                let r = match *op {
                    Op::Send(..) => {
                        let mut msg = vec![0u8; len];
                        fill(seq, &mut msg);
                        tx[p(i)].try_send_with_type(seq, &msg)
                    }
                    _ => tx[p(i)].try_claim(len).map(|mut g| {
                        assert_eq!(g.len(), len);
                        fill(seq, &mut g);
                        g.set_type(seq);
                        if matches!(op, Op::Claim(_, _, true)) {
                            g.commit();
                        } else {
                            g.abort();
                        }
                    }),
                };
                match r {
                    Ok(()) => {
                        assert!(len <= max, "accepted {len} bytes above max {max}");
                        assert!(m.bytes() + record_size(len) <= cap, "more than the capacity accepted");
                        if !matches!(op, Op::Claim(_, _, false)) {
                            m.q.push_back((seq, len));
                            m.next += 1;
                        }
                    }
                    Err(TrySendError::TooLarge { len: l, max: mx, .. }) => {
                        assert!(l == len && mx == max && len > max, "TooLarge")
                    }
                    Err(TrySendError::Full(())) => assert!(len <= max),
                    Err(e) => panic!("send: {e:?}"),
                }
            }
            Op::Read(j) => match rx[c(j)].try_read() {
                Ok(r) => m.got(&r, r.msg_type()),
                Err(TryRecvError::Empty) => m.empty(),
                Err(e) => panic!("read: {e:?}"),
            },
            Op::Recv(j) => {
                match rx[c(j)].try_recv(&mut buf) {
                    Ok(()) => {
                        // The type word is checked by Read; here the bytes.
                        let (seq, len) = *m.q.front().expect("a message the model does not have");
                        m.got(&buf, seq);
                        assert_eq!(buf.len(), len);
                    }
                    Err(TryRecvError::Empty) => m.empty(),
                    Err(e) => panic!("recv: {e:?}"),
                }
            }
            Op::Batch(j, n) => {
                let n = usize::from(n) % 9 + 1;
                match rx[c(j)].try_read_batch(n) {
                    Ok(b) => {
                        assert!(!b.is_empty() && b.len() <= n.min(m.q.len()), "batch of {}", b.len());
                        let mut k = 0;
                        for r in &b {
                            m.got(&r, r.msg_type());
                            k += 1;
                        }
                        assert_eq!(k, b.len(), "batch iteration");
                    }
                    Err(TryRecvError::Empty) => m.empty(),
                    Err(e) => panic!("batch: {e:?}"),
                }
            }
            Op::CrashClaim(i, len) if crashes < 6 => {
                let len = usize::from(len) % (max + 1);
                let crashed = match tx[p(i)].try_claim(len) {
                    Ok(mut g) => {
                        fill(u32::MAX, &mut g);
                        g.__crash();
                        true
                    }
                    Err(_) => false,
                };
                if crashed {
                    crashes += 1;
                    // A dead process runs no destructor (ours would close
                    // the entry the successor takes over: same process
                    // token): keep it until the end.
                    dead_tx.push(std::mem::replace(&mut tx[p(i)], producer(&ch)));
                }
            }
            Op::CrashHolding(j) if crashes < 6 => {
                let crashed = match rx[c(j)].try_read() {
                    Ok(r) => {
                        if kind == Kind::BytesMpmc {
                            // Lost with the dead consumer.
                            m.got(&r, r.msg_type());
                        }
                        Consumer::__crash_holding(r);
                        true
                    }
                    Err(TryRecvError::Empty) => {
                        m.empty();
                        false
                    }
                    Err(e) => panic!("read: {e:?}"),
                };
                if crashed {
                    crashes += 1;
                    // SPSC/MPSC: the successor takes over the entry and
                    // reads the record again.
                    dead_rx.push(std::mem::replace(&mut rx[c(j)], consumer(&ch)));
                }
            }
            Op::CrashClaim(..) | Op::CrashHolding(_) => {}
            Op::ReattachProducer(i) => {
                let k = p(i);
                if np == 1 {
                    // One producer at a time.
                    drop(tx.pop());
                    tx.push(producer(&ch));
                } else {
                    drop(std::mem::replace(&mut tx[k], producer(&ch)));
                }
            }
            Op::ReattachConsumer(j) => {
                let k = c(j);
                if nc == 1 {
                    // One consumer at a time.
                    drop(rx.pop());
                    rx.push(consumer(&ch));
                } else {
                    drop(std::mem::replace(&mut rx[k], consumer(&ch)));
                }
            }
        }
    }
    drop(tx);
    let mut turn = 0;
    while !m.q.is_empty() {
        turn += 1;
        let r = rx[turn % nc].try_read().expect("drain after the producers left");
        m.got(&r, r.msg_type());
    }
    for r in &mut rx {
        match r.try_read() {
            Err(TryRecvError::Empty | TryRecvError::Disconnected | TryRecvError::PeerDied { .. }) => {}
            other => panic!("after the drain: {:?}", other.map(|r| r.len())),
        }
    }
    // Only now: their destructors would have closed entries in use.
    drop(rx);
    drop((dead_tx, dead_rx));
});
