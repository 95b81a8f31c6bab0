//! The named ratios the project is held to, as a declarative list. Each
//! target divides one row's metric by another's (or by the best peer's) and
//! compares the ratio with a bound: the ratio of the two rows' best
//! repetitions decides, and the ratio of their medians is printed beside
//! it (see the crate docs for why). Targets whose rows were not measured (a
//! transport not registered yet, or filtered out) print as PENDING, so the
//! shmlane targets below are already here, waiting for the shmlane
//! transports; the harness-sanity targets pass today.
//!
//! To add a target, add one entry to [`TARGETS`]. Transport names must match
//! `Transport::name` of the registered transports.

use crate::results::Metric;
use crate::transports::{Pattern, PING_SIZE};

/// A row's metric.
#[derive(Clone, Copy, Debug)]
pub struct Sel {
    /// Transport name.
    pub transport: &'static str,
    /// Pattern.
    pub pattern: Pattern,
    /// Message size in bytes.
    pub size: usize,
    /// Metric.
    pub metric: Metric,
}

/// What a target divides by.
#[derive(Clone, Copy, Debug)]
pub enum Den {
    /// A given row's metric.
    Row(Sel),
    /// The best cross-process peer (`Family::Peer`) at the numerator's
    /// pattern and size, on the numerator's metric.
    #[allow(dead_code)] // no current target divides by the best peer
    BestPeer,
}

/// The bound on the ratio.
#[derive(Clone, Copy, Debug)]
pub enum Cmp {
    /// ratio >= bound.
    AtLeast(f64),
    /// ratio <= bound.
    AtMost(f64),
}

/// A named ratio with its bound.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// What it says, for the report.
    pub label: &'static str,
    /// Numerator.
    pub num: Sel,
    /// Denominator.
    pub den: Den,
    /// Bound.
    pub cmp: Cmp,
}

const fn sel(transport: &'static str, pattern: Pattern, size: usize, metric: Metric) -> Sel {
    Sel {
        transport,
        pattern,
        size,
        metric,
    }
}

