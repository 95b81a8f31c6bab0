//! POSIX message queues (`mq_open` by name, one queue per direction): the
//! kernel's own message-passing object, with boundaries and priorities, the
//! textbook answer to "send messages between processes". Message sizes above
//! `/proc/sys/fs/mqueue/msgsize_max` cannot be carried and are skipped; the
//! queue depth is `/proc/sys/fs/mqueue/msg_max` (the unprivileged maximum).

use std::ffi::CString;

use crate::harness::{ChildCtx, Harness};
use crate::measure::Sample;
use crate::sys::{self, bail, Error, Res};
use crate::transports::msg::{self, Endpoint};
use crate::transports::{Case, Family, Pattern, Transport};

/// POSIX message queue transport.
pub struct MQueue;

fn proc_limit(file: &str) -> Option<usize> {
    std::fs::read_to_string(format!("/proc/sys/fs/mqueue/{file}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// An open queue descriptor; the creator also unlinks the name.
struct Queue {
    mqd: libc::mqd_t,
    name: CString,
    linked: bool,
}

impl Queue {
    fn open(name: &str, create: Option<usize>) -> Res<Queue> {
        let cname = CString::new(name).map_err(|_| Error::new("queue name contains NUL"))?;
        let mqd = match create {
            Some(size) => {
                let depth = proc_limit("msg_max").unwrap_or(10).min(64);
                // SAFETY: an all-zero mq_attr is valid; the used fields are set below.
                let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
                attr.mq_maxmsg = depth as libc::c_long;
                attr.mq_msgsize = size as libc::c_long;
                // SAFETY: valid name, flags, mode and a live attr, as mq_open's
                // O_CREAT form expects.
                unsafe {
                    libc::mq_open(
                        cname.as_ptr(),
                        libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                        0o600 as libc::mode_t,
                        &mut attr as *mut libc::mq_attr,
                    )
                }
            }
            // SAFETY: valid name and flags.
            None => unsafe { libc::mq_open(cname.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) },
        };
        if mqd < 0 {
            return Err(Error::last_os(&format!("mq_open({name})")));
        }
        Ok(Queue {
            mqd,
            name: cname,
            linked: create.is_some(),
        })
    }

    fn unlink(&mut self) {
        if self.linked {
            // SAFETY: valid NUL-terminated name.
            unsafe { libc::mq_unlink(self.name.as_ptr()) };
            self.linked = false;
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.unlink();
        // SAFETY: closes our own descriptor once.
        unsafe { libc::mq_close(self.mqd) };
    }
}

/// Receives from one queue and sends to the other.
struct Pair {
    rx: Option<Queue>,
    tx: Option<Queue>,
}

impl Endpoint for Pair {
    #[inline]
    fn send(&mut self, m: &[u8]) -> Res<()> {
        let Some(q) = &self.tx else { bail!("no send queue") };
        loop {
            // SAFETY: `m` is a live slice of `m.len()` bytes.
            if unsafe { libc::mq_send(q.mqd, m.as_ptr().cast(), m.len(), 0) } == 0 {
                return Ok(());
            }
            sys::retry_or_fail("mq_send")?;
        }
    }
    #[inline]
    fn recv(&mut self, b: &mut [u8]) -> Res<()> {
        let Some(q) = &self.rx else { bail!("no receive queue") };
        loop {
            // SAFETY: `b` is a live, writable slice of `b.len()` bytes, which
            // is the queue's message size.
            let n = unsafe { libc::mq_receive(q.mqd, b.as_mut_ptr().cast(), b.len(), std::ptr::null_mut()) };
            if n >= 0 {
                if n as usize != b.len() {
                    bail!("mq_receive: {n} bytes, expected {}", b.len());
                }
                return Ok(());
            }
            sys::retry_or_fail("mq_receive")?;
        }
    }
}

impl Transport for MQueue {
    fn name(&self) -> &'static str {
        "posix-mq"
    }
    fn family(&self) -> Family {
        Family::Peer
    }
    fn patterns(&self) -> &'static [Pattern] {
        &[Pattern::Throughput, Pattern::PingPong]
    }

    fn supports(&self, _pattern: Pattern, size: usize) -> Result<(), String> {
        match proc_limit("msgsize_max") {
            Some(max) if size > max => Err(format!(
                "message larger than /proc/sys/fs/mqueue/msgsize_max ({max} bytes)"
            )),
            Some(_) => Ok(()),
            None => Err("POSIX message queues unavailable (no /proc/sys/fs/mqueue)".into()),
        }
    }

    fn run(&self, case: &Case, h: &mut Harness) -> Res<Sample> {
        let up_name = h.unique("/");
        let mut up = Queue::open(&up_name, Some(case.size))?;
        let mut args = vec![up_name];
        let mut down = None;
        if case.pattern == Pattern::PingPong {
            let n = h.unique("/");
            down = Some(Queue::open(&n, Some(case.size))?);
            args.push(n);
        }
        let child = h.spawn(self.name(), "peer", case, &args, &[])?;
        up.unlink();
        if let Some(d) = &mut down {
            d.unlink();
        }
        msg::run_parent(case, Pair { rx: Some(up), tx: down }, child)
    }

    fn child(&self, ctx: &mut ChildCtx) -> Res<()> {
        let up = Queue::open(ctx.arg(0)?, None)?;
        let down = match ctx.case.pattern {
            Pattern::PingPong => Some(Queue::open(ctx.arg(1)?, None)?),
            _ => None,
        };
        msg::run_child(ctx, Pair { rx: down, tx: Some(up) })
    }
}
