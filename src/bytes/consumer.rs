//! The consumer side: find the next record, validate it, lend it in place,
//! release it.
//!
//! SPSC and MPSC have one consumer, which keeps the read position to
//! itself and publishes `head` when it is done with the bytes. MPMC
//! consumers share a `read` index: a consumer *takes* the record at `read`
//! by compare-and-swap of its stamp from "published" to "taken" (so that
//! only the owner ever reads its header), extends the take over the
//! published records after it (a batch), moves `read` past them with one
//! store, and announces the take in its endpoint words. Records are
//! released out of order: the releaser stores the extent of its run in the
//! stamp word of the run's first record (a *done* marker: even, so never a
//! stamp) and then moves `head` over every consecutive released run (see
//! `Shared::advance_head`).

use super::ring::{Bad, Found, Parsed, Shared};
use super::{
    taken_of, CLAIM_CONFIRMED, CLAIM_PENDING, CONSUMER_ENTRY, RECORD_HEADER_LEN, WORD_CLAIM_POS, WORD_LOST,
    WORD_READ_POS, WORD_READ_SIZE, WORD_RECEIVED, WORD_RECEIVED_BYTES,
};
use crate::endpoint::{self, Holder, OWNER_CLOSED, OWNER_NEVER};
use crate::error::{Corruption, Error, RecvError, RecvTimeoutError, Result, TryRecvError};
use crate::layout::{EndpointEntry, Role};
use crate::sync::Ordering;
use crate::wait::{self, WaitConfig};
use std::ops::Deref;
use std::time::{Duration, Instant};

/// Records taken by an MPMC consumer: `[from, end)`, `count` messages.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: Found,
    from: u64,
    end: u64,
    count: usize,
    bytes: u64,
}

/// What a poll hands out: the first message, and for MPMC the whole run
/// taken with it.
#[derive(Debug, Clone, Copy)]
struct Got {
    first: Found,
    run: Option<Run>,
}

/// The reading side of a byte ring. `Send`, not `Sync`, not `Clone`.
///
/// ```
/// use shmlane::bytes::Channel;
/// use shmlane::{RecvTimeoutError, TryRecvError};
/// use std::time::Duration;
///
/// let ch = Channel::in_process(4096)?;
/// let (mut tx, mut rx) = (ch.producer()?, ch.consumer()?);
/// assert_eq!(rx.try_read().unwrap_err(), TryRecvError::Empty);
/// assert_eq!(rx.read_timeout(Duration::from_millis(1)).unwrap_err(), RecvTimeoutError::Timeout);
/// let t = std::thread::spawn(move || {
///     for i in 0..100u32 {
///         tx.send(&i.to_le_bytes()).unwrap();
///     }
/// });
/// let mut buf = Vec::new();
/// for i in 0..100u32 {
///     rx.recv(&mut buf).unwrap();
///     assert_eq!(buf, i.to_le_bytes());
/// }
/// t.join().unwrap();
/// assert!(rx.recv(&mut buf).is_err()); // Disconnected: the producer left
/// # Ok::<(), shmlane::Error>(())
/// ```
pub struct Consumer {
    shared: Shared,
    token: u64,
    /// Our endpoint entry (0 unless MPMC).
    entry: usize,
    /// SPSC/MPSC: next position to read (the shared `head` is a copy).
    head: u64,
    /// Last `tail` read from shared memory; never above the real one.
    cached_tail: u64,
    received: u64,
    received_bytes: u64,
    wait: WaitConfig,
    next_check: Instant,
    /// Position at which the consumer found an unpublished record, and
    /// since when (stall detection).
    stall_pos: u64,
    stall_since: Option<Instant>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Consumer")
            .field("name", &self.shared.name)
            .field("kind", &self.shared.kind)
            .field("entry", &self.entry)
            .field("received", &self.received)
            .finish()
    }
}

fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

fn to_timeout(e: TryRecvError) -> Option<std::result::Result<Got, RecvTimeoutError>> {
    match e {
        TryRecvError::Empty => None,
        TryRecvError::Disconnected => Some(Err(RecvTimeoutError::Disconnected)),
        TryRecvError::PeerDied { pid } => Some(Err(RecvTimeoutError::PeerDied { pid })),
        TryRecvError::Corrupt { corruption } => Some(Err(RecvTimeoutError::Corrupt { corruption })),
    }
}

