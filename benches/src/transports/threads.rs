//! In-process references, clearly not cross-process: producer threads and
//! consumer threads (pinned to the same two CPUs as the processes: producers
//! on the child side, consumers on the parent side) passing `u64`s through a
//! bounded queue of the same capacity as the raw ring (64 Ki). They show
//! what the best-known Rust queues reach when all sides share an address
//! space, so a reader can tell how much of a gap to the raw ring is the
//! algorithm and how much is anything cross-process.
//!
//! * `crossbeam-channel` (bounded, blocking `send`/`recv`: spins, then
//!   parks); every shape (1P1C, 2P1C, 1P2C) through
//!   [`crate::transports::shape`], like the cross-process MPMC rows.
//! * `crossbeam-arrayqueue` (`crossbeam_queue::ArrayQueue`, Vyukov's bounded
//!   MPMC queue, the algorithm of shmlane's MPMC ring; non-blocking
//!   `push`/`pop`, the sides spin); every shape.
//! * `rtrb` (wait-free SPSC ring; the sides spin on `push`/`pop`).

use std::sync::Arc;
use std::thread;

use crossbeam_queue::ArrayQueue;

use crate::harness::Harness;
use crate::measure::{RxMeter, Sample, TxMeter, END};
use crate::sys::{self, Error, Res, Spin};
use crate::transports::raw_ring::CAP;
use crate::transports::shape::{self, Rx, Tx};
use crate::transports::{Case, Family, Pattern, Transport};

/// crossbeam-channel, threads.
pub struct CrossbeamChannel;

/// crossbeam-queue's `ArrayQueue`, threads.
pub struct CrossbeamArrayQueue;

/// rtrb, two threads.
pub struct Rtrb;

/// Runs `producer` on a thread pinned to the child CPU and `consumer` here.
fn two_threads<P>(h: &Harness, producer: P, consumer: impl FnOnce() -> Res<Sample>) -> Res<Sample>
where
    P: FnOnce() -> Res<()> + Send,
{
    let cpu = h.pin.child;
    thread::scope(|s| {
        let p = s.spawn(move || {
            if let Some(c) = cpu {
                sys::pin_to(c)?;
            }
            producer()
        });
        let r = consumer();
        let pr = p.join().map_err(|_| Error::new("producer thread panicked"))?;
        pr?;
        r
    })
}

impl Tx for crossbeam_channel::Sender<u64> {
    #[inline(always)]
    fn send(&mut self, v: u64) -> Res<()> {
        crossbeam_channel::Sender::send(self, v).map_err(|_| Error::new("consumers gone"))
    }
}

impl Rx for crossbeam_channel::Receiver<u64> {
    #[inline(always)]
    fn recv(&mut self) -> Res<u64> {
        crossbeam_channel::Receiver::recv(self).map_err(|_| Error::new("producers gone"))
    }
}

impl Transport for CrossbeamChannel {
    fn name(&self) -> &'static str {
        "crossbeam-channel"
    }
    fn family(&self) -> Family {
        Family::InProcess
    }
    fn patterns(&self) -> &'static [Pattern] {
        &Pattern::SHAPES
    }
    fn sizes(&self, _pattern: Pattern, _catalogue: &[usize]) -> Vec<usize> {
        vec![8]
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let (p, c) = shape::shape_of(case.pattern)?;
        let (tx, rx) = crossbeam_channel::bounded::<u64>(CAP as usize);
        shape::run_threads(h, case, vec![tx; p], vec![rx; c])
    }
}

/// One end of an `ArrayQueue` (the queue has no sender/receiver split).
struct Aq(Arc<ArrayQueue<u64>>, Spin);

impl Tx for Aq {
    #[inline(always)]
    fn send(&mut self, v: u64) -> Res<()> {
        let mut v = v;
        loop {
            match self.0.push(v) {
                Ok(()) => return Ok(()),
                Err(back) => v = back,
            }
            self.1.spin()?;
        }
    }
}

impl Rx for Aq {
    #[inline(always)]
    fn recv(&mut self) -> Res<u64> {
        loop {
            if let Some(v) = self.0.pop() {
                return Ok(v);
            }
            self.1.spin()?;
        }
    }
}

impl Transport for CrossbeamArrayQueue {
    fn name(&self) -> &'static str {
        "crossbeam-arrayqueue"
    }
    fn family(&self) -> Family {
        Family::InProcess
    }
    fn patterns(&self) -> &'static [Pattern] {
        &Pattern::SHAPES
    }
    fn sizes(&self, _pattern: Pattern, _catalogue: &[usize]) -> Vec<usize> {
        vec![8]
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let (p, c) = shape::shape_of(case.pattern)?;
        let q = Arc::new(ArrayQueue::<u64>::new(CAP as usize));
        let end = || Aq(q.clone(), Spin::new());
        shape::run_threads(
            h,
            case,
            (0..p).map(|_| end()).collect(),
            (0..c).map(|_| end()).collect(),
        )
    }
}

impl Transport for Rtrb {
    fn name(&self) -> &'static str {
        "rtrb"
    }
    fn family(&self) -> Family {
        Family::InProcess
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::Throughput]
    }
    fn sizes(&self, _pattern: Pattern, _catalogue: &[usize]) -> Vec<usize> {
        vec![8]
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAP as usize);
        let cfg = case.cfg;
        two_threads(
            h,
            move || {
                let m = TxMeter::start(cfg, 8);
                let mut spin = Spin::new();
                let mut seq = 0;
                loop {
                    let v = if m.done(seq) { END } else { seq };
                    while tx.push(v).is_err() {
                        if tx.is_abandoned() {
                            return Err(Error::new("consumer gone"));
                        }
                        spin.spin()?;
                    }
                    if v == END {
                        return Ok(());
                    }
                    seq += 1;
                }
            },
            move || {
                let mut m = RxMeter::new(cfg, 8);
                let mut spin = Spin::new();
                loop {
                    match rx.pop() {
                        Ok(v) => {
                            if m.on_seq(v)? {
                                return m.finish();
                            }
                        }
                        // The abandon flag is set (and read with Acquire) after
                        // the producer's last push, so pop once more before
                        // concluding that the producer left without END.
                        Err(_) if rx.is_abandoned() => {
                            let v = rx.pop().map_err(|_| Error::new("producer gone"))?;
                            if m.on_seq(v)? {
                                return m.finish();
                            }
                        }
                        Err(_) => spin.spin()?,
                    }
                }
            },
        )
    }
}
