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
//!
//! On a byte broadcast channel ([`Kind::BroadcastBytes`]) `send` is the
//! publisher and every `recv` a subscriber: the same input loop publishes
//! each line or frame as one message, held back with
//! [`bc::BytesPublisher::send_held`] and handed over by
//! [`bc::BytesPublisher::flush`] at the same points as the byte rings'
//! records, and each `recv` writes every message it receives, as for the
//! byte rings (the subscriber frees its part of the ring in steps, see
//! `shmlane::broadcast::bytes`). Under the Overwrite policy a lapped
//! `recv` reports its losses on stderr (at most once a second, and a total
//! at the end) and goes on, or with `--no-loss` stops with [`LOST`]. The
//! fixed-size broadcast ([`Kind::Broadcast`], u64 elements) is refused like
//! the other fixed-size kinds: its messages are not bytes.

use crate::exit::{io_fail, Fail, Res, CORRUPT, DISCONNECTED, FAILURE, LOST, PEER_DIED, TIMEOUT, TOO_LARGE, USAGE};
use crate::Framing;
use shmlane::broadcast::{self as bc, BytesBuilder, BytesChannel, BytesPublisher, Policy};
use shmlane::bytes::{self, Batch};
use shmlane::layout::Kind;
use shmlane::{RecvError, RecvTimeoutError, SendError, TryRecvError};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

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

/// What `recv` does besides reading (see `shmlane recv --help`).
#[derive(Debug, Clone, Copy)]
pub struct RecvArgs {
    /// Stop after this many messages.
    pub count: Option<u64>,
    /// Fail when no message arrives within this long.
    pub timeout: Option<Duration>,
    /// Output framing.
    pub framing: Framing,
    /// Broadcast: start with the oldest message still in the ring.
    pub from_oldest: bool,
    /// Broadcast: fail with [`LOST`] when lapped.
    pub no_loss: bool,
}

/// Why `send` and `recv` refuse the fixed-size broadcast kind.
const NO_SHELL_FIXED_BROADCAST: &str = "send and recv carry byte messages, and a `--kind broadcast` channel carries \
     fixed-size u64 elements for programs using the library (`stat` shows its subscribers); for a broadcast of \
     lines or frames from the shell create a byte broadcast: `shmlane create NAME --kind broadcast-bytes`";

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
    let is_bytes = matches!(
        a.kind,
        Kind::Bytes | Kind::BytesMpsc | Kind::BytesMpmc | Kind::BroadcastBytes
    );
    if !is_bytes && a.max_message.is_some() {
        return Err(Fail::new(USAGE, "--max-message applies to byte kinds only"));
    }
    if !matches!(a.kind, Kind::Broadcast | Kind::BroadcastBytes) && a.policy.is_some() {
        return Err(Fail::new(
            USAGE,
            "--policy applies to --kind broadcast-bytes and --kind broadcast only",
        ));
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
        Kind::BroadcastBytes => {
            broadcast_builder(a)?.create(name)?;
        }
    }
    Ok(())
}

/// A byte broadcast as `create` makes it; `max_message` defaults to a
/// quarter of the capacity, as for the byte rings.
fn broadcast_builder(a: &CreateArgs) -> Res<BytesBuilder> {
    let cap = usize_of(a.capacity, "--capacity")?;
    let max = match a.max_message {
        Some(m) => usize_of(m, "--max-message")?,
        None => cap / 4,
    };
    Ok(BytesBuilder::new()
        .capacity(cap)
        .max_message(max)
        .policy(a.policy.unwrap_or(Policy::Block))
        .mode(a.mode))
}

/// A channel `send` and `recv` can use.
enum Pipe {
    /// A byte ring (SPSC, MPSC, MPMC).
    Ring(bytes::Channel),
    /// A byte broadcast.
    Broadcast(BytesChannel),
}

