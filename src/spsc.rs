//! Single-producer single-consumer ring of fixed-size elements.
//!
//! # Algorithm
//! Lamport's bounded ring with free-running 64-bit indices, as refined by
//! Rigtorp and rtrb: `tail` (next index to write) is stored only by the
//! producer, `head` (next index to read) only by the consumer, each on its
//! own 128-byte line. Each side keeps a private *cached copy* of the other
//! side's index and reloads it only when the ring looks full (producer) or
//! empty (consumer), so in steady state a push touches the slot and its own
//! index line, and the other side's line is read once per lap rather than
//! once per element.
//!
//! Invariants (with `cap` a power of two, slot of index `i` = `i & (cap-1)`):
//! - `head <= tail <= head + cap` (wrapping arithmetic on u64);
//! - slots in `[head, tail)` hold committed elements the consumer owns;
//!   slots in `[tail, head + cap)` are free and the producer owns them;
//! - the producer publishes a slot with a Release store of `tail` after
//!   writing it; the consumer's Acquire load of `tail` makes the write
//!   visible; symmetrically the consumer frees slots with a Release store
//!   of `head` after reading them.
//!
//! # Mailbox
//! A single `push` or `try_push` of an element of at most [`MAIL_BYTES`]
//! also copies it into the rest of `tail`'s line (see [`TailLine`]), and a
//! `pop` or `try_pop` that had to reload `tail` takes the element from
//! there when it is the one it wants. A consumer that keeps up then moves
//! one cache line per message instead of two (the index, then the slot),
//! and the slot lines stay with the producer: measured in-process, the
//! spinning round trip went from about 140 to 105 ns. Slots are still
//! written, so chunks, batches, peeks and the C ABI read them as always.
//! A [`RawProducer`] (the C ABI's) does not post: in paired runs of the
//! C→C stream, posting made it slower (its consumer, a little slower per
//! call than the producer, is caught up more often, and the extra stores
//! on the line it polls cost more than the line they save); a
//! [`RawConsumer`] takes what a typed producer posted.
//!
//! A value of `tail - head` above `cap`, as a peer scribbling on the segment
//! could produce, is reported as [`Corruption`]; slot indices are always
//! masked, so no index read from shared memory can reach outside the slot
//! array.
//!
//! # Attachment
//! Entry 0 of the endpoint table is the producer, entry 1 the consumer. A
//! second live attach in the same role is [`Error::EndpointBusy`]; the entry
//! of a dead holder is taken over, and a new producer continues from the
//! shared `tail` (what the dead one committed), a new consumer from `head`.
//! A consumer that dies after reading elements in place but before
//! releasing them leaves them in the ring: its successor reads them again.
//!
//! # Blocking
//! `not_empty` (consumer sleeps) and `not_full` (producer sleeps) are
//! [`WaitWord`]s; see [`crate::wait`] for the protocol. A push into a ring
//! whose consumer is awake makes no system call.
//!
//! # Example
//! ```
//! use shmlane::spsc;
//! // An anonymous ring; a named one is `spsc::Channel::create("/name", 1024)`.
//! let ch = spsc::Channel::<u64>::anonymous(1024)?;
//! let mut tx = ch.producer()?;
//! let mut rx = ch.consumer()?;
//! tx.push(7).unwrap();
//! tx.push_slice(&[8, 9]).unwrap();
//! assert_eq!(rx.pop(), Ok(7));
//! let mut out = [0u64; 4];
//! assert_eq!(rx.try_pop_slice(&mut out), Ok(2));
//! drop(tx);
//! assert_eq!(rx.pop(), Err(shmlane::RecvError::Disconnected));
//! # Ok::<(), shmlane::Error>(())
//! ```

use crate::endpoint::{self, Holder};
use crate::error::{
    Closed, Corruption, Error, RecvError, RecvTimeoutError, Result, SendError, SendTimeoutError, TryRecvError,
    TrySendError,
};
use crate::layout::{EndpointEntry, Geometry, Kind, Role, TypeFingerprint};
use crate::segment::{CreateOptions, Expect, OpenOptions, Segment, Spec};
use crate::sync::{fence, AtomicU64, Ordering, SlotCell, Track};
use crate::wait::{self, WaitConfig, WaitWord};
use bytemuck::Pod;
use crossbeam_utils::CachePadded;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shared control block of an SPSC ring.
#[repr(C)]
#[derive(Debug)]
pub struct SpscControl {
    /// Next index the producer writes, and the mailbox beside it; stored
    /// only by the producer. Derefs to the `tail` index itself.
    pub tail: CachePadded<TailLine>,
    /// Next index the consumer reads; stored only by the consumer.
    pub head: CachePadded<AtomicU64>,
    /// The consumer sleeps here when the ring is empty.
    pub not_empty: CachePadded<WaitWord>,
    /// The producer sleeps here when the ring is full.
    pub not_full: CachePadded<WaitWord>,
}

/// The producer's line of the control block: the `tail` index and a
/// *mailbox*, a copy of the last element pushed alone (by `push` or
/// `try_push`) when it is at most [`MAIL_BYTES`] long.
///
/// A consumer that catches up finds the one element it waits for in the line
/// it has just loaded to read `tail`, so a message costs it one cache line
/// from the producer instead of two (the index, then the slot): the round
/// trip of a ping-pong drops by about one line transfer per direction. The
/// slot is written as well, so chunks, batches and the C ABI read the slots
/// as always. The copy is guarded like a seqlock: `stamp` is 0 while the
/// producer writes it, then the element's index + 1 (Release); the reader
/// accepts the copy only if `stamp` names the element it wants before and
/// after reading the words. Indices never repeat, so a stale copy (from an
/// earlier push, or from before a chunk or batch) is never taken for
/// another element; a producer clears `stamp` when it attaches, so a dead
/// predecessor's copy of an element it never published is void.
#[repr(C)]
#[derive(Debug)]
pub struct TailLine {
    /// Next index the producer writes.
    pub tail: AtomicU64,
    /// Index + 1 of the element in `words`; 0 while being written.
    pub stamp: AtomicU64,
    /// The element's bytes, in native-endian words.
    pub words: [AtomicU64; MAIL_WORDS],
}

/// Words of the mailbox.
const MAIL_WORDS: usize = 5;
/// Largest element the mailbox carries.
pub const MAIL_BYTES: usize = MAIL_WORDS * 8;

impl core::ops::Deref for TailLine {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        &self.tail
    }
}

impl TailLine {
    fn new() -> TailLine {
        TailLine {
            tail: AtomicU64::new(0),
            stamp: AtomicU64::new(0),
            words: Default::default(),
        }
    }

    /// Copies `bytes` (at most [`MAIL_BYTES`]), the element of index
    /// `index`, into the mailbox. Producer only, before publishing `index`.
    #[inline(always)]
    fn post(&self, index: u64, bytes: &[u8]) {
        // Relaxed: ordered before the word stores by the Release fence.
        self.stamp.store(0, Ordering::Relaxed);
        // Release: orders the stamp's 0 before the word stores, so a reader
        // that sees a word of this copy also sees the 0 (pairs with the
        // Acquire fence in `take`).
        fence(Ordering::Release);
        for (w, chunk) in self.words.iter().zip(bytes.chunks(8)) {
            let word = match <[u8; 8]>::try_from(chunk) {
                Ok(b) => u64::from_ne_bytes(b),
                Err(_) => {
                    let mut b = [0u8; 8];
                    b[..chunk.len()].copy_from_slice(chunk);
                    u64::from_ne_bytes(b)
                }
            };
            // Relaxed: published by the Release store of the stamp.
            w.store(word, Ordering::Relaxed);
        }
        // Release: pairs with the Acquire load of the stamp in `take`: the
        // words above are visible with it.
        self.stamp.store(index.wrapping_add(1), Ordering::Release);
    }

    /// [`take`](TailLine::take) for an element whose size is known only at
    /// run time (a [`RawConsumer`] reading what a typed producer posted):
    /// sizes of 4 bytes and whole words up to [`MAIL_BYTES`], each copied by
    /// code of that fixed size; other sizes are read from their slot.
    #[inline(always)]
    fn take_raw(&self, index: u64, out: &mut [u8]) -> bool {
        match out.len() {
            4 => self.take(index, &mut out[..4]),
            8 => self.take(index, &mut out[..8]),
            16 => self.take(index, &mut out[..16]),
            24 => self.take(index, &mut out[..24]),
            32 => self.take(index, &mut out[..32]),
            40 => self.take(index, &mut out[..40]),
            _ => false,
        }
    }

    /// Copies the element of index `index` into `out` (at most
    /// [`MAIL_BYTES`]) if the mailbox holds it whole. Consumer only, after
    /// an Acquire load of `tail` beyond `index`.
    #[inline(always)]
    fn take(&self, index: u64, out: &mut [u8]) -> bool {
        let want = index.wrapping_add(1);
        // Acquire: pairs with the Release store of the stamp in `post`.
        if self.stamp.load(Ordering::Acquire) != want {
            return false;
        }
        for (w, chunk) in self.words.iter().zip(out.chunks_mut(8)) {
            // Relaxed: validated by the stamp check below.
            let b = w.load(Ordering::Relaxed).to_ne_bytes();
            match <&mut [u8; 8]>::try_from(&mut *chunk) {
                Ok(c) => *c = b,
                Err(_) => chunk.copy_from_slice(&b[..chunk.len()]),
            }
        }
        // Acquire: orders the word loads before the stamp's reload; pairs
        // with the Release fence in `post` (a word of a newer copy implies
        // the stamp's 0 is visible here).
        fence(Ordering::Acquire);
        // Relaxed: ordered by the fence above.
        self.stamp.load(Ordering::Relaxed) == want
    }
}

#[cfg(not(loom))]
mod asserts {
    use super::*;
    use memoffset::offset_of;
    const _: () = assert!(offset_of!(SpscControl, tail) == SPSC_TAIL_OFFSET);
    const _: () = assert!(offset_of!(TailLine, stamp) == SPSC_MAIL_STAMP_OFFSET - SPSC_TAIL_OFFSET);
    const _: () = assert!(offset_of!(TailLine, words) == SPSC_MAIL_OFFSET - SPSC_TAIL_OFFSET);
    const _: () = assert!(core::mem::size_of::<TailLine>() <= 64);
    const _: () = assert!(offset_of!(SpscControl, head) == SPSC_HEAD_OFFSET);
    const _: () = assert!(offset_of!(SpscControl, not_empty) == SPSC_NOT_EMPTY_OFFSET);
    const _: () = assert!(offset_of!(SpscControl, not_full) == SPSC_NOT_FULL_OFFSET);
    const _: () = assert!(core::mem::size_of::<SpscControl>() == SPSC_CONTROL_LEN);
}

