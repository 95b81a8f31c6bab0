//! The printed report: the side-by-side table with its ratio columns, the
//! skipped and failed cases, and the targets with PASS/FAIL/PENDING.
//!
//! Ratios divide a row's headline metric (bytes/s for streams, RTT p50 for
//! ping-pong) by the same metric of
//! * "÷limit": the hardware limit of the same pattern ([`limit_of`]);
//! * "÷best peer": the best cross-process peer (`Family::Peer`) at the same
//!   pattern and size.
//!
//! For throughput a ratio above 1 is faster; for RTT a ratio above 1 is slower.

use std::fmt::Write as _;

use crate::measure::{Outcome, Spread};
use crate::results::{find, Metric, Row};
use crate::targets::{Cmp, Den, Sel, TARGETS};
use crate::transports::{Family, Pattern, PING_SIZE};

/// The hardware-limit row that rows of `pattern` / `size` are divided by;
/// `None` for one-way latencies (no limit row measures one).
pub fn limit_of(pattern: Pattern, size: usize) -> Option<(&'static str, Pattern, usize)> {
    Some(match pattern {
        Pattern::Throughput | Pattern::Throughput2P1C | Pattern::Throughput1P2C | Pattern::Broadcast(_)
            if size <= 8 =>
        {
            ("raw-ring", Pattern::Throughput, 8)
        }
        Pattern::Batch => ("raw-ring", Pattern::Batch, 8),
        Pattern::Throughput
        | Pattern::Throughput2P1C
        | Pattern::Throughput1P2C
        | Pattern::Broadcast(_)
        | Pattern::Copy => ("memcpy", Pattern::Copy, size),
        Pattern::PingPong => ("raw-pingpong", Pattern::PingPong, PING_SIZE),
        Pattern::BroadcastLatency(_) => return None,
    })
}

fn headline_of(rows: &[Row], t: &str, p: Pattern, s: usize) -> Option<f64> {
    find(rows, t, p, s)?.headline().map(|(_, v)| v.median)
}

/// The best `Family::Peer` value of metric `m` at `pattern` / `size`.
pub fn best_peer(rows: &[Row], pattern: Pattern, size: usize, m: Metric) -> Option<(f64, &str)> {
    let mut best: Option<(f64, &str)> = None;
    for r in rows
        .iter()
        .filter(|r| r.family == Family::Peer && r.pattern == pattern && r.size == size)
    {
        if let Some(v) = r.metric(m) {
            let better = match best {
                None => true,
                Some((b, _)) if m.higher_is_better() => v.median > b,
                Some((b, _)) => v.median < b,
            };
            if better {
                best = Some((v.median, r.transport));
            }
        }
    }
    best
}

/// Formats a rate with an SI suffix: `12.3M`.
pub fn si(v: f64) -> String {
    let (d, s) = if v >= 1e9 {
        (1e9, "G")
    } else if v >= 1e6 {
        (1e6, "M")
    } else if v >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    format!("{}{s}", sig3(v / d))
}

/// Formats nanoseconds with a unit: `268 ns`, `52.1 µs`.
pub fn dur(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{} s", sig3(ns / 1e9))
    } else if ns >= 1e6 {
        format!("{} ms", sig3(ns / 1e6))
    } else if ns >= 1e3 {
        format!("{} µs", sig3(ns / 1e3))
    } else {
        format!("{} ns", sig3(ns))
    }
}

/// Three significant digits (no exponent).
pub fn sig3(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.1 {
        format!("{v:.3}")
    } else if a >= 0.01 {
        format!("{v:.4}")
    } else {
        format!("{v:.5}")
    }
}

/// Formats a message size: `16 B`, `4 KiB`, `1 MiB`.
pub fn size(b: usize) -> String {
    if b >= 1 << 20 && b.is_multiple_of(1 << 20) {
        format!("{} MiB", b >> 20)
    } else if b >= 1024 && b.is_multiple_of(1024) {
        format!("{} KiB", b >> 10)
    } else {
        format!("{b} B")
    }
}

