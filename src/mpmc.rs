//! Multi-producer multi-consumer ring of fixed-size elements.
//!
//! # Algorithm
//! Dmitry Vyukov's bounded MPMC queue (1024cores.net, "Bounded MPMC
//! queue"; also the algorithm of crossbeam's `ArrayQueue`): every slot
//! carries a 64-bit sequence number next to its element, and producers and
//! consumers claim positions with a compare-and-swap on the shared `tail`
//! and `head` indices. It was chosen because it commits *per slot*: a
//! producer publishes its own slot by writing that slot's sequence number,
//! so a slow (or dead) producer delays only the consumers that reach its
//! slot, never other producers' commits, and no position counter has to
//! wait for stragglers as in designs that publish a shared "committed up
//! to" index. The per-slot state is also what makes a dead claimant's slot
//! recognisable and skippable (below).
//!
//! For position `p` (free-running `u64`, slot `p & (cap-1)`, `cap` a power
//! of two of at least 2) a slot's `seq` is:
//! - `p`: free; the producer that claims position `p` may write it;
//! - `p + 1`: committed; holds an element for the consumer of position `p`;
//! - `(p + 1) | SKIP` (the top bit): a *tombstone* at `p`, committed with
//!   no element: consumers pass over it (see "Claims" and "Crash safety");
//! - `p + cap`: released by the consumer of `p`; free for position `p + cap`.
//!
//! A producer loads `tail = t`, and if the slot's `seq == t` it claims the
//! position with a CAS `tail: t -> t + 1`, writes the element and commits it
//! by storing `seq = t + 1` (Release). A consumer loads `head = h`, and if
//! `seq == h + 1` claims it with a CAS `head: h -> h + 1`, reads, and
//! releases by storing `seq = h + cap` (Release). (See "Commits and
//! releases" for why plain stores are safe against the skips below.) Batches claim `n`
//! consecutive positions with one CAS after checking that all `n` slots are
//! in the right state (a slot in state `p` or `p + 1` can only leave it
//! through the claim of position `p`, which the successful CAS gives us), so
//! [`Sender::try_send_slice`] and [`Receiver::try_recv_slice`] are true batch
//! claims; their commits and releases are still per slot (see "Batches").
//!
//! Invariants: `head` and `tail` only grow; positions stay below `2^63`
//! (`SKIP`); a slot's `seq` only grows (modulo the `SKIP` flag), so a stale
//! CAS on it always fails. Values read from the segment are never trusted:
//! slot indices are masked; a `seq` that says a position was taken while the
//! index says it was not is reported as [`Corruption`], and every retry
//! loop is bounded.
//!
//! # Commits and releases
//! A commit is a plain Release store of `seq`, and so is a release: no
//! locked instruction, which halves the cost of a message next to a CAS
//! (the CAS waits for the store buffer to drain, and the slot's line is
//! usually on the other core). A plain store would overwrite a tombstone
//! written meanwhile by an endpoint that judged the claimant dead (below),
//! so the two meet in a handshake, an asymmetric Dekker pair on two words of
//! the claimant's endpoint entry:
//! - the claimant writes the claim's start into its *finish* word, runs
//!   `light_barrier` (a compiler fence when `membarrier(2)`
//!   is available), then reads its *fence* word: if the fence names its
//!   own pid, it commits (releases) by CAS instead, which fails on a
//!   skipped (reclaimed) slot and is reported to it, never delivered;
//! - the endpoint about to skip (free) the claim first writes the
//!   claimant's pid into the fence word, runs `heavy_barrier`
//!   (`membarrier`), then reads the finish word. Either it sees the claim
//!   there, or the claimant sees the fence. A claim found there is *in
//!   flight*: its holder passed the check and may still store, so it is
//!   skipped (freed) only when found unchanged after a second stall
//!   timeout: a holder that died there never stores. A holder wrongly
//!   judged dead and paused for a whole stall timeout between its check and
//!   its store (a few instructions) is the one case the handshake does not
//!   cover.
//!
//! A fenced endpoint (judged dead, still running) and a dead one whose
//! entry was taken over keep committing by CAS, so a late commit into a
//! skipped slot fails and is reported to that producer as
//! [`TrySendError::Corrupt`] (or `Err` from [`WriteClaim::commit`]), and
//! the element is never delivered; a release of a slot that a producer
//! reclaimed is reported to that consumer, and the element it read
//! (possibly overwritten) is not returned. Dropped claims (tombstones) are
//! committed by CAS.
//!
//! # Batches
//! A batch commits its slots from the last to the first, and a batch
//! receive reads all its elements, then releases the slots from the last to
//! the first. The other side waits at the batch's first slot, so it finds
//! the whole run committed (free) at once and claims it with one CAS. In
//! ascending order it would claim each slot as soon as it changed, chasing
//! the stores one or two slots at a time and pulling each slot's line away
//! mid-batch; batches of 256 then gained less than 2× over single messages,
//! and this order doubles their throughput. Each slot's commit (release) is
//! still its own Release store, so the order changes nothing for a reader
//! of any one slot, nor for the skip and reclaim paths, which look at one
//! slot at a time.
//!
//! # The single-message fast path
//! Every claim of one position (single sends and receives, zero-copy
//! claims, the raw calls of the C ABI) first tries the common case inline:
//! the slot at the index is ready (free for a producer with a receiver
//! attached; holding an element for a consumer) and the CAS wins at the
//! first try. That path is the first round of the general claim minus its
//! bookkeeping. It does not touch the stall clock, which is keyed by the
//! position a handle is stalled at: a handle that made progress since is
//! stalled at a later position, which restarts the clock (`Pacer`).
//! Anything unexpected (a full or empty ring, a lost CAS, a tombstone, a
//! batch record to replace, no receiver attached) falls through to the
//! general claim, which starts over. Keeping the general path out of line
//! halved the cost of a message: two pinned processes went from 27–35 M to
//! 63–87 M msgs/s (1P1C, `u64`, paired quick runs of `shmlane-bench`).
//!
//! The calls themselves are split the same way. `send`, `try_send`,
//! `recv` and `try_recv` inline only the fast claim, the copy and the
//! commit or (deferred) release; everything else, from the general claim
//! to waiting, is one out-of-line call (`send_slow`, `recv_slow`, …). The
//! raw `send_fast` / `recv_fast` under the C ABI do the same and leave the
//! rest to their caller, so an `extern "C"` call that succeeds no longer
//! sets up the frame of the general claim. In the C-to-C benchmark that
//! took the best repetitions from 80–87 M to 92–97 M msgs/s, level with
//! the Rust ring (paired quick runs). The out-of-line halves go straight
//! to the general claim (`claim_at` with `inline` false): repeating the
//! inline attempt there would cost little at run time, but it enlarges
//! every loom model that waits. The C ABI's out-of-line half does the same
//! through `RawSender::try_send_after_fast` / `send_timeout_after_fast`
//! (and the receiver's counterparts).
//!
//! The batch calls likewise claim before they set up a wait: `send_slice`
//! and `recv_slice` used to enter the wait loop at once, cloning the
//! handle's `Arc` (two atomic read-modify-writes) on every call, which cost
//! small batches dearly. With batches of 16 (4) `u64`s per call, two
//! pinned processes went from best repetitions of 148 (61) M to 187 (93) M
//! msgs/s (1P1C, paired quick runs of `shmlane-bench` built with those
//! batch sizes); batches of 256 are unchanged. A wait that follows such an
//! attempt starts without polling again (`wait::block_on_polled`).
//!
//! The inline halves look the slot and our endpoint entry's words up once,
//! in the claim (`Shared::claim_fast`), and keep those references to the
//! commit (release). Each `light_barrier` is a compiler fence, after which
//! the compiler reloads whatever it reads through memory: looked up again
//! at each use, the slot address, the entry (with its bounds check) and
//! the handle's fields were recomputed after each fence, a dozen
//! instructions per message on each side. The atomics and their order are
//! the same. Over 13 paired quick runs of `shmlane-bench` (the two builds
//! alternated), the median of the 1P2C row's best repetitions went from
//! 84.7 M to 95.3 M msgs/s; 1P1C (106 → 109 M), 2P1C (88.5 → 88.8 M) and
//! C-to-C (98.6 → 103 M) stayed within noise.
//!
//! # Deferred releases
//! A receiver does not release each slot as soon as it has read it: it
//! publishes what it has read as a range `[lo, hi)` in two words of its
//! endpoint entry (a Release store of `hi` after each read) and releases
//! the whole range at once when `hi` reaches a multiple of 16 positions
//! (four cache lines of `u64` slots), before it would wait (the fast claim
//! failed: an empty ring, a batch, a contended `head`), when it sees a
//! sender asleep on `not_full`, and when it detaches. Released per message,
//! a slot's line went back and forth between the two sides once per slot:
//! the consumer wrote the line while the producer was filling (or waiting
//! on) its neighbours. Released per range, the consumer writes each line
//! once, after it has read all of it. Two pinned processes went from
//! 61–73 M to 80–97 M msgs/s (1P1C, `u64`, paired quick runs of
//! `shmlane-bench`); 2P1C and the C ABI's ring gained as much. 1P2C did
//! not: two receivers take alternate positions, so their ranges rarely
//! grow past one.
//!
//! A range is read and not yet free, so a producer that finds the slot of
//! `tail` still holding a position `q` completes the release itself:
//! `help` looks up the receivers that may hold ranges (one bit each in
//! [`MpmcCounters::deferring`]) for a range containing `q`, takes the range
//! by moving its `lo` up to `hi` with a CAS, and frees its slots by CAS.
//! The receiver releases its own range the same way: a CAS moves `lo` to
//! `hi`, then plain stores free what was left to it. `lo` only grows, so
//! each position is freed by exactly one of them, and a range can never
//! hold a position its receiver has not read (`hi` is stored after the
//! read; a new range's `lo` is stored before its `hi`, and readers load
//! `hi` first). Consequences:
//! - `try_send` reports `Full` only when every slot holds an element not
//!   yet read: the capacity is exact, whatever receivers hold.
//! - A receiver that stops receiving (or dies) holding a range delays no
//!   one: the first producer that needs one of its slots frees them. A dead
//!   receiver's range is not counted as lost; its elements were read. An
//!   endpoint taking over a dead receiver's entry frees its range first.
//! - A sender about to sleep polls once more after its `heavy_barrier`
//!   (see `wait`), and that poll helps; a receiver checks for sleepers
//!   after each read (`light_barrier`, as every wake does) and releases its
//!   range before waking them. So a sender never sleeps on a slot read and
//!   not released.
//! - Only the receivers of the first 64 endpoint entries defer (the
//!   mask's width); the others release each slot as they read it.
//! - While a receiver releases its range it records the range as its claim
//!   (see "Crash safety"), so a producer stalled at one of those slots
//!   sees a live claimant and never reclaims it under the receiver.
//!
//! # Claims (zero copy)
//! [`Sender::try_claim`] returns a [`WriteClaim`]: a slot to write in place,
//! published by [`WriteClaim::commit`]. Dropping a claim without committing
//! it commits a *tombstone*: consumers pass over the position and it is
//! counted in [`Stats::aborted`]; it never blocks anyone.
//! [`Receiver::try_claim`] returns a [`ReadClaim`]: the element in place,
//! freed by [`ReadClaim::release`] or by dropping it.
//!
//! # Crash safety
//! Before its CAS on `tail` a producer records the range it is claiming in
//! its endpoint entry (`words[0..2]`, Release), and clears it after the
//! commit; a consumer does the same for `head` (`words[2..4]`). A consumer
//! that finds position `h` claimed (`tail > h`) but not committed starts a
//! stall clock; on a liveness check (at most once per
//! [`WaitConfig::check_interval`]) after the segment's stall timeout
//! ([`Builder::stall_timeout`], default 3 s, as Aeron's unblock timeout), it
//! scans the endpoint table for the entries whose record contains `h`; if
//! every one is dead ([`endpoint::token_alive`]), or none is left (the dead
//! holder's entry was taken over), it turns the position into a tombstone by
//! a CAS `seq: h -> (h + 1) | SKIP` (after the handshake above), counts it
//! in [`Stats::lost_sends`], and goes on (with the following positions of
//! the same dead claim). The
//! symmetric case: a producer that finds its slot still holding position
//! `q = t - cap`, claimed by a consumer (`head > q`) that never released it,
//! frees it after the stall when every consumer recording `q` is dead
//! ([`Stats::lost_recvs`]). A record is visible to whoever sees the index
//! CAS that follows it (Release/Acquire), and stays until the claimant's
//! commit or release, so "no live claimant records `p`" means the claimant
//! is gone. The stall guards against a wrong verdict: a claimant wrongly
//! judged dead (for example a process in another pid namespace) that
//! resumes writing may overwrite a later element of the same slot; its late
//! commit is still refused.
//!
//! The two judgements — "is this claimant dead" and "has the stall
//! expired" — are made in one place each (`Liveness` and `Pacer`). Under
//! loom time does not exist: every stall has expired, and a model of dead
//! peers asks (with a hidden builder option) for the liveness checks on
//! every poll instead of once per interval; a test "kills" an endpoint by
//! rewriting its owner token to one with the same pid and another start
//! time, which is exactly how a dead process whose pid was reused looks. So
//! the skip paths are explored deterministically.
//!
//! # Attachment and disconnection
//! Any number of senders and receivers attach ([`Channel::sender`],
//! [`Channel::receiver`]), each taking an entry of the endpoint table
//! ([`Builder::endpoints`], default [`DEFAULT_ENDPOINTS`]);
//! [`Error::EndpointTableFull`] when none is free. The control block counts
//! attached senders and receivers (and how many ever attached), so the fast
//! path needs no table scan. Receivers get `Disconnected` once at least one
//! sender attached, all detached cleanly, and the ring is drained; senders
//! get it as soon as no receiver remains (after one attached). A peer that
//! died without detaching is found by a table scan on the slow path: with no
//! live sender left and a dead one, receivers get `PeerDied` after draining;
//! with no live receiver left and the ring full, senders get `PeerDied`.
//! Before any peer ever attached, both sides simply wait (a producer may
//! fill the ring before the first consumer opens it).
//!
//! # Blocking
//! Receivers sleep on `not_empty`, senders on `not_full` ([`WaitWord`]s in
//! the control block); every commit wakes `not_empty` and every read
//! wakes `not_full` (releasing the reader's deferred range first when
//! someone sleeps there), which costs no system call unless someone
//! sleeps.
//!
//! # Layout
//! Control block: `tail` at 0, `head` at 128, `not_empty` at 256,
//! `not_full` at 384, counters at 512 ([`MPMC_CONTROL_LEN`] bytes). Slots:
//! `#[repr(C)] { seq: u64, value: T }`, padded to their alignment
//! (`max(8, align_of::<T>())`), initialised to `seq = index`.
//!
//! # Example
//! ```
//! use shmlane::mpmc;
//! // An in-process ring; `mpmc::Channel::create("/name", 1024)` makes a named
//! // one that other processes `open`.
//! let ch = mpmc::Channel::<u64>::in_process(8)?;
//! let mut rx = ch.receiver()?;
//! let workers: Vec<_> = (0..2u64)
//!     .map(|w| {
//!         let mut tx = ch.sender().unwrap();
//!         std::thread::spawn(move || {
//!             for i in 0..100 {
//!                 tx.send(w * 1000 + i).unwrap();
//!             }
//!         })
//!     })
//!     .collect();
//! let mut sum = 0;
//! // Disconnected once both senders are dropped and the ring is drained.
//! while let Ok(v) = rx.recv() {
//!     sum += v;
//! }
//! for w in workers {
//!     w.join().unwrap();
//! }
//! assert_eq!(sum, 2 * 4950 + 100 * 1000);
//! assert_eq!(ch.stats().received, 200);
//!
//! // Zero copy: write in place, then commit.
//! let mut tx = ch.sender()?;
//! let mut claim = tx.try_claim().unwrap();
//! *claim = 42;
//! claim.commit().unwrap();
//! assert_eq!(rx.try_recv(), Ok(42));
//! # Ok::<(), shmlane::Error>(())
//! ```

use crate::endpoint::{self, Holder};
use crate::error::{
    Closed, Corruption, Error, RecvError, RecvTimeoutError, Result, SendError, SendTimeoutError, TryRecvError,
    TrySendError,
};
use crate::layout::{EndpointEntry, Geometry, Kind, Role, TypeFingerprint, ENDPOINT_WORDS, MAX_ENDPOINTS};
use crate::segment::{CreateOptions, Expect, OpenOptions, Segment, Spec};
use crate::spsc::copy_elem;
use crate::sync::{AtomicU64, Ordering, UnsafeCell};
use crate::wait::{self, WaitConfig, WaitWord};
use bytemuck::Pod;
use crossbeam_utils::CachePadded;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::layout::DEFAULT_ENDPOINTS;

/// The shared control block of an MPMC ring.
#[repr(C)]
#[derive(Debug)]
pub struct MpmcControl {
    /// Next position a producer claims.
    pub tail: CachePadded<AtomicU64>,
    /// Next position a consumer claims.
    pub head: CachePadded<AtomicU64>,
    /// Receivers sleep here when nothing is committed at `head`.
    pub not_empty: CachePadded<WaitWord>,
    /// Senders sleep here when the slot of `tail` is not free.
    pub not_full: CachePadded<WaitWord>,
    /// Attachment counts and loss counters (slow paths only).
    pub counters: CachePadded<MpmcCounters>,
}

/// Counters of an MPMC ring, on their own line of the control block.
#[repr(C)]
#[derive(Debug)]
pub struct MpmcCounters {
    /// Senders attached now (low 32 bits) and attaches ever (high 32 bits).
    /// A sender that died without detaching stays counted until its entry
    /// is taken over.
    pub senders: AtomicU64,
    /// Receivers, packed like `senders`.
    pub receivers: AtomicU64,
    /// Positions claimed by a dead producer and skipped.
    pub lost_sends: AtomicU64,
    /// Elements claimed by a dead consumer and freed unread.
    pub lost_recvs: AtomicU64,
    /// Claims dropped uncommitted by a live producer (tombstones).
    pub aborted: AtomicU64,
    /// Tombstones passed by consumers (or freed with a dead consumer's
    /// claim): the positions below `head` that carried no element.
    pub passed: AtomicU64,
    /// Bit `i` set: endpoint entry `i` (of the first 64) has held a
    /// receiver, whose deferred releases a producer may have to complete
    /// (see "Deferred releases" in the module docs). Never cleared.
    pub deferring: AtomicU64,
}

#[cfg(not(loom))]
mod asserts {
    use super::*;
    use memoffset::offset_of;
    const _: () = assert!(offset_of!(MpmcControl, tail) == MPMC_TAIL_OFFSET);
    const _: () = assert!(offset_of!(MpmcControl, head) == MPMC_HEAD_OFFSET);
    const _: () = assert!(offset_of!(MpmcControl, not_empty) == MPMC_NOT_EMPTY_OFFSET);
    const _: () = assert!(offset_of!(MpmcControl, not_full) == MPMC_NOT_FULL_OFFSET);
    const _: () = assert!(offset_of!(MpmcControl, counters) == MPMC_COUNTERS_OFFSET);
    const _: () = assert!(offset_of!(MpmcCounters, senders) == 0);
    const _: () = assert!(offset_of!(MpmcCounters, receivers) == 8);
    const _: () = assert!(offset_of!(MpmcCounters, lost_sends) == 16);
    const _: () = assert!(offset_of!(MpmcCounters, lost_recvs) == 24);
    const _: () = assert!(offset_of!(MpmcCounters, aborted) == 32);
    const _: () = assert!(offset_of!(MpmcCounters, passed) == 40);
    const _: () = assert!(offset_of!(MpmcCounters, deferring) == 48);
    const _: () = assert!(core::mem::size_of::<MpmcControl>() == MPMC_CONTROL_LEN);
    const _: () = assert!(offset_of!(Slot<u8>, seq) == MPMC_SLOT_SEQ_OFFSET);
    const _: () = assert!(offset_of!(Slot<u8>, value) == 8);
    const _: () = assert!(core::mem::size_of::<Slot<u64>>() == 16);
}

/// Offset of `tail` in the control block (mirrored in the C header).
pub const MPMC_TAIL_OFFSET: usize = 0;
/// Offset of `head` in the control block.
pub const MPMC_HEAD_OFFSET: usize = 128;
/// Offset of the `not_empty` futex word (then its waiters count).
pub const MPMC_NOT_EMPTY_OFFSET: usize = 256;
/// Offset of the `not_full` futex word (then its waiters count).
pub const MPMC_NOT_FULL_OFFSET: usize = 384;
/// Offset of [`MpmcCounters`] in the control block.
pub const MPMC_COUNTERS_OFFSET: usize = 512;
/// Size of the control block.
pub const MPMC_CONTROL_LEN: usize = 640;
/// Offset of a slot's sequence number; the element follows at
/// `max(8, align_of::<T>())`.
pub const MPMC_SLOT_SEQ_OFFSET: usize = 0;

/// Tombstone flag in a slot's `seq`; also the bound on positions.
const SKIP: u64 = 1 << 63;
/// Bound on the retries of one non-blocking operation (each retry means
/// another endpoint made progress, or a peer is scribbling on the segment).
const RETRY_BOUND: u32 = 1 << 20;
/// Endpoint words: the range a producer is claiming (start + 1, end).
const W_SEND_START: usize = 0;
const W_SEND_END: usize = 1;
/// Endpoint words: the range a consumer is claiming (start + 1, end).
const W_RECV_START: usize = 2;
const W_RECV_END: usize = 3;
/// Endpoint word: which attachment counter the holder incremented.
const W_COUNTED: usize = 4;
/// Endpoint word: the pid of a holder of this entry that another endpoint
/// judged dead and is about to skip (or free) a claim of; 0 if none. A
/// holder whose pid it names commits (releases) by CAS, never by a plain
/// store (see "Commits and releases" in the module docs).
const W_FENCE: usize = 5;
/// Endpoint word: the start word (`start + 1`) of the claim whose commit
/// (release) the holder is storing with plain stores; written before it
/// checks `W_FENCE`.
const W_FINISH: usize = 6;
/// Endpoint words of a receiver: the range `[lo, hi)` of positions it has
/// read but not yet released (see "Deferred releases"). The holder stores
/// `hi` (Release) after each read and moves `lo` up to `hi` by CAS to
/// release the range itself; a producer that needs a slot of the range
/// moves `lo` by CAS and releases the slots it took.
const W_DEFER_LO: usize = 7;
const W_DEFER_HI: usize = 8;
/// A receiver releases its deferred range once it spans this many
/// positions (or sooner: see "Deferred releases").
const DEFER_GROUP: u64 = if cfg!(loom) { 2 } else { 16 };
/// Only the receivers of the first entries defer (one bit each in
/// [`MpmcCounters::deferring`]).
const DEFER_ENTRIES: usize = 64;

/// The kind-specific words of an endpoint entry (`W_*` indices).
type EntryWords = [AtomicU64; ENDPOINT_WORDS];
/// Bound on the deferred ranges one claim completes (`Sender::claim_slow`).
const MAX_HELPS: u32 = DEFER_ENTRIES as u32 + 1;
const COUNTED_SENDER: u64 = 1;
const COUNTED_RECEIVER: u64 = 2;
/// Added to a packed attachment counter on attach: one attached, one ever.
const ATTACH_ONE: u64 = 1 | (1 << 32);
const ATTACHED_MASK: u64 = 0xffff_ffff;

const SKIPPED: &str = "this producer's claim was skipped: a consumer judged it dead after the stall timeout; \
                       the element was not delivered";
const RECLAIMED: &str = "this consumer's claim was reclaimed: a producer judged it dead after the stall timeout; \
                         the element read may be torn and is not returned";

