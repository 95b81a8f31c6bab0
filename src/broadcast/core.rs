//! What the fixed-size and the byte broadcast rings share: the control
//! block, attachment (the publisher's entry, a subscriber's Dekker join),
//! Block gating with eviction of dead holdouts, detection of a gone
//! publisher, and the time of slow paths. The algorithm is described in the
//! parent module's docs; positions here are whatever unit the ring gates in
//! (slots for [`super::fixed`], bytes for [`super::bytes`]).

use super::Policy;
use crate::endpoint::{self, Holder};
use crate::error::{Closed, Corruption, Error, Result};
use crate::layout::{EndpointEntry, Role};
use crate::segment::Segment;
use crate::sync::{fence, AtomicU64, Ordering};
use crate::wait::WaitWord;
use crossbeam_utils::CachePadded;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shared control block of a broadcast channel.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct BroadcastControl {
    /// Next position the publisher writes (fixed: messages published;
    /// bytes: the end of the published records).
    pub(crate) tail: CachePadded<AtomicU64>,
    /// Subscribers sleep here when they have read everything.
    pub(crate) not_empty: CachePadded<WaitWord>,
    /// The publisher sleeps here when a subscriber holds it back (Block).
    pub(crate) not_full: CachePadded<WaitWord>,
    /// Attachment counts and loss counters (slow paths only).
    pub(crate) counters: CachePadded<BroadcastCounters>,
}

/// Counters of a broadcast channel, on their own line.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct BroadcastCounters {
    /// Publishers attached now (low 32 bits) and attaches ever (high 32).
    pub(crate) publishers: AtomicU64,
    /// Subscribers, packed like `publishers`.
    pub(crate) subscribers: AtomicU64,
    /// Subscribers evicted as dead (Block).
    pub(crate) evicted: AtomicU64,
    /// Messages reported lost (`Lagged`) to all subscribers, ever.
    pub(crate) lost: AtomicU64,
}

impl BroadcastControl {
    pub(crate) fn new() -> BroadcastControl {
        BroadcastControl {
            tail: CachePadded::new(AtomicU64::new(0)),
            not_empty: CachePadded::new(WaitWord::new()),
            not_full: CachePadded::new(WaitWord::new()),
            counters: CachePadded::new(BroadcastCounters {
                publishers: AtomicU64::new(0),
                subscribers: AtomicU64::new(0),
                evicted: AtomicU64::new(0),
                lost: AtomicU64::new(0),
            }),
        }
    }
}

#[cfg(not(loom))]
mod asserts {
    use super::*;
    use memoffset::offset_of;
    const _: () = assert!(offset_of!(BroadcastControl, tail) == BROADCAST_TAIL_OFFSET);
    const _: () = assert!(offset_of!(BroadcastControl, not_empty) == BROADCAST_NOT_EMPTY_OFFSET);
    const _: () = assert!(offset_of!(BroadcastControl, not_full) == BROADCAST_NOT_FULL_OFFSET);
    const _: () = assert!(offset_of!(BroadcastControl, counters) == BROADCAST_COUNTERS_OFFSET);
    const _: () = assert!(offset_of!(BroadcastCounters, publishers) == 0);
    const _: () = assert!(offset_of!(BroadcastCounters, subscribers) == 8);
    const _: () = assert!(offset_of!(BroadcastCounters, evicted) == 16);
    const _: () = assert!(offset_of!(BroadcastCounters, lost) == 24);
    const _: () = assert!(core::mem::size_of::<BroadcastControl>() == BROADCAST_CONTROL_LEN);
}

/// Offset of `tail` in the control block.
pub const BROADCAST_TAIL_OFFSET: usize = 0;
/// Offset of the `not_empty` futex word (then its waiters count).
pub const BROADCAST_NOT_EMPTY_OFFSET: usize = 128;
/// Offset of the `not_full` futex word (then its waiters count).
pub const BROADCAST_NOT_FULL_OFFSET: usize = 256;
/// Offset of the counters (publishers, subscribers, evicted, lost).
pub const BROADCAST_COUNTERS_OFFSET: usize = 384;
/// Size of the control block of a fixed-size broadcast channel (the byte
/// kind appends one line, see [`super::bytes::BYTES_CONTROL_LEN`]).
pub const BROADCAST_CONTROL_LEN: usize = 512;

