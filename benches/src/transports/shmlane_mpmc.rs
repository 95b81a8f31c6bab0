//! shmlane's MPMC ring of `u64` across processes, through the public API
//! only: one named channel of 64 Ki slots (as the SPSC ring and the raw
//! ring) created by the harness, every producer a `Sender` in its own
//! process, every consumer a `Receiver` in its own process, one `send` /
//! `recv` per message, all waits spinning (`WaitStrategy::Spin`).
//!
//! Shapes: 1P1C (`throughput`, to compare with the SPSC ring: the price of
//! the per-slot sequence numbers and the compare-and-swap claims), 2P1C and
//! 1P2C (see [`crate::transports::shape`] for the checks, the timing and
//! where the processes run); and 1P1C with the batch calls
//! (`throughput-batch`: `send_slice` of 256, `recv_slice` of up to 256,
//! one claim per batch), to compare with the SPSC ring's batch row.

use shmlane::mpmc::{Channel, Receiver, Sender};
use shmlane::{WaitConfig, WaitStrategy};

use crate::harness::{ChildCtx, Harness};
use crate::measure::Sample;
use crate::sys::{Error, Res};
use crate::transports::raw_ring::CAP;
use crate::transports::shape::{self, Rx, Tx};
use crate::transports::{Case, Family, Pattern, Transport};

/// shmlane MPMC ring, spinning waits.
pub struct ShmlaneMpmc;

fn err(e: impl std::fmt::Display) -> Error {
    Error::new(format!("shmlane mpmc: {e}"))
}

fn spin() -> WaitConfig {
    WaitConfig {
        strategy: WaitStrategy::Spin,
        ..WaitConfig::default()
    }
}

impl Tx for Sender<u64> {
    #[inline(always)]
    fn send(&mut self, v: u64) -> Res<()> {
        Sender::send(self, v).map_err(err)
    }
    #[inline(always)]
    fn send_all(&mut self, vs: &[u64]) -> Res<()> {
        self.send_slice(vs).map_err(err)
    }
}

impl Rx for Receiver<u64> {
    #[inline(always)]
    fn recv(&mut self) -> Res<u64> {
        Receiver::recv(self).map_err(err)
    }
    #[inline(always)]
    fn recv_some(&mut self, out: &mut [u64]) -> Res<usize> {
        self.recv_slice(out).map_err(err)
    }
}

fn sender(ch: &Channel<u64>) -> Res<Sender<u64>> {
    let mut s = ch.sender().map_err(err)?;
    s.set_wait_config(spin());
    Ok(s)
}

fn receiver(ch: &Channel<u64>) -> Res<Receiver<u64>> {
    let mut r = ch.receiver().map_err(err)?;
    r.set_wait_config(spin());
    Ok(r)
}

impl Transport for ShmlaneMpmc {
    fn name(&self) -> &'static str {
        "shmlane-mpmc"
    }
    fn family(&self) -> Family {
        Family::Shmlane
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[
            Pattern::Throughput,
            Pattern::Batch,
            Pattern::Throughput2P1C,
            Pattern::Throughput1P2C,
        ]
    }
    fn sizes(&self, _pattern: Pattern, _catalogue: &[usize]) -> Vec<usize> {
        vec![8]
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let name = h.unique("/");
        // Held (not attached) until every child is done.
        let _ch = Channel::<u64>::create(&name, CAP as usize).map_err(err)?;
        let unlink = || {
            let _ = shmlane::segment::unlink(&name);
        };
        let r = shape::run_parent(h, self.name(), case, std::slice::from_ref(&name), unlink);
        // Also when a child failed before `unlink` ran (a second unlink is a
        // harmless error).
        unlink();
        r
    }

    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let ch = Channel::<u64>::open(ctx.arg(0)?).map_err(err)?;
        shape::run_child(ctx, |_| sender(&ch), |_| receiver(&ch))
    }
}