/// One slot: sequence number, then the element.
#[repr(C)]
struct Slot<T> {
    seq: AtomicU64,
    value: UnsafeCell<T>,
}

impl MpmcControl {
    /// An empty ring's control block (heap construction).
    fn new() -> MpmcControl {
        MpmcControl {
            tail: CachePadded::new(AtomicU64::new(0)),
            head: CachePadded::new(AtomicU64::new(0)),
            not_empty: CachePadded::new(WaitWord::new()),
            not_full: CachePadded::new(WaitWord::new()),
            counters: CachePadded::new(MpmcCounters {
                senders: AtomicU64::new(0),
                receivers: AtomicU64::new(0),
                lost_sends: AtomicU64::new(0),
                lost_recvs: AtomicU64::new(0),
                aborted: AtomicU64::new(0),
                passed: AtomicU64::new(0),
                deferring: AtomicU64::new(0),
            }),
        }
    }
}

/// Heap storage for an in-process ring (tests, loom, miri, threads).
struct HeapRing<T> {
    ctl: MpmcControl,
    slots: Box<[Slot<T>]>,
    entries: Box<[EndpointEntry]>,
}

// SAFETY: the slots are accessed only under the ring protocol (one owner
// per claimed position, handed over with Release/Acquire on `seq`); T: Pod
// is Send.
unsafe impl<T: Send> Sync for HeapRing<T> {}

/// The memory a ring lives in: raw pointers plus whatever keeps them alive.
struct Shared<T> {
    ctl: NonNull<MpmcControl>,
    slots: NonNull<Slot<T>>,
    cap: u64,
    /// Bytes from one slot to the next when the element size is known only
    /// at run time ([`RawChannel`], where `T` is the zero-sized `()`);
    /// unused by typed rings, whose stride is the constant
    /// `size_of::<Slot<T>>()` (see [`Shared::stride`]).
    raw_stride: usize,
    entries: NonNull<EndpointEntry>,
    n_entries: usize,
    stall: Duration,
    /// Do the slow-path checks (liveness, stalls) on every poll of a
    /// blocking call, not once per check interval: the loom models of dead
    /// peers, where time does not pass, set it. Always false otherwise.
    check_every_poll: bool,
    /// The segment, to check on slow paths whether it was truncated.
    seg: Option<Arc<Segment>>,
    keep: Arc<dyn Send + Sync>,
    name: Arc<str>,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            ctl: self.ctl,
            slots: self.slots,
            cap: self.cap,
            raw_stride: self.raw_stride,
            entries: self.entries,
            n_entries: self.n_entries,
            stall: self.stall,
            check_every_poll: self.check_every_poll,
            seg: self.seg.clone(),
            keep: self.keep.clone(),
            name: self.name.clone(),
        }
    }
}

// SAFETY: the pointers target memory kept alive by `keep` and accessed only
// through atomics or through slots owned by one endpoint at a time (see the
// module invariants). `T: Pod` is Send.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Shared<T> {}

/// Which claim record of an endpoint entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Send,
    Recv,
}

impl Side {
    fn words(self) -> (usize, usize) {
        match self {
            Side::Send => (W_SEND_START, W_SEND_END),
            Side::Recv => (W_RECV_START, W_RECV_END),
        }
    }
}

/// A claim record found in the endpoint table.
#[derive(Debug, Clone, Copy)]
struct Record {
    start: u64,
    end: u64,
    entry: usize,
    /// Liveness of the entry's holder, computed on first need.
    alive: Option<bool>,
    /// The pid of the entry's holder (0 if none), read with `alive`.
    pid: u64,
    /// Whether this scan stored the holder's pid in its fence word.
    fenced: bool,
}

/// Liveness judgement: is the holder of an owner token alive?
///
/// One of the two hooks of the stall logic (with [`Pacer`]). Tokens of this
/// process are judged without a system call: alive only if equal to our own
/// token, so a token with our pid and another start time (a test's
/// simulated crash, or a dead process whose pid we reuse) is dead.
struct Liveness {
    me: u64,
}

impl Liveness {
    fn new() -> Liveness {
        Liveness {
            me: endpoint::self_token(),
        }
    }

    fn alive(&self, token: u64) -> bool {
        if endpoint::token_pid(token) == endpoint::token_pid(self.me) {
            token == self.me
        } else {
            endpoint::token_alive(token)
        }
    }
}

/// Time on the slow paths of one handle: when the next liveness check is
/// due, and since when the handle has been stalled on someone's claim of
/// which position.
///
/// The stall clock is keyed by the position the handle waits at, so the
/// fast paths never touch it: a handle that made progress since it last
/// stalled waits at a later position (`head` and `tail` only grow), which
/// starts the clock afresh.
///
/// The other hook of the stall logic: under loom there is no time, so every
/// check is due and every stall has expired.
#[derive(Debug)]
struct Pacer {
    #[cfg(not(loom))]
    next_check: Instant,
    #[cfg(not(loom))]
    stuck_since: Option<Instant>,
    /// The position the stall clock runs for.
    #[cfg(not(loom))]
    stuck_at: u64,
}

impl Pacer {
    fn new() -> Pacer {
        Pacer {
            #[cfg(not(loom))]
            next_check: Instant::now(),
            #[cfg(not(loom))]
            stuck_since: None,
            #[cfg(not(loom))]
            stuck_at: 0,
        }
    }

    /// Rate limit for liveness checks in non-blocking calls.
    fn due(&mut self, interval: Duration) -> bool {
        #[cfg(loom)]
        {
            let _ = interval;
            true
        }
        #[cfg(not(loom))]
        {
            let now = Instant::now();
            if now >= self.next_check {
                self.next_check = now + interval;
                true
            } else {
                false
            }
        }
    }

    /// Position `at`, which this handle needs, is claimed by someone who
    /// has not finished with it: start the stall clock unless it already
    /// runs for `at`.
    #[inline]
    fn stuck(&mut self, at: u64) {
        #[cfg(not(loom))]
        if self.stuck_since.is_none() || self.stuck_at != at {
            self.stuck_since = Some(Instant::now());
            self.stuck_at = at;
        }
        #[cfg(loom)]
        let _ = at;
    }

    /// Starts the stall clock again (a claim found in flight is given
    /// another stall timeout).
    fn restart(&mut self) {
        #[cfg(not(loom))]
        {
            self.stuck_since = Some(Instant::now());
        }
    }

    fn stall_expired(&self, timeout: Duration) -> bool {
        #[cfg(loom)]
        {
            let _ = timeout;
            true
        }
        #[cfg(not(loom))]
        self.stuck_since.is_some_and(|s| s.elapsed() >= timeout)
    }
}

/// A claim of a holder judged dead that was found in flight (its holder had
/// passed its check in `Shared::may_store` and may still store): it is
/// skipped (freed) only when found again, unchanged, after another stall
/// timeout, since a holder that died there will never store. Under loom,
/// where there is no time, never: the models prove the handshake for a
/// holder that is not paused for a whole stall timeout inside its commit.
#[derive(Debug, Default)]
struct Deferral(Option<(usize, u64)>);

impl Deferral {
    /// Whether in-flight claim `k` may be skipped now.
    fn ready(&mut self, k: (usize, u64), pacer: &mut Pacer) -> bool {
        if cfg!(loom) {
            return false;
        }
        if self.0 == Some(k) {
            return true;
        }
        self.0 = Some(k);
        pacer.restart();
        false
    }
}

fn corrupt(index: u64, what: &'static str) -> Closed {
    Closed::Corrupt(Corruption { offset: index, what })
}

fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Whether `seq` says position `p` is committed (an element or a tombstone).
#[inline]
fn committed(seq: u64, p: u64) -> bool {
    seq == p + 1 || seq == (p + 1) | SKIP
}

/// What a consumer's claimed position `p` holds, by its `seq` `s`:
/// `Some(true)` an element, `Some(false)` a tombstone, `None` neither (a
/// producer reclaimed the slot).
#[inline(always)]
fn held(s: u64, p: u64) -> Option<bool> {
    if s == p + 1 {
        Some(true)
    } else if s == (p + 1) | SKIP {
        Some(false)
    } else {
        None
    }
}

impl<T> Shared<T> {
    fn ctl(&self) -> &MpmcControl {
        // SAFETY: points to a control block that `keep` keeps alive; it
        // contains only atomics, valid for any bit pattern.
        unsafe { self.ctl.as_ref() }
    }

    fn counters(&self) -> &MpmcCounters {
        &self.ctl().counters
    }

    fn entries(&self) -> &[EndpointEntry] {
        // SAFETY: `n_entries` entries (validated at open, or the heap box)
        // kept alive by `keep`; atomics only.
        unsafe { std::slice::from_raw_parts(self.entries.as_ptr(), self.n_entries) }
    }

    fn entry(&self, i: usize) -> &EndpointEntry {
        &self.entries()[i]
    }

    /// Bytes from one slot to the next: a constant for typed rings (so
    /// slot addressing compiles to the same shift as indexing a
    /// `[Slot<T>]`), the segment's slot size for raw rings (`T = ()`; a
    /// typed ring never has a zero-sized `T`, see `check_capacity`).
    #[inline(always)]
    fn stride(&self) -> usize {
        if core::mem::size_of::<T>() == 0 {
            self.raw_stride
        } else {
            core::mem::size_of::<Slot<T>>()
        }
    }

    /// The slot of position `p`. For a raw ring only the `seq` header is
    /// a field of the returned `Slot<()>`; the element's bytes follow it
    /// (see [`Shared::raw_elem`]).
    #[inline]
    fn slot(&self, p: u64) -> &Slot<T> {
        let i = (p & (self.cap - 1)) as usize;
        // SAFETY: `i < cap`, and the slot array has `cap` slots of
        // `stride()` bytes each (validated against the segment's geometry
        // in `from_segment`, or the heap box of `Slot<T>`s), each starting
        // with a `Slot<T>` header at a multiple of its alignment (the
        // stride is a multiple of it and the array is 128-byte aligned).
        unsafe {
            &*(self.slots.as_ptr() as *mut u8)
                .add(i * self.stride())
                .cast::<Slot<T>>()
        }
    }

    /// Raw rings: pointer to the `len`-byte element of position `p`, at
    /// `off` bytes from the start of its slot.
    #[inline]
    fn raw_elem(&self, p: u64, off: usize) -> *mut u8 {
        Self::raw_elem_in(self.slot(p), off)
    }

    /// [`raw_elem`](Shared::raw_elem) of a slot already looked up.
    #[inline(always)]
    fn raw_elem_in(slot: &Slot<T>, off: usize) -> *mut u8 {
        let slot = slot as *const Slot<T> as *mut u8;
        // SAFETY: `off + elem_size <= stride` (checked by `raw_geometry` /
        // `RawChannel::wrap`): the element lies inside the slot.
        unsafe { slot.add(off) }
    }

    /// Raw pointer to the element of position `p`.
    #[inline]
    fn value_ptr(&self, p: u64) -> *mut T {
        self.slot(p).value.with_mut(|v| v)
    }

    /// Records in entry `i` that it is about to claim positions
    /// `[start, end)`. The end word is written only for batches (0 means
    /// "one position"); `wide` says whether it is non-zero now.
    ///
    /// A record stays after the claim is committed or released (it then
    /// names committed positions, which no stall check asks about); it is
    /// replaced by the next claim, and cleared when an attempt fails or the
    /// endpoint detaches.
    #[inline]
    fn record(&self, i: usize, side: Side, start: u64, end: u64, wide: &mut bool) {
        Self::record_in(&self.entry(i).words, side, start, end, wide);
    }

    /// [`record`](Shared::record) into entry words `w`, already looked up.
    #[inline(always)]
    fn record_in(w: &EntryWords, side: Side, start: u64, end: u64, wide: &mut bool) {
        let (ws, we) = side.words();
        if end != start + 1 || *wide {
            *wide = end != start + 1;
            // Release: pairs with the Acquire load of the end word in
            // `records`: whoever sees it sees the commits before it.
            w[we].store(if *wide { end } else { 0 }, Ordering::Release);
        }
        // Release: pairs with the Acquire load of the start word in
        // `records`: the end word above (and our earlier commits) are
        // visible with it.
        w[ws].store(start + 1, Ordering::Release);
    }

    /// The claim of the fast paths (`Sender::claim_one`,
    /// `Receiver::claim_one`, and the inline halves of the single-message
    /// calls): if the slot of `side`'s index `p` is ready for `side` (free
    /// for a sender, holding an element for a receiver), records `p` in
    /// entry `i` and claims it by CAS as
    /// [`claim_single_in`](Shared::claim_single_in) does. Returns `p` with
    /// its slot and our entry's words, looked up once so that the caller's
    /// write (read), commit (release) and handshake words stay in
    /// registers across the compiler fences of `light_barrier`. `None`
    /// leaves no record behind.
    #[inline(always)]
    fn claim_fast(&self, i: usize, side: Side) -> Option<(u64, &Slot<T>, &EntryWords)> {
        let ctl = self.ctl();
        let (index, ready) = match side {
            Side::Send => (&ctl.tail, 0),
            Side::Recv => (&ctl.head, 1),
        };
        // Relaxed: a starting guess; the slot's seq (Acquire) decides.
        let p = index.load(Ordering::Relaxed);
        if p >= SKIP {
            return None;
        }
        let slot = self.slot(p);
        // Acquire: for a sender, pairs with the Release store (or CAS) that
        // freed the slot, as in `Sender::claim_slow`; for a receiver, with
        // the producer's Release commit store (or CAS), as in
        // `Receiver::claim_slow`: the element is visible.
        if slot.seq.load(Ordering::Acquire) != p + ready {
            return None;
        }
        let w = &self.entry(i).words;
        self.claim_single_in(w, i, side, p).then_some((p, slot, w))
    }

    /// [`claim_single_in`](Shared::claim_single_in), looking up entry `i`.
    #[cfg(test)]
    fn claim_single(&self, i: usize, side: Side, p: u64) -> bool {
        self.claim_single_in(&self.entry(i).words, i, side, p)
    }

    /// Records position `p` in entry `i` (whose words `w` the caller looked
    /// up), whose end word is zero (not `wide`), then claims `p` with a CAS
    /// of `side`'s index from `p` to `p + 1`, as the first round of
    /// `claim_slow` does. A lost CAS clears the record again and returns
    /// false.
    #[inline(always)]
    fn claim_single_in(&self, w: &EntryWords, i: usize, side: Side, p: u64) -> bool {
        Self::record_in(w, side, p, p + 1, &mut false);
        let index = match side {
            Side::Send => &self.ctl().tail,
            Side::Recv => &self.ctl().head,
        };
        // Release: pairs with the Acquire load of this index on the other
        // side's stalled path (`Sender::claim_slow` loads head,
        // `Receiver::claim_slow` tail): the record is visible to whoever
        // sees the position claimed.
        if index
            .compare_exchange(p, p + 1, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return true;
        }
        self.clear_record(i, side);
        false
    }

    /// Clears entry `i`'s claim record (an attempt failed, or detach).
    #[inline]
    fn clear_record(&self, i: usize, side: Side) {
        // Release: pairs with the Acquire load in `records`: a reader that
        // sees the record gone also sees the seq CASes made before.
        self.entry(i).words[side.words().0].store(0, Ordering::Release);
    }

    /// Every claim record on `side` in the endpoint table. Call after an
    /// Acquire load of the index whose CAS follows the records: a claim of
    /// position `p < index` is then visible, or superseded by a later
    /// record of the same endpoint; a later record is stored after `p` was
    /// committed (or released), so that the caller's next load of `p`'s
    /// `seq` sees the commit. A range read across an update may be wrong,
    /// but then only about positions already committed.
    fn records(&self, side: Side) -> Vec<Record> {
        let (ws, we) = side.words();
        let mut out = Vec::new();
        for (i, e) in self.entries().iter().enumerate() {
            // Acquire: pairs with the Release stores in `record` / `clear_record`.
            let s = e.words[ws].load(Ordering::Acquire);
            if s == 0 {
                continue;
            }
            // Acquire: pairs with the Release store of the end word in
            // `record` (made before the start word we just read).
            let e = e.words[we].load(Ordering::Acquire);
            let (start, end) = (s - 1, if e == 0 { s } else { e });
            out.push(Record {
                start,
                end,
                entry: i,
                alive: None,
                pid: 0,
                fenced: false,
            });
        }
        out
    }

    /// True if no live endpoint records a claim of position `p`.
    fn claimants_dead(&self, recs: &mut [Record], p: u64, live: &Liveness) -> bool {
        for r in recs.iter_mut() {
            if r.start <= p && p < r.end {
                let alive = match r.alive {
                    Some(a) => a,
                    None => {
                        let a = match endpoint::holder(self.entry(r.entry)) {
                            Holder::Held(t) => {
                                r.pid = u64::from(endpoint::token_pid(t));
                                live.alive(t)
                            }
                            _ => false,
                        };
                        r.alive = Some(a);
                        a
                    }
                };
                if alive {
                    return false;
                }
            }
        }
        true
    }

    /// The fast half of the commit (release) handshake of entry `i`, whose
    /// holder has pid `pid`, for the claim that starts at `start`: announces
    /// the claim in the finish word, then says whether the holder may
    /// publish it with plain stores (true) or must use CAS (false: someone
    /// judged this process dead and may be skipping its claims).
    #[inline(always)]
    fn may_store(&self, i: usize, pid: u64, start: u64) -> bool {
        Self::may_store_in(&self.entry(i).words, pid, start)
    }

    /// [`may_store`](Shared::may_store) on entry words `w`, already
    /// looked up.
    #[inline(always)]
    fn may_store_in(w: &EntryWords, pid: u64, start: u64) -> bool {
        // Relaxed: ordered before the load below by light_barrier, which
        // pairs with heavy_barrier in `finishing` (a Dekker pair).
        w[W_FINISH].store(start + 1, Ordering::Relaxed);
        crate::sync::light_barrier();
        // Relaxed: as above.
        w[W_FENCE].load(Ordering::Relaxed) != pid
    }

    /// Completes the deferred releases of entry `i` (see "Deferred
    /// releases" in the module docs) if its range contains `q` (any
    /// non-empty range when `q` is `None`): takes the range from its holder
    /// by moving `lo` up to `hi` with a CAS, then frees each slot of it by
    /// CAS. Returns how many positions it took.
    fn help_entry(&self, i: usize, q: Option<u64>) -> u64 {
        let w = &self.entry(i).words;
        // Acquire: pairs with the Release store of `hi` in
        // `Receiver::defer`: the holder's reads of every position below it
        // happen before we free their slots. Loaded before `lo`, which the
        // holder stores before `hi` when it starts a range, so the pair
        // read never spans two ranges.
        let hi = w[W_DEFER_HI].load(Ordering::Acquire);
        // Acquire: pairs with the AcqRel CAS in `Receiver::flush`: a
        // caller that sees `lo` moved by the holder also sees the claim
        // record the holder stored before it (`Sender::reclaim` relies on
        // it). The CAS below decides; `lo` only grows.
        let mut lo = w[W_DEFER_LO].load(Ordering::Acquire);
        for _ in 0..RETRY_BOUND {
            let inside = q.is_none_or(|q| lo <= q && q < hi);
            // A range longer than the ring is a scribbled entry: ignored.
            if lo >= hi || hi - lo > self.cap || hi >= SKIP || !inside {
                return 0;
            }
            // AcqRel: the positions [lo, hi) become ours and no one
            // else's: the holder's `flush` and other helpers CAS the same
            // word, and `lo` only grows.
            match w[W_DEFER_LO].compare_exchange(lo, hi, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(cur) => lo = cur,
            }
        }
        if lo >= hi {
            return 0;
        }
        // The holder's reads of the range happen before (seen through `hi`).
        self.free_read(lo, hi);
        self.ctl().not_full.wake();
        hi - lo
    }

    /// Frees the slots of positions `[lo, hi)`, read by a consumer that
    /// deferred their release, from the last to the first, each by a CAS
    /// from its element (or tombstone), which leaves alone a slot freed
    /// meanwhile (by a reclaim, or by its reader). The caller makes sure
    /// the reads happened before.
    fn free_read(&self, lo: u64, hi: u64) {
        for p in (lo..hi).rev() {
            let slot = self.slot(p);
            // Relaxed: only compared; the CAS decides.
            let s = slot.seq.load(Ordering::Relaxed);
            if held(s, p).is_some() {
                // Release: pairs with the Acquire load of seq in
                // `Sender::claim`: the reads happen before the slot is
                // written again.
                let _ = slot
                    .seq
                    .compare_exchange(s, p + self.cap, Ordering::Release, Ordering::Relaxed);
            }
        }
    }

    /// `help` for the slot of position `at`, whose `seq` is `s`: if the slot
    /// still holds the element (or tombstone) of `at - cap`, read and not
    /// released, completes that release.
    fn help_at(&self, at: u64, s: u64) -> bool {
        let q = at.wrapping_sub(self.cap);
        at >= self.cap && held(s, q).is_some() && self.help(q)
    }

