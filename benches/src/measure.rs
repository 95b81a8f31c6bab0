//! How one repetition is timed, and how repetitions are summarised.
//!
//! * **Throughput** is measured at the *receiver*: the sender streams
//!   sequence-numbered messages for `warmup + measure` by its own clock and
//!   then an end marker; the receiver checks every sequence number (so a lost,
//!   duplicated or reordered message fails the run), starts its clock once it
//!   has been receiving for `warmup`, and stops it at the end marker. The rate
//!   is `messages received after the warm-up / time`, which is what a consumer
//!   actually sees in steady state, queueing included.
//! * **Latency** is a ping-pong: one side sends, the other echoes, and each
//!   round trip is recorded in an HDR histogram (1 ns .. 60 s, 3 significant
//!   digits) once the warm-up time has passed. One `Instant::now()` per round
//!   trip (the end of one is the start of the next), so the clock adds about
//!   20 ns to every sample, for every transport alike.
//! * Every case is repeated; the table shows the median of the repetitions and
//!   their min–max spread.
//!
//! Clock reads in hot loops are amortised: senders and receivers look at the
//! clock only every [`check_mask`]` + 1` messages, chosen so that a check
//! happens at least every ~16 KiB of payload.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::sys::{bail, Error, Res};

/// Sequence number that tells the receiver the stream is over.
pub const END: u64 = u64::MAX;

/// Durations of one repetition.
#[derive(Clone, Copy, Debug)]
pub struct RunCfg {
    /// Time at the start of the run whose messages are not counted.
    pub warmup: Duration,
    /// Time that is counted.
    pub measure: Duration,
}

/// What one repetition produced.
pub enum Sample {
    /// `msgs` messages received in `elapsed` (warm-up excluded).
    Throughput { msgs: u64, elapsed: Duration },
    /// Round-trip times in nanoseconds (warm-up excluded).
    Latency(Box<Histogram<u64>>),
}

/// Clock-check interval minus one (a power of two minus one) for messages of
/// `size` bytes: about every 16 KiB of payload, at least every message.
pub fn check_mask(size: usize) -> u64 {
    let every = (16 * 1024 / size.max(1)).max(1);
    (every.next_power_of_two() as u64 >> 1).max(1) - 1
}

/// The sender's clock: run for `warmup + measure`, then send [`END`].
pub struct TxMeter {
    stop_at: Instant,
    mask: u64,
}

impl TxMeter {
    /// Starts the sender's clock now.
    pub fn start(cfg: RunCfg, size: usize) -> Self {
        TxMeter {
            stop_at: Instant::now() + cfg.warmup + cfg.measure,
            mask: check_mask(size),
        }
    }

    /// Whether the sender should stop before sending message `seq`.
    #[inline(always)]
    pub fn done(&self, seq: u64) -> bool {
        seq & self.mask == 0 && Instant::now() >= self.stop_at
    }
}

/// The receiver's clock and sequence check.
///
/// A stream so slow (or so stalled by other work on the machine) that no
/// clock check after the warm-up happened before the end marker is
/// measured from its first message instead of failing the run.
pub struct RxMeter {
    warmup: Duration,
    mask: u64,
    expected: u64,
    first: Option<Instant>,
    start: Option<(Instant, u64)>,
    end: Option<Instant>,
}

impl RxMeter {
    /// A meter for messages of `size` bytes.
    pub fn new(cfg: RunCfg, size: usize) -> Self {
        RxMeter {
            warmup: cfg.warmup,
            mask: check_mask(size),
            expected: 0,
            first: None,
            start: None,
            end: None,
        }
    }

    /// Accounts for one received message; `Ok(true)` at the end marker.
    #[inline(always)]
    pub fn on_seq(&mut self, seq: u64) -> Res<bool> {
        if seq != self.expected {
            return self.unexpected(seq);
        }
        self.expected += 1;
        if seq & self.mask == 0 && self.start.is_none() {
            self.tick(seq);
        }
        Ok(false)
    }

    #[cold]
    fn tick(&mut self, seq: u64) {
        let now = Instant::now();
        match self.first {
            None => self.first = Some(now),
            Some(f) if now >= f + self.warmup => self.start = Some((now, seq)),
            Some(_) => {}
        }
    }

    #[cold]
    fn unexpected(&mut self, seq: u64) -> Res<bool> {
        if seq == END {
            self.end = Some(Instant::now());
            return Ok(true);
        }
        bail!(
            "message {seq} arrived where {} was expected (lost, duplicated or reordered)",
            self.expected
        )
    }

    /// For a receive loop that checks the order itself (the C loops of
    /// the `c-abi-*` transports): message `seq` arrived after all of its
    /// predecessors; call it at least for every `seq` with
    /// `seq & mask() == 0`.
    #[inline]
    pub fn on_checked(&mut self, seq: u64) {
        self.expected = seq + 1;
        if seq & self.mask == 0 && self.start.is_none() {
            self.tick(seq);
        }
    }

    /// The end marker arrived after `count` messages in order (loops that
    /// check the order themselves, see [`RxMeter::on_checked`]).
    pub fn on_end(&mut self, count: u64) {
        self.expected = count;
        self.end = Some(Instant::now());
    }