/// Positions stay below this (so `2p + 2` never overflows).
pub(super) const MAX_POS: u64 = 1 << 62;
/// Endpoint words of a subscriber: gate + 1 (0 = not gating).
pub(super) const W_CURSOR: usize = 0;
/// Messages this subscriber was told it lost.
pub(super) const W_LOST: usize = 1;
/// Flags ([`FLAG_EVICTED`]).
pub(super) const W_FLAGS: usize = 2;
/// Which attachment counter the holder incremented.
pub(super) const W_COUNTED: usize = 3;
/// Message number this subscriber started from (plus messages skipped
/// while joining): `received = next message - start - lost`.
pub(super) const W_START: usize = 4;
/// Byte kind: number of the next message this subscriber reads (the
/// fixed kind's cursor is its message number).
pub(super) const W_MSG: usize = 5;
pub(super) const FLAG_EVICTED: u64 = 1;
const COUNTED: u64 = 1;
const ATTACH_ONE: u64 = 1 | (1 << 32);
pub(super) const ATTACHED_MASK: u64 = 0xffff_ffff;
/// The publisher's endpoint entry.
pub(super) const PUBLISHER: usize = 0;

/// Is the holder of an owner token alive? Tokens of this process are
/// judged without a system call: alive only if equal to our own token, so
/// a token with our pid and another start time (a test's simulated crash)
/// is dead.
pub(super) struct Liveness {
    me: u64,
}

impl Liveness {
    pub(super) fn new() -> Liveness {
        Liveness {
            me: endpoint::self_token(),
        }
    }

    pub(super) fn alive(&self, token: u64) -> bool {
        if endpoint::token_pid(token) == endpoint::token_pid(self.me) {
            token == self.me
        } else {
            endpoint::token_alive(token)
        }
    }

    /// Whether entry `e` has a live holder.
    pub(super) fn holder_alive(&self, e: &EndpointEntry) -> bool {
        match endpoint::holder(e) {
            Holder::Held(t) => self.alive(t),
            _ => false,
        }
    }
}

/// Time on the slow paths of one handle: when the next liveness check is
/// due, and since when each subscriber that holds the publisher back (a
/// *holdout*) has done so. Under loom there is no time: every check is due
/// and every stall has expired.
#[derive(Debug)]
pub(super) struct Pacer {
    #[cfg(not(loom))]
    next_check: Instant,
    /// (entry, its gate word, since when it holds the publisher back).
    #[cfg(not(loom))]
    holdouts: Vec<(usize, u64, Instant)>,
}

impl Pacer {
    pub(super) fn new() -> Pacer {
        Pacer {
            #[cfg(not(loom))]
            next_check: Instant::now(),
            #[cfg(not(loom))]
            holdouts: Vec::new(),
        }
    }

    pub(super) fn due(&mut self, interval: Duration) -> bool {
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
}

/// The dead holdouts seen by one rescan, each with the time it was first
/// found holding the publisher back while dead: the stall runs per holdout
/// from then, not from when the publisher first became blocked (a
/// subscriber that dies while another one holds the publisher back gets the
/// full stall once it is the one found dead).
struct HoldoutScan {
    #[cfg(not(loom))]
    now: Option<Instant>,
    #[cfg(not(loom))]
    seen: Vec<(usize, u64, Instant)>,
}

impl HoldoutScan {
    fn new() -> HoldoutScan {
        HoldoutScan {
            #[cfg(not(loom))]
            now: None,
            #[cfg(not(loom))]
            seen: Vec::new(),
        }
    }

