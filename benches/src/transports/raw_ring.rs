//! Hardware limit for throughput: a bounded single-producer single-consumer
//! ring of `u64` in a `MAP_SHARED` /dev/shm segment between two processes,
//! written by hand with nothing but what the algorithm needs.
//!
//! Algorithm: Lamport's SPSC ring with free-running `u64` indices and the
//! cached-index optimisation described by Erik Rigtorp (each side keeps a
//! private copy of the other side's index and re-reads the shared one only
//! when the copy says full/empty), so that in steady state a message costs a
//! slot write, a slot read and one index store per side, and the index lines
//! move between cores only when a side runs out of known room. `head` and
//! `tail` sit on separate 128-byte lines; capacity is 64 Ki slots (512 KiB).
//!
//! Invariants: `tail <= head <= tail + CAP`; slot `i & MASK` is written only
//! by the producer while `head == i` and read only by the consumer while
//! `tail == i < head`.
//!
//! Two patterns: `throughput` publishes `head` after every message (what a
//! `send` of one message must do), `throughput-batch` writes up to
//! [`BATCH`] messages per publish and reads up to [`BATCH`] per `tail`
//! update. A shmlane SPSC ring can at best match these; its "÷limit" column
//! says how close it comes.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::harness::{ChildCtx, Harness};
use crate::measure::{RxMeter, Sample, TxMeter, END};
use crate::sys::{Res, Shm, Spin};
use crate::transports::raw_pingpong::Line;
use crate::transports::{Case, Family, Pattern, Transport};

/// Raw cached-index SPSC ring of `u64`.
pub struct RawRing;

/// Slots in the ring (a power of two).
pub const CAP: u64 = 64 * 1024;
const MASK: u64 = CAP - 1;
/// Messages per publish in the batched pattern.
pub const BATCH: u64 = 256;

/// Control block at the start of the segment; the slots follow it.
#[repr(C)]
struct Control {
    /// Next index the producer writes; written only by the producer.
    head: Line<AtomicU64>,
    /// Next index the consumer reads; written only by the consumer.
    tail: Line<AtomicU64>,
}

const SLOTS_AT: usize = std::mem::size_of::<Control>();
const SEG_LEN: usize = SLOTS_AT + CAP as usize * 8;

/// The ring as seen from one process.
struct Ring<'a> {
    ctl: &'a Control,
    slots: *mut u64,
}

