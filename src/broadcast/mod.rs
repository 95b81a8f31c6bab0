//! Broadcast (publish-subscribe): one publisher, any number of subscribers,
//! every subscriber sees every message.
//!
//! # Shape
//! One [`Publisher`] and up to `endpoints - 1` [`Subscriber`]s, in any
//! processes, joining and leaving while the channel runs. A subscriber
//! starts at the newest message ([`Channel::subscribe`]: it receives what is
//! published after it joined) or at the oldest message still in the ring
//! ([`Channel::subscribe_from_oldest`]). Messages are fixed-size `T: Pod`
//! elements ([`Kind::Broadcast`](crate::layout::Kind::Broadcast)), or
//! variable-length byte messages ([`BytesChannel`],
//! [`Kind::BroadcastBytes`](crate::layout::Kind::BroadcastBytes); framing
//! and algorithm in [`bytes`]), with the same policies, attachment, gating
//! and eviction (`core.rs`, shared). [`RawChannel`] is the fixed-size
//! kind with the element size chosen at run time (the C ABI's view; it
//! runs the typed channel's ring code and shares segments with it). The
//! policy is chosen at creation ([`Builder::policy`]) and stored in the
//! segment:
//! - [`Policy::Block`] (lossless): the publisher waits for the slowest live
//!   subscriber (the LMAX Disruptor's gating sequences). A subscriber whose
//!   process died while it held the publisher back is *evicted* after the
//!   segment's stall timeout ([`Builder::stall_timeout`]), so a crash never
//!   stops the publisher for longer than that. A slow but live subscriber is
//!   never evicted.
//! - [`Policy::Overwrite`] (lossy): the publisher never waits. A subscriber
//!   that was lapped learns how many messages it missed
//!   ([`TryRecvError::Lagged`], as tokio's `broadcast` reports it) and
//!   continues from the oldest message still intact.
//!
//! # Algorithm
//! The ring has `capacity` slots (a power of two); positions are
//! free-running `u64`, position `p` lives in slot `p & (capacity - 1)`. A
//! slot is a 64-bit sequence word followed by the element, stored as 64-bit
//! words. Every slot is a *seqlock* (Lameter's seqlock; the Rust/C++
//! formulation is Boehm's "Can seqlocks get along with programming language
//! memory models?", MSPC 2012; Agrona's broadcast transmitter uses the same
//! check-before-and-after scheme):
//!
//! ```text
//! publisher, position p                    subscriber at cursor p
//! seq.store(2p+1, Relaxed)                 s1 = seq.load(Acquire)
//! fence(Release)                           s1 <  2p+2: nothing yet (Empty)
//! payload words: store(Relaxed)            s1 == 2p+2: copy words (Relaxed)
//! seq.store(2p+2, Release)                             fence(Acquire)
//! tail.store(p+1, Release); wake                       s2 = seq.load(Relaxed)
//!                                                      s2 == s1: deliver, cursor = p+1
//!                                          otherwise: lapped (below)
//! ```
//!
//! Before it looks at the slot, a subscriber compares `p` with the last
//! `tail` it loaded (Acquire, pairing with the publisher's Release store)
//! and reloads `tail` only when `p` reached it: `p >= tail` is "nothing
//! yet" without touching the slot's line, which the publisher may be
//! writing (a waiting subscriber that polled the slot would pull that line
//! away from the publisher between its stores), and the slots below a
//! loaded `tail` are read with no look at `tail` at all, as the SPSC
//! consumer's cached index does.
//!
//! Zeroed memory is `seq = 0`, i.e. "nothing yet" for every position, so a
//! new segment needs no initialisation. The element is copied with relaxed
//! *atomic* word loads and stores, so the seqlock is free of data races in
//! the language's memory model (Boehm's point), miri accepts it, and loom
//! checks it. If a subscriber's copy read any word written for a later
//! position, the writer's release fence synchronises with the reader's
//! acquire fence and `s2` sees at least that position's odd sequence: a torn
//! copy is always detected and never delivered.
//!
//! A subscriber that finds a later position in its slot was lapped: it
//! reads `tail` and jumps to `max(p + 1, tail - capacity)`, the oldest
//! position that can still be intact, and reports `Lagged(n)` with the
//! number of positions skipped. Every jump moves forward, so no loop
//! depends on a value a peer controls.
//!
//! ## Gating (Block)
//! Each subscriber publishes its cursor in its endpoint entry
//! (`words[W_CURSOR]`, stored as `cursor + 1`, 0 = none) with Release after
//! it is done with a slot. The publisher may write position `q` only when
//! `q < min(cursors) + capacity`; it caches that limit and rescans the
//! endpoint table (Acquire loads, pairing with the cursor stores, so the
//! subscribers' reads happen before the overwrite) only when it reaches the
//! cached limit, so the fast path reads no shared word but its own. When
//! blocked it sleeps on `not_full`, which subscribers wake (no system call
//! unless it sleeps) after storing their cursor.
//!
//! Joining while the publisher runs on a cached limit is a Dekker
//! handshake: the subscriber stores its cursor, issues `fence(SeqCst)`,
//! then re-reads `tail`; the publisher issues `fence(SeqCst)` before every
//! rescan. Either the rescan sees the cursor, or the subscriber's re-read
//! sees the `tail` stored before that rescan, and the limit computed there
//! only lets the publisher overwrite positions below that `tail`. A
//! subscriber therefore gates from the re-read `tail` (its *join
//! position*), which no cached limit can reach. The word it publishes is
//! `max(cursor, join position)`: a subscriber from the oldest reads the
//! messages published before it joined while they are intact, but does
//! not hold the publisher back for them; those it finds overwritten were
//! never promised to it and are skipped silently (not counted as lost).
//!
//! Subscribers check the sequence after every read under Block too: a
//! mismatch (a scribbling peer, or a subscriber wrongly judged dead) is
//! reported as `Lagged`, never undefined behaviour.
//!
//! ## Eviction
//! While blocked, the publisher checks (at most once per
//! [`WaitConfig::check_interval`]) the holders of the entries that hold it
//! back. The stall clock runs per holdout: an entry whose holder is found
//! dead (or that nobody holds) is remembered with the time it was first
//! found so, keeps that time while its cursor does not move, and once it has
//! held the publisher back dead for the stall timeout has its cursor cleared with a
//! compare-and-swap and its `EVICTED` flag set, and is counted in
//! [`Stats::evicted`]. A subscriber that was evicted but is in fact alive
//! (only possible across pid namespaces) reads on without gating and gets
//! `Lagged` if lapped.
//!
//! ## Attachment and disconnection
//! Entry 0 of the endpoint table is the publisher's (role Producer); a
//! second live publisher is [`Error::EndpointBusy`]. A publisher may attach
//! after a dead one and continues from `tail` (finishing the dead one's last
//! publication if it stored the slot but not `tail`). Subscribers take any
//! other entry. Subscribers get [`TryRecvError::Disconnected`] once the
//! publisher detached cleanly and they have read everything, and
//! [`TryRecvError::PeerDied`] when its process died. The publisher never
//! sees "no receivers": publishing to nobody is allowed.
//!
//! # Zero copy
//! Under Block a subscriber can read in place ([`Subscriber::try_read`]):
//! its cursor keeps the slot from being overwritten until the guard drops.
//! Under Overwrite the slot may be overwritten at any moment, and a
//! reference to memory being written is undefined behaviour in Rust (the
//! compiler may re-read a field it already checked); so there
//! [`Subscriber::recv_with`] and the guard hand out a validated copy (Agrona
//! instead validates after the reader's callback, which Java's memory model
//! permits). The guard says which it got ([`ReadGuard::in_place`]).
//!
//! # Invariants
//! - Only the publisher writes `tail` and slots; `tail` only grows; a
//!   slot's sequence only grows; positions stay below 2^62.
//! - Under Block, a registered, live subscriber's cursor `c` satisfies
//!   `tail <= c + capacity`: the publisher never overwrites an unread
//!   message of a live subscriber.
//! - Every shared word is validated before use as an index (slots are
//!   masked, the table is a fixed slice) and every loop is bounded.
//!
//! # Layout
//! Control block ([`BROADCAST_CONTROL_LEN`] bytes): `tail` at 0,
//! `not_empty` at 128, `not_full` at 256, counters at 384. Slot: `seq` at 0,
//! the element at `max(8, align_of::<T>())`, slot size a multiple of that.
//! Header `flags`: the policy (1 = Block, 2 = Overwrite).
//!
//! # Example
//! ```
//! use shmlane::broadcast::{Builder, Policy, TryRecvError};
//! // In-process; `Builder::create::<T>("/name")` makes a named channel that
//! // other processes `open`.
//! let ch = Builder::new().capacity(4).policy(Policy::Overwrite).in_process::<u64>()?;
//! let mut tx = ch.publisher()?;
//! let mut a = ch.subscribe()?;
//! let mut b = ch.subscribe()?;
//! tx.send(1).unwrap();
//! assert_eq!(a.try_recv(), Ok(1));
//! assert_eq!(b.try_recv(), Ok(1));
//! // `b` falls behind by more than the ring holds: it is told what it lost.
//! for i in 2..=7 {
//!     tx.send(i).unwrap();
//! }
//! assert_eq!(b.try_recv(), Err(TryRecvError::Lagged(2)));
//! assert_eq!(b.try_recv(), Ok(4));
//! drop(tx);
//! assert_eq!(a.try_recv(), Err(TryRecvError::Lagged(2)));
//! let rest: Vec<u64> = std::iter::from_fn(|| a.try_recv().ok()).collect();
//! assert_eq!(rest, [4, 5, 6, 7]);
//! assert_eq!(a.try_recv(), Err(TryRecvError::Disconnected));
//! # Ok::<(), shmlane::Error>(())
//! ```

