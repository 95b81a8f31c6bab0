//! Unix-domain datagram sockets (a `socketpair`, one fd inherited by the
//! child): message boundaries kept by the kernel, one `send`/`recv` per
//! message. The send buffer is raised so that the largest message fits (a
//! user would have to do the same); sizes the kernel still refuses are
//! skipped with the error it gives.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::harness::{ChildCtx, Harness};
use crate::measure::Sample;
use crate::sys::{self, inherited_fd, Res};
use crate::transports::msg::{self, Endpoint};
use crate::transports::{Case, Family, Pattern, Transport};

/// Unix datagram socket transport.
pub struct UnixDgram;

/// One datagram socket used in both directions.
struct Dgram(OwnedFd);

impl Endpoint for Dgram {
    #[inline]
    fn send(&mut self, m: &[u8]) -> Res<()> {
        sys::send_one(self.0.as_raw_fd(), m)
    }
    #[inline]
    fn recv(&mut self, b: &mut [u8]) -> Res<()> {
        sys::recv_one(self.0.as_raw_fd(), b)
    }
}

/// Send and receive buffers sized for `size`-byte datagrams (the kernel
/// caps them at net.core.{w,r}mem_max).
fn size_buffers(fd: &OwnedFd, size: usize) -> Res<()> {
    let want = (size * 4 + 64 * 1024).min(i32::MAX as usize) as i32;
    sys::setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, want)?;
    sys::setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, want)
}

impl Transport for UnixDgram {
    fn name(&self) -> &'static str {
        "unix-dgram"
    }
    fn family(&self) -> Family {
        Family::Peer
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::Throughput, Pattern::PingPong]
    }

    fn supports(&self, _pattern: Pattern, size: usize) -> Result<(), String> {
        // Probe: send one datagram of this size on a fresh, sized pair.
        let (a, _b) = sys::socketpair(libc::SOCK_DGRAM).map_err(|e| e.to_string())?;
        size_buffers(&a, size).map_err(|e| e.to_string())?;
        let buf = vec![0u8; size];
        // SAFETY: `buf` is a live, readable slice; MSG_DONTWAIT never blocks.
        let n = unsafe { libc::send(a.as_raw_fd(), buf.as_ptr().cast(), size, libc::MSG_DONTWAIT) };
        if n as usize == size {
            return Ok(());
        }
        let wmem = std::fs::read_to_string("/proc/sys/net/core/wmem_max").unwrap_or_default();
        Err(format!(
            "a {size}-byte unix datagram is refused ({}; net.core.wmem_max = {})",
            std::io::Error::last_os_error(),
            wmem.trim()
        ))
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let (mine, theirs) = sys::socketpair(libc::SOCK_DGRAM)?;
        size_buffers(&mine, case.size)?;
        size_buffers(&theirs, case.size)?;
        let fd = theirs.as_raw_fd();
        let child = h.spawn(self.name(), "peer", case, &[fd.to_string()], &[fd])?;
        drop(theirs);
        msg::run_parent(case, Dgram(mine), child)
    }

    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let fd = inherited_fd(ctx.arg(0)?)?;
        msg::run_child(ctx, Dgram(fd))
    }
}
