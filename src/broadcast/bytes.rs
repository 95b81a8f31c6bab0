//! Broadcast of variable-length byte messages ([`Kind::BroadcastBytes`]):
//! one publisher, any number of subscribers, each message a contiguous
//! slice of the ring.
//!
//! # Framing
//! The record area is `capacity` bytes (a power of two, at least
//! [`MIN_CAPACITY`]); positions are free-running byte indices, the byte of
//! position `p` is at offset `p & (capacity - 1)`. A record starts on an
//! 8-byte boundary (Agrona's framing, as in [`crate::bytes`]):
//!
//! ```text
//! offset  size  field
//!      0     8  seq    2m + 2 for message number m (2m + 1 while it is written)
//!      8     4  len    payload bytes (padding: bytes after the header up to the end of the area)
//!     12     4  type   the sender's type word, or PADDING_TYPE (u32::MAX)
//!     16   len  payload, then 0-7 bytes of alignment
//! ```
//!
//! A message that does not fit before the end of the area is preceded by a
//! padding record filling the rest of the area (or by nothing when only 8
//! bytes are left, which both sides skip), so every message is one slice.
//! `max_message` is fixed at creation (at most [`max_message_limit`]); a
//! longer message is [`TrySendError::TooLarge`] and nothing is written.
//!
//! # Algorithm
//! Agrona's broadcast transmitter/receiver (`BroadcastTransmitter`,
//! `BroadcastReceiver`), with the memory-model care of Boehm's seqlocks
//! (see the parent module): the control block of the fixed ring plus one
//! line holding `intent` (end of the record being written), `oldest`
//! (position of the oldest intact record) and `published` (messages).
//!
//! ```text
//! publisher, record [p, end)                 subscriber at cursor c
//! walk the records below end - capacity:      t = tail.load(Acquire)  (c < t: published)
//!   oldest = first record at/after it         header, payload: load(Relaxed) words
//! oldest.store(oldest, Release)               fence(Acquire)
//! intent.store(end, Release)                  i = intent.load(Acquire)
//! fence(Release)                              i <= c + capacity: intact, deliver
//! header, payload: store(Relaxed)             otherwise: lapped
//! tail.store(end, Release); wake
//! ```
//!
//! If the subscriber's copy read any word of a later write, that write's
//! release fence synchronises with the subscriber's acquire fence, so the
//! subscriber sees its `intent`, which is beyond `c + capacity`: a torn
//! message is never delivered. Whether a record is published is decided by
//! `tail` alone, never by a header (stale payload bytes of an earlier lap
//! could look like any header).
//!
//! A lapped subscriber loads `oldest` and jumps there. It learned that it
//! was lapped from `tail` or `intent` (Acquire loads), and the publisher
//! stores `oldest` (Release) before both, so the `oldest` it sees is past
//! its cursor: every jump moves forward, and nothing is skipped uncounted
//! (loom found the version where `intent` was Relaxed: a subscriber saw a
//! new intent but an old `oldest` and skipped to `tail`). Losses are counted from message numbers: when
//! the record a subscriber reads (intact, validated as above) has number
//! `m` above the one it expects, it reports `Lagged(m - expected)` and
//! delivers that record on the next call.
//!
//! The publisher finds `oldest` by walking the headers of the records it is
//! about to overwrite (its own writes, validated anyway: a header that does
//! not frame a record makes `oldest` the record being written). The walk
//! visits each record once and stops at `end - capacity`.
//!
//! Gating, joining (the Dekker handshake), eviction of dead subscribers,
//! `Disconnected`/`PeerDied` and the counters are the fixed ring's
//! (`super::core`), in byte positions: under Block the publisher writes
//! `[p, end)` only when `end <= min(gates) + capacity`. The limit it caches
//! is also at most `tail + capacity` for the `tail` it had stored when it
//! computed it: a subscriber joining after that scan gates from a `tail` at
//! least as high, so no write under that limit reaches what it has not
//! read (a limit of `end - 8 + capacity`, the scan's own record, let a
//! later record overwrite the start of a record such a subscriber was
//! about to read; found by the loom model of a join during a publish).
//!
//! # Batches: held messages, lazy gates
//! Handing over each message costs a store of `tail` that the subscribers
//! are polling and, for one that sleeps, a wake-up; and a subscriber close
//! behind the publisher reads each record's lines while the publisher
//! writes the next one into them. [`BytesPublisher::send_held`] (and
//! `try_send_held`) write the record (`intent` first, as always) but leave
//! `tail` and `published`; [`BytesPublisher::flush`], a plain send, a send
//! that finds no room (before anyone waits: subscribers cannot free room
//! past what they cannot see) and the drop hand every held record over with
//! one store of `tail`. Held records span at most half the area with the
//! one being written (more hands the held ones over first), so `oldest`,
//! found below `end - capacity`, stays at or below `tail`. A publisher that
//! dies takes its held records along: its successor continues from `tail`
//! and numbers on from `published`, both of which exclude them, with
//! `intent` at least the dead one's, as after a death mid-write.
//!
//! A subscriber stores its gate (a Release store, and a wake-up of a
//! blocked publisher) not after every record but when it moved a
//! `capacity / 8` step, or when it finds nothing to read (before it may
//! block, so a publisher waiting for room is never left waiting for a
//! subscriber waiting for messages), or when lapped. A gate left behind
//! only promises less, so the publisher's limit stays safe; a blocked
//! publisher resumes a step at a time instead of a record at a time (a
//! publisher parked on a full ring used to be woken with a system call
//! per record).
//!
//! # Zero copy
//! Under Block, [`BytesSubscriber::try_read`] hands out the payload in
//! place (the subscriber's gate keeps it unwritten until the guard drops).
//! Under Overwrite it is a validated copy in the subscriber's buffer
//! (allocated once, `max_message` bytes).
//!
//! # Invariants
//! - `oldest <= tail <= oldest + capacity`, `intent <= tail + capacity`;
//!   all are multiples of 8; only the publisher writes them and the area.
//! - Lengths read from the area are bounded by `max_message` and by the
//!   bytes left before the end of the area; positions read from the control
//!   block are checked to be 8-aligned and within a ring of `tail`;
//!   anything else is [`Corruption`](crate::Corruption). Every loop is bounded by the area
//!   size or a small constant.
//! - A publisher that attaches after a dead one continues from `tail` with
//!   `intent` at least the dead one's, so its half-written record (and its
//!   held ones) are never delivered and never validate.
//! - Held records: `tail <= next`, `next - tail <= capacity / 2` before the
//!   record being written; a subscriber's stored gate is at most the end
//!   of the last record it delivered.
//! - A subscriber that is lapped before it read its first message counts
//!   its losses from `published` as read at its join (exact when nothing
//!   was published during the join, best effort otherwise).
//!
//! # Example
//! ```
//! use shmlane::broadcast::{BytesBuilder, Policy, TryRecvError};
//! let ch = BytesBuilder::new().capacity(256).max_message(40).policy(Policy::Overwrite).in_process()?;
//! let mut tx = ch.publisher()?;
//! let mut a = ch.subscribe()?;
//! tx.send(b"hello").unwrap();
//! assert_eq!(&*a.try_read().unwrap(), b"hello");
//! for i in 1..=20u8 {
//!     tx.send(&[i; 30]).unwrap(); // message number i
//! }
//! // `a` was lapped: it is told how many it missed, then gets the oldest
//! // message still intact, whole.
//! let Err(TryRecvError::Lagged(n)) = a.try_read().map(|m| m.number()) else { panic!() };
//! let m = a.try_read().unwrap();
//! assert_eq!(m.number(), 1 + n);
//! assert_eq!(m.bytes(), &[1 + n as u8; 30][..]);
//! drop(m);
//! while a.try_read().is_ok() {}
//! assert_eq!(a.lost() + a.received(), 21);
//! # Ok::<(), shmlane::Error>(())
//! ```

use super::core::{
    corrupt, deadline, BroadcastControl, Core, Pacer, Stats, SubscriberStats, BROADCAST_CONTROL_LEN, MAX_POS,
    PUBLISHER, W_MSG, W_START,
};
use super::fixed::send_err;
use super::{Policy, RecvError, RecvTimeoutError, TryRecvError};
use crate::error::{Closed, Error, Result, SendError, SendTimeoutError, TrySendError};
use crate::layout::{EndpointEntry, Geometry, Kind, TypeFingerprint, DEFAULT_ENDPOINTS, MAX_ENDPOINTS};
use crate::segment::{CreateOptions, Expect, OpenOptions, Segment, Spec};
use crate::sync::{fence, AtomicU64, Ordering};
use crate::wait::{self, WaitConfig};
use crossbeam_utils::CachePadded;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::bytes::{PADDING_TYPE, RECORD_HEADER_LEN};

