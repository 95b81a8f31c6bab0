//! The memory a byte ring lives in, and the raw accessors of its record
//! area. Nothing here interprets records; `producer` and `consumer` do.
//!
//! Under loom the stamps cannot live inside the byte area (a loom atomic is
//! not plain memory), so the heap ring keeps them in a side array, one per
//! 8-byte word, and shadows every 8-byte word of the area with a
//! [`Track`] that is "accessed" whenever the real bytes are: loom
//! then reports a payload read that is not ordered after its write (a
//! missing Release/Acquire) as a data race. Outside loom both are no-ops
//! and the stamp is an `AtomicU64` at the record's offset.
//!
//! Under miri the stamps live in the side array too (trackers are no-ops
//! there: miri checks the real bytes). In a ring, the bytes that hold a
//! stamp in one lap hold payload, at another alignment, in the next; that
//! is allowed (the accesses are ordered by happens-before), but miri's
//! weak-memory emulation panics on it ("cannot have empty store buffer
//! when previous write was atomic"). The in-area stamps are exercised by
//! the native tests, the ASan fuzz target, and by miri with
//! `-Zmiri-disable-weak-memory-emulation` after removing `miri` from the
//! `cfg`s below.

use super::{
    record_size, stamp_of, taken_of, BytesControl, CONSUMER_ENTRY, PADDING_TYPE, RECORD_ALIGN, RECORD_HEADER_LEN,
};
use crate::endpoint::{self, EndpointCounts, Holder};
use crate::error::Closed;
use crate::layout::{EndpointEntry, Kind, Role};
use crate::segment::Segment;
use crate::sync::AtomicU64;
use crate::sync::Ordering;
#[cfg(loom)]
use crate::sync::Track;
use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

/// A zeroed, 128-byte aligned heap block standing in for a data area.
struct RawBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl RawBuf {
    fn zeroed(len: usize) -> RawBuf {
        let layout = Layout::from_size_align(len, crate::layout::REGION_ALIGN).expect("valid layout");
        // SAFETY: `len` is at least MIN_CAPACITY, so the layout is not zero-sized.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        RawBuf { ptr, layout }
    }
}

impl Drop for RawBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout and freed only here.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Heap storage of an in-process ring. The control block is built in
/// place in a raw allocation, as in a segment, so that pointers to it carry
/// write permission for all its bytes (the fuzz entry point scribbles on
/// it).
struct HeapRing {
    ctl: RawBuf,
    entries: Box<[EndpointEntry]>,
    data: RawBuf,
    #[cfg(any(loom, miri))]
    stamps: Box<[AtomicU64]>,
    /// One tracker per 8-byte word of the area.
    #[cfg(loom)]
    shadow: Box<[Track]>,
}

impl Drop for HeapRing {
    fn drop(&mut self) {
        // SAFETY: `ctl` holds a BytesControl written in `Shared::heap` and
        // dropped only here (loom's atomics and cells need their drop).
        unsafe { std::ptr::drop_in_place(self.ctl.ptr.as_ptr() as *mut BytesControl) }
    }
}

// SAFETY: the data area is accessed only under the ring protocol (atomics
// hand each byte range to one side at a time); everything else is atomics.
unsafe impl Send for HeapRing {}
// SAFETY: as above.
unsafe impl Sync for HeapRing {}

/// A validated record: `[start, start + size)`, payload `len` bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found {
    pub(super) start: u64,
    pub(super) size: u64,
    pub(super) len: u32,
    pub(super) ty: u32,
}

/// Result of parsing the record at a position.
pub(super) enum Parsed {
    /// A message.
    Message(Found),
    /// A padding record; the next record starts at the position given.
    Padding(u64),
    /// Not published yet (multi-producer rings).
    Unpublished,
}

/// Bit of [`EndpointEntry::state`] recording that the entry was once
/// attached in `role` (MPMC, where entries change roles).
pub(super) fn role_bit(role: Role) -> u32 {
    1 << (role as u32)
}