fn no_timeout(e: RecvTimeoutError) -> RecvError {
    match e {
        RecvTimeoutError::Timeout => unreachable!("no deadline"),
        RecvTimeoutError::Disconnected => RecvError::Disconnected,
        RecvTimeoutError::PeerDied { pid } => RecvError::PeerDied { pid },
        RecvTimeoutError::Corrupt { corruption } => RecvError::Corrupt { corruption },
    }
}

fn corrupt(bad: Bad) -> TryRecvError {
    TryRecvError::Corrupt {
        corruption: Corruption {
            offset: bad.at,
            what: bad.what,
        },
    }
}

/// True when the claims recorded in a (dead) entry have been passed by
/// `head`, so the entry can be reused without hiding a claim that someone
/// may still need to resolve.
pub(super) fn claims_resolved(e: &EndpointEntry, head: u64) -> bool {
    [WORD_CLAIM_POS, WORD_READ_POS].iter().all(|&i| {
        // Acquire: pairs with the Release stores of the claim words.
        let w = e.words[i].load(Ordering::Acquire);
        w & 7 == 0 || (head.wrapping_sub(w & !7) as i64) > 0
    })
}

/// MPMC: claims an entry of the table for `role`: one never used, else one
/// closed cleanly, else the entry of a dead holder whose claims are
/// resolved. Records the role in the entry's history bits.
pub(super) fn claim_any_entry(shared: &Shared, role: Role, me: u64) -> Result<usize> {
    // Acquire: pairs with the Release stores of head.
    let head = shared.ctl().head.load(Ordering::Acquire);
    for pass in 0..3 {
        for (i, e) in shared.entries().iter().enumerate() {
            // Relaxed: a hint; the CAS in `claim` decides.
            let owner = e.owner.load(Ordering::Relaxed);
            let eligible = match pass {
                0 => owner == OWNER_NEVER,
                1 => owner == OWNER_CLOSED,
                _ => owner > OWNER_CLOSED && claims_resolved(e, head),
            };
            if eligible && endpoint::claim(e, role, me).is_ok() {
                // Relaxed: history for `Shared::side_gone`, which errs
                // towards "not gone" while the bit is not visible.
                e.state.fetch_or(super::ring::role_bit(role), Ordering::Relaxed);
                return Ok(i);
            }
        }
    }
    Err(Error::EndpointTableFull {
        name: shared.name.to_string(),
        capacity: shared.entries().len() as u32,
    })
}

impl Consumer {
    pub(super) fn attach(shared: &Shared) -> Result<Consumer> {
        let me = endpoint::self_token();
        let entry = if shared.mpmc {
            claim_any_entry(shared, Role::Consumer, me)?
        } else {
            endpoint::claim(shared.entry(CONSUMER_ENTRY), Role::Consumer, me).map_err(|pid| Error::EndpointBusy {
                name: shared.name.to_string(),
                role: Role::Consumer,
                pid,
            })?;
            CONSUMER_ENTRY
        };
        let e = shared.entry(entry);
        // Release: as for the read claim words in `take_mpmc`; a new holder
        // of the entry has nothing taken.
        e.words[WORD_READ_POS].store(0, Ordering::Release);
        let ctl = shared.ctl();
        // Acquire: pairs with the previous consumer's Release store of head.
        let head = ctl.head.load(Ordering::Acquire);
        // Acquire: pairs with the producers' Release store (or CAS) of tail.
        let tail = ctl.tail.load(Ordering::Acquire);
        let checked = if shared.mpmc {
            // Others move the indices: check what a single load can show.
            super::check_indices(head, head, shared.cap).and(super::check_indices(tail, tail, shared.cap))
        } else {
            super::check_indices(head, tail, shared.cap)
        };
        if let Err(detail) = checked {
            endpoint::release(e, me);
            return Err(Error::Corrupt {
                name: shared.name.to_string(),
                detail,
            });
        }
        Ok(Consumer {
            shared: shared.clone(),
            token: me,
            entry,
            head,
            cached_tail: head,
            // Relaxed: our own entry's counters (the claim CAS acquired them).
            received: e.words[WORD_RECEIVED].load(Ordering::Relaxed),
            received_bytes: e.words[WORD_RECEIVED_BYTES].load(Ordering::Relaxed),
            wait: WaitConfig::default(),
            next_check: Instant::now(),
            stall_pos: 0,
            stall_since: None,
        })
    }