    /// The clock-check mask (see [`check_mask`]).
    pub fn mask(&self) -> u64 {
        self.mask
    }

    /// The measured sample, once the end marker has arrived.
    pub fn finish(self) -> Res<Sample> {
        let Some(t1) = self.end else {
            bail!("no end marker after {} messages", self.expected);
        };
        // Message 0 always checks the clock; without a check after the
        // warm-up, measure from message 0 on (itself not counted).
        let (t0, s0) = match (self.start, self.first) {
            (Some(s), _) => s,
            (None, Some(f)) if self.expected > 1 => (f, 1),
            _ => bail!("run too short: {} messages", self.expected),
        };
        Ok(Sample::Throughput {
            msgs: self.expected - s0,
            elapsed: t1.duration_since(t0),
        })
    }
}

/// A histogram able to hold any round trip from 1 ns to 60 s.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Runs round trips `rt(seq)` for `seq = 0, 1, …` during `warmup + measure`
/// and records the ones completed after the warm-up.
pub fn latency_loop(cfg: RunCfg, mut rt: impl FnMut(u64) -> Res<()>) -> Res<Sample> {
    let mut hist = new_histogram();
    let t_start = Instant::now();
    let warm_end = t_start + cfg.warmup;
    let end = warm_end + cfg.measure;
    let mut prev = t_start;
    let mut seq = 0u64;
    loop {
        rt(seq)?;
        let now = Instant::now();
        if now >= warm_end {
            hist.saturating_record(now.duration_since(prev).as_nanos() as u64);
        }
        prev = now;
        seq += 1;
        if now >= end {
            break;
        }
    }
    if hist.is_empty() {
        return Err(Error::new("no round trip completed after the warm-up"));
    }
    Ok(Sample::Latency(Box::new(hist)))
}

/// Median and range of one metric over the repetitions.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    /// Median of the repetitions (mean of the middle two for an even count).
    pub median: f64,
    /// Smallest repetition.
    pub min: f64,
    /// Largest repetition.
    pub max: f64,
}

impl Spread {
    /// The spread of `vals` (not empty).
    pub fn of(vals: &[f64]) -> Spread {
        let mut v = vals.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// Summary of the repetitions of one case.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Messages and bytes per second.
    Throughput {
        /// Messages per second.
        msgs_per_s: Spread,
        /// Payload bytes per second.
        bytes_per_s: Spread,
    },
    /// Round-trip time percentiles in nanoseconds.
    Latency {
        /// Median round trip.
        p50: Spread,
        /// 99th percentile.
        p99: Spread,
        /// 99.9th percentile.
        p999: Spread,
        /// Mean round trip.
        mean: Spread,
    },
    /// Not run, with the reason (a size the transport cannot carry, …).
    Skipped(String),
    /// A repetition failed; the error.
    Failed(String),
}

/// Summarises the samples of one case with messages of `size` bytes.
pub fn summarise(samples: &[Sample], size: usize) -> Outcome {
    let mut rates = Vec::new();
    let mut lat: [Vec<f64>; 4] = Default::default();
    for s in samples {
        match s {
            Sample::Throughput { msgs, elapsed } => {
                rates.push(*msgs as f64 / elapsed.as_secs_f64().max(1e-12));
            }
            Sample::Latency(h) => {
                lat[0].push(h.value_at_quantile(0.50) as f64);
                lat[1].push(h.value_at_quantile(0.99) as f64);
                lat[2].push(h.value_at_quantile(0.999) as f64);
                lat[3].push(h.mean());
            }
        }
    }
    if !rates.is_empty() && lat[0].is_empty() {
        let bytes: Vec<f64> = rates.iter().map(|r| r * size as f64).collect();
        Outcome::Throughput {
            msgs_per_s: Spread::of(&rates),
            bytes_per_s: Spread::of(&bytes),
        }
    } else if rates.is_empty() && !lat[0].is_empty() {
        Outcome::Latency {
            p50: Spread::of(&lat[0]),
            p99: Spread::of(&lat[1]),
            p999: Spread::of(&lat[2]),
            mean: Spread::of(&lat[3]),
        }
    } else {
        Outcome::Failed("repetitions produced no or mixed samples".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_median_and_range() {
        let s = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
    }

    #[test]
    fn check_mask_is_power_of_two_minus_one() {
        for size in [1, 8, 16, 64, 256, 4096, 65536, 1 << 20] {
            let m = check_mask(size);
            assert_eq!(m & (m + 1), 0, "size {size}");
            assert!((m + 1) as usize * size <= 16 * 1024 || m == 0, "size {size}");
        }
        assert_eq!(check_mask(1 << 20), 0);
    }

    #[test]
    fn rx_meter_rejects_a_gap() {
        let cfg = RunCfg {
            warmup: Duration::ZERO,
            measure: Duration::ZERO,
        };
        let mut m = RxMeter::new(cfg, 8);
        assert!(!m.on_seq(0).unwrap());
        assert!(m.on_seq(2).is_err());
    }
}
