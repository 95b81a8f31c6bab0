//! shaq (Anza's "SHAred Queue", crates.io `shaq` 4.3, the newest that builds on Rust 1.95): shared-memory SPSC
//! and MPMC queues of `T` in a file the caller creates and maps in each
//! process, through its documented public API: `Consumer::create(&file,
//! size)` in the harness (the sole initialiser), `Producer::join(&file)` /
//! `Consumer::join(&file)` in the children, on a file in /dev/shm (so both
//! map the same tmpfs pages, as shmlane's segments do), 64 Ki slots of `u64`
//! as in shmlane's rings.
//!
//! - `shaq-spsc`: `throughput` with one `try_write` / `try_read` per
//!   message, `throughput-batch` with `write_batch` (up to `raw_ring::BATCH`
//!   writes per publish) and `try_reserve_read_batch` (up to `BATCH` per
//!   release), `pingpong` over two queues; every wait spins on the `try_`
//!   calls. Measured with the same meters as `shmlane-spsc`.
//! - `shaq-mpmc` (a DPDK-style ring: reservation and publication cursors,
//!   publications in reservation order): the shapes 1P1C, 2P1C and 1P2C
//!   through [`crate::transports::shape`], as `shmlane-mpmc`, and 1P1C
//!   batched (`try_write_slice` of 256, `try_reserve_read_batch` of up to
//!   256).
//!
//! shaq's `create` and `join` are `unsafe`: the caller promises one
//! initialiser, at most one producer and one consumer on an SPSC queue, and
//! the same `T` on every side. The harness keeps those promises by
//! construction (it alone creates; each child joins once in its role).

#[cfg(feature = "shaq")]
pub use imp::{ShaqMpmc, ShaqSpsc};
#[cfg(not(feature = "shaq"))]
pub use off::{ShaqMpmc, ShaqSpsc};

#[cfg(not(feature = "shaq"))]
mod off {
    crate::transports::peer_off!(ShaqSpsc, "shaq-spsc", "shaq", &[crate::transports::Pattern::Throughput]);
    crate::transports::peer_off!(ShaqMpmc, "shaq-mpmc", "shaq", &crate::transports::Pattern::SHAPES);
}

#[cfg(feature = "shaq")]
mod imp {
    use std::fs::File;
    use std::num::NonZeroUsize;

    use crate::harness::{ChildCtx, Harness};
    use crate::measure::{latency_loop, RxMeter, Sample, TxMeter, END};
    use crate::sys::{bail, Error, Res, Spin};
    use crate::transports::raw_ring::{BATCH, CAP};
    use crate::transports::shape::{self, Rx, Tx};
    use crate::transports::{Case, Family, Pattern, Transport};

    /// shaq's SPSC queue across processes.
    pub struct ShaqSpsc;
    /// shaq's MPMC queue across processes.
    pub struct ShaqMpmc;

    fn err(e: impl std::fmt::Display) -> Error {
        Error::new(format!("shaq: {e}"))
    }

    /// A queue file in /dev/shm, removed when the harness drops it.
    struct QueueFile {
        path: String,
        file: File,
    }