pub mod bytes;
mod core;
mod fixed;
mod raw;

pub use self::core::{
    Stats, SubscriberStats, BROADCAST_CONTROL_LEN, BROADCAST_COUNTERS_OFFSET, BROADCAST_NOT_EMPTY_OFFSET,
    BROADCAST_NOT_FULL_OFFSET, BROADCAST_TAIL_OFFSET,
};
pub use bytes::{BytesBuilder, BytesChannel, BytesMessage, BytesPublisher, BytesSubscriber};
pub(crate) use fixed::stats_of_segment;
pub use fixed::{Builder, Channel, Publisher, ReadGuard, Subscriber};
pub use raw::{RawChannel, RawPublisher, RawReadGuard, RawSubscriber};

use crate::error::{Closed, Corruption};
#[allow(unused_imports)] // doc links
use crate::{error::Error, wait::WaitConfig};
use std::fmt;

/// What the publisher does when the slowest subscriber is a ring behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Lossless: wait for the slowest live subscriber; dead ones are
    /// evicted after the stall timeout.
    Block,
    /// Lossy: never wait; lapped subscribers get `Lagged(n)`.
    Overwrite,
}

impl Policy {
    /// The header `flags` value of this policy.
    pub fn flags(self) -> u32 {
        match self {
            Policy::Block => 1,
            Policy::Overwrite => 2,
        }
    }

