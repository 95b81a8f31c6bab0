//! shmlane through its C ABI, C to C: the producer and consumer loops are
//! C code (`benches/c/c_abi.c`, compiled by `build.rs` with the `cc` crate)
//! calling the `shmlane_*` functions of `shmlane-ffi`, linked into this
//! binary as an rlib. The same shapes as the Rust rows they are compared
//! with (targets: at least 0.9x of them), in separate pinned processes:
//!
//! - `c-abi-spsc`: fixed-size SPSC ring of 8-byte elements, 64 Ki slots,
//!   `shmlane_fixed_push` / `shmlane_fixed_pop` of one `u64` per call
//!   (vs `shmlane-spsc` throughput);
//! - `c-abi-mpmc`: fixed-size MPMC ring, 64 Ki slots, `shmlane_mpmc_send` /
//!   `shmlane_mpmc_recv` (vs `shmlane-mpmc` 1P1C);
//! - `c-abi-bytes`: byte ring of 16 MiB (max message 1 MiB + 64), 64-byte
//!   messages by copy, `shmlane_send` / `shmlane_recv` (vs `shmlane-bytes`).
//!
//! The C loops make their handles spin while they wait
//! (`shmlane_*_set_wait` with `SHMLANE_WAIT_SPIN`), as the Rust rows do.
//! The clock and the table stay in Rust: the C loops call back into the
//! meters only every `check_mask` messages. Without a C compiler at
//! build time the transports are listed as skipped with the reason.

use crate::harness::{ChildCtx, Harness};
use crate::measure::Sample;
use crate::sys::Res;
use crate::transports::{Case, Family, Pattern, Transport};

/// Fixed-size SPSC ring through the C ABI.
pub struct CAbiSpsc;
/// Fixed-size MPMC ring through the C ABI.
pub struct CAbiMpmc;
/// Byte ring through the C ABI.
pub struct CAbiBytes;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ring {
    Spsc,
    Mpmc,
    Bytes,
}

#[cfg(shmlane_c_abi)]
mod imp {
    use super::Ring;
    use crate::harness::{ChildCtx, Harness};
    use crate::measure::{RxMeter, Sample, TxMeter};
    use crate::sys::{bail, Error, Res};
    use crate::transports::raw_ring::CAP;
    use crate::transports::Case;
    use shmlane_ffi::*;
    use std::ffi::{c_int, c_void, CStr, CString};
    use std::ptr;

    type StopFn = extern "C" fn(*mut c_void, u64) -> c_int;
    type TickFn = extern "C" fn(*mut c_void, u64);

    // The handles are opaque to C (declared, never defined, in shmlane.h)
    // and only passed through: their Rust layout does not matter.
    #[allow(improper_ctypes)]
    extern "C" {
        fn shmlane_bench_produce_fixed(
            tx: *mut shmlane_fixed_producer,
            mask: u64,
            stop: StopFn,
            ctx: *mut c_void,
        ) -> c_int;
        fn shmlane_bench_consume_fixed(
            rx: *mut shmlane_fixed_consumer,
            mask: u64,
            tick: TickFn,
            ctx: *mut c_void,
            count: *mut u64,
            got: *mut u64,
        ) -> c_int;
        fn shmlane_bench_produce_mpmc(tx: *mut shmlane_mpmc_sender, mask: u64, stop: StopFn, ctx: *mut c_void)
            -> c_int;
        fn shmlane_bench_consume_mpmc(
            rx: *mut shmlane_mpmc_receiver,
            mask: u64,
            tick: TickFn,
            ctx: *mut c_void,
            count: *mut u64,
            got: *mut u64,
        ) -> c_int;
        fn shmlane_bench_produce_bytes(
            tx: *mut shmlane_producer,
            size: usize,
            mask: u64,
            stop: StopFn,
            ctx: *mut c_void,
        ) -> c_int;
        fn shmlane_bench_consume_bytes(
            rx: *mut shmlane_consumer,
            size: usize,
            mask: u64,
            tick: TickFn,
            ctx: *mut c_void,
            count: *mut u64,
            got: *mut u64,
        ) -> c_int;
    }

    /// Byte ring: as `shmlane_bytes.rs`.
    const RING: usize = 16 << 20;
    const MAX_MSG: usize = (1 << 20) + 64;

    extern "C" fn stop(ctx: *mut c_void, seq: u64) -> c_int {
        // SAFETY: `ctx` is the `&TxMeter` passed with this callback, alive
        // for the whole C loop.
        let m = unsafe { &*(ctx as *const TxMeter) };
        c_int::from(m.done(seq))
    }

    extern "C" fn tick(ctx: *mut c_void, seq: u64) {
        // SAFETY: `ctx` is the `&mut RxMeter` passed with this callback,
        // alive and not otherwise used during the C loop.
        let m = unsafe { &mut *(ctx as *mut RxMeter) };
        m.on_checked(seq);
    }

