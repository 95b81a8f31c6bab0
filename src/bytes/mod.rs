//! Rings of variable-length byte messages, zero-copy on both sides.
//!
//! # Kinds shipped
//! All three byte kinds, with one API ([`Channel`], [`Producer`],
//! [`Consumer`]; the kind is chosen at creation with [`Builder::kind`]):
//! - [`Kind::Bytes`]: one producer, one consumer (the fastest: no
//!   read-modify-write on the data path).
//! - [`Kind::BytesMpsc`]: many producers (threads or processes), one
//!   consumer.
//! - [`Kind::BytesMpmc`]: many producers and competing consumers; each
//!   message goes to exactly one consumer. Consumers take messages in
//!   order and release them in any order; a consumer that holds a message
//!   in place holds back the space behind it (not the other consumers).
//!
//! # Framing
//! The data area is `capacity` bytes (a power of two, at least
//! [`MIN_CAPACITY`]). Positions are free-running `u64` byte indices; the
//! byte of position `p` is at offset `p & (capacity - 1)`. A record starts
//! on an 8-byte boundary with a 16-byte header:
//!
//! ```text
//! offset  size  field
//!      0     8  stamp   the record's own position | 1 (u64), stored last
//!      8     4  len     payload bytes (message), or bytes after the header to skip (padding)
//!     12     4  type    the sender's type word, or PADDING_TYPE (u32::MAX)
//!     16   len  payload, then 0-7 bytes of alignment
//! ```
//!
//! A record never wraps: when a message does not fit before the end of the
//! area, the producer claims the rest of the area as well and fills it with
//! a *padding record* (type [`PADDING_TYPE`]), as Agrona's ring buffers do,
//! so every message is one contiguous slice. When fewer than 16 bytes are
//! left (exactly 8, since everything is 8-aligned) no header fits; both
//! sides then treat those 8 bytes as implicit padding. A claim that is
//! given up (a [`Grant`] dropped without commit) becomes a padding record
//! too, skipped by the consumer.
//!
//! The stamp makes a record's header self-identifying: a header left over
//! from an earlier lap holds an older position, and zeroed memory holds no
//! stamp at all (positions are 8-aligned, stamps odd), so a consumer never
//! mistakes stale bytes for a new record, and nothing has to be zeroed
//! after reading (Agrona zeroes consumed records instead).
//!
//! # Indices and publication
//! The control block holds `tail`, `head` and (MPMC) `read` (byte
//! positions), two futex [`WaitWord`]s and the
//! stall timeout (offsets: the `BYTES_*_OFFSET` constants).
//! `head <= tail <= head + capacity` always; `[head, tail)` belongs to the
//! consumer side, the rest of the area to the producers.
//!
//! - **SPSC** (Lamport/rtrb, with cached indices as in [`crate::spsc`]):
//!   `tail` is stored only by the producer, with Release, after the record
//!   and any padding are written; the consumer's Acquire load of `tail`
//!   makes all of `[head, tail)` readable. Stamps are written but only
//!   checked (a stamp that does not match is [`Corruption`]). A producer
//!   may write several records before one store of `tail` (held commits,
//!   [`Grant::commit_held`] and [`Producer::flush`]: one hand-off and at
//!   most one wake-up per batch, each message still its own record).
//! - **MPSC** (claim then publish, as Agrona's `ManyToOneRingBuffer`):
//!   `tail` is the *claim* index, advanced by compare-and-swap. A record is
//!   published by a Release store of its own stamp; the consumer reads the
//!   stamp at `head` with Acquire and waits while it is not `head`. A wrap
//!   padding is published after its record, so a consumer that sees the
//!   padding also sees the record behind it.
//! - The consumer frees space with a Release store of `head` after it is
//!   done with the bytes; producers load `head` with Acquire before they
//!   reuse them.
//!
//! - **MPMC consumers** share a `read` index (`head <= read <= tail`). A
//!   consumer *takes* the record at `read` by compare-and-swap of its
//!   stamp from `position | 1` to `position | 3` ([`taken_of`]), so that
//!   only the owner reads its header; it then extends the take over the
//!   published records behind it (up to the batch size) and moves `read`
//!   past them with one Release store. Others that find the taken stamp
//!   wait for that store (a few instructions). A consumer releases its run
//!   by storing the run's extent (even: never a stamp) into the run's
//!   first stamp word, a *done marker*, and then moves `head` over every
//!   consecutive released run; the done-marker store and the head CAS are
//!   each followed by a `fence(SeqCst)` before the other side's word is
//!   read (a Dekker pair), so a released run is never stranded.
//!
//! # Crashes
//! - **MPSC/MPMC producers**: before its compare-and-swap, a producer
//!   writes the claim it is about to make (position | `PENDING`, size) into
//!   its endpoint entry's words; after winning it marks the claim
//!   `CONFIRMED`; a producer that gives up an attempt clears it. When the
//!   record at the read position stays unpublished for the stall timeout
//!   ([`Builder::stall_timeout`]), the consumer looks at the producers'
//!   claims there: if the claimant is alive it keeps waiting; if it is
//!   dead, the claimed extent is skipped and counted in [`Stats::lost`]. A
//!   dead claim is never delivered, so it is never torn. (Two producers
//!   dying in the same few instructions around one compare-and-swap leave
//!   two unconfirmed claims of different sizes at one position; that cannot
//!   be resolved and is reported as corruption.)
//! - **SPSC producer**: one that dies mid-claim published nothing: the
//!   consumer drains what was committed and reports
//!   [`RecvError::PeerDied`].
//! - **MPMC consumers** announce their takes in their entry words the same
//!   way (position, size). A consumer that dies holding records blocks the
//!   space behind them; a producer that finds the ring full, or a consumer
//!   that finds it empty, checks (at most once per check interval) whether
//!   the holder at `head` (or a taker stuck at `read`) is dead, and if so
//!   releases its records, counted as lost: at-most-once for the messages
//!   a dead consumer was given.
//! - **SPSC/MPSC consumer**: a new consumer continues from `head`;
//!   messages the dead one was reading in place are delivered again.
//!
//! # Untrusted memory
//! Every header is read once into locals and validated before use: a
//! stamp that does not match in SPSC, a length above `max_message`, a
//! padding that is not 8-aligned or runs past the end of the area, a record
//! that runs past `tail`, `tail - head > capacity`: each is
//! [`Corruption`] naming the offset in the data area (or the index value),
//! never an out-of-bounds slice, a panic or an unbounded loop.
//!
//! # Endpoint table
//! SPSC/MPSC: entry 0 is the consumer; producers use entries 1.. (one for
//! SPSC, [`Builder::endpoints`]` - 1` for MPSC). MPMC: producers and
//! consumers take any entry; the entry's `state` word keeps a bit per role
//! it was ever attached in, so that "every producer came and went" is not
//! forgotten when a consumer reuses a producer's entry. The words of each
//! entry carry its counters and the claim in flight (see the `WORD_*`
//! constants; the C header mirrors them).
//!
//! Disconnection: a consumer sees `Disconnected` once the ring is drained
//! and every producer that attached has detached (`PeerDied` if one died).
//! SPSC/MPSC producers see `Disconnected` as soon as the consumer is gone;
//! MPMC producers do not scan the table on every send, so they see it when
//! the ring is full.
//!
//! # Example
//! ```
//! use shmlane::bytes::{self, Builder};
//! use shmlane::layout::Kind;
//!
//! let ch = Builder::new().kind(Kind::BytesMpsc).anonymous(4096)?;
//! let mut tx = ch.producer()?;
//! let mut rx = ch.consumer()?;
//!
//! // Copying send and receive.
//! tx.send(b"hello").unwrap();
//! let mut buf = Vec::new();
//! rx.recv(&mut buf).unwrap();
//! assert_eq!(buf, b"hello");
//!
//! // Zero-copy: write in place, then read in place.
//! let mut grant = tx.claim(5).unwrap();
//! grant.copy_from_slice(b"world");
//! grant.set_type(7);
//! grant.commit();
//! let rec = rx.read().unwrap();
//! assert_eq!((&rec[..], rec.msg_type()), (&b"world"[..], 7));
//! drop(rec); // releases the space
//!
//! drop(tx);
//! assert_eq!(rx.try_recv(&mut buf), Err(shmlane::TryRecvError::Disconnected));
//! # Ok::<(), shmlane::Error>(())
//! ```
//!
//! Competing consumers (MPMC): each message goes to one of them.
//! ```
//! use shmlane::bytes::Builder;
//! use shmlane::layout::Kind;
//!
//! let ch = Builder::new().kind(Kind::BytesMpmc).in_process(1 << 16)?;
//! let workers: Vec<_> = (0..2)
//!     .map(|_| {
//!         let mut rx = ch.consumer().unwrap();
//!         std::thread::spawn(move || {
//!             let mut n = 0;
//!             while let Ok(batch) = rx.read_batch(16) {
//!                 n += batch.len();
//!             }
//!             n // the loop ends with Disconnected
//!         })
//!     })
//!     .collect();
//! let mut tx = ch.producer()?;
//! for i in 0..1000u32 {
//!     tx.send(&i.to_le_bytes()).unwrap();
//! }
//! drop(tx);
//! let total: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
//! assert_eq!(total, 1000);
//! # Ok::<(), shmlane::Error>(())
//! ```