    /// Completes the deferred releases that hold position `q` (read by a
    /// receiver, not yet released), whichever receiver's they are. Returns
    /// true if it freed anything.
    fn help(&self, q: u64) -> bool {
        // Acquire: pairs with the AcqRel fetch_or in `attach`. (A producer
        // about to sleep sees the bit, and the range, through the barriers
        // of its last poll: see "Deferred releases".)
        let mut mask = self.counters().deferring.load(Ordering::Acquire);
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if i >= self.n_entries {
                break;
            }
            if self.help_entry(i, Some(q)) > 0 {
                return true;
            }
        }
        false
    }

    /// The slow half of the handshake, before skipping (freeing) position
    /// `p`, whose claimants in `recs` were all judged dead: stores each
    /// claimant's pid in its entry's fence word, then looks whether one of
    /// them has already passed its check in `may_store` for this claim and
    /// may still store. Returns that claim (entry, start) if so: it must
    /// not be skipped while its holder could be running.
    fn finishing(&self, recs: &mut [Record], p: u64) -> Option<(usize, u64)> {
        let mut barrier = false;
        for r in recs.iter_mut().filter(|r| r.start <= p && p < r.end) {
            if r.pid != 0 && !r.fenced {
                // Relaxed: ordered before the loads below by heavy_barrier.
                self.entry(r.entry).words[W_FENCE].store(r.pid, Ordering::Relaxed);
                r.fenced = true;
                barrier = true;
            }
        }
        if barrier {
            crate::sync::heavy_barrier();
        }
        recs.iter()
            .filter(|r| r.start <= p && p < r.end)
            // Relaxed: ordered after the fence stores by heavy_barrier,
            // which pairs with light_barrier in `may_store`: either this
            // load sees the finish word, or the holder sees its pid fenced.
            .find(|r| self.entry(r.entry).words[W_FINISH].load(Ordering::Relaxed) == r.start + 1)
            .map(|r| (r.entry, r.start))
    }

    /// Slow-path check: was the segment's file truncated under us (see
    /// [`crate::sigbus`])? Every access then reads zeros.
    fn truncated(&self) -> Result<(), Closed> {
        if self.seg.as_ref().is_some_and(|s| s.truncated()) {
            return Err(corrupt(0, "the segment file was truncated by another process"));
        }
        Ok(())
    }

    /// Whether the peers counted by `counter` (in `role`) are all gone:
    /// `Disconnected` when at least one attached and all detached cleanly;
    /// with `expensive`, also `PeerDied` when none of those still attached
    /// is alive.
    fn peers_gone(&self, counter: &AtomicU64, role: Role, expensive: bool) -> Option<Closed> {
        // Acquire: pairs with the Release fetch_sub in `detach`: everything
        // the last detached peer committed is visible.
        let c = counter.load(Ordering::Acquire);
        if c >> 32 == 0 {
            return None;
        }
        if c & ATTACHED_MASK == 0 {
            return Some(Closed::Disconnected);
        }
        if !expensive {
            return None;
        }
        let live = Liveness::new();
        let mut dead = None;
        for e in self.entries() {
            if let Holder::Held(t) = endpoint::holder(e) {
                // Relaxed: informational; 0 means "attaching", counted as a
                // possible peer.
                let r = e.role.load(Ordering::Relaxed);
                if r != role as u32 && r != 0 {
                    continue;
                }
                if live.alive(t) {
                    return None;
                }
                if r == role as u32 && dead.is_none() {
                    dead = Some(endpoint::token_pid(t));
                }
            }
        }
        Some(dead.map_or(Closed::Disconnected, Closed::PeerDied))
    }

    fn attach(&self, role: Role) -> Result<(usize, u64)> {
        let me = endpoint::self_token();
        let (i, claimed) = endpoint::claim_any(self.entries(), role, me).ok_or_else(|| Error::EndpointTableFull {
            name: self.name.to_string(),
            capacity: self.n_entries as u32,
        })?;
        let e = self.entry(i);
        if claimed.took_over_from.is_some() {
            // The reads a dead receiver deferred the release of.
            self.help_entry(i, None);
        }
        if role == Role::Consumer && i < DEFER_ENTRIES {
            let bit = 1u64 << i;
            let c = self.counters();
            // Relaxed: the fetch_or below is the publication.
            if c.deferring.load(Ordering::Relaxed) & bit == 0 {
                // AcqRel: pairs with the Acquire load in `help`: a producer
                // that sees the bit looks at our range.
                c.deferring.fetch_or(bit, Ordering::AcqRel);
            }
        }
        // A dead predecessor's claim records are void from now on.
        self.clear_record(i, Side::Send);
        self.clear_record(i, Side::Recv);
        for w in [W_SEND_END, W_RECV_END] {
            // Release: as in `record`.
            e.words[w].store(0, Ordering::Release);
        }
        // Relaxed: our own words from now on. A predecessor taken over as
        // dead stays fenced: were it still running, it commits (releases)
        // by CAS, which fails on anything skipped meanwhile.
        e.words[W_FINISH].store(0, Ordering::Relaxed);
        let fence = claimed.took_over_from.map_or(0, u64::from);
        // Relaxed: ordered before whatever follows by heavy_barrier.
        e.words[W_FENCE].store(fence, Ordering::Relaxed);
        if fence != 0 {
            crate::sync::heavy_barrier();
        }
        let c = self.counters();
        // Relaxed: we own the entry (claimed by CAS, which acquired the
        // predecessor's last stores). A dead predecessor's marker tells
        // which count it left behind; a cleanly closed one uncounted itself.
        let marker = e.words[W_COUNTED].swap(0, Ordering::Relaxed);
        if claimed.took_over_from.is_some() {
            match marker {
                // AcqRel: counters are read with Acquire in `peers_gone`.
                COUNTED_SENDER => drop(c.senders.fetch_sub(1, Ordering::AcqRel)),
                // AcqRel: as above.
                COUNTED_RECEIVER => drop(c.receivers.fetch_sub(1, Ordering::AcqRel)),
                _ => {}
            }
        }
        let (counter, marker) = match role {
            Role::Producer => (&c.senders, COUNTED_SENDER),
            _ => (&c.receivers, COUNTED_RECEIVER),
        };
        // AcqRel: pairs with the Acquire load in `peers_gone`.
        counter.fetch_add(ATTACH_ONE, Ordering::AcqRel);
        // Relaxed: read only by whoever takes the entry over, after its CAS.
        e.words[W_COUNTED].store(marker, Ordering::Relaxed);
        Ok((i, claimed.token))
    }

    /// Marks entry `i` cleanly closed and uncounts it. Its claim records
    /// stay: they name committed positions only, and a closed holder counts
    /// as gone anyway. If the entry was taken over (we were judged dead),
    /// the taker uncounted us instead.
    fn detach(&self, i: usize, token: u64, role: Role) {
        let e = self.entry(i);
        if endpoint::release(e, token) {
            let c = self.counters();
            let counter = if role == Role::Producer {
                &c.senders
            } else {
                &c.receivers
            };
            // Release: pairs with the Acquire load in `peers_gone`; our
            // commits (releases) happen before a peer sees the count drop.
            counter.fetch_sub(1, Ordering::Release);
        }
    }

    /// Simulates a SIGKILL of entry `i`'s holder: its owner token becomes
    /// that of a dead process with our pid (a reused pid), and nothing is
    /// released.
    #[cfg(any(test, loom))]
    fn mark_dead(&self, i: usize, token: u64) {
        // Release: pairs with the Acquire load in `endpoint::holder`: what
        // this endpoint did happens before a peer judges it dead.
        let _ = self
            .entry(i)
            .owner
            .compare_exchange(token, token ^ 1, Ordering::Release, Ordering::Relaxed);
    }

    fn heap(cap: u64, endpoints: u32, stall: Duration) -> Shared<T>
    where
        T: Pod + Send,
    {
        let ring = Arc::new(HeapRing {
            ctl: MpmcControl::new(),
            slots: (0..cap)
                .map(|i| Slot {
                    seq: AtomicU64::new(i),
                    value: UnsafeCell::new(T::zeroed()),
                })
                .collect(),
            entries: (0..endpoints).map(|_| EndpointEntry::new()).collect(),
        });
        Shared {
            ctl: NonNull::from(&ring.ctl),
            slots: NonNull::new(ring.slots.as_ptr() as *mut Slot<T>).expect("non-null"),
            cap,
            raw_stride: 0,
            entries: NonNull::new(ring.entries.as_ptr() as *mut EndpointEntry).expect("non-null"),
            n_entries: endpoints as usize,
            stall,
            check_every_poll: false,
            seg: None,
            keep: ring,
            name: Arc::from("heap"),
        }
    }

    /// Wraps a segment. `raw_stride` is 0 for typed rings (the slot size
    /// must then be that of `Slot<T>`), or the stride of a raw ring (`T =
    /// ()`), already checked against the segment by `RawChannel::wrap`.
    fn from_segment(seg: Arc<Segment>, raw_stride: usize) -> Result<Shared<T>> {
        let h = *seg.header();
        let g = h.geometry;
        let bad = |detail: String| {
            Err(Error::Corrupt {
                name: seg.name().to_owned(),
                detail,
            })
        };
        if g.capacity < 2 || g.capacity >= SKIP {
            return bad(format!("mpmc capacity {} is out of range", g.capacity));
        }
        if raw_stride == 0
            && (g.slot_size as usize != core::mem::size_of::<Slot<T>>()
                || g.slot_align as usize != core::mem::align_of::<Slot<T>>())
        {
            return bad(format!(
                "mpmc slot size {} / align {} differs from the {} / {} of this element type",
                g.slot_size,
                g.slot_align,
                core::mem::size_of::<Slot<T>>(),
                core::mem::align_of::<Slot<T>>()
            ));
        }
        let stall = match h.stall_timeout_ns {
            0 => CreateOptions::default().stall_timeout,
            ns => Duration::from_nanos(ns),
        };
        let entries = seg.endpoints();
        Ok(Shared {
            ctl: NonNull::new(seg.control_ptr() as *mut MpmcControl).expect("non-null"),
            slots: NonNull::new(seg.data_ptr() as *mut Slot<T>).expect("non-null"),
            cap: g.capacity,
            raw_stride,
            entries: NonNull::from(&entries[0]),
            n_entries: entries.len(),
            stall,
            check_every_poll: false,
            name: Arc::from(seg.name()),
            seg: Some(seg.clone()),
            keep: seg,
        })
    }
}

/// Segment geometry of an MPMC ring of `T`.
fn geometry<T>(cap: u64, endpoints: u32) -> Geometry {
    Geometry {
        kind: Kind::Mpmc,
        capacity: cap,
        slot_size: core::mem::size_of::<Slot<T>>() as u32,
        slot_align: core::mem::align_of::<Slot<T>>() as u32,
        max_message: 0,
        endpoint_count: endpoints,
        control_len: MPMC_CONTROL_LEN as u64,
    }
}

fn expect<T>() -> Expect {
    Expect {
        kind: Some(Kind::Mpmc),
        control_len: Some(MPMC_CONTROL_LEN as u64),
        fingerprint: Some(TypeFingerprint::of::<T>()),
        endpoints: None,
    }
}

/// Options for creating or opening an MPMC channel.
#[derive(Debug, Clone)]
pub struct Builder {
    capacity: usize,
    create: CreateOptions,
    open: OpenOptions,
    check_every_poll: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            capacity: 1024,
            create: CreateOptions::default(),
            open: OpenOptions::default(),
            check_every_poll: false,
        }
    }
}

impl Builder {
    /// Default options: 1024 slots, mode 0600, [`DEFAULT_ENDPOINTS`]
    /// endpoints, 3 s stall timeout, no stale reclaim, 1 s init wait.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Number of slots: a power of two, at least 2 (default 1024).
    pub fn capacity(mut self, capacity: usize) -> Builder {
        self.capacity = capacity;
        self
    }

    /// File mode of a named segment (default 0o600).
    pub fn mode(mut self, mode: u32) -> Builder {
        self.create.mode = mode;
        self
    }

    /// Size of the endpoint table: how many senders and receivers may be
    /// attached at once (default [`DEFAULT_ENDPOINTS`], at most
    /// [`MAX_ENDPOINTS`]).
    pub fn endpoints(mut self, n: u32) -> Builder {
        self.create.endpoints = Some(n);
        self
    }

    /// How long an endpoint stalled on a dead peer's claim waits before
    /// skipping (consumers) or freeing (producers) its slot (default 3 s).
    /// Stored in the segment: every process uses the creator's value.
    pub fn stall_timeout(mut self, d: Duration) -> Builder {
        self.create.stall_timeout = d;
        self
    }

    /// Remove a same-named segment whose endpoints are all dead instead of
    /// failing with [`Error::AlreadyExists`].
    pub fn reclaim_stale(mut self, yes: bool) -> Builder {
        self.create.reclaim_stale = yes;
        self
    }

    /// How long `open` waits for a creator still initialising the segment.
    pub fn init_timeout(mut self, d: Duration) -> Builder {
        self.open.init_timeout = d;
        self
    }

    fn spec<T: Pod>(&self) -> Result<(Spec, u64)> {
        let cap = check_capacity::<T>(self.capacity)?;
        let endpoints = self.endpoint_count()?;
        Ok((
            Spec {
                geometry: geometry::<T>(cap, endpoints),
                fingerprint: TypeFingerprint::of::<T>(),
                flags: 0,
            },
            cap,
        ))
    }

    fn endpoint_count(&self) -> Result<u32> {
        let n = self.create.endpoints.unwrap_or(DEFAULT_ENDPOINTS);
        if n == 0 || n > MAX_ENDPOINTS {
            return Err(Error::InvalidArgument(format!(
                "endpoint table size {n} must be between 1 and {MAX_ENDPOINTS}"
            )));
        }
        Ok(n)
    }

    /// Creates a named channel of `T`.
    pub fn create<T: Pod + Send>(&self, name: &str) -> Result<Channel<T>> {
        let (spec, cap) = self.spec::<T>()?;
        let seg = Segment::create(
            name,
            &spec,
            &self.create,
            init_slots(cap, core::mem::size_of::<Slot<T>>()),
        )?;
        Channel::from_segment(seg)
    }

    /// Creates an anonymous channel in a sealed memfd (see
    /// [`Channel::anonymous`]).
    pub fn anonymous<T: Pod + Send>(&self) -> Result<Channel<T>> {
        let (spec, cap) = self.spec::<T>()?;
        let seg = Segment::create_anonymous_with(
            "mpmc",
            &spec,
            &self.create,
            init_slots(cap, core::mem::size_of::<Slot<T>>()),
        )?;
        Channel::from_segment(seg)
    }

    /// An in-process channel on the heap (see [`Channel::in_process`]).
    pub fn in_process<T: Pod + Send>(&self) -> Result<Channel<T>> {
        let cap = check_capacity::<T>(self.capacity)?;
        let endpoints = self.endpoint_count()?;
        let mut shared = Shared::heap(cap, endpoints, self.create.stall_timeout.max(Duration::from_nanos(1)));
        shared.check_every_poll = self.check_every_poll;
        Ok(Channel {
            shared,
            segment: None,
            _t: PhantomData,
        })
    }

    /// loom models of dead peers: blocking calls check liveness and stalls
    /// on every poll (time does not pass in a model). In-process only.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn __check_every_poll(mut self) -> Builder {
        self.check_every_poll = true;
        self
    }

    /// Opens an existing named channel of `T`.
    pub fn open<T: Pod + Send>(&self, name: &str) -> Result<Channel<T>> {
        let seg = Segment::open(name, &expect::<T>(), &self.open)?;
        Channel::from_segment(seg)
    }

    /// Opens an anonymous channel from its file descriptor.
    pub fn from_fd<T: Pod + Send>(&self, fd: OwnedFd) -> Result<Channel<T>> {
        let seg = Segment::open_fd(fd, &expect::<T>(), &self.open)?;
        Channel::from_segment(seg)
    }
}

/// Initialises the slots' sequence numbers of a new segment (before its
/// magic is published).
fn init_slots(cap: u64, stride: usize) -> impl FnOnce(&Segment) {
    move |seg: &Segment| {
        let slots = seg.data_ptr();
        for i in 0..cap {
            // SAFETY: the data area holds `cap` slots of `stride` bytes
            // (placement computed from this geometry), 128-byte aligned,
            // each starting with its `seq` (a multiple of 8 bytes apart),
            // zeroed, and not yet visible to anyone; `seq` is an atomic
            // valid for any bits.
            let seq = unsafe { &*(slots.add(i as usize * stride) as *const AtomicU64) };
            // Relaxed: published by the Release store of the header magic.
            seq.store(i, Ordering::Relaxed);
        }
    }
}

fn check_capacity<T>(capacity: usize) -> Result<u64> {
    if capacity < 2 || !capacity.is_power_of_two() || capacity as u64 >= SKIP {
        return Err(Error::InvalidArgument(format!(
            "capacity {capacity} must be a power of two of at least 2 (for example {})",
            capacity.max(2).next_power_of_two()
        )));
    }
    if core::mem::size_of::<T>() == 0 {
        return Err(Error::InvalidArgument("zero-sized element types cannot be sent".into()));
    }
    if core::mem::align_of::<T>() > crate::layout::REGION_ALIGN {
        return Err(Error::InvalidArgument(format!(
            "element alignment {} exceeds the supported {}",
            core::mem::align_of::<T>(),
            crate::layout::REGION_ALIGN
        )));
    }
    if u32::try_from(core::mem::size_of::<Slot<T>>()).is_err() {
        return Err(Error::InvalidArgument("element type is larger than 4 GiB".into()));
    }
    Ok(capacity as u64)
}

/// An MPMC channel: the shared ring, not attached as any endpoint.
///
/// Cloning is cheap (the mapping is shared). Attach with [`sender`] and
/// [`receiver`], as many times as the endpoint table allows.
///
/// [`sender`]: Channel::sender
/// [`receiver`]: Channel::receiver
pub struct Channel<T> {
    shared: Shared<T>,
    segment: Option<Arc<Segment>>,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            shared: self.shared.clone(),
            segment: self.segment.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::Channel")
            .field("name", &self.shared.name)
            .field("capacity", &self.shared.cap)
            .field("endpoints", &self.shared.n_entries)
            .finish()
    }
}

impl<T: Pod + Send> Channel<T> {
    /// Creates a named channel with default options; see [`Builder`].
    pub fn create(name: &str, capacity: usize) -> Result<Channel<T>> {
        Builder::new().capacity(capacity).create(name)
    }

    /// Opens a named channel with default options; see [`Builder`].
    pub fn open(name: &str) -> Result<Channel<T>> {
        Builder::new().open(name)
    }

    /// Creates an anonymous channel in a sealed memfd. Share it with a
    /// child by `fork`, by passing [`Segment::inheritable_fd`] to an
    /// `exec`ed program, or over a unix socket with
    /// [`send_fd`](crate::segment::send_fd); the other process calls
    /// [`Channel::from_fd`].
    pub fn anonymous(capacity: usize) -> Result<Channel<T>> {
        Builder::new().capacity(capacity).anonymous()
    }

    /// Opens an anonymous channel from its file descriptor.
    pub fn from_fd(fd: OwnedFd) -> Result<Channel<T>> {
        Builder::new().from_fd(fd)
    }

    /// An in-process ring on the heap, with the same algorithm and API (no
    /// segment, no name). Useful for tests and for threads.
    pub fn in_process(capacity: usize) -> Result<Channel<T>> {
        Builder::new().capacity(capacity).in_process()
    }

    fn from_segment(seg: Segment) -> Result<Channel<T>> {
        let seg = Arc::new(seg);
        Ok(Channel {
            shared: Shared::from_segment(seg.clone(), 0)?,
            segment: Some(seg),
            _t: PhantomData,
        })
    }

    /// The segment, unless in-process.
    pub fn segment(&self) -> Option<&Segment> {
        self.segment.as_deref()
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.cap as usize
    }

    /// Size of the endpoint table.
    pub fn endpoint_capacity(&self) -> usize {
        self.shared.n_entries
    }

    /// The segment's stall timeout (see the module docs).
    pub fn stall_timeout(&self) -> Duration {
        self.shared.stall
    }

    /// Attaches a new sender, taking a free endpoint entry (or the entry of
    /// a dead process). [`Error::EndpointTableFull`] when every entry is
    /// held by a live endpoint.
    pub fn sender(&self) -> Result<Sender<T>> {
        let (index, token) = self.shared.attach(Role::Producer)?;
        Ok(Sender {
            shared: self.shared.clone(),
            index,
            token,
            pid: u64::from(endpoint::token_pid(token)),
            wait: WaitConfig::default(),
            pacer: Pacer::new(),
            deferral: Deferral::default(),
            wide: false,
        })
    }

    /// Attaches a new receiver; see [`sender`](Channel::sender).
    pub fn receiver(&self) -> Result<Receiver<T>> {
        let (index, token) = self.shared.attach(Role::Consumer)?;
        Ok(Receiver {
            shared: self.shared.clone(),
            index,
            token,
            pid: u64::from(endpoint::token_pid(token)),
            wait: WaitConfig::default(),
            pacer: Pacer::new(),
            deferral: Deferral::default(),
            wide: false,
            seen: 0,
            claim_start: 0,
            def_lo: 0,
            def_hi: 0,
        })
    }

    /// A snapshot of the ring's counters, readable from any process (no
    /// attach, no system call). The fields are read one by one, so while
    /// operations are in flight they are only approximately consistent.
    pub fn stats(&self) -> Stats {
        let ctl = self.shared.ctl();
        let c = self.shared.counters();
        // Relaxed (all loads): statistics only.
        let tail = ctl.tail.load(Ordering::Relaxed);
        let head = ctl.head.load(Ordering::Relaxed);
        let lost_sends = c.lost_sends.load(Ordering::Relaxed);
        let lost_recvs = c.lost_recvs.load(Ordering::Relaxed);
        let aborted = c.aborted.load(Ordering::Relaxed);
        let passed = c.passed.load(Ordering::Relaxed);
        let senders = c.senders.load(Ordering::Relaxed);
        let receivers = c.receivers.load(Ordering::Relaxed);
        let sent = tail.saturating_sub(aborted).saturating_sub(lost_sends);
        let received = head.saturating_sub(passed).saturating_sub(lost_recvs);
        Stats {
            capacity: self.shared.cap,
            depth: sent.saturating_sub(received).saturating_sub(lost_recvs),
            sent,
            received,
            lost: lost_sends.saturating_add(lost_recvs),
            lost_sends,
            lost_recvs,
            aborted,
            senders: (senders & ATTACHED_MASK) as u32,
            receivers: (receivers & ATTACHED_MASK) as u32,
            endpoint_capacity: self.shared.n_entries as u32,
            stall_timeout: self.shared.stall,
        }
    }
}

/// Counters of an MPMC ring; see [`Channel::stats`].
///
/// `sent` and `received` are derived from the positions claimed so far
/// (`tail`, `head`) minus the positions that carried no element
/// (tombstones, counted when created and when passed); a claim in flight
/// counts as sent (or received) from the moment it is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Number of slots.
    pub capacity: u64,
    /// Elements waiting in the ring (`sent - received - lost_recvs`).
    pub depth: u64,
    /// Elements committed (or being committed) since creation.
    pub sent: u64,
    /// Elements received (or being received) since creation.
    pub received: u64,
    /// `lost_sends + lost_recvs`.
    pub lost: u64,
    /// Claims of producers that died before committing, skipped after the
    /// stall timeout.
    pub lost_sends: u64,
    /// Elements claimed by consumers that died before releasing them, freed
    /// unread after the stall timeout.
    pub lost_recvs: u64,
    /// Claims dropped without commit by live producers (tombstones).
    pub aborted: u64,
    /// Senders attached now (including dead ones not yet replaced).
    pub senders: u32,
    /// Receivers attached now (including dead ones not yet replaced).
    pub receivers: u32,
    /// Size of the endpoint table.
    pub endpoint_capacity: u32,
    /// The segment's stall timeout.
    pub stall_timeout: Duration,
}

/// Why a claim could not be made right now.
enum Stop {
    /// Full (senders) or empty (receivers); retry later.
    Wait,
    /// The peers are gone, or the segment is corrupt.
    Closed(Closed),
}

impl From<Closed> for Stop {
    fn from(c: Closed) -> Stop {
        Stop::Closed(c)
    }
}

/// A sending endpoint of an MPMC ring. `Send`, not `Clone`: attach another
/// with [`Channel::sender`].
pub struct Sender<T> {
    shared: Shared<T>,
    index: usize,
    token: u64,
    /// Our pid, as the fence word names it (see `Shared::may_store`).
    pid: u64,
    wait: WaitConfig,
    pacer: Pacer,
    deferral: Deferral,
    /// Our entry's end word is non-zero (see `Shared::record`).
    wide: bool,
}

/// A receiving endpoint of an MPMC ring. `Send`, not `Clone`: attach
/// another with [`Channel::receiver`].
pub struct Receiver<T> {
    shared: Shared<T>,
    index: usize,
    token: u64,
    /// Our pid, as the fence word names it (see `Shared::may_store`).
    pid: u64,
    wait: WaitConfig,
    pacer: Pacer,
    deferral: Deferral,
    /// Our entry's end word is non-zero (see `Shared::record`).
    wide: bool,
    /// `seq` of the first position of the last claim, as `claim` saw it.
    seen: u64,
    /// First position of the last claim (its record's start).
    claim_start: u64,
    /// Our deferred range `[def_lo, def_hi)`: positions read, not yet
    /// released (empty when equal). Mirrors our entry's `W_DEFER_*` words,
    /// of which producers may have taken a prefix.
    def_lo: u64,
    def_hi: u64,
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::Sender")
            .field("name", &self.shared.name)
            .field("endpoint", &self.index)
            .finish()
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::Receiver")
            .field("name", &self.shared.name)
            .field("endpoint", &self.index)
            .finish()
    }
}

fn recv_err(e: RecvTimeoutError) -> RecvError {
    match e {
        RecvTimeoutError::Timeout => unreachable!("no deadline"),
        RecvTimeoutError::Disconnected => RecvError::Disconnected,
        RecvTimeoutError::PeerDied { pid } => RecvError::PeerDied { pid },
        RecvTimeoutError::Corrupt { corruption } => RecvError::Corrupt { corruption },
    }
}

