//! `create`, `send` and `recv`: a shared-memory pipe of byte messages.
//!
//! `send` reads stdin in large chunks into one reusable buffer, finds the
//! lines with a vectorised scan (`memchr`) and writes each line (or
//! length-prefixed frame) straight from that buffer into its own record
//! of the ring: no allocation per message, and still one message per line
//! for any reader of the ring. The hand-off is batched: records are
//! committed with [`bytes::Grant::commit_held`] and handed to the consumer
//! (one store of `tail`, at most one wake-up) every [`HANDOFF`] bytes,
//! before every read of stdin (which may block: an interactive writer's
//! lines are never held back), when the ring is full, and at the end.
//! `recv` takes messages in batches, writes them through a 1 MiB buffer,
//! and flushes whenever the ring is empty, before it blocks, so an
//! interactive reader sees each line at once.

use crate::exit::{io_fail, Fail, Res, DISCONNECTED, FAILURE, PEER_DIED, TIMEOUT, TOO_LARGE, USAGE};
use crate::Framing;
use shmlane::broadcast::Policy;
use shmlane::bytes::{self, Batch};
use shmlane::layout::Kind;
use shmlane::{RecvError, RecvTimeoutError, SendError, TryRecvError};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

/// Stdin read size.
const CHUNK: usize = 1 << 20;
/// Most messages taken from the ring at once by `recv`.
const BATCH: usize = 4096;
/// `send` hands its records to the consumer at least every this many
/// bytes of input (never more than an eighth of the ring).
const HANDOFF: usize = 64 << 10;

/// What `create` (and `send --create`) makes.
#[derive(Debug, Clone)]
pub struct CreateArgs {
    /// Channel kind.
    pub kind: Kind,
    /// Bytes of record area (byte kinds) or slots (spsc, mpmc).
    pub capacity: u64,
    /// Largest message (byte kinds).
    pub max_message: Option<u64>,
    /// File mode.
    pub mode: u32,
    /// Element size (spsc).
    pub elem_size: Option<u64>,
    /// Policy of a broadcast channel (`None`: block).
    pub policy: Option<Policy>,
}

/// Why `send` and `recv` refuse broadcast segments.
const NO_SHELL_BROADCAST: &str = "send and recv carry byte messages; broadcast channels of byte messages are not \
     supported from the shell yet (a broadcast segment made by `create --kind broadcast` carries u64 elements \
     for programs using the library; `stat` shows its subscribers)";

fn usize_of(v: u64, what: &str) -> Res<usize> {
    usize::try_from(v).map_err(|_| Fail::new(USAGE, format!("{what} {v} is too large")))
}

fn bytes_builder(a: &CreateArgs) -> Res<bytes::Builder> {
    let mut b = bytes::Builder::new().kind(a.kind).mode(a.mode);
    if let Some(m) = a.max_message {
        b = b.max_message(usize_of(m, "--max-message")?);
    }
    Ok(b)
}

/// `shmlane create`.
pub fn create(name: &str, a: &CreateArgs) -> Res<()> {
    let cap = usize_of(a.capacity, "--capacity")?;
    let is_bytes = matches!(a.kind, Kind::Bytes | Kind::BytesMpsc | Kind::BytesMpmc);
    if !is_bytes && a.max_message.is_some() {
        return Err(Fail::new(USAGE, "--max-message applies to byte kinds only"));
    }
    if a.kind != Kind::Broadcast && a.policy.is_some() {
        return Err(Fail::new(USAGE, "--policy applies to --kind broadcast only"));
    }
    if a.kind != Kind::Spsc && a.elem_size.is_some() {
        return Err(Fail::new(
            USAGE,
            "--elem-size applies to --kind spsc only (mpmc rings are created with u64 elements)",
        ));
    }
    match a.kind {
        Kind::Bytes | Kind::BytesMpsc | Kind::BytesMpmc => {
            bytes_builder(a)?.create(name, cap)?;
        }
        Kind::Spsc => {
            let b = shmlane::spsc::Builder::new().mode(a.mode);
            match a.elem_size {
                None => {
                    b.create::<u64>(name, cap)?;
                }
                Some(sz) => {
                    let sz = usize_of(sz, "--elem-size")?;
                    // The largest power of two dividing the size, at most 8.
                    let align = 1usize << sz.trailing_zeros().min(3);
                    shmlane::spsc::RawChannel::create(&b, name, cap, sz, align)?;
                }
            }
        }
        Kind::Mpmc => {
            shmlane::mpmc::Builder::new()
                .capacity(cap)
                .mode(a.mode)
                .create::<u64>(name)?;
        }
        Kind::Broadcast => {
            shmlane::broadcast::Builder::new()
                .capacity(cap)
                .policy(a.policy.unwrap_or(Policy::Block))
                .mode(a.mode)
                .create::<u64>(name)?;
        }
        Kind::BroadcastBytes => return Err(Fail::new(USAGE, NO_SHELL_BROADCAST)),
    }
    Ok(())
}

