//! The SPSC ring against a `VecDeque` reference model: random sequences of
//! single and batch pushes and pops, zero-copy reserve/commit (partial and
//! abandoned) and read/release (partial, peeks), over capacities 1 to 16 so
//! that every wrap position is visited. The expected outcome of each step is
//! kept in the model state, so any difference fails the test.

use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use shmlane::spsc::{channel, Consumer, Producer};
use shmlane::{TryRecvError, TrySendError};
use std::collections::VecDeque;

#[derive(Debug, Clone)]
enum Op {
    Push(u32),
    PushSlice(Vec<u32>),
    Pop,
    PopSlice(usize),
    /// Reserve up to `n`, fill with `base + i`, commit `commit` of them.
    Reserve {
        n: usize,
        commit: usize,
        base: u32,
    },
    /// Read up to `n` in place, release `release` of them.
    Read {
        n: usize,
        release: usize,
    },
    Peek,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    None,
    Pushed(usize),
    Full,
    Popped(Vec<u32>),
    Empty,
}

#[derive(Debug, Clone)]
struct Model {
    cap: usize,
    q: VecDeque<u32>,
    last: Outcome,
}

struct RefMachine;

impl ReferenceStateMachine for RefMachine {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        (0u32..5)
            .prop_map(|p| Model {
                cap: 1 << p,
                q: VecDeque::new(),
                last: Outcome::None,
            })
            .boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Op> {
        prop_oneof![
            any::<u32>().prop_map(Op::Push),
            prop::collection::vec(any::<u32>(), 0..20).prop_map(Op::PushSlice),
            Just(Op::Pop),
            (0usize..20).prop_map(Op::PopSlice),
            (1usize..20, 0usize..20, any::<u32>()).prop_map(|(n, c, base)| Op::Reserve { n, commit: c, base }),
            (1usize..20, 0usize..20).prop_map(|(n, r)| Op::Read { n, release: r }),
            Just(Op::Peek),
        ]
        .boxed()
    }

    fn apply(mut s: Model, op: &Op) -> Model {
        let free = s.cap - s.q.len();
        s.last = match op {
            Op::Push(v) => {
                if free > 0 {
                    s.q.push_back(*v);
                    Outcome::Pushed(1)
                } else {
                    Outcome::Full
                }
            }
            Op::PushSlice(vs) => {
                if vs.is_empty() {
                    Outcome::Pushed(0)
                } else if free == 0 {
                    Outcome::Full
                } else {
                    let k = vs.len().min(free);
                    s.q.extend(&vs[..k]);
                    Outcome::Pushed(k)
                }
            }
            Op::Pop => match s.q.pop_front() {
                Some(v) => Outcome::Popped(vec![v]),
                None => Outcome::Empty,
            },
            Op::PopSlice(n) => {
                if *n == 0 {
                    Outcome::Popped(vec![])
                } else if s.q.is_empty() {
                    Outcome::Empty
                } else {
                    let k = (*n).min(s.q.len());
                    Outcome::Popped(s.q.drain(..k).collect())
                }
            }
            Op::Reserve { n, commit, base } => {
                if free == 0 {
                    Outcome::Full
                } else {
                    let got = (*n).min(free);
                    let c = (*commit).min(got);
                    s.q.extend((0..c as u32).map(|i| base.wrapping_add(i)));
                    Outcome::Pushed(c)
                }
            }
            Op::Read { n, release } => {
                if s.q.is_empty() {
                    Outcome::Empty
                } else {
                    let got = (*n).min(s.q.len());
                    let seen: Vec<u32> = s.q.iter().take(got).copied().collect();
                    let r = (*release).min(got);
                    s.q.drain(..r);
                    Outcome::Popped(seen)
                }
            }
            Op::Peek => match s.q.front() {
                Some(v) => Outcome::Popped(vec![*v]),
                None => Outcome::Empty,
            },
        };
        s
    }
}

struct Sut {
    tx: Producer<u32>,
    rx: Consumer<u32>,
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Sut;
    type Reference = RefMachine;

    fn init_test(r: &Model) -> Sut {
        let (tx, rx) = channel::<u32>(r.cap).unwrap();
        Sut { tx, rx }
    }

    fn apply(mut sut: Sut, r: &Model, op: Op) -> Sut {
        let got = match op {
            Op::Push(v) => match sut.tx.try_push(v) {
                Ok(()) => Outcome::Pushed(1),
                Err(TrySendError::Full(x)) => {
                    assert_eq!(x, v, "value handed back");
                    Outcome::Full
                }
                Err(e) => panic!("{e:?}"),
            },
            Op::PushSlice(vs) => match sut.tx.try_push_slice(&vs) {
                Ok(k) => Outcome::Pushed(k),
                Err(TrySendError::Full(())) => Outcome::Full,
                Err(e) => panic!("{e:?}"),
            },
            Op::Pop => match sut.rx.try_pop() {
                Ok(v) => Outcome::Popped(vec![v]),
                Err(TryRecvError::Empty) => Outcome::Empty,
                Err(e) => panic!("{e:?}"),
            },
            Op::PopSlice(n) => {
                let mut buf = vec![0u32; n];
                match sut.rx.try_pop_slice(&mut buf) {
                    Ok(k) => Outcome::Popped(buf[..k].to_vec()),
                    Err(TryRecvError::Empty) => Outcome::Empty,
                    Err(e) => panic!("{e:?}"),
                }
            }
            Op::Reserve { n, commit, base } => match sut.tx.reserve_up_to(n) {
                Ok(mut chunk) => {
                    let len = chunk.len();
                    let (a, b) = chunk.as_mut_slices();
                    assert_eq!(a.len() + b.len(), len);
                    for (i, x) in a.iter_mut().chain(b.iter_mut()).enumerate() {
                        *x = base.wrapping_add(i as u32);
                    }
                    let c = commit.min(len);
                    chunk.commit(c);
                    Outcome::Pushed(c)
                }
                Err(TrySendError::Full(())) => Outcome::Full,
                Err(e) => panic!("{e:?}"),
            },
            Op::Read { n, release } => match sut.rx.read_chunk(n) {
                Ok(chunk) => {
                    let (a, b) = chunk.as_slices();
                    let seen: Vec<u32> = a.iter().chain(b).copied().collect();
                    let r = release.min(chunk.len());
                    chunk.release(r);
                    Outcome::Popped(seen)
                }
                Err(TryRecvError::Empty) => Outcome::Empty,
                Err(e) => panic!("{e:?}"),
            },
            Op::Peek => match sut.rx.peek() {
                Ok(v) => Outcome::Popped(vec![v]),
                Err(TryRecvError::Empty) => Outcome::Empty,
                Err(e) => panic!("{e:?}"),
            },
        };
        assert_eq!(got, r.last);
        sut
    }

    fn check_invariants(sut: &Sut, r: &Model) {
        assert_eq!(sut.tx.capacity(), r.cap);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        .. ProptestConfig::default()
    })]

    #[test]
    fn spsc_matches_vecdeque(sequential 1..120 => Sut);
}
