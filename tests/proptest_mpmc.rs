//! Property tests of the MPMC ring (`src/mpmc.rs`) on in-process channels.
//!
//! - `sequential`: random sequences of every non-blocking operation
//!   (sends, batch sends, claims committed or dropped, receives, batch
//!   receives, read claims, attaching and detaching endpoints) on one
//!   thread, checked step by step against a model: a `VecDeque` of
//!   positions, where a dropped write claim is a tombstone that occupies
//!   its position until a receiver passes over it. Every outcome (value,
//!   `Full`, `Empty`, `Disconnected`, `EndpointTableFull`) and the
//!   statistics must match.
//! - `concurrent`: random numbers of producer and consumer threads, batch
//!   sizes and capacities; every element is received exactly once and each
//!   consumer sees each producer's elements in order.

use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use shmlane::mpmc::{Builder, Channel, Receiver, Sender};
use shmlane::{Error, RecvError, TryRecvError, TrySendError};
use std::collections::VecDeque;

const ENDPOINTS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    TrySend { s: usize, v: u32 },
    TrySendSlice { s: usize, vs: Vec<u32> },
    ClaimCommit { s: usize, v: u32 },
    ClaimDrop { s: usize },
    TryRecv { r: usize },
    TryRecvSlice { r: usize, n: usize },
    ReadClaim { r: usize, release: bool },
    AttachSender,
    AttachReceiver,
    DetachSender { s: usize },
    DetachReceiver { r: usize },
}

/// What the last operation must have returned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    None,
    Sent(usize),
    Full,
    SendDisconnected,
    Got(Vec<u32>),
    Empty,
    RecvDisconnected,
    Attached,
    TableFull,
}

#[derive(Debug, Clone)]
struct Model {
    cap: usize,
    /// Positions claimed and not yet passed by a receiver; `None` is a
    /// tombstone.
    ring: VecDeque<Option<u32>>,
    next: u32,
    senders: usize,
    receivers: usize,
    sender_ever: bool,
    receiver_ever: bool,
    sent: u64,
    received: u64,
    aborted: u64,
    last: Outcome,
}

impl Model {
    fn send_blocked(&self) -> Option<Outcome> {
        if self.receiver_ever && self.receivers == 0 {
            Some(Outcome::SendDisconnected)
        } else if self.ring.len() == self.cap {
            Some(Outcome::Full)
        } else {
            None
        }
    }

    /// Pops up to `n` positions per claim until one claim yields a value.
    fn recv(&mut self, n: usize) -> Outcome {
        while !self.ring.is_empty() {
            let k = n.min(self.ring.len());
            let got: Vec<u32> = self.ring.drain(..k).flatten().collect();
            if !got.is_empty() {
                self.received += got.len() as u64;
                return Outcome::Got(got);
            }
        }
        if self.sender_ever && self.senders == 0 {
            Outcome::RecvDisconnected
        } else {
            Outcome::Empty
        }
    }
}

struct RefMachine;

impl ReferenceStateMachine for RefMachine {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        prop::sample::select(vec![2usize, 4, 8])
            .prop_map(|cap| Model {
                cap,
                ring: VecDeque::new(),
                next: 0,
                senders: 0,
                receivers: 0,
                sender_ever: false,
                receiver_ever: false,
                sent: 0,
                received: 0,
                aborted: 0,
                last: Outcome::None,
            })
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Op> {
        let v = state.next;
        let s = state.senders.max(1);
        let r = state.receivers.max(1);
        prop_oneof![
            1 => Just(Op::AttachSender),
            1 => Just(Op::AttachReceiver),
            1 => (0..s).prop_map(|s| Op::DetachSender { s }),
            1 => (0..r).prop_map(|r| Op::DetachReceiver { r }),
            4 => (0..s).prop_map(move |s| Op::TrySend { s, v }),
            2 => (0..s, 1..6u32).prop_map(move |(s, n)| Op::TrySendSlice { s, vs: (v..v + n).collect() }),
            2 => (0..s).prop_map(move |s| Op::ClaimCommit { s, v }),
            1 => (0..s).prop_map(|s| Op::ClaimDrop { s }),
            4 => (0..r).prop_map(|r| Op::TryRecv { r }),
            2 => (0..r, 1..6usize).prop_map(|(r, n)| Op::TryRecvSlice { r, n }),
            2 => (0..r, any::<bool>()).prop_map(|(r, release)| Op::ReadClaim { r, release }),
        ]
        .boxed()
    }

    fn preconditions(state: &Model, op: &Op) -> bool {
        match op {
            Op::TrySend { s, .. }
            | Op::TrySendSlice { s, .. }
            | Op::ClaimCommit { s, .. }
            | Op::ClaimDrop { s }
            | Op::DetachSender { s } => *s < state.senders,
            Op::TryRecv { r } | Op::TryRecvSlice { r, .. } | Op::ReadClaim { r, .. } | Op::DetachReceiver { r } => {
                *r < state.receivers
            }
            Op::AttachSender | Op::AttachReceiver => true,
        }
    }