/// Who took records at a position (MPMC).
enum Taker {
    Alive,
    Dead(Option<u64>),
    Nobody,
}

/// What was wrong, and where (an offset in the segment or an index value).
#[derive(Debug, Clone, Copy)]
pub(super) struct Bad {
    pub(super) at: u64,
    pub(super) what: &'static str,
}

impl Bad {
    pub(super) fn index(at: u64, what: &'static str) -> Bad {
        Bad { at, what }
    }
}

/// Pointers to a ring's memory plus whatever keeps it alive.
#[derive(Clone)]
pub(super) struct Shared {
    ctl: NonNull<BytesControl>,
    data: NonNull<u8>,
    entries: NonNull<EndpointEntry>,
    n_entries: usize,
    pub(super) cap: u64,
    pub(super) max_message: u64,
    pub(super) kind: Kind,
    /// More than one producer (MPSC, MPMC): claims by CAS, records
    /// published by their stamps.
    pub(super) multi: bool,
    /// More than one consumer (MPMC): records taken at `read`, released
    /// out of order, `head` advanced over released runs.
    pub(super) mpmc: bool,
    pub(super) stall_timeout: Duration,
    /// Offset of the data area in the segment (0 on the heap), for error
    /// reports.
    pub(super) data_offset: u64,
    #[cfg(any(loom, miri))]
    stamps: NonNull<AtomicU64>,
    #[cfg(loom)]
    shadow: NonNull<Track>,
    pub(super) name: Arc<str>,
    heap: bool,
    _keep: Arc<dyn Send + Sync>,
}