/// Smallest record area.
pub const MIN_CAPACITY: usize = 64;
/// A subscriber stores its gate when it moved `capacity / GATE_EVERY_DIVISOR`
/// bytes, or when it finds nothing to read.
#[cfg(not(loom))]
const GATE_EVERY_DIVISOR: u64 = 8;
/// Under loom: half the (tiny) area, so that the models' 16-byte records
/// leave the gate behind and the store on an empty look is exercised.
#[cfg(loom)]
const GATE_EVERY_DIVISOR: u64 = 2;
/// Offset of the byte kind's extra line (`intent`, `oldest`, `published`).
pub const BYTES_EXT_OFFSET: usize = BROADCAST_CONTROL_LEN;
/// Size of the byte kind's control block.
pub const BYTES_CONTROL_LEN: usize = BROADCAST_CONTROL_LEN + 128;

/// Largest `max_message` of a `capacity`-byte area: a record is at most
/// half the area, so a record and the padding before it always fit.
pub const fn max_message_limit(capacity: usize) -> usize {
    let m = (capacity / 2).saturating_sub(RECORD_HEADER_LEN);
    if m > u32::MAX as usize - 64 {
        u32::MAX as usize - 64
    } else {
        m
    }
}

const fn record_size(len: usize) -> usize {
    (RECORD_HEADER_LEN + len + 7) & !7
}

/// The byte kind's line after the common control block.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct BytesExt {
    /// End of the record being written (or last written).
    pub(crate) intent: AtomicU64,
    /// Position of the oldest intact record.
    pub(crate) oldest: AtomicU64,
    /// Messages published.
    pub(crate) published: AtomicU64,
}

#[repr(C)]
struct BytesControl {
    base: BroadcastControl,
    ext: CachePadded<BytesExt>,
}

#[cfg(not(loom))]
mod asserts {
    use super::*;
    use memoffset::offset_of;
    const _: () = assert!(offset_of!(BytesControl, ext) == BYTES_EXT_OFFSET);
    const _: () = assert!(offset_of!(BytesExt, intent) == 0);
    const _: () = assert!(offset_of!(BytesExt, oldest) == 8);
    const _: () = assert!(offset_of!(BytesExt, published) == 16);
    const _: () = assert!(core::mem::size_of::<BytesControl>() == BYTES_CONTROL_LEN);
}

struct HeapRing {
    ctl: BytesControl,
    words: Box<[AtomicU64]>,
    entries: Box<[EndpointEntry]>,
}

#[derive(Clone)]
struct Shared {
    core: Core,
    ext: NonNull<BytesExt>,
    words: NonNull<AtomicU64>,
    max: usize,
}

// SAFETY: the pointers target memory kept alive by `core.keep`, accessed
// through atomics, or (Block, in place) through shared references to bytes
// the gating protocol keeps unwritten.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl std::ops::Deref for Shared {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

/// A validated record header.
#[derive(Clone, Copy)]
enum Head {
    /// Skip `n` bytes (padding up to the end of the area).
    Skip(u64),
    Msg {
        number: u64,
        len: usize,
        ty: u32,
    },
}

impl Shared {
    fn ext(&self) -> &BytesExt {
        // SAFETY: kept alive by `keep`; atomics only.
        unsafe { self.ext.as_ref() }
    }

    #[inline(always)]
    fn off(&self, p: u64) -> usize {
        (p & (self.cap - 1)) as usize
    }

    /// The word at position `p` (8-aligned).
    #[inline(always)]
    fn word(&self, p: u64) -> &AtomicU64 {
        let w = self.off(p) / 8;
        // SAFETY: `w < cap / 8` words, the area's size (validated against
        // the header, or the heap box), kept alive by `keep`.
        unsafe { &*self.words.as_ptr().add(w) }
    }

    /// Reads (Relaxed) and validates the header at `p`; the caller checks
    /// `intent` afterwards. `Err` when the words do not frame a record.
    #[inline(always)]
    fn head(&self, p: u64) -> std::result::Result<Head, Closed> {
        let rem = (self.cap as usize - self.off(p)) as u64;
        if rem < RECORD_HEADER_LEN as u64 {
            return Ok(Head::Skip(rem));
        }
        // Relaxed (both): validated by the caller's intent check.
        let seq = self.word(p).load(Ordering::Relaxed);
        let lt = self.word(p + 8).load(Ordering::Relaxed);
        let (len, ty) = (lt as u32 as usize, (lt >> 32) as u32);
        if ty == PADDING_TYPE {
            if len as u64 + RECORD_HEADER_LEN as u64 != rem {
                return Err(corrupt(
                    p,
                    "broadcast padding record does not reach the end of the area",
                ));
            }
            return Ok(Head::Skip(rem));
        }
        if len > self.max || record_size(len) as u64 > rem {
            return Err(corrupt(p, "broadcast record length exceeds max_message or the area"));
        }
        if seq < 2 || seq & 1 != 0 {
            return Err(corrupt(
                p,
                "broadcast record sequence is not that of a published record",
            ));
        }
        Ok(Head::Msg {
            number: seq / 2 - 1,
            len,
            ty,
        })
    }

    /// Whether what was read at `c` (before this call) is intact.
    #[inline(always)]
    fn intact(&self, c: u64) -> bool {
        // Acquire: pairs with the Release fence in `BytesPublisher::write`.
        fence(Ordering::Acquire);
        // Acquire: pairs with the Release store of `intent` in
        // `BytesPublisher::write`: if it is beyond us, the `oldest` stored
        // before it (past our cursor) is visible to `lapped`.
        self.ext().intent.load(Ordering::Acquire) <= c + self.cap
    }

    fn heap(cap: u64, max: usize, endpoints: u32, policy: Policy, stall: Duration) -> Shared {
        let ring = Arc::new(HeapRing {
            ctl: BytesControl {
                base: BroadcastControl::new(),
                ext: CachePadded::new(BytesExt {
                    intent: AtomicU64::new(0),
                    oldest: AtomicU64::new(0),
                    published: AtomicU64::new(0),
                }),
            },
            words: (0..cap / 8).map(|_| AtomicU64::new(0)).collect(),
            entries: (0..endpoints).map(|_| EndpointEntry::new()).collect(),
        });
        Shared {
            core: Core::on_heap(&ring.ctl.base, &ring.entries, cap, policy, stall, ring.clone()),
            ext: NonNull::from(&*ring.ctl.ext),
            words: NonNull::new(ring.words.as_ptr() as *mut AtomicU64).expect("non-null"),
            max,
        }
    }

    fn from_segment(seg: Arc<Segment>) -> Result<Shared> {
        let g = seg.header().geometry;
        let bad = |detail: String| {
            Err(Error::Corrupt {
                name: seg.name().to_owned(),
                detail,
            })
        };
        if g.kind != Kind::BroadcastBytes || g.control_len != BYTES_CONTROL_LEN as u64 {
            return bad(format!("not a broadcast-bytes control block ({} bytes)", g.control_len));
        }
        if g.capacity < MIN_CAPACITY as u64 || !g.capacity.is_power_of_two() || g.capacity >= MAX_POS {
            return bad(format!("broadcast-bytes capacity {} is out of range", g.capacity));
        }
        if g.max_message > max_message_limit(g.capacity as usize) as u64 {
            return bad(format!("max_message {} is too large for the area", g.max_message));
        }
        let ext = NonNull::new(seg.control_ptr().wrapping_add(BYTES_EXT_OFFSET) as *mut BytesExt).expect("non-null");
        let words = NonNull::new(seg.data_ptr() as *mut AtomicU64).expect("non-null");
        Ok(Shared {
            max: g.max_message as usize,
            core: Core::in_segment(seg, g.capacity)?,
            ext,
            words,
        })
    }

    fn published(&self) -> u64 {
        // Relaxed: statistics.
        self.ext().published.load(Ordering::Relaxed)
    }

    fn stats(&self) -> Stats {
        self.core.stats(self.published(), sub_msg)
    }

    fn subscribers(&self) -> Vec<SubscriberStats> {
        self.core.subscribers(self.published(), sub_msg)
    }
}

/// A byte subscriber's next message number (`None`: the entry does not gate).
fn sub_msg(e: &EndpointEntry) -> Option<u64> {
    // Relaxed (both): statistics only.
    if e.words[super::core::W_CURSOR].load(Ordering::Relaxed) == 0 {
        return None;
    }
    Some(e.words[W_MSG].load(Ordering::Relaxed))
}

/// Counters of a broadcast-bytes segment (for [`crate::inspect`]).
pub(crate) fn stats_of_segment(seg: Arc<Segment>) -> Result<(Stats, Vec<SubscriberStats>)> {
    let sh = Shared::from_segment(seg)?;
    Ok((sh.stats(), sh.subscribers()))
}

/// Options for creating or opening a broadcast channel of byte messages.
#[derive(Debug, Clone)]
pub struct BytesBuilder {
    capacity: usize,
    max_message: Option<usize>,
    policy: Policy,
    create: CreateOptions,
    open: OpenOptions,
    check_every_poll: bool,
}