    fn check(what: &str, s: shmlane_status) -> Res<()> {
        if s == shmlane_status::SHMLANE_OK {
            return Ok(());
        }
        // SAFETY: both return static or thread-local NUL-terminated text.
        let (text, detail) = unsafe {
            (
                CStr::from_ptr(shmlane_strerror(s as c_int)),
                CStr::from_ptr(shmlane_last_error_message()),
            )
        };
        Err(Error::new(format!(
            "c-abi {what}: {} ({})",
            text.to_string_lossy(),
            detail.to_string_lossy()
        )))
    }

    fn loop_status(what: &str, rc: c_int, got: u64, count: u64) -> Res<()> {
        match rc {
            0 => Ok(()),
            -1 => bail!("c-abi {what}: message {got} arrived where {count} was expected"),
            s => bail!("c-abi {what}: status {s}"),
        }
    }

    /// Handles of one side, closed on drop.
    enum Side {
        FixedRx(*mut shmlane_fixed, *mut shmlane_fixed_consumer),
        FixedTx(*mut shmlane_fixed, *mut shmlane_fixed_producer),
        MpmcRx(*mut shmlane_mpmc, *mut shmlane_mpmc_receiver),
        MpmcTx(*mut shmlane_mpmc, *mut shmlane_mpmc_sender),
        BytesRx(*mut shmlane_channel, *mut shmlane_consumer),
        BytesTx(*mut shmlane_channel, *mut shmlane_producer),
    }

    impl Drop for Side {
        fn drop(&mut self) {
            // SAFETY: handles made by the matching create/open/attach (or
            // NULL), closed once here; the close calls accept NULL.
            unsafe {
                match *self {
                    Side::FixedRx(ch, h) => {
                        shmlane_fixed_consumer_close(h);
                        shmlane_fixed_close(ch);
                    }
                    Side::FixedTx(ch, h) => {
                        shmlane_fixed_producer_close(h);
                        shmlane_fixed_close(ch);
                    }
                    Side::MpmcRx(ch, h) => {
                        shmlane_mpmc_receiver_close(h);
                        shmlane_mpmc_close(ch);
                    }
                    Side::MpmcTx(ch, h) => {
                        shmlane_mpmc_sender_close(h);
                        shmlane_mpmc_close(ch);
                    }
                    Side::BytesRx(ch, h) => {
                        shmlane_consumer_close(h);
                        shmlane_channel_close(ch);
                    }
                    Side::BytesTx(ch, h) => {
                        shmlane_producer_close(h);
                        shmlane_channel_close(ch);
                    }
                }
            }
        }
    }

    fn cname(name: &str) -> Res<CString> {
        CString::new(name).map_err(|_| Error::new("segment name with a NUL byte"))
    }

    /// Creates the ring named `name` and attaches its consumer.
    fn create_rx(ring: Ring, name: &str) -> Res<Side> {
        let n = cname(name)?;
        // SAFETY: valid NUL-terminated name and out-pointers; the options
        // struct is zeroed but for the fields set.
        unsafe {
            match ring {
                Ring::Spsc => {
                    let mut side = Side::FixedRx(ptr::null_mut(), ptr::null_mut());
                    let Side::FixedRx(ch, rx) = &mut side else {
                        unreachable!()
                    };
                    check("create", shmlane_fixed_create(n.as_ptr(), CAP as usize, 8, 8, 0, ch))?;
                    check("attach", shmlane_fixed_consumer_attach(*ch, rx))?;
                    Ok(side)
                }
                Ring::Mpmc => {
                    let mut side = Side::MpmcRx(ptr::null_mut(), ptr::null_mut());
                    let Side::MpmcRx(ch, rx) = &mut side else {
                        unreachable!()
                    };
                    check(
                        "create",
                        shmlane_mpmc_create(n.as_ptr(), CAP as usize, 8, 8, ptr::null(), ch),
                    )?;
                    check("attach", shmlane_mpmc_receiver_attach(*ch, rx))?;
                    Ok(side)
                }
                Ring::Bytes => {
                    let mut side = Side::BytesRx(ptr::null_mut(), ptr::null_mut());
                    let Side::BytesRx(ch, rx) = &mut side else {
                        unreachable!()
                    };
                    let opt = shmlane_options {
                        kind: SHMLANE_KIND_BYTES,
                        max_message: MAX_MSG,
                        ..Default::default()
                    };
                    check("create", shmlane_channel_create(n.as_ptr(), RING, &opt, ch))?;
                    check("attach", shmlane_consumer_attach(*ch, rx))?;
                    Ok(side)
                }
            }
        }
    }

    /// Opens the ring named `name` and attaches a producer.
    fn open_tx(ring: Ring, name: &str) -> Res<Side> {
        let n = cname(name)?;
        // SAFETY: valid NUL-terminated name and out-pointers.
        unsafe {
            match ring {
                Ring::Spsc => {
                    let mut side = Side::FixedTx(ptr::null_mut(), ptr::null_mut());
                    let Side::FixedTx(ch, tx) = &mut side else {
                        unreachable!()
                    };
                    check("open", shmlane_fixed_open(n.as_ptr(), 8, ch))?;
                    check("attach", shmlane_fixed_producer_attach(*ch, tx))?;
                    Ok(side)
                }
                Ring::Mpmc => {
                    let mut side = Side::MpmcTx(ptr::null_mut(), ptr::null_mut());
                    let Side::MpmcTx(ch, tx) = &mut side else {
                        unreachable!()
                    };
                    check("open", shmlane_mpmc_open(n.as_ptr(), 8, ch))?;
                    check("attach", shmlane_mpmc_sender_attach(*ch, tx))?;
                    Ok(side)
                }
                Ring::Bytes => {
                    let mut side = Side::BytesTx(ptr::null_mut(), ptr::null_mut());
                    let Side::BytesTx(ch, tx) = &mut side else {
                        unreachable!()
                    };
                    check("open", shmlane_channel_open(n.as_ptr(), SHMLANE_KIND_BYTES, ch))?;
                    check("attach", shmlane_producer_attach(*ch, tx))?;
                    Ok(side)
                }
            }
        }
    }

