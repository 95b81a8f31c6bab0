//! The transports under comparison, and the one list that registers them.
//!
//! # Adding a transport
//!
//! 1. Write a module here with a unit struct implementing [`Transport`]:
//!    `name`, `family`, `patterns`, optionally `sizes` / `supports` (to skip
//!    a size with a reason), `run` (the parent side of one repetition: create
//!    the resource, `h.spawn(...)` the child with the resource's name or fd
//!    numbers, `child.go()`, measure, `child.finish()`) and `child` (the other
//!    process: open the resource, `ctx.ready()`, then send or echo).
//!    Message-passing transports only need an [`msg::Endpoint`] (`send` and
//!    `recv` of one message) on each side and [`msg::run_parent`] /
//!    [`msg::run_child`] do the streaming, echoing, sequence checks and
//!    timing; see `eventfd.rs` or `pipe.rs`.
//! 2. Add one line to [`registry`].
//!
//! Everything else (repetitions, watchdog, table, ratios, JSON, targets,
//! plots) is driven by the registry. A shmlane SPSC channel, for example,
//! is a `shmlane_spsc.rs` of this shape (parent consumes in `throughput`,
//! pings in `pingpong`; the child produces or echoes):
//!
//! ```text
//! pub struct ShmlaneSpsc;
//! struct Side { tx: Option<Producer<u64>>, rx: Option<Consumer<u64>> }
//! impl msg::Endpoint for Side { send: tx.send(seq), recv: rx.recv() -> seq }
//! impl Transport for ShmlaneSpsc {
//!     fn name(&self) -> &'static str { "shmlane-spsc" }      // names used in targets.rs
//!     fn family(&self) -> Family { Family::Shmlane }
//!     fn patterns(&self) -> &'static [Pattern] { &[Pattern::Throughput, Pattern::PingPong] }
//!     fn sizes(&self, p: Pattern, _: &[usize]) -> Vec<usize> { vec![8] }
//!     fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
//!         let name = h.unique("/");                            // create the channel(s) named `name`
//!         let child = h.spawn(self.name(), "peer", case, &[name], &[])?;
//!         msg::run_parent(case, Side { .. }, child)            // or a hand loop with RxMeter
//!     }
//!     fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
//!         // open the channel(s) named ctx.arg(0)?
//!         msg::run_child(ctx, Side { .. })
//!     }
//! }
//! ```
//!
//! `msg` endpoints carry byte messages with the sequence number in their
//! first 8 bytes; a `u64` ring can carry the sequence number itself, as
//! `raw_ring.rs` does with [`crate::measure::RxMeter`] / [`crate::measure::TxMeter`]
//! (batched APIs too).
//!
//! Queues with several producers or consumers implement [`shape::Tx`] and
//! [`shape::Rx`] (one `u64` per call) and run the shapes
//! [`Pattern::SHAPES`] (1P1C, 2P1C, 1P2C) through [`shape::run_parent`] /
//! [`shape::run_child`] across processes (the harness starts several
//! children with `Harness::spawn_n`), or [`shape::run_threads`] in one
//! process; see `shmlane_mpmc.rs` and `threads.rs`.

use crate::harness::{ChildCtx, Harness, Pinning};
use crate::measure::{RunCfg, Sample};
use crate::sys::{bail, Res};

pub mod c_abi;
pub mod eventfd;
pub mod futex;
pub mod memcpy;
pub mod mqueue;
pub mod msg;
pub mod peer_iceoryx2;
pub mod peer_ipc_channel;
pub mod peer_shaq;
pub mod pipe;
pub mod raw_pingpong;
pub mod raw_ring;
pub mod shape;
pub mod shmlane_broadcast;
pub mod shmlane_bytes;
pub mod shmlane_mpmc;
pub mod shmlane_spsc;
pub mod tcp;
pub mod threads;
pub mod unix_dgram;
pub mod unix_stream;

