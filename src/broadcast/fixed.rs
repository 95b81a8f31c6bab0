//! Broadcast of fixed-size `Pod` elements: the ring, the handles and the
//! builder. The algorithm, its provenance and invariants are in the parent
//! module's docs.
//!
//! The ring code is written once, on elements as bytes: [`Writer`] (the
//! publishing side: gating, the seqlock write, publication) and [`Reader`]
//! (a subscriber: the cursor, the seqlock read, laps, gates). The typed
//! [`Publisher<T>`] / [`Subscriber<T>`] here and the raw handles of
//! [`super::raw`] (element size chosen at run time, for the C ABI) are thin
//! wrappers that say where an element's bytes come from and go to. The
//! element copies are `#[inline(always)]` down to the word loop, so a typed
//! caller's copy has a constant length and compiles as before.

use super::core::{
    corrupt, deadline, BroadcastControl, Core, Pacer, Stats, SubscriberStats, BROADCAST_CONTROL_LEN, MAX_POS,
    PUBLISHER, W_CURSOR, W_START,
};
use super::{Policy, RecvError, RecvTimeoutError, TryRecvError};
use crate::error::{Closed, Error, Result, SendError, SendTimeoutError, TrySendError};
use crate::layout::{EndpointEntry, Geometry, Kind, TypeFingerprint, DEFAULT_ENDPOINTS, MAX_ENDPOINTS};
use crate::segment::{CreateOptions, Expect, OpenOptions, Segment, Spec};
use crate::sync::{fence, AtomicU64, Ordering};
use crate::wait::{self, WaitConfig};
use bytemuck::Pod;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the words of a slot are, in units of 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SlotLayout {
    stride_w: usize,
    payload_w: usize,
    n_words: usize,
}

impl SlotLayout {
    pub(super) fn of(size: usize, align: usize) -> SlotLayout {
        let a = align.max(8);
        let n_words = size.div_ceil(8);
        let stride = (a + n_words * 8).next_multiple_of(a);
        SlotLayout {
            stride_w: stride / 8,
            payload_w: a / 8,
            n_words,
        }
    }

    fn slot_size(&self) -> usize {
        self.stride_w * 8
    }
}

/// Heap storage for an in-process channel (tests, loom, miri, threads).
struct HeapRing {
    ctl: BroadcastControl,
    /// The slots, with up to 15 words of slack to align them to 128 bytes.
    words: Box<[AtomicU64]>,
    entries: Box<[EndpointEntry]>,
}

/// The memory a channel lives in: the common part plus the slots. Not
/// generic: the element size is in `lay`.
#[derive(Clone)]
pub(super) struct Shared {
    core: Core,
    words: NonNull<AtomicU64>,
    lay: SlotLayout,
}

// SAFETY: the pointers target memory kept alive by `core.keep`, accessed
// only through atomics (slots are atomic words), or through shared
// references to slots that the gating protocol keeps unwritten (Block, see
// `ReadGuard`).
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl std::ops::Deref for Shared {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl Shared {
    /// Word `w` of the slot of position `p` (`w < stride_w`).
    #[inline(always)]
    fn word(&self, p: u64, w: usize) -> &AtomicU64 {
        debug_assert!(w < self.lay.stride_w);
        let slot = (p & (self.cap - 1)) as usize;
        // SAFETY: `slot < cap` and `w < stride_w`, and the data area holds
        // `cap * stride_w` words (validated against the header, or the heap
        // box), kept alive by `keep`; atomics are valid for any bits.
        unsafe { &*self.words.as_ptr().add(slot * self.lay.stride_w + w) }
    }

    #[inline(always)]
    fn seq(&self, p: u64) -> &AtomicU64 {
        self.word(p, 0)
    }

    /// Pointer to the element of position `p`.
    #[inline(always)]
    fn elem_ptr(&self, p: u64) -> *const u8 {
        let slot = (p & (self.cap - 1)) as usize;
        // SAFETY: as in `word`: inside the data area. Computed from the
        // area's base pointer, not from a reference to one word, so that
        // the pointer may cover the whole element.
        unsafe { self.words.as_ptr().add(slot * self.lay.stride_w + self.lay.payload_w) }
            .cast::<u8>()
            .cast_const()
    }

    /// Stores an element's bytes (at most `n_words * 8`) into the slot of
    /// `p` as relaxed word stores.
    #[inline(always)]
    fn store_bytes(&self, p: u64, bytes: &[u8]) {
        debug_assert!(bytes.len() <= self.lay.n_words * 8);
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            // Relaxed: ordered by the seqlock's fences (see `Writer::write`).
            self.word(p, self.lay.payload_w + i)
                .store(u64::from_ne_bytes(w), Ordering::Relaxed);
        }
    }

    /// Copies the element of position `p` into `out` (at most `n_words *
    /// 8` bytes) with relaxed word loads.
    #[inline(always)]
    fn load_bytes(&self, p: u64, out: &mut [u8]) {
        debug_assert!(out.len() <= self.lay.n_words * 8);
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            // Relaxed: validated by the seqlock's second check.
            let w = self.word(p, self.lay.payload_w + i).load(Ordering::Relaxed);
            chunk.copy_from_slice(&w.to_ne_bytes()[..chunk.len()]);
        }
    }

    pub(super) fn heap(cap: u64, lay: SlotLayout, endpoints: u32, policy: Policy, stall: Duration) -> Shared {
        let n = cap as usize * lay.stride_w + 15;
        let ring = Arc::new(HeapRing {
            ctl: BroadcastControl::new(),
            words: (0..n).map(|_| AtomicU64::new(0)).collect(),
            entries: (0..endpoints).map(|_| EndpointEntry::new()).collect(),
        });
        // Align the slots to 128 bytes (elements of large alignment are
        // referenced in place).
        let base = ring.words.as_ptr();
        let skip = if core::mem::size_of::<AtomicU64>() == 8 {
            ((128 - (base as usize % 128)) % 128) / 8
        } else {
            0
        };
        let core = Core::on_heap(&ring.ctl, &ring.entries, cap, policy, stall, ring.clone());
        Shared {
            core,
            // SAFETY: `skip <= 15`, within the box of `n` words.
            words: NonNull::new(unsafe { base.add(skip) } as *mut AtomicU64).expect("non-null"),
            lay,
        }
    }

    /// The channel in a validated segment whose element has `size` bytes
    /// and alignment `align`.
    pub(super) fn from_segment(seg: Arc<Segment>, size: usize, align: usize) -> Result<Shared> {
        let h = *seg.header();
        let g = h.geometry;
        let bad = |detail: String| {
            Err(Error::Corrupt {
                name: seg.name().to_owned(),
                detail,
            })
        };
        if g.capacity < 2 || g.capacity >= MAX_POS {
            return bad(format!("broadcast capacity {} is out of range", g.capacity));
        }
        if size == 0 || align == 0 || !align.is_power_of_two() || align > crate::layout::REGION_ALIGN {
            return bad(format!("broadcast element size {size} / align {align} is invalid"));
        }
        let lay = SlotLayout::of(size, align);
        if g.slot_size as usize != lay.slot_size() || g.slot_align as usize != align.max(8) {
            return bad(format!(
                "broadcast slot size {} / align {} differs from the {} / {} of this element type",
                g.slot_size,
                g.slot_align,
                lay.slot_size(),
                align.max(8)
            ));
        }
        let words = NonNull::new(seg.data_ptr() as *mut AtomicU64).expect("non-null");
        Ok(Shared {
            core: Core::in_segment(seg, g.capacity)?,
            words,
            lay,
        })
    }

    pub(super) fn stats(&self) -> Stats {
        // Relaxed: statistics only.
        let tail = self.ctl().tail.load(Ordering::Relaxed);
        self.core.stats(tail, gate_msg)
    }

    pub(super) fn subscribers(&self) -> Vec<SubscriberStats> {
        // Relaxed: statistics only.
        let tail = self.ctl().tail.load(Ordering::Relaxed);
        self.core.subscribers(tail, gate_msg)
    }
}

