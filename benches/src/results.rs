//! The results of a run as data: one [`Row`] per (transport, pattern, size),
//! with the summary of its repetitions, and the metric names shared by the
//! JSON lines, the ratio columns, the targets and the plots. Everything that
//! presents results reads these rows and nothing else.

use std::io::Write;
use std::path::Path;

use crate::measure::{Outcome, Spread};
use crate::transports::{Family, Pattern};

/// One measured (or skipped, or failed) case.
#[derive(Clone, Debug)]
pub struct Row {
    /// Transport name.
    pub transport: &'static str,
    /// Role of the transport in the comparison.
    pub family: Family,
    /// Traffic shape.
    pub pattern: Pattern,
    /// Message size in bytes.
    pub size: usize,
    /// Summary of the repetitions.
    pub outcome: Outcome,
    /// CPU used by everything else on the machine while the case ran, in
    /// percent of one CPU (None if /proc/stat is unreadable): above a few
    /// percent, other work shared the CPUs and the row is off.
    pub other_cpu: Option<f64>,
    /// Free text for the note column (where the processes ran, …); not in
    /// the JSON lines.
    pub note: Option<String>,
}

/// A metric of a row, as named in the JSON output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Messages per second.
    MsgsPerS,
    /// Payload bytes per second.
    BytesPerS,
    /// Median round trip, ns.
    RttP50,
    /// 99th percentile round trip, ns.
    RttP99,
    /// 99.9th percentile round trip, ns.
    RttP999,
    /// Mean round trip, ns.
    RttMean,
    /// Median one-way latency (sender's clock to receiver's clock), ns.
    LatP50,
    /// 99th percentile one-way latency, ns.
    LatP99,
    /// 99.9th percentile one-way latency, ns.
    LatP999,
    /// Mean one-way latency, ns.
    LatMean,
}

impl Metric {
    /// Name in the JSON lines.
    pub fn name(self) -> &'static str {
        match self {
            Metric::MsgsPerS => "msgs_per_s",
            Metric::BytesPerS => "bytes_per_s",
            Metric::RttP50 => "rtt_p50_ns",
            Metric::RttP99 => "rtt_p99_ns",
            Metric::RttP999 => "rtt_p999_ns",
            Metric::RttMean => "rtt_mean_ns",
            Metric::LatP50 => "lat_p50_ns",
            Metric::LatP99 => "lat_p99_ns",
            Metric::LatP999 => "lat_p999_ns",
            Metric::LatMean => "lat_mean_ns",
        }
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::MsgsPerS | Metric::BytesPerS)
    }
}

impl Row {
    /// All metrics this row has, in a fixed order.
    pub fn metrics(&self) -> Vec<(Metric, Spread)> {
        match &self.outcome {
            Outcome::Throughput {
                msgs_per_s,
                bytes_per_s,
            } => vec![(Metric::MsgsPerS, *msgs_per_s), (Metric::BytesPerS, *bytes_per_s)],
            Outcome::Latency { p50, p99, p999, mean } if self.pattern.is_one_way() => vec![
                (Metric::LatP50, *p50),
                (Metric::LatP99, *p99),
                (Metric::LatP999, *p999),
                (Metric::LatMean, *mean),
            ],
            Outcome::Latency { p50, p99, p999, mean } => vec![
                (Metric::RttP50, *p50),
                (Metric::RttP99, *p99),
                (Metric::RttP999, *p999),
                (Metric::RttMean, *mean),
            ],
            Outcome::Skipped(_) | Outcome::Failed(_) => Vec::new(),
        }
    }

    /// One metric, if the row has it.
    pub fn metric(&self, m: Metric) -> Option<Spread> {
        self.metrics().into_iter().find(|(k, _)| *k == m).map(|(_, v)| v)
    }

    /// The metric the ratio columns compare: bytes/s for streams, RTT p50
    /// for ping-pong, one-way p50 for one-way latencies.
    pub fn headline(&self) -> Option<(Metric, Spread)> {
        let m = if self.pattern.is_one_way() {
            Metric::LatP50
        } else if self.pattern.is_latency() {
            Metric::RttP50
        } else {
            Metric::BytesPerS
        };
        self.metric(m).map(|v| (m, v))
    }
}

/// Finds the row of `transport` / `pattern` / `size`.
pub fn find<'a>(rows: &'a [Row], transport: &str, pattern: Pattern, size: usize) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.transport == transport && r.pattern == pattern && r.size == size)
}

/// Writes one JSON object per line and metric, with exactly the keys
/// `transport`, `pattern`, `size`, `metric`, `value` (the median).
pub fn write_json(rows: &[Row], path: &Path) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in rows {
        for (m, v) in r.metrics() {
            writeln!(
                out,
                "{{\"transport\":{},\"pattern\":{},\"size\":{},\"metric\":{},\"value\":{}}}",
                serde_json::Value::from(r.transport),
                serde_json::Value::from(r.pattern.name()),
                r.size,
                serde_json::Value::from(m.name()),
                serde_json::Value::from(v.median),
            )?;
        }
    }
    out.flush()
}
