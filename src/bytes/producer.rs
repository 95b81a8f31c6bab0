//! The producer side: claim space, write in place, publish.
//!
//! # Held commits (batched hand-off)
//! [`Grant::commit_held`] writes a record like [`Grant::commit`] but holds
//! back its hand-off: SPSC does not store `tail` (the record stays
//! invisible), the other kinds publish the record's stamp as usual (their
//! per-record publication) but send no wake-up; the statistics words are
//! not updated either. [`Producer::flush`] then hands every held record
//! over at once: one Release store of `tail`, one update of the counters,
//! one wake-up. A stream of small messages thus costs the consumer one
//! wake-up per batch instead of one per message, while each message is
//! still its own record. Held records are handed over (flushed) by a
//! plain commit, by a claim that finds the ring full before it
//! waits or fails (so a producer never waits for room held by its own
//! records), and when the producer is dropped. A producer that dies with
//! held SPSC records never published them: the consumer sees the death
//! after the last flushed record, as if they had not been sent.

use super::ring::Shared;
use super::{
    record_size, CLAIM_CONFIRMED, CLAIM_PENDING, PADDING_TYPE, RECORD_HEADER_LEN, WORD_CLAIM_POS, WORD_CLAIM_SIZE,
    WORD_SENT, WORD_SENT_BYTES,
};
use crate::endpoint::{self, OWNER_CLOSED};
use crate::error::{Closed, Corruption, Error, Result, SendError, SendTimeoutError, TrySendError};
use crate::layout::Role;
use crate::sync::Ordering;
use crate::wait::{self, WaitConfig};
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

/// How often a producer retries a lost compare-and-swap on `tail` before
/// reporting `Full` (a bound on a loop driven by other processes).
const MAX_CAS_RETRIES: u32 = 1024;

/// A claimed extent: `[pos, pos + total)`, the record starting at `start`
/// (after the wrap padding, if any).
#[derive(Debug, Clone, Copy)]
struct Claim {
    pos: u64,
    start: u64,
    total: u64,
    len: u32,
}

/// The writing side of a byte ring. `Send`, not `Sync`, not `Clone`; for
/// MPSC attach one per thread or process.
///
/// ```
/// use shmlane::bytes::Builder;
/// use shmlane::layout::Kind;
/// use shmlane::TrySendError;
///
/// let ch = Builder::new().kind(Kind::BytesMpsc).max_message(100).in_process(1024)?;
/// let mut rx = ch.consumer()?;
/// let threads: Vec<_> = (0..3u8)
///     .map(|i| {
///         let mut tx = ch.producer().unwrap();
///         std::thread::spawn(move || tx.send_with_type(u32::from(i), &[i; 10]).unwrap())
///     })
///     .collect();
/// for t in threads {
///     t.join().unwrap();
/// }
/// let batch = rx.try_read_batch(16).unwrap();
/// assert_eq!(batch.len(), 3);
/// drop(batch);
///
/// let mut tx = ch.producer()?;
/// assert!(matches!(tx.try_send(&[0; 101]), Err(TrySendError::TooLarge { len: 101, max: 100, .. })));
/// # Ok::<(), shmlane::Error>(())
/// ```
pub struct Producer {
    shared: Shared,
    entry: usize,
    token: u64,
    /// SPSC: end of what this producer committed (the shared `tail`).
    tail: u64,
    /// Last `head` read from shared memory; never above the real one.
    cached_head: u64,
    sent: u64,
    sent_bytes: u64,
    /// Commits held back by `Grant::commit_held` since the last flush.
    held: usize,
    wait: WaitConfig,
    next_check: Instant,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Producer")
            .field("name", &self.shared.name)
            .field("kind", &self.shared.kind)
            .field("entry", &self.entry)
            .field("sent", &self.sent)
            .finish()
    }
}

fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// A view of `head` and `tail` as of one instant.
enum Snapshot {
    /// `(head, tail)`, `tail - head <= capacity`.
    Consistent(u64, u64),
    /// The indices contradict each other (what, index value).
    Corrupt(&'static str, u64),
    /// `head` kept moving; no view was taken.
    Moving,
}

/// Reads `head`, `tail`, `head`: when both reads of `head` agree, `head`
/// did not move in between, so the pair is what the ring held at the
/// moment `tail` was read, and `tail - head <= capacity` must hold.
/// (Two separate loads prove nothing: the ring may advance by many laps
/// between them.)
fn snapshot(shared: &Shared) -> Snapshot {
    let ctl = shared.ctl();
    for _ in 0..16 {
        // Acquire (first head): pairs with the consumer's Release store of
        // head; its reads of the space we may claim are done.
        let h1 = ctl.head.load(Ordering::Acquire);
        // Acquire: keeps the second load of head after this one.
        let t = ctl.tail.load(Ordering::Acquire);
        // Relaxed: ordered after the tail load by its Acquire.
        let h2 = ctl.head.load(Ordering::Relaxed);
        if h1 == h2 {
            return if t.wrapping_sub(h1) > shared.cap {
                Snapshot::Corrupt("tail is behind head or more than capacity ahead", t)
            } else {
                Snapshot::Consistent(h1, t)
            };
        }
    }
    Snapshot::Moving
}

impl Producer {
    pub(super) fn attach(shared: &Shared) -> Result<Producer> {
        let me = endpoint::self_token();
        let ctl = shared.ctl();
        let entry = if shared.mpmc {
            super::consumer::claim_any_entry(shared, Role::Producer, me)?
        } else if !shared.multi {
            endpoint::claim(shared.entry(1), Role::Producer, me).map_err(|pid| Error::EndpointBusy {
                name: shared.name.to_string(),
                role: Role::Producer,
                pid,
            })?;
            1
        } else {
            // Acquire: pairs with the consumer's Release store of head.
            let head = ctl.head.load(Ordering::Acquire);
            let mut found = None;
            'passes: for pass in 0..2 {
                for (i, e) in shared.producer_entries().iter().enumerate() {
                    // Relaxed: a hint; the CAS in `claim` decides.
                    let free = e.owner.load(Ordering::Relaxed) <= OWNER_CLOSED;
                    let eligible = if pass == 0 {
                        free
                    } else {
                        !free && super::consumer::claims_resolved(e, head)
                    };
                    if eligible && endpoint::claim(e, Role::Producer, me).is_ok() {
                        found = Some(i + 1);
                        break 'passes;
                    }
                }
            }
            found.ok_or_else(|| Error::EndpointTableFull {
                name: shared.name.to_string(),
                capacity: shared.entries().len() as u32 - 1,
            })?
        };
        let e = shared.entry(entry);
        // Acquire: pairs with the consumer's Release store of head.
        let head = ctl.head.load(Ordering::Acquire);
        // Acquire: pairs with a previous SPSC producer's Release store of
        // tail (we continue after its last commit).
        let tail = ctl.tail.load(Ordering::Acquire);
        let checked = if shared.multi {
            // Other producers and the consumer move both indices: only their
            // alignment and a snapshot can be checked.
            super::check_indices(head, head, shared.cap)
                .and(super::check_indices(tail, tail, shared.cap))
                .and(match snapshot(shared) {
                    Snapshot::Consistent(h, t) => super::check_indices(h, t, shared.cap),
                    Snapshot::Corrupt(what, t) => Err(format!("{what} (tail {t})")),
                    Snapshot::Moving => Ok(()),
                })
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
        Ok(Producer {
            shared: shared.clone(),
            entry,
            token: me,
            tail,
            cached_head: head,
            // Relaxed: our own entry's counters (the claim CAS acquired them).
            sent: e.words[WORD_SENT].load(Ordering::Relaxed),
            sent_bytes: e.words[WORD_SENT_BYTES].load(Ordering::Relaxed),
            held: 0,
            wait: WaitConfig::default(),
            next_check: Instant::now(),
        })
    }

    /// Sets how blocking calls wait (default: spin ~50 µs, then sleep;
    /// check the consumer's liveness every 100 ms).
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.wait = cfg;
    }