/// A fixed-ring subscriber's message number is its gate.
fn gate_msg(e: &EndpointEntry) -> Option<u64> {
    // Relaxed: statistics only.
    e.words[W_CURSOR].load(Ordering::Relaxed).checked_sub(1)
}

/// Counters of a broadcast segment opened without its element type (for
/// [`crate::inspect`]).
pub(crate) fn stats_of_segment(seg: Arc<Segment>) -> Result<(Stats, Vec<SubscriberStats>)> {
    let h = *seg.header();
    let (size, align) = (h.elem_size as usize, h.elem_align as usize);
    let sh = Shared::from_segment(seg, size, align)?;
    Ok((sh.stats(), sh.subscribers()))
}

/// Segment geometry of a broadcast channel of elements of `size` bytes
/// aligned to `align` (checked by [`check_geometry`]).
pub(super) fn geometry(cap: u64, endpoints: u32, size: usize, align: usize) -> Geometry {
    let lay = SlotLayout::of(size, align);
    Geometry {
        kind: Kind::Broadcast,
        capacity: cap,
        slot_size: lay.slot_size() as u32,
        slot_align: align.max(8) as u32,
        max_message: 0,
        endpoint_count: endpoints,
        control_len: BROADCAST_CONTROL_LEN as u64,
    }
}

/// What `open` expects of a segment: the kind and control block, and the
/// element type when known (`None`: the raw channel checks the size).
pub(super) fn expect(fingerprint: Option<TypeFingerprint>) -> Expect {
    Expect {
        kind: Some(Kind::Broadcast),
        control_len: Some(BROADCAST_CONTROL_LEN as u64),
        fingerprint,
        endpoints: None,
    }
}

/// Checks a capacity and an element's size and alignment; returns the
/// capacity.
pub(super) fn check_geometry(capacity: usize, size: usize, align: usize) -> Result<u64> {
    if capacity < 2 || !capacity.is_power_of_two() || capacity as u64 >= MAX_POS {
        return Err(Error::InvalidArgument(format!(
            "capacity {capacity} must be a power of two of at least 2 (for example {})",
            capacity.max(2).next_power_of_two()
        )));
    }
    if size == 0 {
        return Err(Error::InvalidArgument("zero-sized element types cannot be sent".into()));
    }
    if align == 0 || !align.is_power_of_two() || align > crate::layout::REGION_ALIGN {
        return Err(Error::InvalidArgument(format!(
            "element alignment {align} must be a power of two no larger than {}",
            crate::layout::REGION_ALIGN
        )));
    }
    if !size.is_multiple_of(align) {
        return Err(Error::InvalidArgument(format!(
            "element size {size} must be a multiple of the alignment {align}"
        )));
    }
    let lay = SlotLayout::of(size, align);
    if u32::try_from(lay.slot_size()).is_err() {
        return Err(Error::InvalidArgument(format!(
            "element of {size} bytes is larger than 4 GiB"
        )));
    }
    Ok(capacity as u64)
}

/// Options for creating or opening a broadcast channel.
#[derive(Debug, Clone)]
pub struct Builder {
    capacity: usize,
    policy: Policy,
    pub(super) create: CreateOptions,
    pub(super) open: OpenOptions,
    check_every_poll: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            capacity: 1024,
            policy: Policy::Block,
            create: CreateOptions::default(),
            open: OpenOptions::default(),
            check_every_poll: false,
        }
    }
}

impl Builder {
    /// Default options: 1024 slots, [`Policy::Block`], mode 0600,
    /// [`DEFAULT_ENDPOINTS`] endpoint entries (one publisher and the rest
    /// subscribers), 3 s stall timeout, no stale reclaim, 1 s init wait.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Number of slots (a power of two, at least 2).
    pub fn capacity(mut self, capacity: usize) -> Builder {
        self.capacity = capacity;
        self
    }

    /// Block (lossless) or Overwrite (lossy); stored in the segment.
    pub fn policy(mut self, policy: Policy) -> Builder {
        self.policy = policy;
        self
    }

    /// File mode of a named segment (default 0o600).
    pub fn mode(mut self, mode: u32) -> Builder {
        self.create.mode = mode;
        self
    }

    /// Size of the endpoint table: the publisher's entry plus one per
    /// subscriber attached at once (default [`DEFAULT_ENDPOINTS`], between
    /// 2 and [`MAX_ENDPOINTS`]).
    pub fn endpoints(mut self, n: u32) -> Builder {
        self.create.endpoints = Some(n);
        self
    }

    /// How long a dead subscriber may hold a Block publisher back before it
    /// is evicted (default 3 s). Stored in the segment.
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

    fn endpoint_count(&self) -> Result<u32> {
        let n = self.create.endpoints.unwrap_or(DEFAULT_ENDPOINTS);
        if !(2..=MAX_ENDPOINTS).contains(&n) {
            return Err(Error::InvalidArgument(format!(
                "endpoint table size {n} must be between 2 and {MAX_ENDPOINTS} (one publisher, at least one subscriber)"
            )));
        }
        Ok(n)
    }

    /// The segment spec of a channel of `size`-byte elements aligned to
    /// `align`, with `fingerprint` recorded as their type.
    pub(super) fn spec_of(&self, size: usize, align: usize, fingerprint: TypeFingerprint) -> Result<Spec> {
        let cap = check_geometry(self.capacity, size, align)?;
        Ok(Spec {
            geometry: geometry(cap, self.endpoint_count()?, size, align),
            fingerprint,
            flags: self.policy.flags(),
        })
    }

    fn spec<T: Pod>(&self) -> Result<Spec> {
        self.spec_of(
            core::mem::size_of::<T>(),
            core::mem::align_of::<T>(),
            TypeFingerprint::of::<T>(),
        )
    }

    /// The ring of an in-process channel of `size`-byte elements aligned
    /// to `align`, on the heap.
    pub(super) fn heap(&self, size: usize, align: usize) -> Result<Shared> {
        let cap = check_geometry(self.capacity, size, align)?;
        let mut sh = Shared::heap(
            cap,
            SlotLayout::of(size, align),
            self.endpoint_count()?,
            self.policy,
            self.create.stall_timeout.max(Duration::from_nanos(1)),
        );
        sh.core.check_every_poll = self.check_every_poll;
        Ok(sh)
    }

    /// Creates a named channel of `T`.
    pub fn create<T: Pod + Send>(&self, name: &str) -> Result<Channel<T>> {
        let seg = Segment::create(name, &self.spec::<T>()?, &self.create, |_| {})?;
        Channel::from_segment(seg)
    }

    /// Creates an anonymous channel in a sealed memfd (share the fd; the
    /// other process calls [`Builder::from_fd`]).
    pub fn anonymous<T: Pod + Send>(&self) -> Result<Channel<T>> {
        let seg = Segment::create_anonymous_with("broadcast", &self.spec::<T>()?, &self.create, |_| {})?;
        Channel::from_segment(seg)
    }