impl Default for BytesBuilder {
    fn default() -> Self {
        BytesBuilder {
            capacity: 64 * 1024,
            max_message: None,
            policy: Policy::Block,
            create: CreateOptions::default(),
            open: OpenOptions::default(),
            check_every_poll: false,
        }
    }
}

impl BytesBuilder {
    /// Defaults: a 64 KiB area, `max_message` its [`max_message_limit`],
    /// [`Policy::Block`], [`DEFAULT_ENDPOINTS`] entries, 3 s stall timeout.
    pub fn new() -> BytesBuilder {
        BytesBuilder::default()
    }

    /// Bytes of the record area (a power of two, at least [`MIN_CAPACITY`]).
    pub fn capacity(mut self, bytes: usize) -> BytesBuilder {
        self.capacity = bytes;
        self
    }

    /// Largest message in bytes (at most [`max_message_limit`] of the
    /// capacity); stored in the segment.
    pub fn max_message(mut self, max: usize) -> BytesBuilder {
        self.max_message = Some(max);
        self
    }

    /// Block (lossless) or Overwrite (lossy); stored in the segment.
    pub fn policy(mut self, policy: Policy) -> BytesBuilder {
        self.policy = policy;
        self
    }

    /// File mode of a named segment (default 0o600).
    pub fn mode(mut self, mode: u32) -> BytesBuilder {
        self.create.mode = mode;
        self
    }

    /// Size of the endpoint table (the publisher plus subscribers).
    pub fn endpoints(mut self, n: u32) -> BytesBuilder {
        self.create.endpoints = Some(n);
        self
    }

    /// How long a dead subscriber may hold a Block publisher back.
    pub fn stall_timeout(mut self, d: Duration) -> BytesBuilder {
        self.create.stall_timeout = d;
        self
    }

    /// Remove a same-named segment whose endpoints are all dead.
    pub fn reclaim_stale(mut self, yes: bool) -> BytesBuilder {
        self.create.reclaim_stale = yes;
        self
    }

    /// loom models of dead peers (see [`super::Builder`]).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn __check_every_poll(mut self) -> BytesBuilder {
        self.check_every_poll = true;
        self
    }

    fn checked(&self) -> Result<(u64, usize, u32)> {
        let cap = self.capacity;
        if cap < MIN_CAPACITY || !cap.is_power_of_two() || cap as u64 >= MAX_POS {
            return Err(Error::InvalidArgument(format!(
                "capacity {cap} must be a power of two of at least {MIN_CAPACITY} bytes"
            )));
        }
        let limit = max_message_limit(cap);
        let max = self.max_message.unwrap_or(limit);
        if max > limit {
            return Err(Error::InvalidArgument(format!(
                "max_message {max} is too large for a {cap}-byte area (at most {limit}); use a larger capacity"
            )));
        }
        let n = self.create.endpoints.unwrap_or(DEFAULT_ENDPOINTS);
        if !(2..=MAX_ENDPOINTS).contains(&n) {
            return Err(Error::InvalidArgument(format!(
                "endpoint table size {n} must be between 2 and {MAX_ENDPOINTS}"
            )));
        }
        Ok((cap as u64, max, n))
    }

    fn spec(&self) -> Result<Spec> {
        let (cap, max, n) = self.checked()?;
        Ok(Spec {
            geometry: Geometry {
                kind: Kind::BroadcastBytes,
                capacity: cap,
                slot_size: 0,
                slot_align: 8,
                max_message: max as u64,
                endpoint_count: n,
                control_len: BYTES_CONTROL_LEN as u64,
            },
            fingerprint: TypeFingerprint::untagged(0, 8),
            flags: self.policy.flags(),
        })
    }

    fn expect() -> Expect {
        Expect {
            kind: Some(Kind::BroadcastBytes),
            control_len: Some(BYTES_CONTROL_LEN as u64),
            fingerprint: None,
            endpoints: None,
        }
    }

    /// Creates a named channel.
    pub fn create(&self, name: &str) -> Result<BytesChannel> {
        let seg = Segment::create(name, &self.spec()?, &self.create, |_| {})?;
        BytesChannel::from_segment(seg)
    }

    /// Creates an anonymous channel in a sealed memfd.
    pub fn anonymous(&self) -> Result<BytesChannel> {
        let seg = Segment::create_anonymous_with("broadcast-bytes", &self.spec()?, &self.create, |_| {})?;
        BytesChannel::from_segment(seg)
    }

    /// An in-process channel on the heap (tests, threads, loom, miri).
    pub fn in_process(&self) -> Result<BytesChannel> {
        let (cap, max, n) = self.checked()?;
        let mut sh = Shared::heap(
            cap,
            max,
            n,
            self.policy,
            self.create.stall_timeout.max(Duration::from_nanos(1)),
        );
        sh.core.check_every_poll = self.check_every_poll;
        Ok(BytesChannel { sh })
    }

    /// Opens an existing named channel.
    pub fn open(&self, name: &str) -> Result<BytesChannel> {
        BytesChannel::from_segment(Segment::open(name, &Self::expect(), &self.open)?)
    }

    /// Opens an anonymous channel from its file descriptor.
    pub fn from_fd(&self, fd: OwnedFd) -> Result<BytesChannel> {
        BytesChannel::from_segment(Segment::open_fd(fd, &Self::expect(), &self.open)?)
    }
}

/// A broadcast channel of byte messages, not attached. Cheap to clone.
#[derive(Clone)]
pub struct BytesChannel {
    sh: Shared,
}

impl std::fmt::Debug for BytesChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::BytesChannel")
            .field("name", &self.sh.name)
            .field("capacity", &self.sh.cap)
            .field("max_message", &self.sh.max)
            .field("policy", &self.sh.policy)
            .finish()
    }
}

impl BytesChannel {
    /// Opens a named channel with default options.
    pub fn open(name: &str) -> Result<BytesChannel> {
        BytesBuilder::new().open(name)
    }

    fn from_segment(seg: Segment) -> Result<BytesChannel> {
        Ok(BytesChannel {
            sh: Shared::from_segment(Arc::new(seg))?,
        })
    }

    /// The segment, unless in-process.
    pub fn segment(&self) -> Option<&Segment> {
        self.sh.seg.as_deref()
    }

    /// Bytes of the record area.
    pub fn capacity(&self) -> usize {
        self.sh.cap as usize
    }

    /// Largest message in bytes.
    pub fn max_message(&self) -> usize {
        self.sh.max
    }

    /// The policy chosen at creation.
    pub fn policy(&self) -> Policy {
        self.sh.policy
    }

    /// Counters (no attach, no system call); `capacity` is in bytes.
    pub fn stats(&self) -> Stats {
        self.sh.stats()
    }

    /// Every attached subscriber's position (message numbers), lag and
    /// counts.
    pub fn subscribers(&self) -> Vec<SubscriberStats> {
        self.sh.subscribers()
    }

    /// Attaches the publisher ([`Error::EndpointBusy`] while another live
    /// one is attached). After a dead one, continues from the last message
    /// it published; a message it was writing is dropped.
    pub fn publisher(&self) -> Result<BytesPublisher> {
        let sh = &self.sh;
        let (me, t) = sh.claim_publisher()?;
        let cap = sh.cap;
        let x = sh.ext();
        // Relaxed (all three): a dead predecessor's words, validated here;
        // `tail` was loaded with Acquire.
        let intent = x.intent.load(Ordering::Relaxed).clamp(t, t + cap);
        let o = x.oldest.load(Ordering::Relaxed);
        let oldest = if o.is_multiple_of(8) && o <= t && t - o <= cap {
            o
        } else {
            t
        };
        let msg = x.published.load(Ordering::Relaxed).min(t / 8);
        sh.count_in(PUBLISHER, &sh.counters().publishers);
        Ok(BytesPublisher {
            sh: sh.clone(),
            token: me,
            next: t,
            shown: t,
            held: 0,
            msg,
            oldest,
            intent_floor: intent,
            limit: 0,
            wait: WaitConfig::default(),
            pacer: Pacer::new(),
        })
    }

    /// Attaches a subscriber that receives what is published from now on.
    pub fn subscribe(&self) -> Result<BytesSubscriber> {
        self.join(false)
    }

    /// Attaches a subscriber that starts with the oldest message still in
    /// the ring.
    pub fn subscribe_from_oldest(&self) -> Result<BytesSubscriber> {
        self.join(true)
    }

