//! shmlane's SPSC ring of `u64` between two processes, through the public
//! API only, against the hand-written limits of `raw_ring.rs` and
//! `raw_pingpong.rs`.
//!
//! - `throughput`: the child pushes one `u64` per `push` call, the parent
//!   pops one per `pop` call (both spinning: `WaitStrategy::Spin`), so each
//!   message pays a full publish, as in the raw ring's unbatched pattern.
//! - `throughput-batch`: zero-copy chunks on both sides (`reserve_up_to` →
//!   write in place → `commit_all`; `read_chunk` → read in place → release)
//!   of up to `raw_ring::BATCH` elements, as in the raw ring's batched pattern;
//!   each of a chunk's two slices is walked by a loop of its own, as the docs
//!   of `as_slices` advise.
//! - `pingpong`: two rings, a round trip is `push` then `pop` of one `u64`,
//!   spinning (`shmlane-spsc`) or parked on the futex (`shmlane-spsc-blocking`,
//!   `WaitStrategy::Park`: every message wakes a sleeping peer).
//!
//! Capacity is 64 Ki slots, as in the raw ring.

use shmlane::spsc::{Channel, Consumer, Producer};
use shmlane::{WaitConfig, WaitStrategy};

use crate::harness::{ChildCtx, Harness};
use crate::measure::{latency_loop, RxMeter, Sample, TxMeter, END};
use crate::sys::{bail, Error, Res};
use crate::transports::raw_ring::{BATCH, CAP};
use crate::transports::{Case, Family, Pattern, Transport};

/// shmlane SPSC ring, spinning waits.
pub struct ShmlaneSpsc;
/// shmlane SPSC ring, ping-pong with every wait parked on the futex.
pub struct ShmlaneSpscBlocking;

fn err(e: impl std::fmt::Display) -> Error {
    Error::new(format!("shmlane: {e}"))
}

fn wait_cfg(park: bool) -> WaitConfig {
    WaitConfig {
        strategy: if park { WaitStrategy::Park } else { WaitStrategy::Spin },
        ..WaitConfig::default()
    }
}

fn producer(ch: &Channel<u64>, park: bool) -> Res<Producer<u64>> {
    let mut p = ch.producer().map_err(err)?;
    p.set_wait_config(wait_cfg(park));
    Ok(p)
}

fn consumer(ch: &Channel<u64>, park: bool) -> Res<Consumer<u64>> {
    let mut c = ch.consumer().map_err(err)?;
    c.set_wait_config(wait_cfg(park));
    Ok(c)
}

fn open(name: &str) -> Res<Channel<u64>> {
    Channel::<u64>::open(name).map_err(err)
}

fn produce(tx: &mut Producer<u64>, case: &Case) -> Res<()> {
    let meter = TxMeter::start(case.cfg, 8);
    let mut seq = 0u64;
    if case.pattern == Pattern::Batch {
        while !meter.done(0) {
            if tx.wait_for_space(1, None).is_err() {
                bail!("consumer gone");
            }
            let mut chunk = tx.reserve_up_to(BATCH as usize).map_err(err)?;
            let (a, b) = chunk.as_mut_slices();
            seq = fill(a, seq);
            seq = fill(b, seq);
            chunk.commit_all();
        }
    } else {
        while !meter.done(seq) {
            tx.push(seq).map_err(err)?;
            seq += 1;
        }
    }
    tx.push(END).map_err(err)
}

/// Numbers the slots of `xs` from `seq` on; returns the next number.
#[inline(always)]
fn fill(xs: &mut [u64], mut seq: u64) -> u64 {
    for x in xs {
        *x = seq;
        seq += 1;
    }
    seq
}

fn consume(rx: &mut Consumer<u64>, case: &Case) -> Res<Sample> {
    let mut meter = RxMeter::new(case.cfg, 8);
    if case.pattern == Pattern::Batch {
        loop {
            rx.wait_for_items(1, None).map_err(err)?;
            let chunk = rx.read_chunk(BATCH as usize).map_err(err)?;
            let (a, b) = chunk.as_slices();
            for half in [a, b] {
                for &v in half {
                    if meter.on_seq(v)? {
                        return meter.finish();
                    }
                }
            }
        }
    } else {
        loop {
            let v = rx.pop().map_err(err)?;
            if meter.on_seq(v)? {
                return meter.finish();
            }
        }
    }
}

fn run(name: &'static str, park: bool, case: &Case, h: &mut Harness) -> Res<Sample> {
    let seg = h.unique("/");
    let ch = Channel::<u64>::create(&seg, CAP as usize).map_err(err)?;
    let sample = match case.pattern {
        Pattern::PingPong => {
            let back = h.unique("/");
            let back_ch = Channel::<u64>::create(&back, 1024).map_err(err)?;
            let mut child = h.spawn(name, "echo", case, &[seg.clone(), back.clone()], &[])?;
            let _ = shmlane::segment::unlink(&seg);
            let _ = shmlane::segment::unlink(&back);
            let mut tx = producer(&ch, park)?;
            let mut rx = consumer(&back_ch, park)?;
            child.go()?;
            let s = latency_loop(case.cfg, |seq| {
                tx.push(seq).map_err(err)?;
                let v = rx.pop().map_err(err)?;
                if v != seq {
                    bail!("echo {v} for ping {seq}");
                }
                Ok(())
            })?;
            tx.push(END).map_err(err)?;
            child.finish()?;
            s
        }
        _ => {
            let mut rx = consumer(&ch, park)?;
            let mut child = h.spawn(name, "producer", case, std::slice::from_ref(&seg), &[])?;
            let _ = shmlane::segment::unlink(&seg);
            child.go()?;
            let s = consume(&mut rx, case)?;
            child.finish()?;
            s
        }
    };
    Ok(sample)
}

fn child(park: bool, ctx: &mut ChildCtx) -> Res<()> {
    match ctx.case.pattern {
        Pattern::PingPong => {
            let mut rx = consumer(&open(ctx.arg(0)?)?, park)?;
            let mut tx = producer(&open(ctx.arg(1)?)?, park)?;
            ctx.ready()?;
            loop {
                let v = rx.pop().map_err(err)?;
                if v == END {
                    return Ok(());
                }
                tx.push(v).map_err(err)?;
            }
        }
        _ => {
            let mut tx = producer(&open(ctx.arg(0)?)?, park)?;
            ctx.ready()?;
            produce(&mut tx, &ctx.case)
        }
    }
}

impl Transport for ShmlaneSpsc {
    fn name(&self) -> &'static str {
        "shmlane-spsc"
    }
    fn family(&self) -> Family {
        Family::Shmlane
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::Throughput, Pattern::Batch, Pattern::PingPong]
    }
    fn sizes(&self, pattern: Pattern, _catalogue: &[usize]) -> Vec<usize> {
        match pattern {
            Pattern::PingPong => vec![crate::transports::PING_SIZE],
            _ => vec![8],
        }
    }
    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        run(self.name(), false, case, h)
    }
    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        child(false, ctx)
    }
}

impl Transport for ShmlaneSpscBlocking {
    fn name(&self) -> &'static str {
        "shmlane-spsc-blocking"
    }
    fn family(&self) -> Family {
        Family::Shmlane
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::PingPong]
    }
    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        run(self.name(), true, case, h)
    }
    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        child(true, ctx)
    }
}
