//! Unix-domain stream sockets through a socket path, as a user would set
//! them up (`bind` + `listen` + `connect`, default buffer sizes): the usual
//! local IPC choice when ordering and back-pressure are wanted. Messages are
//! fixed-size records written and read whole. One connection carries both
//! directions.

use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream as StdUnixStream};
use std::path::PathBuf;

use crate::harness::{ChildCtx, Harness};
use crate::measure::Sample;
use crate::sys::{Error, Res};
use crate::transports::msg;
use crate::transports::pipe::FdStream;
use crate::transports::{Case, Family, Pattern, Transport};

/// Unix stream socket transport.
pub struct UnixStream;

/// Removes the socket file when dropped.
struct PathGuard(PathBuf);

impl Drop for PathGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Splits a connected socket into the read and write halves of an [`FdStream`].
pub fn duplex(fd: OwnedFd) -> Res<FdStream> {
    let wr = fd.try_clone()?;
    Ok(FdStream::new(Some(fd), Some(wr)))
}

/// Accepts the connection the child made before it said ready; never blocks.
pub fn accept_ready<L, S>(accept: impl FnOnce(&L) -> std::io::Result<S>, l: &L) -> Res<S> {
    accept(l).map_err(|e| {
        Error::new(format!(
            "accept: the child said ready but no connection is queued ({e})"
        ))
    })
}

impl Transport for UnixStream {
    fn name(&self) -> &'static str {
        "unix-stream"
    }
    fn family(&self) -> Family {
        Family::Peer
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::Throughput, Pattern::PingPong]
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let path = std::env::temp_dir().join(h.unique("") + ".sock");
        let listener = UnixListener::bind(&path)?;
        let _guard = PathGuard(path.clone());
        listener.set_nonblocking(true)?;
        let arg = path.to_string_lossy().into_owned();
        let child = h.spawn(self.name(), "peer", case, &[arg], &[])?;
        let (sock, _) = accept_ready(UnixListener::accept, &listener)?;
        sock.set_nonblocking(false)?;
        msg::run_parent(case, duplex(OwnedFd::from(sock))?, child)
    }

    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let sock = StdUnixStream::connect(ctx.arg(0)?)?;
        msg::run_child(ctx, duplex(OwnedFd::from(sock))?)
    }
}