/// Offset of `tail` in the control block (mirrored in the C header).
pub const SPSC_TAIL_OFFSET: usize = 0;
/// Offset of the mailbox stamp (see [`TailLine`]).
pub const SPSC_MAIL_STAMP_OFFSET: usize = 8;
/// Offset of the mailbox words.
pub const SPSC_MAIL_OFFSET: usize = 16;
/// Offset of `head` in the control block.
pub const SPSC_HEAD_OFFSET: usize = 128;
/// Offset of the `not_empty` futex word (then its waiters count).
pub const SPSC_NOT_EMPTY_OFFSET: usize = 256;
/// Offset of the `not_full` futex word (then its waiters count).
pub const SPSC_NOT_FULL_OFFSET: usize = 384;
/// Size of the control block.
pub const SPSC_CONTROL_LEN: usize = 512;

/// Index of the producer's endpoint entry.
const PRODUCER: usize = 0;
/// Index of the consumer's endpoint entry.
const CONSUMER: usize = 1;

impl SpscControl {
    /// An empty ring's control block (heap construction).
    pub(crate) fn new() -> SpscControl {
        SpscControl {
            tail: CachePadded::new(TailLine::new()),
            head: CachePadded::new(AtomicU64::new(0)),
            not_empty: CachePadded::new(WaitWord::new()),
            not_full: CachePadded::new(WaitWord::new()),
        }
    }
}

/// Heap storage for an in-process ring (tests, loom, miri, [`channel`]).
struct HeapRing<T> {
    ctl: SpscControl,
    slots: Box<[SlotCell<T>]>,
    track: Box<[Track]>,
    entries: [EndpointEntry; 2],
}

// SAFETY: the slots are accessed only under the ring protocol (one owner at a
// time, handed over with Release/Acquire on the indices); T: Pod is Send.
unsafe impl<T: Send> Sync for HeapRing<T> {}

/// The memory a ring lives in: raw pointers plus whatever keeps them alive.
struct Shared<T> {
    ctl: NonNull<SpscControl>,
    /// Base of the slot array; every slot pointer is derived from it, so it
    /// carries provenance for the whole array.
    slots: NonNull<T>,
    /// One tracker per slot under loom; zero-sized otherwise.
    track: NonNull<Track>,
    cap: u64,
    /// Number of `T`s per slot: 1 for typed rings; the element size for the
    /// byte-typed rings of [`RawChannel`] (`T = u8`).
    width: usize,
    entries: NonNull<EndpointEntry>,
    keep: Arc<dyn Send + Sync>,
    /// The segment, for its truncation mark (None on the heap).
    seg: Option<Arc<Segment>>,
    name: Arc<str>,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            ctl: self.ctl,
            slots: self.slots,
            track: self.track,
            cap: self.cap,
            width: self.width,
            entries: self.entries,
            keep: self.keep.clone(),
            seg: self.seg.clone(),
            name: self.name.clone(),
        }
    }
}

// SAFETY: the pointers target memory kept alive by `keep` and accessed only
// through atomics or through slots owned by one side at a time (see the
// module invariants). `T: Pod` is Send.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The control block with a lifetime not tied to `&self`, so a handle
    /// can wait on one of its words while polling with `&mut self`.
    ///
    /// # Safety
    /// The caller must not let the reference outlive the handle that owns
    /// this `Shared` (which keeps the memory alive).
    unsafe fn ctl_detached<'a>(&self) -> &'a SpscControl {
        // SAFETY: as for `ctl`; the caller bounds the lifetime.
        unsafe { &*self.ctl.as_ptr() }
    }

    fn ctl(&self) -> &SpscControl {
        // SAFETY: points to a control block that `keep` keeps alive; it
        // contains only atomics, valid for any bit pattern.
        unsafe { self.ctl.as_ref() }
    }

    fn entry(&self, i: usize) -> &EndpointEntry {
        debug_assert!(i < 2);
        // SAFETY: the table has at least two entries (validated at open).
        unsafe { &*self.entries.as_ptr().add(i) }
    }

    /// Raw pointer to the slot of free-running index `i`.
    fn slot_ptr(&self, i: u64) -> *mut T {
        // SAFETY: `i & (cap-1) < cap`, and the slot array has `cap` slots
        // of `width` `T`s each.
        unsafe { self.slots.as_ptr().add((i & (self.cap - 1)) as usize * self.width) }
    }

    /// The loom tracker of the slot of index `i`.
    fn track(&self, i: u64) -> &Track {
        #[cfg(loom)]
        // SAFETY: heap rings (the only kind under loom) have `cap` trackers.
        return unsafe { &*self.track.as_ptr().add((i & (self.cap - 1)) as usize) };
        #[cfg(not(loom))]
        {
            let _ = i;
            // SAFETY: Track is zero-sized outside loom; a dangling, aligned
            // pointer is a valid reference to a zero-sized value.
            unsafe { self.track.as_ref() }
        }
    }

    /// Records accesses to slots `[start, start + n)` for loom.
    fn track_range(&self, start: u64, n: usize, write: bool) {
        for k in 0..n as u64 {
            let t = self.track(start.wrapping_add(k));
            if write {
                t.write()
            } else {
                t.read()
            }
        }
    }

    fn heap(cap: u64) -> Shared<T>
    where
        T: Pod + Send,
    {
        let ring = Arc::new(HeapRing {
            ctl: SpscControl::new(),
            slots: (0..cap).map(|_| SlotCell::new(T::zeroed())).collect(),
            track: (0..if cfg!(loom) { cap } else { 0 }).map(|_| Track::new()).collect(),
            entries: [EndpointEntry::new(), EndpointEntry::new()],
        });
        Shared {
            ctl: NonNull::from(&ring.ctl),
            // SlotCell is a transparent UnsafeCell: the pointer may write.
            slots: NonNull::new(ring.slots.as_ptr() as *mut T).expect("non-null"),
            track: NonNull::new(ring.track.as_ptr() as *mut Track).expect("non-null"),
            cap,
            width: 1,
            entries: NonNull::from(&ring.entries).cast(),
            keep: ring,
            seg: None,
            name: Arc::from("heap"),
        }
    }

    /// Views a validated segment whose slots are `width` `T`s each
    /// (`slot_size == width * size_of::<T>()`, checked by the caller).
    fn from_segment(seg: Arc<Segment>, width: usize) -> Shared<T> {
        let h = seg.header();
        let cap = h.geometry.capacity;
        debug_assert_eq!(h.geometry.slot_size as usize, width * core::mem::size_of::<T>());
        Shared {
            ctl: NonNull::new(seg.control_ptr() as *mut SpscControl).expect("non-null"),
            slots: NonNull::new(seg.data_ptr() as *mut T).expect("non-null"),
            track: NonNull::dangling(),
            cap,
            width,
            entries: NonNull::new(seg.endpoints().as_ptr() as *mut EndpointEntry).expect("non-null"),
            name: Arc::from(seg.name()),
            seg: Some(seg.clone()),
            keep: seg,
        }
    }

    /// Why the endpoint in entry `i` can no longer take part, if it cannot:
    /// it detached cleanly, or (only when `expensive`) its process died.
    fn gone(&self, i: usize, expensive: bool) -> Option<Closed> {
        if expensive && self.seg.as_ref().is_some_and(|s| s.truncated()) {
            return Some(corrupt(0, "the segment file was truncated by another process"));
        }
        match endpoint::holder(self.entry(i)) {
            Holder::Closed => Some(Closed::Disconnected),
            Holder::Held(t) if expensive && !endpoint::token_alive(t) => Some(Closed::PeerDied(endpoint::token_pid(t))),
            _ => None,
        }
    }
}

/// Segment geometry of an SPSC ring of `T` with `cap` slots.
fn geometry<T>(cap: u64) -> Geometry {
    Geometry {
        kind: Kind::Spsc,
        capacity: cap,
        slot_size: core::mem::size_of::<T>() as u32,
        slot_align: core::mem::align_of::<T>() as u32,
        max_message: 0,
        endpoint_count: 2,
        control_len: SPSC_CONTROL_LEN as u64,
    }
}