mod consumer;
mod producer;
mod ring;
#[cfg(all(test, not(loom)))]
mod tests;

pub use consumer::{Batch, BatchIter, BatchRecord, Consumer, Record};
pub use producer::{Grant, Producer};

use crate::endpoint::EndpointCounts;
use crate::error::{Error, Result};
use crate::layout::{Geometry, Kind, TypeFingerprint, DEFAULT_ENDPOINTS, MAX_ENDPOINTS};
use crate::segment::{CreateOptions, Expect, OpenOptions, Segment, Spec};
use crate::sync::{AtomicU64, Ordering};
use crate::wait::WaitWord;
use crossbeam_utils::CachePadded;
use ring::Shared;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

#[cfg(doc)]
use crate::error::{Corruption, RecvError};

/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = 16;
/// Alignment of every record.
pub const RECORD_ALIGN: usize = 8;
/// Offset of the stamp (u64: the record's position | 1) in a record header.
pub const RECORD_STAMP_OFFSET: usize = 0;
/// Offset of the length (u32) in a record header.
pub const RECORD_LEN_OFFSET: usize = 8;
/// Offset of the type word (u32) in a record header.
pub const RECORD_TYPE_OFFSET: usize = 12;
/// Type word of a padding record (also an aborted claim). Senders may use
/// every other value.
pub const PADDING_TYPE: u32 = u32::MAX;
/// Smallest record area.
pub const MIN_CAPACITY: usize = 64;

