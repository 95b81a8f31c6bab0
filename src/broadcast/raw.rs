//! Broadcast of fixed-size elements whose type is known only by its size
//! and alignment, chosen at run time: the C ABI's view of
//! [`Kind::Broadcast`](crate::layout::Kind::Broadcast). The ring code is
//! the typed channel's ([`super::fixed`]'s `Writer` and `Reader`, on
//! elements as bytes); only where the bytes come from and go to differs.
//!
//! A raw channel shares segments with [`Channel<T>`](super::Channel) for
//! any `T: Pod` of the same size and alignment, in both directions: the
//! slot layout depends on the size and alignment alone, a raw creator
//! records no type name (so a typed opener checks size and alignment
//! only), and a raw opener checks the element size it is given against
//! the segment's ([`Error::TypeMismatch`] when it differs).

use super::core::{deadline, Stats, SubscriberStats};
use super::fixed::{expect, Builder, Got, Reader, Shared, Stop, Writer};
use super::{Policy, RecvTimeoutError, TryRecvError};
use crate::error::{Error, Result, SendTimeoutError, TrySendError};
use crate::layout::TypeFingerprint;
use crate::segment::Segment;
use crate::wait::WaitConfig;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

/// A broadcast channel of elements of a size chosen at run time (see the
/// module docs), not attached. Cheap to clone.
///
/// Elements are byte slices of exactly [`elem_size`](RawChannel::elem_size)
/// bytes; batches are byte slices holding whole elements back to back.
///
/// ```
/// use shmlane::broadcast::{Builder, Policy, RawChannel, TryRecvError};
/// let ch = RawChannel::in_process(&Builder::new().capacity(4).policy(Policy::Overwrite), 16, 8)?;
/// let mut tx = ch.publisher()?;
/// let mut rx = ch.subscribe()?;
/// tx.try_send(&[1u8; 16]).unwrap();
/// let mut out = [0u8; 16];
/// rx.try_recv(&mut out).unwrap();
/// assert_eq!(out, [1u8; 16]);
/// for k in 0..6u8 {
///     tx.try_send(&[k; 16]).unwrap();
/// }
/// assert_eq!(rx.try_recv(&mut out), Err(TryRecvError::Lagged(2)));
/// rx.try_recv(&mut out).unwrap();
/// assert_eq!(out, [2u8; 16]); // the oldest still in the ring
/// # Ok::<(), shmlane::Error>(())
/// ```
#[derive(Clone)]
pub struct RawChannel {
    sh: Shared,
    segment: Option<Arc<Segment>>,
    elem_size: usize,
    elem_align: usize,
}

impl std::fmt::Debug for RawChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::RawChannel")
            .field("name", &self.sh.name)
            .field("capacity", &self.sh.cap)
            .field("policy", &self.sh.policy)
            .field("elem_size", &self.elem_size)
            .finish()
    }
}

impl RawChannel {
    /// Creates a named channel of `builder`'s capacity and policy of
    /// `elem_size`-byte elements aligned to `elem_align` (a power of two up
    /// to 128; `elem_size` a non-zero multiple of it).
    pub fn create(builder: &Builder, name: &str, elem_size: usize, elem_align: usize) -> Result<RawChannel> {
        let spec = builder.spec_of(elem_size, elem_align, untagged(elem_size, elem_align))?;
        let seg = Segment::create(name, &spec, &builder.create, |_| {})?;
        RawChannel::wrap(seg, None)
    }

    /// Creates an anonymous channel in a sealed memfd; see
    /// [`Builder::anonymous`].
    pub fn anonymous(builder: &Builder, elem_size: usize, elem_align: usize) -> Result<RawChannel> {
        let spec = builder.spec_of(elem_size, elem_align, untagged(elem_size, elem_align))?;
        let seg = Segment::create_anonymous_with("broadcast", &spec, &builder.create, |_| {})?;
        RawChannel::wrap(seg, None)
    }

    /// An in-process channel on the heap (tests, threads, miri).
    pub fn in_process(builder: &Builder, elem_size: usize, elem_align: usize) -> Result<RawChannel> {
        Ok(RawChannel {
            sh: builder.heap(elem_size, elem_align)?,
            segment: None,
            elem_size,
            elem_align,
        })
    }

