//! Property tests of the broadcast channel (`src/broadcast/`) on in-process
//! channels.
//!
//! - `sequential`: random sequences of publishing (single and batch),
//!   subscribing (newest or oldest), leaving, receiving (copy, in place,
//!   closure) and detaching/re-attaching the publisher, under both
//!   policies, checked step by step against a reference model: the list of
//!   everything published and each subscriber's cursor. Every outcome
//!   (value, `Full`, batch count, `Empty`, `Lagged(n)`, `Disconnected`,
//!   `EndpointTableFull`, `EndpointBusy`) and the statistics must match.
//! - `concurrent_block`: random capacities, subscriber counts and message
//!   counts with subscriber threads: under Block every subscriber gets
//!   every message in order.

use proptest::prelude::*;
use shmlane::broadcast::{Builder, Channel, Policy, Publisher, RecvError, Subscriber, TryRecvError};
use shmlane::{Error, TrySendError};

const ENDPOINTS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Send(u32),
    SendSlice(u8),
    Subscribe { oldest: bool },
    Leave(usize),
    TryRecv(usize),
    TryRead(usize),
    TryRecvWith(usize),
    DropPublisher,
    AttachPublisher,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u32>().prop_map(Op::Send),
        1 => (1u8..6).prop_map(Op::SendSlice),
        1 => any::<bool>().prop_map(|oldest| Op::Subscribe { oldest }),
        1 => (0..ENDPOINTS).prop_map(Op::Leave),
        4 => (0..ENDPOINTS).prop_map(Op::TryRecv),
        1 => (0..ENDPOINTS).prop_map(Op::TryRead),
        1 => (0..ENDPOINTS).prop_map(Op::TryRecvWith),
        1 => Just(Op::DropPublisher),
        1 => Just(Op::AttachPublisher),
    ]
}

#[derive(Debug, Clone, Copy)]
struct SubModel {
    cursor: u64,
    /// Positions below this were published before the subscriber joined.
    counted_from: u64,
    lost: u64,
}

#[derive(Debug, Default)]
struct Model {
    cap: u64,
    block: bool,
    values: Vec<u32>,
    subs: Vec<Option<SubModel>>,
    publisher: bool,
    publisher_ever: bool,
    lost: u64,
}

impl Model {
    fn tail(&self) -> u64 {
        self.values.len() as u64
    }

    /// How many of `want` the publisher may write now.
    fn room(&self, want: u64) -> u64 {
        if !self.block {
            return want.min(self.cap);
        }
        let t = self.tail();
        // A subscriber gates from its join position on.
        let gate = |s: &SubModel| s.cursor.max(s.counted_from);
        let limit = self.subs.iter().flatten().map(gate).min().unwrap_or(t) + self.cap;
        want.min(limit - t)
    }

    fn recv(&mut self, i: usize) -> Result<u32, TryRecvError> {
        let t = self.tail();
        let (cap, closed) = (self.cap, self.publisher_ever && !self.publisher);
        let s = self.subs[i].as_mut().unwrap();
        if s.cursor < t && t - s.cursor > cap {
            let new = (s.cursor + 1).max(t - cap);
            let absorbed = new.min(s.counted_from.max(s.cursor)) - s.cursor;
            let n = new - s.cursor - absorbed;
            s.cursor = new;
            if n > 0 {
                s.lost += n;
                self.lost += n;
                return Err(TryRecvError::Lagged(n));
            }
        }
        if s.cursor < t {
            s.cursor += 1;
            return Ok(self.values[s.cursor as usize - 1]);
        }
        Err(if closed {
            TryRecvError::Disconnected
        } else {
            TryRecvError::Empty
        })
    }
}

struct Real {
    ch: Channel<u32>,
    tx: Option<Publisher<u32>>,
    subs: Vec<Option<Subscriber<u32>>>,
}

