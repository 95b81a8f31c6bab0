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

use super::{BytesControl, CONSUMER_ENTRY, RECORD_ALIGN};
use crate::endpoint::{self, Holder};
use crate::error::Closed;
use crate::layout::{EndpointEntry, Kind};
use crate::segment::Segment;
use crate::sync::AtomicU64;
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
    pub(super) multi: bool,
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

    pub(super) fn entry(&self, i: usize) -> &EndpointEntry {
        assert!(i < self.n_entries);
        // SAFETY: the table has n_entries entries (validated at open).
        unsafe { &*self.entries.as_ptr().add(i) }
    }

    pub(super) fn entries(&self) -> &[EndpointEntry] {
        // SAFETY: as in `entry`.
        unsafe { std::slice::from_raw_parts(self.entries.as_ptr(), self.n_entries) }
    }

    pub(super) fn producer_entries(&self) -> &[EndpointEntry] {
        &self.entries()[CONSUMER_ENTRY + 1..]
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
        debug_assert!(off.is_multiple_of(RECORD_ALIGN) && off + 8 <= self.cap as usize);
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
        debug_assert!(off.is_multiple_of(RECORD_ALIGN) && off + 16 <= self.cap as usize);
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
        debug_assert!(off.is_multiple_of(RECORD_ALIGN) && off + 16 <= self.cap as usize);
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
        debug_assert!(off <= self.cap as usize);
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

    /// Why the consumer can no longer take part: it detached cleanly, or
    /// (only when `expensive`) its process died.
    pub(super) fn consumer_gone(&self, expensive: bool, me: u64) -> Option<Closed> {
        match endpoint::holder(self.entry(CONSUMER_ENTRY)) {
            Holder::Closed => Some(Closed::Disconnected),
            Holder::Held(t) if expensive && !Self::alive(t, me) => Some(Closed::PeerDied(endpoint::token_pid(t))),
            _ => None,
        }
    }

    /// Whether every producer that ever attached is gone: `PeerDied` if one
    /// of them died (seen only when `expensive`), `Disconnected` if all
    /// detached cleanly; `None` while one may still send (or none ever
    /// attached).
    pub(super) fn producers_gone(&self, expensive: bool, me: u64) -> Option<Closed> {
        let mut closed = false;
        let mut dead = None;
        for e in self.producer_entries() {
            match endpoint::holder(e) {
                Holder::Never => {}
                Holder::Closed => closed = true,
                Holder::Held(t) => {
                    if !expensive || Self::alive(t, me) {
                        return None;
                    }
                    dead = Some(endpoint::token_pid(t));
                }
            }
        }
        match dead {
            Some(pid) => Some(Closed::PeerDied(pid)),
            None if closed => Some(Closed::Disconnected),
            None => None,
        }
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