/// The targets, in report order.
pub const TARGETS: &[Target] = &[
    // Harness sanity: the limits must really be limits.
    Target {
        label: "raw ring u64 msgs/s / pipe 16 B msgs/s",
        num: sel("raw-ring", Pattern::Throughput, 8, Metric::MsgsPerS),
        den: Den::Row(sel("pipe", Pattern::Throughput, 16, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(10.0),
    },
    Target {
        label: "futex RTT p50 / raw ping-pong RTT p50",
        num: sel("futex", Pattern::PingPong, 4, Metric::RttP50),
        den: Den::Row(sel("raw-pingpong", Pattern::PingPong, PING_SIZE, Metric::RttP50)),
        cmp: Cmp::AtLeast(10.0),
    },
    // shmlane (PENDING until its transports are registered under these names).
    Target {
        label: "shmlane spsc u64 throughput / raw ring",
        num: sel("shmlane-spsc", Pattern::Throughput, 8, Metric::MsgsPerS),
        den: Den::Row(sel("raw-ring", Pattern::Throughput, 8, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(0.9),
    },
    Target {
        label: "shmlane spsc u64 batch (chunks) throughput / raw ring",
        num: sel("shmlane-spsc", Pattern::Batch, 8, Metric::MsgsPerS),
        den: Den::Row(sel("raw-ring", Pattern::Throughput, 8, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(1.0),
    },
    // A stricter bar than the one above: the raw ring batching too (one
    // index store per 256 messages on each side), i.e. the chunk API's whole
    // cost against a hand-written batch loop.
    Target {
        label: "shmlane spsc u64 batch (chunks) throughput / raw ring batch",
        num: sel("shmlane-spsc", Pattern::Batch, 8, Metric::MsgsPerS),
        den: Den::Row(sel("raw-ring", Pattern::Batch, 8, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(1.0),
    },
    Target {
        label: "shmlane spsc ping-pong RTT p50 / raw ping-pong RTT p50",
        num: sel("shmlane-spsc", Pattern::PingPong, PING_SIZE, Metric::RttP50),
        den: Den::Row(sel("raw-pingpong", Pattern::PingPong, PING_SIZE, Metric::RttP50)),
        cmp: Cmp::AtMost(1.2),
    },
    Target {
        label: "shmlane bytes 64 B msgs/s / unix stream socket 64 B",
        num: sel("shmlane-bytes", Pattern::Throughput, 64, Metric::MsgsPerS),
        den: Den::Row(sel("unix-stream", Pattern::Throughput, 64, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(20.0),
    },
    Target {
        label: "shmlane bytes 64 KiB (written in place) bytes/s / memcpy 64 KiB",
        num: sel("shmlane-bytes-zc", Pattern::Throughput, 64 << 10, Metric::BytesPerS),
        den: Den::Row(sel("memcpy", Pattern::Copy, 64 << 10, Metric::BytesPerS)),
        cmp: Cmp::AtLeast(0.6),
    },
    Target {
        label: "shmlane mpmc 1P1C u64 msgs/s / shmlane spsc u64 msgs/s",
        num: sel("shmlane-mpmc", Pattern::Throughput, 8, Metric::MsgsPerS),
        den: Den::Row(sel("shmlane-spsc", Pattern::Throughput, 8, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(1.0 / 1.5),
    },
    Target {
        label: "shmlane mpmc 1P1C msgs/s / crossbeam-channel 1P1C (threads)",
        num: sel("shmlane-mpmc", Pattern::Throughput, 8, Metric::MsgsPerS),
        den: Den::Row(sel("crossbeam-channel", Pattern::Throughput, 8, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(1.0),
    },
    Target {
        label: "shmlane mpmc 2P1C msgs/s / crossbeam-channel 2P1C (threads)",
        num: sel("shmlane-mpmc", Pattern::Throughput2P1C, 8, Metric::MsgsPerS),
        den: Den::Row(sel("crossbeam-channel", Pattern::Throughput2P1C, 8, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(1.0),
    },
    Target {
        label: "shmlane mpmc 1P2C msgs/s / crossbeam-channel 1P2C (threads)",
        num: sel("shmlane-mpmc", Pattern::Throughput1P2C, 8, Metric::MsgsPerS),
        den: Den::Row(sel("crossbeam-channel", Pattern::Throughput1P2C, 8, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(1.0),
    },
    Target {
        label: "shmlane mpmc 1P1C msgs/s / crossbeam ArrayQueue 1P1C (threads)",
        num: sel("shmlane-mpmc", Pattern::Throughput, 8, Metric::MsgsPerS),
        den: Den::Row(sel("crossbeam-arrayqueue", Pattern::Throughput, 8, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(1.0),
    },
    Target {
        label: "shmlane mpmc 2P1C msgs/s / crossbeam ArrayQueue 2P1C (threads)",
        num: sel("shmlane-mpmc", Pattern::Throughput2P1C, 8, Metric::MsgsPerS),
        den: Den::Row(sel(
            "crossbeam-arrayqueue",
            Pattern::Throughput2P1C,
            8,
            Metric::MsgsPerS,
        )),
        cmp: Cmp::AtLeast(1.0),
    },
    Target {
        label: "shmlane mpmc 1P2C msgs/s / crossbeam ArrayQueue 1P2C (threads)",
        num: sel("shmlane-mpmc", Pattern::Throughput1P2C, 8, Metric::MsgsPerS),
        den: Den::Row(sel(
            "crossbeam-arrayqueue",
            Pattern::Throughput1P2C,
            8,
            Metric::MsgsPerS,
        )),
        cmp: Cmp::AtLeast(1.0),
    },
    Target {
        label: "shmlane broadcast 1-subscriber u64 msgs/s / shmlane spsc u64 msgs/s",
        num: sel("shmlane-broadcast", Pattern::Broadcast(1), 8, Metric::MsgsPerS),
        den: Den::Row(sel("shmlane-spsc", Pattern::Throughput, 8, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(0.8),
    },
    Target {
        label: "C->C (C ABI) u64 SPSC msgs/s / Rust->Rust shmlane spsc u64 msgs/s",
        num: sel("c-abi-spsc", Pattern::Throughput, 8, Metric::MsgsPerS),
        den: Den::Row(sel("shmlane-spsc", Pattern::Throughput, 8, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(0.9),
    },
    Target {
        label: "C->C (C ABI) 64 B bytes msgs/s / Rust->Rust shmlane bytes 64 B msgs/s",
        num: sel("c-abi-bytes", Pattern::Throughput, 64, Metric::MsgsPerS),
        den: Den::Row(sel("shmlane-bytes", Pattern::Throughput, 64, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(0.9),
    },
    Target {
        label: "C->C (C ABI) u64 MPMC 1P1C msgs/s / Rust->Rust shmlane mpmc 1P1C msgs/s",
        num: sel("c-abi-mpmc", Pattern::Throughput, 8, Metric::MsgsPerS),
        den: Den::Row(sel("shmlane-mpmc", Pattern::Throughput, 8, Metric::MsgsPerS)),
        cmp: Cmp::AtLeast(0.9),
    },
    Target {
        label: "shmlane blocking ping-pong RTT p50 / futex RTT p50",
        num: sel("shmlane-spsc-blocking", Pattern::PingPong, PING_SIZE, Metric::RttP50),
        den: Den::Row(sel("futex", Pattern::PingPong, 4, Metric::RttP50)),
        cmp: Cmp::AtMost(1.2),
    },
];
