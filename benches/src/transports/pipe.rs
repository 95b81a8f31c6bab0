//! Anonymous pipes between the two processes, as a user would use them:
//! default pipe capacity (64 KiB), blocking `write`/`read` of whole messages.
//! The fair OS baseline for "bytes from one process to another" with no
//! setup at all. Throughput uses one pipe (child → parent); ping-pong uses
//! one pipe per direction. The child inherits the fds across `exec`.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::harness::{ChildCtx, Harness};
use crate::measure::Sample;
use crate::sys::{self, inherited_fd, Res};
use crate::transports::msg::{self, Endpoint};
use crate::transports::{Case, Family, Pattern, Transport};

/// Pipe transport.
pub struct Pipe;

/// Reads from one fd and writes to another (a pipe pair, or one socket).
pub struct FdStream {
    rd: Option<OwnedFd>,
    wr: Option<OwnedFd>,
}

impl FdStream {
    /// Wraps a read end and a write end (either may be absent).
    pub fn new(rd: Option<OwnedFd>, wr: Option<OwnedFd>) -> Self {
        FdStream { rd, wr }
    }
}

fn raw(fd: &Option<OwnedFd>) -> RawFd {
    fd.as_ref().map_or(-1, |f| f.as_raw_fd())
}

impl Endpoint for FdStream {
    #[inline]
    fn send(&mut self, m: &[u8]) -> Res<()> {
        sys::write_all(raw(&self.wr), m)
    }
    #[inline]
    fn recv(&mut self, b: &mut [u8]) -> Res<()> {
        sys::read_exact(raw(&self.rd), b)
    }
}

impl Transport for Pipe {
    fn name(&self) -> &'static str {
        "pipe"
    }
    fn family(&self) -> Family {
        Family::Peer
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::Throughput, Pattern::PingPong]
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        // Data pipe child -> parent; for ping-pong also parent -> child.
        let (up_r, up_w) = sys::pipe()?;
        let (down_r, down_w) = if case.pattern == Pattern::PingPong {
            let (r, w) = sys::pipe()?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        let mut fds = vec![up_w.as_raw_fd()];
        let mut args = vec![up_w.as_raw_fd().to_string()];
        if let Some(r) = &down_r {
            fds.push(r.as_raw_fd());
            args.push(r.as_raw_fd().to_string());
        }
        let child = h.spawn(self.name(), "peer", case, &args, &fds)?;
        // Close the child's ends here, so a dead child reads as end of file.
        drop((up_w, down_r));
        msg::run_parent(case, FdStream::new(Some(up_r), down_w), child)
    }

    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let up_w = inherited_fd(ctx.arg(0)?)?;
        let down_r = match ctx.case.pattern {
            Pattern::PingPong => Some(inherited_fd(ctx.arg(1)?)?),
            _ => None,
        };
        msg::run_child(ctx, FdStream::new(down_r, Some(up_w)))
    }
}