/// Offset of `tail` in the control block (mirrored in the C header).
pub const BYTES_TAIL_OFFSET: usize = 0;
/// Offset of `head` in the control block.
pub const BYTES_HEAD_OFFSET: usize = 128;
/// Offset of the `not_empty` futex word (then its waiters count).
pub const BYTES_NOT_EMPTY_OFFSET: usize = 256;
/// Offset of the `not_full` futex word (then its waiters count).
pub const BYTES_NOT_FULL_OFFSET: usize = 384;
/// Offset of the stall timeout in nanoseconds (u64, written at creation).
pub const BYTES_STALL_TIMEOUT_OFFSET: usize = 512;
/// Offset of `read` (MPMC: the next position handed to a consumer).
pub const BYTES_READ_OFFSET: usize = 640;
/// Size of the control block.
pub const BYTES_CONTROL_LEN: usize = 768;

/// Endpoint entry of the consumer (SPSC and MPSC; MPMC consumers take
/// any entry, like producers).
pub const CONSUMER_ENTRY: usize = 0;
/// Producer word: position of the claim in flight, or-ed with
/// [`CLAIM_PENDING`] or [`CLAIM_CONFIRMED`]; 0 when none.
pub const WORD_CLAIM_POS: usize = 0;
/// Producer word: bytes of the claim in flight (padding included).
pub const WORD_CLAIM_SIZE: usize = 1;
/// Producer word: messages committed through this entry.
pub const WORD_SENT: usize = 2;
/// Producer word: payload bytes committed through this entry.
pub const WORD_SENT_BYTES: usize = 3;
/// Consumer word (MPMC): position of the records taken and not yet
/// released, or-ed with [`CLAIM_PENDING`] or [`CLAIM_CONFIRMED`].
pub const WORD_READ_POS: usize = 4;
/// Consumer word (MPMC): bytes of the records taken.
pub const WORD_READ_SIZE: usize = 5;
/// Consumer word: messages received through this entry.
pub const WORD_RECEIVED: usize = 6;
/// Consumer word: payload bytes received through this entry.
pub const WORD_RECEIVED_BYTES: usize = 7;
/// Any entry: messages this endpoint found abandoned by a dead peer and
/// skipped (a dead producer's claim, a dead consumer's taken records).
pub const WORD_LOST: usize = 8;
/// Claim state: written before the compare-and-swap that makes the claim.
pub const CLAIM_PENDING: u64 = 1;
/// Claim state: the compare-and-swap succeeded.
pub const CLAIM_CONFIRMED: u64 = 2;

