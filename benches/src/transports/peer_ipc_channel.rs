//! ipc-channel (Servo's multiprocess channels, crates.io `ipc-channel`
//! 0.23), through its documented public API: the byte channels
//! (`ipc::bytes_channel`, `IpcBytesSender::send(&[u8])`,
//! `IpcBytesReceiver::recv() -> Vec<u8>`), which skip serde for the payload.
//! On Linux they are unix `SOCK_SEQPACKET` sockets; every receive is a
//! blocking `recvmsg` and allocates the returned `Vec`.
//!
//! Set-up follows the crate's documented bootstrap: the harness opens an
//! `IpcOneShotServer` and passes its name to the child, the child creates
//! the channels, keeps its ends and sends the harness's ends through
//! `IpcSender::connect(name)` before it says ready, and the harness
//! `accept`s them.
//!
//! The [`crate::transports::msg`] loops drive it like every byte transport:
//! `throughput` over the size catalogue plus 8 B, and `pingpong` of 8 B.

#[cfg(feature = "ipc-channel")]
pub use imp::IpcChannel;
#[cfg(not(feature = "ipc-channel"))]
pub use off::IpcChannel;

#[cfg(not(feature = "ipc-channel"))]
mod off {
    crate::transports::peer_off!(
        IpcChannel,
        "ipc-channel",
        "ipc-channel",
        &[
            crate::transports::Pattern::Throughput,
            crate::transports::Pattern::PingPong
        ]
    );
}

#[cfg(feature = "ipc-channel")]
mod imp {
    use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};

    use crate::harness::{ChildCtx, Harness};
    use crate::measure::Sample;
    use crate::sys::{bail, Error, Res};
    use crate::transports::msg::{self, Endpoint};
    use crate::transports::{Case, Family, Pattern, Transport};

    /// ipc-channel byte channels across processes.
    pub struct IpcChannel;

    /// What the child hands the harness: the sender of the ping channel
    /// (ping-pong only) and the receiver of the stream or pong channel.
    type Handoff = (Option<IpcBytesSender>, IpcBytesReceiver);

    fn err(what: &str, e: impl std::fmt::Debug) -> Error {
        Error::new(format!("ipc-channel: {what}: {e:?}"))
    }

    struct Side {
        tx: Option<IpcBytesSender>,
        rx: Option<IpcBytesReceiver>,
    }

    impl Endpoint for Side {
        #[inline]
        fn send(&mut self, m: &[u8]) -> Res<()> {
            let tx = self.tx.as_ref().expect("a sending side");
            tx.send(m).map_err(|e| err("send", e))
        }

        #[inline]
        fn recv(&mut self, b: &mut [u8]) -> Res<()> {
            let rx = self.rx.as_ref().expect("a receiving side");
            let v = rx.recv().map_err(|e| err("recv", e))?;
            if v.len() != b.len() {
                bail!(
                    "ipc-channel: got {} bytes, expected a {}-byte message",
                    v.len(),
                    b.len()
                );
            }
            b.copy_from_slice(&v);
            Ok(())
        }
    }

    impl Transport for IpcChannel {
        fn name(&self) -> &'static str {
            "ipc-channel"
        }
        fn family(&self) -> Family {
            Family::Peer
        }
        fn patterns(&self) -> &'static [Pattern] {
            &[Pattern::Throughput, Pattern::PingPong]
        }
        fn sizes(&self, pattern: Pattern, catalogue: &[usize]) -> Vec<usize> {
            match pattern {
                Pattern::PingPong => vec![crate::transports::PING_SIZE],
                _ => std::iter::once(8).chain(catalogue.iter().copied()).collect(),
            }
        }

        fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
            let (server, name) = IpcOneShotServer::<Handoff>::new().map_err(|e| err("server", e))?;
            // The child connects and sends before it says ready, so the
            // accept below does not block (a child that fails before that
            // makes `spawn` fail instead).
            let child = h.spawn(self.name(), "peer", case, &[name], &[])?;
            let (_, (tx, rx)) = server.accept().map_err(|e| err("accept", e))?;
            if case.pattern == Pattern::PingPong && tx.is_none() {
                bail!("ipc-channel: the child sent no ping channel");
            }
            msg::run_parent(case, Side { tx, rx: Some(rx) }, child)
        }

        fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
            let boot: IpcSender<Handoff> =
                IpcSender::connect(ctx.arg(0)?.to_string()).map_err(|e| err("connect", e))?;
            let (tx, theirs_rx) = ipc::bytes_channel().map_err(|e| err("channel", e))?;
            let side = if ctx.case.pattern == Pattern::PingPong {
                let (theirs_tx, rx) = ipc::bytes_channel().map_err(|e| err("channel", e))?;
                boot.send((Some(theirs_tx), theirs_rx)).map_err(|e| err("handoff", e))?;
                Side {
                    tx: Some(tx),
                    rx: Some(rx),
                }
            } else {
                boot.send((None, theirs_rx)).map_err(|e| err("handoff", e))?;
                Side { tx: Some(tx), rx: None }
            };
            drop(boot);
            msg::run_child(ctx, side)
        }
    }
}
