//! shmlane's broadcast ring (publish-subscribe) across processes, through
//! the public API only: one publisher process to 1, 2 and 4 subscriber
//! processes, every subscriber receiving every message, with the
//! [`Policy::Block`] policy (lossless, so the rate compares with the SPSC
//! ring's `throughput` row). One named channel of 64 Ki slots (as the SPSC
//! ring) created by the harness; one `send` / `recv` per message; all waits
//! spinning (`WaitStrategy::Spin`), as in `shmlane_spsc.rs`.
//!
//! - `broadcast-N` (rate): `u64` messages, the publisher sends `0, 1, 2, …`
//!   for `warmup + measure` by its clock, then [`END`]; every subscriber
//!   checks every number (exactly in order: a loss, duplicate or reorder
//!   fails the run) with [`RxMeter`], which also times its window. The row's
//!   msgs/s is the rate delivered **per subscriber**, the mean over the
//!   subscribers (the publisher publishes at that rate; N times as many
//!   deliveries happen in total).
//! - `broadcast-lat-N` (one-way latency): 16-byte messages `[seq, t]`
//!   (`[u64; 2]`, a `Pod`), `t` the publisher's `CLOCK_MONOTONIC` in ns
//!   just before `send`; the subscriber reads the same clock right after
//!   `recv` returns and records `now - t` in an HDR histogram (as
//!   [`crate::measure`] does for round trips) once its warm-up has passed.
//!   The publisher paces itself to one message per [`PACE`], so that the
//!   ring is empty when a message is sent and the figure is the hand-over
//!   time, not queueing. Each subscriber sends its histogram to the parent
//!   (value:count pairs on its report line); the row's percentiles are over
//!   the merged histogram (every delivery to every subscriber).
//!
//! Placement: the publisher runs on the child side, the subscribers on the
//! parent side (as producers and consumers in [`crate::transports::shape`]);
//! with two CPUs, two or four subscribers time-share one CPU and the note
//! column says so. Spinning subscribers that share a CPU are time-sliced by
//! the scheduler, so those rows measure the sharing as much as the ring.

use std::time::{Duration, Instant};

use bytemuck::Pod;
use hdrhistogram::Histogram;
use shmlane::broadcast::{Builder, Channel, Policy, Publisher, Subscriber};
use shmlane::{WaitConfig, WaitStrategy};

use crate::harness::{ChildCtx, Harness, Pinning, Side, Spawn};
use crate::measure::{new_histogram, RxMeter, Sample, TxMeter, END};
use crate::sys::{bail, Error, Res};
use crate::transports::raw_ring::CAP;
use crate::transports::{Case, Family, Pattern, Transport};

/// shmlane broadcast ring, Block policy, spinning waits.
pub struct ShmlaneBroadcast;

/// Interval between two messages of the latency patterns.
pub const PACE: Duration = Duration::from_micros(10);

/// Message of the latency patterns: sequence number, send time (ns of
/// `CLOCK_MONOTONIC`).
type Stamped = [u64; 2];

fn err(e: impl std::fmt::Display) -> Error {
    Error::new(format!("shmlane broadcast: {e}"))
}