/// The shared control block of a byte ring.
#[repr(C)]
#[derive(Debug)]
pub struct BytesControl {
    /// SPSC: end of the committed records (stored by the producer only).
    /// MPSC: end of the claimed space (advanced by compare-and-swap).
    pub tail: CachePadded<AtomicU64>,
    /// End of the space the consumer has released.
    pub head: CachePadded<AtomicU64>,
    /// The consumer sleeps here when nothing is readable.
    pub not_empty: CachePadded<WaitWord>,
    /// Producers sleep here when the ring is full.
    pub not_full: CachePadded<WaitWord>,
    /// How long the consumer waits on an unpublished record before it
    /// checks whether the claimant died (nanoseconds; written at creation).
    pub stall_timeout_ns: CachePadded<AtomicU64>,
    /// MPMC: the next position handed to a consumer (`head <= read <=
    /// tail`); unused by the other kinds.
    pub read: CachePadded<AtomicU64>,
}

#[cfg(not(loom))]
mod asserts {
    use super::*;
    use memoffset::offset_of;
    const _: () = assert!(offset_of!(BytesControl, tail) == BYTES_TAIL_OFFSET);
    const _: () = assert!(offset_of!(BytesControl, head) == BYTES_HEAD_OFFSET);
    const _: () = assert!(offset_of!(BytesControl, not_empty) == BYTES_NOT_EMPTY_OFFSET);
    const _: () = assert!(offset_of!(BytesControl, not_full) == BYTES_NOT_FULL_OFFSET);
    const _: () = assert!(offset_of!(BytesControl, stall_timeout_ns) == BYTES_STALL_TIMEOUT_OFFSET);
    const _: () = assert!(offset_of!(BytesControl, read) == BYTES_READ_OFFSET);
    const _: () = assert!(core::mem::size_of::<BytesControl>() == BYTES_CONTROL_LEN);
}

impl BytesControl {
    /// An empty ring's control block (heap construction).
    pub(crate) fn new(stall_timeout_ns: u64) -> BytesControl {
        BytesControl {
            tail: CachePadded::new(AtomicU64::new(0)),
            head: CachePadded::new(AtomicU64::new(0)),
            not_empty: CachePadded::new(WaitWord::new()),
            not_full: CachePadded::new(WaitWord::new()),
            stall_timeout_ns: CachePadded::new(AtomicU64::new(stall_timeout_ns)),
            read: CachePadded::new(AtomicU64::new(0)),
        }
    }
}

/// The stamp of a published record at position `pos`: odd, so that
/// zeroed memory is never mistaken for a record.
#[inline(always)]
pub const fn stamp_of(pos: u64) -> u64 {
    pos | 1
}

/// MPMC: the stamp of a record a consumer has taken (`pos | 3`).
#[inline(always)]
pub const fn taken_of(pos: u64) -> u64 {
    pos | 3
}