    /// Opens a named broadcast channel of any element type; with
    /// `elem_size`, fails with [`Error::TypeMismatch`] unless its elements
    /// have that size.
    pub fn open(builder: &Builder, name: &str, elem_size: Option<usize>) -> Result<RawChannel> {
        let seg = Segment::open(name, &expect(None), &builder.open)?;
        RawChannel::wrap(seg, elem_size)
    }

    /// Opens an anonymous channel from its file descriptor; see
    /// [`RawChannel::open`].
    pub fn from_fd(builder: &Builder, fd: OwnedFd, elem_size: Option<usize>) -> Result<RawChannel> {
        let seg = Segment::open_fd(fd, &expect(None), &builder.open)?;
        RawChannel::wrap(seg, elem_size)
    }

    fn wrap(seg: Segment, want: Option<usize>) -> Result<RawChannel> {
        let h = *seg.header();
        let (size, align) = (h.elem_size as usize, h.elem_align as usize);
        if let Some(w) = want {
            if w != size {
                return Err(Error::TypeMismatch {
                    name: seg.name().to_owned(),
                    found: TypeFingerprint {
                        size: h.elem_size,
                        align: h.elem_align,
                        tag: h.type_tag,
                    },
                    expected: TypeFingerprint::untagged(u32::try_from(w).unwrap_or(u32::MAX), h.elem_align),
                });
            }
        }
        let seg = Arc::new(seg);
        Ok(RawChannel {
            // Validates the slot geometry against the size and alignment.
            sh: Shared::from_segment(seg.clone(), size, align)?,
            segment: Some(seg),
            elem_size: size,
            elem_align: align,
        })
    }

    /// Bytes per element.
    pub fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Alignment of the elements in the segment.
    pub fn elem_align(&self) -> usize {
        self.elem_align
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

    /// The segment, unless in-process.
    pub fn segment(&self) -> Option<&Segment> {
        self.segment.as_deref()
    }

    /// Counters; see [`Channel::stats`](super::Channel::stats).
    pub fn stats(&self) -> Stats {
        self.sh.stats()
    }

    /// Every attached subscriber's position, lag and losses; see
    /// [`Channel::subscribers`](super::Channel::subscribers).
    pub fn subscribers(&self) -> Vec<SubscriberStats> {
        self.sh.subscribers()
    }

    /// Attaches the publisher; see [`Channel::publisher`](super::Channel::publisher).
    pub fn publisher(&self) -> Result<RawPublisher> {
        Ok(RawPublisher {
            w: Writer::attach(&self.sh)?,
            elem: self.elem_size,
        })
    }

    /// Attaches a subscriber from the newest message; see
    /// [`Channel::subscribe`](super::Channel::subscribe).
    pub fn subscribe(&self) -> Result<RawSubscriber> {
        self.join(false)
    }

    /// Attaches a subscriber from the oldest message still in the ring.
    pub fn subscribe_from_oldest(&self) -> Result<RawSubscriber> {
        self.join(true)
    }

    fn join(&self, oldest: bool) -> Result<RawSubscriber> {
        Ok(RawSubscriber {
            r: Reader::attach(&self.sh, oldest)?,
            elem: self.elem_size,
            buf: Vec::new(),
        })
    }
}

fn untagged(size: usize, align: usize) -> TypeFingerprint {
    // Out-of-range values are refused by `spec_of` before this is stored.
    TypeFingerprint::untagged(
        u32::try_from(size).unwrap_or(u32::MAX),
        u32::try_from(align).unwrap_or(u32::MAX),
    )
}

/// The publishing endpoint of a [`RawChannel`]. `Send`, not `Clone`.
pub struct RawPublisher {
    w: Writer,
    elem: usize,
}

impl std::fmt::Debug for RawPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::RawPublisher")
            .field("name", &self.w.sh.name)
            .field("published", &self.w.published())
            .field("elem_size", &self.elem)
            .finish()
    }
}

impl RawPublisher {
    /// Bytes per element.
    pub fn elem_size(&self) -> usize {
        self.elem
    }

    /// Sets how blocking calls wait; see [`Publisher::set_wait_config`](super::Publisher::set_wait_config).
    pub fn set_wait_config(&mut self, cfg: WaitConfig) {
        self.w.wait = cfg;
    }

    /// Messages published so far.
    pub fn published(&self) -> u64 {
        self.w.published()
    }

    /// # Panics
    /// If `len` differs from the element size.
    #[inline(always)]
    fn check(&self, len: usize) {
        assert_eq!(
            len, self.elem,
            "element of {len} bytes in a ring of {}-byte elements",
            self.elem
        );
    }