/// The note column: the row's note, after the mean for one-way latencies
/// (the table has no mean column).
fn note(r: &Row) -> String {
    let n = r.note.as_deref().unwrap_or("");
    match (r.pattern.is_one_way(), r.metric(Metric::LatMean)) {
        (true, Some(m)) if n.is_empty() => format!("mean {}", dur(m.median)),
        (true, Some(m)) => format!("mean {}; {n}", dur(m.median)),
        _ => n.to_string(),
    }
}

fn range(m: Metric, s: Spread) -> String {
    if m.higher_is_better() {
        format!("{}–{}", si(s.min), si(s.max))
    } else {
        format!("{}–{}", dur(s.min), dur(s.max))
    }
}

/// The whole report as text.
pub fn render(rows: &[Row], paired: &[Option<Vec<f64>>]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<21} {:<7} {:<16} {:>7} {:>8} {:>7} {:>9} {:>9} {:>9} {:>19} {:>8} {:>10} {:>6}  note",
        "transport",
        "kind",
        "pattern",
        "size",
        "msgs/s",
        "GB/s",
        "RTT p50",
        "RTT p99",
        "RTT p99.9",
        "spread (min–max)",
        "÷limit",
        "÷best peer",
        "other%",
    );
    let _ = writeln!(o, "{}", "-".repeat(150));
    for r in rows {
        let (msgs, gbs, p50, p99, p999, spread) = match &r.outcome {
            Outcome::Throughput {
                msgs_per_s,
                bytes_per_s,
            } => (
                si(msgs_per_s.median),
                format!("{:.3}", bytes_per_s.median / 1e9),
                "-".into(),
                "-".into(),
                "-".into(),
                range(Metric::MsgsPerS, *msgs_per_s),
            ),
            Outcome::Latency { p50, p99, p999, .. } => (
                "-".into(),
                "-".into(),
                dur(p50.median),
                dur(p99.median),
                dur(p999.median),
                range(Metric::RttP50, *p50),
            ),
            Outcome::Skipped(_) | Outcome::Failed(_) => continue,
        };
        let Some((m, v)) = r.headline() else { continue };
        let vs_limit = limit_of(r.pattern, r.size)
            .and_then(|(lt, lp, ls)| headline_of(rows, lt, lp, ls))
            .map(|l| sig3(v.median / l))
            .unwrap_or_else(|| "-".into());
        let vs_peer = best_peer(rows, r.pattern, r.size, m)
            .map(|(b, _)| sig3(v.median / b))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            o,
            "{:<21} {:<7} {:<16} {:>7} {:>8} {:>7} {:>9} {:>9} {:>9} {:>19} {:>8} {:>10} {:>6}  {}",
            r.transport,
            r.family.label(),
            r.pattern.name(),
            size(r.size),
            msgs,
            gbs,
            p50,
            p99,
            p999,
            spread,
            vs_limit,
            vs_peer,
            r.other_cpu.map_or_else(|| "?".to_string(), |p| format!("{p:.0}")),
            note(r)
        );
    }
    let _ = writeln!(
        o,
        "\nspread: min–max over the repetitions of msgs/s (streams) or RTT p50 (ping-pong); \
         other columns are medians.\n\
         ÷limit: bytes/s (streams) or RTT p50 (ping-pong) divided by the hardware limit's: \
         raw-ring for u64 streams, memcpy at the same size for byte streams, raw-pingpong for \
         round trips.\n\
         ÷best peer: the same, divided by the best cross-process peer at the same pattern and \
         size. Throughput ratios: higher is faster. RTT ratios: higher is slower.\n\
         other%: CPU used by everything else on the machine while the row ran, in % of one \
         CPU; above a few %, other work shared the CPUs and the row is off (spinning rows \
         read low, blocking rows can read *faster*: a busy vCPU wakes without a halt).\n\
         kind: limit = hand-written hardware limit, peer = transport a user could pick instead \
         (OS or crate) across processes, in-proc = threads of one process (reference only).\n\
         throughput-2p1c / -1p2c: u64 streams from 2 producers to 1 consumer / 1 producer to 2 \
         consumers, msgs/s summed over the consumers; producers run on the child CPU, consumers \
         on the parent CPU, so on 2 CPUs two of the three share one (note column) and the \
         scheduler time-slices them: these rows measure that sharing too.\n\
         ÷limit of the multi-producer/consumer rows is against the raw SPSC ring (u64, 1P1C).\n\
         broadcast-N: 1 publisher process to N subscriber processes, every subscriber receives \
         every u64 (Block policy: lossless); msgs/s is the rate delivered *per subscriber* (mean \
         over the N; the publisher's rate is the same, deliveries in total are N times it).\n\
         broadcast-lat-N: one-way latency publisher -> subscriber (16 B messages: sequence + \
         CLOCK_MONOTONIC send time, read again on arrival), paced at one message per 10 µs so \
         nothing queues; the RTT columns hold one-way p50/p99/p99.9 over every delivery to \
         every subscriber, the note the mean; JSON metrics lat_*_ns."
    );
    let skipped: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(o, "\nskipped:");
        for r in skipped {
            if let Outcome::Skipped(why) = &r.outcome {
                let _ = writeln!(o, "  {} {} {}: {why}", r.transport, r.pattern.name(), size(r.size));
            }
        }
    }
    let failed: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(o, "\nFAILED:");
        for r in failed {
            if let Outcome::Failed(why) = &r.outcome {
                let _ = writeln!(o, "  {} {} {}: {why}", r.transport, r.pattern.name(), size(r.size));
            }
        }
    }
    let _ = writeln!(o, "\ntargets:");
    for (k, t) in TARGETS.iter().enumerate() {
        let _ = writeln!(
            o,
            "  {}",
            target_line(rows, t, paired.get(k).and_then(|p| p.as_deref()))
        );
    }
    o
}