fn spin() -> WaitConfig {
    WaitConfig {
        strategy: WaitStrategy::Spin,
        ..WaitConfig::default()
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the same clock in every process.
#[inline(always)]
fn mono_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always
    // exists on Linux (the call goes through the vDSO, no system call).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn subscribers(pattern: Pattern) -> Res<usize> {
    match pattern {
        Pattern::Broadcast(n) | Pattern::BroadcastLatency(n) if n > 0 => Ok(n as usize),
        p => bail!("pattern {} is not a broadcast", p.name()),
    }
}

fn builder(n: usize) -> Builder {
    Builder::new()
        .capacity(CAP as usize)
        .policy(Policy::Block)
        .endpoints(n as u32 + 1)
}

fn publisher<T: Pod + Send>(ch: &Channel<T>) -> Res<Publisher<T>> {
    let mut p = ch.publisher().map_err(err)?;
    p.set_wait_config(spin());
    Ok(p)
}

fn subscriber<T: Pod + Send>(ch: &Channel<T>) -> Res<Subscriber<T>> {
    let mut s = ch.subscribe().map_err(err)?;
    s.set_wait_config(spin());
    Ok(s)
}

/// Publisher of `broadcast-N`: `0, 1, …` for `warmup + measure`, then END.
fn publish_rate(tx: &mut Publisher<u64>, case: &Case) -> Res<()> {
    let meter = TxMeter::start(case.cfg, 8);
    let mut seq = 0u64;
    while !meter.done(seq) {
        tx.send(seq).map_err(err)?;
        seq += 1;
    }
    tx.send(END).map_err(err)
}

/// Subscriber of `broadcast-N`: every number in order; its own window.
fn receive_rate(rx: &mut Subscriber<u64>, case: &Case) -> Res<String> {
    let mut meter = RxMeter::new(case.cfg, 8);
    loop {
        let v = rx.recv().map_err(err)?;
        if meter.on_seq(v)? {
            break;
        }
    }
    match meter.finish()? {
        Sample::Throughput { msgs, elapsed } => Ok(format!("rate {msgs} {}", elapsed.as_nanos())),
        Sample::Latency(_) => bail!("a rate meter produced latencies"),
    }
}

/// Publisher of `broadcast-lat-N`: one stamped message per [`PACE`].
fn publish_stamped(tx: &mut Publisher<Stamped>, case: &Case) -> Res<()> {
    let stop = Instant::now() + case.cfg.warmup + case.cfg.measure;
    let pace = PACE.as_nanos() as u64;
    let mut seq = 0u64;
    let mut next = mono_ns();
    loop {
        let now = mono_ns();
        if now < next {
            std::hint::spin_loop();
            continue;
        }
        if seq.is_multiple_of(64) && Instant::now() >= stop {
            break;
        }
        tx.send([seq, mono_ns()]).map_err(err)?;
        seq += 1;
        // Not `next += pace`: after a preemption, no burst to catch up.
        next = now + pace;
    }
    tx.send([END, 0]).map_err(err)
}

/// Subscriber of `broadcast-lat-N`: checks the numbers, records the
/// one-way latencies after its warm-up, reports its histogram.
fn receive_stamped(rx: &mut Subscriber<Stamped>, case: &Case) -> Res<String> {
    let mut hist = new_histogram();
    let mut expected = 0u64;
    let mut warm_end: Option<u64> = None;
    loop {
        let [seq, t] = rx.recv().map_err(err)?;
        let now = mono_ns();
        if seq == END {
            break;
        }
        if seq != expected {
            bail!("message {seq} arrived where {expected} was expected (lost, duplicated or reordered)");
        }
        expected += 1;
        let w = *warm_end.get_or_insert(now + case.cfg.warmup.as_nanos() as u64);
        if now >= w {
            hist.saturating_record(now.saturating_sub(t).max(1));
        }
    }
    if hist.is_empty() {
        bail!("no message after the warm-up ({expected} messages)");
    }
    let mut line = String::from("hist");
    for v in hist.iter_recorded() {
        line.push_str(&format!(" {}:{}", v.value_iterated_to(), v.count_at_value()));
    }
    Ok(line)
}

/// Mean per-subscriber rate of `rate <msgs> <elapsed_ns>` reports.
fn aggregate_rates(reports: &[String]) -> Res<Sample> {
    let mut rate = 0.0;
    let mut msgs = 0u64;
    for l in reports {
        let bad = || Error::new(format!("bad subscriber report {l:?}"));
        let mut it = l.split_whitespace();
        if it.next() != Some("rate") {
            return Err(bad());
        }
        let m: u64 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let ns: u64 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        if ns == 0 {
            bail!("a subscriber measured an empty window");
        }
        rate += m as f64 / (ns as f64 * 1e-9);
        msgs += m;
    }
    let n = reports.len().max(1) as f64;
    let (rate, msgs) = (rate / n, (msgs as f64 / n).max(1.0));
    if rate <= 0.0 {
        bail!("no message was received in the measured window");
    }
    Ok(Sample::Throughput {
        msgs: msgs as u64,
        elapsed: Duration::from_secs_f64(msgs.floor() / rate),
    })
}

/// Merged histogram of `hist <value>:<count> …` reports.
fn aggregate_hists(reports: &[String]) -> Res<Sample> {
    let mut hist: Histogram<u64> = new_histogram();
    for l in reports {
        let bad = || Error::new(format!("bad subscriber report {:?}", &l[..l.len().min(80)]));
        let mut it = l.split_whitespace();
        if it.next() != Some("hist") {
            return Err(bad());
        }
        for pair in it {
            let (v, c) = pair.split_once(':').ok_or_else(bad)?;
            let v: u64 = v.parse().map_err(|_| bad())?;
            let c: u64 = c.parse().map_err(|_| bad())?;
            hist.saturating_record_n(v, c);
        }
    }
    if hist.is_empty() {
        bail!("no latency recorded");
    }
    Ok(Sample::Latency(Box::new(hist)))
}

impl Transport for ShmlaneBroadcast {
    fn name(&self) -> &'static str {
        "shmlane-broadcast"
    }
    fn family(&self) -> Family {
        Family::Shmlane
    }
    fn patterns(&self) -> &'static [Pattern] {
        &Pattern::BROADCASTS
    }
    fn note(&self, pattern: Pattern, pin: &Pinning) -> Option<String> {
        let n = subscribers(pattern).ok()?;
        let place = pin.placement(1, n, "proc");
        Some(match pattern {
            Pattern::BroadcastLatency(_) => format!("one-way, 1 msg/10 µs; {place}"),
            _ => format!("msgs/s per subscriber; {place}"),
        })
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let n = subscribers(case.pattern)?;
        let name = h.unique("/");
        let b = builder(n);
        // Held (not attached) until every child is done.
        let _keep: Box<dyn std::any::Any> = match case.pattern {
            Pattern::BroadcastLatency(_) => Box::new(b.create::<Stamped>(&name).map_err(err)?),
            _ => Box::new(b.create::<u64>(&name).map_err(err)?),
        };
        let unlink = || {
            let _ = shmlane::segment::unlink(&name);
        };
        let r = (|| {
            let mut specs = vec![Spawn::new("publisher", Side::Child, vec![name.clone()])];
            for i in 0..n {
                specs.push(Spawn::new(format!("subscriber-{i}"), Side::Parent, vec![name.clone()]));
            }
            let mut kids = h.spawn_n(self.name(), case, &specs)?;
            unlink();
            kids.go()?;
            let reports = kids.finish_reports()?;
            match case.pattern {
                Pattern::BroadcastLatency(_) => aggregate_hists(&reports[1..]),
                _ => aggregate_rates(&reports[1..]),
            }
        })();
        // Also when a child failed before `unlink` ran (a second unlink is a
        // harmless error).
        unlink();
        r
    }

    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let n = subscribers(ctx.case.pattern)?;
        let name = ctx.arg(0)?.to_string();
        let b = builder(n);
        let case = ctx.case;
        let publishing = ctx.role == "publisher";
        if !publishing && !ctx.role.starts_with("subscriber-") {
            bail!("unknown role {:?}", ctx.role);
        }
        let line = match case.pattern {
            Pattern::BroadcastLatency(_) => {
                let ch = b.open::<Stamped>(&name).map_err(err)?;
                if publishing {
                    let mut tx = publisher(&ch)?;
                    ctx.ready()?;
                    publish_stamped(&mut tx, &case)?;
                    None
                } else {
                    let mut rx = subscriber(&ch)?;
                    ctx.ready()?;
                    Some(receive_stamped(&mut rx, &case)?)
                }
            }
            _ => {
                let ch = b.open::<u64>(&name).map_err(err)?;
                if publishing {
                    let mut tx = publisher(&ch)?;
                    ctx.ready()?;
                    publish_rate(&mut tx, &case)?;
                    None
                } else {
                    let mut rx = subscriber(&ch)?;
                    ctx.ready()?;
                    Some(receive_rate(&mut rx, &case)?)
                }
            }
        };
        match line {
            Some(l) => ctx.report(&l),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_averaged_per_subscriber() {
        let s = aggregate_rates(&["rate 100 1000".into(), "rate 300 1000".into()]).unwrap();
        let Sample::Throughput { msgs, elapsed } = s else {
            panic!("not a rate")
        };
        let r = msgs as f64 / elapsed.as_secs_f64();
        assert!((r - 2e8).abs() < 1e3, "{r}");
        assert!(aggregate_rates(&["rate 1 0".into()]).is_err());
        assert!(aggregate_rates(&["hist 1:2".into()]).is_err());
    }

    #[test]
    fn histograms_are_merged() {
        let s = aggregate_hists(&["hist 100:3 200:1".into(), "hist 100:1".into()]).unwrap();
        let Sample::Latency(h) = s else { panic!("not latencies") };
        assert_eq!(h.len(), 5);
        assert_eq!(h.value_at_quantile(0.5), 100);
        assert!(aggregate_hists(&["hist 100".into()]).is_err());
    }
}