    fn join(&self, oldest: bool) -> Result<BytesSubscriber> {
        let sh = &self.sh;
        let j = sh.join()?;
        let t2 = j.at;
        let x = sh.ext();
        // Acquire: pairs with the Release store of `oldest` in `write`.
        let o = x.oldest.load(Ordering::Acquire);
        let start = if oldest && o.is_multiple_of(8) && o <= t2 && t2 - o <= sh.cap {
            o
        } else {
            t2
        };
        // Relaxed: best effort (see the module docs), statistics.
        let k = x.published.load(Ordering::Relaxed);
        let e = sh.entry(j.index);
        // Relaxed: statistics.
        e.words[W_START].store(k, Ordering::Relaxed);
        e.words[W_MSG].store(k, Ordering::Relaxed);
        sh.count_in(j.index, &sh.counters().subscribers);
        Ok(BytesSubscriber {
            sh: sh.clone(),
            index: j.index,
            token: j.token,
            cursor: start,
            counted_from: t2,
            tail: t2,
            next_msg: if oldest { None } else { Some(k) },
            join_msg: k,
            received: 0,
            lost: 0,
            buf: vec![0u8; sh.max.next_multiple_of(8)],
            gate: t2,
            pending_gate: t2,
            gate_every: sh.cap / GATE_EVERY_DIVISOR,
            wait: WaitConfig::default(),
            pacer: Pacer::new(),
        })
    }
}

enum Stop {
    Wait,
    Closed(Closed),
}

/// The publishing endpoint of a byte broadcast channel.
pub struct BytesPublisher {
    sh: Shared,
    token: u64,
    /// Next byte position (only we store `tail`).
    next: u64,
    /// The `tail` we stored last: `[shown, next)` holds the held records.
    shown: u64,
    /// Records written but not handed over (held commits).
    held: usize,
    /// Next message number.
    msg: u64,
    /// Position of the oldest intact record.
    oldest: u64,
    /// `intent` never goes below this (a dead predecessor's).
    intent_floor: u64,
    limit: u64,
    wait: WaitConfig,
    pacer: Pacer,
}

impl std::fmt::Debug for BytesPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::BytesPublisher")
            .field("name", &self.sh.name)
            .field("published", &self.published())
            .field("held", &self.held)
            .finish()
    }
}

impl BytesPublisher {
    /// Sets how blocking calls wait.
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.wait = cfg;
    }

    /// Messages published so far (handed over to the subscribers; held
    /// ones not included).
    pub fn published(&self) -> u64 {
        self.msg - self.held as u64
    }

    /// Messages written with [`send_held`](Self::send_held) (or
    /// [`try_send_held`](Self::try_send_held)) and not handed over yet.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Largest message in bytes.
    pub fn max_message(&self) -> usize {
        self.sh.max
    }

    /// Where a record of `len` bytes goes: (padding start, record start, end).
    #[inline(always)]
    fn place(&self, len: usize) -> (u64, u64) {
        let p = self.next;
        let rem = self.sh.cap - self.sh.off(p) as u64;
        let need = record_size(len) as u64;
        let at = if rem < need { p + rem } else { p };
        (at, at + need)
    }

    /// Moves `oldest` past the records that writing below `end` destroys.
    fn retire(&mut self, end: u64) {
        let sh = &self.sh;
        let upto = end.saturating_sub(sh.cap);
        let mut o = self.oldest;
        // Each step moves at least 8 bytes; `upto - o <= capacity`.
        while o < upto {
            match sh.head(o) {
                Ok(Head::Skip(n)) => o += n,
                Ok(Head::Msg { len, .. }) => o += record_size(len) as u64,
                Err(_) => {
                    o = self.next;
                    break;
                }
            }
        }
        self.oldest = o.min(self.next);
    }

    /// Writes `msg` as record `[at, end)` (padding before it from `next`);
    /// [`hand_over`](Self::hand_over) publishes it.
    #[inline]
    fn write(&mut self, ty: u32, msg: &[u8], at: u64, end: u64) {
        self.retire(end);
        let sh = &self.sh;
        let x = sh.ext();
        // Release: pairs with the Acquire load in `BytesSubscriber::lapped`
        // and `join`: the `tail` stored before is visible with it.
        x.oldest.store(self.oldest, Ordering::Release);
        // Release: pairs with the Acquire load of `intent` in
        // `Shared::intact`: a subscriber that sees this intent (and so
        // jumps) sees the `oldest` stored above, which is past its cursor.
        x.intent.store(end.max(self.intent_floor), Ordering::Release);
        // Release: pairs with the Acquire fence in `Shared::intact`: a
        // subscriber whose copy reads any word stored below sees `intent`.
        fence(Ordering::Release);
        let p = self.next;
        if at != p && at - p >= RECORD_HEADER_LEN as u64 {
            // Relaxed (both): published by the `tail` store.
            sh.word(p).store(2 * self.msg + 2, Ordering::Relaxed);
            let len = at - p - RECORD_HEADER_LEN as u64;
            sh.word(p + 8)
                .store(len | (u64::from(PADDING_TYPE) << 32), Ordering::Relaxed);
        }
        let seq = sh.word(at);
        // Relaxed (all record stores): published by the `tail` store.
        seq.store(2 * self.msg + 1, Ordering::Relaxed);
        sh.word(at + 8)
            .store(msg.len() as u64 | (u64::from(ty) << 32), Ordering::Relaxed);
        let words = msg.chunks_exact(8);
        let rest = words.remainder();
        let mut w_at = at + 16;
        for chunk in words {
            let w = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
            sh.word(w_at).store(w, Ordering::Relaxed);
            w_at += 8;
        }
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            sh.word(w_at).store(u64::from_ne_bytes(w), Ordering::Relaxed);
        }
        seq.store(2 * self.msg + 2, Ordering::Relaxed);
        self.msg += 1;
        self.next = end;
        self.held += 1;
    }

    /// Hands every record written to the subscribers: one store of `tail`,
    /// at most one wake-up.
    #[inline]
    fn hand_over(&mut self) {
        let sh = &self.sh;
        // Relaxed: statistics and a successor's start (messages below
        // `tail`: a successor numbers on from there).
        sh.ext().published.store(self.msg, Ordering::Relaxed);
        // Release: pairs with the Acquire load of `tail` in `load_tail`:
        // every record below `next` is published.
        sh.ctl().tail.store(self.next, Ordering::Release);
        sh.ctl().not_empty.wake();
        self.shown = self.next;
        self.held = 0;
    }

    /// Hands the records written with [`send_held`](Self::send_held) to
    /// the subscribers (one store of `tail`, at most one wake-up); nothing
    /// when none is held. Also done by every plain send, before the
    /// publisher waits for room, and on drop.
    pub fn flush(&mut self) {
        if self.held > 0 {
            self.hand_over();
        }
    }

    fn room(&mut self, end: u64, expensive: bool) -> std::result::Result<(), Stop> {
        if end >= MAX_POS {
            return Err(Stop::Closed(corrupt(end, "broadcast positions exhausted")));
        }
        if self.sh.policy == Policy::Overwrite || end <= self.limit {
            return Ok(());
        }
        if expensive {
            self.sh.truncated().map_err(Stop::Closed)?;
        }
        let sh = self.sh.clone();
        // At most `shown + capacity`: a subscriber that joins after this
        // scan gates from a `tail` of at least `shown` (the join handshake,
        // see the parent module), so the cached limit must not let us
        // overwrite anything at or above `shown`. (`end - 8` alone would
        // let a record written later overwrite the start of the one being
        // written now, which such a subscriber has not read.)
        let l = sh.rescan(end - 8, self.shown, expensive, &mut self.pacer);
        self.limit = l.min(self.shown + sh.cap);
        if end > self.limit {
            return Err(Stop::Wait);
        }
        Ok(())
    }

    /// Writes `msg` if there is room, and hands it over unless `hold`.
    #[inline]
    fn try_inner(
        &mut self,
        ty: u32,
        msg: &[u8],
        expensive: bool,
        hold: bool,
    ) -> std::result::Result<(), TrySendError<()>> {
        if msg.len() > self.sh.max || ty == PADDING_TYPE {
            return Err(TrySendError::TooLarge {
                value: (),
                len: msg.len(),
                max: self.sh.max,
            });
        }
        let (at, end) = self.place(msg.len());
        // Held records span at most half the area with the new one, so
        // that `oldest` (the first record at or after `end - capacity`)
        // stays at or below `tail` and the room we need never exceeds a
        // ring beyond `tail`.
        if self.held > 0 && end - self.shown > self.sh.cap / 2 {
            self.hand_over();
        }
        match self.room(end, expensive) {
            Ok(()) => {
                self.write(ty, msg, at, end);
                if !hold {
                    self.hand_over();
                }
                Ok(())
            }
            Err(Stop::Wait) => {
                // The subscribers cannot read (and so free room past) what
                // we hold: hand it over before anyone waits.
                self.flush();
                Err(TrySendError::Full(()))
            }
            Err(Stop::Closed(c)) => Err(c.try_send(())),
        }
    }

    /// Publishes `msg` (type word 0) if no live subscriber holds the space
    /// (always under Overwrite). `TooLarge` above `max_message`.
    pub fn try_send(&mut self, msg: &[u8]) -> std::result::Result<(), TrySendError<()>> {
        self.try_send_with_type(0, msg)
    }

    /// [`try_send`](Self::try_send) with a type word (any but
    /// [`PADDING_TYPE`], which is `TooLarge`).
    pub fn try_send_with_type(&mut self, ty: u32, msg: &[u8]) -> std::result::Result<(), TrySendError<()>> {
        self.try_paced(ty, msg, false)
    }

    /// Like [`try_send`](Self::try_send), but holds the message back: it
    /// is written, and handed to the subscribers (with every message held
    /// before it) by the next [`flush`](Self::flush), plain send, failed
    /// try (`Full`: handed over before anyone waits) or drop. Until then
    /// no subscriber sees it, and a publisher that dies takes it along
    /// (its successor continues from the last message handed over).
    /// Writing a batch this way costs one store of `tail` and at most one
    /// wake-up per batch instead of per message, and lets subscribers read
    /// lines the publisher is done with. Held records span at most half
    /// the ring: a message beyond that hands the held ones over first.
    pub fn try_send_held(&mut self, msg: &[u8]) -> std::result::Result<(), TrySendError<()>> {
        self.try_paced(0, msg, true)
    }

    fn try_paced(&mut self, ty: u32, msg: &[u8], hold: bool) -> std::result::Result<(), TrySendError<()>> {
        match self.try_inner(ty, msg, false, hold) {
            Err(TrySendError::Full(())) => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.try_inner(ty, msg, exp, hold)
            }
            r => r,
        }
    }

    /// Publishes `msg`, waiting (Block) for the slowest live subscriber;
    /// a dead one is evicted after the stall timeout.
    pub fn send(&mut self, msg: &[u8]) -> std::result::Result<(), SendError<()>> {
        self.send_with_type(0, msg)
    }

    /// [`send`](Self::send) with a type word.
    pub fn send_with_type(&mut self, ty: u32, msg: &[u8]) -> std::result::Result<(), SendError<()>> {
        self.send_until(ty, msg, None, false).map_err(send_err)
    }

    /// [`send`](Self::send), holding the message back as
    /// [`try_send_held`](Self::try_send_held) does (when it must wait for
    /// room, it hands the held messages over first).
    pub fn send_held(&mut self, msg: &[u8]) -> std::result::Result<(), SendError<()>> {
        self.send_until(0, msg, None, true).map_err(send_err)
    }

    /// Publishes `msg`, waiting at most `timeout`.
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> std::result::Result<(), SendTimeoutError<()>> {
        self.send_until(0, msg, deadline(timeout), false)
    }

    /// [`send_timeout`](Self::send_timeout) with a type word.
    pub fn send_timeout_with_type(
        &mut self,
        ty: u32,
        msg: &[u8],
        timeout: Duration,
    ) -> std::result::Result<(), SendTimeoutError<()>> {
        self.send_until(ty, msg, deadline(timeout), false)
    }

    #[inline]
    fn send_until(
        &mut self,
        ty: u32,
        msg: &[u8],
        deadline: Option<Instant>,
        hold: bool,
    ) -> std::result::Result<(), SendTimeoutError<()>> {
        // The first try without the wait machinery (`block_on` tries first
        // too, but its word borrows a clone of the shared handles).
        match self.try_inner(ty, msg, false, hold) {
            Err(TrySendError::Full(())) => {}
            r => return r.map_err(TrySendError::into_send_timeout),
        }
        let sh = self.sh.clone();
        let cfg = self.wait;
        wait::block_on(&sh.ctl().not_full, &cfg, deadline, |exp| {
            match self.try_inner(ty, msg, exp || sh.check_every_poll, hold) {
                Ok(()) => Some(Ok(())),
                Err(TrySendError::Full(())) => None,
                Err(e) => Some(Err(e.into_send_timeout())),
            }
        })
        .unwrap_or(Err(SendTimeoutError::Timeout(())))
    }

    /// Simulates a SIGKILL of the publisher (tests and loom).
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __crash(self) {
        let me = std::mem::ManuallyDrop::new(self);
        me.sh.mark_dead(PUBLISHER, me.token);
        // SAFETY: `me` is not used again and its Drop never runs; `sh` is
        // the only field owning resources, read out once.
        drop(unsafe { std::ptr::read(&me.sh) });
    }

    /// Simulates a SIGKILL in the middle of writing `msg`: `intent` and the
    /// odd sequence stored, half of the payload written, `tail` not moved.
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __crash_mid_write(mut self, msg: &[u8]) {
        let (at, end) = self.place(msg.len());
        self.retire(end);
        let sh = self.sh.clone();
        // Release (all three): as in `write`.
        sh.ext().oldest.store(self.oldest, Ordering::Release);
        sh.ext().intent.store(end.max(self.intent_floor), Ordering::Release);
        fence(Ordering::Release);
        sh.word(at).store(2 * self.msg + 1, Ordering::Relaxed);
        sh.word(at + 8).store(msg.len() as u64, Ordering::Relaxed);
        for i in 0..msg.len().div_ceil(16) {
            sh.word(at + 16 + 8 * i as u64).store(u64::MAX, Ordering::Relaxed);
        }
        self.__crash();
    }
}