    /// Sets how blocking calls wait; see
    /// [`Producer::set_wait_config`](super::Producer::set_wait_config).
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.wait = cfg;
    }

    /// Bytes of the record area.
    pub fn capacity(&self) -> usize {
        self.shared.cap as usize
    }

    /// Largest message the ring accepts.
    pub fn max_message(&self) -> usize {
        self.shared.max_message as usize
    }

    fn due(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.next_check {
            self.next_check = now + self.wait.check_interval;
            true
        } else {
            false
        }
    }

    fn corrupt_index(&self, index: u64, what: &'static str) -> TryRecvError {
        corrupt(Bad::index(index, what))
    }

    fn count_lost(&self, n: u64) {
        if n > 0 {
            // Relaxed: statistics.
            self.shared.entry(self.entry).words[WORD_LOST].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Publishes `pos` as the new head: the space before it is free.
    #[inline]
    fn release_to(&mut self, pos: u64) {
        self.head = pos;
        let ctl = self.shared.ctl();
        // Release: pairs with the producers' Acquire load of head in
        // `Producer::poll_claim`: our reads of the space happen before they
        // reuse it.
        ctl.head.store(pos, Ordering::Release);
        ctl.not_full.wake();
    }

    /// MPMC: releases a run taken by this consumer.
    fn release_run(&self, from: u64, end: u64) {
        let s = &self.shared;
        let start = s.normalize(from);
        // Release: pairs with the Acquire load of the marker in
        // `Shared::advance_head` (called right after; its opening SeqCst
        // fence completes the Dekker pair): our reads of the run happen
        // before anyone frees it.
        s.stamp(s.off(start)).store(end.wrapping_sub(start), Ordering::Release);
        // Release: as for the read claim words in `take_mpmc`.
        s.entry(self.entry).words[WORD_READ_POS].store(0, Ordering::Release);
        s.advance_head();
    }

    #[inline]
    fn parse(&self, pos: u64, tail: u64) -> std::result::Result<Parsed, TryRecvError> {
        self.shared.parse(pos, tail, false).map_err(corrupt)
    }

    /// The next message (and for MPMC, the run taken with it, up to `max`
    /// messages).
    #[inline(always)]
    fn poll(&mut self, max: usize, expensive: bool) -> std::result::Result<Got, TryRecvError> {
        if self.shared.mpmc {
            let run = self.take_mpmc(max, expensive)?;
            return Ok(Got {
                first: run.first,
                run: Some(run),
            });
        }
        Ok(Got {
            first: self.poll_record(expensive)?,
            run: None,
        })
    }

    /// SPSC/MPSC: finds the next message: skips padding (releasing it),
    /// resolves claims of dead producers, reports why nothing is readable.
    #[inline(always)]
    fn poll_record(&mut self, expensive: bool) -> std::result::Result<Found, TryRecvError> {
        let cap = self.shared.cap;
        // Each round advances head by at least 8 bytes within [head, tail],
        // so this bound is never reached by a consistent ring.
        for _ in 0..cap / 8 + 4 {
            let h = self.head;
            if self.cached_tail == h {
                // Acquire: pairs with the producer's Release store of tail
                // (SPSC) or the claiming CAS (MPSC, which publishes the
                // claim words read in `stalled`).
                self.cached_tail = self.shared.ctl().tail.load(Ordering::Acquire);
            }
            let t = self.cached_tail;
            let avail = t.wrapping_sub(h);
            if avail > cap {
                return Err(self.corrupt_index(t, "tail is behind head or more than capacity ahead"));
            }
            if avail == 0 {
                match self.shared.producers_gone(expensive, self.token) {
                    None => return Err(TryRecvError::Empty),
                    Some(c) => {
                        // Acquire: pairs with the Release store of tail (the
                        // last commit happened before the producer left).
                        let t2 = self.shared.ctl().tail.load(Ordering::Acquire);
                        if t2 == h {
                            return Err(c.try_recv());
                        }
                        self.cached_tail = t2;
                        continue;
                    }
                }
            }
            match self.parse(h, t)? {
                Parsed::Message(f) => {
                    self.stall_since = None;
                    return Ok(f);
                }
                Parsed::Padding(next) => {
                    self.stall_since = None;
                    self.release_to(next);
                }
                Parsed::Unpublished => match self.stalled(h, t, expensive)? {
                    Some(next) => {
                        self.stall_since = None;
                        self.count_lost(1);
                        self.release_to(next);
                    }
                    None => return Err(TryRecvError::Empty),
                },
            }
        }
        Err(self.corrupt_index(self.head, "records do not advance"))
    }

    /// Whether the stall at `h` has lasted the stall timeout (checked only
    /// on `expensive` polls; a zero timeout has always expired).
    fn stall_expired(&mut self, h: u64, expensive: bool) -> bool {
        let timeout = self.shared.stall_timeout;
        if timeout.is_zero() {
            return true;
        }
        match self.stall_since {
            Some(since) if self.stall_pos == h => expensive && since.elapsed() >= timeout,
            _ => {
                self.stall_pos = h;
                self.stall_since = Some(Instant::now());
                false
            }
        }
    }

    /// The record at `h` is claimed but not published. After the stall
    /// timeout, finds its claimant in the endpoint table; if it is dead,
    /// returns the end of its claim (to skip it). SPSC/MPSC.
    fn stalled(&mut self, h: u64, t: u64, expensive: bool) -> std::result::Result<Option<u64>, TryRecvError> {
        if !self.stall_expired(h, expensive) {
            return Ok(None);
        }
        let size = match self.shared.dead_producer_claim(h, t, self.token).map_err(corrupt)? {
            None => return Ok(None),
            Some(size) => size,
        };
        // The claimant may have committed while we looked (a claim word
        // newer than its commit makes the commit visible).
        if !matches!(self.parse(h, t)?, Parsed::Unpublished) {
            return Ok(None);
        }
        Ok(Some(h.wrapping_add(size)))
    }

    /// MPMC: takes the run of published records at `read` (at least one
    /// message, at most `max`), skipping padding and resolving dead peers
    /// on the way.
    fn take_mpmc(&mut self, max: usize, expensive: bool) -> std::result::Result<Run, TryRecvError> {
        let s = self.shared.clone();
        let ctl = s.ctl();
        let cap = s.cap;
        let words = &s.entry(self.entry).words;
        for _ in 0..cap / 8 + 16 {
            // Acquire: pairs with the Release store of read by the previous
            // taker: its stamp CAS (the taken marker) is visible.
            let r = ctl.read.load(Ordering::Acquire);
            // Acquire: pairs with the producers' claiming CAS (claim words).
            let t = ctl.tail.load(Ordering::Acquire);
            if !r.is_multiple_of(super::RECORD_ALIGN as u64) {
                return Err(self.corrupt_index(r, "read is not 8-byte aligned"));
            }
            let avail = t.wrapping_sub(r);
            if avail > cap {
                continue; // read moved on since we loaded it: reload both
            }
            if avail == 0 {
                if expensive {
                    self.count_lost(s.resolve_dead_takers(self.token).map_err(corrupt)?);
                }
                return match s.producers_gone(expensive, self.token) {
                    None => Err(TryRecvError::Empty),
                    // Acquire (both): as above.
                    Some(c) if ctl.read.load(Ordering::Acquire) == ctl.tail.load(Ordering::Acquire) => {
                        Err(c.try_recv())
                    }
                    Some(_) => continue,
                };
            }
            let start = s.normalize(r);
            if t.wrapping_sub(start) < RECORD_HEADER_LEN as u64 {
                return Err(self.corrupt_index(t, "tail ends inside a record header"));
            }
            let off = s.off(start);
            // Acquire: pairs with the producer's Release store of the stamp.
            let st = s.stamp(off).load(Ordering::Acquire);
            let skip_dead = if st == super::stamp_of(start) {
                None
            } else if st == taken_of(start) {
                // Another consumer is taking it (a few instructions), or
                // died doing so.
                if expensive {
                    self.count_lost(s.resolve_dead_takers(self.token).map_err(corrupt)?);
                    // Acquire: as above.
                    if ctl.read.load(Ordering::Acquire) != r {
                        continue; // resolved (or the taker finished): go on
                    }
                }
                return Err(TryRecvError::Empty);
            } else {
                // Not published: a producer is writing it, or died.
                if !self.stall_expired(r, expensive) {
                    return Err(TryRecvError::Empty);
                }
                match s.dead_producer_claim(r, t, self.token).map_err(corrupt)? {
                    None => return Err(TryRecvError::Empty),
                    Some(size) => Some(size),
                }
            };
            // Announce the take, then make it.
            // Release (all read claim words): pairs with the Acquire loads
            // in `Shared::taker_at`.
            words[WORD_READ_POS].store(r | CLAIM_PENDING, Ordering::Release);
            // AcqRel: Acquire makes the record (published with Release) ours
            // to read; Release publishes the claim word above.
            if s.stamp(off)
                .compare_exchange(st, taken_of(start), Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                words[WORD_READ_POS].store(0, Ordering::Release);
                continue;
            }
            words[WORD_READ_POS].store(r | CLAIM_CONFIRMED, Ordering::Release);
            self.stall_since = None;
            if let Some(size) = skip_dead {
                // A dead producer's claim: skip it like a released run.
                let end = r.wrapping_add(size);
                words[WORD_READ_SIZE].store(size, Ordering::Release);
                // Release: pairs with the Acquire loads of read.
                ctl.read.store(end, Ordering::Release);
                self.count_lost(1);
                self.release_run(r, end);
                continue;
            }
            // We hold the read position: nobody else can take what follows,
            // and nothing before `read` is reused, so the run is stable.
            let (mut pos, mut end, mut count, mut bytes) = (r, r, 0usize, 0u64);
            let mut first = None;
            let mut bad = None;
            for _ in 0..cap / 8 + 4 {
                if count >= max.max(1) || pos == t {
                    break;
                }
                match s.parse(pos, t, pos == r) {
                    Ok(Parsed::Message(f)) => {
                        first.get_or_insert(f);
                        count += 1;
                        bytes += u64::from(f.len);
                        pos = f.start.wrapping_add(f.size);
                        end = pos;
                    }
                    Ok(Parsed::Padding(next)) => {
                        pos = next;
                        if count == 0 {
                            end = pos;
                        }
                    }
                    Ok(Parsed::Unpublished) => break,
                    Err(b) => {
                        bad = Some(b);
                        break;
                    }
                }
            }
            if end == r {
                // The record we took does not parse: the ring is corrupt.
                // `read` stays where it is.
                return Err(corrupt(bad.unwrap_or(Bad::index(r, "taken record is empty"))));
            }
            words[WORD_READ_SIZE].store(end.wrapping_sub(r), Ordering::Release);
            // Release: pairs with the Acquire loads of read by other
            // consumers and resolvers: our claim words and taken marker are
            // visible with it.
            ctl.read.store(end, Ordering::Release);
            // Another consumer may have gone to sleep while we held the
            // read position; more may have been published since we loaded
            // tail.
            ctl.not_empty.wake();
            let Some(first) = first else {
                self.release_run(r, end); // only padding
                continue;
            };
            return Ok(Run {
                first,
                from: r,
                end,
                count,
                bytes,
            });
        }
        // Lost every race for the read position (other consumers made
        // progress): nothing for us this time.
        Err(TryRecvError::Empty)
    }

    /// Lends the oldest message in place if there is one; dropping the
    /// [`Record`] releases its space.
    ///
    /// `Empty` when nothing is readable; once the ring is drained,
    /// `Disconnected` if every producer detached cleanly or `PeerDied` if
    /// one died (checked at most once per check interval); `Corrupt` when
    /// a header or index is inconsistent.
    #[inline(always)]
    pub fn try_read(&mut self) -> std::result::Result<Record<'_>, TryRecvError> {
        let g = self.try_poll(1)?;
        Ok(self.lend(g))
    }

    #[inline]
    fn try_poll(&mut self, max: usize) -> std::result::Result<Got, TryRecvError> {
        match self.poll(max, false) {
            Err(TryRecvError::Empty) => {
                let exp = self.due();
                self.poll(max, exp)
            }
            r => r,
        }
    }

    #[inline]
    fn lend(&mut self, g: Got) -> Record<'_> {
        let off = self.shared.off(g.first.start) + RECORD_HEADER_LEN;
        self.shared.touch_read(off, g.first.len as usize);
        Record {
            c: self,
            f: g.first,
            run: g.run,
        }
    }

    /// Lends the oldest message, waiting as long as it takes.
    #[inline(always)]
    pub fn read(&mut self) -> std::result::Result<Record<'_>, RecvError> {
        let g = match self.poll(1, false) {
            Ok(g) => g,
            Err(_) => self.wait_poll(1, None).map_err(no_timeout)?,
        };
        Ok(self.lend(g))
    }

    /// Lends the oldest message, waiting at most `timeout`.
    pub fn read_timeout(&mut self, timeout: Duration) -> std::result::Result<Record<'_>, RecvTimeoutError> {
        let g = self.wait_poll(1, deadline(timeout))?;
        Ok(self.lend(g))
    }

    fn wait_poll(&mut self, max: usize, deadline: Option<Instant>) -> std::result::Result<Got, RecvTimeoutError> {
        match self.poll(max, false) {
            Ok(g) => return Ok(g),
            Err(TryRecvError::Empty) => {}
            Err(e) => return to_timeout(e).expect("not empty"),
        }
        let shared = self.shared.clone();
        let cfg = self.wait;
        wait::block_on(&shared.ctl().not_empty, &cfg, deadline, |exp| {
            match self.poll(max, exp) {
                Ok(g) => Some(Ok(g)),
                Err(e) => to_timeout(e),
            }
        })
        .unwrap_or(Err(RecvTimeoutError::Timeout))
    }

    /// Copies the oldest message into `buf` (replacing its contents) if
    /// there is one.
    pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> std::result::Result<(), TryRecvError> {
        let r = self.try_read()?;
        buf.clear();
        buf.extend_from_slice(&r);
        Ok(())
    }

    /// Copies the oldest message into `buf`, waiting as long as it takes.
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> std::result::Result<(), RecvError> {
        let r = self.read()?;
        buf.clear();
        buf.extend_from_slice(&r);
        Ok(())
    }

    /// Copies the oldest message into `buf`, waiting at most `timeout`.
    pub fn recv_timeout(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> std::result::Result<(), RecvTimeoutError> {
        let r = self.read_timeout(timeout)?;
        buf.clear();
        buf.extend_from_slice(&r);
        Ok(())
    }

    /// Lends every readable message, up to `max` (at least one), in place;
    /// dropping the [`Batch`] releases them all with one update of `head`
    /// (MPMC: one update of `read` to take them, one marker to release).
    pub fn try_read_batch(&mut self, max: usize) -> std::result::Result<Batch<'_>, TryRecvError> {
        let g = self.try_poll(max)?;
        Ok(self.batch_from(g, max))
    }

    /// Like [`try_read_batch`](Consumer::try_read_batch), waiting as long
    /// as it takes for the first message.
    pub fn read_batch(&mut self, max: usize) -> std::result::Result<Batch<'_>, RecvError> {
        let g = self.wait_poll(max, None).map_err(no_timeout)?;
        Ok(self.batch_from(g, max))
    }

    /// Like [`try_read_batch`](Consumer::try_read_batch), waiting at most
    /// `timeout` for the first message.
    pub fn read_batch_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> std::result::Result<Batch<'_>, RecvTimeoutError> {
        let g = self.wait_poll(max, deadline(timeout))?;
        Ok(self.batch_from(g, max))
    }

    /// Extends a batch from its first message over every following
    /// published one (up to `max`). Stops, without error, at anything it
    /// cannot deliver: the next `try_read` reports it. (MPMC: the run was
    /// taken whole by `take_mpmc`.)
    fn batch_from(&mut self, g: Got, max: usize) -> Batch<'_> {
        if let Some(run) = g.run {
            return Batch {
                c: self,
                start: run.from,
                end: run.end,
                count: run.count,
                bytes: run.bytes,
                run: Some(run),
            };
        }
        let first = g.first;
        let start = first.start;
        let mut end = first.start.wrapping_add(first.size);
        let mut count = 1usize;
        let mut bytes = u64::from(first.len);
        // Acquire: as in `poll_record`; one refresh per batch so that the
        // batch covers everything published by now.
        let fresh = self.shared.ctl().tail.load(Ordering::Acquire);
        if fresh.wrapping_sub(self.head) <= self.shared.cap {
            self.cached_tail = fresh;
        }
        let t = self.cached_tail;
        let mut pos = end;
        let mut steps = self.shared.cap / 8 + 4;
        while count < max && pos != t && steps > 0 {
            steps -= 1;
            match self.parse(pos, t) {
                Ok(Parsed::Message(f)) => {
                    count += 1;
                    bytes += u64::from(f.len);
                    end = f.start.wrapping_add(f.size);
                    pos = end;
                }
                Ok(Parsed::Padding(next)) => pos = next,
                Ok(Parsed::Unpublished) | Err(_) => break,
            }
        }
        Batch {
            c: self,
            start,
            end,
            count,
            bytes,
            run: None,
        }
    }

    /// Records `n` messages of `bytes` payload as received.
    #[inline]
    fn count_received(&mut self, n: u64, bytes: u64) {
        self.received = self.received.wrapping_add(n);
        self.received_bytes = self.received_bytes.wrapping_add(bytes);
        let words = &self.shared.entry(self.entry).words;
        // Relaxed: statistics, written only by this entry's holder.
        words[WORD_RECEIVED].store(self.received, Ordering::Relaxed);
        words[WORD_RECEIVED_BYTES].store(self.received_bytes, Ordering::Relaxed);
    }

    /// Whether a producer is attached and alive right now (system calls).
    pub fn is_producer_alive(&self) -> bool {
        self.shared.producers_gone(true, self.token).is_none()
            && self
                .shared
                .entries()
                .iter()
                .any(|e| matches!(endpoint::holder(e), Holder::Held(t) if Shared::alive(t, self.token)))
    }

    /// Simulates the death of this consumer's process while it holds a
    /// record (tests and loom models): marks the endpoint as held by a dead
    /// process and leaks the record, which stays taken.
    #[doc(hidden)]
    pub fn __crash_holding(rec: Record<'_>) {
        let rec = std::mem::ManuallyDrop::new(rec);
        let e = rec.c.shared.entry(rec.c.entry);
        // A token whose pid no process can have: dead without a system call.
        let dead = endpoint::token(u32::MAX, 1);
        // Release: pairs with the Acquire load in endpoint::holder.
        let _ = e
            .owner
            .compare_exchange(rec.c.token, dead, Ordering::Release, Ordering::Relaxed);
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        endpoint::release(self.shared.entry(self.entry), self.token);
        self.shared.ctl().not_full.wake_all();
    }
}