fn check_capacity<T>(capacity: usize) -> Result<u64> {
    if capacity == 0 || !capacity.is_power_of_two() {
        return Err(Error::InvalidArgument(format!(
            "capacity {capacity} must be a power of two greater than zero (for example {})",
            capacity.max(1).next_power_of_two()
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
    Ok(capacity as u64)
}

/// Options for creating or opening an SPSC channel.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    create: CreateOptions,
    open: OpenOptions,
}

impl Builder {
    /// Default options: mode 0600, no stale reclaim, 1 s init wait.
    pub fn new() -> Builder {
        Builder::default()
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

    /// How long `open` waits for a creator still initialising the segment.
    pub fn init_timeout(mut self, d: Duration) -> Builder {
        self.open.init_timeout = d;
        self
    }

    /// Creates a named channel of `T` with `capacity` slots (a power of two).
    pub fn create<T: Pod + Send>(&self, name: &str, capacity: usize) -> Result<Channel<T>> {
        let cap = check_capacity::<T>(capacity)?;
        let spec = Spec {
            geometry: geometry::<T>(cap),
            fingerprint: TypeFingerprint::of::<T>(),
            flags: 0,
        };
        let seg = Segment::create(name, &spec, &self.create, |_| {})?;
        Channel::from_segment(seg)
    }

    /// Opens an existing named channel of `T`.
    pub fn open<T: Pod + Send>(&self, name: &str) -> Result<Channel<T>> {
        let seg = Segment::open(name, &expect::<T>(), &self.open)?;
        Channel::from_segment(seg)
    }
}

fn expect<T>() -> Expect {
    Expect {
        kind: Some(Kind::Spsc),
        control_len: Some(SPSC_CONTROL_LEN as u64),
        fingerprint: Some(TypeFingerprint::of::<T>()),
        endpoints: Some(2),
    }
}

/// An SPSC channel: the shared ring, not yet attached as either side.
///
/// Cloning is cheap (the mapping is shared). Attach with [`producer`] and
/// [`consumer`].
///
/// [`producer`]: Channel::producer
/// [`consumer`]: Channel::consumer
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
        f.debug_struct("spsc::Channel")
            .field("name", &self.shared.name)
            .field("capacity", &self.shared.cap)
            .finish()
    }
}

impl<T: Pod + Send> Channel<T> {
    /// Creates a named channel with default options; see [`Builder`].
    pub fn create(name: &str, capacity: usize) -> Result<Channel<T>> {
        Builder::new().create(name, capacity)
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
        let cap = check_capacity::<T>(capacity)?;
        let spec = Spec {
            geometry: geometry::<T>(cap),
            fingerprint: TypeFingerprint::of::<T>(),
            flags: 0,
        };
        let seg = Segment::create_anonymous("spsc", &spec, |_| {})?;
        Channel::from_segment(seg)
    }

    /// Opens an anonymous channel from its file descriptor.
    pub fn from_fd(fd: OwnedFd) -> Result<Channel<T>> {
        let seg = Segment::open_fd(fd, &expect::<T>(), &OpenOptions::default())?;
        Channel::from_segment(seg)
    }

    /// An in-process ring on the heap, with the same algorithm and API (no
    /// segment, no name). Useful for tests and for threads.
    pub fn in_process(capacity: usize) -> Result<Channel<T>> {
        let cap = check_capacity::<T>(capacity)?;
        Ok(Channel {
            shared: Shared::heap(cap),
            segment: None,
            _t: PhantomData,
        })
    }

    fn from_segment(seg: Segment) -> Result<Channel<T>> {
        // A typed view needs slots of exactly one `T` (the slices of the
        // chunk API are `[T]`). Our creators always make them so.
        let size = core::mem::size_of::<T>();
        if seg.header().geometry.slot_size as usize != size {
            return Err(Error::Corrupt {
                name: seg.name().to_owned(),
                detail: format!(
                    "slot size {} differs from the element size {size}",
                    seg.header().geometry.slot_size
                ),
            });
        }
        Ok(Channel::wrap(Arc::new(seg), 1))
    }

    fn wrap(seg: Arc<Segment>, width: usize) -> Channel<T> {
        Channel {
            shared: Shared::from_segment(seg.clone(), width),
            segment: Some(seg),
            _t: PhantomData,
        }
    }

    /// The segment, unless in-process.
    pub fn segment(&self) -> Option<&Segment> {
        self.segment.as_deref()
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.cap as usize
    }

    /// Attaches as the producer. Fails with [`Error::EndpointBusy`] while
    /// another live process (or handle) is the producer; takes over the
    /// place of a dead one and continues after its last commit.
    pub fn producer(&self) -> Result<Producer<T>> {
        let (token, _) = self.attach(PRODUCER, Role::Producer)?;
        let ctl = self.shared.ctl();
        // Relaxed: a predecessor's copy is void; published to the consumer
        // by our first Release store of `tail`.
        ctl.tail.stamp.store(0, Ordering::Relaxed);
        // Acquire: pairs with the previous producer's Release stores of
        // `tail` and the consumer's of `head`.
        let tail = ctl.tail.load(Ordering::Acquire);
        let head = ctl.head.load(Ordering::Acquire);
        Ok(Producer {
            shared: self.shared.clone(),
            tail,
            cached_head: head,
            token,
            wait: WaitConfig::default(),
            check: CheckClock::new(),
        })
    }

    /// Attaches as the consumer; see [`producer`](Channel::producer).
    pub fn consumer(&self) -> Result<Consumer<T>> {
        let (token, _) = self.attach(CONSUMER, Role::Consumer)?;
        let ctl = self.shared.ctl();
        // Acquire: pairs with the previous consumer's Release store of `head`.
        let head = ctl.head.load(Ordering::Acquire);
        Ok(Consumer {
            shared: self.shared.clone(),
            head,
            cached_tail: head,
            token,
            wait: WaitConfig::default(),
            check: CheckClock::new(),
        })
    }

    fn attach(&self, i: usize, role: Role) -> Result<(u64, Option<u32>)> {
        let me = endpoint::self_token();
        match endpoint::claim(self.shared.entry(i), role, me) {
            Ok(c) => Ok((c.token, c.took_over_from)),
            Err(pid) => Err(Error::EndpointBusy {
                name: self.shared.name.to_string(),
                role,
                pid,
            }),
        }
    }

    /// A snapshot of the ring's counters, readable from any process.
    pub fn stats(&self) -> Stats {
        let ctl = self.shared.ctl();
        // Relaxed: statistics only.
        let tail = ctl.tail.load(Ordering::Relaxed);
        let head = ctl.head.load(Ordering::Relaxed);
        Stats {
            capacity: self.shared.cap,
            pushed: tail,
            popped: head,
            depth: tail.wrapping_sub(head),
            producer: endpoint::holder(self.shared.entry(PRODUCER)).into(),
            consumer: endpoint::holder(self.shared.entry(CONSUMER)).into(),
        }
    }
}

/// Attachment of one side, as seen in [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attachment {
    /// Never attached.
    Never,
    /// Detached cleanly.
    Closed,
    /// Attached by this pid (alive or not: see [`crate::endpoint`]).
    Attached {
        /// Holder's pid.
        pid: u32,
    },
}

impl From<Holder> for Attachment {
    fn from(h: Holder) -> Self {
        match h {
            Holder::Never => Attachment::Never,
            Holder::Closed => Attachment::Closed,
            Holder::Held(t) => Attachment::Attached {
                pid: endpoint::token_pid(t),
            },
        }
    }
}

/// Counters of an SPSC ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Number of slots.
    pub capacity: u64,
    /// Elements committed since creation (the `tail` index).
    pub pushed: u64,
    /// Elements released since creation (the `head` index).
    pub popped: u64,
    /// Elements in the ring now.
    pub depth: u64,
    /// Producer side.
    pub producer: Attachment,
    /// Consumer side.
    pub consumer: Attachment,
}

/// The writing side of an SPSC ring. `Send`, not `Sync`, not `Clone`.
pub struct Producer<T> {
    shared: Shared<T>,
    /// Next index to write (the shared `tail` is a copy of it).
    tail: u64,
    /// Last `head` read from shared memory; `<=` the real one.
    cached_head: u64,
    token: u64,
    wait: WaitConfig,
    check: CheckClock,
}

/// The reading side of an SPSC ring. `Send`, not `Sync`, not `Clone`.
pub struct Consumer<T> {
    shared: Shared<T>,
    /// Next index to read (the shared `head` is a copy of it).
    head: u64,
    /// Last `tail` read from shared memory; `<=` the real one.
    cached_tail: u64,
    token: u64,
    wait: WaitConfig,
    check: CheckClock,
}

impl<T> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("spsc::Producer")
            .field("name", &self.shared.name)
            .field("tail", &self.tail)
            .finish()
    }
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("spsc::Consumer")
            .field("name", &self.shared.name)
            .field("head", &self.head)
            .finish()
    }
}

/// Rate limit for the liveness checks of non-blocking calls that keep
/// failing (full or empty): looks at the clock only every 256th call, so an
/// empty `try_pop` in a polling loop costs a few loads, not a clock read.
#[derive(Debug)]
struct CheckClock {
    calls: u32,
    next: Instant,
}

impl CheckClock {
    fn new() -> CheckClock {
        CheckClock {
            calls: 0,
            next: Instant::now(),
        }
    }

    #[inline]
    fn due(&mut self, interval: Duration) -> bool {
        self.calls = self.calls.wrapping_add(1);
        if self.calls % 256 != 1 {
            return false;
        }
        let now = Instant::now();
        if now >= self.next {
            self.next = now + interval;
            true
        } else {
            false
        }
    }
}

fn corrupt(index: u64, what: &'static str) -> Closed {
    Closed::Corrupt(Corruption { offset: index, what })
}

fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