    /// Bytes of the record area.
    pub fn capacity(&self) -> usize {
        self.shared.cap as usize
    }

    /// Largest message accepted.
    pub fn max_message(&self) -> usize {
        self.shared.max_message as usize
    }

    /// Whether a consumer is attached and alive right now (system calls).
    pub fn is_consumer_alive(&self) -> bool {
        self.shared.consumer_gone(true, self.token).is_none()
            && self.shared.entries().iter().enumerate().any(|(i, e)| {
                (self.shared.mpmc || i == super::CONSUMER_ENTRY)
                    && matches!(endpoint::holder(e), endpoint::Holder::Held(t) if Shared::alive(t, self.token))
            })
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

    fn corrupt(&self, index: u64, what: &'static str) -> Closed {
        Closed::Corrupt(Corruption { offset: index, what })
    }

    /// Where a record of `size` bytes claimed at `t` starts, and how many
    /// bytes the claim takes (the rest of the lap is added when the record
    /// does not fit before the end of the area).
    #[inline(always)]
    fn layout(&self, t: u64, size: u64) -> (u64, u64) {
        let rem = self.shared.cap - (t & (self.shared.cap - 1));
        if rem < size {
            (t.wrapping_add(rem), rem + size)
        } else {
            (t, size)
        }
    }

    fn full(&mut self, expensive: bool) -> TrySendError<()> {
        if let Some(c) = self.shared.consumer_gone(expensive, self.token) {
            return c.try_send(());
        }
        if self.shared.mpmc && expensive {
            // A dead consumer may hold the records at head.
            match self.shared.resolve_dead_takers(self.token) {
                Ok(0) => {}
                // Relaxed: statistics.
                Ok(n) => {
                    self.shared.entry(self.entry).words[super::WORD_LOST].fetch_add(n, Ordering::Relaxed);
                }
                Err(b) => return self.corrupt(b.at, b.what).try_send(()),
            }
        }
        TrySendError::Full(())
    }

    #[inline]
    fn check_len(&self, len: usize) -> std::result::Result<(), (usize, usize)> {
        if len as u64 > self.shared.max_message {
            Err((len, self.shared.max_message as usize))
        } else {
            Ok(())
        }
    }

    /// One attempt to claim room for a `len`-byte message.
    fn poll_claim(&mut self, len: usize, expensive: bool) -> std::result::Result<Claim, TrySendError<()>> {
        if !self.shared.multi {
            return self.poll_claim_spsc(len, expensive);
        }
        // (MPMC: scanning the table for consumers is too slow for every
        // send; a ring without consumers reports it once full.)
        if !self.shared.mpmc {
            if let Some(c) = self.shared.consumer_gone(false, self.token) {
                return Err(c.try_send(()));
            }
        }
        let size = record_size(len) as u64;
        let cap = self.shared.cap;
        let shared = &self.shared;
        let ctl = shared.ctl();
        let words = &shared.entry(self.entry).words;
        // Relaxed: only a starting guess for the CAS.
        let mut t = ctl.tail.load(Ordering::Relaxed);
        for _ in 0..MAX_CAS_RETRIES {
            if !t.is_multiple_of(super::RECORD_ALIGN as u64) {
                self.clear_claim();
                return Err(self.corrupt(t, "tail is not 8-byte aligned").try_send(()));
            }
            let (start, total) = self.layout(t, size);
            if t.wrapping_sub(self.cached_head).saturating_add(total) > cap {
                let (h, fresh) = match snapshot(shared) {
                    Snapshot::Consistent(h, fresh) => (h, fresh),
                    Snapshot::Corrupt(what, at) => {
                        self.clear_claim();
                        return Err(self.corrupt(at, what).try_send(()));
                    }
                    Snapshot::Moving => {
                        self.clear_claim();
                        return Err(TrySendError::Full(()));
                    }
                };
                self.cached_head = h;
                if fresh != t {
                    t = fresh;
                    continue;
                }
                if t.wrapping_sub(h) + total > cap {
                    self.clear_claim();
                    return Err(self.full(expensive));
                }
            }
            // Announce the claim before making it, so that a consumer that
            // finds it unpublished after we die knows its extent.
            // Release (both): pairs with the Acquire loads in
            // `Consumer::stalled`; a claim word newer than our last commit
            // makes that commit's stamp visible there.
            words[WORD_CLAIM_SIZE].store(total, Ordering::Release);
            words[WORD_CLAIM_POS].store(t | CLAIM_PENDING, Ordering::Release);
            // AcqRel: Release publishes the claim words above to a consumer
            // that Acquire-loads tail; Acquire orders us after the previous
            // claimant. Relaxed on failure: we only retry.
            match ctl
                .tail
                .compare_exchange(t, t.wrapping_add(total), Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    // Release: as above.
                    words[WORD_CLAIM_POS].store(t | CLAIM_CONFIRMED, Ordering::Release);
                    return Ok(Claim {
                        pos: t,
                        start,
                        total,
                        len: len as u32,
                    });
                }
                Err(actual) => t = actual,
            }
        }
        self.clear_claim();
        Err(TrySendError::Full(()))
    }