fn open_bytes(name: &str) -> Res<bytes::Channel> {
    bytes::Channel::open(name).map_err(|e| match e {
        shmlane::Error::KindMismatch {
            found: Kind::Broadcast | Kind::BroadcastBytes,
            ..
        } => Fail::new(USAGE, format!("'{name}' is a broadcast channel: {NO_SHELL_BROADCAST}")),
        shmlane::Error::KindMismatch { found, .. } => Fail::new(
            USAGE,
            format!(
                "'{name}' is a {found} channel of fixed-size elements; send and recv carry byte messages \
                 (create it with --kind bytes, bytes-mpsc or bytes-mpmc)"
            ),
        ),
        e => e.into(),
    })
}

fn stdin_file() -> Res<File> {
    let fd = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Fail::new(FAILURE, format!("stdin: {e}")))?;
    Ok(File::from(fd))
}

fn stdout_file() -> Res<File> {
    let fd = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Fail::new(FAILURE, format!("stdout: {e}")))?;
    Ok(File::from(fd))
}

fn send_fail(name: &str, e: SendError<()>) -> Fail {
    match e {
        SendError::Disconnected(()) => Fail::new(
            DISCONNECTED,
            format!("the consumer of '{name}' closed the ring before all input was sent"),
        ),
        SendError::PeerDied { pid, .. } => Fail::new(PEER_DIED, format!("the consumer of '{name}' (pid {pid}) died")),
        SendError::Corrupt { corruption, .. } => Fail::new(
            crate::exit::CORRUPT,
            format!("segment '{name}' is corrupt: {corruption}"),
        ),
        SendError::TooLarge { len, max, .. } => too_large(name, len, max),
    }
}

fn too_large(name: &str, len: usize, max: usize) -> Fail {
    Fail::new(
        TOO_LARGE,
        format!(
            "a message of {len} bytes is larger than the largest message '{name}' accepts ({max} bytes); \
             recreate the ring with a larger --max-message (and --capacity)"
        ),
    )
}

/// Writes one message into its own record; the hand-off is left to
/// `Producer::flush` (see the module docs).
#[inline]
fn put(tx: &mut bytes::Producer, name: &str, msg: &[u8]) -> Res<()> {
    match tx.claim(msg.len()) {
        Ok(mut g) => {
            g.copy_from_slice(msg);
            g.commit_held();
            Ok(())
        }
        Err(e) => Err(send_fail(name, e)),
    }
}

/// `shmlane send`.
pub fn send(name: &str, create_args: Option<&CreateArgs>, framing: Framing) -> Res<()> {
    if create_args.is_some_and(|a| matches!(a.kind, Kind::Broadcast | Kind::BroadcastBytes)) {
        return Err(Fail::new(USAGE, NO_SHELL_BROADCAST));
    }
    let ch = match create_args {
        Some(a) => match bytes_builder(a)?.create(name, usize_of(a.capacity, "--capacity")?) {
            Ok(ch) => ch,
            Err(shmlane::Error::AlreadyExists { .. }) => open_bytes(name)?,
            Err(e) => return Err(e.into()),
        },
        None => open_bytes(name)?,
    };
    let mut tx = ch.producer()?;
    let max = tx.max_message();
    let handoff = HANDOFF.min(tx.capacity() / 8);
    let mut input = stdin_file()?;
    // buf[start..end] holds input not yet sent.
    let mut buf = vec![0u8; CHUNK];
    let (mut start, mut end) = (0usize, 0usize);
    loop {
        // Make room: move the unsent tail to the front, grow only when one
        // message does not fit (bounded by max_message).
        if end == buf.len() {
            if start > 0 {
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
            } else {
                let want = (buf.len() * 2).min(max.saturating_add(8).max(CHUNK));
                if want <= buf.len() {
                    return Err(too_large(name, end, max));
                }
                buf.resize(want, 0);
            }
        }
        // The read may block: hand over everything committed first, so that
        // an interactive writer's lines are never held back.
        tx.flush();
        let n = match input.read(&mut buf[end..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Fail::new(FAILURE, format!("reading stdin: {e}"))),
        };
        let eof = n == 0;
        end += n;
        // Where the input was last handed over.
        let mut mark = start;
        match framing {
            Framing::Lines => {
                let base = start;
                for i in memchr::memchr_iter(b'\n', &buf[base..end]) {
                    let line = &buf[start..base + i];
                    if line.len() > max {
                        return Err(too_large(name, line.len(), max));
                    }
                    put(&mut tx, name, line)?;
                    start = base + i + 1;
                    if start - mark >= handoff {
                        tx.flush();
                        mark = start;
                    }
                }
                if end - start > max {
                    return Err(too_large(name, end - start, max));
                }
                if eof {
                    if start < end {
                        // A last line without a newline.
                        put(&mut tx, name, &buf[start..end])?;
                    }
                    break;
                }
            }
            Framing::Frames => {
                while end - start >= 4 {
                    let len = u32::from_le_bytes(buf[start..start + 4].try_into().expect("4 bytes")) as usize;
                    if len > max {
                        return Err(too_large(name, len, max));
                    }
                    if end - start - 4 < len {
                        break;
                    }
                    put(&mut tx, name, &buf[start + 4..start + 4 + len])?;
                    start += 4 + len;
                    if start - mark >= handoff {
                        tx.flush();
                        mark = start;
                    }
                }
                if eof {
                    if start < end {
                        return Err(Fail::new(
                            FAILURE,
                            format!("input ends inside a frame ({} bytes left over)", end - start),
                        ));
                    }
                    break;
                }
            }
        }
        if start == end {
            start = 0;
            end = 0;
        }
    }
    drop(tx); // hands over the rest and closes: the consumer sees the end after the last message
    Ok(())
}

