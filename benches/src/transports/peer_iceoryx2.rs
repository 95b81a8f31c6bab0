//! iceoryx2 (Eclipse, crates.io `iceoryx2` 0.10): zero-copy publish-subscribe
//! in shared memory, decentralised (no daemon: each process creates a node
//! and opens the service), through its documented public API.
//!
//! Each direction is one `ipc::Service` publish-subscribe service of byte
//! slices (`[u8]`), one publisher and one subscriber, created by the harness
//! and opened by the child:
//! - non-overflowing (`enable_safe_overflow(false)`) with the publisher's
//!   `BackpressureStrategy::RetryUntilDelivered`, so a full subscriber
//!   buffer makes `send` wait instead of dropping data (iceoryx2 waits with
//!   its adaptive wait: spin, yield, then short sleeps);
//! - subscriber buffer depth: 1024 messages, fewer for large messages so
//!   that a service stays within 16 MiB of payload (64 KiB: 256; 1 MiB: 16);
//! - a send is `loan_slice_uninit(size)` → `write_from_slice(msg)` → `send`
//!   (one copy into the shared sample, as a writer of a byte message must);
//!   a receive is `receive()` polled in a spin loop (iceoryx2's subscriber
//!   has no blocking receive; blocking needs an event service and a
//!   `WaitSet`, i.e. a second service and a system call per wake-up) and a
//!   copy out of the sample, which is then released.
//!
//! The [`crate::transports::msg`] loops drive it like every byte transport:
//! `throughput` over the size catalogue plus 8 B (to sit next to the `u64`
//! rings), and `pingpong` of 8 B, both sides spinning.

#[cfg(feature = "iceoryx2")]
pub use imp::Iceoryx2;
#[cfg(not(feature = "iceoryx2"))]
pub use off::Iceoryx2;

#[cfg(not(feature = "iceoryx2"))]
mod off {
    crate::transports::peer_off!(
        Iceoryx2,
        "iceoryx2",
        "iceoryx2",
        &[
            crate::transports::Pattern::Throughput,
            crate::transports::Pattern::PingPong
        ]
    );
}

#[cfg(feature = "iceoryx2")]
mod imp {
    use ::iceoryx2::port::publisher::Publisher;
    use ::iceoryx2::port::subscriber::Subscriber;
    use ::iceoryx2::port::update_connections::UpdateConnections;
    use ::iceoryx2::prelude::*;
    use ::iceoryx2::service::port_factory::publish_subscribe::PortFactory;

    use crate::harness::{ChildCtx, Harness};
    use crate::measure::Sample;
    use crate::sys::{bail, Error, Res, Spin};
    use crate::transports::msg::{self, Endpoint};
    use crate::transports::{Case, Family, Pattern, Transport};

    /// iceoryx2 publish-subscribe across processes.
    pub struct Iceoryx2;

    type Svc = ipc::Service;
    type Factory = PortFactory<Svc, [u8], ()>;

    fn err(what: &str, e: impl std::fmt::Debug) -> Error {
        Error::new(format!("iceoryx2: {what}: {e:?}"))
    }

    /// Subscriber buffer depth for messages of `size` bytes.
    fn depth(size: usize) -> usize {
        ((16usize << 20) / size.max(1)).clamp(4, 1024)
    }

    fn node() -> Res<Node<Svc>> {
        // Errors only: iceoryx2's default logger would print warnings (for
        // example about a missing config file) into the table.
        set_log_level(LogLevel::Error);
        NodeBuilder::new()
            // Leave the harness's signal handlers (SIGUSR1 wake-ups) alone.
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<Svc>()
            .map_err(|e| err("node", e))
    }

    /// Creates (`create`) or opens the service `name` for messages of
    /// `size` bytes.
    fn service(node: &Node<Svc>, name: &str, size: usize, create: bool) -> Res<Factory> {
        let sname: ServiceName = name.try_into().map_err(|e| err("service name", e))?;
        let b = node
            .service_builder(&sname)
            .publish_subscribe::<[u8]>()
            .enable_safe_overflow(false)
            .history_size(0)
            .max_publishers(1)
            .max_subscribers(1)
            .subscriber_max_buffer_size(depth(size))
            .subscriber_max_borrowed_samples(1);
        if create {
            b.create().map_err(|e| err("create service", e))
        } else {
            b.open().map_err(|e| err("open service", e))
        }
    }