    pub(super) fn run(ring: Ring, name: &'static str, case: &Case, h: &mut Harness) -> Res<Sample> {
        let seg = h.unique("/");
        let side = create_rx(ring, &seg)?;
        let mut child = h.spawn(name, "producer", case, std::slice::from_ref(&seg), &[])?;
        let _ = shmlane::segment::unlink(&seg);
        child.go()?;
        let mut meter = RxMeter::new(case.cfg, case.size);
        let mask = meter.mask();
        let ctx = &mut meter as *mut RxMeter as *mut c_void;
        let (mut count, mut got) = (0u64, 0u64);
        // SAFETY: live handles of `side`; `ctx` is the meter, used only by
        // `tick` during the call; `count`/`got` are writable.
        let rc = unsafe {
            match side {
                Side::FixedRx(_, rx) => shmlane_bench_consume_fixed(rx, mask, tick, ctx, &mut count, &mut got),
                Side::MpmcRx(_, rx) => shmlane_bench_consume_mpmc(rx, mask, tick, ctx, &mut count, &mut got),
                Side::BytesRx(_, rx) => {
                    shmlane_bench_consume_bytes(rx, case.size, mask, tick, ctx, &mut count, &mut got)
                }
                _ => bail!("not a receiving side"),
            }
        };
        loop_status("consumer", rc, got, count)?;
        meter.on_end(count);
        drop(side);
        child.finish()?;
        meter.finish()
    }

    pub(super) fn child(ring: Ring, ctx: &mut ChildCtx) -> Res<()> {
        let side = open_tx(ring, ctx.arg(0)?)?;
        ctx.ready()?;
        let meter = TxMeter::start(ctx.case.cfg, ctx.case.size);
        let mask = crate::measure::check_mask(ctx.case.size);
        let c = &meter as *const TxMeter as *mut c_void;
        // SAFETY: live handles of `side`; `c` is the meter, only read by
        // `stop` during the call.
        let rc = unsafe {
            match side {
                Side::FixedTx(_, tx) => shmlane_bench_produce_fixed(tx, mask, stop, c),
                Side::MpmcTx(_, tx) => shmlane_bench_produce_mpmc(tx, mask, stop, c),
                Side::BytesTx(_, tx) => shmlane_bench_produce_bytes(tx, ctx.case.size, mask, stop, c),
                _ => bail!("not a sending side"),
            }
        };
        loop_status("producer", rc, 0, 0)
    }
}

#[cfg(not(shmlane_c_abi))]
mod imp {
    use super::Ring;
    use crate::harness::{ChildCtx, Harness};
    use crate::measure::Sample;
    use crate::sys::{bail, Res};
    use crate::transports::Case;

    pub(super) fn run(_: Ring, _: &'static str, _: &Case, _: &mut Harness) -> Res<Sample> {
        bail!("{}", super::unavailable())
    }

    pub(super) fn child(_: Ring, _: &mut ChildCtx) -> Res<()> {
        bail!("{}", super::unavailable())
    }
}

/// Why the C loops are missing (no C compiler when this binary was built).
#[cfg_attr(shmlane_c_abi, allow(dead_code))]
fn unavailable() -> String {
    format!(
        "no C compiler when shmlane-bench was built ({})",
        option_env!("SHMLANE_BENCH_NO_C").unwrap_or("unknown reason")
    )
}

macro_rules! c_transport {
    ($ty:ident, $name:literal, $ring:expr, $size:expr) => {
        impl Transport for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn family(&self) -> Family {
                Family::Shmlane
            }
            fn patterns(&self) -> &'static [Pattern] {
                &[Pattern::Throughput]
            }
            fn sizes(&self, _: Pattern, _: &[usize]) -> Vec<usize> {
                vec![$size]
            }
            fn supports(&self, _: Pattern, _: usize) -> Result<(), String> {
                if cfg!(shmlane_c_abi) {
                    Ok(())
                } else {
                    Err(unavailable())
                }
            }
            fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
                imp::run($ring, self.name(), case, h)
            }
            fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
                imp::child($ring, ctx)
            }
        }
    };
}

c_transport!(CAbiSpsc, "c-abi-spsc", Ring::Spsc, 8);
c_transport!(CAbiMpmc, "c-abi-mpmc", Ring::Mpmc, 8);
c_transport!(CAbiBytes, "c-abi-bytes", Ring::Bytes, 64);