impl Drop for BytesPublisher {
    fn drop(&mut self) {
        // Held messages first: the subscribers see them before the end.
        self.flush();
        self.sh.detach_publisher(self.token);
    }
}

/// A subscribing endpoint of a byte broadcast channel.
pub struct BytesSubscriber {
    sh: Shared,
    index: usize,
    token: u64,
    /// Byte position of the next record.
    cursor: u64,
    /// Positions below this were published before we joined.
    counted_from: u64,
    /// Cached `tail`.
    tail: u64,
    /// Number of the next message, once known.
    next_msg: Option<u64>,
    /// `published` at our join: earlier messages are never counted lost.
    join_msg: u64,
    received: u64,
    lost: u64,
    /// Copies under Overwrite (`max_message` rounded up to 8 bytes).
    buf: Vec<u8>,
    /// The gate last stored in our entry.
    gate: u64,
    /// The gate we may store: the end of the last record delivered.
    pending_gate: u64,
    /// Store the gate when it moved this many bytes (see `advance`).
    gate_every: u64,
    wait: WaitConfig,
    pacer: Pacer,
}

impl std::fmt::Debug for BytesSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::BytesSubscriber")
            .field("name", &self.sh.name)
            .field("endpoint", &self.index)
            .field("cursor", &self.cursor)
            .finish()
    }
}

/// A message found at the cursor.
#[derive(Clone, Copy)]
struct Found {
    number: u64,
    ty: u32,
    len: usize,
    /// Byte position of the payload.
    at: u64,
    /// Where the record ends.
    end: u64,
    in_place: bool,
}