    /// An in-process channel on the heap: same algorithm and API, no
    /// segment (tests, threads, loom, miri).
    pub fn in_process<T: Pod + Send>(&self) -> Result<Channel<T>> {
        Ok(Channel {
            sh: self.heap(core::mem::size_of::<T>(), core::mem::align_of::<T>())?,
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

    /// Opens an existing named channel of `T` (the policy is the creator's).
    pub fn open<T: Pod + Send>(&self, name: &str) -> Result<Channel<T>> {
        let seg = Segment::open(name, &expect(Some(TypeFingerprint::of::<T>())), &self.open)?;
        Channel::from_segment(seg)
    }

    /// Opens an anonymous channel from its file descriptor.
    pub fn from_fd<T: Pod + Send>(&self, fd: OwnedFd) -> Result<Channel<T>> {
        let seg = Segment::open_fd(fd, &expect(Some(TypeFingerprint::of::<T>())), &self.open)?;
        Channel::from_segment(seg)
    }
}

/// A broadcast channel: the shared ring, not attached as any endpoint.
/// Cloning is cheap. Attach with [`publisher`](Channel::publisher) and
/// [`subscribe`](Channel::subscribe).
pub struct Channel<T> {
    sh: Shared,
    segment: Option<Arc<Segment>>,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            sh: self.sh.clone(),
            segment: self.segment.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::Channel")
            .field("name", &self.sh.name)
            .field("capacity", &self.sh.cap)
            .field("policy", &self.sh.policy)
            .field("endpoints", &self.sh.n_entries)
            .finish()
    }
}

impl<T: Pod + Send> Channel<T> {
    /// Creates a named Block channel with default options; see [`Builder`].
    pub fn create(name: &str, capacity: usize) -> Result<Channel<T>> {
        Builder::new().capacity(capacity).create(name)
    }

    /// Opens a named channel with default options.
    pub fn open(name: &str) -> Result<Channel<T>> {
        Builder::new().open(name)
    }

    /// An in-process Block channel on the heap.
    pub fn in_process(capacity: usize) -> Result<Channel<T>> {
        Builder::new().capacity(capacity).in_process()
    }

    fn from_segment(seg: Segment) -> Result<Channel<T>> {
        let seg = Arc::new(seg);
        Ok(Channel {
            sh: Shared::from_segment(seg.clone(), core::mem::size_of::<T>(), core::mem::align_of::<T>())?,
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
        self.sh.cap as usize
    }

    /// The policy chosen at creation.
    pub fn policy(&self) -> Policy {
        self.sh.policy
    }

    /// Size of the endpoint table (publisher included).
    pub fn endpoint_capacity(&self) -> usize {
        self.sh.n_entries
    }

    /// The segment's stall timeout.
    pub fn stall_timeout(&self) -> Duration {
        self.sh.stall
    }

    /// Attaches the publisher. [`Error::EndpointBusy`] while another live
    /// publisher is attached; after a dead one, continues from its last
    /// published message.
    pub fn publisher(&self) -> Result<Publisher<T>> {
        Ok(Publisher {
            w: Writer::attach(&self.sh)?,
            _t: PhantomData,
        })
    }

    /// Attaches a subscriber that receives the messages published from now
    /// on. [`Error::EndpointTableFull`] when every entry is held by a live
    /// endpoint.
    pub fn subscribe(&self) -> Result<Subscriber<T>> {
        self.join(false)
    }

    /// Attaches a subscriber that starts with the oldest message still in
    /// the ring.
    pub fn subscribe_from_oldest(&self) -> Result<Subscriber<T>> {
        self.join(true)
    }

    fn join(&self, oldest: bool) -> Result<Subscriber<T>> {
        Ok(Subscriber {
            r: Reader::attach(&self.sh, oldest)?,
            _t: PhantomData,
        })
    }

    /// A snapshot of the channel's counters (no attach, no system call).
    pub fn stats(&self) -> Stats {
        self.sh.stats()
    }

    /// Position, lag and losses of every attached subscriber (checks each
    /// holder's liveness: a few system calls per subscriber).
    pub fn subscribers(&self) -> Vec<SubscriberStats> {
        self.sh.subscribers()
    }
}

/// Why a publish could not be made now.
pub(super) enum Stop {
    /// A subscriber holds the publisher back (Block).
    Wait,
    Closed(Closed),
}

impl From<Closed> for Stop {
    fn from(c: Closed) -> Stop {
        Stop::Closed(c)
    }
}

/// The publishing side of a ring, whatever its element type: gating, the
/// seqlock write and publication. Elements are byte slices of the ring's
/// element size.
pub(super) struct Writer {
    pub(super) sh: Shared,
    token: u64,
    /// Next position to write (only we store `tail`).
    next: u64,
    /// Positions below this may be written without a rescan (Block).
    limit: u64,
    pub(super) wait: WaitConfig,
    pub(super) pacer: Pacer,
}

impl Writer {
    /// Claims the publisher's entry (see [`Channel::publisher`]).
    pub(super) fn attach(sh: &Shared) -> Result<Writer> {
        let (me, mut t) = sh.claim_publisher()?;
        // A dead predecessor may have published slot `t` but not `tail`.
        // Acquire: pairs with its Release store of the slot's seq.
        if t + 1 < MAX_POS && sh.seq(t).load(Ordering::Acquire) == 2 * t + 2 {
            t += 1;
            // Release: pairs with the Acquire load of `tail` in `load_tail`.
            sh.ctl().tail.store(t, Ordering::Release);
        }
        sh.count_in(PUBLISHER, &sh.counters().publishers);
        Ok(Writer {
            sh: sh.clone(),
            token: me,
            next: t,
            limit: 0,
            wait: WaitConfig::default(),
            pacer: Pacer::new(),
        })
    }

    /// Messages published so far (the next message's position).
    pub(super) fn published(&self) -> u64 {
        self.next
    }

    /// Writes position `p` (the seqlock's write side).
    #[inline(always)]
    fn write(&self, p: u64, elem: &[u8]) {
        let seq = self.sh.seq(p);
        // Relaxed: ordered before the element stores by the fence below.
        seq.store(2 * p + 1, Ordering::Relaxed);
        // Release: pairs with the Acquire fence in `Reader::attempt`: a
        // subscriber whose copy reads any word stored below sees the odd
        // sequence in its second check.
        fence(Ordering::Release);
        self.sh.store_bytes(p, elem);
        // Release: pairs with the Acquire load of seq in `Reader::attempt`:
        // the element stores are visible with it.
        seq.store(2 * p + 2, Ordering::Release);
    }

    /// Makes positions below `n` public and wakes sleeping subscribers.
    #[inline(always)]
    fn publish(&mut self, n: u64) {
        self.next = n;
        // Release: pairs with the Acquire load of `tail` in `load_tail`.
        self.sh.ctl().tail.store(n, Ordering::Release);
        self.sh.ctl().not_empty.wake();
    }

    /// Room for up to `want` positions from `next`: 0 when held back.
    #[inline(always)]
    fn room(&mut self, want: u64, expensive: bool) -> std::result::Result<u64, Stop> {
        let p = self.next;
        if p + want >= MAX_POS {
            return Err(corrupt(p, "broadcast positions exhausted").into());
        }
        if self.sh.policy == Policy::Overwrite {
            return Ok(want.min(self.sh.cap));
        }
        if p + want > self.limit {
            if expensive {
                self.sh.truncated()?;
            }
            self.limit = self.sh.core.rescan(p, p, expensive, &mut self.pacer);
            if p >= self.limit {
                return Err(Stop::Wait);
            }
        }
        Ok(want.min(self.limit - p))
    }

    /// Publishes one element if there is room now.
    #[inline(always)]
    pub(super) fn put(&mut self, elem: &[u8], expensive: bool) -> std::result::Result<(), Stop> {
        self.room(1, expensive)?;
        let p = self.next;
        self.write(p, elem);
        self.publish(p + 1);
        Ok(())
    }

    /// [`put`](Writer::put), retried once with a liveness check when due.
    #[inline(always)]
    pub(super) fn try_put(&mut self, elem: &[u8]) -> std::result::Result<(), Stop> {
        match self.put(elem, false) {
            Err(Stop::Wait) => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.put(elem, exp)
            }
            r => r,
        }
    }

    /// Publishes one element, waiting for room until `deadline` (`None`:
    /// as long as it takes). `Ok(false)` on timeout.
    #[cold]
    pub(super) fn put_until(&mut self, elem: &[u8], deadline: Option<Instant>) -> std::result::Result<bool, Closed> {
        let sh = self.sh.clone();
        let cfg = self.wait;
        let r = wait::block_on(&sh.ctl().not_full, &cfg, deadline, |exp| {
            match self.put(elem, exp || sh.check_every_poll) {
                Ok(()) => Some(Ok(())),
                Err(Stop::Wait) => None,
                Err(Stop::Closed(c)) => Some(Err(c)),
            }
        });
        match r {
            Some(Ok(())) => Ok(true),
            Some(Err(c)) => Err(c),
            None => Ok(false),
        }
    }

    /// Publishes the first of `count` elements (`elem(k)` is the k-th) that
    /// there is room for, with one `tail` update and one wake; returns how
    /// many (at least one).
    #[inline(always)]
    pub(super) fn put_batch<'a>(
        &mut self,
        count: usize,
        expensive: bool,
        elem: impl Fn(usize) -> &'a [u8],
    ) -> std::result::Result<usize, Stop> {
        if count == 0 {
            return Ok(0);
        }
        let n = self.room(count as u64, expensive)? as usize;
        let p = self.next;
        for k in 0..n {
            self.write(p + k as u64, elem(k));
        }
        self.publish(p + n as u64);
        Ok(n)
    }

    /// [`put_batch`](Writer::put_batch), waiting for room for the first
    /// until `deadline` (`None`: as long as it takes). `Ok(0)` on timeout.
    pub(super) fn put_batch_until<'a>(
        &mut self,
        count: usize,
        deadline: Option<Instant>,
        elem: impl Fn(usize) -> &'a [u8],
    ) -> std::result::Result<usize, Closed> {
        let sh = self.sh.clone();
        let cfg = self.wait;
        let r = wait::block_on(&sh.ctl().not_full, &cfg, deadline, |exp| {
            match self.put_batch(count, exp || sh.check_every_poll, &elem) {
                Ok(n) => Some(Ok(n)),
                Err(Stop::Wait) => None,
                Err(Stop::Closed(c)) => Some(Err(c)),
            }
        });
        r.unwrap_or(Ok(0))
    }

    /// Simulates a SIGKILL of the publisher in the middle of writing
    /// `elem`: the slot's sequence is odd and only the first word of the
    /// element is stored (tests and loom).
    #[cfg(any(test, loom))]
    fn crash_mid_write(self, elem: &[u8]) {
        let p = self.next;
        let seq = self.sh.seq(p);
        // Relaxed: as in `write`.
        seq.store(2 * p + 1, Ordering::Relaxed);
        // Release: as in `write`.
        fence(Ordering::Release);
        self.sh.store_bytes(p, &elem[..elem.len().min(8)]);
        self.crash();
    }

    /// Simulates a SIGKILL of the publisher (tests and loom).
    #[cfg(any(test, loom))]
    fn crash(self) {
        let me = std::mem::ManuallyDrop::new(self);
        me.sh.mark_dead(PUBLISHER, me.token);
        // SAFETY: `me` is not used again and its Drop (the clean detach)
        // never runs; the only field owning resources is `sh`, read out once.
        drop(unsafe { std::ptr::read(&me.sh) });
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.sh.detach_publisher(self.token);
    }
}

/// The publishing endpoint. `Send`, not `Clone`; one per channel.
pub struct Publisher<T> {
    w: Writer,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> std::fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::Publisher")
            .field("name", &self.w.sh.name)
            .field("next", &self.w.next)
            .finish()
    }
}