    /// Decodes a header `flags` value.
    pub fn from_flags(v: u32) -> Option<Policy> {
        match v {
            1 => Some(Policy::Block),
            2 => Some(Policy::Overwrite),
            _ => None,
        }
    }
}

/// Error of a non-blocking receive from a broadcast channel.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing new to receive now.
    Empty,
    /// This subscriber was lapped: this many messages were overwritten
    /// before it read them. The next receive returns the oldest message
    /// still in the ring.
    Lagged(u64),
    /// Everything is read and the publisher closed cleanly.
    Disconnected,
    /// Everything is read and the publisher's process died.
    PeerDied {
        /// Pid of the dead process.
        pid: u32,
    },
    /// The segment is corrupt.
    Corrupt {
        /// Where.
        corruption: Corruption,
    },
}

/// Error of a blocking receive from a broadcast channel.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvError {
    /// Lapped; see [`TryRecvError::Lagged`].
    Lagged(u64),
    /// Everything is read and the publisher closed cleanly.
    Disconnected,
    /// Everything is read and the publisher's process died.
    PeerDied {
        /// Pid of the dead process.
        pid: u32,
    },
    /// The segment is corrupt.
    Corrupt {
        /// Where.
        corruption: Corruption,
    },
}

/// Error of a receive with a timeout from a broadcast channel.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvTimeoutError {
    /// Nothing arrived before the deadline.
    Timeout,
    /// Lapped; see [`TryRecvError::Lagged`].
    Lagged(u64),
    /// Everything is read and the publisher closed cleanly.
    Disconnected,
    /// Everything is read and the publisher's process died.
    PeerDied {
        /// Pid of the dead process.
        pid: u32,
    },
    /// The segment is corrupt.
    Corrupt {
        /// Where.
        corruption: Corruption,
    },
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no new message"),
            TryRecvError::Lagged(n) => lagged(f, *n),
            TryRecvError::Disconnected => f.write_str("the publisher closed the channel"),
            TryRecvError::PeerDied { pid } => write!(f, "the publisher process {pid} died"),
            TryRecvError::Corrupt { corruption } => write!(f, "{corruption}"),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Lagged(n) => lagged(f, *n),
            RecvError::Disconnected => f.write_str("the publisher closed the channel"),
            RecvError::PeerDied { pid } => write!(f, "the publisher process {pid} died"),
            RecvError::Corrupt { corruption } => write!(f, "{corruption}"),
        }
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting for a message"),
            RecvTimeoutError::Lagged(n) => lagged(f, *n),
            RecvTimeoutError::Disconnected => f.write_str("the publisher closed the channel"),
            RecvTimeoutError::PeerDied { pid } => write!(f, "the publisher process {pid} died"),
            RecvTimeoutError::Corrupt { corruption } => write!(f, "{corruption}"),
        }
    }
}

