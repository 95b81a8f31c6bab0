//! Operation sequences on an in-process MPMC ring (two senders, two
//! receivers, used from one thread) against a reference model: the
//! elements committed come out once each, in commit order (one thread makes
//! the commit order total); a claim dropped without commit (a tombstone)
//! is never delivered; `Empty` only when nothing committed is waiting; a
//! send never succeeds into a ring holding `capacity` elements; batch
//! counts match; re-attached endpoints continue; after the senders leave,
//! the receivers drain and then see `Disconnected`.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shmlane::mpmc::{Builder, Receiver, Sender};
use shmlane::{TryRecvError, TrySendError};
use std::collections::VecDeque;

#[derive(Arbitrary, Debug)]
enum Op {
    Send(bool),
    /// Claim a slot in place; commit it or drop it (a tombstone).
    Claim(bool, bool),
    SendSlice(bool, u8),
    Recv(bool),
    /// Claim an element in place; release it or drop the claim.
    ClaimRecv(bool, bool),
    RecvSlice(bool, u8),
    ReattachSender(bool),
    ReattachReceiver(bool),
}

#[derive(Arbitrary, Debug)]
struct Input {
    log_cap: u8,
    ops: Vec<Op>,
}

/// Slots in use: committed elements (`Some`) and tombstones (`None`).
struct Model {
    q: VecDeque<Option<u64>>,
}

impl Model {
    fn values(&self) -> usize {
        self.q.iter().filter(|v| v.is_some()).count()
    }
    /// The next element a receiver gets, passing tombstones.
    fn pop(&mut self) -> Option<u64> {
        while let Some(v) = self.q.pop_front() {
            if v.is_some() {
                return v;
            }
        }
        None
    }
    fn got(&mut self, v: u64) {
        assert_eq!(self.pop(), Some(v), "receive order");
    }
    fn empty(&mut self) {
        assert_eq!(self.values(), 0, "spurious Empty");
        self.q.clear();
    }
}

fn pick<T>(v: &mut [T; 2], b: bool) -> &mut T {
    &mut v[usize::from(b)]
}

fuzz_target!(|input: Input| {
    let cap = 2usize << (input.log_cap % 5);
    let ch = Builder::new().capacity(cap).endpoints(6).in_process::<u64>().unwrap();
    let mut tx: [Sender<u64>; 2] = [ch.sender().unwrap(), ch.sender().unwrap()];
    let mut rx: [Receiver<u64>; 2] = [ch.receiver().unwrap(), ch.receiver().unwrap()];
    let mut m = Model { q: VecDeque::new() };
    let mut next = 1u64;
    for op in input.ops.iter().take(512) {
        match *op {
            Op::Send(i) => match pick(&mut tx, i).try_send(next) {
                Ok(()) => {
                    assert!(m.values() < cap, "send into a full ring");
                    m.q.push_back(Some(next));
                    next += 1;
                }
                Err(TrySendError::Full(v)) => assert_eq!(v, next),
                Err(e) => panic!("send: {e:?}"),
            },
            Op::Claim(i, commit) => match pick(&mut tx, i).try_claim() {
                Ok(mut c) => {
                    assert!(m.values() < cap, "claim in a full ring");
                    *c = next;
                    if commit {
                        c.commit().expect("commit");
                        m.q.push_back(Some(next));
                        next += 1;
                    } else {
                        drop(c);
                        m.q.push_back(None);
                    }
                }
                Err(TrySendError::Full(())) => {}
                Err(e) => panic!("claim: {e:?}"),
            },
            Op::SendSlice(i, n) => {
                let n = usize::from(n) % (2 * cap) + 1;
                let items: Vec<u64> = (next..next + n as u64).collect();
                match pick(&mut tx, i).try_send_slice(&items) {
                    Ok(k) => {
                        assert!(k >= 1 && k <= n && m.values() + k <= cap, "send_slice count {k}");
                        m.q.extend(items[..k].iter().map(|&v| Some(v)));
                        next += k as u64;
                    }
                    Err(TrySendError::Full(())) => {}
                    Err(e) => panic!("send_slice: {e:?}"),
                }
            }
            Op::Recv(j) => match pick(&mut rx, j).try_recv() {
                Ok(v) => m.got(v),
                Err(TryRecvError::Empty) => m.empty(),
                Err(e) => panic!("recv: {e:?}"),
            },
            Op::ClaimRecv(j, release) => match pick(&mut rx, j).try_claim() {
                Ok(c) => {
                    m.got(*c);
                    if release {
                        c.release().expect("release");
                    }
                }
                Err(TryRecvError::Empty) => m.empty(),
                Err(e) => panic!("claim recv: {e:?}"),
            },
            Op::RecvSlice(j, n) => {
                let mut out = vec![0u64; usize::from(n) % (2 * cap) + 1];
                match pick(&mut rx, j).try_recv_slice(&mut out) {
                    Ok(k) => {
                        assert!(k >= 1 && k <= out.len(), "recv_slice count {k}");
                        for v in &out[..k] {
                            m.got(*v);
                        }
                    }
                    Err(TryRecvError::Empty) => m.empty(),
                    Err(e) => panic!("recv_slice: {e:?}"),
                }
            }
            Op::ReattachSender(i) => {
                let s = pick(&mut tx, i);
                *s = ch.sender().unwrap();
            }
            Op::ReattachReceiver(j) => {
                let r = pick(&mut rx, j);
                *r = ch.receiver().unwrap();
            }
        }
    }
    drop(tx);
    let mut turn = false;
    while let Some(v) = m.pop() {
        turn = !turn;
        assert_eq!(pick(&mut rx, turn).try_recv(), Ok(v), "drain after the senders left");
    }
    assert_eq!(rx[0].try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx[1].try_recv(), Err(TryRecvError::Disconnected));
});
