//! Property tests of the byte rings.
//!
//! 1. A proptest state machine drives an in-process ring (SPSC, MPSC or MPMC,
//!    random capacity and maximum) through random sends of every size from
//!    0 to the maximum, aborted claims, single and batch reads and consumer
//!    re-attachment, against a reference model: a `VecDeque` of messages
//!    plus the byte positions the framing rules predict (record size, wrap
//!    padding, the implicit 8-byte gap, aborted MPSC claims becoming
//!    padding). The model predicts every outcome, `Full` included, so an
//!    off-by-one in the space accounting or the wrap shows up as a
//!    mismatch. The expected outcome of the last transition is kept in the
//!    model state because `apply` sees the state after the transition.
//! 2. Multi-thread runs with random producer (and, for MPMC, consumer)
//!    counts and message sizes check that every message arrives exactly
//!    once, intact, in per-producer order (per consumer for MPMC).

use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use shmlane::bytes::{max_message_limit, record_size, Builder, Channel, Consumer, Producer};
use shmlane::layout::Kind;
use shmlane::{RecvError, TryRecvError, TrySendError};
use std::collections::VecDeque;

fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|k| seed.wrapping_add((k as u8).wrapping_mul(13)))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Msg { ty: u32, data: Vec<u8>, end: u64 },
    Pad { end: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    None,
    Sent,
    Full,
    TooLarge,
    Read(Option<(u32, Vec<u8>)>),
    Batch(Vec<(u32, Vec<u8>)>),
}

#[derive(Debug, Clone)]
struct Model {
    kind: Kind,
    cap: u64,
    max: usize,
    head: u64,
    tail: u64,
    items: VecDeque<Item>,
    last: Outcome,
}

#[derive(Debug, Clone)]
enum Op {
    Send { len: usize, ty: u32, seed: u8 },
    Abort { len: usize },
    Read,
    Recv,
    Batch { max: usize },
    Reattach,
}

impl Model {
    /// Where a claim of `len` bytes would end, if it fits.
    fn claim(&self, len: usize) -> Option<u64> {
        let size = record_size(len) as u64;
        let rem = self.cap - self.tail % self.cap;
        let total = if rem < size { rem + size } else { size };
        (self.tail + total - self.head <= self.cap).then_some(self.tail + total)
    }

    fn skip_pads(&mut self) {
        while let Some(Item::Pad { end }) = self.items.front() {
            self.head = *end;
            self.items.pop_front();
        }
    }

    fn pop_msg(&mut self) -> Option<(u32, Vec<u8>)> {
        self.skip_pads();
        match self.items.pop_front() {
            Some(Item::Msg { ty, data, end }) => {
                self.head = end;
                Some((ty, data))
            }
            Some(Item::Pad { .. }) => unreachable!(),
            None => None,
        }
    }

    fn has_msg(&self) -> bool {
        self.items.iter().any(|i| matches!(i, Item::Msg { .. }))
    }
}

struct RefMachine;

impl ReferenceStateMachine for RefMachine {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        (
            prop_oneof![Just(Kind::Bytes), Just(Kind::BytesMpsc), Just(Kind::BytesMpmc)],
            6u32..=9,
            0.0f64..=1.0,
        )
            .prop_map(|(kind, log, frac)| {
                let cap = 1u64 << log;
                let limit = max_message_limit(cap as usize);
                let max = if frac > 0.5 {
                    limit
                } else {
                    ((limit as f64) * frac * 2.0) as usize
                };
                Model {
                    kind,
                    cap,
                    max,
                    head: 0,
                    tail: 0,
                    items: VecDeque::new(),
                    last: Outcome::None,
                }
            })
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Op> {
        let max = state.max;
        let len = prop_oneof![
            3 => 0..=max,
            1 => Just(max),
            1 => Just(0usize),
            1 => max.saturating_sub(8)..=max,
        ];
        prop_oneof![
            6 => (len.clone(), any::<u32>().prop_map(|t| t % 1000), any::<u8>())
                .prop_map(|(len, ty, seed)| Op::Send { len, ty, seed }),
            1 => (max + 1..max + 20).prop_map(|len| Op::Send { len, ty: 0, seed: 0 }),
            2 => len.prop_map(|len| Op::Abort { len }),
            3 => Just(Op::Read),
            2 => Just(Op::Recv),
            2 => (1usize..5).prop_map(|max| Op::Batch { max }),
            1 => Just(Op::Reattach),
        ]
        .boxed()
    }

    fn apply(mut s: Model, op: &Op) -> Model {
        s.last = match op {
            Op::Send { len, .. } if *len > s.max => Outcome::TooLarge,
            Op::Send { len, ty, seed } => match s.claim(*len) {
                Some(end) => {
                    s.tail = end;
                    s.items.push_back(Item::Msg {
                        ty: *ty,
                        data: content(*seed, *len),
                        end,
                    });
                    Outcome::Sent
                }
                None => Outcome::Full,
            },
            Op::Abort { len } => match s.claim(*len) {
                Some(end) => {
                    if s.kind != Kind::Bytes {
                        // The claim was made, then turned into padding.
                        s.tail = end;
                        s.items.push_back(Item::Pad { end });
                    }
                    Outcome::Sent
                }
                None => Outcome::Full,
            },
            Op::Read | Op::Recv => Outcome::Read(s.pop_msg()),
            Op::Batch { max } => {
                let mut out = Vec::new();
                if let Some(first) = s.pop_msg() {
                    out.push(first);
                    while out.len() < *max && s.has_msg() {
                        out.push(s.pop_msg().expect("has a message"));
                    }
                }
                Outcome::Batch(out)
            }
            Op::Reattach => Outcome::None,
        };
        s
    }
}