    /// Entry `i` with gate word `w` holds the publisher back and its holder
    /// is dead: has it been found so for at least `stall`?
    fn dead(&mut self, pacer: &Pacer, i: usize, w: u64, stall: Duration) -> bool {
        #[cfg(loom)]
        {
            let _ = (pacer, i, w, stall);
            true
        }
        #[cfg(not(loom))]
        {
            let now = *self.now.get_or_insert_with(Instant::now);
            let since = pacer
                .holdouts
                .iter()
                .find(|h| h.0 == i && h.1 == w)
                .map_or(now, |h| h.2);
            self.seen.push((i, w, since));
            now.duration_since(since) >= stall
        }
    }

    /// Entry `i` with gate word `w` still holds the publisher back (a scan
    /// without liveness checks): it keeps its clock if it had one.
    fn still(&mut self, pacer: &Pacer, i: usize, w: u64) {
        #[cfg(not(loom))]
        if let Some(h) = pacer.holdouts.iter().find(|h| h.0 == i && h.1 == w) {
            self.seen.push(*h);
        }
        #[cfg(loom)]
        let _ = (pacer, i, w);
    }

    fn finish(self, pacer: &mut Pacer) {
        #[cfg(not(loom))]
        {
            pacer.holdouts = self.seen;
        }
        #[cfg(loom)]
        let _ = pacer;
    }
}

pub(super) fn corrupt(index: u64, what: &'static str) -> Closed {
    Closed::Corrupt(Corruption { offset: index, what })
}

pub(super) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The ring-independent part of a channel's memory: raw pointers plus
/// whatever keeps them alive.
#[derive(Clone)]
pub(super) struct Core {
    pub(super) ctl: NonNull<BroadcastControl>,
    /// Gating span: slots (fixed) or bytes of the record area (bytes).
    pub(super) cap: u64,
    pub(super) entries: NonNull<EndpointEntry>,
    pub(super) n_entries: usize,
    pub(super) policy: Policy,
    pub(super) stall: Duration,
    /// Liveness and stall checks on every poll of a blocking call (loom
    /// models of dead peers, where time does not pass).
    pub(super) check_every_poll: bool,
    pub(super) seg: Option<Arc<Segment>>,
    /// Keeps the memory behind the pointers alive (never read).
    #[allow(dead_code)]
    pub(super) keep: Arc<dyn Send + Sync>,
    pub(super) name: Arc<str>,
}

// SAFETY: the pointers target memory kept alive by `keep`, accessed only
// through atomics.
unsafe impl Send for Core {}
// SAFETY: as above.
unsafe impl Sync for Core {}

/// A subscriber's entry after the join handshake.
pub(super) struct Joined {
    pub(super) index: usize,
    pub(super) token: u64,
    /// The join position: `tail` re-read after the Dekker fence.
    pub(super) at: u64,
}

impl Core {
    pub(super) fn ctl(&self) -> &BroadcastControl {
        // SAFETY: points to a control block that `keep` keeps alive; it
        // contains only atomics, valid for any bit pattern.
        unsafe { self.ctl.as_ref() }
    }

    pub(super) fn counters(&self) -> &BroadcastCounters {
        &self.ctl().counters
    }

    pub(super) fn entries(&self) -> &[EndpointEntry] {
        // SAFETY: `n_entries` entries (validated at open, or the heap box)
        // kept alive by `keep`; atomics only.
        unsafe { std::slice::from_raw_parts(self.entries.as_ptr(), self.n_entries) }
    }

    pub(super) fn entry(&self, i: usize) -> &EndpointEntry {
        &self.entries()[i]
    }

    pub(super) fn load_tail(&self) -> std::result::Result<u64, Closed> {
        // Acquire: pairs with the Release store of `tail` in the
        // publisher's `publish`: what lies below it is published.
        let t = self.ctl().tail.load(Ordering::Acquire);
        if t >= MAX_POS {
            return Err(corrupt(t, "broadcast tail is out of range"));
        }
        Ok(t)
    }

    /// Slow-path check: was the segment's file truncated under us?
    pub(super) fn truncated(&self) -> std::result::Result<(), Closed> {
        if self.seg.as_ref().is_some_and(|s| s.truncated()) {
            return Err(corrupt(0, "the segment file was truncated by another process"));
        }
        Ok(())
    }

