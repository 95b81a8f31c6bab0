//! In-process references, clearly not cross-process: a producer thread and a
//! consumer thread (pinned to the same two CPUs as the process pairs) passing
//! `u64`s through a bounded queue of the same capacity as the raw ring
//! (64 Ki). They show what the best-known Rust queues reach when both sides
//! share an address space, so a reader can tell how much of a gap to the raw
//! ring is the algorithm and how much is anything cross-process.
//!
//! * `crossbeam-channel` (bounded, blocking `send`/`recv`: spins, then parks).
//! * `rtrb` (wait-free SPSC ring; the sides spin on `push`/`pop`).

use std::thread;

use crate::harness::Harness;
use crate::measure::{RxMeter, Sample, TxMeter, END};
use crate::sys::{self, Error, Res, Spin};
use crate::transports::raw_ring::CAP;
use crate::transports::{Case, Family, Pattern, Transport};

/// crossbeam-channel, two threads.
pub struct CrossbeamChannel;

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

impl Transport for CrossbeamChannel {
    fn name(&self) -> &'static str {
        "crossbeam-channel"
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
        let (tx, rx) = crossbeam_channel::bounded::<u64>(CAP as usize);
        let cfg = case.cfg;
        two_threads(
            h,
            move || {
                let m = TxMeter::start(cfg, 8);
                let mut seq = 0;
                while !m.done(seq) {
                    tx.send(seq).map_err(|_| Error::new("consumer gone"))?;
                    seq += 1;
                }
                tx.send(END).map_err(|_| Error::new("consumer gone"))
            },
            move || {
                let mut m = RxMeter::new(cfg, 8);
                loop {
                    let v = rx.recv().map_err(|_| Error::new("producer gone"))?;
                    if m.on_seq(v)? {
                        return m.finish();
                    }
                }
            },
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