fn try_recv_to_timeout(e: TryRecvError) -> Option<RecvTimeoutError> {
    match e {
        TryRecvError::Empty => None,
        TryRecvError::Disconnected => Some(RecvTimeoutError::Disconnected),
        TryRecvError::PeerDied { pid } => Some(RecvTimeoutError::PeerDied { pid }),
        TryRecvError::Corrupt { corruption } => Some(RecvTimeoutError::Corrupt { corruption }),
    }
}

impl<T: Pod> Sender<T> {
    /// Sets how blocking calls wait (default: spin ~50 µs, then sleep;
    /// check peers' liveness every 100 ms).
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.wait = cfg;
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.cap as usize
    }

    /// The fast path of a claim of one position: a receiver is attached,
    /// the slot of `tail` is free and the CAS succeeds at the first try.
    /// Anything else returns `None` and leaves no record behind, and
    /// [`claim_slow`](Sender::claim_slow) starts over. The same steps as
    /// its first round, without the stall clock (see [`Pacer`]).
    #[inline(always)]
    fn claim_one(&mut self) -> Option<u64> {
        self.claim_one_at().map(|(t, _, _)| t)
    }

    /// [`claim_one`](Sender::claim_one), also returning the slot and our
    /// entry's words (see [`Shared::claim_fast`]).
    #[inline(always)]
    fn claim_one_at(&self) -> Option<(u64, &Slot<T>, &EntryWords)> {
        let sh = &self.shared;
        // Relaxed: a hint, as in `claim_slow`; no receiver attached now (or
        // a batch record to replace) is left to `claim_slow`.
        if self.wide || sh.counters().receivers.load(Ordering::Relaxed) & ATTACHED_MASK == 0 {
            return None;
        }
        sh.claim_fast(self.index, Side::Send)
    }

    /// Claims between 1 and `max` consecutive free positions (Vyukov's
    /// enqueue, extended to ranges). With `expensive`, also frees slots of
    /// dead consumers and checks whether any receiver is alive. A claim of
    /// one position tries [`claim_one`](Sender::claim_one) first.
    #[inline(always)]
    fn claim(&mut self, max: u64, expensive: bool) -> Result<(u64, u64), Stop> {
        self.claim_at(max, expensive, true)
    }

    /// [`claim`](Sender::claim), trying [`claim_one`](Sender::claim_one)
    /// only with `inline` (false where the caller just tried it).
    #[inline(always)]
    fn claim_at(&mut self, max: u64, expensive: bool, inline: bool) -> Result<(u64, u64), Stop> {
        if inline && max == 1 && !expensive {
            if let Some(t) = self.claim_one() {
                return Ok((t, 1));
            }
        }
        self.claim_slow(max, expensive)
    }

    /// [`claim`](Sender::claim) past its fast path.
    fn claim_slow(&mut self, max: u64, expensive: bool) -> Result<(u64, u64), Stop> {
        let sh = &self.shared;
        let c = sh.counters();
        // Relaxed: a hint; sending into a ring nobody reads is harmless.
        let r = c.receivers.load(Ordering::Relaxed);
        if r >> 32 != 0 && r & ATTACHED_MASK == 0 {
            return Err(Stop::Closed(Closed::Disconnected));
        }
        if expensive {
            sh.truncated()?;
        }
        let cap = sh.cap;
        let max = max.clamp(1, cap);
        let ctl = sh.ctl();
        let mut reclaimed = false;
        let mut recorded = false;
        // Deferred releases completed in this call: each frees at least one
        // position; a batch may meet the ranges of several receivers.
        let mut helps = 0;
        // Relaxed: a starting guess; the slot's seq (Acquire) decides.
        let mut t = ctl.tail.load(Ordering::Relaxed);
        for _ in 0..RETRY_BOUND {
            if t >= SKIP {
                return Err(corrupt(t, "mpmc tail is out of range").into());
            }
            // Acquire: pairs with the Release CAS that freed the slot (a
            // consumer's release, or a reclaim): its reads are done.
            let s = sh.slot(t).seq.load(Ordering::Acquire);
            if s == t {
                let mut n = 1;
                let mut s_end = s;
                while n < max {
                    // Acquire: as above, for each further slot of a batch.
                    s_end = sh.slot(t + n).seq.load(Ordering::Acquire);
                    if s_end != t + n {
                        break;
                    }
                    n += 1;
                }
                // The batch stops at a slot read and not released yet?
                // Release it for its reader, and look again.
                if n < max && helps < MAX_HELPS && sh.help_at(t + n, s_end) {
                    helps += 1;
                    continue;
                }
                sh.record(self.index, Side::Send, t, t + n, &mut self.wide);
                recorded = true;
                // Release: pairs with the Acquire load of tail in
                // `Receiver::claim` (stalled path): our record is visible to
                // a consumer that sees the position claimed.
                match ctl
                    .tail
                    .compare_exchange(t, t + n, Ordering::Release, Ordering::Relaxed)
                {
                    Ok(_) => return Ok((t, n)),
                    Err(cur) => {
                        t = cur;
                        continue;
                    }
                }
            }
            if ((s & !SKIP).wrapping_sub(t) as i64) > 0 {
                // Another producer claimed t; its tail CAS happened before
                // the seq store we saw, so tail has moved.
                // Relaxed: as above.
                let cur = ctl.tail.load(Ordering::Relaxed);
                if cur == t {
                    return Err(corrupt(s, "mpmc slot sequence is ahead of tail").into());
                }
                t = cur;
                continue;
            }
            // The slot still holds position q = t - cap.
            if recorded {
                sh.clear_record(self.index, Side::Send);
                recorded = false;
            }
            // Read but not released yet? Then release it for its reader.
            if helps < MAX_HELPS && sh.help_at(t, s) {
                helps += 1;
                continue;
            }
            if !expensive {
                return Err(Stop::Wait);
            }
            // Acquire: pairs with the Release CAS of head in
            // `Receiver::claim`: the claim record of q's consumer is visible.
            let head = ctl.head.load(Ordering::Acquire);
            let q = t.wrapping_sub(cap);
            if (head.wrapping_sub(q) as i64) > 0 {
                // A consumer claimed q and has not released it yet.
                self.pacer.stuck(t);
                if !reclaimed && Self::reclaim(sh, &mut self.pacer, &mut self.deferral, t, head) {
                    reclaimed = true;
                    continue;
                }
            }
            if let Some(c) = sh.peers_gone(&c.receivers, Role::Consumer, true) {
                return Err(c.into());
            }
            return Err(Stop::Wait);
        }
        if recorded {
            sh.clear_record(self.index, Side::Send);
        }
        Err(Stop::Wait)
    }

    /// Frees the slots of position `t - cap` (and following) claimed by
    /// consumers that died before releasing them, once the stall expired.
    /// Returns true if any was freed.
    fn reclaim(sh: &Shared<T>, pacer: &mut Pacer, deferral: &mut Deferral, t: u64, head: u64) -> bool {
        let cap = sh.cap;
        if t < cap || !pacer.stall_expired(sh.stall) {
            return false;
        }
        let q = t - cap;
        let span = head.wrapping_sub(q).min(cap);
        let live = Liveness::new();
        let (mut freed, mut lost) = (0, 0);
        let mut helped = false;
        for r in q..q + span {
            // A position read and not released yet is not lost: its reader
            // (alive or not) deferred the release; complete it instead.
            if sh.help(r) {
                helped = true;
                break;
            }
            // Loaded after `help`: a range its reader is releasing right
            // now is covered by its claim record (`Receiver::flush`).
            let mut recs = sh.records(Side::Recv);
            let slot = sh.slot(r);
            // Acquire: pairs with the producer's Release commit CAS.
            let s = slot.seq.load(Ordering::Acquire);
            if !committed(s, r) || !sh.claimants_dead(&mut recs, r, &live) {
                break;
            }
            if let Some(k) = sh.finishing(&mut recs, r) {
                if !deferral.ready(k, pacer) {
                    break;
                }
            }
            // Release: pairs with the Acquire load of seq in `claim`: the
            // slot is free for position r + cap. (The dead consumer's reads
            // happened before its death, seen by the Acquire load of its
            // owner word in `claimants_dead`.)
            if slot
                .seq
                .compare_exchange(s, r + cap, Ordering::Release, Ordering::Relaxed)
                .is_err()
            {
                break;
            }
            freed += 1;
            if s & SKIP == 0 {
                lost += 1;
            }
        }
        if lost > 0 {
            // Relaxed: statistics.
            sh.counters().lost_recvs.fetch_add(lost, Ordering::Relaxed);
        }
        if freed > lost {
            // Relaxed: statistics.
            sh.counters().passed.fetch_add(freed - lost, Ordering::Relaxed);
        }
        if freed > 0 {
            sh.ctl().not_full.wake();
        }
        freed > 0 || helped
    }

    /// Commits positions `[start, start + n)`, written by us, from the last
    /// to the first (see "Batches" in the module docs).
    #[inline(always)]
    fn commit(&mut self, start: u64, n: u64) -> Result<(), Corruption> {
        let sh = &self.shared;
        if !sh.may_store(self.index, self.pid, start) {
            return self.commit_by_cas(start, n);
        }
        for p in (start..start + n).rev() {
            // Release: pairs with the Acquire load of seq in
            // `Receiver::claim`; publishes the element written before. A
            // plain store: no one is skipping this claim (`may_store`).
            sh.slot(p).seq.store(p + 1, Ordering::Release);
        }
        sh.ctl().not_empty.wake();
        Ok(())
    }

    /// `commit` when someone judged this process dead (`may_store`): by CAS,
    /// which fails on a position a consumer skipped.
    #[cold]
    fn commit_by_cas(&mut self, start: u64, n: u64) -> Result<(), Corruption> {
        let sh = &self.shared;
        let mut lost = None;
        for p in (start..start + n).rev() {
            // Release: pairs with the Acquire load of seq in
            // `Receiver::claim`; publishes the element written before. A CAS,
            // not a store: it fails if a consumer skipped the position.
            if sh
                .slot(p)
                .seq
                .compare_exchange(p, p + 1, Ordering::Release, Ordering::Relaxed)
                .is_err()
            {
                // Backwards: the last one found is the first lost.
                lost = Some(p);
            }
        }
        sh.ctl().not_empty.wake();
        match lost {
            None => Ok(()),
            Some(p) => Err(Corruption {
                offset: p,
                what: SKIPPED,
            }),
        }
    }

    /// Commits a tombstone at position `p` (a dropped claim).
    fn abort(&mut self, p: u64) {
        let sh = &self.shared;
        // Release: pairs with the Acquire load of seq in `Receiver::claim`,
        // which passes over the tombstone.
        if sh
            .slot(p)
            .seq
            .compare_exchange(p, (p + 1) | SKIP, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            // Relaxed: statistics.
            sh.counters().aborted.fetch_add(1, Ordering::Relaxed);
        }
        sh.ctl().not_empty.wake();
    }

    fn write(&mut self, p: u64, value: T) {
        // SAFETY: position p is claimed by us (tail CAS) and its slot was
        // free (seq == p, Acquire): no one else accesses the element until
        // our commit.
        self.shared.slot(p).value.with_mut(|v| unsafe { v.write(value) });
    }

    #[inline(always)]
    fn try_send_inner(&mut self, value: T, expensive: bool, inline: bool) -> Result<(), TrySendError<T>> {
        match self.claim_at(1, expensive, inline) {
            Ok((p, _)) => {
                self.write(p, value);
                self.commit(p, 1)
                    .map_err(|corruption| TrySendError::Corrupt { value, corruption })
            }
            Err(Stop::Wait) => Err(TrySendError::Full(value)),
            Err(Stop::Closed(c)) => Err(c.try_send(value)),
        }
    }

    /// Sends `value` if a slot is free.
    ///
    /// `Full` when the ring is full; `Disconnected` when every receiver
    /// detached cleanly; `PeerDied` when the ring is full and no receiver is
    /// alive (checked at most once per check interval); `Corrupt` when the
    /// shared state is inconsistent, or when this sender's claim was
    /// skipped as dead (see the module docs; the value was not delivered).
    #[inline]
    pub fn try_send(&mut self, value: T) -> Result<(), TrySendError<T>> {
        match self.send_inline(value) {
            Some(r) => r.map_err(|corruption| TrySendError::Corrupt { value, corruption }),
            None => self.try_send_slow(value),
        }
    }

    /// The single-message fast path of [`try_send`](Sender::try_send) and
    /// [`send`](Sender::send): the inline claim, the write and the commit;
    /// `None`, having done nothing, when the inline claim took no slot.
    /// Everything else stays out of line, so that the caller's fast path is
    /// only these few instructions.
    #[inline(always)]
    fn send_inline(&mut self, value: T) -> Option<Result<(), Corruption>> {
        // SAFETY: as in `write`: the slot's position is claimed by us and
        // the slot was free.
        self.send_inline_with(|slot| slot.value.with_mut(|v| unsafe { v.write(value) }))
    }

    /// [`send_inline`](Sender::send_inline), with `write` filling the
    /// claimed slot: the claim, then `commit(p, 1)` on the slot and words
    /// looked up by the claim (see [`Shared::claim_fast`]).
    #[inline(always)]
    fn send_inline_with(&mut self, write: impl FnOnce(&Slot<T>)) -> Option<Result<(), Corruption>> {
        let pid = self.pid;
        let (p, slot, w) = self.claim_one_at()?;
        let ctl = self.shared.ctl();
        write(slot);
        if !Shared::<T>::may_store_in(w, pid, p) {
            return Some(self.commit_by_cas(p, 1));
        }
        // Release: pairs with the Acquire load of seq in
        // `Receiver::claim`; publishes the element written above. A plain
        // store: no one is skipping this claim (`may_store_in`).
        slot.seq.store(p + 1, Ordering::Release);
        ctl.not_empty.wake();
        Some(Ok(()))
    }

    /// [`try_send`](Sender::try_send) past its inline path.
    #[inline(never)]
    fn try_send_slow(&mut self, value: T) -> Result<(), TrySendError<T>> {
        // `send_inline` just tried the inline claim.
        match self.try_send_inner(value, false, false) {
            Err(TrySendError::Full(v)) => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.try_send_inner(v, exp, false)
            }
            r => r,
        }
    }

    /// Sends `value`, waiting for a free slot as long as it takes.
    #[inline]
    pub fn send(&mut self, value: T) -> Result<(), SendError<T>> {
        match self.send_inline(value) {
            Some(r) => r.map_err(|corruption| SendError::Corrupt { value, corruption }),
            None => self.send_slow(value),
        }
    }

    /// [`send`](Sender::send) past its inline path.
    #[inline(never)]
    fn send_slow(&mut self, value: T) -> Result<(), SendError<T>> {
        // A free slot needs none of the waiting machinery.
        // `send_inline` just tried the inline claim.
        let value = match self.try_send_inner(value, false, false) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(v)) => v,
            Err(TrySendError::Disconnected(v)) => return Err(SendError::Disconnected(v)),
            Err(TrySendError::PeerDied { value, pid }) => return Err(SendError::PeerDied { value, pid }),
            Err(TrySendError::Corrupt { value, corruption }) => return Err(SendError::Corrupt { value, corruption }),
            Err(TrySendError::TooLarge { value, len, max }) => return Err(SendError::TooLarge { value, len, max }),
        };
        self.send_until(value, None).map_err(|e| match e {
            SendTimeoutError::Timeout(_) => unreachable!("no deadline"),
            SendTimeoutError::Disconnected(v) => SendError::Disconnected(v),
            SendTimeoutError::PeerDied { value, pid } => SendError::PeerDied { value, pid },
            SendTimeoutError::Corrupt { value, corruption } => SendError::Corrupt { value, corruption },
            SendTimeoutError::TooLarge { value, len, max } => SendError::TooLarge { value, len, max },
        })
    }

    /// Sends `value`, waiting at most `timeout` for a free slot.
    pub fn send_timeout(&mut self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, deadline(timeout))
    }

    #[cold]
    fn send_until(&mut self, value: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        let shared = self.shared.clone();
        let cfg = self.wait;
        let r = wait::block_on(&shared.ctl().not_full, &cfg, deadline, |exp| {
            match self.try_send_inner(value, exp || shared.check_every_poll, true) {
                Ok(()) => Some(Ok(())),
                Err(TrySendError::Full(_)) => None,
                Err(TrySendError::Disconnected(v)) => Some(Err(SendTimeoutError::Disconnected(v))),
                Err(TrySendError::PeerDied { value, pid }) => Some(Err(SendTimeoutError::PeerDied { value, pid })),
                Err(TrySendError::Corrupt { value, corruption }) => {
                    Some(Err(SendTimeoutError::Corrupt { value, corruption }))
                }
                Err(TrySendError::TooLarge { value, len, max }) => {
                    Some(Err(SendTimeoutError::TooLarge { value, len, max }))
                }
            }
        });
        r.unwrap_or(Err(SendTimeoutError::Timeout(value)))
    }

    /// Claims a free slot to write in place; see [`WriteClaim`]. Errors as
    /// for [`try_send`](Sender::try_send).
    pub fn try_claim(&mut self) -> Result<WriteClaim<'_, T>, TrySendError<()>> {
        let r = match self.claim(1, false) {
            Err(Stop::Wait) => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.claim(1, exp)
            }
            r => r,
        };
        match r {
            Ok((pos, _)) => Ok(WriteClaim {
                s: self,
                pos,
                done: false,
            }),
            Err(Stop::Wait) => Err(TrySendError::Full(())),
            Err(Stop::Closed(c)) => Err(c.try_send(())),
        }
    }

    /// Claims a free slot to write in place, waiting as long as it takes.
    pub fn claim_slot(&mut self) -> Result<WriteClaim<'_, T>, SendError<()>> {
        let pos = match self.wait_claim(1, None, false) {
            Ok((p, _)) => p,
            Err(c) => return Err(c.expect("no deadline").send(())),
        };
        Ok(WriteClaim {
            s: self,
            pos,
            done: false,
        })
    }

    /// Claims up to `max` positions, waiting until `deadline`; `Err(None)`
    /// on timeout. With `polled`, the caller has just tried
    /// `claim(max, false)` and found the ring full: the wait starts without
    /// trying again (see [`wait::block_on_polled`]).
    fn wait_claim(&mut self, max: u64, deadline: Option<Instant>, polled: bool) -> Result<(u64, u64), Option<Closed>> {
        let shared = self.shared.clone();
        let cfg = self.wait;
        let poll = |exp: bool| match self.claim(max, exp || shared.check_every_poll) {
            Ok(c) => Some(Ok(c)),
            Err(Stop::Wait) => None,
            Err(Stop::Closed(c)) => Some(Err(Some(c))),
        };
        let word = &shared.ctl().not_full;
        let r = if polled {
            wait::block_on_polled(word, &cfg, deadline, poll)
        } else {
            wait::block_on(word, &cfg, deadline, poll)
        };
        r.unwrap_or(Err(None))
    }

    fn send_claimed(&mut self, (t, n): (u64, u64), items: &[T]) -> Result<usize, Corruption> {
        for (i, &v) in items[..n as usize].iter().enumerate() {
            self.write(t + i as u64, v);
        }
        self.commit(t, n).map(|()| n as usize)
    }

    /// Sends as many elements of `items` as there are free slots (at least
    /// one) with a single claim (one CAS on `tail`), and commits each slot.
    /// Returns how many were sent. Errors as for
    /// [`try_send`](Sender::try_send); on `Corrupt` from a skipped claim,
    /// some elements of the batch may have been delivered.
    pub fn try_send_slice(&mut self, items: &[T]) -> Result<usize, TrySendError<()>> {
        if items.is_empty() {
            return Ok(0);
        }
        let r = match self.claim(items.len() as u64, false) {
            Err(Stop::Wait) => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.claim(items.len() as u64, exp)
            }
            r => r,
        };
        match r {
            Ok(c) => self
                .send_claimed(c, items)
                .map_err(|corruption| TrySendError::Corrupt { value: (), corruption }),
            Err(Stop::Wait) => Err(TrySendError::Full(())),
            Err(Stop::Closed(c)) => Err(c.try_send(())),
        }
    }

    /// Claims up to `n` consecutive positions with one CAS on `tail`,
    /// calls `write(shared, position, i)` for the `i`-th and commits them.
    /// Tries once when `wait` is `None` (`Timeout` then means full), else
    /// waits for room at most `Some(Some(d))`, or as long as it takes
    /// (`Some(None)`). Returns how many were sent (at least one). The first
    /// claim tries the inline claim only with `inline` (see
    /// [`claim_at`](Sender::claim_at)).
    fn send_batch_wait(
        &mut self,
        n: usize,
        wait: Option<Option<Duration>>,
        inline: bool,
        mut write: impl FnMut(&Shared<T>, u64, usize),
    ) -> Result<usize, SendTimeoutError<()>> {
        let max = n as u64;
        let r = match self.claim_at(max, false, inline) {
            Err(Stop::Wait) if wait.is_none() => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.claim(max, exp)
            }
            r => r,
        };
        let (t, k) = match r {
            Ok(c) => c,
            Err(Stop::Closed(c)) => return Err(c.send_timeout(())),
            Err(Stop::Wait) => match wait {
                None => return Err(SendTimeoutError::Timeout(())),
                Some(t) => self.wait_claim(max, t.and_then(deadline), true).map_err(|c| match c {
                    None => SendTimeoutError::Timeout(()),
                    Some(c) => c.send_timeout(()),
                })?,
            },
        };
        for i in 0..k {
            write(&self.shared, t + i, i as usize);
        }
        self.commit(t, k)
            .map_err(|corruption| SendTimeoutError::Corrupt { value: (), corruption })?;
        Ok(k as usize)
    }

    /// Sends every element of `items`, waiting for room as needed, in
    /// batches (one claim per batch). On error, the `usize` is how many
    /// elements were sent before it.
    pub fn send_slice(&mut self, items: &[T]) -> Result<(), SendError<usize>> {
        let mut done = 0;
        while done < items.len() {
            let max = (items.len() - done) as u64;
            // Free slots need none of the waiting machinery (nor the clone
            // of `shared` it takes).
            let c = match self.claim(max, false) {
                Ok(c) => c,
                Err(Stop::Closed(c)) => return Err(c.send(done)),
                Err(Stop::Wait) => self
                    .wait_claim(max, None, true)
                    .map_err(|c| c.expect("no deadline").send(done))?,
            };
            match self.send_claimed(c, &items[done..]) {
                Ok(n) => done += n,
                Err(corruption) => {
                    return Err(SendError::Corrupt {
                        value: done,
                        corruption,
                    })
                }
            }
        }
        Ok(())
    }

    /// Simulates a SIGKILL of this sender (tests and loom models): its
    /// entry is marked as held by a dead process and nothing is released.
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __crash(self) {
        self.shared.mark_dead(self.index, self.token);
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.detach(self.index, self.token, Role::Producer);
        // The detach (a Release RMW of the count) is the publication.
        self.shared.ctl().not_empty.wake();
    }
}

/// A claimed slot to write in place; see [`Sender::try_claim`].
///
/// The slot holds whatever was there before (`T: Pod`, so any bytes are a
/// valid `T`); write it through `DerefMut` or [`write`](WriteClaim::write).
/// Nothing is visible to consumers until [`commit`](WriteClaim::commit).
/// Dropping the claim without committing commits a *tombstone*: consumers
/// pass over the position without delivering anything, and it is counted
/// in [`Stats::aborted`]; a dropped claim never blocks consumers.
pub struct WriteClaim<'a, T: Pod> {
    s: &'a mut Sender<T>,
    pos: u64,
    done: bool,
}

impl<T: Pod> std::fmt::Debug for WriteClaim<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteClaim").field("position", &self.pos).finish()
    }
}

