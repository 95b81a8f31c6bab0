//! eventfd ping-pong (two eventfds, one per direction, inherited by the
//! child): the cheapest kernel object a process can block on and be woken
//! through, so its round trip is the OS's floor for "wake the other process
//! and wait for its answer". It carries a counter, not bytes, so it has no
//! throughput case; the round trip's sequence number travels in the counter.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::harness::{ChildCtx, Harness};
use crate::measure::{Sample, END};
use crate::sys::{self, inherited_fd, Error, Res};
use crate::transports::msg::{self, Endpoint};
use crate::transports::{Case, Family, Pattern, Transport};

/// eventfd transport.
pub struct EventFd;

/// Largest value an eventfd counter accepts; stands for the end marker.
const END_VALUE: u64 = u64::MAX - 1;

/// Writes to one eventfd, reads from the other.
struct Pair {
    rx: OwnedFd,
    tx: OwnedFd,
}

impl Endpoint for Pair {
    #[inline]
    fn send(&mut self, m: &[u8]) -> Res<()> {
        let seq = u64::from_le_bytes(m[..8].try_into().expect("8-byte message"));
        let v = if seq == END { END_VALUE } else { seq + 1 };
        sys::send_one(self.tx.as_raw_fd(), &v.to_ne_bytes())
    }
    #[inline]
    fn recv(&mut self, b: &mut [u8]) -> Res<()> {
        let mut v = [0u8; 8];
        sys::recv_one(self.rx.as_raw_fd(), &mut v)?;
        let v = u64::from_ne_bytes(v);
        let seq = if v == END_VALUE { END } else { v - 1 };
        b[..8].copy_from_slice(&seq.to_le_bytes());
        Ok(())
    }
}

fn eventfd() -> Res<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last_os("eventfd"));
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Transport for EventFd {
    fn name(&self) -> &'static str {
        "eventfd"
    }
    fn family(&self) -> Family {
        Family::Peer
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::PingPong]
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let (ping, pong) = (eventfd()?, eventfd()?);
        let fds = [ping.as_raw_fd(), pong.as_raw_fd()];
        let args = fds.map(|f| f.to_string());
        let child = h.spawn(self.name(), "peer", case, &args, &fds)?;
        msg::run_parent(case, Pair { rx: pong, tx: ping }, child)
    }

    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let ping = inherited_fd(ctx.arg(0)?)?;
        let pong = inherited_fd(ctx.arg(1)?)?;
        msg::run_child(ctx, Pair { rx: ping, tx: pong })
    }
}