impl<T: Pod> Producer<T> {
    /// Sets how blocking calls wait (default: spin ~50 µs, then sleep;
    /// check the consumer's liveness every 100 ms).
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.wait = cfg;
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.cap as usize
    }

    /// Free slots, refreshing the cached head when fewer than `want` look
    /// free.
    #[inline]
    fn free(&mut self, want: u64) -> Result<u64, Closed> {
        let cap = self.shared.cap;
        let mut used = self.tail.wrapping_sub(self.cached_head);
        // `used > cap` only when the indices came from a corrupt segment
        // (at attach): refresh, and report it if it persists.
        if used > cap || cap - used < want {
            // Acquire: pairs with the consumer's Release store of `head`
            // (in `release`): its reads of the freed slots are done.
            let head = self.shared.ctl().head.load(Ordering::Acquire);
            used = self.tail.wrapping_sub(head);
            if used > cap {
                return Err(corrupt(head, "spsc head is ahead of tail or more than capacity behind"));
            }
            self.cached_head = head;
        }
        Ok(cap - used)
    }

    /// Why pushing cannot proceed, if the consumer is gone.
    fn consumer_gone(&mut self, expensive: bool) -> Option<Closed> {
        self.shared.gone(CONSUMER, expensive)
    }

    /// Publishes `n` written slots.
    #[inline]
    fn commit(&mut self, n: u64) {
        self.tail = self.tail.wrapping_add(n);
        let ctl = self.shared.ctl();
        // Release: pairs with the consumer's Acquire load of `tail` in
        // `available`; publishes the slot writes above.
        ctl.tail.store(self.tail, Ordering::Release);
        ctl.not_empty.wake();
    }

    /// Rate-limited liveness check for non-blocking calls.
    fn due(&mut self) -> bool {
        self.check.due(self.wait.check_interval)
    }

    /// Pushes `value` if there is room.
    ///
    /// Fails with `Full` when the ring is full, `Disconnected` when the
    /// consumer detached cleanly, `PeerDied` when the ring is full and the
    /// consumer's process is dead (checked at most once per check
    /// interval), `Corrupt` when the shared indices are inconsistent.
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), TrySendError<T>> {
        match self.try_push_inner(value, false) {
            Err(TrySendError::Full(v)) => {
                let exp = self.due();
                self.try_push_inner(v, exp)
            }
            r => r,
        }
    }

    #[inline]
    fn try_push_inner(&mut self, value: T, expensive: bool) -> Result<(), TrySendError<T>> {
        if let Some(c) = self.consumer_gone(false) {
            return Err(c.try_send(value));
        }
        match self.free(1) {
            Err(c) => Err(c.try_send(value)),
            Ok(0) => match self.consumer_gone(expensive) {
                Some(c) => Err(c.try_send(value)),
                None => Err(TrySendError::Full(value)),
            },
            Ok(_) => {
                let tail = self.tail;
                self.shared.track(tail).write();
                // SAFETY: slot `tail` is free (tail - head < cap), so the
                // producer owns it; the consumer does not read it until the
                // Release store of `tail` in `commit`.
                unsafe { self.shared.slot_ptr(tail).write(value) };
                if core::mem::size_of::<T>() <= MAIL_BYTES {
                    self.shared.ctl().tail.post(tail, bytemuck::bytes_of(&value));
                }
                self.commit(1);
                Ok(())
            }
        }
    }

    /// Pushes `value`, waiting for room as long as it takes.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), SendError<T>> {
        let value = match self.try_push_inner(value, false) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(v)) => v,
            Err(e) => {
                return Err(match e {
                    TrySendError::Full(v) | TrySendError::Disconnected(v) => SendError::Disconnected(v),
                    TrySendError::PeerDied { value, pid } => SendError::PeerDied { value, pid },
                    TrySendError::Corrupt { value, corruption } => SendError::Corrupt { value, corruption },
                    TrySendError::TooLarge { value, len, max } => SendError::TooLarge { value, len, max },
                })
            }
        };
        match self.push_until(value, None) {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(_)) => unreachable!("no deadline"),
            Err(SendTimeoutError::Disconnected(v)) => Err(SendError::Disconnected(v)),
            Err(SendTimeoutError::PeerDied { value, pid }) => Err(SendError::PeerDied { value, pid }),
            Err(SendTimeoutError::Corrupt { value, corruption }) => Err(SendError::Corrupt { value, corruption }),
            Err(SendTimeoutError::TooLarge { value, len, max }) => Err(SendError::TooLarge { value, len, max }),
        }
    }

    /// Pushes `value`, waiting at most `timeout` for room.
    pub fn push_timeout(&mut self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.push_until(value, deadline(timeout))
    }

    #[cold]
    fn push_until(&mut self, value: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        let mut slot = Some(value);
        // SAFETY: used only within this call, while `self` (which keeps the
        // memory alive) is borrowed.
        let ctl = unsafe { self.shared.ctl_detached() };
        let cfg = self.wait;
        let r = wait::block_on(&ctl.not_full, &cfg, deadline, |exp| {
            let v = slot.take().expect("value present while polling");
            match self.try_push_inner(v, exp) {
                Ok(()) => Some(Ok(())),
                Err(TrySendError::Full(v)) => {
                    slot = Some(v);
                    None
                }
                Err(TrySendError::Disconnected(v)) => Some(Err(Closed::Disconnected.send_timeout(v))),
                Err(TrySendError::PeerDied { value, pid }) => Some(Err(Closed::PeerDied(pid).send_timeout(value))),
                Err(TrySendError::Corrupt { value, corruption }) => {
                    Some(Err(Closed::Corrupt(corruption).send_timeout(value)))
                }
                Err(TrySendError::TooLarge { value, len, max }) => {
                    Some(Err(SendTimeoutError::TooLarge { value, len, max }))
                }
            }
        });
        match r {
            Some(r) => r,
            None => Err(SendTimeoutError::Timeout(slot.take().expect("value kept on timeout"))),
        }
    }

    /// Copies as many elements of `items` as fit (at least one) and
    /// publishes them with one index update. Returns how many were pushed.
    pub fn try_push_slice(&mut self, items: &[T]) -> Result<usize, TrySendError<()>> {
        if items.is_empty() {
            return Ok(0);
        }
        let mut chunk = self.reserve_up_to(items.len())?;
        let n = chunk.len();
        let (a, b) = chunk.as_mut_slices();
        a.copy_from_slice(&items[..a.len()]);
        b.copy_from_slice(&items[a.len()..n]);
        chunk.commit_all();
        Ok(n)
    }

    /// Pushes every element of `items`, waiting for room as needed, in
    /// batches (one index update per batch). On error, the `usize` is how
    /// many elements were pushed before it.
    pub fn push_slice(&mut self, items: &[T]) -> Result<(), SendError<usize>> {
        let mut done = 0;
        while done < items.len() {
            match self.try_push_slice(&items[done..]) {
                Ok(n) => done += n,
                Err(TrySendError::Full(())) => {
                    if let Err(e) = self.wait_for_space(1, None) {
                        return Err(match e {
                            SendTimeoutError::Timeout(()) => unreachable!("no deadline"),
                            SendTimeoutError::Disconnected(()) => SendError::Disconnected(done),
                            SendTimeoutError::PeerDied { pid, .. } => SendError::PeerDied { value: done, pid },
                            SendTimeoutError::Corrupt { corruption, .. } => SendError::Corrupt {
                                value: done,
                                corruption,
                            },
                            SendTimeoutError::TooLarge { len, max, .. } => {
                                SendError::TooLarge { value: done, len, max }
                            }
                        });
                    }
                }
                Err(e) => {
                    return Err(match e {
                        TrySendError::Disconnected(()) | TrySendError::Full(()) => SendError::Disconnected(done),
                        TrySendError::PeerDied { pid, .. } => SendError::PeerDied { value: done, pid },
                        TrySendError::Corrupt { corruption, .. } => SendError::Corrupt {
                            value: done,
                            corruption,
                        },
                        TrySendError::TooLarge { len, max, .. } => SendError::TooLarge { value: done, len, max },
                    })
                }
            }
        }
        Ok(())
    }

    /// Waits until at least `n` slots are free (`n <= capacity`).
    pub fn wait_for_space(&mut self, n: usize, timeout: Option<Duration>) -> Result<(), SendTimeoutError<()>> {
        let n = (n as u64).min(self.shared.cap);
        // SAFETY: used only within this call, while `self` (which keeps the
        // memory alive) is borrowed.
        let ctl = unsafe { self.shared.ctl_detached() };
        let cfg = self.wait;
        let r = wait::block_on(&ctl.not_full, &cfg, timeout.and_then(deadline), |exp| {
            match self.free(n) {
                Err(c) => Some(Err(c)),
                Ok(f) if f >= n => Some(Ok(())),
                Ok(_) => self.consumer_gone(exp).map(Err),
            }
        });
        match r {
            Some(Ok(())) => Ok(()),
            Some(Err(c)) => Err(c.send_timeout(())),
            None => Err(SendTimeoutError::Timeout(())),
        }
    }

    /// Reserves exactly `n` free slots to write in place. `Full` if fewer
    /// are free (or `n` exceeds the capacity).
    pub fn reserve(&mut self, n: usize) -> Result<WriteChunk<'_, T>, TrySendError<()>> {
        if let Some(c) = self.consumer_gone(false) {
            return Err(c.try_send(()));
        }
        let free = self.free(n as u64).map_err(|c| c.try_send(()))?;
        if (free as usize) < n {
            return Err(TrySendError::Full(()));
        }
        Ok(WriteChunk { p: self, len: n })
    }

    /// Reserves between 1 and `max` free slots (as many as are free).
    pub fn reserve_up_to(&mut self, max: usize) -> Result<WriteChunk<'_, T>, TrySendError<()>> {
        if let Some(c) = self.consumer_gone(false) {
            return Err(c.try_send(()));
        }
        let mut free = self.free(max as u64).map_err(|c| c.try_send(()))?;
        if free == 0 {
            let exp = self.due();
            if let Some(c) = self.consumer_gone(exp) {
                return Err(c.try_send(()));
            }
            free = self.free(1).map_err(|c| c.try_send(()))?;
            if free == 0 {
                return Err(TrySendError::Full(()));
            }
        }
        let len = (free as usize).min(max);
        if len == 0 {
            return Err(TrySendError::Full(()));
        }
        Ok(WriteChunk { p: self, len })
    }

    /// Whether the consumer is attached and alive right now (performs a
    /// liveness check: a system call).
    pub fn is_consumer_alive(&self) -> bool {
        matches!(endpoint::holder(self.shared.entry(CONSUMER)), Holder::Held(t) if endpoint::token_alive(t))
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        endpoint::release(self.shared.entry(PRODUCER), self.token);
        self.shared.ctl().not_empty.wake_all();
    }
}

/// Slots reserved for writing in place; see [`Producer::reserve`].
///
/// The slots hold whatever was there before (`T: Pod`, so any bytes are a
/// valid `T`). Nothing is published until [`commit`](WriteChunk::commit);
/// dropping the chunk publishes nothing.
pub struct WriteChunk<'a, T: Pod> {
    p: &'a mut Producer<T>,
    len: usize,
}

impl<T: Pod> std::fmt::Debug for WriteChunk<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteChunk").field("len", &self.len).finish()
    }
}

impl<T: Pod> WriteChunk<'_, T> {
    /// Number of reserved slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a chunk has at least one slot (or zero if asked for zero).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The reserved slots as two slices (the second is non-empty when the
    /// reservation wraps around the end of the ring). For a [`RawChannel`]
    /// the slices are bytes, `elem_size` per slot.
    ///
    /// Loop over each slice on its own (`for half in [a, b] { for x in half
    /// { .. } }`): a chained iterator checks which half it is in at every
    /// element, which cost the batch benchmark about a tenth of its
    /// throughput.
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let cap = self.p.shared.cap;
        let start = self.p.tail;
        let first = ((cap - (start & (cap - 1))) as usize).min(self.len);
        let a = self.p.shared.slot_ptr(start);
        let b = self.p.shared.slot_ptr(start.wrapping_add(first as u64));
        self.p.shared.track_range(start, self.len, true);
        let w = self.p.shared.width;
        // SAFETY: slots [tail, tail + len) are free and owned by the producer
        // (checked by `reserve`); the first `first` are contiguous up to the
        // end of the slot array, the rest start at slot 0; the two ranges are
        // disjoint because len <= cap. `&mut self` prevents aliasing them.
        unsafe {
            (
                std::slice::from_raw_parts_mut(a, first * w),
                std::slice::from_raw_parts_mut(b, (self.len - first) * w),
            )
        }
    }

    /// Publishes the first `n` reserved slots (`n <= len`).
    pub fn commit(self, n: usize) {
        assert!(n <= self.len, "commit({n}) of a {}-slot chunk", self.len);
        if n > 0 {
            self.p.commit(n as u64);
        }
    }

    /// Publishes every reserved slot.
    pub fn commit_all(self) {
        let n = self.len;
        self.commit(n);
    }
}