impl<T: Pod> WriteClaim<'_, T> {
    /// The claimed position (free-running index).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Overwrites the element.
    pub fn write(&mut self, value: T) {
        **self = value;
    }

    /// Publishes the element. Fails only if a consumer skipped this claim
    /// because it judged this process dead (see the module docs): the
    /// element is then not delivered.
    pub fn commit(mut self) -> Result<(), Corruption> {
        self.done = true;
        self.s.commit(self.pos, 1)
    }

    /// Simulates a SIGKILL while holding this claim (tests and loom
    /// models): the sender is marked dead and the claim stays uncommitted.
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __crash(mut self) {
        self.done = true;
        self.s.shared.mark_dead(self.s.index, self.s.token);
    }

    /// Simulates a SIGKILL inside the commit: after the handshake let it
    /// store (`Shared::may_store`), before the store (tests).
    #[cfg(test)]
    fn __crash_in_commit(mut self) {
        self.done = true;
        let s = &self.s;
        assert!(s.shared.may_store(s.index, s.pid, self.pos));
        s.shared.mark_dead(s.index, s.token);
    }

    /// Marks the sender dead but keeps the claim usable (tests and loom
    /// models of a late commit).
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __mark_dead(&self) {
        self.s.shared.mark_dead(self.s.index, self.s.token);
    }
}

impl<T: Pod> std::ops::Deref for WriteClaim<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the position is claimed by this sender and uncommitted: no
        // one else accesses the element; `&self` ties the borrow to the claim.
        unsafe { &*self.s.shared.value_ptr(self.pos) }
    }
}

impl<T: Pod> std::ops::DerefMut for WriteClaim<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` prevents aliasing.
        unsafe { &mut *self.s.shared.value_ptr(self.pos) }
    }
}

impl<T: Pod> Drop for WriteClaim<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            self.s.abort(self.pos);
        }
    }
}

impl<T: Pod> Receiver<T> {
    /// Sets how blocking calls wait; see [`Sender::set_wait_config`].
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.wait = cfg;
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.cap as usize
    }

    /// The fast path of a claim of one position: the slot of `head` holds
    /// an element (not a tombstone) and the CAS succeeds at the first try.
    /// Anything else returns `None` and leaves no record behind, and
    /// [`claim_slow`](Receiver::claim_slow) starts over. Sets `seen` and
    /// `claim_start` as it does.
    #[inline(always)]
    fn claim_one(&mut self) -> Option<u64> {
        if self.wide {
            return None;
        }
        let (h, _, _) = self.shared.claim_fast(self.index, Side::Recv)?;
        self.seen = h + 1;
        self.claim_start = h;
        Some(h)
    }

    /// Claims between 1 and `max` consecutive committed positions
    /// (elements or tombstones; Vyukov's dequeue, extended to ranges). With
    /// `expensive`, also skips dead producers' claims and checks whether any
    /// sender is alive. A claim of one position tries
    /// [`claim_one`](Receiver::claim_one) first.
    #[inline(always)]
    fn claim(&mut self, max: u64, expensive: bool) -> Result<(u64, u64), Stop> {
        self.claim_at(max, expensive, true)
    }

    /// [`claim`](Receiver::claim), trying
    /// [`claim_one`](Receiver::claim_one) only with `inline` (false where
    /// the caller just tried it).
    #[inline(always)]
    fn claim_at(&mut self, max: u64, expensive: bool, inline: bool) -> Result<(u64, u64), Stop> {
        if inline && max == 1 && !expensive {
            if let Some(h) = self.claim_one() {
                return Ok((h, 1));
            }
        }
        // Whatever made the fast path fail (an empty ring, a batch, a
        // contended head) may keep us away for long: release what we read.
        self.flush();
        self.claim_slow(max, expensive)
    }

    /// [`claim`](Receiver::claim) past its fast path.
    fn claim_slow(&mut self, max: u64, expensive: bool) -> Result<(u64, u64), Stop> {
        let sh = &self.shared;
        if expensive {
            sh.truncated()?;
        }
        let cap = sh.cap;
        let max = max.clamp(1, cap);
        let ctl = sh.ctl();
        let mut recorded = false;
        let mut unstuck = false;
        // Relaxed: a starting guess; the slot's seq (Acquire) decides.
        let mut h = ctl.head.load(Ordering::Relaxed);
        for _ in 0..RETRY_BOUND {
            if h >= SKIP {
                return Err(corrupt(h, "mpmc head is out of range").into());
            }
            // Acquire: pairs with the producer's Release commit CAS (or the
            // Release skip CAS): the element is visible.
            let s = sh.slot(h).seq.load(Ordering::Acquire);
            if committed(s, h) {
                let mut n = 1;
                // Acquire: as above, for each further slot of a batch.
                while n < max && committed(sh.slot(h + n).seq.load(Ordering::Acquire), h + n) {
                    n += 1;
                }
                sh.record(self.index, Side::Recv, h, h + n, &mut self.wide);
                recorded = true;
                self.seen = s;
                self.claim_start = h;
                // Release: pairs with the Acquire load of head in
                // `Sender::claim`: our record is visible to a producer that
                // sees the position claimed.
                match ctl
                    .head
                    .compare_exchange(h, h + n, Ordering::Release, Ordering::Relaxed)
                {
                    Ok(_) => return Ok((h, n)),
                    Err(cur) => {
                        h = cur;
                        continue;
                    }
                }
            }
            if ((s & !SKIP).wrapping_sub(h + 1) as i64) > 0 {
                // Another consumer claimed h (its head CAS happened before
                // the release we saw).
                // Relaxed: as above.
                let cur = ctl.head.load(Ordering::Relaxed);
                if cur == h {
                    return Err(corrupt(s, "mpmc slot sequence is ahead of head").into());
                }
                h = cur;
                continue;
            }
            // Nothing committed at h.
            if recorded {
                sh.clear_record(self.index, Side::Recv);
                recorded = false;
            }
            let gone = sh.peers_gone(&sh.counters().senders, Role::Producer, expensive);
            if gone.is_none() && !expensive {
                return Err(Stop::Wait);
            }
            // Acquire: pairs with the Release CAS of tail in `Sender::claim`:
            // the claim record of h's producer is visible.
            let t = ctl.tail.load(Ordering::Acquire);
            if (t.wrapping_sub(h) as i64) > 0 {
                // Claimed by a producer that has not committed yet: not
                // drained, whatever `gone` says.
                if expensive {
                    self.pacer.stuck(h);
                    if !unstuck {
                        unstuck = true;
                        if Self::unstick(sh, &mut self.pacer, &mut self.deferral, h, t) {
                            continue;
                        }
                    }
                }
                return Err(Stop::Wait);
            }
            match gone {
                None => return Err(Stop::Wait),
                Some(c) => {
                    // Drained? Re-check after the Acquire in `peers_gone`
                    // (tail was loaded after it, above).
                    // Acquire: as above.
                    if sh.slot(h).seq.load(Ordering::Acquire) != s {
                        continue;
                    }
                    return Err(c.into());
                }
            }
        }
        if recorded {
            sh.clear_record(self.index, Side::Recv);
        }
        Err(Stop::Wait)
    }

    /// Turns position `h` (and the following ones) into tombstones when
    /// claimed by producers that died before committing, once the stall
    /// expired. Returns true if any was skipped.
    fn unstick(sh: &Shared<T>, pacer: &mut Pacer, deferral: &mut Deferral, h: u64, tail: u64) -> bool {
        if !pacer.stall_expired(sh.stall) {
            return false;
        }
        let span = tail.wrapping_sub(h).min(sh.cap);
        let mut recs = sh.records(Side::Send);
        let live = Liveness::new();
        let mut skipped = 0;
        for p in h..h + span {
            let slot = sh.slot(p);
            // Acquire: pairs with the Release commit CAS.
            if slot.seq.load(Ordering::Acquire) != p || !sh.claimants_dead(&mut recs, p, &live) {
                break;
            }
            if let Some(k) = sh.finishing(&mut recs, p) {
                if !deferral.ready(k, pacer) {
                    break;
                }
            }
            // Release: pairs with the Acquire load of seq in `claim`, which
            // consumes the tombstone. A CAS: a late commit and this skip
            // cannot both succeed.
            if slot
                .seq
                .compare_exchange(p, (p + 1) | SKIP, Ordering::Release, Ordering::Relaxed)
                .is_err()
            {
                break;
            }
            skipped += 1;
        }
        if skipped > 0 {
            // Relaxed: statistics.
            sh.counters().lost_sends.fetch_add(skipped, Ordering::Relaxed);
            sh.ctl().not_empty.wake();
        }
        skipped > 0
    }

    /// Releases claimed position `p`, read in place by a claim, without
    /// reading it again (were the claim reclaimed meanwhile, the slot may
    /// be being written).
    fn take(&mut self, p: u64) -> Result<Option<()>, Corruption> {
        // Acquire: pairs with the producer's Release commit CAS (already
        // seen by `claim`; reloaded to tell elements from tombstones).
        let s = self.shared.slot(p).seq.load(Ordering::Acquire);
        self.take_with(p, s, |_| ())
    }

    /// `take` with the `seq` of `p` already loaded (with Acquire) by `claim`.
    #[inline]
    fn take_seen(&mut self, p: u64, s: u64) -> Result<Option<T>, Corruption> {
        // SAFETY: `take_with` calls this only for a committed position we
        // claimed (head CAS): the producer is done with it and no other
        // consumer reads it.
        self.take_with(p, s, |sh| sh.slot(p).value.with(|v| unsafe { v.read() }))
    }

    /// Releases claimed position `p`, whose `seq` was `s` (loaded with
    /// Acquire), after `read` took the element out if it holds one (not
    /// for a tombstone). `read` runs while the position is still ours.
    #[inline(always)]
    fn take_with<R>(&mut self, p: u64, s: u64, read: impl FnOnce(&Shared<T>) -> R) -> Result<Option<R>, Corruption> {
        let v = match held(s, p) {
            Some(true) => Some(read(&self.shared)),
            Some(false) => None,
            None => {
                return Err(Corruption {
                    offset: p,
                    what: RECLAIMED,
                })
            }
        };
        let may = self.shared.may_store(self.index, self.pid, self.claim_start);
        self.release_read(p, s, may)?;
        if v.is_none() {
            // Relaxed: statistics.
            self.shared.counters().passed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(v)
    }

    /// Releases claimed position `p`, read (its `seq` was `s`), once our
    /// [`may_store`](Shared::may_store) answered `may`: defers the release
    /// (the first [`DEFER_ENTRIES`] entries), or releases at once by a
    /// plain store; by CAS if someone judged us dead (not `may`).
    #[inline(never)]
    fn release_read(&mut self, p: u64, s: u64, may: bool) -> Result<(), Corruption> {
        if may && self.index < DEFER_ENTRIES {
            self.defer(p);
            return Ok(());
        }
        let sh = &self.shared;
        if may {
            // Release: pairs with the Acquire load of seq in
            // `Sender::claim`: our read happens before the slot is
            // written again. A plain store: no one is reclaiming this
            // claim (`may_store`).
            sh.slot(p).seq.store(p + sh.cap, Ordering::Release);
            return Ok(());
        }
        self.flush();
        let sh = &self.shared;
        // Release: as above. A CAS: it fails if a producer reclaimed the
        // slot, and then the value may be torn.
        sh.slot(p)
            .seq
            .compare_exchange(s, p + sh.cap, Ordering::Release, Ordering::Relaxed)
            .map(drop)
            .map_err(|_| Corruption {
                offset: p,
                what: RECLAIMED,
            })
    }

    /// Ends a claim: wakes senders, after releasing our deferred range if
    /// any sleeps (see "Deferred releases").
    #[inline]
    fn finish(&mut self) {
        if self.shared.ctl().not_full.sleepers() {
            self.flush();
            self.shared.ctl().not_full.wake_now();
        }
    }

    /// Claims the next position holding an element, passing over
    /// tombstones (at most a ring's worth per call).
    #[inline(always)]
    fn claim_value(&mut self, expensive: bool) -> Result<u64, Stop> {
        self.claim_value_at(expensive, true)
    }

    /// [`claim_value`](Receiver::claim_value), with `inline` as for
    /// [`claim_at`](Receiver::claim_at).
    #[inline(always)]
    fn claim_value_at(&mut self, expensive: bool, inline: bool) -> Result<u64, Stop> {
        for _ in 0..=self.shared.cap {
            let (p, _) = self.claim_at(1, expensive, inline)?;
            if self.seen == p + 1 {
                return Ok(p);
            }
            // A tombstone: release it and go on.
            let r = self.take_seen(p, self.seen);
            self.finish();
            r.map_err(Closed::Corrupt)?;
        }
        Err(Stop::Wait)
    }

    #[inline(always)]
    fn try_recv_inner(&mut self, expensive: bool, inline: bool) -> Result<T, TryRecvError> {
        let p = match self.claim_value_at(expensive, inline) {
            Ok(p) => p,
            Err(Stop::Wait) => return Err(TryRecvError::Empty),
            Err(Stop::Closed(c)) => return Err(c.try_recv()),
        };
        let r = self.take_seen(p, self.seen);
        self.finish();
        match r {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(TryRecvError::Empty),
            Err(corruption) => Err(TryRecvError::Corrupt { corruption }),
        }
    }

    /// Receives the oldest available element if there is one.
    ///
    /// `Empty` when nothing is committed; once the ring is drained,
    /// `Disconnected` if every sender detached cleanly, `PeerDied` if none
    /// is left alive (checked at most once per check interval); `Corrupt`
    /// when the shared state is inconsistent or this receiver's claim was
    /// reclaimed as dead.
    #[inline]
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.recv_inline() {
            Some(Ok(v)) => Ok(v),
            Some(Err(corruption)) => Err(TryRecvError::Corrupt { corruption }),
            None => self.try_recv_slow(),
        }
    }

    /// The single-message fast path of [`try_recv`](Receiver::try_recv)
    /// and [`recv`](Receiver::recv): the inline claim of an element, the
    /// read and the (deferred) release; `None` when the inline claim took
    /// nothing. Everything else (an empty ring, tombstones, waiting) stays
    /// out of line.
    #[inline(always)]
    fn recv_inline(&mut self) -> Option<Result<T, Corruption>> {
        // SAFETY: as in `take_seen`: a committed position (seq == p + 1)
        // that we claimed.
        self.recv_inline_with(|slot| slot.value.with(|v| unsafe { v.read() }))
    }

    /// [`recv_inline`](Receiver::recv_inline), with `read` taking the
    /// element out of the claimed slot: `claim_one` and `take_seen`, on
    /// the slot and words looked up by the claim (see
    /// [`Shared::claim_fast`]).
    #[inline(always)]
    fn recv_inline_with<R>(&mut self, read: impl FnOnce(&Slot<T>) -> R) -> Option<Result<R, Corruption>> {
        if self.wide {
            return None;
        }
        let pid = self.pid;
        let sh = &self.shared;
        let (p, slot, w) = sh.claim_fast(self.index, Side::Recv)?;
        self.seen = p + 1;
        self.claim_start = p;
        let v = read(slot);
        let may = Shared::<T>::may_store_in(w, pid, p);
        if may && self.index < DEFER_ENTRIES && (self.def_lo == self.def_hi || p == self.def_hi) {
            // `defer(p)` where it needs no flush first.
            Self::extend(&mut self.def_lo, &mut self.def_hi, w, p);
            if self.def_hi.is_multiple_of(DEFER_GROUP) {
                self.flush();
            }
        } else {
            // The rest, out of line: a range that `p` does not extend
            // (another receiver took the positions between), an entry past
            // the deferring ones, or a receiver judged dead.
            if let Err(e) = self.release_read(p, p + 1, may) {
                return Some(Err(e));
            }
        }
        self.finish();
        Some(Ok(v))
    }

    /// [`try_recv`](Receiver::try_recv) past its inline path.
    #[inline(never)]
    fn try_recv_slow(&mut self) -> Result<T, TryRecvError> {
        // `recv_inline` just tried the inline claim.
        match self.try_recv_inner(false, false) {
            Err(TryRecvError::Empty) => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.try_recv_inner(exp, false)
            }
            r => r,
        }
    }

    /// Receives an element, waiting as long as it takes.
    #[inline]
    pub fn recv(&mut self) -> Result<T, RecvError> {
        match self.recv_inline() {
            Some(Ok(v)) => Ok(v),
            Some(Err(corruption)) => Err(RecvError::Corrupt { corruption }),
            None => self.recv_slow(),
        }
    }

    /// [`recv`](Receiver::recv) past its inline path.
    #[inline(never)]
    fn recv_slow(&mut self) -> Result<T, RecvError> {
        // An available element needs none of the waiting machinery.
        // `recv_inline` just tried the inline claim.
        match self.try_recv_inner(false, false) {
            Ok(v) => return Ok(v),
            Err(e) => {
                if let Some(e) = try_recv_to_timeout(e) {
                    return Err(recv_err(e));
                }
            }
        }
        self.recv_until(None).map_err(recv_err)
    }

    /// Receives an element, waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(deadline(timeout))
    }

    #[cold]
    fn recv_until(&mut self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let shared = self.shared.clone();
        let cfg = self.wait;
        wait::block_on(&shared.ctl().not_empty, &cfg, deadline, |exp| {
            match self.try_recv_inner(exp || shared.check_every_poll, true) {
                Ok(v) => Some(Ok(v)),
                Err(e) => try_recv_to_timeout(e).map(Err),
            }
        })
        .unwrap_or(Err(RecvTimeoutError::Timeout))
    }

    /// Claims the oldest available element to read in place; see
    /// [`ReadClaim`]. Errors as for [`try_recv`](Receiver::try_recv).
    pub fn try_claim(&mut self) -> Result<ReadClaim<'_, T>, TryRecvError> {
        let r = match self.claim_value(false) {
            Err(Stop::Wait) => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.claim_value(exp)
            }
            r => r,
        };
        let pos = match r {
            Ok(p) => p,
            Err(Stop::Wait) => return Err(TryRecvError::Empty),
            Err(Stop::Closed(c)) => return Err(c.try_recv()),
        };
        Ok(ReadClaim {
            r: self,
            pos,
            done: false,
        })
    }

    /// Claims the oldest available element to read in place, waiting as
    /// long as it takes.
    pub fn claim_slot(&mut self) -> Result<ReadClaim<'_, T>, RecvError> {
        let shared = self.shared.clone();
        let cfg = self.wait;
        let r = wait::block_on(&shared.ctl().not_empty, &cfg, None, |exp| {
            match self.claim_value(exp || shared.check_every_poll) {
                Ok(p) => Some(Ok(p)),
                Err(Stop::Wait) => None,
                Err(Stop::Closed(c)) => Some(Err(c.recv())),
            }
        });
        let pos = r.expect("no deadline")?;
        Ok(ReadClaim {
            r: self,
            pos,
            done: false,
        })
    }

    fn recv_slice_inner(&mut self, out: &mut [T], expensive: bool) -> Result<usize, TryRecvError> {
        self.recv_batch_inner(out.len(), expensive, |sh, p, k| {
            // SAFETY: `put` runs on committed positions we claimed (see
            // `take_with`); `k < out.len()` as at most `out.len()` are claimed.
            out[k] = sh.slot(p).value.with(|v| unsafe { v.read() })
        })
    }

    /// Claims up to `max` positions with one CAS on `head` and releases
    /// each, calling `put(shared, position, k)` for the `k`-th element
    /// (tombstones are passed over). Returns how many elements were put.
    fn recv_batch_inner(
        &mut self,
        max: usize,
        expensive: bool,
        mut put: impl FnMut(&Shared<T>, u64, usize),
    ) -> Result<usize, TryRecvError> {
        for _ in 0..=self.shared.cap {
            let (h, n) = match self.claim(max as u64, expensive) {
                Ok(c) => c,
                Err(Stop::Wait) => return Err(TryRecvError::Empty),
                Err(Stop::Closed(c)) => return Err(c.try_recv()),
            };
            // Every element is read first; then the slots are released from
            // the last to the first (see "Batches" in the module docs).
            let sh = &self.shared;
            let mut k = 0;
            let mut err = None;
            let mut passed = 0;
            for p in h..h + n {
                // Acquire: pairs with the producer's Release commit (already
                // seen by `claim`; reloaded to tell elements from
                // tombstones).
                match held(sh.slot(p).seq.load(Ordering::Acquire), p) {
                    Some(true) => {
                        put(sh, p, k);
                        k += 1;
                    }
                    Some(false) => passed += 1,
                    None => {
                        err.get_or_insert(Corruption {
                            offset: p,
                            what: RECLAIMED,
                        });
                    }
                }
            }
            // A slot found reclaimed above is no longer ours: then every
            // release goes by CAS, which leaves that slot alone.
            if err.is_none() && sh.may_store(self.index, self.pid, self.claim_start) {
                for p in (h..h + n).rev() {
                    // Release: pairs with the Acquire load of seq in
                    // `Sender::claim`: our reads happen before the slot is
                    // written again. A plain store: no one is reclaiming
                    // this claim (`may_store`).
                    sh.slot(p).seq.store(p + sh.cap, Ordering::Release);
                }
            } else {
                let mut lost = None;
                for p in (h..h + n).rev() {
                    let slot = sh.slot(p);
                    // Relaxed: only compared; the CAS below decides.
                    let s = slot.seq.load(Ordering::Relaxed);
                    // Release: as above. A CAS from what `claim` saw (an
                    // element or a tombstone of position p): it fails if a
                    // producer reclaimed the slot, and then what we read
                    // may be torn.
                    if held(s, p).is_none()
                        || slot
                            .seq
                            .compare_exchange(s, p + sh.cap, Ordering::Release, Ordering::Relaxed)
                            .is_err()
                    {
                        // Backwards: the last one found is the first lost.
                        lost = Some(p);
                    }
                }
                if let Some(p) = lost.filter(|&p| err.as_ref().is_none_or(|e: &Corruption| p < e.offset)) {
                    err = Some(Corruption {
                        offset: p,
                        what: RECLAIMED,
                    });
                }
            }
            if passed > 0 {
                // Relaxed: statistics.
                sh.counters().passed.fetch_add(passed, Ordering::Relaxed);
            }
            self.finish();
            if let Some(corruption) = err {
                return Err(TryRecvError::Corrupt { corruption });
            }
            if k > 0 {
                return Ok(k);
            }
        }
        Err(TryRecvError::Empty)
    }

    /// Receives up to `out.len()` available elements (at least one) with a
    /// single claim (one CAS on `head`), releasing each slot. Returns how
    /// many were written to the front of `out`. Errors as for
    /// [`try_recv`](Receiver::try_recv).
    pub fn try_recv_slice(&mut self, out: &mut [T]) -> Result<usize, TryRecvError> {
        if out.is_empty() {
            return Ok(0);
        }
        match self.recv_slice_inner(out, false) {
            Err(TryRecvError::Empty) => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.recv_slice_inner(out, exp)
            }
            r => r,
        }
    }

    /// Like [`try_recv_slice`](Receiver::try_recv_slice) but waits for at
    /// least one element.
    pub fn recv_slice(&mut self, out: &mut [T]) -> Result<usize, RecvError> {
        if out.is_empty() {
            return Ok(0);
        }
        // Elements available need none of the waiting machinery (nor the
        // clone of `shared` it takes).
        match self.recv_slice_inner(out, false) {
            Err(TryRecvError::Empty) => {}
            r => return r.map_err(|e| recv_err(try_recv_to_timeout(e).expect("not empty"))),
        }
        let shared = self.shared.clone();
        let cfg = self.wait;
        wait::block_on_polled(&shared.ctl().not_empty, &cfg, None, |exp| {
            match self.recv_slice_inner(out, exp || shared.check_every_poll) {
                Ok(n) => Some(Ok(n)),
                Err(e) => try_recv_to_timeout(e).map(|e| Err(recv_err(e))),
            }
        })
        .expect("no deadline")
    }

    /// Receives up to `max` elements with one claim (see
    /// `recv_batch_inner`): tries once when `wait` is `None` (`Timeout`
    /// then means empty), else waits for the first element at most
    /// `Some(Some(d))`, or as long as it takes (`Some(None)`).
    fn recv_batch_wait(
        &mut self,
        max: usize,
        wait: Option<Option<Duration>>,
        mut put: impl FnMut(&Shared<T>, u64, usize),
    ) -> Result<usize, RecvTimeoutError> {
        let first = match self.recv_batch_inner(max, false, &mut put) {
            Err(TryRecvError::Empty) => match wait {
                None => {
                    let exp = self.pacer.due(self.wait.check_interval);
                    self.recv_batch_inner(max, exp, &mut put)
                }
                Some(_) => Err(TryRecvError::Empty),
            },
            r => r,
        };
        match first {
            Ok(n) => return Ok(n),
            Err(TryRecvError::Empty) => {}
            Err(e) => return Err(try_recv_to_timeout(e).expect("not empty")),
        }
        let Some(t) = wait else {
            // Reported as a timeout of zero length; callers map it to Empty.
            return Err(RecvTimeoutError::Timeout);
        };
        let shared = self.shared.clone();
        let cfg = self.wait;
        // The attempt above was the first poll.
        wait::block_on_polled(&shared.ctl().not_empty, &cfg, t.and_then(deadline), |exp| {
            match self.recv_batch_inner(max, exp || shared.check_every_poll, &mut put) {
                Ok(n) => Some(Ok(n)),
                Err(e) => try_recv_to_timeout(e).map(Err),
            }
        })
        .unwrap_or(Err(RecvTimeoutError::Timeout))
    }

    /// Claims the next element to read in place, trying once (`wait` is
    /// `None`) or waiting at most `Some(Some(d))` (`Some(None)`: forever).
    /// `Err(None)` when empty or timed out. The first claim tries the
    /// inline claim only with `inline` (see [`claim_at`](Receiver::claim_at)).
    fn claim_value_wait(&mut self, wait: Option<Option<Duration>>, inline: bool) -> Result<u64, Option<Closed>> {
        let r = match self.claim_value_at(false, inline) {
            Err(Stop::Wait) if wait.is_none() => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.claim_value(exp)
            }
            r => r,
        };
        match r {
            Ok(p) => return Ok(p),
            Err(Stop::Closed(c)) => return Err(Some(c)),
            Err(Stop::Wait) => {}
        }
        let Some(t) = wait else {
            return Err(None);
        };
        let shared = self.shared.clone();
        let cfg = self.wait;
        // The attempt above was the first poll.
        wait::block_on_polled(&shared.ctl().not_empty, &cfg, t.and_then(deadline), |exp| {
            match self.claim_value(exp || shared.check_every_poll) {
                Ok(p) => Some(Ok(p)),
                Err(Stop::Wait) => None,
                Err(Stop::Closed(c)) => Some(Err(Some(c))),
            }
        })
        .unwrap_or(Err(None))
    }

    /// Simulates a SIGKILL of this receiver (tests and loom models).
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __crash(mut self) {
        self.forget_deferred();
        self.shared.mark_dead(self.index, self.token);
    }
}

impl<T> Receiver<T> {
    /// Defers the release of position `p`, just read: extends our range
    /// (or starts one), and releases it once it spans [`DEFER_GROUP`]
    /// positions. See "Deferred releases" in the module docs.
    #[inline(always)]
    fn defer(&mut self, p: u64) {
        if self.def_lo != self.def_hi && p != self.def_hi {
            self.flush();
        }
        let w = &self.shared.entry(self.index).words;
        Self::extend(&mut self.def_lo, &mut self.def_hi, w, p);
        if self.def_hi.is_multiple_of(DEFER_GROUP) {
            self.flush();
        }
    }

    /// The middle of [`defer`](Receiver::defer): adds `p` to the range
    /// `[lo, hi)` (empty, or ending at `p`) mirrored in entry words `w`.
    #[inline(always)]
    fn extend(lo: &mut u64, hi: &mut u64, w: &EntryWords, p: u64) {
        if *lo == *hi {
            // Relaxed: published by the Release store of `hi` below. No
            // helper writes `lo` while the range is empty.
            w[W_DEFER_LO].store(p, Ordering::Relaxed);
            *lo = p;
        }
        // Release: pairs with the Acquire load of `hi` in
        // `Shared::help_entry`: our read of `p` happens before a producer
        // frees its slot.
        w[W_DEFER_HI].store(p + 1, Ordering::Release);
        *hi = p + 1;
    }

    /// Releases our deferred range, if any (see
    /// [`flush_range`](Receiver::flush_range)).
    #[inline]
    fn flush(&mut self) {
        if self.def_lo != self.def_hi {
            self.flush_range();
        }
    }

    /// Releases our non-empty deferred range, minus the prefix producers
    /// took (`Shared::help_entry`): moves our entry's `lo` to `hi` by CAS,
    /// then frees the slots from the last to the first, as a batch does.
    #[inline(never)]
    fn flush_range(&mut self) {
        let (lo, hi) = (self.def_lo, self.def_hi);
        self.def_lo = hi;
        let sh = &self.shared;
        if !sh.may_store(self.index, self.pid, lo) {
            // Judged dead: our entry's words may be another holder's now
            // (the one that took it over freed our range). Free what is
            // left by CAS, which fails on anything freed meanwhile; our
            // reads are done.
            sh.free_read(lo, hi);
            return;
        }
        // The range is ours until released, as a claim is: a producer
        // stalled at one of its slots sees a live claimant and waits
        // (`Sender::reclaim`).
        sh.record(self.index, Side::Recv, lo, hi, &mut self.wide);
        let w = &sh.entry(self.index).words;
        let mut from = lo;
        for _ in 0..RETRY_BOUND {
            // AcqRel: the positions [from, hi) become ours alone; helpers
            // CAS the same word, and `lo` only grows.
            match w[W_DEFER_LO].compare_exchange(from, hi, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(cur) if cur > from && cur < hi => from = cur,
                Err(_) => {
                    // Taken up to `hi` by producers (or scribbled on).
                    from = hi;
                    break;
                }
            }
        }
        for p in (from..hi).rev() {
            // Release: pairs with the Acquire load of seq in
            // `Sender::claim`: our reads happen before the slot is written
            // again. A plain store: no one else frees these positions (the
            // CAS above) and no one is reclaiming them (`may_store`, and our
            // record of the range).
            sh.slot(p).seq.store(p + sh.cap, Ordering::Release);
        }
        // Back to a one-position record (of a released position), which
        // the fast claim path expects.
        sh.record(self.index, Side::Recv, hi - 1, hi, &mut self.wide);
    }
}

impl<T> Receiver<T> {
    /// Drops our deferred range unreleased, as a crash would (tests).
    #[cfg(any(test, loom))]
    fn forget_deferred(&mut self) {
        self.def_lo = self.def_hi;
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.flush();
        self.shared.detach(self.index, self.token, Role::Consumer);
        // The detach (a Release RMW of the count) is the publication.
        self.shared.ctl().not_full.wake();
    }
}

/// An element borrowed in place; see [`Receiver::try_claim`].
///
/// Read it through `Deref`. [`release`](ReadClaim::release) (or dropping
/// the claim) frees the slot for producers.
pub struct ReadClaim<'a, T: Pod> {
    r: &'a mut Receiver<T>,
    pos: u64,
    done: bool,
}

impl<T: Pod> std::fmt::Debug for ReadClaim<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadClaim").field("position", &self.pos).finish()
    }
}

impl<T: Pod> ReadClaim<'_, T> {
    /// The claimed position (free-running index).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Frees the slot. Fails only if a producer reclaimed it because it
    /// judged this process dead (see the module docs): what was read in
    /// place may then be torn and must be discarded.
    pub fn release(mut self) -> Result<(), Corruption> {
        self.done = true;
        let r = self.r.take(self.pos).map(drop);
        self.r.finish();
        r
    }

    /// Simulates a SIGKILL while holding this claim (tests and loom
    /// models): the receiver is marked dead and the slot stays claimed.
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __crash(mut self) {
        self.done = true;
        self.r.forget_deferred();
        self.r.shared.mark_dead(self.r.index, self.r.token);
    }

    /// Simulates a SIGKILL inside the release: after the handshake let it
    /// store, before the store (tests).
    #[cfg(test)]
    fn __crash_in_release(mut self) {
        self.done = true;
        self.r.forget_deferred();
        let r = &self.r;
        assert!(r.shared.may_store(r.index, r.pid, r.claim_start));
        r.shared.mark_dead(r.index, r.token);
    }

    /// Marks the receiver dead but keeps the claim (tests of a late
    /// release).
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __mark_dead(&self) {
        self.r.shared.mark_dead(self.r.index, self.r.token);
    }
}

impl<T: Pod> std::ops::Deref for ReadClaim<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the position is committed and claimed by this receiver:
        // the producer is done with it and no other consumer reads it.
        unsafe { &*self.r.shared.value_ptr(self.pos) }
    }
}

impl<T: Pod> Drop for ReadClaim<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.r.take(self.pos);
            self.r.finish();
        }
    }
}

// ---------------------------------------------------------------------------
// Element size chosen at run time
// ---------------------------------------------------------------------------

/// Slot geometry of a raw ring: `(value offset, stride, slot alignment)`,
/// exactly that of `#[repr(C)] Slot<T>` for a `T` of this size and
/// alignment (so raw and typed processes share segments).
fn raw_slot(elem_size: usize, elem_align: usize) -> Result<(usize, usize, usize)> {
    if elem_align == 0 || !elem_align.is_power_of_two() || elem_align > crate::layout::REGION_ALIGN {
        return Err(Error::InvalidArgument(format!(
            "element alignment {elem_align} must be a power of two no larger than {}",
            crate::layout::REGION_ALIGN
        )));
    }
    if elem_size == 0 || !elem_size.is_multiple_of(elem_align) || elem_size > (u32::MAX as usize) / 2 {
        return Err(Error::InvalidArgument(format!(
            "element size {elem_size} must be a non-zero multiple of the alignment {elem_align}"
        )));
    }
    let align = elem_align.max(8);
    let off = align;
    let stride = (off + elem_size).next_multiple_of(align);
    Ok((off, stride, align))
}