impl<'a> Ring<'a> {
    fn new(shm: &'a Shm) -> Ring<'a> {
        // SAFETY: the mapping is page aligned and SEG_LEN bytes long, which
        // holds a Control; Control is made only of atomics, valid for every
        // bit pattern and for shared access; the reference borrows `shm`.
        let ctl = unsafe { &*shm.as_ptr().cast::<Control>() };
        // SAFETY: SLOTS_AT + CAP * 8 == SEG_LEN, so the slot array is inside
        // the mapping; SLOTS_AT is a multiple of 128, so it is aligned for u64.
        let slots = unsafe { shm.as_ptr().add(SLOTS_AT).cast::<u64>() };
        Ring { ctl, slots }
    }

    /// Writes `v` to slot `i`.
    ///
    /// # Safety
    /// Only the producer calls this, with `i` its current `head` (or beyond it
    /// within a batch), and only once the consumer's `tail` shows the slot free.
    #[inline(always)]
    unsafe fn put(&self, i: u64, v: u64) {
        // SAFETY: `i & MASK < CAP`, so the slot is inside the mapping; the
        // caller guarantees the consumer is not reading it.
        unsafe { self.slots.add((i & MASK) as usize).write(v) }
    }

    /// Reads slot `i`.
    ///
    /// # Safety
    /// Only the consumer calls this, with `tail <= i < head` as last loaded
    /// with Acquire.
    #[inline(always)]
    unsafe fn get(&self, i: u64) -> u64 {
        // SAFETY: `i & MASK < CAP`; the producer published the slot and will
        // not rewrite it until `tail` passes it.
        unsafe { self.slots.add((i & MASK) as usize).read() }
    }
}

fn produce<const BATCH_N: u64>(ring: &Ring, case: &Case) -> Res<()> {
    let tx = TxMeter::start(case.cfg, 8);
    let mut head = 0u64;
    let mut cached_tail = 0u64;
    let mut spin = Spin::new();
    let mut seq = 0u64;
    let batch = BATCH_N;
    loop {
        let stop = if batch == 1 { tx.done(seq) } else { tx.done(0) };
        let mut free = CAP - (head - cached_tail);
        while free == 0 {
            // Acquire: pairs with the consumer's Release store of `tail`; the
            // consumer's reads of the freed slots happen before our rewrites.
            cached_tail = ring.ctl.tail.0.load(Ordering::Acquire);
            free = CAP - (head - cached_tail);
            if free == 0 {
                spin.spin()?;
            }
        }
        if stop {
            // SAFETY: `head` is ours and `free > 0`, so the slot is free.
            unsafe { ring.put(head, END) };
            // Release: pairs with the consumer's Acquire load of `head`.
            ring.ctl.head.0.store(head + 1, Ordering::Release);
            return Ok(());
        }
        let n = free.min(batch);
        for k in 0..n {
            // SAFETY: `head + k < cached_tail + CAP`, so the slot is free.
            unsafe { ring.put(head + k, seq + k) };
        }
        head += n;
        seq += n;
        // Release: pairs with the consumer's Acquire load of `head`;
        // publishes the slot writes above.
        ring.ctl.head.0.store(head, Ordering::Release);
    }
}

fn consume<const BATCH_N: u64>(ring: &Ring, case: &Case) -> Res<Sample> {
    let mut rx = RxMeter::new(case.cfg, 8);
    let mut tail = 0u64;
    let mut cached_head = 0u64;
    let mut spin = Spin::new();
    let batch = BATCH_N;
    loop {
        while cached_head == tail {
            // Acquire: pairs with the producer's Release store of `head`;
            // makes the published slots visible.
            cached_head = ring.ctl.head.0.load(Ordering::Acquire);
            if cached_head == tail {
                spin.spin()?;
            }
        }
        let n = (cached_head - tail).min(batch);
        let mut end = false;
        for k in 0..n {
            // SAFETY: `tail + k < cached_head`, loaded with Acquire above.
            let v = unsafe { ring.get(tail + k) };
            if rx.on_seq(v)? {
                end = true;
                break;
            }
        }
        tail += n;
        // Release: pairs with the producer's Acquire load of `tail`; our slot
        // reads above happen before the producer reuses the slots.
        ring.ctl.tail.0.store(tail, Ordering::Release);
        if end {
            return rx.finish();
        }
    }
}

impl Transport for RawRing {
    fn name(&self) -> &'static str {
        "raw-ring"
    }
    fn family(&self) -> Family {
        Family::Limit
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::Throughput, Pattern::Batch]
    }
    fn sizes(&self, _pattern: Pattern, _catalogue: &[usize]) -> Vec<usize> {
        vec![8]
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let name = h.unique("/");
        let mut shm = Shm::create(&name, SEG_LEN)?;
        let mut child = h.spawn(self.name(), "producer", case, &[name], &[])?;
        shm.unlink();
        let ring = Ring::new(&shm);
        child.go()?;
        let sample = match case.pattern {
            Pattern::Batch => consume::<BATCH>(&ring, case)?,
            _ => consume::<1>(&ring, case)?,
        };
        child.finish()?;
        Ok(sample)
    }

    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let shm = Shm::open(ctx.arg(0)?, SEG_LEN)?;
        let ring = Ring::new(&shm);
        ctx.ready()?;
        match ctx.case.pattern {
            Pattern::Batch => produce::<BATCH>(&ring, &ctx.case),
            _ => produce::<1>(&ring, &ctx.case),
        }
    }
}