    /// Publishes one element if there is room now; errors as for
    /// [`Publisher::try_send`](super::Publisher::try_send).
    ///
    /// # Panics
    /// If `elem.len()` differs from the element size.
    #[inline]
    pub fn try_send(&mut self, elem: &[u8]) -> std::result::Result<(), TrySendError<()>> {
        self.check(elem.len());
        match self.w.try_put(elem) {
            Ok(()) => Ok(()),
            Err(Stop::Wait) => Err(TrySendError::Full(())),
            Err(Stop::Closed(c)) => Err(c.try_send(())),
        }
    }

    /// Publishes one element, waiting for room up to `timeout` (as long as
    /// it takes when `None`).
    ///
    /// # Panics
    /// If `elem.len()` differs from the element size.
    pub fn send_timeout(
        &mut self,
        elem: &[u8],
        timeout: Option<Duration>,
    ) -> std::result::Result<(), SendTimeoutError<()>> {
        self.check(elem.len());
        match self.w.put(elem, false) {
            Ok(()) => return Ok(()),
            Err(Stop::Wait) => {}
            Err(Stop::Closed(c)) => return Err(c.send_timeout(())),
        }
        match self.w.put_until(elem, timeout.and_then(deadline)) {
            Ok(true) => Ok(()),
            Ok(false) => Err(SendTimeoutError::Timeout(())),
            Err(c) => Err(c.send_timeout(())),
        }
    }

    /// Number of whole elements in `len` bytes.
    ///
    /// # Panics
    /// If `len` is 0 or not a whole number of elements.
    fn whole(&self, len: usize) -> usize {
        let e = self.elem;
        assert!(
            len > 0 && len.is_multiple_of(e),
            "{len} bytes are not whole {e}-byte elements"
        );
        len / e
    }

    /// Publishes as many of the elements in `elems` (whole elements back to
    /// back) as there is room for, at least one, with one `tail` update;
    /// returns how many. `Full` when there is room for none.
    ///
    /// # Panics
    /// If `elems` is empty or not a whole number of elements.
    pub fn try_send_slice(&mut self, elems: &[u8]) -> std::result::Result<usize, TrySendError<()>> {
        let (n, e) = (self.whole(elems.len()), self.elem);
        let at = |k: usize| &elems[k * e..(k + 1) * e];
        let r = match self.w.put_batch(n, false, at) {
            Err(Stop::Wait) => {
                let exp = self.w.pacer.due(self.w.wait.check_interval);
                self.w.put_batch(n, exp, at)
            }
            r => r,
        };
        match r {
            Ok(k) => Ok(k),
            Err(Stop::Wait) => Err(TrySendError::Full(())),
            Err(Stop::Closed(c)) => Err(c.try_send(())),
        }
    }

    /// Like [`try_send_slice`](RawPublisher::try_send_slice), waiting up to
    /// `timeout` (as long as it takes when `None`) for room for the first.
    ///
    /// # Panics
    /// As for `try_send_slice`.
    pub fn send_slice_timeout(
        &mut self,
        elems: &[u8],
        timeout: Option<Duration>,
    ) -> std::result::Result<usize, SendTimeoutError<()>> {
        let (n, e) = (self.whole(elems.len()), self.elem);
        let at = |k: usize| &elems[k * e..(k + 1) * e];
        match self.w.put_batch(n, false, at) {
            Ok(k) => return Ok(k),
            Err(Stop::Wait) => {}
            Err(Stop::Closed(c)) => return Err(c.send_timeout(())),
        }
        match self.w.put_batch_until(n, timeout.and_then(deadline), at) {
            Ok(0) => Err(SendTimeoutError::Timeout(())),
            Ok(k) => Ok(k),
            Err(c) => Err(c.send_timeout(())),
        }
    }
}

/// A subscribing endpoint of a [`RawChannel`]. `Send`, not `Clone`.
pub struct RawSubscriber {
    r: Reader,
    elem: usize,
    /// Copies handed out by [`RawSubscriber::try_read`] when the element
    /// cannot be read in place (allocated on first use, `elem` bytes).
    buf: Vec<u8>,
}

impl std::fmt::Debug for RawSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::RawSubscriber")
            .field("name", &self.r.sh.name)
            .field("endpoint", &self.r.index)
            .field("position", &self.r.position())
            .field("elem_size", &self.elem)
            .finish()
    }
}