    /// [`poll_claim`](Producer::poll_claim) of an SPSC ring: inlined into
    /// the callers' fast paths.
    #[inline(always)]
    fn poll_claim_spsc(&mut self, len: usize, expensive: bool) -> std::result::Result<Claim, TrySendError<()>> {
        if let Some(c) = self.shared.consumer_gone(false, self.token) {
            return Err(c.try_send(()));
        }
        let size = record_size(len) as u64;
        let cap = self.shared.cap;
        let t = self.tail;
        let (start, total) = self.layout(t, size);
        if t.wrapping_sub(self.cached_head) + total > cap {
            // Acquire: pairs with the consumer's Release store of head
            // (`Consumer::release_to`): its reads of the space are done.
            let h = self.shared.ctl().head.load(Ordering::Acquire);
            if t.wrapping_sub(h) > cap {
                return Err(self
                    .corrupt(h, "head is ahead of tail or more than capacity behind")
                    .try_send(()));
            }
            self.cached_head = h;
            if t.wrapping_sub(h) + total > cap {
                return Err(self.full(expensive));
            }
        }
        Ok(Claim {
            pos: t,
            start,
            total,
            len: len as u32,
        })
    }

    /// Withdraws an announced claim that was not made.
    fn clear_claim(&self) {
        // Release: as for the claim words in `poll_claim`.
        self.shared.entry(self.entry).words[WORD_CLAIM_POS].store(0, Ordering::Release);
    }

    /// Publishes a claim as a message (`commit`) or as padding; `hold`
    /// (commits only) leaves the hand-off to [`Producer::flush`].
    #[inline(always)]
    fn publish(&mut self, c: &Claim, ty: u32, commit: bool, hold: bool) {
        let s = &self.shared;
        if !s.multi && !commit {
            // SPSC: nothing of the claim is visible; the next claim reuses it.
            return;
        }
        let size = c.total - c.start.wrapping_sub(c.pos);
        let off = s.off(c.start);
        if commit {
            s.write_meta(off, c.len, ty);
        } else {
            s.write_meta(off, (size - RECORD_HEADER_LEN as u64) as u32, PADDING_TYPE);
        }
        let ord = if s.multi {
            // Release: pairs with the Acquire load of the stamp in
            // `Consumer::poll_record`; publishes the header and payload.
            Ordering::Release
        } else {
            // Relaxed: SPSC publishes with the Release store of tail below.
            Ordering::Relaxed
        };
        s.stamp(off).store(super::stamp_of(c.start), ord);
        let gap = c.start.wrapping_sub(c.pos);
        if gap >= RECORD_HEADER_LEN as u64 {
            // The wrap padding goes last: a consumer that sees it also sees
            // the record behind it.
            let poff = s.off(c.pos);
            s.write_meta(poff, (gap - RECORD_HEADER_LEN as u64) as u32, PADDING_TYPE);
            s.stamp(poff).store(super::stamp_of(c.pos), ord);
        }
        if !s.multi {
            self.tail = c.pos.wrapping_add(c.total);
        }
        if commit {
            self.sent = self.sent.wrapping_add(1);
            self.sent_bytes = self.sent_bytes.wrapping_add(u64::from(c.len));
            if hold {
                self.held += 1;
                return;
            }
        }
        self.hand_over();
    }

