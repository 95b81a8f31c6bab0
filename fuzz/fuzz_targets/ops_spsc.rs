//! Operation sequences on an in-process SPSC ring against a reference
//! model (a `VecDeque`): every element pushed comes out once, in order;
//! `Full` exactly when the ring holds `capacity` elements, `Empty` exactly
//! when it holds none; chunks never exceed what was asked or what is there;
//! a re-attached producer or consumer continues where the last one
//! stopped; a chunk dropped without commit publishes nothing; after the
//! producer leaves, the consumer drains and then sees `Disconnected`.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shmlane::spsc::Channel;
use shmlane::{TryRecvError, TrySendError};
use std::collections::VecDeque;

#[derive(Arbitrary, Debug)]
enum Op {
    Push,
    PushSlice(u8),
    /// Reserve exactly n, write, commit k of them.
    Reserve(u8, u8),
    /// Reserve up to n, write, commit k of them.
    ReserveUpTo(u8, u8),
    Pop,
    PopSlice(u8),
    /// Borrow up to n, release k of them.
    ReadChunk(u8, u8),
    Peek,
    ReattachProducer,
    ReattachConsumer,
}

#[derive(Arbitrary, Debug)]
struct Input {
    log_cap: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let cap = 1usize << (input.log_cap % 6);
    let ch = Channel::<u64>::in_process(cap).unwrap();
    let mut tx = ch.producer().unwrap();
    let mut rx = ch.consumer().unwrap();
    let mut model: VecDeque<u64> = VecDeque::new();
    let mut next = 1u64;
    for op in input.ops.iter().take(512) {
        let free = cap - model.len();
        match *op {
            Op::Push => match tx.try_push(next) {
                Ok(()) => {
                    assert!(free > 0, "push into a full ring");
                    model.push_back(next);
                    next += 1;
                }
                Err(TrySendError::Full(v)) => assert!(free == 0 && v == next, "spurious Full"),
                Err(e) => panic!("push: {e:?}"),
            },
            Op::PushSlice(n) => {
                let n = usize::from(n) % (2 * cap) + 1;
                let items: Vec<u64> = (next..next + n as u64).collect();
                match tx.try_push_slice(&items) {
                    Ok(k) => {
                        assert_eq!(k, n.min(free), "push_slice count");
                        model.extend(&items[..k]);
                        next += k as u64;
                    }
                    Err(TrySendError::Full(())) => assert_eq!(free, 0, "spurious Full"),
                    Err(e) => panic!("push_slice: {e:?}"),
                }
            }
            Op::Reserve(n, k) | Op::ReserveUpTo(n, k) => {
                let n = usize::from(n) % (2 * cap) + 1;
                let exact = matches!(op, Op::Reserve(..));
                let r = if exact { tx.reserve(n) } else { tx.reserve_up_to(n) };
                match r {
                    Ok(mut c) => {
                        let want = if exact { n } else { n.min(free) };
                        assert_eq!(c.len(), want, "chunk size");
                        assert!(c.len() <= free);
                        let (a, b) = c.as_mut_slices();
                        assert_eq!(a.len() + b.len(), want);
                        for (i, x) in a.iter_mut().chain(b.iter_mut()).enumerate() {
                            *x = next + i as u64;
                        }
                        let k = usize::from(k) % (want + 1);
                        c.commit(k);
                        model.extend(next..next + k as u64);
                        next += k as u64;
                    }
                    Err(TrySendError::Full(())) => {
                        assert!(if exact { n > free } else { free == 0 }, "spurious Full")
                    }
                    Err(e) => panic!("reserve: {e:?}"),
                }
            }
            Op::Pop => match rx.try_pop() {
                Ok(v) => assert_eq!(Some(v), model.pop_front(), "pop order"),
                Err(TryRecvError::Empty) => assert!(model.is_empty(), "spurious Empty"),
                Err(e) => panic!("pop: {e:?}"),
            },
            Op::PopSlice(n) => {
                let mut out = vec![0u64; usize::from(n) % (2 * cap) + 1];
                match rx.try_pop_slice(&mut out) {
                    Ok(k) => {
                        assert_eq!(k, out.len().min(model.len()), "pop_slice count");
                        for v in &out[..k] {
                            assert_eq!(Some(*v), model.pop_front(), "pop_slice order");
                        }
                    }
                    Err(TryRecvError::Empty) => assert!(model.is_empty(), "spurious Empty"),
                    Err(e) => panic!("pop_slice: {e:?}"),
                }
            }
            Op::ReadChunk(n, k) => {
                let n = usize::from(n) % (2 * cap) + 1;
                match rx.read_chunk(n) {
                    Ok(c) => {
                        assert_eq!(c.len(), n.min(model.len()), "read chunk size");
                        let (a, b) = c.as_slices();
                        for (x, y) in a.iter().chain(b).zip(&model) {
                            assert_eq!(x, y, "read chunk contents");
                        }
                        let k = usize::from(k) % (c.len() + 1);
                        c.release(k);
                        model.drain(..k);
                    }
                    Err(TryRecvError::Empty) => assert!(model.is_empty(), "spurious Empty"),
                    Err(e) => panic!("read_chunk: {e:?}"),
                }
            }
            Op::Peek => match rx.peek() {
                Ok(v) => assert_eq!(Some(&v), model.front()),
                Err(TryRecvError::Empty) => assert!(model.is_empty(), "spurious Empty"),
                Err(e) => panic!("peek: {e:?}"),
            },
            Op::ReattachProducer => {
                drop(tx);
                tx = ch.producer().unwrap();
            }
            Op::ReattachConsumer => {
                drop(rx);
                rx = ch.consumer().unwrap();
            }
        }
        let s = ch.stats();
        assert_eq!(s.depth as usize, model.len(), "stats depth");
    }
    drop(tx);
    for v in model {
        assert_eq!(rx.try_pop(), Ok(v), "drain after the producer left");
    }
    assert_eq!(rx.try_pop(), Err(TryRecvError::Disconnected));
});