// SAFETY: the pointers target memory kept alive by `_keep`, accessed through
// atomics or through byte ranges owned by one side at a time.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    pub(super) fn heap(kind: Kind, cap: u64, max_message: u64, n_entries: usize, stall_ns: u64) -> Shared {
        let ctl = RawBuf::zeroed(core::mem::size_of::<BytesControl>());
        // SAFETY: a fresh allocation of the size of BytesControl, aligned to
        // 128 bytes (its alignment), written once before any use.
        unsafe { std::ptr::write(ctl.ptr.as_ptr() as *mut BytesControl, BytesControl::new(stall_ns)) };
        let ring = Arc::new(HeapRing {
            ctl,
            entries: (0..n_entries).map(|_| EndpointEntry::new()).collect(),
            data: RawBuf::zeroed(cap as usize),
            #[cfg(any(loom, miri))]
            stamps: (0..cap / 8).map(|_| AtomicU64::new(0)).collect(),
            #[cfg(loom)]
            shadow: (0..cap / 8).map(|_| Track::new()).collect(),
        });
        Shared {
            ctl: ring.ctl.ptr.cast(),
            data: ring.data.ptr,
            entries: NonNull::new(ring.entries.as_ptr() as *mut EndpointEntry).expect("non-null"),
            n_entries,
            cap,
            max_message,
            kind,
            multi: kind != Kind::Bytes,
            mpmc: kind == Kind::BytesMpmc,
            stall_timeout: Duration::from_nanos(stall_ns),
            data_offset: 0,
            #[cfg(any(loom, miri))]
            stamps: NonNull::new(ring.stamps.as_ptr() as *mut AtomicU64).expect("non-null"),
            #[cfg(loom)]
            shadow: NonNull::new(ring.shadow.as_ptr() as *mut Track).expect("non-null"),
            name: Arc::from("heap"),
            heap: true,
            _keep: ring,
        }
    }

    /// Needs a validated byte-ring segment (see `Channel::from_segment`).
    #[cfg(not(any(loom, miri)))]
    pub(super) fn from_segment(seg: Arc<Segment>) -> Shared {
        let g = seg.header().geometry;
        let ctl = NonNull::new(seg.control_ptr() as *mut BytesControl).expect("non-null");
        // SAFETY: the control block lies in the mapping, which `seg` keeps.
        // Relaxed: written before magic was published (Acquire in open).
        let stall_ns = unsafe { ctl.as_ref() }
            .stall_timeout_ns
            .load(crate::sync::Ordering::Relaxed);
        Shared {
            ctl,
            data: NonNull::new(seg.data_ptr()).expect("non-null"),
            entries: NonNull::from(&seg.endpoints()[0]),
            n_entries: g.endpoint_count as usize,
            cap: g.capacity,
            max_message: g.max_message,
            kind: g.kind,
            multi: g.kind != Kind::Bytes,
            mpmc: g.kind == Kind::BytesMpmc,
            stall_timeout: Duration::from_nanos(stall_ns),
            data_offset: seg.header().placement.data_offset,
            name: Arc::from(seg.name()),
            heap: false,
            _keep: seg,
        }
    }

    #[cfg(any(loom, miri))]
    pub(super) fn from_segment(_seg: Arc<Segment>) -> Shared {
        unreachable!("loom models and miri use in-process rings only (shared mappings are not supported there)")
    }

    pub(super) fn ctl(&self) -> &BytesControl {
        // SAFETY: a control block kept alive by `_keep`; only atomics.
        unsafe { self.ctl.as_ref() }
    }

    #[inline]
    pub(super) fn entry(&self, i: usize) -> &EndpointEntry {
        assert!(i < self.n_entries);
        // SAFETY: the table has n_entries entries (validated at open).
        unsafe { &*self.entries.as_ptr().add(i) }
    }

    pub(super) fn entries(&self) -> &[EndpointEntry] {
        // SAFETY: as in `entry`.
        unsafe { std::slice::from_raw_parts(self.entries.as_ptr(), self.n_entries) }
    }

    /// Entries that may hold producer claims (MPMC: all; the claim words
    /// of consumers are other words).
    pub(super) fn producer_entries(&self) -> &[EndpointEntry] {
        if self.mpmc {
            self.entries()
        } else {
            &self.entries()[CONSUMER_ENTRY + 1..]
        }
    }

    /// Whether entry `i` belongs to a consumer: `None` while an MPMC entry
    /// is being attached (its role not written yet).
    fn is_consumer(&self, i: usize, e: &EndpointEntry) -> Option<bool> {
        if !self.mpmc {
            return Some(i == CONSUMER_ENTRY);
        }
        // Relaxed: the role is informational; an entry whose role is not
        // visible yet is treated as either.
        match Role::from_u32(e.role.load(Ordering::Relaxed)) {
            Some(Role::Consumer) => Some(true),
            Some(Role::Producer) => Some(false),
            _ => None,
        }
    }

    /// Live, dead and free entries of consumers and of producers (system
    /// calls: statistics only).
    pub(super) fn entries_by_role(&self) -> (EndpointCounts, EndpointCounts) {
        let (mut c, mut p) = (EndpointCounts::default(), EndpointCounts::default());
        for (i, e) in self.entries().iter().enumerate() {
            let h = endpoint::holder(e);
            let side = match (self.is_consumer(i, e), h) {
                (_, Holder::Never) if self.mpmc => None,
                (Some(true), _) => Some(&mut c),
                (Some(false), _) => Some(&mut p),
                (None, _) => None,
            };
            if let Some(n) = side {
                match h {
                    Holder::Held(t) if endpoint::token_alive(t) => n.alive += 1,
                    Holder::Held(_) => n.dead += 1,
                    Holder::Closed => n.free += 1,
                    Holder::Never => {
                        n.free += 1;
                        n.never += 1;
                    }
                }
            }
        }
        (c, p)
    }

    /// Offset in the area of position `pos`.
    #[inline(always)]
    pub(super) fn off(&self, pos: u64) -> usize {
        (pos & (self.cap - 1)) as usize
    }

    /// Where the record at position `pos` starts: `pos` itself, or the
    /// next lap when fewer than a header's bytes are left before the end
    /// of the area (the implicit 8-byte padding).
    #[inline(always)]
    pub(super) fn normalize(&self, pos: u64) -> u64 {
        let rem = self.cap - (pos & (self.cap - 1));
        if rem < super::RECORD_HEADER_LEN as u64 {
            pos.wrapping_add(rem)
        } else {
            pos
        }
    }

    /// The stamp of the record at offset `off` (8-aligned, with 8 bytes
    /// before the end of the area).
    #[cfg(not(any(loom, miri)))]
    #[inline(always)]
    pub(super) fn stamp(&self, off: usize) -> &AtomicU64 {
        // Callers validate positions, but a position read from a corrupt
        // segment must never make this access misaligned or out of bounds:
        // round it into range (a wrong stamp is then reported as corruption).
        let off = (off & !(RECORD_ALIGN - 1)).min(self.cap as usize - 8);
        // SAFETY: `off` is 8-aligned and 8 bytes fit before the end of the
        // area (callers pass `off(pos)` of an 8-aligned position with a
        // header's room left); the area is 128-byte aligned, so the pointer
        // is aligned for AtomicU64, and every bit pattern is valid.
        unsafe { &*(self.data.as_ptr().add(off) as *const AtomicU64) }
    }

    /// The stamp of the record at offset `off` (loom and miri: a side
    /// array).
    #[cfg(any(loom, miri))]
    #[inline(always)]
    pub(super) fn stamp(&self, off: usize) -> &AtomicU64 {
        assert!(off.is_multiple_of(RECORD_ALIGN) && off + 8 <= self.cap as usize);
        // SAFETY: one stamp per 8-byte word of the area.
        unsafe { &*self.stamps.as_ptr().add(off / 8) }
    }

    /// Writes the length and type words of the header at `off`. The
    /// caller owns the record's bytes.
    #[inline(always)]
    pub(super) fn write_meta(&self, off: usize, len: u32, ty: u32) {
        // Rounded into range as in `stamp`.
        let off = (off & !(RECORD_ALIGN - 1)).min(self.cap as usize - 16);
        self.touch_write(off + 8, 8);
        // SAFETY: off + 16 <= cap (a header fits), 4-byte aligned; the
        // caller owns these bytes (its claim) until it publishes the stamp.
        unsafe {
            let p = self.data.as_ptr().add(off + super::RECORD_LEN_OFFSET);
            std::ptr::write_volatile(p as *mut u32, len);
            std::ptr::write_volatile(p.add(4) as *mut u32, ty);
        }
    }

    /// Reads the length and type words of the header at `off`, once each
    /// (the values are validated by the caller before any use).
    #[inline(always)]
    pub(super) fn read_meta(&self, off: usize) -> (u32, u32) {
        // Rounded into range as in `stamp`.
        let off = (off & !(RECORD_ALIGN - 1)).min(self.cap as usize - 16);
        self.touch_read(off + 8, 8);
        // SAFETY: off + 16 <= cap, 4-byte aligned; the record is published
        // (its stamp was read with Acquire, or tail with Acquire in SPSC).
        unsafe {
            let p = self.data.as_ptr().add(off + super::RECORD_LEN_OFFSET);
            (
                std::ptr::read_volatile(p as *const u32),
                std::ptr::read_volatile(p.add(4) as *const u32),
            )
        }
    }

    /// Pointer to byte `off` of the area (`off <= cap`).
    #[inline(always)]
    pub(super) fn byte_ptr(&self, off: usize) -> *mut u8 {
        let off = off.min(self.cap as usize);
        // SAFETY: off <= cap, the length of the area.
        unsafe { self.data.as_ptr().add(off) }
    }

    /// Records, for loom, a write of the bytes `[off, off+len)`.
    #[inline(always)]
    pub(super) fn touch_write(&self, off: usize, len: usize) {
        #[cfg(loom)]
        for w in off / 8..(off + len).div_ceil(8) {
            self.track(w).write();
        }
        #[cfg(not(loom))]
        let _ = (off, len);
    }

    /// Records, for loom, a read of the bytes `[off, off+len)`.
    #[inline(always)]
    pub(super) fn touch_read(&self, off: usize, len: usize) {
        #[cfg(loom)]
        for w in off / 8..(off + len).div_ceil(8) {
            self.track(w).read();
        }
        #[cfg(not(loom))]
        let _ = (off, len);
    }

    #[cfg(loom)]
    fn track(&self, word: usize) -> &Track {
        assert!(word < self.cap as usize / 8);
        // SAFETY: in bounds of the tracker array (one per 8-byte word of
        // the area).
        unsafe { &*self.shadow.as_ptr().add(word) }
    }

    /// Whether the holder of `token` is alive; `me` (our own token) is
    /// alive without a system call.
    pub(super) fn alive(token: u64, me: u64) -> bool {
        token == me || endpoint::token_alive(token)
    }

    /// Why no consumer can take part: the consumer(s) detached cleanly, or
    /// (only when `expensive`) died. SPSC/MPSC look at one entry; MPMC
    /// scans the table.
    #[inline]
    pub(super) fn consumer_gone(&self, expensive: bool, me: u64) -> Option<Closed> {
        if !self.mpmc {
            return match endpoint::holder(self.entry(CONSUMER_ENTRY)) {
                Holder::Closed => Some(Closed::Disconnected),
                Holder::Held(t) if expensive && !Self::alive(t, me) => Some(Closed::PeerDied(endpoint::token_pid(t))),
                _ => None,
            };
        }
        self.side_gone(true, expensive, me)
    }

    /// Whether every producer that ever attached is gone: `PeerDied` if one
    /// of them died (seen only when `expensive`), `Disconnected` if all
    /// detached cleanly; `None` while one may still send (or none ever
    /// attached).
    pub(super) fn producers_gone(&self, expensive: bool, me: u64) -> Option<Closed> {
        self.side_gone(false, expensive, me)
    }

    fn side_gone(&self, consumers: bool, expensive: bool, me: u64) -> Option<Closed> {
        let want = if consumers { Role::Consumer } else { Role::Producer };
        let mut closed = false;
        let mut dead = None;
        for (i, e) in self.entries().iter().enumerate() {
            let h = endpoint::holder(e);
            let role = self.is_consumer(i, e);
            let ours = role == Some(consumers);
            // MPMC entries change roles: an entry ever used in `want`'s
            // role keeps a history bit, so that a producer that came and
            // left is not forgotten when a consumer reuses its entry.
            let used = if self.mpmc {
                // Relaxed: history bits only grow; a stale read errs
                // towards "not gone yet".
                e.state.load(Ordering::Relaxed) & role_bit(want) != 0
            } else {
                ours
            };
            match h {
                Holder::Held(_) if role.is_none() => return None, // attaching
                Holder::Held(t) if ours => {
                    if !expensive || Self::alive(t, me) {
                        return None;
                    }
                    dead = Some(endpoint::token_pid(t));
                }
                Holder::Never => {}
                _ => closed |= used,
            }
        }
        match dead {
            Some(pid) => Some(Closed::PeerDied(pid)),
            None if closed => Some(Closed::Disconnected),
            None => None,
        }
    }

    /// Parses the record at `pos` (below `tail`) without side effects.
    /// `taken` accepts a record an MPMC consumer has taken (its owner
    /// reading it). Errors name the offset in the segment.
    #[inline]
    pub(super) fn parse(&self, pos: u64, tail: u64, taken: bool) -> Result<Parsed, Bad> {
        if !pos.is_multiple_of(RECORD_ALIGN as u64) {
            return Err(Bad::index(pos, "a ring index is not 8-byte aligned"));
        }
        let start = self.normalize(pos);
        let room = tail.wrapping_sub(start);
        if room < RECORD_HEADER_LEN as u64 || room > self.cap {
            return Err(Bad::index(tail, "tail ends inside a record header"));
        }
        let off = self.off(start);
        let stamp = if self.multi {
            // Acquire: pairs with the Release store of the stamp in
            // `Producer::publish`; the header and payload are visible.
            self.stamp(off).load(Ordering::Acquire)
        } else {
            // Relaxed: the Acquire load of tail already made it visible.
            self.stamp(off).load(Ordering::Relaxed)
        };
        if stamp != stamp_of(start) && !(taken && stamp == taken_of(start)) {
            if self.multi {
                return Ok(Parsed::Unpublished);
            }
            return Err(self.bad(off, "record stamp does not match its position"));
        }
        let (len, ty) = self.read_meta(off);
        // Room for this record: to the end of the area and to tail.
        let limit = (self.cap - off as u64).min(room);
        if ty == PADDING_TYPE {
            let ext = RECORD_HEADER_LEN as u64 + u64::from(len);
            if !ext.is_multiple_of(RECORD_ALIGN as u64) {
                return Err(self.bad(off + 8, "padding length is not 8-byte aligned"));
            }
            if ext > limit {
                return Err(self.bad(off + 8, "padding runs past the end of the area or past tail"));
            }
            return Ok(Parsed::Padding(start.wrapping_add(ext)));
        }
        if u64::from(len) > self.max_message {
            return Err(self.bad(off + 8, "record length exceeds max_message"));
        }
        let size = record_size(len as usize) as u64;
        if size > limit {
            return Err(self.bad(off + 8, "record runs past the end of the area or past tail"));
        }
        Ok(Parsed::Message(Found { start, size, len, ty }))
    }

    fn bad(&self, off: usize, what: &'static str) -> Bad {
        Bad {
            at: self.data_offset + off as u64,
            what,
        }
    }

    /// MPMC: moves `head` over consecutive released runs (each marked by
    /// its extent in the stamp word of its first record), waking producers.
    /// Anyone may call it; it stops at the first run not released.
    ///
    /// The releaser stores its done marker and then calls this; an
    /// advancer moves `head` onto a run and then loads that run's stamp.
    /// The `fence(SeqCst)` between the write and the read on each side
    /// makes this a Dekker pair: at least one of them sees the other's
    /// write, so a released run never stays behind `head` with nobody to
    /// move it. (A fence, not SeqCst accesses: loom models only the fence.)
    pub(super) fn advance_head(&self) {
        let ctl = self.ctl();
        for _ in 0..self.cap / 8 + 4 {
            // SeqCst: the Dekker pair described above (after the caller's
            // done marker, or after our CAS of head in the last round).
            crate::sync::fence(Ordering::SeqCst);
            // Acquire (head, read): pair with the Release CAS of head by
            // other advancers and the Release store of read by takers.
            let h = ctl.head.load(Ordering::Acquire);
            let rd = ctl.read.load(Ordering::Acquire);
            let claimed = rd.wrapping_sub(h);
            if claimed == 0 || !h.is_multiple_of(RECORD_ALIGN as u64) {
                return; // nothing released, or a corrupt head: leave it
            }
            if claimed > self.cap {
                // head moved between the two loads: look again (returning
                // here could leave our own released run behind head).
                continue;
            }
            let start = self.normalize(h);
            // Acquire: pairs with the Release store of the done marker: the
            // releaser's reads of the run happen before we free it.
            let st = self.stamp(self.off(start)).load(Ordering::Acquire);
            if st & 1 == 1 {
                return; // taken (or published), not released
            }
            let ext = st;
            if ext < RECORD_HEADER_LEN as u64
                || !ext.is_multiple_of(RECORD_ALIGN as u64)
                || ext > rd.wrapping_sub(start)
            {
                return; // not a marker of this lap: someone else moved head
            }
            // AcqRel: Release passes the releasers' reads on to producers
            // (their Acquire load of head); Acquire orders us after the
            // previous advancer.
            if ctl
                .head
                .compare_exchange(h, start.wrapping_add(ext), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                ctl.not_full.wake();
            }
        }
    }

    /// The size of the claim at `h` when every producer that may have made
    /// it is dead: `Ok(None)` while one of them lives. The claim words are
    /// written before the claiming CAS, so the claimant is among the
    /// entries whose word names `h`. Does not re-check the stamp: callers
    /// do, after this scan (see `Consumer::stalled`).
    pub(super) fn dead_producer_claim(&self, h: u64, t: u64, me: u64) -> Result<Option<u64>, Bad> {
        // Sizes claimed at h by dead producers: confirmed claims, then
        // unconfirmed ones; Err(()) when two of a class disagree.
        let mut confirmed: Option<Result<u64, ()>> = None;
        let mut pending: Option<Result<u64, ()>> = None;
        for e in self.producer_entries() {
            // Acquire (both): pair with the Release stores of the claim
            // words in `Producer::poll_claim`.
            let w = e.words[super::WORD_CLAIM_POS].load(Ordering::Acquire);
            if w & !7 != h || w & 7 == 0 {
                continue;
            }
            let size = e.words[super::WORD_CLAIM_SIZE].load(Ordering::Acquire);
            if let Holder::Held(tok) = endpoint::holder(e) {
                if Self::alive(tok, me) {
                    return Ok(None);
                }
            }
            let class = match w & 7 {
                super::CLAIM_CONFIRMED => &mut confirmed,
                super::CLAIM_PENDING => &mut pending,
                _ => continue,
            };
            *class = match *class {
                None => Some(Ok(size)),
                Some(Ok(s)) if s == size => Some(Ok(s)),
                _ => Some(Err(())),
            };
        }
        let size = match (confirmed, pending) {
            (Some(Ok(s)), _) | (None, Some(Ok(s))) => s,
            (Some(Err(())), _) | (None, Some(Err(()))) => {
                return Err(Bad::index(h, "dead producers left conflicting claims at head"))
            }
            (None, None) => return Err(Bad::index(h, "space claimed at head has no claimant")),
        };
        if size < RECORD_HEADER_LEN as u64 || !size.is_multiple_of(RECORD_ALIGN as u64) || size > t.wrapping_sub(h) {
            return Err(Bad::index(h, "a dead producer's claim has an impossible size"));
        }
        Ok(Some(size))
    }

    /// MPMC: who took the records at `p`: `Alive` while a live consumer's
    /// read claim names `p` (or when none can be told apart yet), `Dead`
    /// with the confirmed size if every candidate is dead, `Nobody`.
    fn taker_at(&self, p: u64, me: u64) -> Taker {
        let mut found = Taker::Nobody;
        for e in self.entries() {
            // Acquire (both): pair with the Release stores of the read
            // claim words in `Consumer::take_mpmc`.
            let w = e.words[super::WORD_READ_POS].load(Ordering::Acquire);
            if w & !7 != p || w & 7 == 0 {
                continue;
            }
            let size = e.words[super::WORD_READ_SIZE].load(Ordering::Acquire);
            if let Holder::Held(tok) = endpoint::holder(e) {
                if Self::alive(tok, me) {
                    return Taker::Alive;
                }
            }
            let confirmed = (w & 7 == super::CLAIM_CONFIRMED).then_some(size);
            found = match found {
                Taker::Dead(Some(s)) => Taker::Dead(Some(s)),
                _ => Taker::Dead(confirmed),
            };
        }
        found
    }

    /// MPMC: releases records taken by consumers that died before
    /// releasing them: the run at `head` (so that producers get room) and
    /// a record taken at `read` whose taker died before moving `read` (so
    /// that other consumers can go on). Returns how many messages were
    /// skipped (counted as lost by the caller). Slow path: liveness checks.
    pub(super) fn resolve_dead_takers(&self, me: u64) -> Result<u64, Bad> {
        let ctl = self.ctl();
        let mut lost = 0;
        // Acquire (both): as in `advance_head`.
        let h = ctl.head.load(Ordering::Acquire);
        let rd = ctl.read.load(Ordering::Acquire);
        if !(h | rd).is_multiple_of(RECORD_ALIGN as u64) {
            return Err(Bad::index(h, "head or read is not 8-byte aligned"));
        }
        if h != rd && rd.wrapping_sub(h) <= self.cap {
            let start = self.normalize(h);
            let off = self.off(start);
            // Acquire: pairs with the taker's CAS of the stamp.
            if self.stamp(off).load(Ordering::Acquire) == taken_of(start) {
                match self.taker_at(h, me) {
                    Taker::Alive => {}
                    Taker::Dead(Some(size)) => {
                        let end = h.wrapping_add(size);
                        let ext = end.wrapping_sub(start);
                        if ext < RECORD_HEADER_LEN as u64 || !ext.is_multiple_of(8) || ext > rd.wrapping_sub(start) {
                            return Err(Bad::index(h, "a dead consumer's read claim has an impossible size"));
                        }
                        let n = self.count_messages(h, end);
                        // AcqRel: the done marker (Release, as in
                        // `Consumer::release_run`); the CAS makes one
                        // resolver count the loss.
                        if self
                            .stamp(off)
                            .compare_exchange(taken_of(start), ext, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                        {
                            lost += n;
                            self.advance_head();
                        }
                    }
                    Taker::Dead(None) => {}
                    Taker::Nobody => return Err(Bad::index(h, "records taken at head have no taker")),
                }
            }
        }
        // Acquire (both): pair with the Release store of read by a taker and
        // with the producers' claiming CAS.
        let r = ctl.read.load(Ordering::Acquire);
        let t = ctl.tail.load(Ordering::Acquire);
        if !r.is_multiple_of(RECORD_ALIGN as u64) {
            return Err(Bad::index(r, "read is not 8-byte aligned"));
        }
        if r != t && t.wrapping_sub(r) <= self.cap {
            let start = self.normalize(r);
            let off = self.off(start);
            // Acquire: pairs with the taker's CAS of the stamp.
            if self.stamp(off).load(Ordering::Acquire) == taken_of(start) {
                if let Taker::Dead(_) = self.taker_at(r, me) {
                    let (next, message) = match self.parse(r, t, true) {
                        Ok(Parsed::Message(f)) => (f.start.wrapping_add(f.size), true),
                        Ok(Parsed::Padding(next)) => (next, false),
                        // The dead consumer was skipping a dead producer's
                        // claim: its extent is in the producer's words.
                        _ => match self.dead_producer_claim(r, t, me)? {
                            Some(size) => (r.wrapping_add(size), true),
                            None => return Ok(lost),
                        },
                    };
                    // AcqRel: the CAS makes one resolver the owner of the
                    // record; Release publishes the new read like a taker's
                    // store.
                    if ctl
                        .read
                        .compare_exchange(r, next, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                    {
                        // Release: the done marker, as in `Consumer::release_run`.
                        self.stamp(off).store(next.wrapping_sub(start), Ordering::Release);
                        lost += u64::from(message);
                        self.advance_head();
                    }
                }
            }
        }
        Ok(lost)
    }

    /// Messages in `[from, end)`, records taken (bounded walk; stops at
    /// anything unexpected).
    fn count_messages(&self, from: u64, end: u64) -> u64 {
        let (mut pos, mut n) = (from, 0);
        for _ in 0..self.cap / 8 + 4 {
            if pos == end {
                break;
            }
            match self.parse(pos, end, true) {
                Ok(Parsed::Message(f)) => {
                    n += 1;
                    pos = f.start.wrapping_add(f.size);
                }
                Ok(Parsed::Padding(next)) => pos = next,
                _ => break,
            }
        }
        n
    }

    /// Raw access for the fuzz target; see `Channel::__scribble`.
    pub(super) fn raw_parts(&self) -> Option<(*mut u8, usize, *mut u8, usize)> {
        if !self.heap || cfg!(loom) {
            return None;
        }
        Some((
            self.ctl.as_ptr() as *mut u8,
            super::BYTES_CONTROL_LEN,
            self.data.as_ptr(),
            self.cap as usize,
        ))
    }
}