impl<T: Pod> Publisher<T> {
    /// Sets how blocking calls wait (default: spin ~50 µs, then sleep;
    /// check subscribers' liveness every 100 ms).
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.w.wait = cfg;
    }

    /// Messages published so far (the next message's position).
    pub fn published(&self) -> u64 {
        self.w.published()
    }

    #[inline(always)]
    fn try_send_inner(&mut self, value: T, expensive: bool) -> std::result::Result<(), TrySendError<T>> {
        match self.w.put(bytemuck::bytes_of(&value), expensive) {
            Ok(()) => Ok(()),
            Err(Stop::Wait) => Err(TrySendError::Full(value)),
            Err(Stop::Closed(c)) => Err(c.try_send(value)),
        }
    }

    /// Publishes `value` if no live subscriber is a ring behind (always,
    /// under Overwrite). `Full` (Block) when one is; `Corrupt` when the
    /// shared state is inconsistent.
    #[inline]
    pub fn try_send(&mut self, value: T) -> std::result::Result<(), TrySendError<T>> {
        match self.w.try_put(bytemuck::bytes_of(&value)) {
            Ok(()) => Ok(()),
            Err(Stop::Wait) => Err(TrySendError::Full(value)),
            Err(Stop::Closed(c)) => Err(c.try_send(value)),
        }
    }

    /// Publishes `value`, waiting (Block) until the slowest live subscriber
    /// leaves room; a dead one is evicted after the stall timeout.
    #[inline]
    pub fn send(&mut self, value: T) -> std::result::Result<(), SendError<T>> {
        let value = match self.try_send_inner(value, false) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(v)) => v,
            Err(e) => return Err(send_err(e.into_send_timeout())),
        };
        self.send_until(value, None).map_err(send_err)
    }

    /// Publishes `value`, waiting at most `timeout` for room.
    pub fn send_timeout(&mut self, value: T, timeout: Duration) -> std::result::Result<(), SendTimeoutError<T>> {
        self.send_until(value, deadline(timeout))
    }

    #[cold]
    fn send_until(&mut self, value: T, deadline: Option<Instant>) -> std::result::Result<(), SendTimeoutError<T>> {
        match self.w.put_until(bytemuck::bytes_of(&value), deadline) {
            Ok(true) => Ok(()),
            Ok(false) => Err(SendTimeoutError::Timeout(value)),
            Err(c) => Err(c.send_timeout(value)),
        }
    }

    /// Publishes as many of `items` as there is room for (at most a
    /// ring's worth) with one `tail` update and one wake; returns how many.
    pub fn try_send_slice(&mut self, items: &[T]) -> std::result::Result<usize, TrySendError<()>> {
        let at = |k: usize| bytemuck::bytes_of(&items[k]);
        let r = match self.w.put_batch(items.len(), false, at) {
            Err(Stop::Wait) => {
                let exp = self.w.pacer.due(self.w.wait.check_interval);
                self.w.put_batch(items.len(), exp, at)
            }
            r => r,
        };
        match r {
            Ok(n) => Ok(n),
            Err(Stop::Wait) => Err(TrySendError::Full(())),
            Err(Stop::Closed(c)) => Err(c.try_send(())),
        }
    }

    /// Publishes all of `items`, in batches, waiting for room as needed.
    /// On error, the value is how many were published.
    pub fn send_slice(&mut self, items: &[T]) -> std::result::Result<(), SendError<usize>> {
        let mut done = 0;
        while done < items.len() {
            let rest = &items[done..];
            match self
                .w
                .put_batch_until(rest.len(), None, |k| bytemuck::bytes_of(&rest[k]))
            {
                Ok(n) => done += n,
                Err(c) => return Err(c.send(done)),
            }
        }
        Ok(())
    }

    /// Simulates a SIGKILL of the publisher in the middle of writing
    /// `value`: the slot's sequence is odd and only the first word of the
    /// element is stored (tests and loom).
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __crash_mid_write(self, value: T) {
        self.w.crash_mid_write(bytemuck::bytes_of(&value));
    }

    /// Simulates a SIGKILL of the publisher (tests and loom).
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __crash(self) {
        self.w.crash();
    }
}

