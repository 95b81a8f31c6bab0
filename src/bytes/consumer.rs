//! The consumer side: find the next record, validate it, lend it in place,
//! release it.

use super::ring::Shared;
use super::{
    record_size, CLAIM_CONFIRMED, CLAIM_PENDING, CONSUMER_ENTRY, PADDING_TYPE, RECORD_HEADER_LEN, WORD_CLAIM_POS,
    WORD_CLAIM_SIZE, WORD_LOST, WORD_RECEIVED, WORD_RECEIVED_BYTES,
};
use crate::endpoint::{self, Holder};
use crate::error::{Corruption, Error, RecvError, RecvTimeoutError, Result, TryRecvError};
use crate::layout::Role;
use crate::sync::Ordering;
use crate::wait::{self, WaitConfig};
use std::ops::Deref;
use std::time::{Duration, Instant};

/// A validated record: `[start, start + size)`, payload `len` bytes.
#[derive(Debug, Clone, Copy)]
struct Found {
    start: u64,
    size: u64,
    len: u32,
    ty: u32,
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
    /// Next position to read (the shared `head` is a copy of it).
    head: u64,
    /// Last `tail` read from shared memory; never above the real one.
    cached_tail: u64,
    received: u64,
    received_bytes: u64,
    lost: u64,
    wait: WaitConfig,
    next_check: Instant,
    /// Position at which the consumer found an unpublished record, and
    /// since when (MPSC stall detection).
    stall_pos: u64,
    stall_since: Option<Instant>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Consumer")
            .field("name", &self.shared.name)
            .field("kind", &self.shared.kind)
            .field("head", &self.head)
            .field("received", &self.received)
            .finish()
    }
}

fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