    /// Hands every record written so far to the consumer side: stores
    /// `tail` (SPSC), the counters, and wakes a sleeping consumer.
    #[inline]
    fn hand_over(&mut self) {
        let s = &self.shared;
        let ctl = s.ctl();
        if !s.multi {
            // Release: pairs with the consumer's Acquire load of tail in
            // `poll_record`; publishes the records written before it
            // (held ones included).
            ctl.tail.store(self.tail, Ordering::Release);
        }
        let words = &s.entry(self.entry).words;
        // Relaxed: statistics, written only by this entry's holder.
        words[WORD_SENT].store(self.sent, Ordering::Relaxed);
        words[WORD_SENT_BYTES].store(self.sent_bytes, Ordering::Relaxed);
        self.held = 0;
        ctl.not_empty.wake();
    }

    /// Hands the records committed with [`Grant::commit_held`] to the
    /// consumer: one store of `tail` (SPSC), one wake-up. Does nothing
    /// when none is held. See the module docs.
    #[inline]
    pub fn flush(&mut self) {
        if self.held > 0 {
            self.hand_over();
        }
    }

    /// Number of messages committed with [`Grant::commit_held`] and not
    /// yet flushed.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Claims room for a `len`-byte message if there is some now.
    ///
    /// `Full` when there is no room, `TooLarge` when `len` exceeds the
    /// maximum, `Disconnected`/`PeerDied` when the consumer is gone,
    /// `Corrupt` when the shared indices are inconsistent.
    pub fn try_claim(&mut self, len: usize) -> std::result::Result<Grant<'_>, TrySendError<()>> {
        if let Err((len, max)) = self.check_len(len) {
            return Err(TrySendError::TooLarge { value: (), len, max });
        }
        let c = match self.poll_claim(len, false) {
            Err(TrySendError::Full(())) => {
                // Our own held records may be what fills the ring.
                self.flush();
                let exp = self.due();
                self.poll_claim(len, exp)?
            }
            r => r?,
        };
        Ok(Grant { p: self, c, ty: 0 })
    }

    /// Claims room for a `len`-byte message, waiting as long as it takes.
    #[inline]
    pub fn claim(&mut self, len: usize) -> std::result::Result<Grant<'_>, SendError<()>> {
        // SPSC fast path (room known, consumer attached), inlined; anything
        // else takes the general path, which polls again.
        if !self.shared.multi && self.check_len(len).is_ok() {
            if let Ok(c) = self.poll_claim_spsc(len, false) {
                return Ok(Grant { p: self, c, ty: 0 });
            }
        }
        self.claim_until(len, None).map_err(no_timeout)
    }

    /// Claims room for a `len`-byte message, waiting at most `timeout`.
    pub fn claim_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> std::result::Result<Grant<'_>, SendTimeoutError<()>> {
        self.claim_until(len, deadline(timeout))
    }

    fn claim_until(
        &mut self,
        len: usize,
        deadline: Option<Instant>,
    ) -> std::result::Result<Grant<'_>, SendTimeoutError<()>> {
        if let Err((len, max)) = self.check_len(len) {
            return Err(SendTimeoutError::TooLarge { value: (), len, max });
        }
        let c = match self.poll_claim(len, false) {
            Ok(c) => c,
            Err(TrySendError::Full(())) => {
                // Never wait for room that our own held records take.
                self.flush();
                let shared = self.shared.clone();
                let cfg = self.wait;
                let r = wait::block_on(&shared.ctl().not_full, &cfg, deadline, |exp| {
                    match self.poll_claim(len, exp) {
                        Err(TrySendError::Full(())) => None,
                        r => Some(r),
                    }
                });
                match r {
                    None => return Err(SendTimeoutError::Timeout(())),
                    Some(r) => r.map_err(TrySendError::into_send_timeout)?,
                }
            }
            Err(e) => return Err(e.into_send_timeout()),
        };
        Ok(Grant { p: self, c, ty: 0 })
    }

    /// Copies `msg` into the ring if there is room now (type word 0).
    pub fn try_send(&mut self, msg: &[u8]) -> std::result::Result<(), TrySendError<()>> {
        self.try_send_with_type(0, msg)
    }

    /// Copies `msg` into the ring with the type word `ty` (any value but
    /// [`PADDING_TYPE`]), if there is room now.
    pub fn try_send_with_type(&mut self, ty: u32, msg: &[u8]) -> std::result::Result<(), TrySendError<()>> {
        let mut g = self.try_claim(msg.len())?;
        g.copy_from_slice(msg);
        g.set_type(ty);
        g.commit();
        Ok(())
    }

    /// Copies `msg` into the ring, waiting for room as long as it takes.
    #[inline]
    pub fn send(&mut self, msg: &[u8]) -> std::result::Result<(), SendError<()>> {
        self.send_with_type(0, msg)
    }

    /// [`send`](Producer::send) with a type word.
    #[inline]
    pub fn send_with_type(&mut self, ty: u32, msg: &[u8]) -> std::result::Result<(), SendError<()>> {
        self.send_until(ty, msg, None).map_err(no_timeout)
    }

    /// Copies `msg` into the ring, waiting at most `timeout` for room.
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> std::result::Result<(), SendTimeoutError<()>> {
        self.send_until(0, msg, deadline(timeout))
    }

    /// [`send_timeout`](Producer::send_timeout) with a type word.
    pub fn send_timeout_with_type(
        &mut self,
        ty: u32,
        msg: &[u8],
        timeout: Duration,
    ) -> std::result::Result<(), SendTimeoutError<()>> {
        self.send_until(ty, msg, deadline(timeout))
    }

    #[inline]
    fn send_until(
        &mut self,
        ty: u32,
        msg: &[u8],
        deadline: Option<Instant>,
    ) -> std::result::Result<(), SendTimeoutError<()>> {
        // SPSC fast path, as in `claim`; anything else takes the general
        // path, which polls again.
        let fast = if !self.shared.multi && self.check_len(msg.len()).is_ok() {
            self.poll_claim_spsc(msg.len(), false).ok()
        } else {
            None
        };
        let mut g = match fast {
            Some(c) => Grant { p: self, c, ty: 0 },
            None => self.claim_until(msg.len(), deadline)?,
        };
        g.copy_from_slice(msg);
        g.set_type(ty);
        g.commit();
        Ok(())
    }
}