impl<T: Pod> Consumer<T> {
    /// Sets how blocking calls wait; see [`Producer::set_wait_config`].
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.wait = cfg;
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.cap as usize
    }

    /// Committed elements available, refreshing the cached tail when fewer
    /// than `want` are known.
    #[inline]
    fn available(&mut self, want: u64) -> Result<u64, Closed> {
        let mut avail = self.cached_tail.wrapping_sub(self.head);
        if avail < want {
            // No prefetch of the slot here: a consumer that keeps up polls
            // `tail` often, and fetching the slot line the producer is
            // writing on every poll takes it away from the producer (measured:
            // 15-40% less throughput with it, no better round trip).
            // Acquire: pairs with the producer's Release store of `tail` in
            // `commit`: the slot writes are visible.
            let tail = self.shared.ctl().tail.load(Ordering::Acquire);
            avail = tail.wrapping_sub(self.head);
            if avail > self.shared.cap {
                return Err(corrupt(tail, "spsc tail is behind head or more than capacity ahead"));
            }
            self.cached_tail = tail;
        }
        Ok(avail)
    }

    /// Takes the element at `head` from the mailbox with `take` and
    /// releases it, if this call has just reloaded `tail` (`fresh`: the
    /// line is in cache) and found exactly that element (the only one the
    /// mailbox can hold). False, having done nothing, otherwise.
    #[inline(always)]
    fn take_mailed(&mut self, fresh: bool, take: impl FnOnce(&TailLine, u64) -> bool) -> bool {
        let head = self.head;
        if fresh && self.cached_tail == head.wrapping_add(1) && take(&self.shared.ctl().tail, head) {
            self.release(1);
            return true;
        }
        false
    }

    /// Releases `n` read slots to the producer.
    #[inline]
    fn release(&mut self, n: u64) {
        self.head = self.head.wrapping_add(n);
        let ctl = self.shared.ctl();
        // Release: pairs with the producer's Acquire load of `head` in
        // `free`: our reads of the slots happen before it reuses them.
        ctl.head.store(self.head, Ordering::Release);
        ctl.not_full.wake();
    }

    /// Called when the ring looked empty: is the producer gone? Re-checks
    /// the ring after seeing a close so that nothing committed before the
    /// close is missed.
    fn empty_reason(&mut self, expensive: bool) -> Result<(), Closed> {
        match self.shared.gone(PRODUCER, expensive) {
            None => Ok(()),
            Some(c) => match self.available(1) {
                Ok(0) => Err(c),
                Ok(_) => Ok(()),
                Err(corruption) => Err(corruption),
            },
        }
    }

    fn due(&mut self) -> bool {
        self.check.due(self.wait.check_interval)
    }

    /// Pops the oldest element if there is one.
    ///
    /// `Empty` when nothing is committed; once the ring is drained,
    /// `Disconnected` if the producer detached cleanly or `PeerDied` if its
    /// process died (checked at most once per check interval); `Corrupt`
    /// when the shared indices are inconsistent.
    #[inline]
    pub fn try_pop(&mut self) -> Result<T, TryRecvError> {
        match self.try_pop_inner(false) {
            Err(TryRecvError::Empty) => {
                let exp = self.due();
                self.try_pop_inner(exp)
            }
            r => r,
        }
    }

    #[inline]
    fn try_pop_inner(&mut self, expensive: bool) -> Result<T, TryRecvError> {
        // Whether this call loads `tail` (then the mailbox is in cache).
        let fresh = self.cached_tail == self.head;
        match self.available(1) {
            Err(c) => return Err(c.try_recv()),
            Ok(0) => {
                self.empty_reason(expensive).map_err(Closed::try_recv)?;
                // The producer is gone but committed more before leaving.
                if self.cached_tail == self.head {
                    return Err(TryRecvError::Empty);
                }
            }
            Ok(_) => {}
        }
        if core::mem::size_of::<T>() <= MAIL_BYTES {
            let mut v = T::zeroed();
            if self.take_mailed(fresh, |m, i| m.take(i, bytemuck::bytes_of_mut(&mut v))) {
                return Ok(v);
            }
        }
        let head = self.head;
        self.shared.track(head).read();
        // SAFETY: slot `head` is committed (head < tail) and owned by the
        // consumer until the Release store of `head` in `release`.
        let v = unsafe { self.shared.slot_ptr(head).read() };
        self.release(1);
        Ok(v)
    }

    /// Pops the oldest element, waiting as long as it takes.
    #[inline]
    pub fn pop(&mut self) -> Result<T, RecvError> {
        match self.try_pop_inner(false) {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Empty) => {}
            Err(e) => {
                return Err(match e {
                    TryRecvError::Empty | TryRecvError::Disconnected => RecvError::Disconnected,
                    TryRecvError::PeerDied { pid } => RecvError::PeerDied { pid },
                    TryRecvError::Corrupt { corruption } => RecvError::Corrupt { corruption },
                })
            }
        }
        self.pop_until(None).map_err(|e| match e {
            RecvTimeoutError::Timeout => unreachable!("no deadline"),
            RecvTimeoutError::Disconnected => RecvError::Disconnected,
            RecvTimeoutError::PeerDied { pid } => RecvError::PeerDied { pid },
            RecvTimeoutError::Corrupt { corruption } => RecvError::Corrupt { corruption },
        })
    }

    /// Pops the oldest element, waiting at most `timeout`.
    pub fn pop_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.pop_until(deadline(timeout))
    }

    #[cold]
    fn pop_until(&mut self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        // SAFETY: used only within this call, while `self` (which keeps the
        // memory alive) is borrowed.
        let ctl = unsafe { self.shared.ctl_detached() };
        let cfg = self.wait;
        wait::block_on(&ctl.not_empty, &cfg, deadline, |exp| match self.try_pop_inner(exp) {
            Ok(v) => Some(Ok(v)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(RecvTimeoutError::Disconnected)),
            Err(TryRecvError::PeerDied { pid }) => Some(Err(RecvTimeoutError::PeerDied { pid })),
            Err(TryRecvError::Corrupt { corruption }) => Some(Err(RecvTimeoutError::Corrupt { corruption })),
        })
        .unwrap_or(Err(RecvTimeoutError::Timeout))
    }

    /// Copies up to `out.len()` available elements (at least one) into
    /// `out` and releases them with one index update.
    pub fn try_pop_slice(&mut self, out: &mut [T]) -> Result<usize, TryRecvError> {
        if out.is_empty() {
            return Ok(0);
        }
        let chunk = self.read_chunk(out.len())?;
        let (a, b) = chunk.as_slices();
        out[..a.len()].copy_from_slice(a);
        out[a.len()..a.len() + b.len()].copy_from_slice(b);
        Ok(chunk.len())
    }

    /// Like [`try_pop_slice`](Consumer::try_pop_slice) but waits for at
    /// least one element.
    pub fn pop_slice(&mut self, out: &mut [T]) -> Result<usize, RecvError> {
        loop {
            match self.try_pop_slice(out) {
                Ok(n) => return Ok(n),
                Err(TryRecvError::Empty) => {
                    self.wait_for_items(1, None).map_err(|e| match e {
                        RecvTimeoutError::Timeout => unreachable!("no deadline"),
                        RecvTimeoutError::Disconnected => RecvError::Disconnected,
                        RecvTimeoutError::PeerDied { pid } => RecvError::PeerDied { pid },
                        RecvTimeoutError::Corrupt { corruption } => RecvError::Corrupt { corruption },
                    })?;
                }
                Err(TryRecvError::Disconnected) => return Err(RecvError::Disconnected),
                Err(TryRecvError::PeerDied { pid }) => return Err(RecvError::PeerDied { pid }),
                Err(TryRecvError::Corrupt { corruption }) => return Err(RecvError::Corrupt { corruption }),
            }
        }
    }

    /// Waits until at least `n` elements are available (`n <= capacity`),
    /// or until the producer is gone with fewer left (then returns `Ok` if
    /// any are left, so that they can be drained).
    pub fn wait_for_items(&mut self, n: usize, timeout: Option<Duration>) -> Result<(), RecvTimeoutError> {
        let n = (n as u64).clamp(1, self.shared.cap);
        // SAFETY: used only within this call, while `self` (which keeps the
        // memory alive) is borrowed.
        let ctl = unsafe { self.shared.ctl_detached() };
        let cfg = self.wait;
        let r = wait::block_on(&ctl.not_empty, &cfg, timeout.and_then(deadline), |exp| {
            match self.available(n) {
                Err(c) => Some(Err(c)),
                Ok(a) if a >= n => Some(Ok(())),
                Ok(_) => match self.shared.gone(PRODUCER, exp) {
                    None => None,
                    Some(c) => match self.available(1) {
                        Ok(0) => Some(Err(c)),
                        Ok(_) => Some(Ok(())),
                        Err(c) => Some(Err(c)),
                    },
                },
            }
        });
        match r {
            Some(Ok(())) => Ok(()),
            Some(Err(c)) => Err(c.recv_timeout()),
            None => Err(RecvTimeoutError::Timeout),
        }
    }

    /// Borrows up to `max` committed elements in place (at least one).
    /// Dropping the chunk releases all of them; [`ReadChunk::release`]
    /// releases only some (a peek is `release(0)`).
    pub fn read_chunk(&mut self, max: usize) -> Result<ReadChunk<'_, T>, TryRecvError> {
        let mut avail = self.available(max as u64).map_err(Closed::try_recv)?;
        if avail == 0 {
            let exp = self.due();
            self.empty_reason(exp).map_err(Closed::try_recv)?;
            avail = self.available(1).map_err(Closed::try_recv)?;
            if avail == 0 {
                return Err(TryRecvError::Empty);
            }
        }
        let len = (avail as usize).min(max);
        if len == 0 {
            return Err(TryRecvError::Empty);
        }
        Ok(ReadChunk {
            c: self,
            len,
            release: len,
        })
    }

    /// A copy of the oldest element without removing it.
    pub fn peek(&mut self) -> Result<T, TryRecvError> {
        let chunk = self.read_chunk(1)?;
        let v = chunk.as_slices().0[0];
        chunk.release(0);
        Ok(v)
    }

    /// Whether the producer is attached and alive right now (performs a
    /// liveness check: a system call).
    pub fn is_producer_alive(&self) -> bool {
        matches!(endpoint::holder(self.shared.entry(PRODUCER)), Holder::Held(t) if endpoint::token_alive(t))
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        endpoint::release(self.shared.entry(CONSUMER), self.token);
        self.shared.ctl().not_full.wake_all();
    }
}

/// Committed elements borrowed in place; see [`Consumer::read_chunk`].
pub struct ReadChunk<'a, T: Pod> {
    c: &'a mut Consumer<T>,
    len: usize,
    release: usize,
}

impl<T: Pod> std::fmt::Debug for ReadChunk<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadChunk").field("len", &self.len).finish()
    }
}