impl RawSubscriber {
    /// Bytes per element.
    pub fn elem_size(&self) -> usize {
        self.elem
    }

    /// Sets how blocking calls wait; see [`Subscriber::set_wait_config`](super::Subscriber::set_wait_config).
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

    /// # Panics
    /// If `len` differs from the element size.
    #[inline(always)]
    fn check(&self, len: usize) {
        assert_eq!(len, self.elem, "buffer of {len} bytes for {}-byte elements", self.elem);
    }

    /// Copies the next message into `out` if there is one; errors (among
    /// them `Lagged(n)`) as for [`Subscriber::try_recv`](super::Subscriber::try_recv).
    ///
    /// # Panics
    /// If `out.len()` differs from the element size.
    #[inline]
    pub fn try_recv(&mut self, out: &mut [u8]) -> std::result::Result<(), TryRecvError> {
        self.check(out.len());
        self.r.try_poll(false, out)?;
        let p = self.r.position();
        self.r.advance(p);
        Ok(())
    }

    /// Copies the next message into `out`, waiting up to `timeout` (as long
    /// as it takes when `None`).
    ///
    /// # Panics
    /// If `out.len()` differs from the element size.
    pub fn recv_timeout(
        &mut self,
        out: &mut [u8],
        timeout: Option<Duration>,
    ) -> std::result::Result<(), RecvTimeoutError> {
        self.check(out.len());
        match self.r.poll(false, false, out) {
            Ok(_) => {}
            Err(TryRecvError::Empty) => {
                self.r.poll_until(timeout.and_then(deadline), false, out)?;
            }
            Err(e) => return Err(e.into_timeout().expect("not empty")),
        }
        let p = self.r.position();
        self.r.advance(p);
        Ok(())
    }

    fn guard(&mut self, got: Got) -> RawReadGuard<'_> {
        let pos = self.r.position();
        let ptr = match got {
            Got::Copied => None,
            Got::Ref(p) => Some(p),
        };
        RawReadGuard { sub: self, pos, ptr }
    }

    /// The next message, in place under Block (a validated copy in this
    /// subscriber's buffer otherwise: under Overwrite, for messages from
    /// before a subscriber from the oldest joined, or after an eviction);
    /// the subscriber moves past it when the guard drops. Errors as for
    /// [`try_recv`](RawSubscriber::try_recv).
    pub fn try_read(&mut self) -> std::result::Result<RawReadGuard<'_>, TryRecvError> {
        self.buf.resize(self.elem, 0);
        let got = self.r.try_poll(true, &mut self.buf)?;
        Ok(self.guard(got))
    }

    /// Like [`try_read`](RawSubscriber::try_read), waiting up to `timeout`
    /// (as long as it takes when `None`).
    pub fn read_timeout(
        &mut self,
        timeout: Option<Duration>,
    ) -> std::result::Result<RawReadGuard<'_>, RecvTimeoutError> {
        self.buf.resize(self.elem, 0);
        let got = match self.r.poll(false, true, &mut self.buf) {
            Ok(g) => g,
            Err(TryRecvError::Empty) => self.r.poll_until(timeout.and_then(deadline), true, &mut self.buf)?,
            Err(e) => return Err(e.into_timeout().expect("not empty")),
        };
        Ok(self.guard(got))
    }
}

/// The next message of a [`RawSubscriber`], borrowed; dropping it moves
/// the subscriber past the message.
pub struct RawReadGuard<'a> {
    sub: &'a mut RawSubscriber,
    pos: u64,
    /// The element in place, or `None` for the copy in `sub.buf`.
    ptr: Option<*const u8>,
}

impl RawReadGuard<'_> {
    /// Position of the message.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Whether the message is read in place (else it is a validated copy).
    pub fn in_place(&self) -> bool {
        self.ptr.is_some()
    }

    /// The element's `elem_size` bytes (in the shared segment when
    /// [`in_place`](RawReadGuard::in_place)), valid while the guard lives.
    pub fn as_slice(&self) -> &[u8] {
        match self.ptr {
            // SAFETY: made only under Block for a position at or after our
            // join, whose seq said "published"; our gate stays at this
            // position until the guard drops, so the publisher does not
            // write the slot meanwhile (see `ReadGuard`'s Deref); the slot
            // holds `elem_size` bytes of the element from this pointer
            // (inside the data area, kept alive by `sub`'s ring).
            Some(p) => unsafe { std::slice::from_raw_parts(p, self.sub.elem) },
            None => &self.sub.buf[..self.sub.elem],
        }
    }
}

