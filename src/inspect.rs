//! Live counters of a named segment of any kind, read without attaching and
//! without knowing the element type (for `shmlane ls` and `shmlane stat`).
//!
//! [`live`] opens the segment like [`segment::inspect`] (header validated,
//! endpoint table counted) and then reads the kind's control block words
//! with Relaxed loads, as each ring's own `stats()` does:
//! - byte rings: [`bytes::Channel::stats`] of the ring opened by name
//!   (opening does not attach);
//! - SPSC: [`spsc::RawChannel::stats`], which needs no element type;
//! - MPMC: the [`MpmcControl`] words, combined as [`mpmc::Channel::stats`]
//!   combines them (that method needs the element type, this does not).
//!
//! - broadcast: [`broadcast()`] gives the channel's [`broadcast::Stats`] and
//!   every subscriber's cursor, lag and losses
//!   ([`broadcast::SubscriberStats`]); [`live`] reports the kind as
//!   `Unsupported` so that existing matches on [`Counters`] stay valid.
//!
//! Nothing is written. The words may be garbage written by a broken peer:
//! they are only reported, never used as indices or lengths.

use crate::broadcast;
use crate::bytes;
use crate::error::{Error, Result};
use crate::layout::Kind;
use crate::mpmc::{self, MpmcControl, MPMC_CONTROL_LEN};
use crate::segment::{self, OpenOptions, Segment, SegmentInfo};
use crate::spsc;
use crate::sync::Ordering;
use std::time::Duration;

/// Low half of MPMC's `senders`/`receivers` words: the attached count
/// (mirrors `ATTACHED_MASK` in `mpmc`).
const MPMC_ATTACHED_MASK: u64 = 0xffff_ffff;

/// Counters of one segment, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counters {
    /// An SPSC ring of fixed-size elements.
    Spsc(spsc::Stats),
    /// An MPMC ring of fixed-size elements.
    Mpmc(mpmc::Stats),
    /// A byte ring (SPSC, MPSC or MPMC).
    Bytes(bytes::Stats),
    /// A kind this library cannot read counters of (broadcast).
    Unsupported(Kind),
}

impl Counters {
    /// Messages (elements or records) waiting in the ring, when known.
    pub fn depth(&self) -> Option<u64> {
        match self {
            Counters::Spsc(s) => Some(s.depth),
            Counters::Mpmc(s) => Some(s.depth),
            Counters::Bytes(s) => Some(s.depth_records),
            Counters::Unsupported(_) => None,
        }
    }
}

/// Header, endpoint liveness and counters of a segment.
#[derive(Debug, Clone)]
pub struct Live {
    /// Validated header and endpoint counts.
    pub info: SegmentInfo,
    /// Counters read from the control block.
    pub counters: Counters,
}

/// Reads the header, endpoint liveness and live counters of the named
/// segment, whatever its kind and element type. Errors as
/// [`segment::inspect`]; a control block of the wrong size for its kind is
/// [`Error::Corrupt`].
pub fn live(name: &str) -> Result<Live> {
    let info = segment::inspect(name)?;
    let counters = match info.header.geometry.kind {
        Kind::Bytes | Kind::BytesMpsc | Kind::BytesMpmc => Counters::Bytes(bytes::Channel::open(name)?.stats()),
        Kind::Spsc => Counters::Spsc(spsc::RawChannel::open(&spsc::Builder::new(), name, None)?.stats()),
        Kind::Mpmc => Counters::Mpmc(mpmc_stats(name)?),
        k => Counters::Unsupported(k),
    };
    Ok(Live { info, counters })
}

/// Counters and subscribers of the named broadcast channel, whatever its
/// element type: the channel's [`broadcast::Stats`] and, for every attached
/// subscriber, its cursor, lag, received and lost counts (with a liveness
/// check of each holder). Works for both broadcast kinds (for
/// [`Kind::BroadcastBytes`], `capacity` is in bytes and positions are
/// message numbers). [`Error::KindMismatch`] for another kind.
pub fn broadcast(name: &str) -> Result<(broadcast::Stats, Vec<broadcast::SubscriberStats>)> {
    let seg = Segment::open_any(name, &OpenOptions::default())?;
    let kind = seg.header().geometry.kind;
    if kind == Kind::BroadcastBytes {
        // Validates the control block size and the area itself.
        return broadcast::bytes::stats_of_segment(std::sync::Arc::new(seg));
    }
    if kind != Kind::Broadcast {
        return Err(Error::KindMismatch {
            name: name.to_owned(),
            found: kind,
            expected: Kind::Broadcast,
        });
    }
    if seg.header().geometry.control_len != broadcast::BROADCAST_CONTROL_LEN as u64 {
        return Err(Error::Corrupt {
            name: name.to_owned(),
            detail: format!(
                "control block is {} bytes, a broadcast channel's is {}",
                seg.header().geometry.control_len,
                broadcast::BROADCAST_CONTROL_LEN
            ),
        });
    }
    broadcast::stats_of_segment(std::sync::Arc::new(seg))
}