    impl QueueFile {
        fn create(h: &mut Harness) -> Res<QueueFile> {
            let path = h.unique("/dev/shm/");
            let file = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| err(format!("{path}: {e}")))?;
            Ok(QueueFile { path, file })
        }
    }

    impl Drop for QueueFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    fn open(path: &str) -> Res<File> {
        File::options()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| err(format!("{path}: {e}")))
    }

    /// File size for 64 Ki `u64`s, rounded up to whole pages (the queue
    /// rounds its capacity down to a power of two, so it stays 64 Ki).
    fn file_size(min: usize) -> usize {
        min.div_ceil(4096) * 4096
    }

    // ---- SPSC ----

    type SpscTx = shaq::spsc::Producer<u64>;
    type SpscRx = shaq::spsc::Consumer<u64>;

    fn spsc_size() -> usize {
        file_size(shaq::spsc::minimum_file_size::<u64>(CAP as usize))
    }

    /// Creates an SPSC queue in `q` as its consumer.
    fn spsc_create_rx(q: &QueueFile) -> Res<SpscRx> {
        // SAFETY: the harness alone initialises this fresh file, once; one
        // child joins it as the only producer; both sides use `u64`.
        unsafe { SpscRx::create(&q.file, spsc_size()) }.map_err(err)
    }

    /// Creates an SPSC queue in `q` as its producer.
    fn spsc_create_tx(q: &QueueFile) -> Res<SpscTx> {
        // SAFETY: the harness alone initialises this fresh file, once; one
        // child joins it as the only consumer; both sides use `u64`.
        unsafe { SpscTx::create(&q.file, spsc_size()) }.map_err(err)
    }

    fn spsc_join_tx(path: &str) -> Res<SpscTx> {
        // SAFETY: this process is the queue's only producer (one child per
        // queue and role); `u64` on both sides; the harness initialised the
        // file before starting this process.
        unsafe { SpscTx::join(&open(path)?) }.map_err(err)
    }

    fn spsc_join_rx(path: &str) -> Res<SpscRx> {
        // SAFETY: as in `spsc_join_tx`, for the only consumer.
        unsafe { SpscRx::join(&open(path)?) }.map_err(err)
    }

    #[inline]
    fn spsc_push(tx: &mut SpscTx, v: u64, spin: &mut Spin) -> Res<()> {
        while tx.try_write(v).is_err() {
            spin.spin()?;
        }
        Ok(())
    }

    #[inline]
    fn spsc_pop(rx: &mut SpscRx, spin: &mut Spin) -> Res<u64> {
        loop {
            if let Some(v) = rx.try_read() {
                return Ok(v);
            }
            spin.spin()?;
        }
    }

    fn spsc_produce(tx: &mut SpscTx, case: &Case) -> Res<()> {
        let meter = TxMeter::start(case.cfg, 8);
        let mut spin = Spin::new();
        let mut seq = 0u64;
        if case.pattern == Pattern::Batch {
            while !meter.done(0) {
                let mut batch = tx.write_batch();
                let mut n = 0;
                while n < BATCH && batch.try_write(seq).is_ok() {
                    seq += 1;
                    n += 1;
                }
                drop(batch);
                if n == 0 {
                    spin.spin()?;
                }
            }
        } else {
            while !meter.done(seq) {
                spsc_push(tx, seq, &mut spin)?;
                seq += 1;
            }
        }
        spsc_push(tx, END, &mut spin)
    }

    fn spsc_consume(rx: &mut SpscRx, case: &Case) -> Res<Sample> {
        let mut meter = RxMeter::new(case.cfg, 8);
        let mut spin = Spin::new();
        if case.pattern == Pattern::Batch {
            let max = NonZeroUsize::new(BATCH as usize).expect("BATCH > 0");
            loop {
                let Some(batch) = rx.try_reserve_read_batch(max) else {
                    spin.spin()?;
                    continue;
                };
                let (a, b) = batch.as_slices();
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
                if meter.on_seq(spsc_pop(rx, &mut spin)?)? {
                    return meter.finish();
                }
            }
        }
    }

    impl Transport for ShaqSpsc {
        fn name(&self) -> &'static str {
            "shaq-spsc"
        }
        fn family(&self) -> Family {
            Family::Peer
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
            let q = QueueFile::create(h)?;
            if case.pattern != Pattern::PingPong {
                let mut rx = spsc_create_rx(&q)?;
                let mut child = h.spawn(self.name(), "producer", case, std::slice::from_ref(&q.path), &[])?;
                drop(q);
                child.go()?;
                let s = spsc_consume(&mut rx, case)?;
                child.finish()?;
                return Ok(s);
            }
            // Ping-pong: the child consumes `q` and produces into `back`.
            let mut tx = spsc_create_tx(&q)?;
            let back = QueueFile::create(h)?;
            let mut back_rx = spsc_create_rx(&back)?;
            let mut child = h.spawn(self.name(), "echo", case, &[q.path.clone(), back.path.clone()], &[])?;
            drop((q, back));
            child.go()?;
            let mut spin = Spin::new();
            let s = latency_loop(case.cfg, |seq| {
                spsc_push(&mut tx, seq, &mut spin)?;
                let v = spsc_pop(&mut back_rx, &mut spin)?;
                if v != seq {
                    bail!("echo {v} for ping {seq}");
                }
                Ok(())
            })?;
            spsc_push(&mut tx, END, &mut spin)?;
            child.finish()?;
            Ok(s)
        }

        fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
            if ctx.case.pattern != Pattern::PingPong {
                let mut tx = spsc_join_tx(ctx.arg(0)?)?;
                ctx.ready()?;
                return spsc_produce(&mut tx, &ctx.case);
            }
            let mut rx = spsc_join_rx(ctx.arg(0)?)?;
            let mut tx = spsc_join_tx(ctx.arg(1)?)?;
            ctx.ready()?;
            let mut spin = Spin::new();
            loop {
                let v = spsc_pop(&mut rx, &mut spin)?;
                if v == END {
                    return Ok(());
                }
                spsc_push(&mut tx, v, &mut spin)?;
            }
        }
    }

    // ---- MPMC ----

    struct MpmcTx(shaq::mpmc::Producer<u64>, Spin);
    struct MpmcRx(shaq::mpmc::Consumer<u64>, Spin);

    impl Tx for MpmcTx {
        #[inline(always)]
        fn send(&mut self, v: u64) -> Res<()> {
            while self.0.try_write(v).is_err() {
                self.1.spin()?;
            }
            Ok(())
        }
        #[inline(always)]
        fn send_all(&mut self, vs: &[u64]) -> Res<()> {
            // All or nothing: waits until the whole slice fits.
            while !self.0.try_write_slice(vs) {
                self.1.spin()?;
            }
            Ok(())
        }
    }

    impl Rx for MpmcRx {
        #[inline(always)]
        fn recv(&mut self) -> Res<u64> {
            loop {
                if let Some(v) = self.0.try_read() {
                    return Ok(v);
                }
                self.1.spin()?;
            }
        }
        #[inline]
        fn recv_some(&mut self, out: &mut [u64]) -> Res<usize> {
            let max = NonZeroUsize::new(out.len()).expect("a non-empty buffer");
            loop {
                if let Some(batch) = self.0.try_reserve_read_batch(max) {
                    let n = batch.len();
                    for (k, o) in out[..n].iter_mut().enumerate() {
                        *o = *batch.get(k).expect("k < len");
                    }
                    return Ok(n);
                }
                self.1.spin()?;
            }
        }
    }

    impl Transport for ShaqMpmc {
        fn name(&self) -> &'static str {
            "shaq-mpmc"
        }
        fn family(&self) -> Family {
            Family::Peer
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
        fn supports(&self, pattern: Pattern, _size: usize) -> Result<(), String> {
            let (p, c) = pattern.shape().unwrap_or((1, 1));
            if p > 1 || c > 1 {
                // The CPU plan has two sides: two producers (or two
                // consumers) always share a CPU.
                return Err("two of its processes would share a CPU, and shaq's MPMC ring \
                     publishes and releases in reservation order, spinning without bound for an earlier \
                     claimant; a claimant descheduled by the time-sharing then stalls the other for a \
                     scheduler time slice, message after message (measured here: 2P1C 115 msgs/s to \
                     6 M msgs/s between repetitions; 1P2C had not drained its 64 Ki queue after 15 s)"
                    .to_string());
            }
            Ok(())
        }

        fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
            let q = QueueFile::create(h)?;
            let size = file_size(shaq::mpmc::minimum_file_size::<u64>(CAP as usize));
            // The handle only initialises the queue: every producer and
            // consumer is a child (shaq waits without bound for an earlier
            // claimant to publish or release, so its hot paths must not run
            // in the harness, whose watchdog can only kill children).
            // SAFETY: the harness alone initialises this fresh file, once;
            // every side uses `u64`.
            let init = unsafe { shaq::mpmc::Consumer::<u64>::create(&q.file, size) }.map_err(err)?;
            drop(init);
            let path = q.path.clone();
            shape::run_parent(h, self.name(), case, std::slice::from_ref(&path), move || drop(q))
        }

        fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
            let file = open(ctx.arg(0)?)?;
            shape::run_child(
                ctx,
                |_| {
                    // SAFETY: the harness initialised the file before
                    // starting this process; every side uses `u64`.
                    let p = unsafe { shaq::mpmc::Producer::join(&file) }.map_err(err)?;
                    Ok(MpmcTx(p, Spin::new()))
                },
                |_| {
                    // SAFETY: as for the producer.
                    let c = unsafe { shaq::mpmc::Consumer::join(&file) }.map_err(err)?;
                    Ok(MpmcRx(c, Spin::new()))
                },
            )
        }
    }
}