    /// A `Closed` met while attaching, as a segment error.
    pub(super) fn attach_error(&self, c: Closed) -> Error {
        match c {
            Closed::Corrupt(x) => Error::Corrupt {
                name: self.name.to_string(),
                detail: x.to_string(),
            },
            _ => unreachable!("attaching only reports corruption"),
        }
    }

    /// Uncounts a dead predecessor of entry `e` that we just took over.
    fn uncount_predecessor(&self, e: &EndpointEntry, counter: &AtomicU64, took_over: bool) {
        // Relaxed: we own the entry (claimed by CAS, which acquired the
        // predecessor's last stores).
        let marker = e.words[W_COUNTED].swap(0, Ordering::Relaxed);
        if took_over && marker == COUNTED {
            // AcqRel: the counts are read with Acquire in `publisher_gone`.
            counter.fetch_sub(1, Ordering::AcqRel);
        }
    }

    pub(super) fn count_in(&self, i: usize, counter: &AtomicU64) {
        // AcqRel: pairs with the Acquire load in `publisher_gone`.
        counter.fetch_add(ATTACH_ONE, Ordering::AcqRel);
        // Relaxed: read only by whoever takes the entry over, after its CAS.
        self.entry(i).words[W_COUNTED].store(COUNTED, Ordering::Relaxed);
    }

    fn detach(&self, i: usize, token: u64, counter: &AtomicU64) {
        let e = self.entry(i);
        if endpoint::release(e, token) {
            // Release: pairs with the Acquire load in `publisher_gone`; what
            // we did happens before a peer sees the count drop.
            counter.fetch_sub(1, Ordering::Release);
        }
    }

    /// Simulates a SIGKILL of entry `i`'s holder (tests and loom): its token
    /// becomes that of a dead process with our pid, nothing is released.
    #[cfg(any(test, loom))]
    pub(super) fn mark_dead(&self, i: usize, token: u64) {
        // Release: pairs with the Acquire load in `endpoint::holder`.
        let _ = self
            .entry(i)
            .owner
            .compare_exchange(token, token ^ 1, Ordering::Release, Ordering::Relaxed);
    }

    /// Claims the publisher's entry. Returns our token and `tail`; the
    /// caller finishes a dead predecessor's last publication, then calls
    /// [`count_in`](Core::count_in) for [`PUBLISHER`].
    pub(super) fn claim_publisher(&self) -> Result<(u64, u64)> {
        let me = endpoint::self_token();
        let claimed =
            endpoint::claim(self.entry(PUBLISHER), Role::Producer, me).map_err(|pid| Error::EndpointBusy {
                name: self.name.to_string(),
                role: Role::Producer,
                pid,
            })?;
        let e = self.entry(PUBLISHER);
        self.uncount_predecessor(e, &self.counters().publishers, claimed.took_over_from.is_some());
        let t = self.load_tail().map_err(|c| {
            endpoint::release(e, me);
            self.attach_error(c)
        })?;
        Ok((me, t))
    }

    /// The publisher's clean detach.
    pub(super) fn detach_publisher(&self, token: u64) {
        self.detach(PUBLISHER, token, &self.counters().publishers);
        self.ctl().not_empty.wake_all();
    }