fn raw_expect() -> Expect {
    Expect {
        kind: Some(Kind::Mpmc),
        control_len: Some(MPMC_CONTROL_LEN as u64),
        fingerprint: None,
        endpoints: None,
    }
}

/// An MPMC channel whose element type is known only by its size and
/// alignment: the C ABI's view of a fixed-size MPMC ring. It runs the same
/// code as [`Channel<T>`] (the ring addresses its slots by a byte stride)
/// and shares segments with it for any `T` of the same size and alignment
/// (the type-name check is skipped: a raw creator records no name).
///
/// Elements are byte slices of exactly [`elem_size`](RawChannel::elem_size)
/// bytes; batches are byte slices holding whole elements back to back.
///
/// ```
/// use shmlane::mpmc::{Builder, RawChannel};
/// let raw = RawChannel::anonymous(&Builder::new().capacity(8), 16, 8)?;
/// let (mut tx, mut rx) = (raw.sender()?, raw.receiver()?);
/// tx.try_send(&[1u8; 16]).unwrap();
/// tx.try_send_slice(&[2u8; 32]).unwrap();
/// let mut out = [0u8; 48];
/// assert_eq!(rx.try_recv_slice(&mut out), Ok(3));
/// assert_eq!((out[0], out[16], out[47]), (1, 2, 2));
/// # Ok::<(), shmlane::Error>(())
/// ```
#[derive(Clone)]
pub struct RawChannel {
    inner: Channel<()>,
    elem_size: usize,
    off: usize,
}

impl std::fmt::Debug for RawChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::RawChannel")
            .field("name", &self.inner.shared.name)
            .field("capacity", &self.inner.shared.cap)
            .field("elem_size", &self.elem_size)
            .finish()
    }
}

impl RawChannel {
    fn spec(builder: &Builder, elem_size: usize, elem_align: usize) -> Result<(Spec, u64, usize)> {
        let cap = check_capacity::<u64>(builder.capacity)?;
        let endpoints = builder.endpoint_count()?;
        let (_, stride, align) = raw_slot(elem_size, elem_align)?;
        let spec = Spec {
            geometry: Geometry {
                kind: Kind::Mpmc,
                capacity: cap,
                slot_size: stride as u32,
                slot_align: align as u32,
                max_message: 0,
                endpoint_count: endpoints,
                control_len: MPMC_CONTROL_LEN as u64,
            },
            fingerprint: TypeFingerprint::untagged(elem_size as u32, elem_align as u32),
            flags: 0,
        };
        Ok((spec, cap, stride))
    }

    /// Creates a named ring of `builder`'s capacity of `elem_size`-byte
    /// elements aligned to `elem_align` (a power of two up to 128;
    /// `elem_size` a multiple of it).
    pub fn create(builder: &Builder, name: &str, elem_size: usize, elem_align: usize) -> Result<RawChannel> {
        let (spec, cap, stride) = RawChannel::spec(builder, elem_size, elem_align)?;
        let seg = Segment::create(name, &spec, &builder.create, init_slots(cap, stride))?;
        RawChannel::wrap(seg, None)
    }

    /// Creates an anonymous ring in a sealed memfd; see [`Channel::anonymous`].
    pub fn anonymous(builder: &Builder, elem_size: usize, elem_align: usize) -> Result<RawChannel> {
        let (spec, cap, stride) = RawChannel::spec(builder, elem_size, elem_align)?;
        let seg = Segment::create_anonymous_with("mpmc", &spec, &builder.create, init_slots(cap, stride))?;
        RawChannel::wrap(seg, None)
    }

    /// Opens a named MPMC ring of any element type; with `elem_size`, fails
    /// with [`Error::TypeMismatch`] unless the elements have that size.
    pub fn open(builder: &Builder, name: &str, elem_size: Option<usize>) -> Result<RawChannel> {
        let seg = Segment::open(name, &raw_expect(), &builder.open)?;
        RawChannel::wrap(seg, elem_size)
    }

    /// Opens an anonymous ring from its file descriptor; see [`RawChannel::open`].
    pub fn from_fd(builder: &Builder, fd: OwnedFd, elem_size: Option<usize>) -> Result<RawChannel> {
        let seg = Segment::open_fd(fd, &raw_expect(), &builder.open)?;
        RawChannel::wrap(seg, elem_size)
    }

    fn wrap(seg: Segment, want: Option<usize>) -> Result<RawChannel> {
        let h = *seg.header();
        let size = h.elem_size as usize;
        if let Some(w) = want {
            if w != size {
                return Err(Error::TypeMismatch {
                    name: seg.name().to_owned(),
                    found: TypeFingerprint {
                        size: h.elem_size,
                        align: h.elem_align,
                        tag: h.type_tag,
                    },
                    expected: TypeFingerprint::untagged(w as u32, h.elem_align),
                });
            }
        }
        let geometry = raw_slot(size, h.elem_align as usize)
            .ok()
            .filter(|&(_, stride, align)| {
                h.geometry.slot_size as usize == stride && h.geometry.slot_align as usize == align
            });
        let Some((off, stride, _)) = geometry else {
            return Err(Error::Corrupt {
                name: seg.name().to_owned(),
                detail: format!(
                    "mpmc slot size {} / align {} do not fit elements of {size} bytes aligned to {}",
                    h.geometry.slot_size, h.geometry.slot_align, h.elem_align
                ),
            });
        };
        let seg = Arc::new(seg);
        Ok(RawChannel {
            inner: Channel {
                shared: Shared::from_segment(seg.clone(), stride)?,
                segment: Some(seg),
                _t: PhantomData,
            },
            elem_size: size,
            off,
        })
    }

    /// Bytes per element.
    pub fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Size of the endpoint table.
    pub fn endpoint_capacity(&self) -> usize {
        self.inner.endpoint_capacity()
    }

    /// The segment.
    pub fn segment(&self) -> Option<&Segment> {
        self.inner.segment()
    }

    /// Counters; see [`Channel::stats`].
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Attaches a sender; see [`Channel::sender`].
    pub fn sender(&self) -> Result<RawSender> {
        Ok(RawSender {
            s: self.inner.sender()?,
            elem: self.elem_size,
            off: self.off,
        })
    }

    /// Attaches a receiver; see [`Channel::receiver`].
    pub fn receiver(&self) -> Result<RawReceiver> {
        Ok(RawReceiver {
            r: self.inner.receiver()?,
            elem: self.elem_size,
            off: self.off,
        })
    }
}

/// How long a raw call waits: `None` tries once; `Some(None)` waits as long
/// as it takes; `Some(Some(d))` at most `d` (the deadline is taken only
/// once the call has to wait, so the fast path reads no clock).
fn wait_for(timeout: Option<Duration>) -> Option<Option<Duration>> {
    Some(timeout)
}

fn try_send_of(e: SendTimeoutError<()>) -> TrySendError<()> {
    match e {
        SendTimeoutError::Timeout(()) => TrySendError::Full(()),
        SendTimeoutError::Disconnected(()) => TrySendError::Disconnected(()),
        SendTimeoutError::PeerDied { pid, .. } => TrySendError::PeerDied { value: (), pid },
        SendTimeoutError::Corrupt { corruption, .. } => TrySendError::Corrupt { value: (), corruption },
        SendTimeoutError::TooLarge { len, max, .. } => TrySendError::TooLarge { value: (), len, max },
    }
}

fn try_recv_of(e: RecvTimeoutError) -> TryRecvError {
    match e {
        RecvTimeoutError::Timeout => TryRecvError::Empty,
        RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
        RecvTimeoutError::PeerDied { pid } => TryRecvError::PeerDied { pid },
        RecvTimeoutError::Corrupt { corruption } => TryRecvError::Corrupt { corruption },
    }
}

/// A sending endpoint of a [`RawChannel`].
#[derive(Debug)]
pub struct RawSender {
    s: Sender<()>,
    elem: usize,
    off: usize,
}

impl RawSender {
    /// Bytes per element.
    pub fn elem_size(&self) -> usize {
        self.elem
    }

    /// Sets how blocking calls wait; see [`Sender::set_wait_config`].
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.s.set_wait_config(cfg);
    }

    /// Copies up to `count` elements from `elems` (at least `count *
    /// elem_size` bytes) into as many free slots as one claim gets (at least
    /// one), waiting as `wait` says.
    #[inline]
    fn send_elems(
        &mut self,
        elems: &[u8],
        count: usize,
        wait: Option<Option<Duration>>,
        inline: bool,
    ) -> Result<usize, SendTimeoutError<()>> {
        let (e, off) = (self.elem, self.off);
        debug_assert!(count > 0 && elems.len() >= count * e);
        self.s.send_batch_wait(count, wait, inline, |sh, p, i| {
            // SAFETY: position p is claimed by us and its slot was free
            // (see `Sender::claim`): no one else accesses the element until
            // our commit; `raw_elem` points to `e` bytes inside the slot.
            unsafe { copy_elem(elems[i * e..].as_ptr(), sh.raw_elem(p, off), e) }
        })
    }

    /// The fast path of [`try_send`](RawSender::try_send) alone: sends
    /// `elem` and returns `Ok(true)` if a slot is free; `Ok(false)`, having
    /// done nothing, otherwise (then
    /// [`try_send_after_fast`](RawSender::try_send_after_fast) tells why); `Err` if the
    /// commit was refused (see [`WriteClaim::commit`]). Small enough to
    /// inline into a caller such as the C ABI.
    ///
    /// # Panics
    /// If `elem.len()` differs from the element size.
    #[inline(always)]
    pub fn send_fast(&mut self, elem: &[u8]) -> Result<bool, Corruption> {
        assert_eq!(elem.len(), self.elem, "element of {} bytes", elem.len());
        // Only the inline claim: whatever it does not take (a full ring, a
        // lost CAS, no receiver) is left to `try_send`, out of line.
        let off = self.off;
        // SAFETY: the slot's position is claimed by us and the slot was
        // free (see `Sender::claim`); `raw_elem_in` points to its
        // `elem.len()` bytes.
        let r = self
            .s
            .send_inline_with(|slot| unsafe { copy_elem(elem.as_ptr(), Shared::raw_elem_in(slot, off), elem.len()) });
        r.map_or(Ok(false), |r| r.map(|()| true))
    }

    /// Sends one element if a slot is free; errors as for [`Sender::try_send`].
    ///
    /// # Panics
    /// If `elem.len()` differs from the element size.
    #[inline]
    pub fn try_send(&mut self, elem: &[u8]) -> Result<(), TrySendError<()>> {
        assert_eq!(elem.len(), self.elem, "element of {} bytes", elem.len());
        self.send_elems(elem, 1, None, true).map(drop).map_err(try_send_of)
    }

    /// Sends one element, waiting for a free slot up to `timeout` (as long
    /// as it takes when `None`).
    ///
    /// # Panics
    /// If `elem.len()` differs from the element size.
    #[inline]
    pub fn send_timeout(&mut self, elem: &[u8], timeout: Option<Duration>) -> Result<(), SendTimeoutError<()>> {
        assert_eq!(elem.len(), self.elem, "element of {} bytes", elem.len());
        self.send_elems(elem, 1, wait_for(timeout), true).map(drop)
    }

    /// [`try_send`](RawSender::try_send) for a caller whose
    /// [`send_fast`](RawSender::send_fast) just returned `Ok(false)`: the
    /// same, except that the inline claim `send_fast` tried is not tried
    /// again first (the slow path of the C ABI).
    ///
    /// # Panics
    /// If `elem.len()` differs from the element size.
    pub fn try_send_after_fast(&mut self, elem: &[u8]) -> Result<(), TrySendError<()>> {
        assert_eq!(elem.len(), self.elem, "element of {} bytes", elem.len());
        self.send_elems(elem, 1, None, false).map(drop).map_err(try_send_of)
    }

    /// [`send_timeout`](RawSender::send_timeout) after a
    /// [`send_fast`](RawSender::send_fast) that returned `Ok(false)`, as
    /// [`try_send_after_fast`](RawSender::try_send_after_fast). The polls
    /// of a wait still try the inline claim first.
    ///
    /// # Panics
    /// If `elem.len()` differs from the element size.
    pub fn send_timeout_after_fast(
        &mut self,
        elem: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(), SendTimeoutError<()>> {
        assert_eq!(elem.len(), self.elem, "element of {} bytes", elem.len());
        self.send_elems(elem, 1, wait_for(timeout), false).map(drop)
    }

    /// Sends as many of the elements in `elems` (whole elements back to
    /// back) as there are free slots, at least one, with one claim; returns
    /// how many. Errors as for [`Sender::try_send_slice`].
    ///
    /// # Panics
    /// If `elems` is empty or not a whole number of elements.
    pub fn try_send_slice(&mut self, elems: &[u8]) -> Result<usize, TrySendError<()>> {
        let n = self.whole(elems.len());
        self.send_elems(elems, n, None, true).map_err(try_send_of)
    }

    /// Number of whole elements in `len` bytes.
    ///
    /// # Panics
    /// If `len` is 0 or not a whole number of elements.
    fn whole(&self, len: usize) -> usize {
        let e = self.elem;
        assert!(
            len > 0 && len.is_multiple_of(e),
            "{len} bytes are not whole {e}-byte elements"
        );
        len / e
    }

    /// Like [`try_send_slice`](RawSender::try_send_slice), waiting up to
    /// `timeout` (as long as it takes when `None`) for room for the first.
    ///
    /// # Panics
    /// As for `try_send_slice`.
    pub fn send_slice_timeout(
        &mut self,
        elems: &[u8],
        timeout: Option<Duration>,
    ) -> Result<usize, SendTimeoutError<()>> {
        let n = self.whole(elems.len());
        self.send_elems(elems, n, wait_for(timeout), true)
    }

    /// Claims a free slot to write in place; see [`Sender::try_claim`].
    pub fn try_claim(&mut self) -> Result<RawWriteClaim<'_>, TrySendError<()>> {
        self.claim_with(None).map_err(try_send_of)
    }

    /// Claims a free slot, waiting up to `timeout` (as long as it takes
    /// when `None`).
    pub fn claim_timeout(&mut self, timeout: Option<Duration>) -> Result<RawWriteClaim<'_>, SendTimeoutError<()>> {
        self.claim_with(wait_for(timeout))
    }

    fn claim_with(&mut self, wait: Option<Option<Duration>>) -> Result<RawWriteClaim<'_>, SendTimeoutError<()>> {
        let s = &mut self.s;
        let r = match s.claim(1, false) {
            Err(Stop::Wait) if wait.is_none() => {
                let exp = s.pacer.due(s.wait.check_interval);
                s.claim(1, exp)
            }
            r => r,
        };
        let pos = match r {
            Ok((p, _)) => p,
            Err(Stop::Closed(c)) => return Err(c.send_timeout(())),
            Err(Stop::Wait) => match wait {
                None => return Err(SendTimeoutError::Timeout(())),
                Some(t) => match s.wait_claim(1, t.and_then(deadline), true) {
                    Ok((p, _)) => p,
                    Err(None) => return Err(SendTimeoutError::Timeout(())),
                    Err(Some(c)) => return Err(c.send_timeout(())),
                },
            },
        };
        Ok(RawWriteClaim {
            s: self,
            pos,
            done: false,
        })
    }
}