fn no_timeout(e: SendTimeoutError<()>) -> SendError<()> {
    match e {
        SendTimeoutError::Timeout(()) => unreachable!("no deadline"),
        SendTimeoutError::Disconnected(()) => SendError::Disconnected(()),
        SendTimeoutError::PeerDied { pid, .. } => SendError::PeerDied { value: (), pid },
        SendTimeoutError::Corrupt { corruption, .. } => SendError::Corrupt { value: (), corruption },
        SendTimeoutError::TooLarge { len, max, .. } => SendError::TooLarge { value: (), len, max },
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.flush();
        endpoint::release(self.shared.entry(self.entry), self.token);
        self.shared.ctl().not_empty.wake_all();
    }
}

/// Room for one message, claimed in the ring; derefs to the payload bytes.
///
/// The bytes hold whatever was there before. [`commit`](Grant::commit)
/// publishes the message; dropping the grant (or [`abort`](Grant::abort))
/// publishes nothing: the space becomes padding that the consumer skips.
///
/// ```
/// let ch = shmlane::bytes::Channel::in_process(256)?;
/// let (mut tx, mut rx) = (ch.producer()?, ch.consumer()?);
/// let mut g = tx.try_claim(3).unwrap();
/// g.copy_from_slice(b"abc");
/// g.abort(); // never delivered
/// let mut g = tx.try_claim(2).unwrap();
/// g.copy_from_slice(b"ok");
/// g.commit();
/// assert_eq!(&rx.try_read().unwrap()[..], b"ok");
/// # Ok::<(), shmlane::Error>(())
/// ```
pub struct Grant<'a> {
    p: &'a mut Producer,
    c: Claim,
    ty: u32,
}