impl std::ops::Deref for RawReadGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Drop for RawReadGuard<'_> {
    fn drop(&mut self) {
        self.sub.r.advance(self.pos);
    }
}

impl std::fmt::Debug for RawReadGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("broadcast::RawReadGuard")
            .field("position", &self.pos)
            .field("in_place", &self.in_place())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::broadcast::Channel;
    use crate::wait::WaitStrategy;

    fn fast() -> WaitConfig {
        WaitConfig {
            strategy: WaitStrategy::Park,
            check_interval: Duration::from_millis(1),
        }
    }

    fn elem(v: u64) -> [u8; 16] {
        let mut e = [0u8; 16];
        e[..8].copy_from_slice(&v.to_ne_bytes());
        e[8..].copy_from_slice(&(!v).to_ne_bytes());
        e
    }

    fn ring(cap: usize, policy: Policy) -> RawChannel {
        RawChannel::in_process(&Builder::new().capacity(cap).policy(policy).endpoints(4), 16, 8).unwrap()
    }

    #[test]
    fn block_delivers_everything_and_reads_in_place() {
        let ch = ring(4, Policy::Block);
        assert_eq!((ch.elem_size(), ch.elem_align(), ch.capacity()), (16, 8, 4));
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        let mut b = ch.subscribe().unwrap();
        let mut out = [0u8; 16];
        assert_eq!(a.try_recv(&mut out), Err(TryRecvError::Empty));
        assert_eq!(
            a.recv_timeout(&mut out, Some(Duration::from_millis(2))),
            Err(RecvTimeoutError::Timeout)
        );
        for i in 0..4 {
            tx.try_send(&elem(i)).unwrap();
        }
        assert!(tx.try_send(&elem(9)).unwrap_err().is_full());
        assert!(matches!(
            tx.send_timeout(&elem(9), Some(Duration::from_millis(2))),
            Err(SendTimeoutError::Timeout(()))
        ));
        for i in 0..4 {
            a.try_recv(&mut out).unwrap();
            assert_eq!(out, elem(i));
        }
        {
            let g = b.try_read().unwrap();
            assert!(g.in_place());
            assert_eq!(g.position(), 0);
            assert_eq!(&*g, &elem(0));
            assert_eq!(g.as_slice().as_ptr() as usize % 8, 0);
            // The guard holds the slot.
            assert!(tx.try_send(&elem(4)).unwrap_err().is_full());
        }
        tx.try_send(&elem(4)).unwrap();
        let all: Vec<u8> = (5..8).flat_map(elem).collect();
        // `b` (at 1) holds the ring: room for none.
        assert!(tx.try_send_slice(&all).unwrap_err().is_full());
        for i in 1..4 {
            b.recv_timeout(&mut out, None).unwrap();
            assert_eq!(out, elem(i));
        }
        assert_eq!(tx.try_send_slice(&all), Ok(3));
        assert_eq!(
            tx.send_slice_timeout(&all[..16], Some(Duration::ZERO)),
            Err(SendTimeoutError::Timeout(()))
        );
        for sub in [&mut a, &mut b] {
            for i in 4..8 {
                let g = sub.read_timeout(Some(Duration::from_secs(5))).unwrap();
                assert_eq!(&*g, &elem(i));
            }
        }
        assert_eq!(tx.published(), 8);
        drop(tx);
        assert_eq!(a.try_recv(&mut out), Err(TryRecvError::Disconnected));
        assert_eq!(b.recv_timeout(&mut out, None), Err(RecvTimeoutError::Disconnected));
        let s = ch.stats();
        assert_eq!((s.published, s.subscribers, s.lost), (8, 2, 0));
    }

    #[test]
    fn overwrite_reports_lag_copies_and_accounts() {
        let ch = ring(4, Policy::Overwrite);
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        let mut out = [0u8; 16];
        let all: Vec<u8> = (0..10).flat_map(elem).collect();
        // At most a ring's worth per call; never Full.
        assert_eq!(tx.try_send_slice(&all), Ok(4));
        assert_eq!(tx.send_slice_timeout(&all[64..], None), Ok(4));
        tx.try_send(&elem(8)).unwrap();
        tx.send_timeout(&elem(9), Some(Duration::ZERO)).unwrap();
        assert_eq!(a.try_recv(&mut out), Err(TryRecvError::Lagged(6)));
        {
            let g = a.try_read().unwrap();
            assert!(!g.in_place(), "Overwrite hands out a validated copy");
            assert_eq!(&*g, &elem(6));
        }
        for i in 7..10 {
            a.try_recv(&mut out).unwrap();
            assert_eq!(out, elem(i));
        }
        assert_eq!(a.lost(), 6);
        let subs = ch.subscribers();
        assert_eq!((subs[0].received, subs[0].lost, subs[0].lag), (4, 6, 0));
        assert_eq!(ch.stats().lost, 6);
    }

    #[test]
    fn threads_never_see_torn_elements() {
        let ch = RawChannel::in_process(&Builder::new().capacity(4).policy(Policy::Overwrite), 40, 8).unwrap();
        let mut tx = ch.publisher().unwrap();
        let n = if cfg!(miri) { 200 } else { 20_000 };
        let subs: Vec<_> = (0..2)
            .map(|_| {
                let mut s = ch.subscribe().unwrap();
                std::thread::spawn(move || {
                    let (mut got, mut lost, mut last) = (0u64, 0u64, None);
                    let mut out = [0u8; 40];
                    loop {
                        match s.recv_timeout(&mut out, None) {
                            Ok(()) => {
                                let w: Vec<u64> = out
                                    .chunks(8)
                                    .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
                                    .collect();
                                assert!(w.iter().all(|&x| x == w[0]), "torn: {w:?}");
                                assert!(last.is_none_or(|l| w[0] > l), "out of order");
                                last = Some(w[0]);
                                got += 1;
                            }
                            Err(RecvTimeoutError::Lagged(k)) => lost += k,
                            Err(RecvTimeoutError::Disconnected) => return (got, lost),
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                })
            })
            .collect();
        for i in 0..n {
            let e: Vec<u8> = std::iter::repeat_n(i, 5).flat_map(u64::to_ne_bytes).collect();
            tx.send_timeout(&e, None).unwrap();
        }
        drop(tx);
        for t in subs {
            let (got, lost) = t.join().unwrap();
            assert_eq!(got + lost, n);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn shares_segments_with_typed_channels_both_ways() {
        let name = format!("/shmlane-bcast-raw-{}", std::process::id());
        let _ = crate::segment::unlink(&name);
        // Typed creator, raw opener.
        let typed = Builder::new()
            .capacity(8)
            .policy(Policy::Overwrite)
            .create::<u64>(&name)
            .unwrap();
        let raw = RawChannel::open(&Builder::new(), &name, Some(8)).unwrap();
        assert_eq!(
            (raw.elem_size(), raw.policy(), raw.capacity()),
            (8, Policy::Overwrite, 8)
        );
        let mut ttx = typed.publisher().unwrap();
        let mut rrx = raw.subscribe().unwrap();
        ttx.send(0x1122_3344_5566_7788).unwrap();
        let mut out = [0u8; 8];
        rrx.try_recv(&mut out).unwrap();
        assert_eq!(u64::from_ne_bytes(out), 0x1122_3344_5566_7788);
        drop(ttx);
        // ... and the raw side publishes to a typed subscriber.
        let mut rtx = raw.publisher().unwrap();
        let mut trx = typed.subscribe().unwrap();
        rtx.try_send(&42u64.to_ne_bytes()).unwrap();
        assert_eq!(trx.try_recv(), Ok(42));
        // Wrong element size: a clear error, not a ring.
        match RawChannel::open(&Builder::new(), &name, Some(4)) {
            Err(e @ Error::TypeMismatch { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("size 8") && msg.contains("size 4"), "{msg}");
            }
            r => panic!("expected TypeMismatch, got {r:?}"),
        }
        drop((rtx, rrx, trx, typed, raw));
        crate::segment::unlink(&name).unwrap();

        // Raw creator, typed opener: an element of 12 bytes aligned to 4.
        let raw = RawChannel::create(&Builder::new().capacity(4), &name, 12, 4).unwrap();
        assert!(matches!(Channel::<u64>::open(&name), Err(Error::TypeMismatch { .. })));
        assert!(matches!(
            Channel::<[u64; 2]>::open(&name),
            Err(Error::TypeMismatch { .. })
        ));
        let typed = Channel::<[u32; 3]>::open(&name).unwrap();
        assert_eq!(typed.policy(), Policy::Block);
        let mut rtx = raw.publisher().unwrap();
        let mut trx = typed.subscribe().unwrap();
        let mut rrx = raw.subscribe().unwrap();
        let e: Vec<u8> = [7u32, 8, 9].iter().flat_map(|x| x.to_ne_bytes()).collect();
        rtx.try_send(&e).unwrap();
        assert_eq!(trx.try_recv(), Ok([7, 8, 9]));
        let g = rrx.try_read().unwrap();
        assert!(g.in_place());
        assert_eq!(&*g, &e[..]);
        drop(g);
        crate::segment::unlink(&name).unwrap();

        // By fd: a typed anonymous channel opened raw, and the reverse.
        let typed = Builder::new().capacity(4).anonymous::<[u64; 2]>().unwrap();
        let fd = typed.segment().unwrap().inheritable_fd().unwrap();
        assert!(matches!(
            RawChannel::from_fd(&Builder::new(), fd.try_clone().unwrap(), Some(8)),
            Err(Error::TypeMismatch { .. })
        ));
        let raw = RawChannel::from_fd(&Builder::new(), fd, None).unwrap();
        assert_eq!(raw.elem_size(), 16);
        let mut ttx = typed.publisher().unwrap();
        let mut rrx = raw.subscribe().unwrap();
        ttx.send([1, !1]).unwrap();
        let mut out = [0u8; 16];
        rrx.try_recv(&mut out).unwrap();
        assert_eq!(out, elem(1));
        let raw = RawChannel::anonymous(&Builder::new().capacity(4), 16, 8).unwrap();
        let fd = raw.segment().unwrap().inheritable_fd().unwrap();
        let typed = Builder::new().from_fd::<[u64; 2]>(fd).unwrap();
        let mut rtx = raw.publisher().unwrap();
        let mut trx = typed.subscribe().unwrap();
        rtx.try_send(&elem(5)).unwrap();
        assert_eq!(trx.try_recv(), Ok([5, !5]));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn dead_typed_publisher_is_peer_died_for_a_raw_subscriber() {
        let name = format!("/shmlane-bcast-raw-dead-{}", std::process::id());
        let _ = crate::segment::unlink(&name);
        let typed = Builder::new().capacity(4).create::<u64>(&name).unwrap();
        let raw = RawChannel::open(&Builder::new(), &name, Some(8)).unwrap();
        crate::segment::unlink(&name).unwrap();
        let mut tx = typed.publisher().unwrap();
        let mut rx = raw.subscribe().unwrap();
        rx.set_wait_config(fast());
        tx.send(1).unwrap();
        tx.__crash();
        let mut out = [0u8; 8];
        rx.try_recv(&mut out).unwrap();
        assert_eq!(
            rx.recv_timeout(&mut out, Some(Duration::from_secs(10))),
            Err(RecvTimeoutError::PeerDied {
                pid: std::process::id()
            })
        );
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn bad_arguments_and_other_kinds() {
        let b = Builder::new().capacity(4);
        assert!(matches!(
            RawChannel::in_process(&b, 0, 8),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            RawChannel::in_process(&b, 12, 8),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            RawChannel::in_process(&b, 9, 3),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            RawChannel::in_process(&b, 8, 0),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            RawChannel::in_process(&b, 256, 256),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            RawChannel::in_process(&Builder::new().capacity(3), 8, 8),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            RawChannel::anonymous(&Builder::new().endpoints(1), 8, 8),
            Err(Error::InvalidArgument(_))
        ));
        // A segment of another kind.
        let name = format!("/shmlane-bcast-raw-kind-{}", std::process::id());
        let _ = crate::segment::unlink(&name);
        let _spsc = crate::spsc::Channel::<u64>::create(&name, 4).unwrap();
        assert!(matches!(
            RawChannel::open(&Builder::new(), &name, None),
            Err(Error::KindMismatch { .. })
        ));
        crate::segment::unlink(&name).unwrap();
        assert!(matches!(
            RawChannel::open(&Builder::new(), &name, None),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    #[should_panic(expected = "element of 8 bytes")]
    fn wrong_length_panics() {
        let ch = ring(4, Policy::Block);
        let mut tx = ch.publisher().unwrap();
        let _ = tx.try_send(&[0u8; 8]);
    }
}