impl<T: Pod> ReadChunk<'_, T> {
    /// Number of borrowed elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if no elements are borrowed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements as two slices (the second is non-empty when the chunk
    /// wraps around the end of the ring). For a [`RawChannel`] the slices are
    /// bytes, `elem_size` per element. Loop over each slice on its own, as
    /// for [`WriteChunk::as_mut_slices`].
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let cap = self.c.shared.cap;
        let start = self.c.head;
        let first = ((cap - (start & (cap - 1))) as usize).min(self.len);
        let a = self.c.shared.slot_ptr(start);
        let b = self.c.shared.slot_ptr(start.wrapping_add(first as u64));
        self.c.shared.track_range(start, self.len, false);
        let w = self.c.shared.width;
        // SAFETY: slots [head, head + len) are committed and owned by the
        // consumer until released (the producer does not write them before
        // the Release store of `head`); split at the end of the array as in
        // WriteChunk::as_mut_slices.
        unsafe {
            (
                std::slice::from_raw_parts(a, first * w),
                std::slice::from_raw_parts(b, (self.len - first) * w),
            )
        }
    }

    /// Releases the first `n` elements (`n <= len`); the rest stay in the
    /// ring and are returned again by the next read.
    pub fn release(mut self, n: usize) {
        assert!(n <= self.len, "release({n}) of a {}-element chunk", self.len);
        self.release = n;
    }
}

impl<T: Pod> Drop for ReadChunk<'_, T> {
    fn drop(&mut self) {
        if self.release > 0 {
            self.c.release(self.release as u64);
        }
    }
}

/// Creates an in-process SPSC ring on the heap (see
/// [`Channel::in_process`]) and attaches both ends.
pub fn channel<T: Pod + Send>(capacity: usize) -> Result<(Producer<T>, Consumer<T>)> {
    let ch = Channel::in_process(capacity)?;
    Ok((ch.producer()?, ch.consumer()?))
}

/// Copies one element of `n` bytes of a ring whose element size is known
/// only at run time (the raw rings here and in [`crate::mpmc`]), the common
/// small sizes without a call to `memcpy`.
///
/// # Safety
/// `src` is readable and `dst` writable for `n` bytes, not overlapping.
#[inline(always)]
pub(crate) unsafe fn copy_elem(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: in each arm, `n` bytes readable at `src` and writable at
    // `dst` (caller), read and written unaligned.
    unsafe {
        match n {
            4 => dst.cast::<u32>().write_unaligned(src.cast::<u32>().read_unaligned()),
            8 => dst.cast::<u64>().write_unaligned(src.cast::<u64>().read_unaligned()),
            16 => dst.cast::<u128>().write_unaligned(src.cast::<u128>().read_unaligned()),
            _ => std::ptr::copy_nonoverlapping(src, dst, n),
        }
    }
}

/// An SPSC channel whose element type is known only by its size and
/// alignment: the C ABI's view of a fixed-size ring. It shares segments with
/// [`Channel<T>`] for any `T` of the same size and alignment (the type-name
/// check is skipped: a raw creator records no name).
///
/// Elements are byte slices of exactly [`elem_size`](RawChannel::elem_size)
/// bytes; chunks are byte slices, `elem_size` bytes per slot.
///
/// ```
/// use shmlane::spsc::{Channel, RawChannel};
/// let raw = RawChannel::anonymous(8, 16, 8)?;
/// let mut tx = raw.producer()?;
/// tx.try_push(&[1u8; 16]).unwrap();
/// let mut rx = raw.consumer()?;
/// let mut out = [0u8; 16];
/// rx.try_pop(&mut out).unwrap();
/// assert_eq!(out, [1u8; 16]);
/// # Ok::<(), shmlane::Error>(())
/// ```
#[derive(Clone)]
pub struct RawChannel {
    inner: Channel<u8>,
    elem_size: usize,
}

impl std::fmt::Debug for RawChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("spsc::RawChannel")
            .field("name", &self.inner.shared.name)
            .field("capacity", &self.inner.shared.cap)
            .field("elem_size", &self.elem_size)
            .finish()
    }
}

fn raw_spec(capacity: usize, elem_size: usize, elem_align: usize) -> Result<Spec> {
    if capacity == 0 || !capacity.is_power_of_two() {
        return Err(Error::InvalidArgument(format!(
            "capacity {capacity} must be a power of two greater than zero"
        )));
    }
    if elem_align == 0 || !elem_align.is_power_of_two() || elem_align > crate::layout::REGION_ALIGN {
        return Err(Error::InvalidArgument(format!(
            "element alignment {elem_align} must be a power of two no larger than {}",
            crate::layout::REGION_ALIGN
        )));
    }
    if elem_size == 0 || !elem_size.is_multiple_of(elem_align) || elem_size > u32::MAX as usize {
        return Err(Error::InvalidArgument(format!(
            "element size {elem_size} must be a non-zero multiple of the alignment {elem_align}"
        )));
    }
    Ok(Spec {
        geometry: Geometry {
            kind: Kind::Spsc,
            capacity: capacity as u64,
            slot_size: elem_size as u32,
            slot_align: elem_align as u32,
            max_message: 0,
            endpoint_count: 2,
            control_len: SPSC_CONTROL_LEN as u64,
        },
        fingerprint: TypeFingerprint::untagged(elem_size as u32, elem_align as u32),
        flags: 0,
    })
}

impl RawChannel {
    /// Creates a named ring of `capacity` elements of `elem_size` bytes
    /// aligned to `elem_align`.
    pub fn create(
        builder: &Builder,
        name: &str,
        capacity: usize,
        elem_size: usize,
        elem_align: usize,
    ) -> Result<RawChannel> {
        let spec = raw_spec(capacity, elem_size, elem_align)?;
        let seg = Segment::create(name, &spec, &builder.create, |_| {})?;
        RawChannel::wrap(seg, None)
    }

    /// Creates an anonymous ring (sealed memfd); see [`Channel::anonymous`].
    pub fn anonymous(capacity: usize, elem_size: usize, elem_align: usize) -> Result<RawChannel> {
        let spec = raw_spec(capacity, elem_size, elem_align)?;
        let seg = Segment::create_anonymous("spsc", &spec, |_| {})?;
        RawChannel::wrap(seg, None)
    }

    /// Opens a named SPSC ring of any element type; with `elem_size`, fails
    /// with [`Error::TypeMismatch`] unless the elements have that size.
    pub fn open(builder: &Builder, name: &str, elem_size: Option<usize>) -> Result<RawChannel> {
        let seg = Segment::open(name, &raw_expect(), &builder.open)?;
        RawChannel::wrap(seg, elem_size)
    }

    /// Opens an anonymous ring from its file descriptor.
    pub fn from_fd(fd: OwnedFd, elem_size: Option<usize>) -> Result<RawChannel> {
        let seg = Segment::open_fd(fd, &raw_expect(), &OpenOptions::default())?;
        RawChannel::wrap(seg, elem_size)
    }

    fn wrap(seg: Segment, want: Option<usize>) -> Result<RawChannel> {
        let h = *seg.header();
        let size = h.elem_size as usize;
        let found = TypeFingerprint {
            size: h.elem_size,
            align: h.elem_align,
            tag: h.type_tag,
        };
        if let Some(w) = want {
            if w != size {
                return Err(Error::TypeMismatch {
                    name: seg.name().to_owned(),
                    found,
                    expected: TypeFingerprint::untagged(w as u32, h.elem_align),
                });
            }
        }
        let ok = size > 0
            && h.geometry.slot_size as usize == size
            && h.elem_align.is_power_of_two()
            && size.is_multiple_of(h.elem_align as usize);
        if !ok {
            return Err(Error::Corrupt {
                name: seg.name().to_owned(),
                detail: format!(
                    "slot size {} / element size {size} / alignment {} are inconsistent",
                    h.geometry.slot_size, h.elem_align
                ),
            });
        }
        Ok(RawChannel {
            inner: Channel::wrap(Arc::new(seg), size),
            elem_size: size,
        })
    }

    /// Bytes per element.
    pub fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.inner.shared.cap as usize
    }

    /// The segment.
    pub fn segment(&self) -> Option<&Segment> {
        self.inner.segment()
    }

    /// Counters; see [`Channel::stats`].
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Attaches as the producer; see [`Channel::producer`].
    pub fn producer(&self) -> Result<RawProducer> {
        Ok(RawProducer {
            p: self.inner.producer()?,
            elem: self.elem_size,
        })
    }

    /// Attaches as the consumer; see [`Channel::consumer`].
    pub fn consumer(&self) -> Result<RawConsumer> {
        Ok(RawConsumer {
            c: self.inner.consumer()?,
            elem: self.elem_size,
        })
    }
}

fn raw_expect() -> Expect {
    Expect {
        kind: Some(Kind::Spsc),
        control_len: Some(SPSC_CONTROL_LEN as u64),
        fingerprint: None,
        endpoints: Some(2),
    }
}

/// The writing side of a [`RawChannel`].
#[derive(Debug)]
pub struct RawProducer {
    p: Producer<u8>,
    elem: usize,
}

/// The reading side of a [`RawChannel`].
#[derive(Debug)]
pub struct RawConsumer {
    c: Consumer<u8>,
    elem: usize,
}

impl RawProducer {
    /// Bytes per element.
    pub fn elem_size(&self) -> usize {
        self.elem
    }