    fn apply(mut st: Model, op: &Op) -> Model {
        st.last = match op {
            Op::TrySend { v, .. } | Op::ClaimCommit { v, .. } => match st.send_blocked() {
                Some(o) => o,
                None => {
                    st.ring.push_back(Some(*v));
                    st.sent += 1;
                    st.next = st.next.max(v + 1);
                    Outcome::Sent(1)
                }
            },
            Op::TrySendSlice { vs, .. } => match st.send_blocked() {
                Some(o) => o,
                None => {
                    let k = vs.len().min(st.cap - st.ring.len());
                    st.ring.extend(vs[..k].iter().map(|v| Some(*v)));
                    st.sent += k as u64;
                    st.next = st.next.max(vs[vs.len() - 1] + 1);
                    Outcome::Sent(k)
                }
            },
            Op::ClaimDrop { .. } => match st.send_blocked() {
                Some(o) => o,
                None => {
                    st.ring.push_back(None);
                    st.aborted += 1;
                    Outcome::Sent(0)
                }
            },
            Op::TryRecv { .. } | Op::ReadClaim { .. } => st.recv(1),
            Op::TryRecvSlice { n, .. } => st.recv(*n),
            Op::AttachSender | Op::AttachReceiver if st.senders + st.receivers == ENDPOINTS => Outcome::TableFull,
            Op::AttachSender => {
                st.senders += 1;
                st.sender_ever = true;
                Outcome::Attached
            }
            Op::AttachReceiver => {
                st.receivers += 1;
                st.receiver_ever = true;
                Outcome::Attached
            }
            Op::DetachSender { .. } => {
                st.senders -= 1;
                Outcome::None
            }
            Op::DetachReceiver { .. } => {
                st.receivers -= 1;
                Outcome::None
            }
        };
        st
    }
}

struct Sut {
    ch: Channel<u32>,
    senders: Vec<Sender<u32>>,
    receivers: Vec<Receiver<u32>>,
}

fn send_outcome(r: Result<usize, TrySendError<()>>) -> Outcome {
    match r {
        Ok(n) => Outcome::Sent(n),
        Err(TrySendError::Full(())) => Outcome::Full,
        Err(TrySendError::Disconnected(())) => Outcome::SendDisconnected,
        Err(e) => panic!("unexpected {e:?}"),
    }
}

fn recv_outcome(r: Result<Vec<u32>, TryRecvError>) -> Outcome {
    match r {
        Ok(v) => Outcome::Got(v),
        Err(TryRecvError::Empty) => Outcome::Empty,
        Err(TryRecvError::Disconnected) => Outcome::RecvDisconnected,
        Err(e) => panic!("unexpected {e:?}"),
    }
}

fn attach_outcome<H>(r: shmlane::Result<H>, into: &mut Vec<H>) -> Outcome {
    match r {
        Ok(h) => {
            into.push(h);
            Outcome::Attached
        }
        Err(Error::EndpointTableFull { capacity, .. }) => {
            assert_eq!(capacity as usize, ENDPOINTS);
            Outcome::TableFull
        }
        Err(e) => panic!("unexpected {e:?}"),
    }
}

struct MpmcTest;

impl StateMachineTest for MpmcTest {
    type SystemUnderTest = Sut;
    type Reference = RefMachine;

    fn init_test(st: &Model) -> Sut {
        Sut {
            ch: Builder::new()
                .capacity(st.cap)
                .endpoints(ENDPOINTS as u32)
                .in_process()
                .unwrap(),
            senders: Vec::new(),
            receivers: Vec::new(),
        }
    }