pub(super) fn send_err<T>(e: SendTimeoutError<T>) -> SendError<T> {
    match e {
        SendTimeoutError::Timeout(_) => unreachable!("no deadline"),
        SendTimeoutError::Disconnected(v) => SendError::Disconnected(v),
        SendTimeoutError::PeerDied { value, pid } => SendError::PeerDied { value, pid },
        SendTimeoutError::Corrupt { value, corruption } => SendError::Corrupt { value, corruption },
        SendTimeoutError::TooLarge { value, len, max } => SendError::TooLarge { value, len, max },
    }
}

/// What a poll found at the cursor.
pub(super) enum Got {
    /// A validated copy, in the caller's buffer.
    Copied,
    /// The element in place (Block, protected by our cursor).
    Ref(*const u8),
}

/// A subscriber of a ring, whatever its element type: the cursor, the
/// seqlock read, laps and the gate it publishes. Copies go into a byte
/// buffer of the ring's element size.
pub(super) struct Reader {
    pub(super) sh: Shared,
    pub(super) index: usize,
    token: u64,
    /// Next position to read.
    cursor: u64,
    /// Positions below this were published before we joined: skipping them
    /// is not a loss.
    counted_from: u64,
    /// Mirror of our `W_START` word.
    start: u64,
    /// Mirror of our `W_LOST` word.
    lost: u64,
    /// The last `tail` we loaded: positions below it are published, so
    /// reading them needs no look at the publisher's `tail` line.
    seen_tail: u64,
    pub(super) wait: WaitConfig,
    pub(super) pacer: Pacer,
}

impl Reader {
    /// Takes a subscriber entry (see [`Channel::subscribe`]).
    pub(super) fn attach(sh: &Shared, oldest: bool) -> Result<Reader> {
        let j = sh.join()?;
        let t2 = j.at;
        let start = if oldest { t2.saturating_sub(sh.cap) } else { t2 };
        // Relaxed: statistics.
        sh.entry(j.index).words[W_START].store(start, Ordering::Relaxed);
        sh.count_in(j.index, &sh.counters().subscribers);
        Ok(Reader {
            sh: sh.clone(),
            index: j.index,
            token: j.token,
            cursor: start,
            counted_from: t2,
            start,
            lost: 0,
            seen_tail: t2,
            wait: WaitConfig::default(),
            pacer: Pacer::new(),
        })
    }

    /// Position of the next message this subscriber reads.
    pub(super) fn position(&self) -> u64 {
        self.cursor
    }

    /// Messages this subscriber was told it lost (sum of `Lagged`).
    pub(super) fn lost(&self) -> u64 {
        self.lost
    }

    /// Done with position `p`: move the cursor past it.
    #[inline(always)]
    pub(super) fn advance(&mut self, p: u64) {
        self.cursor = p + 1;
        // The gate: positions from before we joined are not protected.
        self.sh.set_gate(self.index, self.cursor.max(self.counted_from));
    }

    /// One look at the cursor's slot: `None` when nothing is published
    /// there yet. A copy goes into `out`.
    #[inline(always)]
    fn attempt(&mut self, in_place: bool, out: &mut [u8]) -> Option<std::result::Result<Got, TryRecvError>> {
        let p = self.cursor;
        // A waiting subscriber polls `tail` (its own line, stored once per
        // publication) rather than the slot, whose line the publisher is
        // writing: polling the slot pulls that line away from the publisher
        // between its stores of the sequence and the element. Like the SPSC
        // consumer's cached tail, `seen_tail` lets every position below it
        // be read without touching `tail` at all.
        if p >= self.seen_tail {
            // Acquire: pairs with the Release store of `tail` in
            // `Writer::publish`: the slots below it are written (their
            // sequence is still checked below: a lap or a scribble shows
            // there).
            let t = self.sh.ctl().tail.load(Ordering::Acquire);
            if t <= p {
                return None;
            }
            self.seen_tail = t;
        }
        let want = 2 * p + 2;
        let seq = self.sh.seq(p);
        // Acquire: pairs with the Release store of seq in `Writer::write`.
        let s1 = seq.load(Ordering::Acquire);
        if s1 < want {
            return None;
        }
        if s1 == want {
            if in_place {
                return Some(Ok(Got::Ref(self.sh.elem_ptr(p))));
            }
            self.sh.load_bytes(p, out);
            // Acquire: pairs with the Release fence in `Writer::write`.
            fence(Ordering::Acquire);
            // Relaxed: ordered by the fence above.
            if seq.load(Ordering::Relaxed) == want {
                return Some(Ok(Got::Copied));
            }
        }
        Some(self.lapped(p).map(|()| Got::Copied))
    }

    /// Position `p` was overwritten: jump to the oldest position that can
    /// still be intact. `Ok` never; `Err(Lagged(n))`, or `Err(Empty)` when
    /// the skipped positions were all from before we joined.
    #[cold]
    fn lapped(&mut self, p: u64) -> std::result::Result<(), TryRecvError> {
        let t = self.sh.load_tail().map_err(TryRecvError::from)?;
        let new = (p + 1).max(t.saturating_sub(self.sh.cap));
        let absorbed = new.min(self.counted_from.max(p)) - p;
        let n = new - p - absorbed;
        let e = self.sh.entry(self.index);
        if absorbed != 0 {
            self.start += absorbed;
            // Relaxed: statistics.
            e.words[W_START].store(self.start, Ordering::Relaxed);
        }
        if n != 0 {
            self.lost += n;
            self.sh.record_lost(self.index, self.lost, n);
        }
        self.cursor = new - 1;
        self.advance(new - 1);
        Err(if n == 0 {
            TryRecvError::Empty
        } else {
            TryRecvError::Lagged(n)
        })
    }

    /// Whether the slot at the cursor may be referenced in place.
    #[inline(always)]
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

    /// The next message, not yet consumed (the caller advances): in place
    /// when asked and allowed, else copied into `out`.
    #[inline(always)]
    pub(super) fn poll(
        &mut self,
        expensive: bool,
        in_place: bool,
        out: &mut [u8],
    ) -> std::result::Result<Got, TryRecvError> {
        // Each lap moves the cursor forward; a few in a row means a
        // publisher much faster than us, and Empty lets the caller retry.
        for _ in 0..4 {
            let in_place = in_place && self.in_place_ok();
            match self.attempt(in_place, out) {
                Some(Err(TryRecvError::Empty)) => continue,
                Some(r) => return r,
                None => {}
            }
            match self.sh.publisher_gone(expensive) {
                Ok(None) => return Err(TryRecvError::Empty),
                Ok(Some(c)) => {
                    // The last publication happens before the detach we saw.
                    return match self.attempt(in_place, out) {
                        None => Err(c.into()),
                        Some(Err(TryRecvError::Empty)) => continue,
                        Some(r) => r,
                    };
                }
                Err(c) => return Err(c.into()),
            }
        }
        Err(TryRecvError::Empty)
    }