    fn publisher(f: &Factory, size: usize) -> Res<Publisher<Svc, [u8], ()>> {
        f.publisher_builder()
            .initial_max_slice_len(size)
            .max_loaned_samples(1)
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            .create()
            .map_err(|e| err("publisher", e))
    }

    fn subscriber(f: &Factory, size: usize) -> Res<Subscriber<Svc, [u8], ()>> {
        f.subscriber_builder()
            .buffer_size(depth(size))
            .create()
            .map_err(|e| err("subscriber", e))
    }

    /// One process's ports; fields drop in order (ports, services, node).
    struct Side {
        tx: Option<Publisher<Svc, [u8], ()>>,
        rx: Option<Subscriber<Svc, [u8], ()>>,
        _services: Vec<Factory>,
        _node: Node<Svc>,
        spin: Spin,
    }

    impl Endpoint for Side {
        #[inline]
        fn send(&mut self, m: &[u8]) -> Res<()> {
            let tx = self.tx.as_ref().expect("a sending side");
            let sample = loop {
                match tx.loan_slice_uninit(m.len()) {
                    Ok(s) => break s,
                    // Every sample is in flight: wait for the subscriber to
                    // release one.
                    Err(::iceoryx2::port::LoanError::OutOfMemory) => self.spin.spin()?,
                    Err(e) => return Err(err("loan", e)),
                }
            };
            let n = sample.write_from_slice(m).send().map_err(|e| err("send", e))?;
            if n == 0 {
                bail!("iceoryx2: send reached no subscriber");
            }
            Ok(())
        }

        #[inline]
        fn recv(&mut self, b: &mut [u8]) -> Res<()> {
            let rx = self.rx.as_ref().expect("a receiving side");
            loop {
                if let Some(s) = rx.receive().map_err(|e| err("receive", e))? {
                    let p = s.payload();
                    if p.len() != b.len() {
                        bail!("iceoryx2: got {} bytes, expected a {}-byte message", p.len(), b.len());
                    }
                    b.copy_from_slice(p);
                    return Ok(());
                }
                self.spin.spin()?;
            }
        }
    }

    impl Transport for Iceoryx2 {
        fn name(&self) -> &'static str {
            "iceoryx2"
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
            let n = node()?;
            let fwd_name = h.unique("shmlane-bench/");
            let fwd = service(&n, &fwd_name, case.size, true)?;
            if case.pattern == Pattern::PingPong {
                let back_name = h.unique("shmlane-bench/");
                let back = service(&n, &back_name, case.size, true)?;
                let rx = subscriber(&back, case.size)?;
                let tx = publisher(&fwd, case.size)?;
                let child = h.spawn(self.name(), "echo", case, &[fwd_name, back_name], &[])?;
                // The child's subscriber appeared after our publisher.
                tx.update_connections().map_err(|e| err("connect", e))?;
                let side = Side {
                    tx: Some(tx),
                    rx: Some(rx),
                    _services: vec![fwd, back],
                    _node: n,
                    spin: Spin::new(),
                };
                return msg::run_parent(case, side, child);
            }
            let rx = subscriber(&fwd, case.size)?;
            let child = h.spawn(self.name(), "producer", case, std::slice::from_ref(&fwd_name), &[])?;
            let side = Side {
                tx: None,
                rx: Some(rx),
                _services: vec![fwd],
                _node: n,
                spin: Spin::new(),
            };
            msg::run_parent(case, side, child)
        }

        fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
            let n = node()?;
            let size = ctx.case.size;
            let fwd = service(&n, ctx.arg(0)?, size, false)?;
            let side = if ctx.case.pattern == Pattern::PingPong {
                let back = service(&n, ctx.arg(1)?, size, false)?;
                let rx = subscriber(&fwd, size)?;
                let tx = publisher(&back, size)?;
                Side {
                    tx: Some(tx),
                    rx: Some(rx),
                    _services: vec![fwd, back],
                    _node: n,
                    spin: Spin::new(),
                }
            } else {
                let tx = publisher(&fwd, size)?;
                tx.update_connections().map_err(|e| err("connect", e))?;
                Side {
                    tx: Some(tx),
                    rx: None,
                    _services: vec![fwd],
                    _node: n,
                    spin: Spin::new(),
                }
            };
            msg::run_child(ctx, side)
        }
    }
}
