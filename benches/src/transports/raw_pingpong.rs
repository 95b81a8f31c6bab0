//! Hardware limit for latency: two processes bouncing a counter through two
//! `AtomicU64`s on separate 128-byte lines of a `MAP_SHARED` /dev/shm segment,
//! both sides spinning. A round trip is two cache-line transfers between the
//! cores and nothing else: no ring, no slot, no system call. No
//! cross-process transport can have a lower round trip on this machine, so
//! "÷limit" of every ping-pong row is its RTT divided by this one.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::harness::{ChildCtx, Harness};
use crate::measure::{latency_loop, Sample, END};
use crate::sys::{Res, Shm, Spin};
use crate::transports::{Case, Family, Pattern, Transport};

/// Raw shared-memory atomic ping-pong.
pub struct RawPingPong;

/// An atomic alone on a 128-byte line (two 64-byte lines: the adjacent-line
/// prefetcher pulls pairs of lines).
#[repr(C, align(128))]
pub struct Line<T>(pub T);

/// Layout of the segment.
#[repr(C)]
struct Words {
    /// Written by the parent: sequence number of the current ping.
    ping: Line<AtomicU64>,
    /// Written by the child: sequence number of the last echoed ping.
    pong: Line<AtomicU64>,
}

const SEG_LEN: usize = 4096;

fn words(shm: &Shm) -> &Words {
    const _: () = assert!(std::mem::size_of::<Words>() <= SEG_LEN);
    // SAFETY: the mapping is page aligned and SEG_LEN >= size_of::<Words>()
    // bytes long; `Words` is made only of atomics, valid for every bit pattern
    // and for shared access; the reference borrows `shm`, which owns the
    // mapping.
    unsafe { &*shm.as_ptr().cast::<Words>() }
}

impl Transport for RawPingPong {
    fn name(&self) -> &'static str {
        "raw-pingpong"
    }
    fn family(&self) -> Family {
        Family::Limit
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::PingPong]
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let name = h.unique("/");
        let mut shm = Shm::create(&name, SEG_LEN)?;
        let mut child = h.spawn(self.name(), "ponger", case, &[name], &[])?;
        shm.unlink();
        let w = words(&shm);
        child.go()?;
        let sample = latency_loop(case.cfg, |seq| {
            let v = seq + 1;
            // Release: pairs with the child's Acquire load of `ping`; nothing
            // is published besides the value itself, but it keeps the two
            // sides' program orders aligned, like a real transport's commit.
            w.ping.0.store(v, Ordering::Release);
            let mut spin = Spin::new();
            // Acquire: pairs with the child's Release store of `pong`.
            while w.pong.0.load(Ordering::Acquire) != v {
                spin.spin()?;
            }
            Ok(())
        })?;
        // Release: pairs with the child's Acquire load of `ping`.
        w.ping.0.store(END, Ordering::Release);
        child.finish()?;
        Ok(sample)
    }

    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let shm = Shm::open(ctx.arg(0)?, SEG_LEN)?;
        let w = words(&shm);
        ctx.ready()?;
        let mut last = 0;
        let mut spin = Spin::new();
        loop {
            // Acquire: pairs with the parent's Release store of `ping`.
            let v = w.ping.0.load(Ordering::Acquire);
            if v == last {
                spin.spin()?;
                continue;
            }
            if v == END {
                return Ok(());
            }
            last = v;
            // Release: pairs with the parent's Acquire load of `pong`.
            w.pong.0.store(v, Ordering::Release);
        }
    }
}