fn open_pipe(name: &str) -> Res<Pipe> {
    match bytes::Channel::open(name) {
        Ok(ch) => Ok(Pipe::Ring(ch)),
        Err(shmlane::Error::KindMismatch {
            found: Kind::BroadcastBytes,
            ..
        }) => Ok(Pipe::Broadcast(BytesChannel::open(name)?)),
        Err(shmlane::Error::KindMismatch {
            found: Kind::Broadcast, ..
        }) => Err(Fail::new(
            USAGE,
            format!("'{name}' is a broadcast channel of u64 elements: {NO_SHELL_FIXED_BROADCAST}"),
        )),
        Err(shmlane::Error::KindMismatch { found, .. }) => Err(Fail::new(
            USAGE,
            format!(
                "'{name}' is a {found} channel of fixed-size elements; send and recv carry byte messages \
                 (create it with --kind bytes, bytes-mpsc, bytes-mpmc or broadcast-bytes)"
            ),
        )),
        Err(e) => Err(e.into()),
    }
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
        SendError::Corrupt { corruption, .. } => {
            Fail::new(CORRUPT, format!("segment '{name}' is corrupt: {corruption}"))
        }
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

/// Where `send` puts messages: a byte ring's producer or a byte
/// broadcast's publisher.
trait Sink {
    /// Largest message.
    fn max_message(&self) -> usize;
    /// Bytes of the record area.
    fn capacity(&self) -> usize;
    /// Writes one message; the hand-off may be left to [`Sink::flush`].
    fn put(&mut self, name: &str, msg: &[u8]) -> Res<()>;
    /// Hands over every message put so far.
    fn flush(&mut self);
}

impl Sink for bytes::Producer {
    fn max_message(&self) -> usize {
        bytes::Producer::max_message(self)
    }

    fn capacity(&self) -> usize {
        bytes::Producer::capacity(self)
    }

    /// Writes one message into its own record; the hand-off is left to
    /// `Producer::flush` (see the module docs).
    #[inline]
    fn put(&mut self, name: &str, msg: &[u8]) -> Res<()> {
        match self.claim(msg.len()) {
            Ok(mut g) => {
                g.copy_from_slice(msg);
                g.commit_held();
                Ok(())
            }
            Err(e) => Err(send_fail(name, e)),
        }
    }

    fn flush(&mut self) {
        bytes::Producer::flush(self);
    }
}

/// A byte broadcast publisher and its area size.
struct Publisher {
    tx: BytesPublisher,
    capacity: usize,
}

impl Sink for Publisher {
    fn max_message(&self) -> usize {
        self.tx.max_message()
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    /// Publishes one message, held back until [`Sink::flush`] (see the
    /// module docs).
    #[inline]
    fn put(&mut self, name: &str, msg: &[u8]) -> Res<()> {
        self.tx.send_held(msg).map_err(|e| match e {
            SendError::TooLarge { len, max, .. } => too_large(name, len, max),
            SendError::Corrupt { corruption, .. } => {
                Fail::new(CORRUPT, format!("segment '{name}' is corrupt: {corruption}"))
            }
            // A publisher is never told that nobody listens.
            e => Fail::new(FAILURE, format!("publishing to '{name}': {e}")),
        })
    }

    fn flush(&mut self) {
        self.tx.flush();
    }
}

/// `shmlane send`.
pub fn send(name: &str, create_args: Option<&CreateArgs>, framing: Framing, wait_subscribers: Option<u32>) -> Res<()> {
    let pipe = match create_args {
        Some(a) if a.kind == Kind::Broadcast => {
            return Err(Fail::new(
                USAGE,
                format!("--kind broadcast: {NO_SHELL_FIXED_BROADCAST}"),
            ))
        }
        Some(a) if a.kind == Kind::BroadcastBytes => match broadcast_builder(a)?.create(name) {
            Ok(ch) => Pipe::Broadcast(ch),
            Err(shmlane::Error::AlreadyExists { .. }) => open_pipe(name)?,
            Err(e) => return Err(e.into()),
        },
        Some(a) => {
            if a.policy.is_some() {
                return Err(Fail::new(USAGE, "--policy applies to --kind broadcast-bytes only"));
            }
            match bytes_builder(a)?.create(name, usize_of(a.capacity, "--capacity")?) {
                Ok(ch) => Pipe::Ring(ch),
                Err(shmlane::Error::AlreadyExists { .. }) => open_pipe(name)?,
                Err(e) => return Err(e.into()),
            }
        }
        None => open_pipe(name)?,
    };
    match pipe {
        Pipe::Ring(ch) => {
            if wait_subscribers.is_some() {
                return Err(Fail::new(
                    USAGE,
                    format!("--wait-subscribers applies to broadcast-bytes channels; '{name}' is a byte ring"),
                ));
            }
            let mut tx = ch.producer()?;
            pump(name, &mut tx, framing)
            // Dropping `tx` hands over the rest and closes: the consumer
            // sees the end after the last message.
        }
        Pipe::Broadcast(ch) => {
            let tx = ch.publisher()?;
            if let Some(n) = wait_subscribers {
                wait_for_subscribers(&ch, n);
            }
            let mut p = Publisher {
                tx,
                capacity: ch.capacity(),
            };
            pump(name, &mut p, framing)
            // Dropping the publisher detaches it: each subscriber sees the
            // end after the last message.
        }
    }
}

/// Waits until at least `n` live subscribers are attached to `ch`.
///
/// The library wakes nobody when a subscriber joins, so this polls: the
/// attachment counter (no system call) every 2 ms, and the subscribers'
/// liveness (a system call per subscriber) once the counter is high
/// enough. A human-scale wait before the first message, never on the
/// message path.
fn wait_for_subscribers(ch: &BytesChannel, n: u32) {
    loop {
        if ch.stats().subscribers >= n {
            let alive = ch.subscribers().iter().filter(|s| s.alive && !s.evicted).count();
            if alive >= n as usize {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reads stdin and puts each line (or frame) into `tx` as one message.
fn pump<S: Sink>(name: &str, tx: &mut S, framing: Framing) -> Res<()> {
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
                    tx.put(name, line)?;
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
                        tx.put(name, &buf[start..end])?;
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
                    tx.put(name, &buf[start + 4..start + 4 + len])?;
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
    tx.flush();
    Ok(())
}

/// Writes one message: the bytes and a newline, or a frame.
#[inline]
fn write_msg(data: &[u8], out: &mut impl Write, framing: Framing) -> io::Result<()> {
    match framing {
        Framing::Lines => {
            out.write_all(data)?;
            out.write_all(b"\n")
        }
        Framing::Frames => {
            out.write_all(&(data.len() as u32).to_le_bytes())?;
            out.write_all(data)
        }
    }
}

fn emit(batch: &Batch<'_>, out: &mut impl Write, framing: Framing) -> io::Result<usize> {
    let mut n = 0;
    for r in batch.iter() {
        write_msg(r.data(), out, framing)?;
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
        RecvTimeoutError::Corrupt { corruption } => {
            Stop::Fail(Fail::new(CORRUPT, format!("segment '{name}' is corrupt: {corruption}")))
        }
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
pub fn recv(name: &str, a: &RecvArgs) -> Res<()> {
    match open_pipe(name)? {
        Pipe::Ring(ch) => {
            for (set, flag) in [(a.from_oldest, "--from-oldest"), (a.no_loss, "--no-loss")] {
                if set {
                    return Err(Fail::new(
                        USAGE,
                        format!(
                            "{flag} applies to broadcast-bytes channels; '{name}' is a byte ring, whose \
                             consumer receives every message"
                        ),
                    ));
                }
            }
            recv_ring(name, &ch, a.count, a.timeout, a.framing)
        }
        Pipe::Broadcast(ch) => recv_broadcast(name, &ch, a),
    }
}

fn recv_ring(
    name: &str,
    ch: &bytes::Channel,
    count: Option<u64>,
    timeout: Option<Duration>,
    framing: Framing,
) -> Res<()> {
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

/// Messages a broadcast `recv` lost, reported on stderr as they happen (at
/// most once a second: a slow reader under Overwrite may be lapped again
/// and again) and in total at the end.
struct Losses<'a> {
    name: &'a str,
    total: u64,
    unreported: u64,
    last: Option<Instant>,
}

/// Least time between two loss reports.
const REPORT_EVERY: Duration = Duration::from_secs(1);

impl Losses<'_> {
    fn add(&mut self, n: u64) {
        self.total += n;
        self.unreported += n;
        let now = Instant::now();
        if self.last.is_none_or(|t| now.duration_since(t) >= REPORT_EVERY) {
            self.report();
            self.last = Some(now);
        }
    }

    fn report(&mut self) {
        if self.unreported > 0 {
            eprintln!(
                "shmlane: recv {}: lapped by the publisher: lost {} messages ({} so far); continuing with the \
                 oldest message still in the ring",
                self.name, self.unreported, self.total
            );
            self.unreported = 0;
        }
    }

    /// The final report, when anything was lost.
    fn finish(&mut self, received: u64) {
        if self.total > 0 {
            self.report();
            eprintln!(
                "shmlane: recv {}: lost {} messages in all (overwritten before they were read); received {}",
                self.name, self.total, received
            );
        }
    }
}

/// What a broadcast `recv` does after a failed read.
fn broadcast_stop(name: &str, e: bc::RecvTimeoutError, a: &RecvArgs, losses: &mut Losses<'_>) -> Option<Stop> {
    Some(match e {
        bc::RecvTimeoutError::Lagged(n) if a.no_loss => Stop::Fail(Fail::new(
            LOST,
            format!(
                "recv {name}: lapped by the publisher: {n} messages were overwritten before they were read \
                 (--no-loss)"
            ),
        )),
        bc::RecvTimeoutError::Lagged(n) => {
            losses.add(n);
            return None;
        }
        bc::RecvTimeoutError::Disconnected => Stop::Done,
        bc::RecvTimeoutError::Timeout => Stop::Fail(Fail::new(
            TIMEOUT,
            format!("no message on '{name}' within {:?}", a.timeout.unwrap_or_default()),
        )),
        bc::RecvTimeoutError::PeerDied { pid } => Stop::Fail(Fail::new(
            PEER_DIED,
            format!("the publisher of '{name}' (pid {pid}) died; every message it published was written"),
        )),
        bc::RecvTimeoutError::Corrupt { corruption } => {
            Stop::Fail(Fail::new(CORRUPT, format!("segment '{name}' is corrupt: {corruption}")))
        }
    })
}

fn from_try_bc(e: bc::TryRecvError) -> bc::RecvTimeoutError {
    match e {
        bc::TryRecvError::Empty => bc::RecvTimeoutError::Timeout,
        bc::TryRecvError::Lagged(n) => bc::RecvTimeoutError::Lagged(n),
        bc::TryRecvError::Disconnected => bc::RecvTimeoutError::Disconnected,
        bc::TryRecvError::PeerDied { pid } => bc::RecvTimeoutError::PeerDied { pid },
        bc::TryRecvError::Corrupt { corruption } => bc::RecvTimeoutError::Corrupt { corruption },
    }
}

fn from_blocking_bc(e: bc::RecvError) -> bc::RecvTimeoutError {
    match e {
        bc::RecvError::Lagged(n) => bc::RecvTimeoutError::Lagged(n),
        bc::RecvError::Disconnected => bc::RecvTimeoutError::Disconnected,
        bc::RecvError::PeerDied { pid } => bc::RecvTimeoutError::PeerDied { pid },
        bc::RecvError::Corrupt { corruption } => bc::RecvTimeoutError::Corrupt { corruption },
    }
}

/// `recv` on a byte broadcast: subscribes (from the newest message, or the
/// oldest still in the ring) and writes every message it receives.
fn recv_broadcast(name: &str, ch: &BytesChannel, a: &RecvArgs) -> Res<()> {
    let mut rx = if a.from_oldest {
        ch.subscribe_from_oldest()?
    } else {
        ch.subscribe()?
    };
    let mut out = BufWriter::with_capacity(CHUNK, stdout_file()?);
    let mut losses = Losses {
        name,
        total: 0,
        unreported: 0,
        last: None,
    };
    let mut got = 0u64;
    let stop = loop {
        if a.count.is_some_and(|c| got >= c) {
            break Stop::Done;
        }
        let e = match rx.try_read() {
            Ok(m) => {
                write_msg(&m, &mut out, a.framing).map_err(|e| io_fail("writing stdout", e))?;
                got += 1;
                continue;
            }
            Err(e) => e,
        };
        let e = if e == bc::TryRecvError::Empty {
            // Empty: hand what we have to the reader before blocking.
            out.flush().map_err(|e| io_fail("writing stdout", e))?;
            let r = match a.timeout {
                Some(t) => rx.read_timeout(t),
                None => rx.read().map_err(from_blocking_bc),
            };
            match r {
                Ok(m) => {
                    write_msg(&m, &mut out, a.framing).map_err(|e| io_fail("writing stdout", e))?;
                    got += 1;
                    continue;
                }
                Err(e) => e,
            }
        } else {
            from_try_bc(e)
        };
        if let Some(stop) = broadcast_stop(name, e, a, &mut losses) {
            break stop;
        }
    };
    out.flush().map_err(|e| io_fail("writing stdout", e))?;
    if !matches!(&stop, Stop::Fail(f) if f.code == LOST) {
        losses.finish(got);
    }
    match stop {
        Stop::Done => Ok(()),
        Stop::Fail(f) => Err(f),
    }
}