/// A claimed slot of a [`RawChannel`] to write in place; see
/// [`WriteClaim`] (dropping it uncommitted commits a tombstone).
pub struct RawWriteClaim<'a> {
    s: &'a mut RawSender,
    pos: u64,
    done: bool,
}

impl std::fmt::Debug for RawWriteClaim<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawWriteClaim").field("position", &self.pos).finish()
    }
}

impl RawWriteClaim<'_> {
    /// The claimed position (free-running index).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Pointer to the element's `elem_size` bytes in the shared segment
    /// (aligned to the ring's element alignment), valid until the claim
    /// is committed or dropped.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.s.s.shared.raw_elem(self.pos, self.s.off)
    }

    /// The element's bytes (whatever the slot held before).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let n = self.s.elem;
        // SAFETY: the position is claimed by this sender and uncommitted:
        // no one else accesses it; `&mut self` prevents aliasing.
        unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr(), n) }
    }

    /// Publishes the element; see [`WriteClaim::commit`].
    pub fn commit(mut self) -> Result<(), Corruption> {
        self.done = true;
        self.s.s.commit(self.pos, 1)
    }
}

impl Drop for RawWriteClaim<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.s.s.abort(self.pos);
        }
    }
}

/// A receiving endpoint of a [`RawChannel`].
#[derive(Debug)]
pub struct RawReceiver {
    r: Receiver<()>,
    elem: usize,
    off: usize,
}

impl RawReceiver {
    /// Bytes per element.
    pub fn elem_size(&self) -> usize {
        self.elem
    }

    /// Sets how blocking calls wait; see [`Sender::set_wait_config`].
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.r.set_wait_config(cfg);
    }

    /// Copies one element into `out` (`elem_size` bytes), waiting as `wait`
    /// says: the path of [`Receiver::try_recv`], with the element copied as
    /// bytes before the slot is released.
    #[inline]
    fn recv_one(
        &mut self,
        out: &mut [u8],
        wait: Option<Option<Duration>>,
        inline: bool,
    ) -> Result<(), RecvTimeoutError> {
        let p = match self.r.claim_value_wait(wait, inline) {
            Ok(p) => p,
            Err(None) => return Err(RecvTimeoutError::Timeout),
            Err(Some(c)) => return Err(c.recv_timeout()),
        };
        let (e, off) = (self.elem, self.off);
        debug_assert!(out.len() >= e);
        let s = self.r.seen;
        // SAFETY: position p holds an element (`claim_value`) claimed by us
        // (head CAS): the producer is done with it and no other consumer
        // reads it until the release below; `raw_elem` points to its `e`
        // bytes, `out` has room for them.
        let r = self.r.take_with(p, s, |sh| unsafe {
            copy_elem(sh.raw_elem(p, off), out.as_mut_ptr(), e)
        });
        self.r.finish();
        match r {
            Ok(_) => Ok(()),
            Err(corruption) => Err(RecvTimeoutError::Corrupt { corruption }),
        }
    }

    /// Copies up to `max` elements (one claim) into `out` (at least `max *
    /// elem_size` bytes), waiting as `wait` says; returns how many.
    #[inline]
    fn recv_elems(
        &mut self,
        out: &mut [u8],
        max: usize,
        wait: Option<Option<Duration>>,
    ) -> Result<usize, RecvTimeoutError> {
        let (e, off) = (self.elem, self.off);
        debug_assert!(max > 0 && out.len() >= max * e);
        self.r.recv_batch_wait(max, wait, |sh, p, k| {
            // SAFETY: position p is committed and claimed by us (see
            // `Receiver::take_with`); `raw_elem` points to `e` bytes inside
            // its slot; `k < max`, so `out` has room.
            unsafe { copy_elem(sh.raw_elem(p, off), out[k * e..].as_mut_ptr(), e) }
        })
    }

    /// The fast path of [`try_recv`](RawReceiver::try_recv) alone: receives
    /// into `out` and returns `Ok(true)` if an element is available;
    /// `Ok(false)`, having done nothing, otherwise (then
    /// [`try_recv_after_fast`](RawReceiver::try_recv_after_fast) tells
    /// why); `Err` if the slot was reclaimed (see [`ReadClaim::release`]).
    ///
    /// # Panics
    /// If `out.len()` differs from the element size.
    #[inline(always)]
    pub fn recv_fast(&mut self, out: &mut [u8]) -> Result<bool, Corruption> {
        assert_eq!(out.len(), self.elem, "buffer of {} bytes", out.len());
        // Only the inline claim, which takes an element and never a
        // tombstone: the rest (an empty ring, tombstones, a lost CAS, the
        // release of deferred reads before waiting) is left to `try_recv`.
        let off = self.off;
        // SAFETY: the slot's position is claimed by us and holds a
        // committed element (see `Receiver::claim`); `raw_elem_in` points
        // to its `out.len()` bytes, which `out` has room for.
        let r = self
            .r
            .recv_inline_with(|slot| unsafe { copy_elem(Shared::raw_elem_in(slot, off), out.as_mut_ptr(), out.len()) });
        r.map_or(Ok(false), |r| r.map(|()| true))
    }

    /// Receives one element into `out` if one is available; errors as for
    /// [`Receiver::try_recv`].
    ///
    /// # Panics
    /// If `out.len()` differs from the element size.
    #[inline]
    pub fn try_recv(&mut self, out: &mut [u8]) -> Result<(), TryRecvError> {
        assert_eq!(out.len(), self.elem, "buffer of {} bytes", out.len());
        self.recv_one(out, None, true).map_err(try_recv_of)
    }

    /// Receives one element, waiting up to `timeout` (as long as it takes
    /// when `None`).
    ///
    /// # Panics
    /// If `out.len()` differs from the element size.
    #[inline]
    pub fn recv_timeout(&mut self, out: &mut [u8], timeout: Option<Duration>) -> Result<(), RecvTimeoutError> {
        assert_eq!(out.len(), self.elem, "buffer of {} bytes", out.len());
        self.recv_one(out, wait_for(timeout), true)
    }

    /// [`try_recv`](RawReceiver::try_recv) for a caller whose
    /// [`recv_fast`](RawReceiver::recv_fast) just returned `Ok(false)`: the
    /// same, except that the inline claim `recv_fast` tried is not tried
    /// again first (the slow path of the C ABI).
    ///
    /// # Panics
    /// If `out.len()` differs from the element size.
    pub fn try_recv_after_fast(&mut self, out: &mut [u8]) -> Result<(), TryRecvError> {
        assert_eq!(out.len(), self.elem, "buffer of {} bytes", out.len());
        self.recv_one(out, None, false).map_err(try_recv_of)
    }

    /// [`recv_timeout`](RawReceiver::recv_timeout) after a
    /// [`recv_fast`](RawReceiver::recv_fast) that returned `Ok(false)`, as
    /// [`try_recv_after_fast`](RawReceiver::try_recv_after_fast). The polls
    /// of a wait still try the inline claim first.
    ///
    /// # Panics
    /// If `out.len()` differs from the element size.
    pub fn recv_timeout_after_fast(
        &mut self,
        out: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<(), RecvTimeoutError> {
        assert_eq!(out.len(), self.elem, "buffer of {} bytes", out.len());
        self.recv_one(out, wait_for(timeout), false)
    }

    /// Receives up to `out.len() / elem_size` available elements (at least
    /// one) with one claim (one CAS on `head`), back to back at the front of
    /// `out`; returns how many.
    ///
    /// # Panics
    /// If `out` cannot hold one element.
    pub fn try_recv_slice(&mut self, out: &mut [u8]) -> Result<usize, TryRecvError> {
        let max = self.room(out.len());
        self.recv_elems(out, max, None).map_err(try_recv_of)
    }

    /// Number of elements `len` bytes can hold.
    ///
    /// # Panics
    /// If that is none.
    fn room(&self, len: usize) -> usize {
        let max = len / self.elem;
        assert!(max > 0, "buffer of {len} bytes for {}-byte elements", self.elem);
        max
    }

    /// Like [`try_recv_slice`](RawReceiver::try_recv_slice), waiting up to
    /// `timeout` (as long as it takes when `None`) for the first element.
    ///
    /// # Panics
    /// As for `try_recv_slice`.
    pub fn recv_slice_timeout(&mut self, out: &mut [u8], timeout: Option<Duration>) -> Result<usize, RecvTimeoutError> {
        let max = self.room(out.len());
        self.recv_elems(out, max, wait_for(timeout))
    }

    /// Claims the oldest element to read in place; see [`Receiver::try_claim`].
    pub fn try_claim(&mut self) -> Result<RawReadClaim<'_>, TryRecvError> {
        self.claim_with(None).map_err(try_recv_of)
    }

    /// Claims the oldest element, waiting up to `timeout` (as long as it
    /// takes when `None`).
    pub fn claim_timeout(&mut self, timeout: Option<Duration>) -> Result<RawReadClaim<'_>, RecvTimeoutError> {
        self.claim_with(wait_for(timeout))
    }

    fn claim_with(&mut self, wait: Option<Option<Duration>>) -> Result<RawReadClaim<'_>, RecvTimeoutError> {
        match self.r.claim_value_wait(wait, true) {
            Ok(pos) => Ok(RawReadClaim {
                r: self,
                pos,
                done: false,
            }),
            Err(None) => Err(RecvTimeoutError::Timeout),
            Err(Some(c)) => Err(c.recv_timeout()),
        }
    }
}

/// An element of a [`RawChannel`] borrowed in place; see [`ReadClaim`].
pub struct RawReadClaim<'a> {
    r: &'a mut RawReceiver,
    pos: u64,
    done: bool,
}

impl std::fmt::Debug for RawReadClaim<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawReadClaim").field("position", &self.pos).finish()
    }
}

impl RawReadClaim<'_> {
    /// The claimed position (free-running index).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Pointer to the element's `elem_size` bytes in the shared segment,
    /// valid until the claim is released or dropped.
    pub fn as_ptr(&self) -> *const u8 {
        self.r.r.shared.raw_elem(self.pos, self.r.off)
    }

    /// The element's bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the position is committed and claimed by this receiver:
        // the producer is done with it and no other consumer reads it.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.r.elem) }
    }

    /// Frees the slot; see [`ReadClaim::release`].
    pub fn release(mut self) -> Result<(), Corruption> {
        self.done = true;
        let r = self.r.r.take(self.pos).map(drop);
        self.r.r.finish();
        r
    }
}

impl Drop for RawReadClaim<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.r.r.take(self.pos);
            self.r.r.finish();
        }
    }
}