fn run(cap: usize, policy: Policy, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let ch = Builder::new()
        .capacity(cap)
        .policy(policy)
        .endpoints(ENDPOINTS as u32)
        .in_process::<u32>()
        .unwrap();
    let mut m = Model {
        cap: cap as u64,
        block: policy == Policy::Block,
        subs: vec![None; ENDPOINTS],
        publisher: true,
        publisher_ever: true,
        ..Model::default()
    };
    let mut r = Real {
        tx: Some(ch.publisher().unwrap()),
        ch,
        subs: (0..ENDPOINTS).map(|_| None).collect(),
    };
    let mut next = 0u32;
    for op in ops {
        match op {
            Op::Send(v) => {
                let Some(tx) = r.tx.as_mut() else { continue };
                let got = tx.try_send(v);
                if m.room(1) == 1 {
                    prop_assert_eq!(got, Ok(()));
                    m.values.push(v);
                } else {
                    prop_assert!(matches!(got, Err(TrySendError::Full(x)) if x == v));
                }
            }
            Op::SendSlice(n) => {
                let Some(tx) = r.tx.as_mut() else { continue };
                let items: Vec<u32> = (0..u32::from(n)).map(|k| next.wrapping_add(k)).collect();
                next = next.wrapping_add(u32::from(n));
                let want = m.room(u64::from(n)) as usize;
                let got = tx.try_send_slice(&items);
                if want == 0 {
                    prop_assert!(matches!(got, Err(TrySendError::Full(()))));
                } else {
                    prop_assert_eq!(got, Ok(want));
                    m.values.extend_from_slice(&items[..want]);
                }
            }
            Op::Subscribe { oldest } => {
                let free = m.subs.iter().position(|s| s.is_none());
                let got = if oldest {
                    r.ch.subscribe_from_oldest()
                } else {
                    r.ch.subscribe()
                };
                // Entry 0 is the publisher's: at most ENDPOINTS - 1 subscribers.
                let count = m.subs.iter().flatten().count();
                match (free, count < ENDPOINTS - 1) {
                    (Some(i), true) => {
                        let t = m.tail();
                        let start = if oldest { t.saturating_sub(m.cap) } else { t };
                        m.subs[i] = Some(SubModel {
                            cursor: start,
                            counted_from: t,
                            lost: 0,
                        });
                        r.subs[i] = Some(got.unwrap());
                    }
                    _ => prop_assert!(
                        matches!(got, Err(Error::EndpointTableFull { .. })),
                        "expected a full table"
                    ),
                }
            }
            Op::Leave(i) => {
                m.subs[i] = None;
                r.subs[i] = None;
            }
            Op::TryRecv(i) | Op::TryRead(i) | Op::TryRecvWith(i) => {
                let Some(s) = r.subs[i].as_mut() else { continue };
                let got = match op {
                    Op::TryRecv(_) => s.try_recv(),
                    Op::TryRead(_) => s.try_read().map(|g| {
                        // In place exactly when the policy allows it.
                        assert!(policy == Policy::Block || !g.in_place());
                        *g
                    }),
                    _ => s.try_recv_with(|v| *v),
                };
                let want = m.recv(i);
                prop_assert_eq!(got, want, "subscriber {} model {:?}", i, m.subs[i]);
                prop_assert_eq!(s.lost(), m.subs[i].unwrap().lost);
                prop_assert_eq!(s.position(), m.subs[i].unwrap().cursor);
            }
            Op::DropPublisher => {
                if r.tx.take().is_some() {
                    m.publisher = false;
                }
            }
            Op::AttachPublisher => {
                let got = r.ch.publisher();
                if m.publisher {
                    prop_assert!(matches!(got, Err(Error::EndpointBusy { .. })), "expected busy");
                } else {
                    r.tx = Some(got.unwrap());
                    m.publisher = true;
                }
            }
        }
        let st = r.ch.stats();
        prop_assert_eq!(st.published, m.tail());
        prop_assert_eq!(st.subscribers as usize, m.subs.iter().flatten().count());
        prop_assert_eq!(st.lost, m.lost);
        prop_assert_eq!(st.publisher_attached, m.publisher);
    }
    Ok(())
}

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig::with_cases(if cfg!(miri) { 4 } else { n })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn sequential(
        cap in prop_oneof![Just(2usize), Just(4), Just(8)],
        block in any::<bool>(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        run(cap, if block { Policy::Block } else { Policy::Overwrite }, ops)?;
    }
}

proptest! {
    #![proptest_config(cases(16))]

    #[test]
    fn concurrent_block(
        cap in prop_oneof![Just(2usize), Just(4), Just(64)],
        subs in 1usize..4,
        n in 1u64..2000,
    ) {
        let ch = Builder::new().capacity(cap).in_process::<u64>().unwrap();
        let threads: Vec<_> = (0..subs)
            .map(|_| {
                let mut s = ch.subscribe().unwrap();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match s.recv() {
                            Ok(v) => got.push(v),
                            Err(RecvError::Disconnected) => return got,
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                })
            })
            .collect();
        let mut tx = ch.publisher().unwrap();
        for i in 0..n {
            tx.send(i).unwrap();
        }
        drop(tx);
        for t in threads {
            prop_assert_eq!(t.join().unwrap(), (0..n).collect::<Vec<_>>());
        }
    }
}