impl BytesSubscriber {
    /// Sets how blocking calls wait.
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.wait = cfg;
    }

    /// Messages this subscriber was told it lost (sum of `Lagged`).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Messages received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Byte position of the next record.
    pub fn position(&self) -> u64 {
        self.cursor
    }

    fn in_place_ok(&self) -> bool {
        #[cfg(loom)]
        {
            false
        }
        #[cfg(not(loom))]
        {
            self.sh.policy == Policy::Block && self.cursor >= self.counted_from && !self.sh.evicted(self.index)
        }
    }

    /// Done with the record ending at `end` (number `number`).
    #[inline(always)]
    fn advance(&mut self, number: u64, end: u64) {
        self.cursor = end;
        self.received += 1;
        self.next_msg = Some(number + 1);
        let e = self.sh.entry(self.index);
        // Relaxed (both): statistics (received = next - start - lost).
        e.words[W_MSG].store(number + 1, Ordering::Relaxed);
        let start = (number + 1).saturating_sub(self.received.saturating_add(self.lost));
        e.words[W_START].store(start, Ordering::Relaxed);
        self.pending_gate = end.max(self.counted_from);
        if self.pending_gate.saturating_sub(self.gate) >= self.gate_every {
            self.store_gate();
        }
    }

    /// Stores the pending gate (and wakes a blocked publisher).
    #[inline]
    fn store_gate(&mut self) {
        self.sh.set_gate(self.index, self.pending_gate);
        self.gate = self.pending_gate;
    }

    /// One look at the cursor: `None` when nothing is published there.
    fn attempt(&mut self, in_place: bool) -> Option<std::result::Result<Found, TryRecvError>> {
        // Padding and implicit padding: at most two skips in a row.
        for _ in 0..3 {
            let c = self.cursor;
            if c >= self.tail {
                self.tail = match self.sh.load_tail() {
                    Ok(t) => t,
                    Err(e) => return Some(Err(e.into())),
                };
                if c >= self.tail {
                    return None;
                }
            }
            if self.tail - c > self.sh.cap || !c.is_multiple_of(8) {
                return Some(self.lapped());
            }
            let h = self.sh.head(c);
            match h {
                Ok(Head::Skip(n)) => {
                    if !self.sh.intact(c) {
                        return Some(self.lapped());
                    }
                    self.cursor = c + n;
                    // Skipping padding frees no one's message; the gate
                    // moves with the next delivered record.
                    continue;
                }
                Ok(Head::Msg { number, len, ty }) => {
                    let at = c + RECORD_HEADER_LEN as u64;
                    let end = c + record_size(len) as u64;
                    if end > self.tail {
                        if !self.sh.intact(c) {
                            return Some(self.lapped());
                        }
                        return Some(Err(corrupt(c, "broadcast record extends beyond tail").into()));
                    }
                    if !in_place {
                        for i in 0..len.div_ceil(8) {
                            // Relaxed: validated by the intent check below.
                            let w = self.sh.word(at + 8 * i as u64).load(Ordering::Relaxed);
                            self.buf[8 * i..8 * i + 8].copy_from_slice(&w.to_ne_bytes());
                        }
                    }
                    if !self.sh.intact(c) {
                        return Some(self.lapped());
                    }
                    if let Some(e) = self.missed(number) {
                        return Some(Err(e));
                    }
                    return Some(Ok(Found {
                        number,
                        ty,
                        len,
                        at,
                        end,
                        in_place,
                    }));
                }
                Err(e) => {
                    if !self.sh.intact(c) {
                        return Some(self.lapped());
                    }
                    return Some(Err(e.into()));
                }
            }
        }
        Some(Err(corrupt(self.cursor, "broadcast padding follows padding").into()))
    }

    /// Our record was overwritten: jump to the oldest intact one. The
    /// messages missed are counted from the message numbers when the next
    /// record is read (see `attempt`), so this returns `Empty` (the caller
    /// looks again).
    #[cold]
    fn lapped(&mut self) -> std::result::Result<Found, TryRecvError> {
        let sh = self.sh.clone();
        // Acquire: pairs with the Release store of `oldest` in `write`.
        let o = sh.ext().oldest.load(Ordering::Acquire);
        let t = sh.load_tail().map_err(TryRecvError::from)?;
        self.tail = t;
        let c = self.cursor;
        let valid = o.is_multiple_of(8) && o <= t && t - o <= sh.cap;
        let new = if valid && o > c { o } else { t };
        self.cursor = new;
        self.pending_gate = new.max(self.counted_from);
        self.store_gate();
        Err(TryRecvError::Empty)
    }

    /// Messages missed before message `number`, which is intact at the
    /// cursor: reported as `Lagged` (the next look delivers it).
    #[inline(always)]
    fn missed(&mut self, number: u64) -> Option<TryRecvError> {
        let from = self.next_msg.unwrap_or(self.join_msg).max(self.join_msg);
        if number <= from {
            return None;
        }
        let n = number - from;
        self.next_msg = Some(number);
        // Saturating: `number` comes from the segment, and a scribbling
        // peer can make the gaps add up beyond any count.
        self.lost = self.lost.saturating_add(n);
        self.sh.record_lost(self.index, self.lost, n);
        Some(TryRecvError::Lagged(n))
    }

    fn poll(&mut self, expensive: bool, in_place: bool) -> std::result::Result<Found, TryRecvError> {
        for _ in 0..4 {
            let in_place = in_place && self.in_place_ok();
            match self.attempt(in_place) {
                Some(Err(TryRecvError::Empty)) => continue,
                Some(r) => return r,
                None => {}
            }
            match self.sh.publisher_gone(expensive) {
                Ok(None) => break,
                Ok(Some(c)) => {
                    return match self.attempt(in_place) {
                        None => Err(c.into()),
                        Some(Err(TryRecvError::Empty)) => continue,
                        Some(r) => r,
                    };
                }
                Err(c) => return Err(c.into()),
            }
        }
        // Nothing to read: free what we read before anyone waits (we may
        // block next; a publisher may be waiting for this gate).
        if self.gate != self.pending_gate {
            self.store_gate();
        }
        Err(TryRecvError::Empty)
    }

    fn poll_paced(&mut self, in_place: bool) -> std::result::Result<Found, TryRecvError> {
        match self.poll(false, in_place) {
            Err(TryRecvError::Empty) => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.poll(exp, in_place)
            }
            r => r,
        }
    }

    fn message(&mut self, f: Found) -> BytesMessage<'_> {
        BytesMessage { sub: self, f }
    }

    /// The next message, in place under Block, else a validated copy; the
    /// subscriber moves past it when the guard drops. `Lagged(n)` when
    /// lapped (the next call returns the oldest message still intact);
    /// after the last message `Disconnected` or `PeerDied`.
    pub fn try_read(&mut self) -> std::result::Result<BytesMessage<'_>, TryRecvError> {
        let f = self.poll_paced(true)?;
        Ok(self.message(f))
    }

    /// Like [`try_read`](Self::try_read), waiting at most `timeout`
    /// (`None`: as long as it takes).
    fn read_until(&mut self, deadline: Option<Instant>) -> std::result::Result<Found, RecvTimeoutError> {
        let sh = self.sh.clone();
        let cfg = self.wait;
        wait::block_on(&sh.ctl().not_empty, &cfg, deadline, |exp| {
            match self.poll(exp || sh.check_every_poll, true) {
                Ok(f) => Some(Ok(f)),
                Err(e) => e.into_timeout().map(Err),
            }
        })
        .unwrap_or(Err(RecvTimeoutError::Timeout))
    }

    /// Like [`try_read`](Self::try_read), waiting as long as it takes.
    pub fn read(&mut self) -> std::result::Result<BytesMessage<'_>, RecvError> {
        let f = self.read_until(None).map_err(RecvTimeoutError::into_recv)?;
        Ok(self.message(f))
    }

    /// Like [`try_read`](Self::try_read), waiting at most `timeout`.
    pub fn read_timeout(&mut self, timeout: Duration) -> std::result::Result<BytesMessage<'_>, RecvTimeoutError> {
        let f = self.read_until(deadline(timeout))?;
        Ok(self.message(f))
    }

    /// Copies the next message into `buf` (replacing its contents) and
    /// returns its type word.
    pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> std::result::Result<u32, TryRecvError> {
        let m = self.try_read()?;
        buf.clear();
        buf.extend_from_slice(m.bytes());
        Ok(m.ty())
    }

    /// [`try_recv`](Self::try_recv), waiting as long as it takes.
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> std::result::Result<u32, RecvError> {
        let m = self.read()?;
        buf.clear();
        buf.extend_from_slice(m.bytes());
        Ok(m.ty())
    }

    /// [`try_recv`](Self::try_recv), waiting at most `timeout`.
    pub fn recv_timeout(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> std::result::Result<u32, RecvTimeoutError> {
        let m = self.read_timeout(timeout)?;
        buf.clear();
        buf.extend_from_slice(m.bytes());
        Ok(m.ty())
    }

    /// Simulates a SIGKILL of this subscriber (tests and loom).
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __crash(self) {
        let me = std::mem::ManuallyDrop::new(self);
        me.sh.mark_dead(me.index, me.token);
        // SAFETY: `me` is not used again and its Drop never runs; `sh` and
        // `buf` are read out once and dropped.
        drop(unsafe { std::ptr::read(&me.sh) });
        // SAFETY: as above.
        drop(unsafe { std::ptr::read(&me.buf) });
    }
}

impl Drop for BytesSubscriber {
    fn drop(&mut self) {
        self.sh.detach_subscriber(self.index, self.token);
    }
}

/// The next message of a [`BytesSubscriber`], borrowed; dropping it moves
/// the subscriber past the message.
pub struct BytesMessage<'a> {
    sub: &'a mut BytesSubscriber,
    f: Found,
}

impl BytesMessage<'_> {
    /// The payload.
    pub fn bytes(&self) -> &[u8] {
        if self.f.in_place {
            let sh = &self.sub.sh;
            // SAFETY: made only under Block for a record at or after our
            // join (the Dekker handshake protects it), validated by the
            // header checks and the intent check; our gate is at this
            // record until the guard drops, so the publisher does not write
            // these bytes meanwhile. `len` bytes from the payload's start
            // stay inside the area (`record_size(len)` fits before its end,
            // checked in `Shared::head`); the pointer is derived from the
            // area's base; bytes are valid for any value.
            unsafe { std::slice::from_raw_parts((sh.words.as_ptr() as *const u8).add(sh.off(self.f.at)), self.f.len) }
        } else {
            &self.sub.buf[..self.f.len]
        }
    }

    /// The sender's type word.
    pub fn ty(&self) -> u32 {
        self.f.ty
    }

    /// The message's number (messages published before it).
    pub fn number(&self) -> u64 {
        self.f.number
    }

    /// Whether the payload is read in place (else a validated copy).
    pub fn in_place(&self) -> bool {
        self.f.in_place
    }
}