fn to_timeout(e: TryRecvError) -> Option<std::result::Result<Found, RecvTimeoutError>> {
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

/// Result of parsing the record at a position without side effects.
enum Parsed {
    /// A message.
    Message(Found),
    /// A padding record; the next record starts at the position given.
    Padding(u64),
    /// The record is not published yet (MPSC).
    Unpublished,
}

impl Consumer {
    pub(super) fn attach(shared: &Shared) -> Result<Consumer> {
        let me = endpoint::self_token();
        let e = shared.entry(CONSUMER_ENTRY);
        endpoint::claim(e, Role::Consumer, me).map_err(|pid| Error::EndpointBusy {
            name: shared.name.to_string(),
            role: Role::Consumer,
            pid,
        })?;
        // Acquire: pairs with the previous consumer's Release store of head.
        let head = shared.ctl().head.load(Ordering::Acquire);
        // Acquire: pairs with the producers' Release store (or CAS) of tail.
        let tail = shared.ctl().tail.load(Ordering::Acquire);
        if let Err(detail) = super::check_indices(head, tail, shared.cap) {
            endpoint::release(e, me);
            return Err(Error::Corrupt {
                name: shared.name.to_string(),
                detail,
            });
        }
        Ok(Consumer {
            shared: shared.clone(),
            token: me,
            head,
            cached_tail: head,
            // Relaxed: our own entry's counters (the claim CAS acquired them).
            received: e.words[WORD_RECEIVED].load(Ordering::Relaxed),
            received_bytes: e.words[WORD_RECEIVED_BYTES].load(Ordering::Relaxed),
            lost: e.words[WORD_LOST].load(Ordering::Relaxed),
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

    /// Corruption at offset `off` of the data area, reported as an offset
    /// in the segment.
    fn corrupt_at(&self, off: usize, what: &'static str) -> TryRecvError {
        TryRecvError::Corrupt {
            corruption: Corruption {
                offset: self.shared.data_offset + off as u64,
                what,
            },
        }
    }

    fn corrupt_index(&self, index: u64, what: &'static str) -> TryRecvError {
        TryRecvError::Corrupt {
            corruption: Corruption { offset: index, what },
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

    /// Parses the record at `pos` (below `tail`) without side effects.
    #[inline]
    fn parse(&self, pos: u64, tail: u64) -> std::result::Result<Parsed, TryRecvError> {
        let s = &self.shared;
        let start = s.normalize(pos);
        if tail.wrapping_sub(start) < RECORD_HEADER_LEN as u64 || tail.wrapping_sub(start) > s.cap {
            return Err(self.corrupt_index(tail, "tail ends inside a record header"));
        }
        let off = s.off(start);
        let stamp = if s.multi {
            // Acquire: pairs with the Release store of the stamp in
            // `Producer::publish`; the header and payload are visible.
            s.stamp(off).load(Ordering::Acquire)
        } else {
            // Relaxed: the Acquire load of tail already made it visible.
            s.stamp(off).load(Ordering::Relaxed)
        };
        if stamp != super::stamp_of(start) {
            if s.multi {
                return Ok(Parsed::Unpublished);
            }
            return Err(self.corrupt_at(off, "record stamp does not match its position"));
        }
        let (len, ty) = s.read_meta(off);
        // Room for this record: to the end of the area and to tail.
        let limit = (s.cap - off as u64).min(tail.wrapping_sub(start));
        if ty == PADDING_TYPE {
            let ext = RECORD_HEADER_LEN as u64 + u64::from(len);
            if !ext.is_multiple_of(super::RECORD_ALIGN as u64) {
                return Err(self.corrupt_at(off + 8, "padding length is not 8-byte aligned"));
            }
            if ext > limit {
                return Err(self.corrupt_at(off + 8, "padding runs past the end of the area or past tail"));
            }
            return Ok(Parsed::Padding(start.wrapping_add(ext)));
        }
        if u64::from(len) > s.max_message {
            return Err(self.corrupt_at(off + 8, "record length exceeds max_message"));
        }
        let size = record_size(len as usize) as u64;
        if size > limit {
            return Err(self.corrupt_at(off + 8, "record runs past the end of the area or past tail"));
        }
        Ok(Parsed::Message(Found { start, size, len, ty }))
    }

    /// Finds the next message: skips padding (releasing it), resolves
    /// claims of dead producers, reports why nothing is readable.
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
                        self.lost = self.lost.wrapping_add(1);
                        // Relaxed: statistics, written only by the consumer.
                        self.shared.entry(CONSUMER_ENTRY).words[WORD_LOST].store(self.lost, Ordering::Relaxed);
                        self.release_to(next);
                    }
                    None => return Err(TryRecvError::Empty),
                },
            }
        }
        Err(self.corrupt_index(self.head, "records do not advance"))
    }

    /// The record at `h` is claimed but not published. After the stall
    /// timeout, finds its claimant in the endpoint table; if it is dead,
    /// returns the end of its claim (to skip it).
    fn stalled(&mut self, h: u64, t: u64, expensive: bool) -> std::result::Result<Option<u64>, TryRecvError> {
        let timeout = self.shared.stall_timeout;
        if !timeout.is_zero() {
            match self.stall_since {
                Some(since) if self.stall_pos == h => {
                    if !expensive || since.elapsed() < timeout {
                        return Ok(None);
                    }
                }
                _ => {
                    self.stall_pos = h;
                    self.stall_since = Some(Instant::now());
                    return Ok(None);
                }
            }
        }
        // Sizes claimed at h by dead producers: confirmed claims, then
        // unconfirmed ones; Err(()) when two of a class disagree.
        let mut confirmed: Option<std::result::Result<u64, ()>> = None;
        let mut pending: Option<std::result::Result<u64, ()>> = None;
        for e in self.shared.producer_entries() {
            // Acquire (both): pair with the Release stores of the claim
            // words in `Producer::poll_claim`.
            let w = e.words[WORD_CLAIM_POS].load(Ordering::Acquire);
            if w & !7 != h || w & 7 == 0 {
                continue;
            }
            let size = e.words[WORD_CLAIM_SIZE].load(Ordering::Acquire);
            match endpoint::holder(e) {
                Holder::Held(tok) if Shared::alive(tok, self.token) => return Ok(None),
                _ => {}
            }
            let class = if w & 7 == CLAIM_CONFIRMED {
                &mut confirmed
            } else if w & 7 == CLAIM_PENDING {
                &mut pending
            } else {
                continue;
            };
            *class = match *class {
                None => Some(Ok(size)),
                Some(Ok(s)) if s == size => Some(Ok(s)),
                _ => Some(Err(())),
            };
        }
        // The claimant may have committed while we looked (a claim word
        // newer than its commit makes the commit visible).
        if !matches!(self.parse(h, t)?, Parsed::Unpublished) {
            return Ok(None);
        }
        let size = match (confirmed, pending) {
            (Some(Ok(s)), _) | (None, Some(Ok(s))) => s,
            (Some(Err(())), _) | (None, Some(Err(()))) => {
                return Err(self.corrupt_index(h, "dead producers left conflicting claims at head"))
            }
            (None, None) => return Err(self.corrupt_index(h, "space claimed at head has no claimant")),
        };
        if size < RECORD_HEADER_LEN as u64
            || !size.is_multiple_of(super::RECORD_ALIGN as u64)
            || size > t.wrapping_sub(h)
        {
            return Err(self.corrupt_index(h, "a dead producer's claim has an impossible size"));
        }
        Ok(Some(h.wrapping_add(size)))
    }

    /// Lends the oldest message in place if there is one; dropping the
    /// [`Record`] releases its space.
    ///
    /// `Empty` when nothing is readable; once the ring is drained,
    /// `Disconnected` if every producer detached cleanly or `PeerDied` if
    /// one died (checked at most once per check interval); `Corrupt` when
    /// a header or index is inconsistent.
    #[inline]
    pub fn try_read(&mut self) -> std::result::Result<Record<'_>, TryRecvError> {
        let f = match self.poll_record(false) {
            Err(TryRecvError::Empty) => {
                let exp = self.due();
                self.poll_record(exp)?
            }
            r => r?,
        };
        Ok(self.lend(f))
    }

    fn lend(&mut self, f: Found) -> Record<'_> {
        let off = self.shared.off(f.start) + RECORD_HEADER_LEN;
        self.shared.touch_read(off, f.len as usize);
        Record { c: self, f }
    }

    /// Lends the oldest message, waiting as long as it takes.
    pub fn read(&mut self) -> std::result::Result<Record<'_>, RecvError> {
        let f = self.wait_record(None).map_err(no_timeout)?;
        Ok(self.lend(f))
    }

    /// Lends the oldest message, waiting at most `timeout`.
    pub fn read_timeout(&mut self, timeout: Duration) -> std::result::Result<Record<'_>, RecvTimeoutError> {
        let f = self.wait_record(deadline(timeout))?;
        Ok(self.lend(f))
    }

    fn wait_record(&mut self, deadline: Option<Instant>) -> std::result::Result<Found, RecvTimeoutError> {
        match self.poll_record(false) {
            Ok(f) => return Ok(f),
            Err(TryRecvError::Empty) => {}
            Err(e) => return to_timeout(e).expect("not empty"),
        }
        let shared = self.shared.clone();
        let cfg = self.wait;
        wait::block_on(&shared.ctl().not_empty, &cfg, deadline, |exp| {
            match self.poll_record(exp) {
                Ok(f) => Some(Ok(f)),
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
    /// dropping the [`Batch`] releases them all with one update of `head`.
    pub fn try_read_batch(&mut self, max: usize) -> std::result::Result<Batch<'_>, TryRecvError> {
        let f = match self.poll_record(false) {
            Err(TryRecvError::Empty) => {
                let exp = self.due();
                self.poll_record(exp)?
            }
            r => r?,
        };
        Ok(self.batch_from(f, max))
    }

    /// Like [`try_read_batch`](Consumer::try_read_batch), waiting as long
    /// as it takes for the first message.
    pub fn read_batch(&mut self, max: usize) -> std::result::Result<Batch<'_>, RecvError> {
        let f = self.wait_record(None).map_err(no_timeout)?;
        Ok(self.batch_from(f, max))
    }

    /// Like [`try_read_batch`](Consumer::try_read_batch), waiting at most
    /// `timeout` for the first message.
    pub fn read_batch_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> std::result::Result<Batch<'_>, RecvTimeoutError> {
        let f = self.wait_record(deadline(timeout))?;
        Ok(self.batch_from(f, max))
    }

    /// Extends a batch from its first message over every following
    /// published one (up to `max`). Stops, without error, at anything it
    /// cannot deliver: the next `try_read` reports it.
    fn batch_from(&mut self, first: Found, max: usize) -> Batch<'_> {
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
        }
    }

    /// Whether a producer is attached and alive right now (system calls).
    pub fn is_producer_alive(&self) -> bool {
        self.shared
            .producer_entries()
            .iter()
            .any(|e| matches!(endpoint::holder(e), Holder::Held(t) if Shared::alive(t, self.token)))
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        endpoint::release(self.shared.entry(CONSUMER_ENTRY), self.token);
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
    fn deref(&self) -> &[u8] {
        let off = self.c.shared.off(self.f.start) + RECORD_HEADER_LEN;
        // SAFETY: validated by `parse`: the record is published and lies
        // inside the area; the producers do not reuse it before the Release
        // store of head in `release_to`, which happens after the borrow.
        unsafe { std::slice::from_raw_parts(self.c.shared.byte_ptr(off), self.f.len as usize) }
    }
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        let c = &mut *self.c;
        c.received = c.received.wrapping_add(1);
        c.received_bytes = c.received_bytes.wrapping_add(u64::from(self.f.len));
        let words = &c.shared.entry(CONSUMER_ENTRY).words;
        // Relaxed: statistics, written only by the consumer.
        words[WORD_RECEIVED].store(c.received, Ordering::Relaxed);
        words[WORD_RECEIVED_BYTES].store(c.received_bytes, Ordering::Relaxed);
        c.release_to(self.f.start.wrapping_add(self.f.size));
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
        let c = &mut *self.c;
        c.received = c.received.wrapping_add(self.count as u64);
        c.received_bytes = c.received_bytes.wrapping_add(self.bytes);
        let words = &c.shared.entry(CONSUMER_ENTRY).words;
        // Relaxed: statistics, written only by the consumer.
        words[WORD_RECEIVED].store(c.received, Ordering::Relaxed);
        words[WORD_RECEIVED_BYTES].store(c.received_bytes, Ordering::Relaxed);
        c.release_to(self.end);
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
            match self.c.parse(self.pos, self.end) {
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