/// Every transport, in table order. **Register new transports here.**
pub fn registry() -> Vec<&'static dyn Transport> {
    vec![
        // Hardware limits, measured by hand-written code in this crate.
        &raw_pingpong::RawPingPong,
        &raw_ring::RawRing,
        &memcpy::Memcpy,
        &futex::Futex,
        // What a user would pick instead of shmlane, across processes.
        &pipe::Pipe,
        &unix_stream::UnixStream,
        &unix_dgram::UnixDgram,
        &tcp::Tcp,
        &eventfd::EventFd,
        &mqueue::MQueue,
        // Peer crates, across processes (optional features, on by default).
        &peer_shaq::ShaqSpsc,
        &peer_shaq::ShaqMpmc,
        &peer_iceoryx2::Iceoryx2,
        &peer_ipc_channel::IpcChannel,
        // In-process references (two threads, not two processes).
        &threads::CrossbeamChannel,
        &threads::CrossbeamArrayQueue,
        &threads::Rtrb,
        // shmlane.
        &shmlane_spsc::ShmlaneSpsc,
        &shmlane_spsc::ShmlaneSpscBlocking,
        &shmlane_bytes::ShmlaneBytes,
        &shmlane_bytes::ShmlaneBytesZc,
        &shmlane_mpmc::ShmlaneMpmc,
        &shmlane_broadcast::ShmlaneBroadcast,
        // shmlane from C: C loops calling the C ABI (skipped without a C compiler).
        &c_abi::CAbiSpsc,
        &c_abi::CAbiMpmc,
        &c_abi::CAbiBytes,
    ]
}

/// A peer transport whose crate was left out of the build (its cargo
/// feature is off): registered under its name so that the table lists every
/// case as skipped, with the reason, instead of silently omitting the peer.
#[cfg(not(all(feature = "iceoryx2", feature = "shaq", feature = "ipc-channel")))]
macro_rules! peer_off {
    ($ty:ident, $name:literal, $feature:literal, $patterns:expr) => {
        /// A peer built without its crate: every case is skipped.
        pub struct $ty;

        impl $crate::transports::Transport for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn family(&self) -> $crate::transports::Family {
                $crate::transports::Family::Peer
            }
            fn patterns(&self) -> &'static [$crate::transports::Pattern] {
                $patterns
            }
            fn sizes(&self, _: $crate::transports::Pattern, _: &[usize]) -> Vec<usize> {
                vec![8]
            }
            fn supports(&self, _: $crate::transports::Pattern, _: usize) -> Result<(), String> {
                Err(concat!(
                    "built without the `",
                    $feature,
                    "` feature of shmlane-bench (on by default)"
                )
                .to_string())
            }
            fn run(
                &self,
                _: &$crate::transports::Case,
                _: &mut $crate::harness::Harness,
            ) -> $crate::sys::Res<$crate::measure::Sample> {
                Err($crate::sys::Error::new(concat!(
                    "built without the `",
                    $feature,
                    "` feature"
                )))
            }
        }
    };
}
#[cfg(not(all(feature = "iceoryx2", feature = "shaq", feature = "ipc-channel")))]
pub(crate) use peer_off;

/// Looks a transport up by name (the child side uses this).
pub fn find(name: &str) -> Option<&'static dyn Transport> {
    registry().into_iter().find(|t| t.name() == name)
}

/// What a transport is in the comparison; drives the ratio columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// A hardware limit written in this crate (the denominator of "÷limit").
    Limit,
    /// A cross-process transport a user could pick instead of shmlane (the
    /// candidates for "best peer").
    Peer,
    /// A two-thread, in-process reference; shown, never a peer.
    InProcess,
    /// shmlane itself.
    Shmlane,
}

impl Family {
    /// Short label for the table.
    pub fn label(self) -> &'static str {
        match self {
            Family::Limit => "limit",
            Family::Peer => "peer",
            Family::InProcess => "in-proc",
            Family::Shmlane => "shmlane",
        }
    }
}