    /// [`poll`](Reader::poll), retried once with a liveness check when due.
    #[inline(always)]
    pub(super) fn try_poll(&mut self, in_place: bool, out: &mut [u8]) -> std::result::Result<Got, TryRecvError> {
        match self.poll(false, in_place, out) {
            Err(TryRecvError::Empty) => {
                let exp = self.pacer.due(self.wait.check_interval);
                self.poll(exp, in_place, out)
            }
            r => r,
        }
    }

    /// [`poll`](Reader::poll), waiting until `deadline` (`None`: as long as
    /// it takes).
    #[cold]
    pub(super) fn poll_until(
        &mut self,
        deadline: Option<Instant>,
        in_place: bool,
        out: &mut [u8],
    ) -> std::result::Result<Got, RecvTimeoutError> {
        let sh = self.sh.clone();
        let cfg = self.wait;
        wait::block_on(&sh.ctl().not_empty, &cfg, deadline, |exp| {
            match self.poll(exp || sh.check_every_poll, in_place, out) {
                Ok(g) => Some(Ok(g)),
                Err(e) => e.into_timeout().map(Err),
            }
        })
        .unwrap_or(Err(RecvTimeoutError::Timeout))
    }

    /// Simulates a SIGKILL of this subscriber (tests and loom).
    #[cfg(any(test, loom))]
    fn crash(self) {
        let me = std::mem::ManuallyDrop::new(self);
        me.sh.mark_dead(me.index, me.token);
        // SAFETY: `me` is not used again and its Drop (the clean detach)
        // never runs; the only field owning resources is `sh`, read out once.
        drop(unsafe { std::ptr::read(&me.sh) });
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.sh.detach_subscriber(self.index, self.token);
    }
}

/// A subscribing endpoint. `Send`, not `Clone`: attach another with
/// [`Channel::subscribe`].
pub struct Subscriber<T> {
    r: Reader,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> std::fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::Subscriber")
            .field("name", &self.r.sh.name)
            .field("endpoint", &self.r.index)
            .field("cursor", &self.r.cursor)
            .finish()
    }
}

impl<T: Pod> Subscriber<T> {
    /// Sets how blocking calls wait (default: spin ~50 µs, then sleep;
    /// check the publisher's liveness every 100 ms).
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.r.wait = cfg;
    }

    /// Position of the next message this subscriber reads.
    pub fn position(&self) -> u64 {
        self.r.position()
    }

    /// Messages this subscriber was told it lost (sum of `Lagged`).
    pub fn lost(&self) -> u64 {
        self.r.lost()
    }

    /// The channel's policy.
    pub fn policy(&self) -> Policy {
        self.r.sh.policy
    }

    /// The next message as a value, consumed.
    #[inline(always)]
    fn poll_val(&mut self, expensive: bool) -> std::result::Result<T, TryRecvError> {
        let mut v = T::zeroed();
        self.r.poll(expensive, false, bytemuck::bytes_of_mut(&mut v))?;
        self.r.advance(self.r.cursor);
        Ok(v)
    }

    /// Receives the next message if there is one. `Lagged(n)` when this
    /// subscriber was lapped (the next call returns the oldest message still
    /// in the ring); after the last message, `Disconnected` if the publisher
    /// closed, `PeerDied` if it died (checked at most once per check
    /// interval).
    #[inline]
    pub fn try_recv(&mut self) -> std::result::Result<T, TryRecvError> {
        let mut v = T::zeroed();
        self.r.try_poll(false, bytemuck::bytes_of_mut(&mut v))?;
        self.r.advance(self.r.cursor);
        Ok(v)
    }

    /// Receives the next message, waiting as long as it takes.
    #[inline]
    pub fn recv(&mut self) -> std::result::Result<T, RecvError> {
        match self.poll_val(false) {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Empty) => {}
            Err(e) => return Err(e.into_timeout().expect("not empty").into_recv()),
        }
        self.recv_until(None).map_err(RecvTimeoutError::into_recv)
    }

    /// Receives the next message, waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> std::result::Result<T, RecvTimeoutError> {
        self.recv_until(deadline(timeout))
    }

    #[cold]
    fn recv_until(&mut self, deadline: Option<Instant>) -> std::result::Result<T, RecvTimeoutError> {
        let mut v = T::zeroed();
        self.r.poll_until(deadline, false, bytemuck::bytes_of_mut(&mut v))?;
        self.r.advance(self.r.cursor);
        Ok(v)
    }

    fn guard(&mut self, got: Got, v: T) -> ReadGuard<'_, T> {
        let pos = self.r.cursor;
        let got = match got {
            Got::Copied => Held::Val(v),
            Got::Ref(p) => Held::Ref(p.cast::<T>()),
        };
        ReadGuard { sub: self, pos, got }
    }

    /// The next message, in place when the policy allows (Block), else a
    /// validated copy; the cursor moves past it when the guard drops.
    /// Errors as [`try_recv`](Subscriber::try_recv).
    pub fn try_read(&mut self) -> std::result::Result<ReadGuard<'_, T>, TryRecvError> {
        let mut v = T::zeroed();
        let got = self.r.try_poll(true, bytemuck::bytes_of_mut(&mut v))?;
        Ok(self.guard(got, v))
    }

    /// Like [`try_read`](Subscriber::try_read), waiting as long as it takes.
    pub fn read(&mut self) -> std::result::Result<ReadGuard<'_, T>, RecvError> {
        let mut v = T::zeroed();
        let got = self
            .r
            .poll_until(None, true, bytemuck::bytes_of_mut(&mut v))
            .map_err(RecvTimeoutError::into_recv)?;
        Ok(self.guard(got, v))
    }

    /// Calls `f` with the next message (in place under Block, a validated
    /// copy under Overwrite; see the module docs), waiting as long as it
    /// takes, and moves past it.
    pub fn recv_with<R>(&mut self, f: impl FnOnce(&T) -> R) -> std::result::Result<R, RecvError> {
        let g = self.read()?;
        Ok(f(&g))
    }

    /// Like [`recv_with`](Subscriber::recv_with) without waiting.
    pub fn try_recv_with<R>(&mut self, f: impl FnOnce(&T) -> R) -> std::result::Result<R, TryRecvError> {
        let g = self.try_read()?;
        Ok(f(&g))
    }

    /// Simulates a SIGKILL of this subscriber (tests and loom).
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn __crash(self) {
        self.r.crash();
    }
}

/// What a [`ReadGuard`] holds.
enum Held<T> {
    /// A validated copy.
    Val(T),
    /// The element in place (Block, protected by our cursor).
    Ref(*const T),
}

/// The next message of a subscriber, borrowed; see [`Subscriber::try_read`].
/// Dropping it moves the subscriber past the message.
pub struct ReadGuard<'a, T: Pod> {
    sub: &'a mut Subscriber<T>,
    pos: u64,
    got: Held<T>,
}

impl<T: Pod> ReadGuard<'_, T> {
    /// Position of the message.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Whether the message is read in place (else it is a validated copy).
    pub fn in_place(&self) -> bool {
        matches!(self.got, Held::Ref(_))
    }
}

impl<T: Pod> std::ops::Deref for ReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.got {
            Held::Val(v) => v,
            // SAFETY: `Held::Ref` is made only under Block, for a position at
            // or after our join (protected by the Dekker handshake) whose
            // seq said "published" (Acquire); our cursor is at this position
            // and moves only when the guard drops, so the publisher (whose
            // rescan reads our cursor) does not write the slot meanwhile.
            // The element lies at a `max(8, align_of::<T>())` offset in a
            // 128-byte aligned slot array, so it is aligned; `T: Pod` is
            // valid for any bytes; the memory lives as long as `sub`'s ring.
            Held::Ref(p) => unsafe { &**p },
        }
    }
}