    fn apply(mut sut: Sut, st: &Model, op: Op) -> Sut {
        let got = match op {
            Op::TrySend { s, v } => send_outcome(sut.senders[s].try_send(v).map(|()| 1).map_err(|e| match e {
                TrySendError::Full(_) => TrySendError::Full(()),
                TrySendError::Disconnected(_) => TrySendError::Disconnected(()),
                e => panic!("unexpected {e:?}"),
            })),
            Op::TrySendSlice { s, vs } => send_outcome(sut.senders[s].try_send_slice(&vs)),
            Op::ClaimCommit { s, v } => send_outcome(sut.senders[s].try_claim().map(|mut c| {
                *c = v;
                c.commit().unwrap();
                1
            })),
            Op::ClaimDrop { s } => send_outcome(sut.senders[s].try_claim().map(|mut c| {
                c.write(12345);
                drop(c);
                0
            })),
            Op::TryRecv { r } => recv_outcome(sut.receivers[r].try_recv().map(|v| vec![v])),
            Op::TryRecvSlice { r, n } => {
                let mut buf = vec![0; n];
                recv_outcome(sut.receivers[r].try_recv_slice(&mut buf).map(|k| buf[..k].to_vec()))
            }
            Op::ReadClaim { r, release } => recv_outcome(sut.receivers[r].try_claim().map(|c| {
                let v = *c;
                if release {
                    c.release().unwrap();
                }
                vec![v]
            })),
            Op::AttachSender => attach_outcome(sut.ch.sender(), &mut sut.senders),
            Op::AttachReceiver => attach_outcome(sut.ch.receiver(), &mut sut.receivers),
            Op::DetachSender { s } => {
                sut.senders.remove(s);
                Outcome::None
            }
            Op::DetachReceiver { r } => {
                sut.receivers.remove(r);
                Outcome::None
            }
        };
        assert_eq!(got, st.last, "state after the step: {st:?}");
        sut
    }

    fn check_invariants(sut: &Sut, st: &Model) {
        let s = sut.ch.stats();
        assert_eq!(s.depth, st.ring.iter().flatten().count() as u64);
        assert_eq!(
            (s.sent, s.received, s.aborted, s.lost),
            (st.sent, st.received, st.aborted, 0)
        );
        assert_eq!((s.senders as usize, s.receivers as usize), (st.senders, st.receivers));
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 4 } else { 256 }, ..ProptestConfig::default() })]
    #[test]
    fn sequential(sequential 1..60 => MpmcTest);
}

/// How a thread sends or receives in the concurrent test.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Single,
    Batch(usize),
    Claim,
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Single), (2..5usize).prop_map(Mode::Batch), Just(Mode::Claim)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 2 } else { 24 }, ..ProptestConfig::default() })]
    #[test]
    fn concurrent(
        cap in prop::sample::select(vec![2usize, 4, 16]),
        producers in prop::collection::vec((mode(), 0..400u32), 1..4),
        consumers in prop::collection::vec(mode(), 1..4),
    ) {
        let ch = Channel::<u32>::in_process(cap).unwrap();
        // Attach everyone first, so that no receiver sees Disconnected
        // before the last sender attached.
        let txs: Vec<_> = producers.iter().map(|_| ch.sender().unwrap()).collect();
        let rxs: Vec<_> = consumers.iter().map(|_| ch.receiver().unwrap()).collect();
        let recv_threads: Vec<_> = rxs
            .into_iter()
            .zip(consumers.clone())
            .map(|(mut rx, m)| {
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut buf = [0u32; 4];
                    loop {
                        let r = match m {
                            Mode::Single => rx.recv().map(|v| got.push(v)),
                            Mode::Batch(n) => rx.recv_slice(&mut buf[..n]).map(|k| got.extend_from_slice(&buf[..k])),
                            Mode::Claim => rx.claim_slot().map(|c| got.push(*c)),
                        };
                        if let Err(e) = r {
                            assert_eq!(e, RecvError::Disconnected);
                            return got;
                        }
                    }
                })
            })
            .collect();
        let send_threads: Vec<_> = txs
            .into_iter()
            .zip(producers.clone())
            .enumerate()
            .map(|(id, (mut tx, (m, n)))| {
                std::thread::spawn(move || {
                    let vals: Vec<u32> = (0..n).map(|i| (id as u32) << 16 | i).collect();
                    match m {
                        Mode::Single => vals.iter().for_each(|&v| tx.send(v).unwrap()),
                        Mode::Batch(k) => vals.chunks(k).for_each(|c| tx.send_slice(c).unwrap()),
                        Mode::Claim => vals.iter().for_each(|&v| {
                            let mut c = tx.claim_slot().unwrap();
                            *c = v;
                            c.commit().unwrap();
                        }),
                    }
                })
            })
            .collect();
        for t in send_threads {
            t.join().unwrap();
        }
        let mut all = Vec::new();
        for t in recv_threads {
            let got = t.join().unwrap();
            for id in 0..producers.len() as u32 {
                let mine: Vec<u32> = got.iter().copied().filter(|v| v >> 16 == id).collect();
                prop_assert!(mine.windows(2).all(|w| w[0] < w[1]), "producer {} out of order", id);
            }
            all.extend(got);
        }
        all.sort_unstable();
        let want: Vec<u32> = producers
            .iter()
            .enumerate()
            .flat_map(|(id, (_, n))| (0..*n).map(move |i| (id as u32) << 16 | i))
            .collect();
        prop_assert_eq!(all, want);
        let s = ch.stats();
        prop_assert_eq!((s.sent, s.received, s.depth, s.lost), (s.received, s.sent, 0, 0));
    }
}