/// A row's metric: the median of the repetitions and the best one (the
/// largest rate, the smallest latency).
fn value(rows: &[Row], s: &Sel) -> Option<(f64, f64)> {
    let v = find(rows, s.transport, s.pattern, s.size)?.metric(s.metric)?;
    Some((v.median, if s.metric.higher_is_better() { v.max } else { v.min }))
}

/// One target's verdict: the ratio of the two rows' best repetitions, with
/// the ratio of their medians and, if there are any, the `paired` ratios
/// (see `paired_ratios` in `main.rs`) beside it.
fn target_line(rows: &[Row], t: &crate::targets::Target, paired: Option<&[f64]>) -> String {
    let num_fmt = |b: f64| if b.fract() == 0.0 { format!("{b}") } else { sig3(b) };
    let bound = match t.cmp {
        Cmp::AtLeast(b) => format!(">= {}", num_fmt(b)),
        Cmp::AtMost(b) => format!("<= {}", num_fmt(b)),
    };
    let Some(num) = value(rows, &t.num) else {
        return format!(
            "PENDING  {} {bound}  ({} {} {} not measured)",
            t.label,
            t.num.transport,
            t.num.pattern.name(),
            size(t.num.size)
        );
    };
    let den = match t.den {
        Den::Row(s) => value(rows, &s).map(|v| (v, s.transport.to_string())),
        Den::BestPeer => {
            best_peer(rows, t.num.pattern, t.num.size, t.num.metric).map(|(v, n)| ((v, v), format!("best peer = {n}")))
        }
    };
    let Some((den, den_name)) = den else {
        return format!("PENDING  {} {bound}  (denominator not measured)", t.label);
    };
    let (median, best) = (num.0 / den.0, num.1 / den.1);
    let mut how = format!("best repetitions; medians: {}", sig3(median));
    if let Some(p) = paired.filter(|p| !p.is_empty()) {
        let sp = Spread::of(p);
        how += &format!(
            "; paired runs: median {} of {}, {}–{}",
            sig3(sp.median),
            p.len(),
            sig3(sp.min),
            sig3(sp.max)
        );
    }
    let ok = match t.cmp {
        Cmp::AtLeast(b) => best >= b,
        Cmp::AtMost(b) => best <= b,
    };
    format!(
        "{}  {} = {} {bound}  ({how})  ({den_name})",
        if ok { "PASS   " } else { "FAIL   " },
        t.label,
        sig3(best),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(si(12_345_678.0), "12.3M");
        assert_eq!(dur(268.0), "268 ns");
        assert_eq!(dur(52_100.0), "52.1 µs");
        assert_eq!(size(4096), "4 KiB");
        assert_eq!(size(1 << 20), "1 MiB");
        assert_eq!(size(16), "16 B");
        assert_eq!(sig3(0.9123), "0.912");
    }
}