impl<T: Pod> Drop for ReadGuard<'_, T> {
    fn drop(&mut self) {
        self.sub.r.advance(self.pos);
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for ReadGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::ReadGuard")
            .field("position", &self.pos)
            .field("value", &**self)
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

    fn ring(cap: usize, policy: Policy) -> Channel<u64> {
        Builder::new()
            .capacity(cap)
            .policy(policy)
            .endpoints(8)
            .stall_timeout(Duration::from_millis(5))
            .in_process()
            .unwrap()
    }

    #[test]
    fn every_subscriber_sees_every_message_block() {
        let ch = ring(4, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        let mut b = ch.subscribe().unwrap();
        assert_eq!(a.try_recv(), Err(TryRecvError::Empty));
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        assert!(tx.try_send(99).unwrap_err().is_full());
        for i in 0..4 {
            assert_eq!(a.try_recv(), Ok(i));
        }
        // `b` still holds the ring.
        assert!(tx.try_send(4).unwrap_err().is_full());
        assert_eq!(b.try_recv(), Ok(0));
        tx.try_send(4).unwrap();
        assert_eq!(a.try_recv(), Ok(4));
        drop(b); // leaving frees the publisher
        for i in 5..8 {
            tx.try_send(i).unwrap();
        }
        for i in 5..8 {
            assert_eq!(a.try_recv(), Ok(i));
        }
        let s = ch.stats();
        assert_eq!(s.published, 8);
        assert_eq!(s.subscribers, 1);
        drop(tx);
        assert_eq!(a.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn overwrite_reports_lag_and_continues_from_oldest() {
        let ch = ring(4, Policy::Overwrite);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        for i in 0..10 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(a.try_recv(), Err(TryRecvError::Lagged(6)));
        assert_eq!(a.lost(), 6);
        for i in 6..10 {
            assert_eq!(a.try_recv(), Ok(i));
        }
        assert_eq!(a.try_recv(), Err(TryRecvError::Empty));
        let subs = ch.subscribers();
        assert_eq!(subs.len(), 1);
        assert_eq!((subs[0].received, subs[0].lost, subs[0].lag), (4, 6, 0));
        assert_eq!(ch.stats().lost, 6);
    }

    #[test]
    fn newest_and_oldest_starts() {
        for policy in [Policy::Block, Policy::Overwrite] {
            let ch = ring(4, policy);
            let mut tx = ch.publisher().unwrap();
            let mut early = ch.subscribe().unwrap();
            for i in 0..3 {
                tx.try_send(i).unwrap();
            }
            let mut newest = ch.subscribe().unwrap();
            let mut oldest = ch.subscribe_from_oldest().unwrap();
            assert_eq!(newest.try_recv(), Err(TryRecvError::Empty));
            assert_eq!(oldest.try_recv(), Ok(0));
            for i in 0..3 {
                assert_eq!(early.try_recv(), Ok(i));
            }
            tx.try_send(3).unwrap();
            assert_eq!(newest.try_recv(), Ok(3));
            drop(early);
            if policy == Policy::Overwrite {
                for i in 4..9 {
                    tx.try_send(i).unwrap();
                }
                // A late subscriber from the oldest sees only what is intact,
                // without a Lagged for messages before it joined.
                let mut late = ch.subscribe_from_oldest().unwrap();
                for _ in 0..3 {
                    tx.try_send(0).unwrap();
                }
                // published 12; it joined at 9 from 5; 5..8 overwritten.
                assert_eq!(late.try_recv(), Ok(8));
                assert_eq!(late.lost(), 0);
            }
        }
    }

    #[test]
    fn read_in_place_and_recv_with() {
        let ch = ring(2, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        tx.try_send(7).unwrap();
        tx.try_send(8).unwrap();
        {
            let g = a.try_read().unwrap();
            assert!(g.in_place());
            assert_eq!(*g, 7);
            // The guard holds the slot: the publisher cannot overwrite it.
            assert!(tx.try_send(9).unwrap_err().is_full());
        }
        tx.try_send(9).unwrap();
        assert_eq!(a.recv_with(|v| *v * 10), Ok(80));
        assert_eq!(a.try_recv_with(|v| *v), Ok(9));

        let ch = ring(2, Policy::Overwrite);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        tx.try_send(5).unwrap();
        let g = a.try_read().unwrap();
        assert!(!g.in_place());
        assert_eq!(*g, 5);
    }

    #[test]
    fn large_and_odd_elements() {
        #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable, bytemuck::Pod)]
        #[repr(C, align(32))]
        struct Big {
            a: [u8; 37],
            b: [u8; 27],
        }
        let ch = Builder::new().capacity(4).in_process::<Big>().unwrap();
        let mut tx = ch.publisher().unwrap();
        let mut s = ch.subscribe().unwrap();
        for k in 0..6u8 {
            let v = Big {
                a: [k; 37],
                b: [k + 1; 27],
            };
            tx.send(v).unwrap();
            assert_eq!(s.try_recv(), Ok(v));
            tx.send(v).unwrap();
            let g = s.try_read().unwrap();
            assert!(g.in_place());
            assert_eq!(*g, v);
            assert_eq!(&*g as *const Big as usize % 32, 0);
        }
        let ch = Builder::new().capacity(4).in_process::<[u8; 3]>().unwrap();
        let mut tx = ch.publisher().unwrap();
        let mut s = ch.subscribe().unwrap();
        tx.send([1, 2, 3]).unwrap();
        assert_eq!(s.recv(), Ok([1, 2, 3]));
    }

    #[test]
    fn batches() {
        let ch = ring(4, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        assert_eq!(tx.try_send_slice(&[1, 2, 3, 4, 5, 6]), Ok(4));
        assert!(tx.try_send_slice(&[5]).unwrap_err().is_full());
        assert_eq!(a.try_recv(), Ok(1));
        assert_eq!(tx.try_send_slice(&[5, 6]), Ok(1));
        let t = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(v) = a.recv() {
                got.push(v);
            }
            got
        });
        tx.send_slice(&(6..40).collect::<Vec<_>>()).unwrap();
        drop(tx);
        assert_eq!(t.join().unwrap(), (2..40).collect::<Vec<_>>());
    }

    #[test]
    fn publisher_is_exclusive_and_replaceable() {
        let ch = ring(4, Policy::Block);
        let tx = ch.publisher().unwrap();
        assert!(matches!(ch.publisher(), Err(Error::EndpointBusy { .. })));
        let mut s = ch.subscribe().unwrap();
        let mut tx = tx;
        tx.send(1).unwrap();
        tx.__crash();
        assert_eq!(s.try_recv(), Ok(1));
        s.set_wait_config(fast());
        assert_eq!(
            s.recv(),
            Err(RecvError::PeerDied {
                pid: std::process::id()
            })
        );
        // A new publisher continues from the dead one's tail.
        let mut tx = ch.publisher().unwrap();
        assert_eq!(tx.published(), 1);
        tx.send(2).unwrap();
        assert_eq!(s.try_recv(), Ok(2));
        assert!(ch.stats().publisher_attached);
    }

    #[test]
    fn publisher_killed_mid_write_is_replaced_and_nothing_torn() {
        for policy in [Policy::Block, Policy::Overwrite] {
            let ch = ring(4, policy);
            let mut tx = ch.publisher().unwrap();
            let mut s = ch.subscribe().unwrap();
            s.set_wait_config(fast());
            tx.send(1).unwrap();
            tx.__crash_mid_write(0xdead);
            assert_eq!(s.try_recv(), Ok(1));
            // The half-written slot is never delivered.
            assert_eq!(
                s.recv(),
                Err(RecvError::PeerDied {
                    pid: std::process::id()
                })
            );
            let mut tx = ch.publisher().unwrap();
            assert_eq!(tx.published(), 1);
            for i in 2..7 {
                tx.send(i).unwrap();
                assert_eq!(s.try_recv(), Ok(i));
            }
            assert_eq!(s.lost(), 0);
        }
    }

    #[test]
    fn stall_clock_runs_per_holdout() {
        // Two subscribers hold the publisher back, both alive, for longer
        // than the stall; then one dies and the other moves on: the dead one
        // gets its own full stall before it is evicted.
        let ch = Builder::new()
            .capacity(2)
            .endpoints(4)
            .stall_timeout(Duration::from_millis(200))
            .in_process::<u64>()
            .unwrap();
        let mut tx = ch.publisher().unwrap();
        tx.set_wait_config(fast());
        let mut slow = ch.subscribe().unwrap();
        let doomed = ch.subscribe().unwrap();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(250) {
            assert!(tx.try_send(3).unwrap_err().is_full());
        }
        doomed.__crash();
        assert_eq!(slow.try_recv(), Ok(1));
        assert!(tx.try_send(3).unwrap_err().is_full());
        assert_eq!(ch.stats().evicted, 0, "evicted before its own stall ran");
        tx.send(3).unwrap();
        assert_eq!(ch.stats().evicted, 1);
        assert_eq!(slow.try_recv(), Ok(2));
        assert_eq!(slow.try_recv(), Ok(3));
    }

    #[test]
    fn dead_subscriber_is_evicted_after_the_stall_live_one_is_not() {
        let ch = ring(2, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        tx.set_wait_config(fast());
        let dead = ch.subscribe().unwrap();
        let mut slow = ch.subscribe().unwrap();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        // A live slow subscriber is never evicted.
        assert!(matches!(
            tx.send_timeout(3, Duration::from_millis(30)),
            Err(SendTimeoutError::Timeout(3))
        ));
        assert_eq!(ch.stats().evicted, 0);
        dead.__crash();
        assert_eq!(slow.try_recv(), Ok(1));
        assert_eq!(slow.try_recv(), Ok(2));
        // Now only the dead one holds the publisher back.
        tx.send(3).unwrap();
        assert_eq!(ch.stats().evicted, 1);
        let subs = ch.subscribers();
        assert!(subs.iter().any(|s| s.evicted && !s.alive));
        assert_eq!(slow.try_recv(), Ok(3));
        // Its entry is reusable.
        let _again = ch.subscribe().unwrap();
    }

    #[test]
    fn timeouts_and_blocking_across_threads() {
        let ch = ring(2, Policy::Block);
        let mut a = ch.subscribe().unwrap();
        assert_eq!(a.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
        let mut tx = ch.publisher().unwrap();
        let subs: Vec<_> = (0..3)
            .map(|_| {
                let mut s = ch.subscribe().unwrap();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match s.recv() {
                            Ok(v) => got.push(v),
                            Err(e) => return (got, e),
                        }
                    }
                })
            })
            .collect();
        drop(a);
        for i in 0..500u64 {
            tx.send(i).unwrap();
        }
        drop(tx);
        for t in subs {
            let (got, e) = t.join().unwrap();
            assert_eq!(e, RecvError::Disconnected);
            assert_eq!(got, (0..500).collect::<Vec<_>>());
        }
    }

    #[test]
    fn overwrite_threads_never_torn_and_accounted() {
        #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable, bytemuck::Pod)]
        #[repr(C)]
        struct M([u64; 4]);
        let ch = Builder::new()
            .capacity(4)
            .policy(Policy::Overwrite)
            .in_process::<M>()
            .unwrap();
        let mut tx = ch.publisher().unwrap();
        let n = if cfg!(miri) { 200 } else { 20_000 };
        let subs: Vec<_> = (0..2)
            .map(|_| {
                let mut s = ch.subscribe().unwrap();
                std::thread::spawn(move || {
                    let (mut got, mut lost, mut last) = (0u64, 0u64, None);
                    loop {
                        match s.recv() {
                            Ok(M(w)) => {
                                assert!(w.iter().all(|&x| x == w[0]), "torn: {w:?}");
                                assert!(last.is_none_or(|l| w[0] > l), "out of order");
                                last = Some(w[0]);
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
            tx.send(M([i; 4])).unwrap();
        }
        drop(tx);
        for t in subs {
            let (got, lost) = t.join().unwrap();
            assert_eq!(got + lost, n);
        }
    }

    #[test]
    fn corrupt_shared_words_are_errors_not_hangs() {
        let ch = ring(4, Policy::Overwrite);
        let mut tx = ch.publisher().unwrap();
        let mut s = ch.subscribe().unwrap();
        tx.send(1).unwrap();
        // A scribbled seq far ahead: reported as a lap, never a hang or UB.
        ch.sh.seq(0).store(u64::MAX, Ordering::Relaxed);
        assert!(matches!(s.try_recv(), Err(TryRecvError::Lagged(_))));
        ch.sh.ctl().tail.store(u64::MAX, Ordering::Relaxed);
        ch.sh.seq(s.position()).store(u64::MAX - 1, Ordering::Relaxed);
        assert!(matches!(s.try_recv(), Err(TryRecvError::Corrupt { .. })));
        assert!(matches!(ch.subscribe(), Err(Error::Corrupt { .. })));
        // A scribbled cursor far behind only holds a Block publisher back.
        let ch = ring(4, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        let s = ch.subscribe().unwrap();
        ch.sh.entry(s.r.index).words[W_CURSOR].store(1, Ordering::Relaxed);
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        assert!(tx.try_send(4).unwrap_err().is_full());
    }

    #[test]
    fn bad_arguments() {
        assert!(Builder::new().capacity(3).in_process::<u64>().is_err());
        assert!(Builder::new().capacity(1).in_process::<u64>().is_err());
        assert!(Builder::new().endpoints(1).in_process::<u64>().is_err());
        assert!(Builder::new().in_process::<()>().is_err());
        let ch = Builder::new().endpoints(2).in_process::<u64>().unwrap();
        let _s = ch.subscribe().unwrap();
        assert!(matches!(ch.subscribe(), Err(Error::EndpointTableFull { .. })));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn named_segment_shares_state_and_checks_type() {
        let name = format!("/shmlane-bcast-unit-{}", std::process::id());
        let ch = Builder::new()
            .capacity(8)
            .policy(Policy::Overwrite)
            .create::<u32>(&name)
            .unwrap();
        let other = Channel::<u32>::open(&name).unwrap();
        assert_eq!(other.policy(), Policy::Overwrite);
        assert!(matches!(Channel::<u64>::open(&name), Err(Error::TypeMismatch { .. })));
        let mut tx = ch.publisher().unwrap();
        let mut s = other.subscribe().unwrap();
        tx.send(5).unwrap();
        assert_eq!(s.try_recv(), Ok(5));
        let (st, subs) =
            stats_of_segment(Arc::new(Segment::open_any(&name, &OpenOptions::default()).unwrap())).unwrap();
        crate::segment::unlink(&name).unwrap();
        assert_eq!((st.published, st.subscribers), (1, 1));
        assert_eq!(subs[0].received, 1);
    }
}