/// Creates an in-process MPMC ring on the heap (see
/// [`Channel::in_process`]) and attaches one sender and one receiver.
pub fn channel<T: Pod + Send>(capacity: usize) -> Result<(Sender<T>, Receiver<T>)> {
    let ch = Channel::in_process(capacity)?;
    Ok((ch.sender()?, ch.receiver()?))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wait::WaitStrategy;

    /// Waits sliced into 1 ms so that stall logic runs quickly.
    fn fast() -> WaitConfig {
        WaitConfig {
            strategy: WaitStrategy::Park,
            check_interval: Duration::from_millis(1),
        }
    }

    fn quick_stall(cap: usize) -> Channel<u64> {
        Builder::new()
            .capacity(cap)
            .endpoints(8)
            .stall_timeout(Duration::from_millis(5))
            .in_process()
            .unwrap()
    }

    #[test]
    fn fifo_full_empty_and_wrap() {
        let (mut tx, mut rx) = channel::<u32>(4).unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let mut next_in = 0u32;
        let mut next_out = 0u32;
        for round in 0..40 {
            for _ in 0..round % 6 {
                match tx.try_send(next_in) {
                    Ok(()) => next_in += 1,
                    Err(TrySendError::Full(v)) => {
                        assert_eq!(v, next_in);
                        break;
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
            for _ in 0..round % 4 {
                match rx.try_recv() {
                    Ok(v) => {
                        assert_eq!(v, next_out);
                        next_out += 1;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        while let Ok(v) = rx.try_recv() {
            assert_eq!(v, next_out);
            next_out += 1;
        }
        assert_eq!(next_in, next_out);
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        let s = Channel {
            shared: tx.shared.clone(),
            segment: None,
            _t: PhantomData::<fn(u32) -> u32>,
        }
        .stats();
        assert_eq!(
            (s.depth, s.sent, s.received),
            (4, u64::from(next_in) + 4, u64::from(next_out))
        );
    }

    #[test]
    fn batches_claim_ranges_and_wrap() {
        let ch = Channel::<u16>::in_process(8).unwrap();
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        assert_eq!(tx.try_send_slice(&[0, 1, 2, 3, 4, 5]), Ok(6));
        let mut out = [0; 4];
        assert_eq!(rx.try_recv_slice(&mut out), Ok(4));
        assert_eq!(out, [0, 1, 2, 3]);
        // Wraps around the end of the slot array; only 6 slots are free.
        assert_eq!(tx.try_send_slice(&[10, 11, 12, 13, 14, 15, 16, 17]), Ok(6));
        assert_eq!(tx.try_send_slice(&[99]), Err(TrySendError::Full(())));
        let mut out = [0; 16];
        assert_eq!(rx.try_recv_slice(&mut out), Ok(8));
        assert_eq!(&out[..8], &[4, 5, 10, 11, 12, 13, 14, 15]);
        assert_eq!(rx.try_recv_slice(&mut out), Err(TryRecvError::Empty));
        let items: Vec<u16> = (0..50).collect();
        let t = std::thread::spawn(move || {
            tx.send_slice(&items).unwrap();
        });
        let mut got = Vec::new();
        while got.len() < 50 {
            let n = rx.recv_slice(&mut out[..3]).unwrap();
            got.extend_from_slice(&out[..n]);
        }
        t.join().unwrap();
        assert_eq!(got, (0..50).collect::<Vec<u16>>());
        assert_eq!(rx.recv_slice(&mut out), Err(RecvError::Disconnected));
    }

    #[test]
    fn claims_commit_abort_and_read_in_place() {
        let ch = Channel::<u64>::in_process(4).unwrap();
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        let mut c = tx.try_claim().unwrap();
        *c = 7;
        assert_eq!(c.position(), 0);
        c.commit().unwrap();
        // A dropped claim becomes a tombstone that consumers pass over.
        let mut c = tx.try_claim().unwrap();
        c.write(666);
        drop(c);
        tx.try_send(8).unwrap();
        let r = rx.try_claim().unwrap();
        assert_eq!(*r, 7);
        r.release().unwrap();
        {
            let r = rx.claim_slot().unwrap();
            assert_eq!((*r, r.position()), (8, 2));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        // Only tombstones: still empty, and the slots are free again.
        drop(tx.try_claim().unwrap());
        drop(tx.claim_slot().unwrap());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        let s = ch.stats();
        assert_eq!((s.sent, s.received, s.aborted, s.lost, s.depth), (6, 2, 3, 0, 4));
    }

    #[test]
    fn disconnect_needs_an_attach_then_all_detached() {
        let ch = Channel::<u64>::in_process(4).unwrap();
        let mut rx = ch.receiver().unwrap();
        // No sender ever attached: waiting, not disconnected.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let mut a = ch.sender().unwrap();
        let mut b = ch.sender().unwrap();
        a.send(1).unwrap();
        drop(a);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "b is still attached");
        b.send(2).unwrap();
        drop(b);
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
        assert_eq!(rx.recv_slice(&mut [0; 2]), Err(RecvError::Disconnected));

        // Senders may fill the ring before a receiver attaches, and get
        // Disconnected once the last receiver left.
        let ch = Channel::<u64>::in_process(2).unwrap();
        let mut tx = ch.sender().unwrap();
        tx.try_send(1).unwrap();
        let rx1 = ch.receiver().unwrap();
        let rx2 = ch.receiver().unwrap();
        drop(rx1);
        tx.try_send(2).unwrap();
        drop(rx2);
        assert!(matches!(tx.try_send(3), Err(TrySendError::Disconnected(3))));
        assert!(matches!(tx.send(3), Err(SendError::Disconnected(3))));
        assert_eq!(tx.send_slice(&[1, 2]), Err(SendError::Disconnected(0)));
        let s = ch.stats();
        assert_eq!((s.senders, s.receivers), (1, 0));
    }

    #[test]
    fn endpoint_table_full_and_reuse() {
        let ch = Builder::new().capacity(2).endpoints(2).in_process::<u8>().unwrap();
        let tx = ch.sender().unwrap();
        let rx = ch.receiver().unwrap();
        assert!(matches!(ch.sender(), Err(Error::EndpointTableFull { capacity: 2, .. })));
        assert!(matches!(
            ch.receiver(),
            Err(Error::EndpointTableFull { capacity: 2, .. })
        ));
        drop(tx);
        let _tx2 = ch.sender().unwrap();
        drop(rx);
        let _rx2 = ch.receiver().unwrap();
        assert_eq!((ch.stats().senders, ch.stats().receivers), (1, 1));
    }

    #[test]
    fn dead_producer_claim_is_skipped_after_the_stall() {
        let ch = quick_stall(8);
        let mut rx = ch.receiver().unwrap();
        rx.set_wait_config(fast());
        let mut dead = ch.sender().unwrap();
        let mut live = ch.sender().unwrap();
        live.send(1).unwrap();
        let mut c = dead.try_claim().unwrap();
        *c = 0xdead;
        c.__crash();
        drop(dead);
        live.send(2).unwrap();
        live.send_slice(&[3, 4]).unwrap();
        assert_eq!(rx.recv(), Ok(1));
        // Position 1 is held by the dead claim: skipped, not delivered.
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.recv(), Ok(3));
        assert_eq!(rx.recv(), Ok(4));
        drop(live);
        // The dead sender never detached: PeerDied (with our pid), not
        // Disconnected.
        let me = std::process::id();
        assert_eq!(rx.recv(), Err(RecvError::PeerDied { pid: me }));
        let s = ch.stats();
        assert_eq!((s.sent, s.received, s.lost_sends, s.lost), (4, 4, 1, 1));
        // A new sender takes over the dead one's entry and its count.
        let mut tx = ch.sender().unwrap();
        tx.send(5).unwrap();
        drop(tx);
        assert_eq!(rx.recv(), Ok(5));
        assert_eq!(rx.recv(), Err(RecvError::PeerDied { pid: me }));
    }

    #[test]
    fn claim_of_producer_dead_inside_its_commit_is_skipped_after_two_stalls() {
        let ch = quick_stall(8);
        let mut rx = ch.receiver().unwrap();
        rx.set_wait_config(fast());
        let mut dead = ch.sender().unwrap();
        let mut live = ch.sender().unwrap();
        let mut c = dead.try_claim().unwrap();
        *c = 0xdead;
        // Died after announcing its commit: the consumer cannot tell it
        // from a live holder about to store, so it waits a second stall.
        c.__crash_in_commit();
        drop(dead);
        live.send(2).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(20)), Ok(2));
        let s = ch.stats();
        assert_eq!((s.sent, s.received, s.lost_sends), (1, 1, 1));
    }

    #[test]
    fn claim_of_consumer_dead_inside_its_release_is_freed() {
        let ch = quick_stall(2);
        let mut tx = ch.sender().unwrap();
        tx.set_wait_config(fast());
        let mut dead = ch.receiver().unwrap();
        let mut rx = ch.receiver().unwrap();
        tx.send(0).unwrap();
        tx.send(1).unwrap();
        let r = dead.try_claim().unwrap();
        assert_eq!(*r, 0);
        r.__crash_in_release();
        drop(dead);
        // The slot of position 0 is freed after the stalls.
        tx.send_timeout(2, Duration::from_secs(20)).unwrap();
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(ch.stats().lost_recvs, 1);
    }

    #[test]
    fn fenced_endpoint_commits_by_cas() {
        // A sender judged dead while holding a claim, but alive: the
        // consumer skips the claim; the sender's late commit is refused,
        // and its next claims still commit (by CAS, as it is fenced).
        let ch = quick_stall(4);
        let mut rx = ch.receiver().unwrap();
        rx.set_wait_config(fast());
        let mut tx = ch.sender().unwrap();
        let mut other = ch.sender().unwrap();
        let mut c = tx.try_claim().unwrap();
        *c = 7;
        c.__mark_dead();
        other.send(8).unwrap();
        assert_eq!(rx.recv(), Ok(8));
        assert!(c.commit().is_err());
        assert_eq!(ch.stats().lost_sends, 1);
        let e = &ch.shared.entry(tx.index).words;
        assert_eq!(e[W_FENCE].load(Ordering::Relaxed), tx.pid);
        tx.send(9).unwrap();
        assert_eq!(rx.recv(), Ok(9));
    }

    #[test]
    fn fenced_endpoints_send_and_receive_batches_by_cas() {
        // Batches of endpoints whose fence names them (judged dead once,
        // still running) commit and release every slot by CAS, from the last
        // to the first; lap after lap, nothing is lost or reordered.
        let ch = Channel::<u64>::in_process(4).unwrap();
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        ch.shared.entry(tx.index).words[W_FENCE].store(tx.pid, Ordering::Relaxed);
        ch.shared.entry(rx.index).words[W_FENCE].store(rx.pid, Ordering::Relaxed);
        let mut buf = [0u64; 4];
        for lap in 0..5u64 {
            let items: Vec<u64> = (lap * 3..lap * 3 + 3).collect();
            assert_eq!(tx.try_send_slice(&items), Ok(3), "lap {lap}");
            assert_eq!(rx.try_recv_slice(&mut buf), Ok(3), "lap {lap}");
            assert_eq!(&buf[..3], &items[..]);
        }
        let s = ch.stats();
        assert_eq!((s.sent, s.received, s.lost), (15, 15, 0));
    }

    #[test]
    fn a_lost_fast_claim_leaves_no_record() {
        let ch = Channel::<u64>::in_process(4).unwrap();
        let _rx = ch.receiver().unwrap();
        let tx = ch.sender().unwrap();
        let sh = &tx.shared;
        let start = |sh: &Shared<u64>| sh.entry(tx.index).words[W_SEND_START].load(Ordering::Relaxed);
        // Another producer claimed position 0 first: our CAS loses, and
        // the record of position 0 must not stay behind (it would make a
        // dead claimant of 0 look alive).
        sh.ctl().tail.store(1, Ordering::Relaxed);
        assert!(!sh.claim_single(tx.index, Side::Send, 0));
        assert_eq!(start(sh), 0);
        assert!(sh.claim_single(tx.index, Side::Send, 1));
        assert_eq!(start(sh), 2);
        assert_eq!(sh.ctl().tail.load(Ordering::Relaxed), 2);
    }

    /// The `seq` of position `p`'s slot.
    fn seq_of(ch: &Channel<u64>, p: u64) -> u64 {
        ch.shared.slot(p).seq.load(Ordering::Relaxed)
    }

    #[test]
    fn a_receiver_defers_its_releases_and_flushes_them_in_groups() {
        let ch = Channel::<u64>::in_process(64).unwrap();
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        for i in 0..40 {
            tx.try_send(i).unwrap();
        }
        for i in 0..20 {
            assert_eq!(rx.try_recv(), Ok(i));
        }
        // Read and released: the first group of DEFER_GROUP positions.
        for p in 0..DEFER_GROUP {
            assert_eq!(seq_of(&ch, p), p + 64, "position {p}");
        }
        // Read, not released yet: the rest, published as our range.
        for p in DEFER_GROUP..20 {
            assert_eq!(seq_of(&ch, p), p + 1, "position {p}");
        }
        let w = &ch.shared.entry(rx.index).words;
        assert_eq!(w[W_DEFER_LO].load(Ordering::Relaxed), DEFER_GROUP);
        assert_eq!(w[W_DEFER_HI].load(Ordering::Relaxed), 20);
        // Dropping the receiver releases them.
        drop(rx);
        for p in DEFER_GROUP..20 {
            assert_eq!(seq_of(&ch, p), p + 64, "position {p}");
        }
        assert_eq!(ch.stats().depth, 20);
    }

    #[test]
    fn a_full_ring_with_deferred_releases_still_takes_exactly_its_capacity() {
        // The receiver read one element and went idle with its release
        // deferred: the sender completes it, so `Full` still means
        // `capacity` unread elements.
        let ch = Channel::<u64>::in_process(4).unwrap();
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(seq_of(&ch, 0), 1, "the release is deferred");
        tx.try_send(4).unwrap();
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        for i in 1..5 {
            assert_eq!(rx.try_recv(), Ok(i));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let st = ch.stats();
        assert_eq!((st.sent, st.received, st.lost_recvs), (5, 5, 0));
    }

    #[test]
    fn an_idle_receivers_deferred_releases_do_not_stop_the_others() {
        let ch = Channel::<u64>::in_process(4).unwrap();
        let mut tx = ch.sender().unwrap();
        let mut idle = ch.receiver().unwrap();
        let mut busy = ch.receiver().unwrap();
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(idle.try_recv(), Ok(0));
        // `idle` never receives again; `busy` goes on through many laps.
        for i in 1..100 {
            assert_eq!(busy.try_recv(), Ok(i));
            tx.try_send(i + 3).unwrap();
        }
        assert_eq!(ch.stats().lost_recvs, 0);
    }

    #[test]
    fn a_sender_asleep_on_a_full_ring_gets_the_deferred_slots() {
        let ch = Channel::<u64>::in_process(2).unwrap();
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        tx.set_wait_config(WaitConfig {
            strategy: WaitStrategy::Park,
            ..WaitConfig::default()
        });
        tx.send(0).unwrap();
        tx.send(1).unwrap();
        let t = std::thread::spawn(move || {
            // Blocks until the receiver reads: then takes the slot whose
            // release the receiver deferred.
            tx.send(2).unwrap();
            tx.send(3).unwrap();
        });
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(rx.recv(), Ok(0));
        assert_eq!(rx.recv(), Ok(1));
        // Reads nothing more until the sender is done: the sender must
        // not wait for us.
        t.join().unwrap();
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.recv(), Ok(3));
    }

    #[test]
    fn a_dead_receivers_deferred_reads_are_freed_and_not_lost() {
        let ch = Builder::new().capacity(4).endpoints(2).in_process::<u64>().unwrap();
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(rx.try_recv(), Ok(1));
        let index = rx.index;
        rx.__crash();
        // Freed at once by the sender that needs them: no stall, no loss.
        tx.try_send(4).unwrap();
        assert_eq!(seq_of(&ch, 1), 5, "the whole range was freed");
        assert_eq!(ch.stats().lost_recvs, 0);
        // A receiver taking the dead one's entry over starts clean.
        let mut rx2 = ch.receiver().unwrap();
        assert_eq!(rx2.index, index);
        tx.try_send(5).unwrap();
        for i in 2..6 {
            assert_eq!(rx2.try_recv(), Ok(i));
        }
        assert_eq!(ch.stats().lost_recvs, 0);
    }

    #[test]
    fn taking_over_a_dead_receivers_entry_frees_its_range() {
        let ch = Builder::new().capacity(4).endpoints(2).in_process::<u64>().unwrap();
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        for i in 0..3 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(rx.try_recv(), Ok(1));
        rx.__crash();
        assert_eq!(seq_of(&ch, 1), 2, "deferred");
        let _rx2 = ch.receiver().unwrap();
        assert_eq!((seq_of(&ch, 0), seq_of(&ch, 1)), (4, 5));
    }

    #[test]
    fn stall_clock_restarts_at_a_new_position() {
        let stall = Duration::from_secs(3);
        let mut p = Pacer::new();
        p.stuck(5);
        p.stuck_since = Instant::now().checked_sub(Duration::from_secs(10));
        assert!(p.stall_expired(stall));
        // Still stalled at the same position: the clock keeps running.
        p.stuck(5);
        assert!(p.stall_expired(stall));
        // Stalled at a later position: the handle made progress meanwhile
        // (on the fast path, which does not touch the clock).
        p.stuck(6);
        assert!(!p.stall_expired(stall));
    }

    #[test]
    fn batch_skips_tombstones_and_counts_them() {
        // A dropped claim in the middle of a batch is passed over, its slot
        // released with the others.
        let ch = Channel::<u64>::in_process(8).unwrap();
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        tx.send(1).unwrap();
        drop(tx.try_claim().unwrap());
        tx.send(2).unwrap();
        let mut buf = [0u64; 8];
        assert_eq!(rx.recv_slice(&mut buf), Ok(2));
        assert_eq!(&buf[..2], &[1, 2]);
        let s = ch.stats();
        assert_eq!((s.aborted, s.received), (1, 2));
        // Every slot of the batch was released: a whole lap fits again.
        assert_eq!(tx.try_send_slice(&[0; 8]), Ok(8));
    }

    #[test]
    fn live_slow_producer_is_never_skipped() {
        let ch = quick_stall(4);
        let mut rx = ch.receiver().unwrap();
        rx.set_wait_config(fast());
        let mut slow = ch.sender().unwrap();
        let mut other = ch.sender().unwrap();
        let mut c = slow.try_claim().unwrap();
        other.send(2).unwrap();
        // Far beyond the stall timeout: the claimant is alive, so wait.
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(30)),
            Err(RecvTimeoutError::Timeout)
        );
        *c = 1;
        c.commit().unwrap();
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(ch.stats().lost, 0);
    }

    #[test]
    fn late_commit_into_a_skipped_slot_is_refused() {
        let ch = quick_stall(4);
        let mut rx = ch.receiver().unwrap();
        rx.set_wait_config(fast());
        let mut tx = ch.sender().unwrap();
        let mut c = tx.try_claim().unwrap();
        c.__mark_dead();
        *c = 77;
        // The receiver skips the "dead" claim, then finds the ring empty
        // with no live sender.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(RecvTimeoutError::PeerDied {
                pid: std::process::id()
            })
        );
        let e = c.commit().unwrap_err();
        assert_eq!((e.offset, e.what), (0, SKIPPED));
        assert_eq!(
            rx.try_recv(),
            Err(TryRecvError::PeerDied {
                pid: std::process::id()
            })
        );
        assert_eq!(ch.stats().lost_sends, 1);
    }

    #[test]
    fn dead_consumer_claim_is_freed_after_the_stall() {
        let ch = quick_stall(2);
        let mut tx = ch.sender().unwrap();
        tx.set_wait_config(fast());
        let mut dead = ch.receiver().unwrap();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let r = dead.try_claim().unwrap();
        assert_eq!(*r, 1);
        r.__crash();
        drop(dead);
        // With no live receiver the full ring is PeerDied...
        let me = std::process::id();
        assert!(matches!(tx.try_send(3), Err(TrySendError::PeerDied { pid, .. }) if pid == me));
        let mut rx = ch.receiver().unwrap();
        // ...with one, slot 0 (held by the dead consumer) is freed after the
        // stall expires.
        tx.send_timeout(3, Duration::from_secs(10)).unwrap();
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Ok(3));
        let s = ch.stats();
        assert_eq!((s.lost_recvs, s.sent, s.received), (1, 3, 2));
    }

    #[test]
    fn late_release_of_a_reclaimed_slot_is_refused() {
        let ch = quick_stall(2);
        let mut tx = ch.sender().unwrap();
        tx.set_wait_config(fast());
        let mut rx = ch.receiver().unwrap();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let _other = ch.receiver().unwrap();
        let r = rx.try_claim().unwrap();
        r.__mark_dead();
        assert_eq!(*r, 1);
        tx.send_timeout(3, Duration::from_secs(10)).unwrap();
        let e = r.release().unwrap_err();
        assert_eq!((e.offset, e.what), (0, RECLAIMED));
    }

    #[test]
    fn all_receivers_dead_is_peer_died_when_full() {
        let ch = quick_stall(2);
        let mut tx = ch.sender().unwrap();
        tx.set_wait_config(fast());
        let rx = ch.receiver().unwrap();
        tx.send(1).unwrap();
        rx.__crash();
        tx.send(2).unwrap();
        let me = std::process::id();
        assert!(matches!(tx.send(3), Err(SendError::PeerDied { value: 3, pid }) if pid == me));
    }

    #[test]
    fn timeouts() {
        let (mut tx, mut rx) = channel::<u64>(2).unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert!(matches!(
            tx.send_timeout(3, Duration::from_millis(5)),
            Err(SendTimeoutError::Timeout(3))
        ));
    }

    #[test]
    fn corrupt_shared_words_are_errors_not_hangs() {
        let ch = Channel::<u64>::in_process(4).unwrap();
        let mut tx = ch.sender().unwrap();
        let mut rx = ch.receiver().unwrap();
        let sh = &ch.shared;
        // A slot claims to be far ahead of tail / head.
        sh.slot(0).seq.store(1000, Ordering::Relaxed);
        assert!(matches!(tx.try_send(1), Err(TrySendError::Corrupt { value: 1, .. })));
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Corrupt { .. })));
        sh.slot(0).seq.store(0, Ordering::Relaxed);
        // Indices out of range.
        sh.ctl().tail.store(u64::MAX, Ordering::Relaxed);
        assert!(matches!(tx.try_send(1), Err(TrySendError::Corrupt { .. })));
        sh.ctl().tail.store(0, Ordering::Relaxed);
        sh.ctl().head.store(SKIP + 5, Ordering::Relaxed);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Corrupt { .. })));
        sh.ctl().head.store(0, Ordering::Relaxed);
        tx.try_send(5).unwrap();
        assert_eq!(rx.try_recv(), Ok(5));
    }

    #[test]
    fn threads_mpmc_no_loss_no_duplicate_per_producer_order() {
        let ch = Channel::<u64>::in_process(8).unwrap();
        let n: u64 = if cfg!(miri) { 40 } else { 20_000 };
        let producers: Vec<_> = (0..2u64)
            .map(|id| {
                let mut tx = ch.sender().unwrap();
                std::thread::spawn(move || {
                    let mut i = 0;
                    while i < n {
                        if i % 3 == 0 && i + 2 < n {
                            tx.send_slice(&[id << 32 | i, id << 32 | (i + 1)]).unwrap();
                            i += 2;
                        } else {
                            tx.send(id << 32 | i).unwrap();
                            i += 1;
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|k| {
                let mut rx = ch.receiver().unwrap();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut buf = [0u64; 3];
                    loop {
                        let r = if k == 0 {
                            rx.recv().map(|v| {
                                got.push(v);
                            })
                        } else {
                            rx.recv_slice(&mut buf).map(|m| got.extend_from_slice(&buf[..m]))
                        };
                        if r.is_err() {
                            assert_eq!(r, Err(RecvError::Disconnected));
                            return got;
                        }
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        let mut all = Vec::new();
        for c in consumers {
            let got = c.join().unwrap();
            for id in 0..2u64 {
                let mine: Vec<u64> = got.iter().filter(|v| *v >> 32 == id).copied().collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "per-producer order");
            }
            all.extend(got);
        }
        all.sort_unstable();
        let want: Vec<u64> = (0..2u64).flat_map(|id| (0..n).map(move |i| id << 32 | i)).collect();
        assert_eq!(all, want);
    }

    #[test]
    fn bad_arguments() {
        assert!(matches!(Channel::<u64>::in_process(0), Err(Error::InvalidArgument(_))));
        assert!(matches!(Channel::<u64>::in_process(1), Err(Error::InvalidArgument(_))));
        assert!(matches!(Channel::<u64>::in_process(6), Err(Error::InvalidArgument(_))));
        assert!(matches!(
            Builder::new().endpoints(0).in_process::<u64>(),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn named_segment_shares_state_and_checks_type() {
        let name = format!("/shmlane-mpmc-unit-{}", std::process::id());
        let ch = Builder::new()
            .capacity(8)
            .endpoints(5)
            .stall_timeout(Duration::from_millis(250))
            .create::<u64>(&name)
            .unwrap();
        let other = Channel::<u64>::open(&name).unwrap();
        assert_eq!(other.stall_timeout(), Duration::from_millis(250));
        assert_eq!(other.endpoint_capacity(), 5);
        assert!(matches!(Channel::<u32>::open(&name), Err(Error::TypeMismatch { .. })));
        assert!(matches!(
            crate::spsc::Channel::<u64>::open(&name),
            Err(Error::KindMismatch { .. })
        ));
        let mut tx = ch.sender().unwrap();
        let mut rx = other.receiver().unwrap();
        tx.send_slice(&[1, 2, 3]).unwrap();
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(other.stats().sent, 3);
        assert_eq!(ch.stats().received, 1);
        crate::segment::unlink(&name).unwrap();
        let anon = Builder::new().capacity(4).anonymous::<u64>().unwrap();
        let mut tx = anon.sender().unwrap();
        tx.send(9).unwrap();
        assert_eq!(anon.receiver().unwrap().recv(), Ok(9));
    }

    /// A 24-byte element aligned to 8 (slot: seq + 24 bytes = 32), and one
    /// aligned to 16 (slot: 16 + 16 = 32, element at 16).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    struct Three([u64; 3]);

    #[repr(C, align(16))]
    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    struct Wide([u64; 2]);

    #[test]
    #[cfg_attr(miri, ignore)]
    fn raw_rings_share_segments_with_typed_rings() {
        let name = format!("/shmlane-mpmc-raw-{}", std::process::id());
        let b = Builder::new().capacity(4).endpoints(6);
        let raw = RawChannel::create(&b, &name, 24, 8).unwrap();
        let typed = Channel::<Three>::open(&name).unwrap();
        assert!(matches!(
            RawChannel::open(&b, &name, Some(16)),
            Err(Error::TypeMismatch { .. })
        ));
        let again = RawChannel::open(&b, &name, Some(24)).unwrap();
        assert_eq!((again.elem_size(), again.capacity()), (24, 4));
        crate::segment::unlink(&name).unwrap();

        let (mut rtx, mut rrx) = (raw.sender().unwrap(), raw.receiver().unwrap());
        let (mut ttx, mut trx) = (typed.sender().unwrap(), typed.receiver().unwrap());
        let bytes = |v: u64| -> Vec<u8> { [v, v + 1, v + 2].iter().flat_map(|x| x.to_le_bytes()).collect() };
        // Raw -> typed, one and a batch (the batch is cut at the ring's room).
        rtx.try_send(&bytes(1)).unwrap();
        let batch: Vec<u8> = (10..15).flat_map(|v| bytes(v * 10)).collect();
        assert_eq!(rtx.try_send_slice(&batch), Ok(3));
        assert_eq!(rtx.try_send(&bytes(0)), Err(TrySendError::Full(())));
        assert_eq!(trx.try_recv(), Ok(Three([1, 2, 3])));
        let mut out = [Three([0; 3]); 4];
        assert_eq!(trx.try_recv_slice(&mut out), Ok(3));
        assert_eq!(out[2], Three([120, 121, 122]));
        // Typed -> raw, by copy, batch and in place; an aborted claim is passed over.
        ttx.send_slice(&[Three([7, 8, 9]), Three([4, 5, 6])]).unwrap();
        drop(rtx.try_claim().unwrap());
        let mut c = rtx.try_claim().unwrap();
        c.as_mut_slice().copy_from_slice(&bytes(40));
        c.commit().unwrap();
        let mut one = [0u8; 24];
        rrx.try_recv(&mut one).unwrap();
        assert_eq!(one[..], bytes(7)[..]);
        let r = rrx.try_claim().unwrap();
        assert_eq!(r.as_slice(), &bytes(4)[..]);
        r.release().unwrap();
        let mut many = [0u8; 24 * 3];
        assert_eq!(rrx.recv_slice_timeout(&mut many, Some(Duration::from_secs(5))), Ok(1));
        assert_eq!(many[..24], bytes(40)[..]);
        assert_eq!(rrx.try_recv(&mut one), Err(TryRecvError::Empty));
        assert_eq!(
            rrx.recv_timeout(&mut one, Some(Duration::from_millis(1))),
            Err(RecvTimeoutError::Timeout)
        );
        let st = raw.stats();
        assert_eq!((st.sent, st.received, st.aborted, st.depth), (7, 7, 1, 0));
        // Disconnection reaches raw receivers as for typed ones.
        drop((rtx, ttx));
        assert_eq!(rrx.try_recv(&mut one), Err(TryRecvError::Disconnected));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn raw_fast_calls_take_only_the_common_case_and_leave_the_rest() {
        let raw = RawChannel::anonymous(&Builder::new().capacity(4), 8, 8).unwrap();
        let mut tx = raw.sender().unwrap();
        let mut out = [0u8; 8];
        let b = |v: u64| v.to_le_bytes();
        // No receiver attached yet: the fast send does nothing; the rest of
        // `try_send` keeps the element for the first receiver.
        assert_eq!(tx.send_fast(&b(7)), Ok(false));
        tx.try_send_after_fast(&b(7)).unwrap();
        let mut rx = raw.receiver().unwrap();
        assert_eq!(rx.recv_fast(&mut out), Ok(true));
        assert_eq!(u64::from_le_bytes(out), 7);
        // Empty: nothing received, nothing claimed.
        assert_eq!(rx.recv_fast(&mut out), Ok(false));
        // A tombstone at head: the fast receive leaves it (and the element
        // behind it) to `try_recv`, which passes over it.
        drop(tx.try_claim().unwrap());
        assert_eq!(tx.send_fast(&b(1)), Ok(true));
        assert_eq!(rx.recv_fast(&mut out), Ok(false));
        rx.try_recv_after_fast(&mut out).unwrap();
        assert_eq!(u64::from_le_bytes(out), 1);
        // Filling the ring: the fast send stops at the first slot that is
        // not free, here one the receiver read without releasing it yet
        // (deferred releases); `try_send` completes that release and goes
        // on until `capacity` elements are unread.
        let (mut sent, mut v) = (Vec::new(), 10);
        while tx.send_fast(&b(v)) == Ok(true) {
            sent.push(v);
            v += 1;
        }
        assert!(sent.len() < 4, "{sent:?}");
        loop {
            match tx.try_send_after_fast(&b(v)) {
                Ok(()) => sent.push(v),
                Err(TrySendError::Full(())) => break,
                Err(e) => panic!("{e:?}"),
            }
            v += 1;
        }
        assert_eq!(sent, [10, 11, 12, 13]);
        assert_eq!(raw.stats().depth, 4);
        assert_eq!(tx.send_fast(&b(v)), Ok(false));
        assert_eq!(
            tx.send_timeout_after_fast(&b(v), Some(Duration::from_millis(1))),
            Err(SendTimeoutError::Timeout(()))
        );
        for (k, &v) in sent.iter().enumerate() {
            if k % 2 == 0 {
                assert_eq!(rx.recv_fast(&mut out), Ok(true));
            } else {
                rx.try_recv(&mut out).unwrap();
            }
            assert_eq!(u64::from_le_bytes(out), v);
        }
        assert_eq!(rx.recv_fast(&mut out), Ok(false));
        assert_eq!(rx.try_recv_after_fast(&mut out), Err(TryRecvError::Empty));
        assert_eq!(
            rx.recv_timeout_after_fast(&mut out, Some(Duration::from_millis(1))),
            Err(RecvTimeoutError::Timeout)
        );
        // An element sent while the receiver waits is received by a poll.
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                assert_eq!(tx.send_fast(&b(99)), Ok(true));
            });
            assert_eq!(
                rx.recv_timeout_after_fast(&mut out, Some(Duration::from_secs(30))),
                Ok(())
            );
        });
        assert_eq!(u64::from_le_bytes(out), 99);
        let st = raw.stats();
        assert_eq!((st.sent, st.received, st.aborted, st.depth), (7, 7, 1, 0));
        // The senders gone and the ring drained: disconnected, as from the
        // whole `try_recv` / `recv_timeout`.
        drop(tx);
        assert_eq!(rx.recv_fast(&mut out), Ok(false));
        assert_eq!(rx.try_recv_after_fast(&mut out), Err(TryRecvError::Disconnected));
        assert_eq!(
            rx.recv_timeout_after_fast(&mut out, None),
            Err(RecvTimeoutError::Disconnected)
        );
        // And the other way: no receiver left.
        let mut tx = raw.sender().unwrap();
        drop(rx);
        assert_eq!(tx.send_fast(&b(1)), Ok(false));
        assert_eq!(tx.try_send_after_fast(&b(1)), Err(TrySendError::Disconnected(())));
        assert_eq!(
            tx.send_timeout_after_fast(&b(1), None),
            Err(SendTimeoutError::Disconnected(()))
        );
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn raw_rings_with_wide_alignment_and_bad_arguments() {
        let b = Builder::new().capacity(8);
        let raw = RawChannel::anonymous(&b, 16, 16).unwrap();
        let fd = raw.segment().unwrap().inheritable_fd().unwrap();
        let typed = Builder::new().from_fd::<Wide>(fd).unwrap();
        let mut tx = typed.sender().unwrap();
        let mut rx = raw.receiver().unwrap();
        for i in 0..20u64 {
            tx.send(Wide([i, !i])).unwrap();
            let c = rx.try_claim().unwrap();
            assert_eq!(c.as_ptr() as usize % 16, 0);
            assert_eq!(c.as_slice()[..8], i.to_le_bytes());
            if i % 2 == 0 {
                c.release().unwrap();
            } else {
                drop(c);
            }
        }
        let fd = raw.segment().unwrap().inheritable_fd().unwrap();
        assert!(matches!(
            RawChannel::from_fd(&b, fd, Some(8)),
            Err(Error::TypeMismatch { .. })
        ));
        for (size, align) in [(0, 8), (12, 8), (8, 3), (256, 256)] {
            assert!(
                matches!(RawChannel::anonymous(&b, size, align), Err(Error::InvalidArgument(_))),
                "{size}/{align}"
            );
        }
        assert!(matches!(
            RawChannel::anonymous(&Builder::new().capacity(3), 8, 8),
            Err(Error::InvalidArgument(_))
        ));
    }
}
