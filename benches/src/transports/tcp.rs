//! TCP over loopback (127.0.0.1, an ephemeral port): what a user picks when
//! the two sides might one day live on different hosts. `TCP_NODELAY` is set
//! for ping-pong (without it Nagle and delayed ACKs add milliseconds, which
//! nobody who cares about latency accepts); throughput keeps Nagle on, the
//! default that favours bulk transfer.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;

use crate::harness::{ChildCtx, Harness};
use crate::measure::Sample;
use crate::sys::Res;
use crate::transports::unix_stream::{accept_ready, duplex};
use crate::transports::{msg, Case, Family, Pattern, Transport};

/// TCP loopback transport.
pub struct Tcp;

impl Transport for Tcp {
    fn name(&self) -> &'static str {
        "tcp-loopback"
    }
    fn family(&self) -> Family {
        Family::Peer
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::Throughput, Pattern::PingPong]
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port().to_string();
        let child = h.spawn(self.name(), "peer", case, &[port], &[])?;
        let (sock, _) = accept_ready(TcpListener::accept, &listener)?;
        sock.set_nonblocking(false)?;
        sock.set_nodelay(case.pattern == Pattern::PingPong)?;
        msg::run_parent(case, duplex(OwnedFd::from(sock))?, child)
    }

    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let port: u16 = ctx.arg(0)?.parse().map_err(|_| crate::sys::Error::new("bad port"))?;
        let sock = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        sock.set_nodelay(ctx.case.pattern == Pattern::PingPong)?;
        msg::run_child(ctx, duplex(OwnedFd::from(sock))?)
    }
}