    /// Claims a subscriber entry and gates from the join position (the
    /// Dekker handshake with [`rescan`](Core::rescan)). The caller stores
    /// its start words, then calls [`count_in`](Core::count_in) with the
    /// subscribers' counter.
    pub(super) fn join(&self) -> Result<Joined> {
        let me = endpoint::self_token();
        let (i, claimed) = endpoint::claim_any(&self.entries()[1..], Role::Subscriber, me).ok_or_else(|| {
            Error::EndpointTableFull {
                name: self.name.to_string(),
                capacity: self.n_entries as u32,
            }
        })?;
        let i = i + 1;
        let e = self.entry(i);
        self.uncount_predecessor(e, &self.counters().subscribers, claimed.took_over_from.is_some());
        // Relaxed: our own entry's words, read for statistics only.
        e.words[W_LOST].store(0, Ordering::Relaxed);
        e.words[W_FLAGS].store(0, Ordering::Relaxed);
        let fail = |cl: Closed| {
            e.words[W_CURSOR].store(0, Ordering::Relaxed);
            endpoint::release(e, me);
            self.attach_error(cl)
        };
        // The gate word we publish is max(cursor, join tail): what was
        // published before we joined is not protected (a subscriber from
        // the oldest reads it if it is still intact).
        let t = self.load_tail().map_err(fail)?;
        // Relaxed: ordered by the fence below.
        e.words[W_CURSOR].store(t + 1, Ordering::Relaxed);
        // SeqCst: pairs with the fence in `Core::rescan` (Dekker): either
        // its scan sees our cursor, or our re-read below sees the tail
        // stored before that scan.
        fence(Ordering::SeqCst);
        let t2 = self.load_tail().map_err(fail)?.max(t);
        if t2 != t {
            // Release: pairs with the Acquire load in `Core::rescan`.
            e.words[W_CURSOR].store(t2 + 1, Ordering::Release);
            // The publisher may be waiting for our first cursor.
            if self.policy == Policy::Block {
                self.ctl().not_full.wake();
            }
        }
        Ok(Joined {
            index: i,
            token: me,
            at: t2,
        })
    }

    /// A subscriber is done with everything below `gate`.
    #[inline(always)]
    pub(super) fn set_gate(&self, i: usize, gate: u64) {
        // Release: pairs with the Acquire load in `Core::rescan`: our reads
        // below `gate` happen before the publisher overwrites them.
        self.entry(i).words[W_CURSOR].store(gate + 1, Ordering::Release);
        if self.policy == Policy::Block {
            self.ctl().not_full.wake();
        }
    }

    /// Adds `n` to subscriber `i`'s reported losses (`total` after).
    pub(super) fn record_lost(&self, i: usize, total: u64, n: u64) {
        // Relaxed: statistics.
        self.entry(i).words[W_LOST].store(total, Ordering::Relaxed);
        self.counters().lost.fetch_add(n, Ordering::Relaxed);
    }

    /// A subscriber's clean detach.
    pub(super) fn detach_subscriber(&self, i: usize, token: u64) {
        // Release: pairs with the Acquire load in `Core::rescan`: our reads
        // are done before the publisher stops waiting for us.
        self.entry(i).words[W_CURSOR].store(0, Ordering::Release);
        self.detach(i, token, &self.counters().subscribers);
        if self.policy == Policy::Block {
            self.ctl().not_full.wake();
        }
    }

    /// Whether the publisher evicted subscriber `i` as dead.
    #[inline(always)]
    #[cfg_attr(loom, allow(dead_code))]
    pub(super) fn evicted(&self, i: usize) -> bool {
        // Relaxed: our own entry; the publisher sets the flag only when it
        // judged us dead.
        self.entry(i).words[W_FLAGS].load(Ordering::Relaxed) & FLAG_EVICTED != 0
    }