/// A message lent in place; derefs to its payload. Dropping it releases
/// its space to the producers.
///
/// ```
/// let ch = shmlane::bytes::Channel::in_process(256)?;
/// let (mut tx, mut rx) = (ch.producer()?, ch.consumer()?);
/// tx.send_with_type(42, b"xyz").unwrap();
/// let r = rx.try_read().unwrap();
/// assert_eq!((r.msg_type(), r.len(), &r[..]), (42, 3, &b"xyz"[..]));
/// # Ok::<(), shmlane::Error>(())
/// ```
pub struct Record<'a> {
    c: &'a mut Consumer,
    f: Found,
    /// MPMC: the run taken with this record.
    run: Option<Run>,
}

impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Record")
            .field("len", &self.f.len)
            .field("type", &self.f.ty)
            .field("position", &self.f.start)
            .finish()
    }
}

impl Record<'_> {
    /// The sender's type word (0 unless it set one).
    pub fn msg_type(&self) -> u32 {
        self.f.ty
    }

    /// Position of the record in the ring (a free-running byte index).
    pub fn position(&self) -> u64 {
        self.f.start
    }
}

impl Deref for Record<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        let off = self.c.shared.off(self.f.start) + RECORD_HEADER_LEN;
        // SAFETY: validated by `parse`: the record is published and lies
        // inside the area; the producers do not reuse it before it is
        // released (head store / done marker), which happens in drop.
        unsafe { std::slice::from_raw_parts(self.c.shared.byte_ptr(off), self.f.len as usize) }
    }
}