fn emit(batch: &Batch<'_>, out: &mut impl Write, framing: Framing) -> io::Result<usize> {
    let mut n = 0;
    for r in batch.iter() {
        let data = r.data();
        match framing {
            Framing::Lines => {
                out.write_all(data)?;
                out.write_all(b"\n")?;
            }
            Framing::Frames => {
                out.write_all(&(data.len() as u32).to_le_bytes())?;
                out.write_all(data)?;
            }
        }
        n += 1;
    }
    Ok(n)
}

enum Stop {
    Done,
    Fail(Fail),
}

fn recv_fail(name: &str, e: RecvTimeoutError, timeout: Option<Duration>) -> Stop {
    match e {
        RecvTimeoutError::Disconnected => Stop::Done,
        RecvTimeoutError::Timeout => Stop::Fail(Fail::new(
            TIMEOUT,
            format!("no message on '{name}' within {:?}", timeout.unwrap_or_default()),
        )),
        RecvTimeoutError::PeerDied { pid } => Stop::Fail(Fail::new(
            PEER_DIED,
            format!("the producer of '{name}' (pid {pid}) died; every message it committed was written"),
        )),
        RecvTimeoutError::Corrupt { corruption } => Stop::Fail(Fail::new(
            crate::exit::CORRUPT,
            format!("segment '{name}' is corrupt: {corruption}"),
        )),
    }
}

fn from_try(e: TryRecvError) -> RecvTimeoutError {
    match e {
        TryRecvError::Empty => RecvTimeoutError::Timeout,
        TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
        TryRecvError::PeerDied { pid } => RecvTimeoutError::PeerDied { pid },
        TryRecvError::Corrupt { corruption } => RecvTimeoutError::Corrupt { corruption },
    }
}

fn from_blocking(e: RecvError) -> RecvTimeoutError {
    match e {
        RecvError::Disconnected => RecvTimeoutError::Disconnected,
        RecvError::PeerDied { pid } => RecvTimeoutError::PeerDied { pid },
        RecvError::Corrupt { corruption } => RecvTimeoutError::Corrupt { corruption },
    }
}

/// `shmlane recv`.
pub fn recv(name: &str, count: Option<u64>, timeout: Option<Duration>, framing: Framing) -> Res<()> {
    let ch = open_bytes(name)?;
    let mut rx = ch.consumer()?;
    let mut out = BufWriter::with_capacity(CHUNK, stdout_file()?);
    let mut got = 0u64;
    let stop = loop {
        let m = match count {
            Some(c) if got >= c => break Stop::Done,
            Some(c) => (c - got).min(BATCH as u64) as usize,
            None => BATCH,
        };
        match rx.try_read_batch(m) {
            Ok(b) => {
                got += emit(&b, &mut out, framing).map_err(|e| io_fail("writing stdout", e))? as u64;
                continue;
            }
            Err(TryRecvError::Empty) => {}
            Err(e) => break recv_fail(name, from_try(e), timeout),
        }
        // Empty: hand what we have to the reader before blocking.
        out.flush().map_err(|e| io_fail("writing stdout", e))?;
        let r = match timeout {
            Some(t) => rx.read_batch_timeout(m, t),
            None => rx.read_batch(m).map_err(from_blocking),
        };
        match r {
            Ok(b) => got += emit(&b, &mut out, framing).map_err(|e| io_fail("writing stdout", e))? as u64,
            Err(e) => break recv_fail(name, e, timeout),
        }
    };
    out.flush().map_err(|e| io_fail("writing stdout", e))?;
    match stop {
        Stop::Done => Ok(()),
        Stop::Fail(f) => Err(f),
    }
}