fn lagged(f: &mut fmt::Formatter<'_>, n: u64) -> fmt::Result {
    write!(
        f,
        "this subscriber fell a ring behind and missed {n} messages; it continues with the oldest one still in the ring"
    )
}

impl std::error::Error for TryRecvError {}
impl std::error::Error for RecvError {}
impl std::error::Error for RecvTimeoutError {}

impl From<Closed> for TryRecvError {
    fn from(c: Closed) -> TryRecvError {
        match c {
            Closed::Disconnected => TryRecvError::Disconnected,
            Closed::PeerDied(pid) => TryRecvError::PeerDied { pid },
            Closed::Corrupt(corruption) => TryRecvError::Corrupt { corruption },
        }
    }
}

impl TryRecvError {
    /// The blocking-receive error for this, `None` for `Empty`.
    fn into_timeout(self) -> Option<RecvTimeoutError> {
        Some(match self {
            TryRecvError::Empty => return None,
            TryRecvError::Lagged(n) => RecvTimeoutError::Lagged(n),
            TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            TryRecvError::PeerDied { pid } => RecvTimeoutError::PeerDied { pid },
            TryRecvError::Corrupt { corruption } => RecvTimeoutError::Corrupt { corruption },
        })
    }
}

impl RecvTimeoutError {
    /// The error of a receive without deadline (`Timeout` cannot happen).
    fn into_recv(self) -> RecvError {
        match self {
            RecvTimeoutError::Timeout => unreachable!("no deadline"),
            RecvTimeoutError::Lagged(n) => RecvError::Lagged(n),
            RecvTimeoutError::Disconnected => RecvError::Disconnected,
            RecvTimeoutError::PeerDied { pid } => RecvError::PeerDied { pid },
            RecvTimeoutError::Corrupt { corruption } => RecvError::Corrupt { corruption },
        }
    }
}