impl Drop for Record<'_> {
    #[inline]
    fn drop(&mut self) {
        self.c.count_received(1, u64::from(self.f.len));
        match self.run {
            Some(run) => self.c.release_run(run.from, run.end),
            None => self.c.release_to(self.f.start.wrapping_add(self.f.size)),
        }
    }
}

/// Several messages lent in place; see [`Consumer::try_read_batch`].
/// Iterate with [`iter`](Batch::iter) (or `for m in &batch`); dropping the
/// batch releases all of them with one update of `head`.
///
/// ```
/// let ch = shmlane::bytes::Channel::in_process(1024)?;
/// let (mut tx, mut rx) = (ch.producer()?, ch.consumer()?);
/// for m in [&b"a"[..], b"bb", b"ccc"] {
///     tx.send(m).unwrap();
/// }
/// let batch = rx.try_read_batch(usize::MAX).unwrap();
/// let lens: Vec<usize> = batch.iter().map(|m| m.len()).collect();
/// assert_eq!(lens, [1, 2, 3]);
/// drop(batch);
/// assert!(rx.try_read().is_err());
/// # Ok::<(), shmlane::Error>(())
/// ```
pub struct Batch<'a> {
    c: &'a mut Consumer,
    start: u64,
    end: u64,
    count: usize,
    bytes: u64,
    run: Option<Run>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Batch")
            .field("count", &self.count)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Batch<'_> {
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a batch holds at least one message.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Payload bytes of all messages.
    pub fn payload_bytes(&self) -> u64 {
        self.bytes
    }

    /// The messages, oldest first.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter {
            c: self.c,
            pos: self.start,
            end: self.end,
            left: self.count,
        }
    }
}