impl std::fmt::Debug for Grant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Grant")
            .field("len", &self.c.len)
            .field("type", &self.ty)
            .field("position", &self.c.start)
            .finish()
    }
}

impl Grant<'_> {
    /// Sets the record's type word, which the receiver reads with
    /// [`Record::msg_type`](super::Record::msg_type). Default 0.
    ///
    /// # Panics
    /// If `ty` is [`PADDING_TYPE`], which marks padding.
    pub fn set_type(&mut self, ty: u32) {
        assert!(ty != PADDING_TYPE, "type word {ty:#x} is reserved for padding");
        self.ty = ty;
    }

    /// Publishes the message (and every held one before it).
    #[inline]
    pub fn commit(self) {
        let mut me = std::mem::ManuallyDrop::new(self);
        let (c, ty) = (me.c, me.ty);
        me.p.publish(&c, ty, true, false);
    }

    /// Commits the message but holds back its hand-off until
    /// [`Producer::flush`] (or the next plain commit, a claim that finds
    /// the ring full, or the producer's drop): SPSC consumers do not see
    /// it before then; other kinds see it but are not woken for it. For
    /// streams of small messages: one wake-up per batch, still one record
    /// per message. See the module docs.
    ///
    /// ```
    /// let ch = shmlane::bytes::Channel::in_process(1024)?;
    /// let (mut tx, mut rx) = (ch.producer()?, ch.consumer()?);
    /// for line in [&b"a"[..], b"b"] {
    ///     let mut g = tx.try_claim(line.len()).unwrap();
    ///     g.copy_from_slice(line);
    ///     g.commit_held();
    /// }
    /// assert!(rx.try_read().is_err()); // SPSC: not handed over yet
    /// tx.flush();
    /// assert_eq!(rx.try_read_batch(8).unwrap().len(), 2);
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    #[inline]
    pub fn commit_held(self) {
        let mut me = std::mem::ManuallyDrop::new(self);
        let (c, ty) = (me.c, me.ty);
        me.p.publish(&c, ty, true, true);
    }

    /// Gives the space up; the same as dropping the grant.
    pub fn abort(self) {}

    #[inline]
    fn payload(&self) -> (*mut u8, usize) {
        let off = self.p.shared.off(self.c.start) + RECORD_HEADER_LEN;
        (self.p.shared.byte_ptr(off), self.c.len as usize)
    }

    /// Simulates the death of this producer's process between claim and
    /// commit (tests and loom models): marks the endpoint as held by a dead
    /// process and leaks the claim, which stays unpublished.
    #[doc(hidden)]
    pub fn __crash(self) {
        let me = std::mem::ManuallyDrop::new(self);
        let e = me.p.shared.entry(me.p.entry);
        // A token whose pid no process can have: dead without a system call.
        let dead = endpoint::token(u32::MAX, 1);
        // Release: pairs with the Acquire load in endpoint::holder.
        let _ = e
            .owner
            .compare_exchange(me.p.token, dead, Ordering::Release, Ordering::Relaxed);
    }
}

impl Deref for Grant<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        let (p, len) = self.payload();
        self.p
            .shared
            .touch_read(self.p.shared.off(self.c.start) + RECORD_HEADER_LEN, len);
        // SAFETY: the claim owns [start, start + size) and the record fits
        // before the end of the area (checked when claiming); nobody else
        // touches these bytes until the claim is published.
        unsafe { std::slice::from_raw_parts(p, len) }
    }
}

impl DerefMut for Grant<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        let (p, len) = self.payload();
        self.p
            .shared
            .touch_write(self.p.shared.off(self.c.start) + RECORD_HEADER_LEN, len);
        // SAFETY: as in `deref`; `&mut self` makes the slice unique.
        unsafe { std::slice::from_raw_parts_mut(p, len) }
    }
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        let (c, ty) = (self.c, self.ty);
        self.p.publish(&c, ty, false, false);
    }
}