// ---- Byte messages (`broadcast::bytes`): random sizes 0..=max under both
// policies, sequential, against a reference model of the byte positions
// (records, wrap padding, each subscriber's gate, which it stores every
// `capacity / 8` bytes or when it finds nothing to read): under Block
// every outcome (`Full` exactly when the slowest stored gate is a ring
// behind, each message intact and in order) must match; under Overwrite every message
// delivered is intact and in order, `Lagged` happens exactly when the
// model says the subscriber was lapped, and received + lost = published.

mod bytes_model {
    use proptest::prelude::*;
    use shmlane::broadcast::{BytesBuilder, Policy, TryRecvError};
    use shmlane::TrySendError;

    const CAP: u64 = 256;
    const MAX: usize = 48;

    #[derive(Debug, Clone)]
    enum Op {
        Send(usize),
        Recv(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..=MAX).prop_map(Op::Send),
            2 => (0..2usize).prop_map(Op::Recv),
        ]
    }

    fn payload(i: u64, len: usize) -> Vec<u8> {
        (0..len).map(|k| (i as usize * 7 + k) as u8).collect()
    }

    fn rec(len: usize) -> u64 {
        (16 + len as u64).next_multiple_of(8)
    }

    fn run(policy: Policy, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let ch = BytesBuilder::new()
            .capacity(CAP as usize)
            .max_message(MAX)
            .policy(policy)
            .in_process()
            .unwrap();
        let mut tx = ch.publisher().unwrap();
        let mut subs = [ch.subscribe().unwrap(), ch.subscribe().unwrap()];
        // Model: per message (padding start, record start, len).
        let mut recs: Vec<(u64, u64, usize)> = Vec::new();
        let mut tail = 0u64;
        // Per subscriber: next message number, stored gate, lost, cursor
        // position, gate to store (end of the last record delivered).
        let mut cur = [(0u64, 0u64, 0u64, 0u64, 0u64); 2];
        for o in ops {
            match o {
                Op::Send(len) => {
                    let rem = CAP - tail % CAP;
                    let at = if rem < rec(len) { tail + rem } else { tail };
                    let end = at + rec(len);
                    let i = recs.len() as u64;
                    let r = tx.try_send(&payload(i, len));
                    let min_gate = cur.iter().map(|c| c.1).min().unwrap();
                    if policy == Policy::Block && end > min_gate + CAP {
                        prop_assert!(matches!(r, Err(TrySendError::Full(()))), "{r:?}");
                    } else {
                        prop_assert!(r.is_ok(), "{r:?}");
                        recs.push((tail, at, len));
                        tail = end;
                    }
                }
                Op::Recv(s) => {
                    let (k, _, _, pos, _) = cur[s];
                    let r = subs[s].try_read().map(|m| (m.number(), m.bytes().to_vec()));
                    if k == recs.len() as u64 {
                        prop_assert_eq!(r, Err(TryRecvError::Empty));
                        // Nothing to read: the gate is stored.
                        cur[s].1 = cur[s].4;
                        continue;
                    }
                    let (_, at, len) = recs[k as usize];
                    let first = if tail > pos + CAP {
                        prop_assert!(policy == Policy::Overwrite, "lapped under Block");
                        recs.iter().position(|x| x.1 >= tail - CAP).unwrap() as u64
                    } else {
                        k
                    };
                    // Only the padding before message `k` overwritten: no loss.
                    if first > k {
                        prop_assert_eq!(r, Err(TryRecvError::Lagged(first - k)));
                        let (fp, fat, _) = recs[first as usize];
                        cur[s].0 = first;
                        cur[s].2 += first - k;
                        cur[s].3 = if fp >= tail - CAP { fp } else { fat };
                    } else {
                        prop_assert_eq!(r, Ok((k, payload(k, len))));
                        cur[s].0 = k + 1;
                        cur[s].3 = at + rec(len);
                        cur[s].4 = at + rec(len);
                        if cur[s].4 - cur[s].1 >= CAP / 8 {
                            cur[s].1 = cur[s].4;
                        }
                    }
                }
            }
        }
        let st = ch.stats();
        prop_assert_eq!(st.published, recs.len() as u64);
        prop_assert_eq!(st.lost, cur[0].2 + cur[1].2);
        Ok(())
    }

    proptest! {
        #![proptest_config(super::cases(if cfg!(miri) { 4 } else { 128 }))]
        #[test]
        fn bytes_sequential(block in any::<bool>(), ops in proptest::collection::vec(op(), 1..120)) {
            run(if block { Policy::Block } else { Policy::Overwrite }, ops)?;
        }
    }
}
