//! shmlane's byte-message ring (`shmlane::bytes`, SPSC kind) between two
//! processes, for every message size of the run, through the public API:
//!
//! - `shmlane-bytes`: the copying API on both sides (`send(&[u8])`, and a
//!   read in place copied out into the receiver's buffer), driven by the same
//!   message loops as every OS peer (`msg.rs`), so the comparison is like for
//!   like: one copy in, one copy out, as with a pipe.
//! - `shmlane-bytes-zc`: zero-copy on both sides: the producer claims space
//!   and writes the message in place (its sequence number and payload bytes,
//!   one pass, as an application building its message in the ring would),
//!   the consumer reads the record in place and looks only at what it needs
//!   (the sequence number and the last byte) before releasing it.
//!
//! The ring is 16 MiB with a maximum message of 1 MiB + 64 bytes; waits
//! spin (`WaitStrategy::Spin`), as the spinning rows of the other shmlane
//! transports.

use shmlane::bytes::{Builder, Consumer, Producer};
use shmlane::{WaitConfig, WaitStrategy};

use crate::harness::{ChildCtx, Harness};
use crate::measure::{RxMeter, Sample, TxMeter, END};
use crate::sys::{bail, Error, Res};
use crate::transports::msg::{self, Endpoint};
use crate::transports::{Case, Family, Pattern, Transport};

/// Copying API.
pub struct ShmlaneBytes;
/// Zero-copy API.
pub struct ShmlaneBytesZc;

const RING: usize = 16 << 20;
const MAX_MSG: usize = (1 << 20) + 64;

fn err(e: impl std::fmt::Display) -> Error {
    Error::new(format!("shmlane: {e}"))
}

fn spin() -> WaitConfig {
    WaitConfig {
        strategy: WaitStrategy::Spin,
        ..WaitConfig::default()
    }
}

struct Ends {
    tx: Option<Producer>,
    rx: Option<Consumer>,
}

impl Endpoint for Ends {
    #[inline]
    fn send(&mut self, m: &[u8]) -> Res<()> {
        self.tx.as_mut().expect("sending side").send(m).map_err(err)
    }
    #[inline]
    fn recv(&mut self, b: &mut [u8]) -> Res<()> {
        let r = self.rx.as_mut().expect("receiving side").read().map_err(err)?;
        if r.len() != b.len() {
            bail!("message of {} bytes where {} were sent", r.len(), b.len());
        }
        b.copy_from_slice(&r);
        Ok(())
    }
}

fn channel(name: &str) -> Res<shmlane::bytes::Channel> {
    Builder::new().max_message(MAX_MSG).create(name, RING).map_err(err)
}

fn open(name: &str) -> Res<shmlane::bytes::Channel> {
    shmlane::bytes::Channel::open(name).map_err(err)
}

fn producer(ch: &shmlane::bytes::Channel) -> Res<Producer> {
    let mut p = ch.producer().map_err(err)?;
    p.set_wait_config(spin());
    Ok(p)
}

fn consumer(ch: &shmlane::bytes::Channel) -> Res<Consumer> {
    let mut c = ch.consumer().map_err(err)?;
    c.set_wait_config(spin());
    Ok(c)
}

fn produce_zc(tx: &mut Producer, case: &Case) -> Res<()> {
    let meter = TxMeter::start(case.cfg, case.size);
    let mut seq = 0u64;
    loop {
        let stop = meter.done(seq);
        let mut g = tx.claim(case.size).map_err(err)?;
        let s = if stop { END } else { seq };
        g[..8].copy_from_slice(&s.to_le_bytes());
        g[8..].fill(seq as u8);
        g.commit();
        if stop {
            return Ok(());
        }
        seq += 1;
    }
}

fn consume_zc(rx: &mut Consumer, case: &Case) -> Res<Sample> {
    let mut meter = RxMeter::new(case.cfg, case.size);
    loop {
        let r = rx.read().map_err(err)?;
        if r.len() != case.size {
            bail!("message of {} bytes where {} were sent", r.len(), case.size);
        }
        let seq = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
        std::hint::black_box(r[r.len() - 1]);
        drop(r);
        if meter.on_seq(seq)? {
            return meter.finish();
        }
    }
}

fn run(name: &'static str, zc: bool, case: &Case, h: &mut Harness) -> Res<Sample> {
    let seg = h.unique("/");
    let ch = channel(&seg)?;
    if case.pattern == Pattern::PingPong {
        let back = h.unique("/");
        let back_ch = channel(&back)?;
        let child = h.spawn(name, "echo", case, &[seg.clone(), back.clone()], &[])?;
        let _ = shmlane::segment::unlink(&seg);
        let _ = shmlane::segment::unlink(&back);
        let ends = Ends {
            tx: Some(producer(&ch)?),
            rx: Some(consumer(&back_ch)?),
        };
        return msg::run_parent(case, ends, child);
    }
    let mut rx = consumer(&ch)?;
    let mut child = h.spawn(name, "producer", case, std::slice::from_ref(&seg), &[])?;
    let _ = shmlane::segment::unlink(&seg);
    if zc {
        child.go()?;
        let s = consume_zc(&mut rx, case)?;
        child.finish()?;
        Ok(s)
    } else {
        msg::run_parent(case, Ends { tx: None, rx: Some(rx) }, child)
    }
}

fn child(zc: bool, ctx: &mut ChildCtx) -> Res<()> {
    if ctx.case.pattern == Pattern::PingPong {
        let rx = consumer(&open(ctx.arg(0)?)?)?;
        let tx = producer(&open(ctx.arg(1)?)?)?;
        return msg::run_child(
            ctx,
            Ends {
                tx: Some(tx),
                rx: Some(rx),
            },
        );
    }
    let mut tx = producer(&open(ctx.arg(0)?)?)?;
    if zc {
        ctx.ready()?;
        produce_zc(&mut tx, &ctx.case)
    } else {
        msg::run_child(ctx, Ends { tx: Some(tx), rx: None })
    }
}

impl Transport for ShmlaneBytes {
    fn name(&self) -> &'static str {
        "shmlane-bytes"
    }
    fn family(&self) -> Family {
        Family::Shmlane
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::Throughput, Pattern::PingPong]
    }
    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        run(self.name(), false, case, h)
    }
    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        child(false, ctx)
    }
}

impl Transport for ShmlaneBytesZc {
    fn name(&self) -> &'static str {
        "shmlane-bytes-zc"
    }
    fn family(&self) -> Family {
        Family::Shmlane
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::Throughput]
    }
    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        run(self.name(), true, case, h)
    }
    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        child(true, ctx)
    }
}