    /// Sets how blocking calls wait.
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.p.set_wait_config(cfg);
    }

    /// Pushes one element (`elem.len()` must equal the element size).
    ///
    /// # Panics
    /// If `elem.len()` differs from the element size.
    #[inline]
    pub fn try_push(&mut self, elem: &[u8]) -> Result<(), TrySendError<()>> {
        assert_eq!(
            elem.len(),
            self.elem,
            "element of {} bytes in a ring of {}-byte elements",
            elem.len(),
            self.elem
        );
        match self.try_push_inner(elem, false) {
            Err(TrySendError::Full(())) => {
                let exp = self.p.due();
                self.try_push_inner(elem, exp)
            }
            r => r,
        }
    }

    /// The fast path of [`try_push`](RawProducer::try_push) alone: pushes
    /// `elem` and returns true if a slot is free and the consumer is not
    /// gone; returns false, having done nothing, otherwise (then
    /// `try_push` tells why). Small enough to inline into a caller such as
    /// the C ABI, which keeps its error handling out of line.
    ///
    /// # Panics
    /// If `elem.len()` differs from the element size.
    #[inline(always)]
    pub fn push_fast(&mut self, elem: &[u8]) -> bool {
        assert_eq!(elem.len(), self.elem, "element of {} bytes", elem.len());
        let p = &mut self.p;
        if p.consumer_gone(false).is_some() || !matches!(p.free(1), Ok(n) if n > 0) {
            return false;
        }
        let tail = p.tail;
        p.shared.track(tail).write();
        // SAFETY: as in `try_push_inner`.
        unsafe { copy_elem(elem.as_ptr(), p.shared.slot_ptr(tail), elem.len()) };
        p.commit(1);
        true
    }

    /// [`Producer::try_push`]'s path with the element copied as bytes.
    #[inline(always)]
    fn try_push_inner(&mut self, elem: &[u8], expensive: bool) -> Result<(), TrySendError<()>> {
        let p = &mut self.p;
        if let Some(c) = p.consumer_gone(false) {
            return Err(c.try_send(()));
        }
        match p.free(1) {
            Err(c) => Err(c.try_send(())),
            Ok(0) => match p.consumer_gone(expensive) {
                Some(c) => Err(c.try_send(())),
                None => Err(TrySendError::Full(())),
            },
            Ok(_) => {
                let tail = p.tail;
                p.shared.track(tail).write();
                // SAFETY: slot `tail` is free (tail - head < cap), so the
                // producer owns its `elem.len()` (= width) bytes; the
                // consumer does not read them before the Release store of
                // `tail` in `commit`; `elem` is outside the ring.
                unsafe { copy_elem(elem.as_ptr(), p.shared.slot_ptr(tail), elem.len()) };
                p.commit(1);
                Ok(())
            }
        }
    }

    /// Pushes one element, waiting for room up to `timeout` (forever when
    /// `None`).
    ///
    /// # Panics
    /// If `elem.len()` differs from the element size.
    pub fn push_timeout(&mut self, elem: &[u8], timeout: Option<Duration>) -> Result<(), SendTimeoutError<()>> {
        assert_eq!(elem.len(), self.elem, "element of {} bytes", elem.len());
        // The push is the wait's poll (`block_on` polls once before it
        // spins), so a free slot is taken the moment it is seen, and the
        // deadline covers the whole call.
        // SAFETY: used only within this call, while `self` (which keeps the
        // memory alive) is borrowed.
        let ctl = unsafe { self.p.shared.ctl_detached() };
        let cfg = self.p.wait;
        wait::block_on(&ctl.not_full, &cfg, timeout.and_then(deadline), |exp| {
            match self.try_push_inner(elem, exp) {
                Err(TrySendError::Full(())) => None,
                r => Some(r.map_err(TrySendError::into_send_timeout)),
            }
        })
        .unwrap_or(Err(SendTimeoutError::Timeout(())))
    }

    /// Reserves exactly `n` slots to write in place (byte slices).
    #[inline]
    pub fn reserve(&mut self, n: usize) -> Result<WriteChunk<'_, u8>, TrySendError<()>> {
        self.p.reserve(n)
    }

    /// Reserves between 1 and `max` slots.
    pub fn reserve_up_to(&mut self, max: usize) -> Result<WriteChunk<'_, u8>, TrySendError<()>> {
        self.p.reserve_up_to(max)
    }

    /// Waits until `n` slots are free; see [`Producer::wait_for_space`].
    pub fn wait_for_space(&mut self, n: usize, timeout: Option<Duration>) -> Result<(), SendTimeoutError<()>> {
        self.p.wait_for_space(n, timeout)
    }
}

impl RawConsumer {
    /// Bytes per element.
    pub fn elem_size(&self) -> usize {
        self.elem
    }

