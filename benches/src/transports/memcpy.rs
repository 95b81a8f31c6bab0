//! Hardware limit for bandwidth: one thread copying each message from a
//! source buffer into the next message-sized place of a ring-sized
//! destination buffer ([`DST_LEN`] = 8 MiB: larger than L2, so large messages
//! stream through L3 the way a ring's data area does, not through L1).
//!
//! Any ring that moves bytes between processes copies each message at least
//! once (into the ring; zero-copy receivers read in place), so its bytes/s
//! cannot exceed one core's `memcpy` at that size. "÷limit" of every
//! throughput row with messages of 16 bytes or more is its bytes/s divided by
//! this one. Runs in the harness process, on the parent CPU.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::harness::Harness;
use crate::measure::{check_mask, Sample};
use crate::sys::{self, Res};
use crate::transports::{Case, Family, Pattern, Transport};

/// Single-thread memcpy bandwidth.
pub struct Memcpy;

/// Size of the destination ("ring") buffer.
pub const DST_LEN: usize = 8 << 20;

impl Transport for Memcpy {
    fn name(&self) -> &'static str {
        "memcpy"
    }
    fn family(&self) -> Family {
        Family::Limit
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::Copy]
    }

    fn run(&self, case: &Case, _h: &mut Harness) -> Res<Sample> {
        let size = case.size;
        let src = vec![0x5au8; size];
        let dst_len = DST_LEN.max(2 * size);
        // Written once up front, so page faults are not timed.
        let mut dst = vec![1u8; dst_len];
        let places = (dst_len / size) as u64;
        let mask = check_mask(size);
        let mut copy_for = |d: Duration| -> Res<(u64, Duration)> {
            let t0 = Instant::now();
            let end = t0 + d;
            let mut i = 0u64;
            loop {
                let off = (i % places) as usize * size;
                let s = black_box(src.as_ptr());
                // SAFETY: `s` points to `size` readable bytes (`src`), the
                // destination range `off..off + size` is inside `dst` because
                // `off <= (places - 1) * size` and `places * size <= dst_len`,
                // and the two buffers are distinct allocations.
                unsafe { std::ptr::copy_nonoverlapping(s, dst.as_mut_ptr().add(off), size) };
                i += 1;
                if i & mask == 0 {
                    let now = Instant::now();
                    if now >= end {
                        black_box(&mut dst);
                        return Ok((i, now - t0));
                    }
                    if sys::aborted() {
                        return Err(sys::timeout_error());
                    }
                }
            }
        };
        copy_for(case.cfg.warmup)?;
        let (msgs, elapsed) = copy_for(case.cfg.measure)?;
        Ok(Sample::Throughput { msgs, elapsed })
    }
}