struct Sut {
    ch: Channel,
    tx: Producer,
    rx: Option<Consumer>,
}

struct RingTest;

impl StateMachineTest for RingTest {
    type SystemUnderTest = Sut;
    type Reference = RefMachine;

    fn init_test(m: &Model) -> Sut {
        let ch = Builder::new()
            .kind(m.kind)
            .endpoints(3)
            .max_message(m.max)
            .in_process(m.cap as usize)
            .unwrap();
        let rx = Some(ch.consumer().unwrap());
        let tx = ch.producer().unwrap();
        Sut { ch, tx, rx }
    }

    fn apply(mut sut: Sut, m: &Model, op: Op) -> Sut {
        let rx = sut.rx.as_mut().unwrap();
        match op {
            Op::Send { len, ty, seed } => {
                let data = content(seed, len);
                let got = match sut.tx.try_send_with_type(ty, &data) {
                    Ok(()) => Outcome::Sent,
                    Err(TrySendError::Full(())) => Outcome::Full,
                    Err(TrySendError::TooLarge { len: l, max, .. }) => {
                        assert_eq!((l, max), (len, m.max));
                        Outcome::TooLarge
                    }
                    Err(e) => panic!("send: {e:?}"),
                };
                assert_eq!(got, m.last, "send of {len} bytes");
            }
            Op::Abort { len } => {
                let got = match sut.tx.try_claim(len) {
                    Ok(mut g) => {
                        g.fill(0xAB);
                        drop(g);
                        Outcome::Sent
                    }
                    Err(TrySendError::Full(())) => Outcome::Full,
                    Err(e) => panic!("claim: {e:?}"),
                };
                assert_eq!(got, m.last, "aborted claim of {len} bytes");
            }
            Op::Read => {
                let got = match rx.try_read() {
                    Ok(r) => Some((r.msg_type(), r.to_vec())),
                    Err(TryRecvError::Empty) => None,
                    Err(e) => panic!("read: {e:?}"),
                };
                assert_eq!(Outcome::Read(got), m.last);
            }
            Op::Recv => {
                let mut buf = vec![1, 2, 3];
                let got = match rx.try_recv(&mut buf) {
                    Ok(()) => Some(buf),
                    Err(TryRecvError::Empty) => None,
                    Err(e) => panic!("recv: {e:?}"),
                };
                let want = match &m.last {
                    Outcome::Read(r) => r.as_ref().map(|(_, d)| d.clone()),
                    other => panic!("model says {other:?}"),
                };
                assert_eq!(got, want);
            }
            Op::Batch { max } => {
                let got = match rx.try_read_batch(max) {
                    Ok(b) => {
                        let v: Vec<_> = b.iter().map(|r| (r.msg_type(), r.to_vec())).collect();
                        assert_eq!(v.len(), b.len());
                        v
                    }
                    Err(TryRecvError::Empty) => Vec::new(),
                    Err(e) => panic!("batch: {e:?}"),
                };
                assert_eq!(Outcome::Batch(got), m.last);
            }
            Op::Reattach => {
                sut.rx = None;
                sut.rx = Some(sut.ch.consumer().unwrap());
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, m: &Model) {
        let st = sut.ch.stats();
        assert_eq!((st.head, st.tail), (m.head, m.tail), "indices");
        let queued = m.items.iter().filter(|i| matches!(i, Item::Msg { .. })).count() as u64;
        assert_eq!(st.depth_records, queued);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        .. ProptestConfig::default()
    })]
    #[test]
    fn ring_matches_model(sequential 1..120 => RingTest);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 1 } else { 12 },
        .. ProptestConfig::default()
    })]

    /// Producers on threads, random sizes (with aborts), one consumer
    /// reading single records and batches: no loss, no duplicate, per
    /// producer order, intact contents.
    #[test]
    fn mpsc_threads_no_loss_no_dup_in_order(
        producers in 2u32..=4,
        per in 50u32..400,
        log_cap in 8u32..=11,
        seed in any::<u64>(),
    ) {
        let cap = 1usize << log_cap;
        let max = max_message_limit(cap).min(300);
        let ch = Builder::new().kind(Kind::BytesMpsc).endpoints(5).max_message(max).in_process(cap).unwrap();
        let mut rx = ch.consumer().unwrap();
        let per = if cfg!(miri) { 5 } else { per };
        let handles: Vec<_> = (0..producers).map(|p| {
            let mut tx = ch.producer().unwrap();
            std::thread::spawn(move || {
                let mut x = seed ^ (u64::from(p) << 32) | 1;
                for i in 0..per {
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                    let len = 8 + (x as usize) % (max - 7);
                    if x % 7 == 0 {
                        drop(tx.claim(len).unwrap());
                    }
                    let mut g = tx.claim(len).unwrap();
                    g[..4].copy_from_slice(&p.to_le_bytes());
                    g[4..8].copy_from_slice(&i.to_le_bytes());
                    let body = content((i as u8) ^ (p as u8), len - 8);
                    g[8..].copy_from_slice(&body);
                    g.set_type(len as u32);
                    g.commit();
                }
            })
        }).collect();
        let mut next = vec![0u32; producers as usize];
        let check = |next: &mut Vec<u32>, ty: u32, r: &[u8]| {
            let p = u32::from_le_bytes(r[..4].try_into().unwrap()) as usize;
            let i = u32::from_le_bytes(r[4..8].try_into().unwrap());
            assert_eq!(i, next[p], "producer {} out of order", p);
            assert_eq!(ty as usize, r.len());
            assert_eq!(&r[8..], &content((i as u8) ^ (p as u8), r.len() - 8)[..]);
            next[p] += 1;
        };
        let mut flip = false;
        loop {
            flip = !flip;
            if flip {
                match rx.read() {
                    Ok(r) => check(&mut next, r.msg_type(), &r),
                    Err(RecvError::Disconnected) => break,
                    Err(e) => panic!("{e:?}"),
                }
            } else {
                match rx.read_batch(8) {
                    Ok(b) => for r in &b { check(&mut next, r.msg_type(), &r) },
                    Err(RecvError::Disconnected) => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        prop_assert!(next.iter().all(|&n| n == per));
        let st = ch.stats();
        prop_assert_eq!(st.sent, u64::from(producers * per));
        prop_assert_eq!(st.received, st.sent);
        prop_assert_eq!(st.lost, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 1 } else { 12 },
        .. ProptestConfig::default()
    })]

    /// MPMC: producers and competing consumers on threads, random sizes,
    /// single and batch reads: every message is delivered to exactly one
    /// consumer, intact, and each consumer sees each producer's messages in
    /// order.
    #[test]
    fn mpmc_threads_exactly_once(
        producers in 1u32..=3,
        consumers in 2usize..=3,
        per in 50u32..300,
        log_cap in 8u32..=10,
        seed in any::<u64>(),
    ) {
        let cap = 1usize << log_cap;
        let max = max_message_limit(cap).min(200);
        let ch = Builder::new().kind(Kind::BytesMpmc).endpoints(8).max_message(max).in_process(cap).unwrap();
        let per = if cfg!(miri) { 5 } else { per };
        let prods: Vec<_> = (0..producers).map(|p| {
            let mut tx = ch.producer().unwrap();
            std::thread::spawn(move || {
                let mut x = seed ^ (u64::from(p) << 32) | 1;
                for i in 0..per {
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                    let len = 8 + (x as usize) % (max - 7);
                    let mut g = tx.claim(len).unwrap();
                    g[..4].copy_from_slice(&p.to_le_bytes());
                    g[4..8].copy_from_slice(&i.to_le_bytes());
                    g[8..].copy_from_slice(&content((i as u8) ^ (p as u8), len - 8));
                    g.commit();
                }
            })
        }).collect();
        let cons: Vec<_> = (0..consumers).map(|k| {
            let mut rx = ch.consumer().unwrap();
            std::thread::spawn(move || {
                let mut seen = vec![Vec::new(); producers as usize];
                let mut check = |r: &[u8]| {
                    let p = u32::from_le_bytes(r[..4].try_into().unwrap()) as usize;
                    let i = u32::from_le_bytes(r[4..8].try_into().unwrap());
                    assert_eq!(&r[8..], &content((i as u8) ^ (p as u8), r.len() - 8)[..], "torn");
                    seen[p].push(i);
                };
                loop {
                    let r = if k % 2 == 0 {
                        rx.read().map(|r| check(&r))
                    } else {
                        rx.read_batch(1 + k * 3).map(|b| b.iter().for_each(|r| check(&r)))
                    };
                    match r {
                        Ok(()) => {}
                        Err(RecvError::Disconnected) => break,
                        Err(e) => panic!("{e:?}"),
                    }
                }
                seen
            })
        }).collect();
        for h in prods {
            h.join().unwrap();
        }
        let mut all = vec![Vec::new(); producers as usize];
        for h in cons {
            for (p, v) in h.join().unwrap().into_iter().enumerate() {
                prop_assert!(v.windows(2).all(|w| w[0] < w[1]), "a consumer saw producer {} out of order", p);
                all[p].extend(v);
            }
        }
        for v in &mut all {
            v.sort_unstable();
            prop_assert_eq!(&*v, &(0..per).collect::<Vec<_>>());
        }
        let st = ch.stats();
        prop_assert_eq!(st.received, u64::from(producers * per));
        prop_assert_eq!(st.lost, 0);
        prop_assert_eq!(st.depth_bytes, 0);
    }
}
