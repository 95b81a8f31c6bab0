//! Hardware/kernel limit for a *blocking* round trip: two processes that
//! sleep in `FUTEX_WAIT` on a shared 32-bit word (no `FUTEX_PRIVATE_FLAG`,
//! the word lives in a `MAP_SHARED` /dev/shm segment) and wake each other
//! with `FUTEX_WAKE`. No spinning before sleeping, a wake on every message:
//! this is what one kernel wake-up in each direction costs, the floor for any
//! transport whose receiver parks (shmlane's `wait` layer included) and the
//! reason to spin before parking.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::harness::{ChildCtx, Harness};
use crate::measure::{latency_loop, Sample};
use crate::sys::{self, bail, Res, Shm};
use crate::transports::raw_pingpong::Line;
use crate::transports::{Case, Family, Pattern, Transport};

/// Raw futex ping-pong between processes.
pub struct Futex;

/// Layout of the segment: one futex word per direction.
#[repr(C)]
struct Words {
    /// Written by the parent (sequence number of the current ping).
    ping: Line<AtomicU32>,
    /// Written by the child (sequence number of the last echoed ping).
    pong: Line<AtomicU32>,
}

const SEG_LEN: usize = 4096;
const STOP: u32 = u32::MAX;
/// Bound on one sleep, so that the abort flag is seen.
const NAP: Duration = Duration::from_millis(100);

fn words(shm: &Shm) -> &Words {
    const _: () = assert!(std::mem::size_of::<Words>() <= SEG_LEN);
    // SAFETY: the mapping is page aligned and SEG_LEN >= size_of::<Words>()
    // bytes long; `Words` is made only of atomics, valid for every bit pattern
    // and for shared access; the reference borrows `shm`.
    unsafe { &*shm.as_ptr().cast::<Words>() }
}

/// Sequence number `seq` as a futex value in 1..STOP (0 is the initial value).
fn value(seq: u64) -> u32 {
    (seq % (STOP as u64 - 1)) as u32 + 1
}

impl Transport for Futex {
    fn name(&self) -> &'static str {
        "futex"
    }
    fn family(&self) -> Family {
        Family::Limit
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::PingPong]
    }
    fn sizes(&self, _pattern: Pattern, _catalogue: &[usize]) -> Vec<usize> {
        vec![4]
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let name = h.unique("/");
        let mut shm = Shm::create(&name, SEG_LEN)?;
        let mut child = h.spawn(self.name(), "ponger", case, &[name], &[])?;
        shm.unlink();
        let w = words(&shm);
        child.go()?;
        let sample = latency_loop(case.cfg, |seq| {
            let v = value(seq);
            // Release: pairs with the child's Acquire load of `ping`.
            w.ping.0.store(v, Ordering::Release);
            sys::futex_wake(&w.ping.0, 1)?;
            loop {
                // Acquire: pairs with the child's Release store of `pong`.
                let cur = w.pong.0.load(Ordering::Acquire);
                if cur == v {
                    return Ok(());
                }
                sys::futex_wait(&w.pong.0, cur, NAP)?;
                if sys::aborted() {
                    bail!("timed out waiting for the child's futex wake");
                }
            }
        })?;
        // Release: pairs with the child's Acquire load of `ping`.
        w.ping.0.store(STOP, Ordering::Release);
        sys::futex_wake(&w.ping.0, 1)?;
        child.finish()?;
        Ok(sample)
    }

    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let shm = Shm::open(ctx.arg(0)?, SEG_LEN)?;
        let w = words(&shm);
        ctx.ready()?;
        let mut last = 0;
        loop {
            // Acquire: pairs with the parent's Release store of `ping`.
            let v = w.ping.0.load(Ordering::Acquire);
            if v == last {
                sys::futex_wait(&w.ping.0, v, NAP)?;
                continue;
            }
            if v == STOP {
                return Ok(());
            }
            last = v;
            // Release: pairs with the parent's Acquire load of `pong`.
            w.pong.0.store(v, Ordering::Release);
            sys::futex_wake(&w.pong.0, 1)?;
        }
    }
}