/// The traffic shape of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    /// One-way stream, one message per operation; msgs/s and bytes/s.
    Throughput,
    /// One-way stream, many messages per publish/consume; msgs/s and bytes/s.
    Batch,
    /// Round trip of one small message; RTT percentiles.
    PingPong,
    /// Single-thread copy of each message into a ring-sized buffer; bytes/s.
    Copy,
    /// One-way stream from two producers to one consumer (one message per
    /// operation); msgs/s summed over the consumers. The one-producer
    /// one-consumer shape is [`Pattern::Throughput`].
    Throughput2P1C,
    /// One-way stream from one producer to two consumers; see
    /// [`Pattern::Throughput2P1C`].
    Throughput1P2C,
    /// Broadcast (publish-subscribe) stream of `u64` from one publisher to
    /// `n` subscribers, every subscriber receiving every message; msgs/s
    /// delivered per subscriber (the mean over the subscribers).
    Broadcast(u8),
    /// One-way latency of a broadcast from one publisher to `n`
    /// subscribers: the publisher stamps each message with
    /// `CLOCK_MONOTONIC`, each subscriber subtracts it from its own read of
    /// that clock on arrival; paced, so no queueing. Percentiles over every
    /// delivery to every subscriber.
    BroadcastLatency(u8),
}

impl Pattern {
    /// All patterns.
    pub const ALL: [Pattern; 12] = [
        Pattern::Throughput,
        Pattern::Batch,
        Pattern::PingPong,
        Pattern::Copy,
        Pattern::Throughput2P1C,
        Pattern::Throughput1P2C,
        Pattern::Broadcast(1),
        Pattern::Broadcast(2),
        Pattern::Broadcast(4),
        Pattern::BroadcastLatency(1),
        Pattern::BroadcastLatency(2),
        Pattern::BroadcastLatency(4),
    ];

    /// The broadcast patterns (1, 2 and 4 subscribers; rates, then
    /// latencies).
    pub const BROADCASTS: [Pattern; 6] = [
        Pattern::Broadcast(1),
        Pattern::Broadcast(2),
        Pattern::Broadcast(4),
        Pattern::BroadcastLatency(1),
        Pattern::BroadcastLatency(2),
        Pattern::BroadcastLatency(4),
    ];

    /// The multi-producer/multi-consumer shapes, 1P1C first (the
    /// patterns of a transport that runs every shape).
    pub const SHAPES: [Pattern; 3] = [Pattern::Throughput, Pattern::Throughput2P1C, Pattern::Throughput1P2C];

    /// Name in the table, JSON and child command line.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Throughput => "throughput",
            Pattern::Batch => "throughput-batch",
            Pattern::PingPong => "pingpong",
            Pattern::Copy => "memcpy",
            Pattern::Throughput2P1C => "throughput-2p1c",
            Pattern::Throughput1P2C => "throughput-1p2c",
            Pattern::Broadcast(1) => "broadcast-1",
            Pattern::Broadcast(2) => "broadcast-2",
            Pattern::Broadcast(4) => "broadcast-4",
            Pattern::Broadcast(_) => "broadcast-n",
            Pattern::BroadcastLatency(1) => "broadcast-lat-1",
            Pattern::BroadcastLatency(2) => "broadcast-lat-2",
            Pattern::BroadcastLatency(4) => "broadcast-lat-4",
            Pattern::BroadcastLatency(_) => "broadcast-lat-n",
        }
    }

    /// `(producers, consumers)` of a one-way stream pattern (publisher and
    /// subscribers of a broadcast); `None` for ping-pong and copy.
    pub fn shape(self) -> Option<(usize, usize)> {
        match self {
            Pattern::Throughput | Pattern::Batch => Some((1, 1)),
            Pattern::Throughput2P1C => Some((2, 1)),
            Pattern::Throughput1P2C => Some((1, 2)),
            Pattern::Broadcast(n) | Pattern::BroadcastLatency(n) => Some((1, n as usize)),
            Pattern::PingPong | Pattern::Copy => None,
        }
    }

    /// Inverse of [`Pattern::name`].
    pub fn parse(s: &str) -> Option<Pattern> {
        Pattern::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Whether the case produces latencies (else throughput).
    pub fn is_latency(self) -> bool {
        matches!(self, Pattern::PingPong | Pattern::BroadcastLatency(_))
    }

    /// Whether its latencies are one-way (sender's clock to receiver's
    /// clock), not round trips.
    pub fn is_one_way(self) -> bool {
        matches!(self, Pattern::BroadcastLatency(_))
    }
}