/// Bytes a record with `len` payload bytes occupies (header and alignment
/// included).
pub const fn record_size(len: usize) -> usize {
    (RECORD_HEADER_LEN + len + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// Largest `max_message` a ring of `capacity` bytes can have: a record of
/// that size plus the worst-case wrap padding must fit in the area.
pub const fn max_message_limit(capacity: usize) -> usize {
    let half = (capacity / 2).saturating_sub(RECORD_HEADER_LEN);
    let max32 = u32::MAX as usize - 2 * RECORD_HEADER_LEN;
    if half < max32 {
        half
    } else {
        max32
    }
}

/// Checks the shared indices an endpoint starts from.
fn check_indices(head: u64, tail: u64, cap: u64) -> std::result::Result<(), String> {
    if !head.is_multiple_of(RECORD_ALIGN as u64) || !tail.is_multiple_of(RECORD_ALIGN as u64) {
        return Err(format!("ring indices head {head} / tail {tail} are not 8-byte aligned"));
    }
    if tail.wrapping_sub(head) > cap {
        return Err(format!(
            "ring indices head {head} / tail {tail} are more than the capacity {cap} apart"
        ));
    }
    Ok(())
}

fn is_bytes_kind(k: Kind) -> bool {
    matches!(k, Kind::Bytes | Kind::BytesMpsc | Kind::BytesMpmc)
}

/// Options for creating or opening a byte ring.
///
/// ```
/// use shmlane::bytes::Builder;
/// use shmlane::layout::Kind;
/// use std::time::Duration;
///
/// let ch = Builder::new()
///     .kind(Kind::BytesMpsc)
///     .max_message(1000)
///     .endpoints(9) // the consumer and up to 8 producers
///     .stall_timeout(Duration::from_millis(500))
///     .in_process(1 << 16)?;
/// assert_eq!(ch.max_message(), 1000);
/// # Ok::<(), shmlane::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    kind: Option<Kind>,
    max_message: Option<usize>,
    create: CreateOptions,
    open: OpenOptions,
}

impl Builder {
    /// Default options: SPSC, `max_message` a quarter of the capacity, mode
    /// 0600, 3 s stall timeout.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The kind of ring to create ([`Kind::Bytes`] or [`Kind::BytesMpsc`]);
    /// when opening, the kind the segment must have (default: any byte kind).
    pub fn kind(mut self, kind: Kind) -> Builder {
        self.kind = Some(kind);
        self
    }

    /// Largest message (payload bytes), at most [`max_message_limit`] of
    /// the capacity. Default: a quarter of the capacity.
    pub fn max_message(mut self, max: usize) -> Builder {
        self.max_message = Some(max);
        self
    }

    /// Size of the endpoint table: the consumer plus the producers that
    /// may be attached at once (MPSC only; default 64, at least 2).
    pub fn endpoints(mut self, n: u32) -> Builder {
        self.create.endpoints = Some(n);
        self
    }

    /// File mode of a named segment (default 0o600).
    pub fn mode(mut self, mode: u32) -> Builder {
        self.create.mode = mode;
        self
    }

    /// Remove a same-named segment whose endpoints are all dead instead of
    /// failing with [`Error::AlreadyExists`].
    pub fn reclaim_stale(mut self, yes: bool) -> Builder {
        self.create.reclaim_stale = yes;
        self
    }

    /// How long the consumer waits on a record claimed but not committed
    /// before checking whether its producer died (MPSC; default 3 s).
    /// `Duration::ZERO` checks at every stalled poll (tests).
    pub fn stall_timeout(mut self, d: Duration) -> Builder {
        self.create.stall_timeout = d;
        self
    }

    /// How long `open` waits for a creator still initialising the segment.
    pub fn init_timeout(mut self, d: Duration) -> Builder {
        self.open.init_timeout = d;
        self
    }

    fn params(&self, capacity: usize) -> Result<Params> {
        let kind = self.kind.unwrap_or(Kind::Bytes);
        if !is_bytes_kind(kind) {
            return Err(Error::InvalidArgument(format!(
                "{kind} is not a byte-ring kind; use bytes, bytes-mpsc or bytes-mpmc"
            )));
        }
        if capacity < MIN_CAPACITY || !capacity.is_power_of_two() {
            return Err(Error::InvalidArgument(format!(
                "capacity {capacity} must be a power of two of at least {MIN_CAPACITY} bytes (for example {})",
                capacity.max(MIN_CAPACITY).next_power_of_two()
            )));
        }
        let limit = max_message_limit(capacity);
        let max_message = self.max_message.unwrap_or(capacity / 4).min(u32::MAX as usize);
        if max_message > limit {
            return Err(Error::InvalidArgument(format!(
                "max_message {max_message} is too large for a {capacity}-byte ring (at most {limit}: a message and its wrap padding must fit); use a larger capacity"
            )));
        }
        let endpoints = match kind {
            Kind::Bytes => 2,
            _ => self.create.endpoints.unwrap_or(DEFAULT_ENDPOINTS),
        };
        if !(2..=MAX_ENDPOINTS).contains(&endpoints) {
            return Err(Error::InvalidArgument(format!(
                "endpoint table of {endpoints} entries is out of range (2..={MAX_ENDPOINTS})"
            )));
        }
        let stall_ns = u64::try_from(self.create.stall_timeout.as_nanos()).unwrap_or(u64::MAX);
        Ok(Params {
            kind,
            capacity: capacity as u64,
            max_message: max_message as u64,
            endpoints,
            stall_ns,
        })
    }

    /// Creates a named ring with a record area of `capacity` bytes (a power
    /// of two, at least [`MIN_CAPACITY`]).
    pub fn create(&self, name: &str, capacity: usize) -> Result<Channel> {
        let p = self.params(capacity)?;
        let seg = Segment::create(name, &p.spec(), &self.create, |s| p.init(s))?;
        Channel::from_segment(seg)
    }

    /// Creates an anonymous ring in a sealed memfd; see
    /// [`crate::spsc::Channel::anonymous`] for how to share it.
    pub fn anonymous(&self, capacity: usize) -> Result<Channel> {
        let p = self.params(capacity)?;
        let seg = Segment::create_anonymous(p.kind.name(), &p.spec(), |s| p.init(s))?;
        Channel::from_segment(seg)
    }

    /// A ring on the heap of this process, with the same algorithm and API
    /// (tests, loom, miri, threads).
    pub fn in_process(&self, capacity: usize) -> Result<Channel> {
        let p = self.params(capacity)?;
        Ok(Channel {
            shared: Shared::heap(p.kind, p.capacity, p.max_message, p.endpoints as usize, p.stall_ns),
            segment: None,
        })
    }

    /// Opens a named ring.
    pub fn open(&self, name: &str) -> Result<Channel> {
        let seg = Segment::open(name, &self.expect(), &self.open)?;
        Channel::from_segment(seg)
    }

    /// Opens an anonymous ring from its file descriptor.
    pub fn from_fd(&self, fd: OwnedFd) -> Result<Channel> {
        let seg = Segment::open_fd(fd, &self.expect(), &self.open)?;
        Channel::from_segment(seg)
    }

    fn expect(&self) -> Expect {
        Expect {
            kind: self.kind,
            control_len: None,
            fingerprint: None,
            endpoints: None,
        }
    }
}

struct Params {
    kind: Kind,
    capacity: u64,
    max_message: u64,
    endpoints: u32,
    stall_ns: u64,
}

impl Params {
    fn spec(&self) -> Spec {
        Spec {
            geometry: Geometry {
                kind: self.kind,
                capacity: self.capacity,
                slot_size: 0,
                slot_align: RECORD_ALIGN as u32,
                max_message: self.max_message,
                endpoint_count: self.endpoints,
                control_len: BYTES_CONTROL_LEN as u64,
            },
            fingerprint: TypeFingerprint::untagged(0, RECORD_ALIGN as u32),
            flags: 0,
        }
    }

    fn init(&self, seg: &Segment) {
        // SAFETY: the control block is BYTES_CONTROL_LEN bytes inside the
        // fresh mapping, 128-byte aligned, zeroed, and not yet visible to
        // any other process (magic is published after `init`).
        let ctl = unsafe { &*(seg.control_ptr() as *const BytesControl) };
        // Relaxed: published by the Release store of magic after init.
        ctl.stall_timeout_ns.store(self.stall_ns, Ordering::Relaxed);
    }
}

/// A byte ring: the shared memory, not yet attached as either side.
///
/// Cloning is cheap (the mapping is shared). Attach with
/// [`producer`](Channel::producer) and [`consumer`](Channel::consumer).
///
/// ```
/// let ch = shmlane::bytes::Channel::in_process(1024)?;
/// let (mut tx, mut rx) = (ch.producer()?, ch.consumer()?);
/// tx.send(b"ping").unwrap();
/// assert_eq!(&rx.read().unwrap()[..], b"ping");
/// assert_eq!(ch.stats().received, 1);
/// # Ok::<(), shmlane::Error>(())
/// ```
#[derive(Clone)]
pub struct Channel {
    shared: Shared,
    segment: Option<Arc<Segment>>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Channel")
            .field("name", &self.shared.name)
            .field("kind", &self.shared.kind)
            .field("capacity", &self.shared.cap)
            .field("max_message", &self.shared.max_message)
            .finish()
    }
}