impl<'b> IntoIterator for &'b Batch<'_> {
    type Item = BatchRecord<'b>;
    type IntoIter = BatchIter<'b>;
    fn into_iter(self) -> BatchIter<'b> {
        self.iter()
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.c.count_received(self.count as u64, self.bytes);
        match self.run {
            Some(run) => self.c.release_run(run.from, run.end),
            None => self.c.release_to(self.end),
        }
    }
}

/// Iterator over a [`Batch`].
pub struct BatchIter<'b> {
    c: &'b Consumer,
    pos: u64,
    end: u64,
    left: usize,
}

impl std::fmt::Debug for BatchIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::BatchIter").field("left", &self.left).finish()
    }
}

impl<'b> Iterator for BatchIter<'b> {
    type Item = BatchRecord<'b>;

    fn next(&mut self) -> Option<BatchRecord<'b>> {
        // The batch was validated when it was built; parse again (the
        // bytes are shared memory) and stop at anything unexpected.
        let mut steps = self.c.shared.cap / 8 + 4;
        while self.left > 0 && steps > 0 {
            steps -= 1;
            match self.c.shared.parse(self.pos, self.end, self.c.shared.mpmc) {
                Ok(Parsed::Message(f)) => {
                    self.left -= 1;
                    self.pos = f.start.wrapping_add(f.size);
                    let s = &self.c.shared;
                    let off = s.off(f.start) + RECORD_HEADER_LEN;
                    s.touch_read(off, f.len as usize);
                    // SAFETY: validated by `parse` against the area and the
                    // batch end; the batch (borrowed for 'b) keeps the
                    // records from being released.
                    let data = unsafe { std::slice::from_raw_parts(s.byte_ptr(off), f.len as usize) };
                    return Some(BatchRecord { data, ty: f.ty });
                }
                Ok(Parsed::Padding(next)) => self.pos = next,
                Ok(Parsed::Unpublished) | Err(_) => break,
            }
        }
        self.left = 0;
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// One message of a [`Batch`]; derefs to its payload.
#[derive(Debug, Clone, Copy)]
pub struct BatchRecord<'b> {
    data: &'b [u8],
    ty: u32,
}

impl<'b> BatchRecord<'b> {
    /// The sender's type word.
    pub fn msg_type(&self) -> u32 {
        self.ty
    }

    /// The payload, for the lifetime of the batch.
    pub fn data(&self) -> &'b [u8] {
        self.data
    }
}

impl Deref for BatchRecord<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.data
    }
}