fn mpmc_stats(name: &str) -> Result<mpmc::Stats> {
    let seg = Segment::open_any(name, &OpenOptions::default())?;
    let h = *seg.header();
    if h.geometry.kind != Kind::Mpmc {
        return Err(Error::KindMismatch {
            name: name.to_owned(),
            found: h.geometry.kind,
            expected: Kind::Mpmc,
        });
    }
    if h.geometry.control_len != MPMC_CONTROL_LEN as u64 {
        return Err(Error::Corrupt {
            name: name.to_owned(),
            detail: format!(
                "control block is {} bytes, an mpmc channel's is {MPMC_CONTROL_LEN}",
                h.geometry.control_len
            ),
        });
    }
    // SAFETY: the header was validated against the file size, so the
    // control block (MPMC_CONTROL_LEN bytes, checked above) lies inside the
    // mapping at a 128-byte aligned offset; it holds only atomics, valid
    // for every bit pattern; `seg` outlives the reference.
    let ctl = unsafe { &*(seg.control_ptr() as *const MpmcControl) };
    let c = &ctl.counters;
    // Relaxed (all loads): statistics only, as in mpmc::Channel::stats.
    let tail = ctl.tail.load(Ordering::Relaxed);
    let head = ctl.head.load(Ordering::Relaxed);
    let lost_sends = c.lost_sends.load(Ordering::Relaxed);
    let lost_recvs = c.lost_recvs.load(Ordering::Relaxed);
    let aborted = c.aborted.load(Ordering::Relaxed);
    let passed = c.passed.load(Ordering::Relaxed);
    let senders = c.senders.load(Ordering::Relaxed);
    let receivers = c.receivers.load(Ordering::Relaxed);
    let sent = tail.saturating_sub(aborted).saturating_sub(lost_sends);
    let received = head.saturating_sub(passed).saturating_sub(lost_recvs);
    let stall_ns = if h.stall_timeout_ns == 0 {
        segment::CreateOptions::default().stall_timeout
    } else {
        Duration::from_nanos(h.stall_timeout_ns)
    };
    Ok(mpmc::Stats {
        capacity: h.geometry.capacity,
        depth: sent.saturating_sub(received).saturating_sub(lost_recvs),
        sent,
        received,
        lost: lost_sends.saturating_add(lost_recvs),
        lost_sends,
        lost_recvs,
        aborted,
        senders: (senders & MPMC_ATTACHED_MASK) as u32,
        receivers: (receivers & MPMC_ATTACHED_MASK) as u32,
        endpoint_capacity: h.geometry.endpoint_count,
        stall_timeout: stall_ns,
    })
}

#[cfg(all(test, not(loom), not(miri)))]
mod tests {
    use super::*;

    #[test]
    fn live_counters_of_each_kind() {
        let pid = std::process::id();
        let nb = format!("/shmlane-inspect-b-{pid}");
        let ns = format!("/shmlane-inspect-s-{pid}");
        let nm = format!("/shmlane-inspect-m-{pid}");
        let b = bytes::Channel::create(&nb, 1024).unwrap();
        let mut tx = b.producer().unwrap();
        tx.send(b"abc").unwrap();
        tx.send(b"de").unwrap();
        let s = spsc::Channel::<u32>::create(&ns, 8).unwrap();
        s.producer().unwrap().push(7).unwrap();
        let m = mpmc::Channel::<u16>::create(&nm, 8).unwrap();
        let mut mt = m.sender().unwrap();
        for i in 0..3 {
            mt.send(i).unwrap();
        }
        let lb = live(&nb);
        let ls = live(&ns);
        let lm = live(&nm);
        for n in [&nb, &ns, &nm] {
            segment::unlink(n).unwrap();
        }
        let lb = lb.unwrap();
        assert_eq!(lb.counters.depth(), Some(2));
        assert!(matches!(lb.counters, Counters::Bytes(s) if s.sent_bytes == 5));
        assert_eq!(lb.info.endpoints.alive, 1);
        assert_eq!(ls.unwrap().counters.depth(), Some(1));
        let lm = lm.unwrap();
        assert!(matches!(lm.counters, Counters::Mpmc(s) if s.sent == 3 && s.senders == 1));
        assert_eq!(lm.counters.depth(), Some(3));
    }

    #[test]
    fn broadcast_subscribers_from_outside() {
        let name = format!("/shmlane-inspect-bc-{}", std::process::id());
        let ch = broadcast::Builder::new()
            .capacity(4)
            .policy(broadcast::Policy::Overwrite)
            .create::<[u32; 3]>(&name)
            .unwrap();
        let mut tx = ch.publisher().unwrap();
        let mut a = ch.subscribe().unwrap();
        let _b = ch.subscribe().unwrap();
        for i in 0..6 {
            tx.send([i; 3]).unwrap();
        }
        assert_eq!(a.try_recv(), Err(broadcast::TryRecvError::Lagged(2)));
        assert_eq!(a.try_recv(), Ok([2; 3]));
        let r = broadcast(&name);
        let other = broadcast(&format!("{name}-none"));
        let l = live(&name);
        segment::unlink(&name).unwrap();
        let (st, mut subs) = r.unwrap();
        assert!(other.is_err());
        assert_eq!((st.published, st.subscribers, st.lost, st.max_lag), (6, 2, 2, 6));
        subs.sort_by_key(|s| s.cursor);
        assert_eq!(subs.len(), 2);
        assert_eq!((subs[0].cursor, subs[0].lag, subs[0].lost), (0, 6, 0));
        assert_eq!(
            (subs[1].cursor, subs[1].lag, subs[1].lost, subs[1].received),
            (3, 3, 2, 1)
        );
        assert!(subs.iter().all(|s| s.alive && s.pid == std::process::id()));
        assert!(matches!(l.unwrap().counters, Counters::Unsupported(Kind::Broadcast)));
    }
}