impl Channel {
    /// Creates a named SPSC ring with default options; see [`Builder`].
    pub fn create(name: &str, capacity: usize) -> Result<Channel> {
        Builder::new().create(name, capacity)
    }

    /// Opens a named ring of any byte kind; see [`Builder::open`].
    pub fn open(name: &str) -> Result<Channel> {
        Builder::new().open(name)
    }

    /// Creates an anonymous SPSC ring; see [`Builder::anonymous`].
    pub fn anonymous(capacity: usize) -> Result<Channel> {
        Builder::new().anonymous(capacity)
    }

    /// Opens an anonymous ring of any byte kind from its file descriptor.
    pub fn from_fd(fd: OwnedFd) -> Result<Channel> {
        Builder::new().from_fd(fd)
    }

    /// An in-process SPSC ring; see [`Builder::in_process`].
    pub fn in_process(capacity: usize) -> Result<Channel> {
        Builder::new().in_process(capacity)
    }

    fn from_segment(seg: Segment) -> Result<Channel> {
        let h = *seg.header();
        let g = &h.geometry;
        let bad = |detail: String| Error::Corrupt {
            name: seg.name().to_owned(),
            detail,
        };
        if !is_bytes_kind(g.kind) {
            return Err(Error::KindMismatch {
                name: seg.name().to_owned(),
                found: g.kind,
                expected: Kind::Bytes,
            });
        }
        if g.control_len != BYTES_CONTROL_LEN as u64 {
            return Err(bad(format!(
                "control block is {} bytes, a byte ring's is {BYTES_CONTROL_LEN}",
                g.control_len
            )));
        }
        if g.capacity < MIN_CAPACITY as u64 || g.capacity > usize::MAX as u64 {
            return Err(bad(format!("record area of {} bytes is too small", g.capacity)));
        }
        if g.max_message > max_message_limit(g.capacity as usize) as u64 {
            return Err(bad(format!(
                "max_message {} does not fit a {}-byte record area",
                g.max_message, g.capacity
            )));
        }
        let want_entries = if g.kind == Kind::Bytes {
            2..=2
        } else {
            2..=MAX_ENDPOINTS
        };
        if !want_entries.contains(&g.endpoint_count) {
            return Err(bad(format!(
                "endpoint table of {} entries is invalid for a {} ring",
                g.endpoint_count, g.kind
            )));
        }
        let seg = Arc::new(seg);
        Ok(Channel {
            shared: Shared::from_segment(seg.clone()),
            segment: Some(seg),
        })
    }