    /// Sets how blocking calls wait.
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.c.set_wait_config(cfg);
    }

    /// Pops one element into `out` (`out.len()` must equal the element size).
    ///
    /// # Panics
    /// If `out.len()` differs from the element size.
    #[inline]
    pub fn try_pop(&mut self, out: &mut [u8]) -> Result<(), TryRecvError> {
        assert_eq!(
            out.len(),
            self.elem,
            "buffer of {} bytes for {}-byte elements",
            out.len(),
            self.elem
        );
        match self.try_pop_inner(out, false) {
            Err(TryRecvError::Empty) => {
                let exp = self.c.due();
                self.try_pop_inner(out, exp)
            }
            r => r,
        }
    }

    /// The fast path of [`try_pop`](RawConsumer::try_pop) alone: pops into
    /// `out` and returns true if an element is available; returns false,
    /// having done nothing, otherwise (then `try_pop` tells why).
    ///
    /// # Panics
    /// If `out.len()` differs from the element size.
    #[inline(always)]
    pub fn pop_fast(&mut self, out: &mut [u8]) -> bool {
        assert_eq!(out.len(), self.elem, "buffer of {} bytes", out.len());
        let c = &mut self.c;
        let fresh = c.cached_tail == c.head;
        if !matches!(c.available(1), Ok(n) if n > 0) {
            return false;
        }
        if c.take_mailed(fresh, |m, i| m.take_raw(i, out)) {
            return true;
        }
        let head = c.head;
        c.shared.track(head).read();
        // SAFETY: as in `try_pop_inner`.
        unsafe { copy_elem(c.shared.slot_ptr(head), out.as_mut_ptr(), out.len()) };
        c.release(1);
        true
    }

    /// [`Consumer::try_pop`]'s path with the element copied as bytes.
    #[inline(always)]
    fn try_pop_inner(&mut self, out: &mut [u8], expensive: bool) -> Result<(), TryRecvError> {
        let c = &mut self.c;
        let fresh = c.cached_tail == c.head;
        match c.available(1) {
            Err(e) => return Err(e.try_recv()),
            Ok(0) => {
                c.empty_reason(expensive).map_err(Closed::try_recv)?;
                // The producer is gone but committed more before leaving.
                if c.cached_tail == c.head {
                    return Err(TryRecvError::Empty);
                }
            }
            Ok(_) => {}
        }
        if c.take_mailed(fresh, |m, i| m.take_raw(i, out)) {
            return Ok(());
        }
        let head = c.head;
        c.shared.track(head).read();
        // SAFETY: slot `head` is committed (head < tail) and owned by the
        // consumer until the Release store of `head` in `release`; it has
        // `out.len()` (= width) bytes; `out` is outside the ring.
        unsafe { copy_elem(c.shared.slot_ptr(head), out.as_mut_ptr(), out.len()) };
        c.release(1);
        Ok(())
    }

    /// Pops one element, waiting up to `timeout` (forever when `None`).
    ///
    /// # Panics
    /// If `out.len()` differs from the element size.
    pub fn pop_timeout(&mut self, out: &mut [u8], timeout: Option<Duration>) -> Result<(), RecvTimeoutError> {
        assert_eq!(out.len(), self.elem, "buffer of {} bytes", out.len());
        // The pop is the wait's poll (see `RawProducer::push_timeout`).
        // SAFETY: used only within this call, while `self` (which keeps the
        // memory alive) is borrowed.
        let ctl = unsafe { self.c.shared.ctl_detached() };
        let cfg = self.c.wait;
        wait::block_on(&ctl.not_empty, &cfg, timeout.and_then(deadline), |exp| {
            match self.try_pop_inner(out, exp) {
                Err(TryRecvError::Empty) => None,
                r => Some(r.map_err(TryRecvError::into_recv_timeout)),
            }
        })
        .unwrap_or(Err(RecvTimeoutError::Timeout))
    }

    /// Borrows up to `max` elements in place (byte slices); see
    /// [`Consumer::read_chunk`].
    #[inline]
    pub fn read_chunk(&mut self, max: usize) -> Result<ReadChunk<'_, u8>, TryRecvError> {
        self.c.read_chunk(max)
    }

    /// Waits until `n` elements are available; see [`Consumer::wait_for_items`].
    pub fn wait_for_items(&mut self, n: usize, timeout: Option<Duration>) -> Result<(), RecvTimeoutError> {
        self.c.wait_for_items(n, timeout)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn spin_cfg() -> WaitConfig {
        WaitConfig {
            strategy: crate::wait::WaitStrategy::Spin,
            ..WaitConfig::default()
        }
    }

    /// The mailbox: elements of every size up to `MAIL_BYTES` (and one
    /// above) come back intact whether popped through it or from the slot.
    #[test]
    fn mailbox_carries_elements_of_every_size() {
        fn round<T: Pod + Send + PartialEq + std::fmt::Debug>(make: impl Fn(u64) -> T) {
            let ch = Channel::<T>::in_process(4).unwrap();
            let mut tx = ch.producer().unwrap();
            let mut rx = ch.consumer().unwrap();
            for i in 0..20u64 {
                // One at a time: each pop refreshes `tail` (the mailbox path).
                tx.try_push(make(i)).unwrap();
                assert_eq!(rx.try_pop().unwrap(), make(i));
            }
            // Two then two: the first of each pair comes from its slot.
            for i in (0..20u64).step_by(2) {
                tx.try_push(make(i)).unwrap();
                tx.try_push(make(i + 1)).unwrap();
                assert_eq!(rx.try_pop().unwrap(), make(i));
                assert_eq!(rx.try_pop().unwrap(), make(i + 1));
            }
        }
        round(|i| i as u8);
        round(|i| [i as u8; 3]);
        round(|i| i);
        round(|i| [i as u32; 3]);
        round(|i| [i.wrapping_mul(0x9e37_79b9_7f4a_7c15); 5]);
        round(|i| [i as u8; MAIL_BYTES]);
        round(|i| [i as u8; MAIL_BYTES + 1]);
    }

    /// A producer that died after copying an element into the mailbox but
    /// before publishing it: its successor's element at that index (written
    /// by a batch, which leaves the mailbox alone) is what the consumer
    /// gets, never the dead one's copy.
    #[test]
    fn successor_voids_a_dead_producers_mailbox() {
        let ch = Channel::<u64>::in_process(8).unwrap();
        let mut rx = ch.consumer().unwrap();
        let tx = ch.producer().unwrap();
        // The dead producer's last act: the copy of index 0, unpublished.
        ch.shared.ctl().tail.post(0, &666u64.to_ne_bytes());
        drop(tx);
        let mut tx = ch.producer().unwrap();
        // A batch does not touch the mailbox.
        tx.try_push_slice(&[7]).unwrap();
        assert_eq!(rx.try_pop(), Ok(7));
    }

    /// A chunk commit leaves an older copy in the mailbox, never taken for
    /// the chunk's elements.
    #[test]
    fn chunk_after_single_push_is_read_from_the_slots() {
        let ch = Channel::<u64>::in_process(8).unwrap();
        let mut tx = ch.producer().unwrap();
        let mut rx = ch.consumer().unwrap();
        tx.try_push(1).unwrap();
        assert_eq!(rx.try_pop(), Ok(1));
        let mut c = tx.reserve(1).unwrap();
        c.as_mut_slices().0[0] = 2;
        c.commit_all();
        assert_eq!(rx.try_pop(), Ok(2));
        tx.try_push_slice(&[3]).unwrap();
        assert_eq!(rx.try_pop(), Ok(3));
    }

    /// The byte-typed ring the C ABI uses: a blocked push lands in the one
    /// slot freed for it, a blocked pop times out on an empty ring, nothing
    /// is lost or reordered.
    #[test]
    #[cfg_attr(miri, ignore)] // memfd: a system call miri does not run
    fn raw_blocking_push_and_pop() {
        let ch = RawChannel::anonymous(128, 8, 8).unwrap();
        let mut tx = ch.producer().unwrap();
        let mut rx = ch.consumer().unwrap();
        tx.set_wait_config(spin_cfg());
        for i in 0..128u64 {
            tx.try_push(&i.to_ne_bytes()).unwrap();
        }
        let t = std::thread::spawn(move || {
            let mut b = [0u8; 8];
            rx.pop_timeout(&mut b, None).unwrap();
            assert_eq!(u64::from_ne_bytes(b), 0);
            rx
        });
        tx.push_timeout(&128u64.to_ne_bytes(), Some(Duration::from_secs(30)))
            .unwrap();
        let mut rx = t.join().unwrap();
        let mut b = [0u8; 8];
        for i in 1..=128u64 {
            rx.try_pop(&mut b).unwrap();
            assert_eq!(u64::from_ne_bytes(b), i);
        }
        assert_eq!(rx.try_pop(&mut b), Err(TryRecvError::Empty));
        assert_eq!(
            rx.pop_timeout(&mut b, Some(Duration::from_millis(1))),
            Err(RecvTimeoutError::Timeout)
        );
    }

    #[test]
    fn fifo_wrap_and_batches() {
        let (mut tx, mut rx) = channel::<u32>(4).unwrap();
        let mut next_in = 0u32;
        let mut next_out = 0u32;
        for round in 0..50 {
            let n = round % 5;
            for _ in 0..n {
                match tx.try_push(next_in) {
                    Ok(()) => next_in += 1,
                    Err(TrySendError::Full(_)) => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
            let mut out = [0u32; 3];
            if let Ok(k) = rx.try_pop_slice(&mut out) {
                for v in &out[..k] {
                    assert_eq!(*v, next_out);
                    next_out += 1;
                }
            }
        }
        while let Ok(v) = rx.try_pop() {
            assert_eq!(v, next_out);
            next_out += 1;
        }
        assert_eq!(next_in, next_out);
    }

    #[test]
    fn full_and_empty() {
        let (mut tx, mut rx) = channel::<u8>(2).unwrap();
        assert_eq!(rx.try_pop(), Err(TryRecvError::Empty));
        tx.try_push(1).unwrap();
        tx.try_push(2).unwrap();
        assert!(matches!(tx.try_push(3), Err(TrySendError::Full(3))));
        assert_eq!(rx.peek(), Ok(1));
        assert_eq!(rx.try_pop(), Ok(1));
        tx.try_push(3).unwrap();
        assert_eq!(rx.try_pop(), Ok(2));
        assert_eq!(rx.try_pop(), Ok(3));
    }

    #[test]
    fn chunks_wrap_as_two_slices() {
        let (mut tx, mut rx) = channel::<u16>(8).unwrap();
        tx.push_slice(&[0, 1, 2, 3, 4, 5]).unwrap();
        let mut out = [0; 6];
        assert_eq!(rx.try_pop_slice(&mut out), Ok(6));
        let mut w = tx.reserve(5).unwrap();
        {
            let (a, b) = w.as_mut_slices();
            assert_eq!((a.len(), b.len()), (2, 3));
            for (i, x) in a.iter_mut().chain(b.iter_mut()).enumerate() {
                *x = 100 + i as u16;
            }
        }
        w.commit(4);
        let r = rx.read_chunk(8).unwrap();
        let (a, b) = r.as_slices();
        assert_eq!(a, &[100, 101]);
        assert_eq!(b, &[102, 103]);
        r.release(3);
        assert_eq!(rx.try_pop(), Ok(103));
        assert_eq!(rx.try_pop(), Err(TryRecvError::Empty));
    }

    #[test]
    fn dropped_chunk_publishes_nothing() {
        let (mut tx, mut rx) = channel::<u64>(4).unwrap();
        let chunk = tx.reserve(3).unwrap();
        assert_eq!(chunk.len(), 3);
        let _ = chunk;
        assert_eq!(rx.try_pop(), Err(TryRecvError::Empty));
        assert!(tx.reserve(5).is_err(), "more than capacity");
    }

    #[test]
    fn disconnect_after_drain_both_ways() {
        let (mut tx, mut rx) = channel::<u64>(4).unwrap();
        tx.push(1).unwrap();
        drop(tx);
        assert_eq!(rx.try_pop(), Ok(1));
        assert_eq!(rx.try_pop(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.pop(), Err(RecvError::Disconnected));

        let (mut tx, rx) = channel::<u64>(4).unwrap();
        drop(rx);
        assert!(matches!(tx.try_push(5), Err(TrySendError::Disconnected(5))));
        assert!(matches!(tx.push(5), Err(SendError::Disconnected(5))));
    }

    #[test]
    fn second_attach_is_busy_and_reattach_after_close_continues() {
        let ch = Channel::<u64>::in_process(4).unwrap();
        let mut tx = ch.producer().unwrap();
        assert!(matches!(
            ch.producer(),
            Err(Error::EndpointBusy {
                role: Role::Producer,
                ..
            })
        ));
        tx.push(1).unwrap();
        drop(tx);
        let mut tx = ch.producer().unwrap();
        tx.push(2).unwrap();
        let mut rx = ch.consumer().unwrap();
        assert_eq!(rx.pop(), Ok(1));
        assert_eq!(rx.pop(), Ok(2));
    }

    #[test]
    fn timeouts() {
        let (mut tx, mut rx) = channel::<u64>(1).unwrap();
        assert_eq!(rx.pop_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
        tx.push(1).unwrap();
        assert!(matches!(
            tx.push_timeout(2, Duration::from_millis(5)),
            Err(SendTimeoutError::Timeout(2))
        ));
    }

    #[test]
    fn corrupt_indices_are_errors() {
        let ch = Channel::<u64>::in_process(4).unwrap();
        let mut tx = ch.producer().unwrap();
        let mut rx = ch.consumer().unwrap();
        // A hostile peer sets tail far ahead of head.
        ch.shared.ctl().tail.store(1000, Ordering::Relaxed);
        assert!(matches!(rx.try_pop(), Err(TryRecvError::Corrupt { .. })));
        ch.shared.ctl().tail.store(0, Ordering::Relaxed);
        // And head ahead of tail.
        ch.shared.ctl().head.store(77, Ordering::Relaxed);
        for i in 0..4 {
            let _ = tx.try_push(i);
        }
        assert!(matches!(tx.try_push(9), Err(TrySendError::Corrupt { .. })));
    }

    #[test]
    fn threads_blocking_stream() {
        let (mut tx, mut rx) = channel::<u64>(8).unwrap();
        let n = if cfg!(miri) { 200 } else { 200_000 };
        let t = std::thread::spawn(move || {
            for i in 0..n {
                tx.push(i).unwrap();
            }
        });
        for i in 0..n {
            assert_eq!(rx.pop(), Ok(i));
        }
        t.join().unwrap();
        assert_eq!(rx.pop(), Err(RecvError::Disconnected));
    }

    /// A typed producer's mailbox read by a raw (C ABI) consumer, and a
    /// raw producer (which does not post) read by a typed consumer.
    #[test]
    #[cfg_attr(miri, ignore)] // memfd
    fn mailbox_between_typed_and_raw_handles() {
        let typed = Channel::<u64>::anonymous(4).unwrap();
        let fd = typed.segment().unwrap().inheritable_fd().unwrap();
        let raw = RawChannel::from_fd(fd, Some(8)).unwrap();
        let mut tx = typed.producer().unwrap();
        let mut rx = raw.consumer().unwrap();
        let mut out = [0u8; 8];
        for i in 0..10u64 {
            tx.try_push(i * 3).unwrap();
            rx.try_pop(&mut out).unwrap();
            assert_eq!(u64::from_ne_bytes(out), i * 3);
        }
        drop((tx, rx));
        let mut tx = raw.producer().unwrap();
        let mut rx = typed.consumer().unwrap();
        for i in 0..10u64 {
            tx.try_push(&(i + 100).to_ne_bytes()).unwrap();
            assert_eq!(rx.try_pop(), Ok(i + 100));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // memfd
    fn raw_channel_interoperates_with_typed() {
        let raw = RawChannel::anonymous(4, 8, 8).unwrap();
        let mut tx = raw.producer().unwrap();
        for i in 0..3u64 {
            tx.try_push(&i.to_le_bytes()).unwrap();
        }
        let fd = raw.segment().unwrap().inheritable_fd().unwrap();
        let typed = Channel::<u64>::from_fd(fd).unwrap();
        let mut rx = typed.consumer().unwrap();
        assert_eq!(rx.try_pop(), Ok(0));
        let fd = raw.segment().unwrap().inheritable_fd().unwrap();
        assert!(matches!(
            RawChannel::from_fd(fd, Some(4)),
            Err(Error::TypeMismatch { .. })
        ));
        let fd = raw.segment().unwrap().inheritable_fd().unwrap();
        assert!(matches!(Channel::<u32>::from_fd(fd), Err(Error::TypeMismatch { .. })));
        let mut w = tx.reserve(2).unwrap();
        let (a, b) = w.as_mut_slices();
        assert_eq!(a.len() + b.len(), 16, "byte slices");
        a.fill(9);
        b.fill(9);
        w.commit_all();
        let mut out = [0u8; 8];
        drop(rx);
        let mut rx = raw.consumer().unwrap();
        rx.try_pop(&mut out).unwrap();
        assert_eq!(u64::from_le_bytes(out), 1);
        assert_eq!(rx.read_chunk(8).unwrap().len(), 3);
        assert!(matches!(
            RawChannel::anonymous(4, 12, 8),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn bad_capacity() {
        assert!(matches!(Channel::<u64>::in_process(0), Err(Error::InvalidArgument(_))));
        assert!(matches!(Channel::<u64>::in_process(3), Err(Error::InvalidArgument(_))));
    }
}