impl std::ops::Deref for BytesMessage<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

impl Drop for BytesMessage<'_> {
    fn drop(&mut self) {
        self.sub.advance(self.f.number, self.f.end);
    }
}

impl std::fmt::Debug for BytesMessage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::BytesMessage")
            .field("number", &self.f.number)
            .field("type", &self.f.ty)
            .field("len", &self.f.len)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wait::WaitStrategy;

    fn fast() -> WaitConfig {
        WaitConfig {
            strategy: WaitStrategy::Park,
            check_interval: Duration::from_millis(1),
        }
    }

    fn ring(cap: usize, max: usize, policy: Policy) -> BytesChannel {
        BytesBuilder::new()
            .capacity(cap)
            .max_message(max)
            .policy(policy)
            .endpoints(6)
            .stall_timeout(Duration::from_millis(5))
            .in_process()
            .unwrap()
    }

    /// A message of `len` bytes that says which it is.
    fn msg(i: u64, len: usize) -> Vec<u8> {
        (0..len).map(|k| (i as usize * 31 + k) as u8).collect()
    }

    #[test]
    fn block_every_size_in_order_with_wrap_padding() {
        let ch = ring(128, 16, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        let mut b = ch.subscribe().unwrap();
        let mut buf = Vec::new();
        for i in 0..200u64 {
            let m = msg(i, (i % 17) as usize);
            tx.try_send_with_type(i as u32, &m).unwrap();
            let g = a.try_read().unwrap();
            assert!(g.in_place());
            assert_eq!((g.bytes(), g.ty(), g.number()), (&m[..], i as u32, i));
            drop(g);
            assert_eq!(b.try_recv(&mut buf), Ok(i as u32));
            assert_eq!(buf, m);
        }
        assert_eq!(a.try_read().unwrap_err(), TryRecvError::Empty);
        let s = ch.stats();
        assert_eq!((s.published, s.subscribers, s.lost, s.max_lag), (200, 2, 0, 0));
        let subs = ch.subscribers();
        assert!(subs.iter().all(|s| s.received == 200 && s.lag == 0));
    }

    #[test]
    fn held_messages_are_handed_over_by_flush_send_and_drop() {
        let ch = ring(256, 32, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        for i in 0..3 {
            tx.try_send_held(&msg(i, 5)).unwrap();
        }
        assert_eq!((tx.held(), tx.published(), ch.stats().published), (3, 0, 0));
        assert_eq!(a.try_read().unwrap_err(), TryRecvError::Empty, "held back");
        tx.flush();
        assert_eq!((tx.held(), tx.published(), ch.stats().published), (0, 3, 3));
        for i in 0..3 {
            assert_eq!(a.try_read().unwrap().bytes(), &msg(i, 5)[..]);
        }
        // A plain send hands over the held ones before it.
        tx.send_held(&msg(3, 7)).unwrap();
        tx.send(&msg(4, 0)).unwrap();
        assert_eq!(tx.held(), 0);
        for i in 3..5 {
            let m = a.try_read().unwrap();
            assert_eq!((m.number(), m.bytes()), (i, &msg(i, if i == 3 { 7 } else { 0 })[..]));
        }
        // Dropping the publisher hands over the rest, then the end.
        tx.send_held(&msg(5, 32)).unwrap();
        drop(tx);
        assert_eq!(a.try_read().unwrap().bytes(), &msg(5, 32)[..]);
        assert_eq!(a.try_read().unwrap_err(), TryRecvError::Disconnected);
        assert_eq!(a.lost(), 0);
    }

    #[test]
    fn held_messages_span_at_most_half_the_ring_and_are_handed_over_before_waiting() {
        for policy in [Policy::Block, Policy::Overwrite] {
            let ch = ring(256, 32, policy);
            let mut tx = ch.publisher().unwrap();
            let mut a = ch.subscribe().unwrap();
            // Records of 24 bytes: the sixth would take the held span past
            // 128 bytes, so the first five are handed over before it.
            for i in 0..6 {
                tx.try_send_held(&msg(i, 8)).unwrap();
            }
            assert_eq!((tx.held(), tx.published()), (1, 5), "{policy:?}");
            for i in 0..5 {
                assert_eq!(a.try_read().unwrap().number(), i);
            }
            assert_eq!(a.try_read().unwrap_err(), TryRecvError::Empty);
        }
        // Block, nobody reading: the held ones are handed over when the
        // ring is full (the subscriber could never free room otherwise).
        let ch = ring(256, 32, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        // 192 bytes handed over, then held ones until the ring is full.
        for i in 0..8 {
            tx.try_send(&msg(i, 8)).unwrap();
        }
        let mut sent = 8u64;
        loop {
            match tx.try_send_held(&msg(sent, 8)) {
                Ok(()) => sent += 1,
                Err(TrySendError::Full(())) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(sent, 10, "two held records fit");
        assert_eq!((tx.held(), tx.published()), (0, sent));
        for i in 0..sent {
            assert_eq!(a.try_read().unwrap().number(), i);
        }
        // Read to the end: the subscriber's gate is stored, the whole ring
        // is free again.
        assert_eq!(a.try_read().unwrap_err(), TryRecvError::Empty);
        let mut again = 0u64;
        while tx.try_send(&msg(sent + again, 8)).is_ok() {
            again += 1;
        }
        assert!(again * 24 > 256 - 24, "only {again} records of 24 bytes fit again");
    }

    #[test]
    fn a_subscriber_stores_its_gate_in_steps_and_when_it_runs_empty() {
        // 1 KiB area: the gate is stored every 128 bytes (or on Empty).
        let ch = ring(1024, 64, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        let gate = |ch: &BytesChannel| ch.sh.entry(1).words[super::super::core::W_CURSOR].load(Ordering::Relaxed) - 1;
        for i in 0..20 {
            tx.send(&msg(i, 8)).unwrap(); // 24-byte records
        }
        assert_eq!(gate(&ch), 0);
        for i in 0..5 {
            assert_eq!(a.try_read().unwrap().number(), i);
        }
        assert_eq!(gate(&ch), 0, "120 bytes read: not stored yet");
        assert_eq!(a.try_read().unwrap().number(), 5);
        assert_eq!(gate(&ch), 144, "144 bytes read: stored");
        while a.try_read().is_ok() {}
        assert_eq!(gate(&ch), 480, "ran empty: stored");
        // In place under Block: the gate never passes a record being read.
        tx.send(&msg(20, 64)).unwrap();
        let m = a.try_read().unwrap();
        assert!(m.in_place());
        assert!(gate(&ch) <= 480);
        drop(m);
    }

    #[test]
    fn a_publisher_dying_with_held_messages_takes_them_along() {
        let ch = ring(256, 32, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        tx.send(&msg(0, 3)).unwrap();
        tx.send_held(&msg(1, 3)).unwrap();
        tx.send_held(&msg(2, 3)).unwrap();
        tx.__crash();
        let mut tx = ch.publisher().unwrap();
        assert_eq!(tx.published(), 1);
        tx.send(&msg(9, 4)).unwrap();
        assert_eq!(a.try_read().unwrap().bytes(), &msg(0, 3)[..]);
        let m = a.try_read().unwrap();
        // Numbered on from the last message handed over: nothing lost.
        assert_eq!((m.number(), m.bytes()), (1, &msg(9, 4)[..]));
        drop(m);
        assert_eq!(a.try_read().unwrap_err(), TryRecvError::Empty);
        assert_eq!(a.lost(), 0);
    }

    #[test]
    fn block_full_then_freed_and_too_large() {
        let ch = ring(128, 16, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        let mut n = 0;
        while tx.try_send(&msg(n, 16)).is_ok() {
            n += 1;
        }
        assert_eq!(n, 4, "four 32-byte records fill 128 bytes");
        assert!(matches!(
            tx.try_send(&[0; 17]),
            Err(TrySendError::TooLarge { len: 17, max: 16, .. })
        ));
        {
            let g = a.try_read().unwrap();
            assert_eq!(&*g, &msg(0, 16)[..]);
            // The guard holds the record.
            assert!(tx.try_send(&msg(4, 16)).unwrap_err().is_full());
        }
        tx.try_send(&msg(4, 16)).unwrap();
        drop(a); // leaving frees the publisher
        for i in 5..50 {
            tx.try_send(&msg(i, 16)).unwrap();
        }
        drop(tx);
        let mut late = ch.subscribe().unwrap();
        assert_eq!(late.try_read().unwrap_err(), TryRecvError::Disconnected);
    }

    #[test]
    fn overwrite_lagged_counts_from_message_numbers_and_never_torn() {
        let ch = ring(256, 40, Policy::Overwrite);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        let mut lens = Vec::new();
        for i in 0..100u64 {
            let len = (i * 7 % 41) as usize;
            lens.push(len);
            tx.send(&msg(i, len)).unwrap();
        }
        let Err(TryRecvError::Lagged(n)) = a.try_read().map(|m| m.number()) else {
            panic!("not lapped")
        };
        let mut got = 0;
        let mut next = n;
        while let Ok(m) = a.try_read() {
            assert!(!m.in_place());
            assert_eq!(m.number(), next);
            assert_eq!(m.bytes(), &msg(next, lens[next as usize])[..]);
            next += 1;
            got += 1;
        }
        assert_eq!(next, 100);
        assert_eq!(got + a.lost(), 100);
        assert_eq!(ch.stats().lost, n);
        let subs = ch.subscribers();
        assert_eq!((subs[0].received, subs[0].lost, subs[0].lag), (got, n, 0));
    }

    #[test]
    fn newest_and_oldest_starts() {
        for policy in [Policy::Block, Policy::Overwrite] {
            let ch = ring(256, 24, policy);
            let mut tx = ch.publisher().unwrap();
            for i in 0..3 {
                tx.send(&msg(i, 10)).unwrap();
            }
            let mut newest = ch.subscribe().unwrap();
            let mut oldest = ch.subscribe_from_oldest().unwrap();
            assert_eq!(newest.try_read().unwrap_err(), TryRecvError::Empty);
            assert_eq!(oldest.try_read().unwrap().number(), 0);
            tx.send(&msg(3, 10)).unwrap();
            assert_eq!(newest.try_read().unwrap().number(), 3);
            for i in 1..4 {
                assert_eq!(oldest.try_read().unwrap().number(), i);
            }
            if policy == Policy::Overwrite {
                for i in 4..40 {
                    tx.send(&msg(i, 24)).unwrap();
                }
                let mut late = ch.subscribe_from_oldest().unwrap();
                let first = late.try_read().unwrap().number();
                assert!(first > 4 && first < 40, "{first}");
                assert_eq!(late.lost(), 0);
            }
        }
    }

    #[test]
    fn threads_overwrite_intact_and_accounted_block_complete() {
        for policy in [Policy::Overwrite, Policy::Block] {
            let ch = ring(256, 48, policy);
            let mut tx = ch.publisher().unwrap();
            let n = if cfg!(miri) { 150 } else { 20_000 };
            let subs: Vec<_> = (0..2)
                .map(|_| {
                    let mut s = ch.subscribe().unwrap();
                    std::thread::spawn(move || {
                        let (mut got, mut lost, mut last) = (0u64, 0u64, None);
                        loop {
                            match s.read() {
                                Ok(m) => {
                                    let i = m.number();
                                    assert_eq!(m.bytes(), &msg(i, (i % 49) as usize)[..], "torn {i}");
                                    assert!(last.is_none_or(|l| i > l), "out of order");
                                    last = Some(i);
                                    got += 1;
                                }
                                Err(RecvError::Lagged(k)) => lost += k,
                                Err(RecvError::Disconnected) => return (got, lost),
                                Err(e) => panic!("{e:?}"),
                            }
                        }
                    })
                })
                .collect();
            for i in 0..n {
                tx.send(&msg(i, (i % 49) as usize)).unwrap();
            }
            drop(tx);
            for t in subs {
                let (got, lost) = t.join().unwrap();
                assert_eq!(got + lost, n);
                if policy == Policy::Block {
                    assert_eq!(lost, 0);
                }
            }
        }
    }

    #[test]
    fn dead_subscriber_evicted_and_dead_publisher_replaced_mid_write() {
        let ch = ring(128, 16, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        tx.set_wait_config(fast());
        let dead = ch.subscribe().unwrap();
        let mut live = ch.subscribe().unwrap();
        live.set_wait_config(fast());
        dead.__crash();
        for i in 0..10 {
            tx.send(&msg(i, 16)).unwrap();
            assert_eq!(live.try_read().unwrap().number(), i);
        }
        assert_eq!(ch.stats().evicted, 1);
        tx.__crash_mid_write(&msg(10, 16));
        // Half written: never delivered.
        assert_eq!(
            live.read().unwrap_err(),
            RecvError::PeerDied {
                pid: std::process::id()
            }
        );
        let mut tx = ch.publisher().unwrap();
        assert_eq!(tx.published(), 10);
        for i in 10..20 {
            tx.send(&msg(i, 16)).unwrap();
            let m = live.try_read().unwrap();
            assert_eq!((m.number(), m.bytes()), (i, &msg(i, 16)[..]));
        }
        assert_eq!(live.lost(), 0);
    }

    #[test]
    fn scribbled_words_are_errors_not_hangs() {
        let ch = ring(128, 16, Policy::Overwrite);
        let mut tx = ch.publisher().unwrap();
        let mut s = ch.subscribe().unwrap();
        tx.send(b"abc").unwrap();
        // A length beyond max_message in a published header.
        ch.sh.word(8).store(1000, Ordering::Relaxed);
        assert!(matches!(s.try_read().unwrap_err(), TryRecvError::Corrupt { .. }));
        // A tail out of range.
        ch.sh.ctl().tail.store(u64::MAX, Ordering::Relaxed);
        assert!(matches!(s.try_read().unwrap_err(), TryRecvError::Corrupt { .. }));
        assert!(matches!(ch.subscribe(), Err(Error::Corrupt { .. })));
        // A scribbled `oldest` and `intent`: a new publisher and a lapped
        // subscriber stay within bounds.
        let ch = ring(128, 16, Policy::Overwrite);
        let mut s = ch.subscribe().unwrap();
        ch.sh.ext().oldest.store(3, Ordering::Relaxed);
        ch.sh.ext().intent.store(u64::MAX / 2, Ordering::Relaxed);
        let mut tx = ch.publisher().unwrap();
        for i in 0..20 {
            tx.send(&msg(i, 16)).unwrap();
        }
        for _ in 0..30 {
            let _ = s.try_read();
        }
    }

    /// Message numbers come from the segment: a peer can make every other
    /// record claim the largest number. The subscriber reports the gaps as
    /// `Lagged` and its loss count saturates; no arithmetic overflows
    /// (which, in a build with overflow checks, was a panic).
    #[test]
    fn scribbled_message_numbers_do_not_overflow_the_loss_count() {
        let ch = ring(1024, 16, Policy::Overwrite);
        let mut tx = ch.publisher().unwrap();
        let mut s = ch.subscribe().unwrap();
        let (mut lagged, mut got) = (0, 0);
        for i in 0..4 {
            // A record whose sequence word names the largest message
            // number, then an honest one (its number is lower again).
            let at = ch.sh.load_tail().unwrap();
            tx.send(&msg(2 * i, 8)).unwrap();
            ch.sh.word(at).store(u64::MAX - 1, Ordering::Relaxed);
            tx.send(&msg(2 * i + 1, 8)).unwrap();
            for _ in 0..8 {
                match s.try_read() {
                    Ok(m) => {
                        assert_eq!(m.bytes().len(), 8);
                        got += 1;
                    }
                    Err(TryRecvError::Lagged(n)) => {
                        assert!(n > 0);
                        lagged += 1;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        assert_eq!((got, lagged), (8, 4));
        assert_eq!(s.lost(), u64::MAX, "saturated");
    }

    #[test]
    fn bad_arguments() {
        assert!(BytesBuilder::new().capacity(100).in_process().is_err());
        assert!(BytesBuilder::new().capacity(32).in_process().is_err());
        assert!(BytesBuilder::new().capacity(128).max_message(49).in_process().is_err());
        let ch = BytesBuilder::new().capacity(128).in_process().unwrap();
        assert_eq!(ch.max_message(), 48);
        let mut tx = ch.publisher().unwrap();
        assert!(matches!(
            tx.try_send_with_type(PADDING_TYPE, b""),
            Err(TrySendError::TooLarge { .. })
        ));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn named_segment_and_inspect() {
        let name = format!("/shmlane-bbytes-unit-{}", std::process::id());
        let ch = BytesBuilder::new()
            .capacity(1024)
            .policy(Policy::Overwrite)
            .create(&name)
            .unwrap();
        let other = BytesChannel::open(&name).unwrap();
        assert_eq!((other.policy(), other.max_message()), (Policy::Overwrite, 496));
        let mut tx = ch.publisher().unwrap();
        let mut s = other.subscribe().unwrap();
        tx.send(b"xyz").unwrap();
        assert_eq!(&*s.try_read().unwrap(), b"xyz");
        let r = crate::inspect::broadcast(&name);
        assert!(crate::broadcast::Channel::<u64>::open(&name).is_err());
        crate::segment::unlink(&name).unwrap();
        let (st, subs) = r.unwrap();
        assert_eq!((st.published, st.subscribers, st.capacity), (1, 1, 1024));
        assert_eq!((subs[0].received, subs[0].cursor), (1, 1));
    }
}