    /// The segment, unless in-process.
    pub fn segment(&self) -> Option<&Segment> {
        self.segment.as_deref()
    }

    /// [`Kind::Bytes`] or [`Kind::BytesMpsc`].
    pub fn kind(&self) -> Kind {
        self.shared.kind
    }

    /// Bytes of the record area.
    pub fn capacity(&self) -> usize {
        self.shared.cap as usize
    }

    /// Largest message accepted, in bytes.
    pub fn max_message(&self) -> usize {
        self.shared.max_message as usize
    }

    /// The stall timeout stored in the ring.
    pub fn stall_timeout(&self) -> Duration {
        self.shared.stall_timeout
    }

    /// Attaches as a producer. SPSC: fails with [`Error::EndpointBusy`]
    /// while another live producer is attached, and takes over from a dead
    /// one. MPSC: takes a free entry of the endpoint table (or one whose
    /// holder died and has no unresolved claim); [`Error::EndpointTableFull`]
    /// when there is none.
    pub fn producer(&self) -> Result<Producer> {
        Producer::attach(&self.shared)
    }

    /// Attaches as the consumer; fails with [`Error::EndpointBusy`] while
    /// another live consumer is attached. A new consumer continues from the
    /// shared `head`: records a dead consumer was reading in place are
    /// delivered again.
    pub fn consumer(&self) -> Result<Consumer> {
        Consumer::attach(&self.shared)
    }