/// One case: a pattern, a message size and the durations of a repetition.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// Traffic shape.
    pub pattern: Pattern,
    /// Message size in bytes.
    pub size: usize,
    /// Warm-up and measured durations.
    pub cfg: RunCfg,
}

/// Message size of every ping-pong (a small message: one `u64`).
pub const PING_SIZE: usize = 8;

/// A transport (or hardware limit) under comparison. Implementations are unit
/// structs registered in [`registry`].
pub trait Transport: Sync {
    /// Stable name: table, JSON, `--filter`, and the child command line.
    fn name(&self) -> &'static str;

    /// Role in the comparison.
    fn family(&self) -> Family;

    /// Patterns this transport runs.
    fn patterns(&self) -> &'static [Pattern];

    /// Message sizes to run for `pattern`, from the run's size list
    /// `catalogue` (throughput and copy) or [`PING_SIZE`] (ping-pong).
    fn sizes(&self, pattern: Pattern, catalogue: &[usize]) -> Vec<usize> {
        match pattern {
            Pattern::PingPong => vec![PING_SIZE],
            Pattern::Batch | Pattern::Throughput2P1C | Pattern::Throughput1P2C | Pattern::Broadcast(_) => vec![8],
            Pattern::BroadcastLatency(_) => vec![16],
            Pattern::Throughput | Pattern::Copy => catalogue.to_vec(),
        }
    }

    /// A note for the table's note column: by default, for the shapes with
    /// more than two participants, where they run (more processes or
    /// threads than CPUs share a CPU, and the reader must know).
    fn note(&self, pattern: Pattern, pin: &Pinning) -> Option<String> {
        let (p, c) = pattern.shape()?;
        if p + c <= 2 {
            return None;
        }
        let unit = if self.family() == Family::InProcess {
            "thread"
        } else {
            "proc"
        };
        Some(pin.placement(p, c, unit))
    }

    /// `Err(reason)` when this transport cannot carry `size` bytes in
    /// `pattern` on this system; the case is listed as skipped.
    fn supports(&self, _pattern: Pattern, _size: usize) -> Result<(), String> {
        Ok(())
    }

    /// Runs one repetition of `case` (parent side) and returns its sample.
    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample>;

    /// Runs the child side of a case, in the process started by
    /// `Harness::spawn`.
    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let _ = ctx;
        bail!("{} has no child side", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_names_round_trip() {
        for p in Pattern::ALL {
            assert_eq!(Pattern::parse(p.name()), Some(p), "{p:?}");
        }
    }

    #[test]
    fn transport_names_are_unique() {
        let mut names: Vec<&str> = registry().iter().map(|t| t.name()).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn notes_only_for_shared_cpus() {
        let pin = Pinning {
            parent: Some(0),
            child: Some(1),
        };
        let t = find("shmlane-mpmc").expect("registered");
        assert_eq!(t.note(Pattern::Throughput, &pin), None);
        assert_eq!(
            t.note(Pattern::Throughput2P1C, &pin).as_deref(),
            Some("2 procs on CPU1 (time-shared) -> 1 proc on CPU0")
        );
    }
}