    /// Recomputes the gating limit for a publisher at `tail` about to write
    /// up to position `p` (inclusive): `min(live gates) + cap` (at least
    /// `p`). A gate below `tail - cap` (impossible for a live subscriber
    /// under Block: only a scribble) counts as `tail - cap`. With
    /// `expensive`, evicts the dead holdouts whose own stall expired.
    #[cold]
    pub(super) fn rescan(&self, p: u64, tail: u64, expensive: bool, pacer: &mut Pacer) -> u64 {
        // SeqCst: pairs with the fence in `Core::join` (Dekker); also
        // orders our earlier `tail` stores before the cursor loads.
        fence(Ordering::SeqCst);
        let cap = self.cap;
        let floor = tail.saturating_sub(cap);
        let live = expensive.then(Liveness::new);
        let mut scan = HoldoutScan::new();
        let mut min = p;
        for (i, e) in self.entries().iter().enumerate().skip(1) {
            // Acquire: pairs with the Release stores in `Core::set_gate` /
            // `Core::join`: the subscriber's reads below its gate happen
            // before we overwrite them.
            let w = e.words[W_CURSOR].load(Ordering::Acquire);
            if w == 0 || w > p {
                continue;
            }
            let c = (w - 1).max(floor);
            if c + cap <= p {
                match &live {
                    None => scan.still(pacer, i, w),
                    Some(live) if !live.holder_alive(e) && scan.dead(pacer, i, w, self.stall) => {
                        // AcqRel: fails if the subscriber moved (then it lives).
                        if e.words[W_CURSOR]
                            .compare_exchange(w, 0, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                        {
                            // Relaxed: informational.
                            e.words[W_FLAGS].fetch_or(FLAG_EVICTED, Ordering::Relaxed);
                            self.counters().evicted.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    Some(_) => {}
                }
            }
            min = min.min(c);
        }
        scan.finish(pacer);
        min + cap
    }

    /// Whether the publisher is gone (after an empty look).
    pub(super) fn publisher_gone(&self, expensive: bool) -> std::result::Result<Option<Closed>, Closed> {
        // Acquire: pairs with the Release fetch_sub in `Core::detach`:
        // everything the publisher published is visible.
        let c = self.counters().publishers.load(Ordering::Acquire);
        if c >> 32 == 0 {
            return Ok(None);
        }
        if c & ATTACHED_MASK == 0 {
            return Ok(Some(Closed::Disconnected));
        }
        if !expensive {
            return Ok(None);
        }
        self.truncated()?;
        if let Holder::Held(t) = endpoint::holder(self.entry(PUBLISHER)) {
            if !Liveness::new().alive(t) {
                return Ok(Some(Closed::PeerDied(endpoint::token_pid(t))));
            }
        }
        Ok(None)
    }

    /// (publisher attached, subscribers attached, evicted, lost).
    pub(super) fn counts(&self) -> (bool, u32, u64, u64) {
        let c = self.counters();
        // Relaxed (all loads): statistics only.
        (
            c.publishers.load(Ordering::Relaxed) & ATTACHED_MASK != 0,
            (c.subscribers.load(Ordering::Relaxed) & ATTACHED_MASK) as u32,
            c.evicted.load(Ordering::Relaxed),
            c.lost.load(Ordering::Relaxed),
        )
    }
}

impl Core {
    /// The common part of a channel on the heap: `ctl` and `entries` live
    /// in `keep`.
    pub(super) fn on_heap(
        ctl: &BroadcastControl,
        entries: &[EndpointEntry],
        cap: u64,
        policy: Policy,
        stall: Duration,
        keep: Arc<dyn Send + Sync>,
    ) -> Core {
        Core {
            ctl: NonNull::from(ctl),
            cap,
            entries: NonNull::new(entries.as_ptr() as *mut EndpointEntry).expect("non-null"),
            n_entries: entries.len(),
            policy,
            stall,
            check_every_poll: false,
            seg: None,
            keep,
            name: Arc::from("heap"),
        }
    }

    /// The common part of a channel in a validated segment (the header's
    /// policy, endpoint table and stall timeout); `cap` is validated by the
    /// caller.
    pub(super) fn in_segment(seg: Arc<Segment>, cap: u64) -> Result<Core> {
        let h = *seg.header();
        let bad = |detail: String| {
            Err(Error::Corrupt {
                name: seg.name().to_owned(),
                detail,
            })
        };
        let Some(policy) = Policy::from_flags(h.flags) else {
            return bad(format!("broadcast policy flags {} are unknown", h.flags));
        };
        if h.geometry.endpoint_count < 2 {
            return bad(format!(
                "broadcast endpoint table of {} entries",
                h.geometry.endpoint_count
            ));
        }
        let stall = match h.stall_timeout_ns {
            0 => crate::segment::CreateOptions::default().stall_timeout,
            ns => Duration::from_nanos(ns),
        };
        let entries = seg.endpoints();
        Ok(Core {
            ctl: NonNull::new(seg.control_ptr() as *mut BroadcastControl).expect("non-null"),
            cap,
            entries: NonNull::from(&entries[0]),
            n_entries: entries.len(),
            policy,
            stall,
            check_every_poll: false,
            name: Arc::from(seg.name()),
            seg: Some(seg.clone()),
            keep: seg,
        })
    }
}

impl Core {
    /// The channel's counters; `msg` gives a subscriber entry's next
    /// message number (`None`: not gating, skipped).
    pub(super) fn stats(&self, published: u64, msg: impl Fn(&EndpointEntry) -> Option<u64>) -> Stats {
        let (publisher_attached, subscribers, evicted, lost) = self.counts();
        let max_lag = self
            .entries()
            .iter()
            .skip(1)
            .filter_map(&msg)
            .map(|m| published.saturating_sub(m))
            .max()
            .unwrap_or(0);
        Stats {
            capacity: self.cap,
            policy: self.policy,
            published,
            publisher_attached,
            subscribers,
            evicted,
            lost,
            max_lag,
            endpoint_capacity: self.n_entries as u32,
            stall_timeout: self.stall,
        }
    }

    /// Every attached subscriber's position and counts; `msg` as in
    /// [`stats`](Core::stats) (`None` counts as 0).
    pub(super) fn subscribers(
        &self,
        published: u64,
        msg: impl Fn(&EndpointEntry) -> Option<u64>,
    ) -> Vec<SubscriberStats> {
        let live = Liveness::new();
        let mut out = Vec::new();
        for (i, e) in self.entries().iter().enumerate().skip(1) {
            let Holder::Held(t) = endpoint::holder(e) else {
                continue;
            };
            // Relaxed (all loads): statistics only.
            let lost = e.words[W_LOST].load(Ordering::Relaxed);
            let start = e.words[W_START].load(Ordering::Relaxed);
            let flags = e.words[W_FLAGS].load(Ordering::Relaxed);
            let cursor = msg(e).unwrap_or(0);
            out.push(SubscriberStats {
                entry: i as u32,
                pid: endpoint::token_pid(t),
                alive: live.alive(t),
                cursor,
                lag: published.saturating_sub(cursor),
                received: cursor.saturating_sub(start).saturating_sub(lost),
                lost,
                evicted: flags & FLAG_EVICTED != 0,
            });
        }
        out
    }
}

/// Counters of a broadcast channel; see [`Channel::stats`](super::Channel::stats). Readable from
/// any process without attaching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Number of slots (fixed-size kind) or bytes of the record area
    /// (byte kind).
    pub capacity: u64,
    /// The channel's policy.
    pub policy: Policy,
    /// Messages published since creation.
    pub published: u64,
    /// Whether a publisher is attached (possibly a dead one not yet
    /// replaced).
    pub publisher_attached: bool,
    /// Subscribers attached now (including dead ones not yet replaced or
    /// evicted).
    pub subscribers: u32,
    /// Subscribers evicted as dead after holding the publisher back for
    /// the stall timeout (Block).
    pub evicted: u64,
    /// Messages reported lost (`Lagged`) to all subscribers since creation.
    pub lost: u64,
    /// Largest `published - cursor` over the subscribers attached now.
    pub max_lag: u64,
    /// Size of the endpoint table (publisher included).
    pub endpoint_capacity: u32,
    /// The segment's stall timeout.
    pub stall_timeout: Duration,
}

/// One subscriber's position; see [`Channel::subscribers`](super::Channel::subscribers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriberStats {
    /// Index in the endpoint table.
    pub entry: u32,
    /// Process holding it.
    pub pid: u32,
    /// Whether that process is alive.
    pub alive: bool,
    /// Next position it reads (its join position while it still reads
    /// messages published before it joined).
    pub cursor: u64,
    /// Messages published it has not read yet (`published - cursor`).
    pub lag: u64,
    /// Messages it received.
    pub received: u64,
    /// Messages it was told it lost (`Lagged`).
    pub lost: u64,
    /// Whether the publisher evicted it as dead.
    pub evicted: bool,
}