    /// A snapshot of the counters, readable from any process (checks the
    /// liveness of endpoint holders: system calls).
    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        let ctl = s.ctl();
        // Relaxed: statistics only.
        let head = ctl.head.load(Ordering::Relaxed);
        let tail = ctl.tail.load(Ordering::Relaxed);
        let word = |e: &crate::layout::EndpointEntry, i: usize| e.words[i].load(Ordering::Relaxed);
        let sum = |i: usize| s.entries().iter().fold(0u64, |a, e| a.wrapping_add(word(e, i)));
        let (sent, received, lost) = (sum(WORD_SENT), sum(WORD_RECEIVED), sum(WORD_LOST));
        let (consumers, producers) = s.entries_by_role();
        Stats {
            kind: s.kind,
            capacity: s.cap,
            max_message: s.max_message,
            head,
            tail,
            depth_bytes: tail.wrapping_sub(head).min(s.cap),
            depth_records: sent.saturating_sub(received.saturating_add(lost)),
            sent,
            sent_bytes: sum(WORD_SENT_BYTES),
            received,
            received_bytes: sum(WORD_RECEIVED_BYTES),
            lost,
            consumers,
            producers,
        }
    }
}

impl Channel {
    /// Test and fuzz entry point: calls `f` with the control block and the
    /// data area of an in-process ring as byte slices, to scribble on them
    /// like a hostile peer. Returns false (without calling `f`) for a ring
    /// in a segment.
    ///
    /// # Safety
    /// No handle of this ring may be in use on another thread during the
    /// call (the slices alias the atomics the handles read).
    #[doc(hidden)]
    pub unsafe fn __scribble(&self, f: impl FnOnce(&mut [u8], &mut [u8])) -> bool {
        match self.shared.raw_parts() {
            None => false,
            Some((ctl, ctl_len, data, data_len)) => {
                // SAFETY: both regions are live heap allocations of these
                // lengths kept by `self`; the caller guarantees that nothing
                // else accesses them during `f`; every byte pattern is a
                // valid value for atomics and for the data area.
                let (c, d) = unsafe {
                    (
                        std::slice::from_raw_parts_mut(ctl, ctl_len),
                        std::slice::from_raw_parts_mut(data, data_len),
                    )
                };
                f(c, d);
                true
            }
        }
    }
}

/// Counters of a byte ring; see [`Channel::stats`].
///
/// Counters are read one by one while the ring runs, so they may disagree
/// by a message or two with each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Kind of ring.
    pub kind: Kind,
    /// Bytes of the record area.
    pub capacity: u64,
    /// Largest message.
    pub max_message: u64,
    /// Position released by the consumer.
    pub head: u64,
    /// Position committed (SPSC) or claimed (MPSC) by the producers.
    pub tail: u64,
    /// Bytes in use now (`tail - head`, headers and padding included).
    pub depth_bytes: u64,
    /// Messages committed and not yet received (`sent - received - lost`).
    pub depth_records: u64,
    /// Messages committed since creation.
    pub sent: u64,
    /// Payload bytes committed since creation.
    pub sent_bytes: u64,
    /// Messages received since creation.
    pub received: u64,
    /// Payload bytes received since creation.
    pub received_bytes: u64,
    /// Messages abandoned by dead peers and skipped: claims of producers
    /// that died before committing, records taken by consumers that died
    /// before releasing them (MPMC).
    pub lost: u64,
    /// Consumer entries (SPSC/MPSC: the consumer's entry; MPMC: entries
    /// attached as consumers).
    pub consumers: EndpointCounts,
    /// Producer entries (MPMC: entries attached as producers).
    pub producers: EndpointCounts,
}

/// Creates an in-process ring (see [`Builder::in_process`]) and attaches a
/// producer and the consumer.
pub fn channel(builder: &Builder, capacity: usize) -> Result<(Producer, Consumer)> {
    let ch = builder.in_process(capacity)?;
    Ok((ch.producer()?, ch.consumer()?))
}
