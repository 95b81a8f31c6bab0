//! Error types.
//!
//! [`Error`] covers creating, opening and attaching to a segment. The
//! message-passing operations have the std/crossbeam shapes
//! ([`TrySendError::Full`], [`RecvTimeoutError::Timeout`], …) with two extra
//! cases a shared-memory channel needs: the peer *process died*
//! ([`TryRecvError::PeerDied`]) and the segment was found *corrupt*
//! ([`TryRecvError::Corrupt`]). The same families serve every ring: SPSC
//! rings call the operations `push`/`pop`, the others `send`/`recv`.

use crate::layout::{Kind, Role, TypeFingerprint};
use std::fmt;
use std::io;

/// Errors from creating, opening or attaching to a segment.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The name is not a valid POSIX shared-memory name.
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A creation parameter is out of range.
    InvalidArgument(String),
    /// A segment with this name exists already.
    AlreadyExists {
        /// Segment name.
        name: String,
        /// True when every endpoint recorded in it is dead: the segment is
        /// stale and may be removed.
        stale: bool,
    },
    /// No segment has this name.
    NotFound {
        /// Segment name.
        name: String,
    },
    /// The segment exists but this process may not open it.
    PermissionDenied {
        /// Segment name.
        name: String,
    },
    /// /dev/shm (or the memory cgroup) has no room for the segment.
    NoSpace {
        /// Segment name.
        name: String,
        /// Bytes that were asked for.
        bytes: u64,
    },
    /// The segment was created by another version of the layout.
    AbiMismatch {
        /// Segment name.
        name: String,
        /// Version found in the segment.
        found: u32,
        /// Version this library speaks.
        expected: u32,
    },
    /// The segment holds another kind of channel.
    KindMismatch {
        /// Segment name.
        name: String,
        /// Kind found in the segment.
        found: Kind,
        /// Kind asked for.
        expected: Kind,
    },
    /// The segment was created for another element type.
    TypeMismatch {
        /// Segment name.
        name: String,
        /// Fingerprint stored in the segment.
        found: TypeFingerprint,
        /// Fingerprint of the type asked for.
        expected: TypeFingerprint,
    },
    /// The segment is shorter than its header says (or than a header).
    Truncated {
        /// Segment name.
        name: String,
        /// Bytes the segment should have.
        expected: u64,
        /// Bytes it has.
        actual: u64,
    },
    /// The segment is not a shmlane segment, or its header is inconsistent.
    Corrupt {
        /// Segment name.
        name: String,
        /// What was found wrong.
        detail: String,
    },
    /// The creator has not finished initialising the segment within the
    /// wait bound.
    NotInitialized {
        /// Segment name.
        name: String,
    },
    /// The role is held by another live process.
    EndpointBusy {
        /// Segment name.
        name: String,
        /// Role asked for.
        role: Role,
        /// Process holding it.
        pid: u32,
    },
    /// Every endpoint entry is taken by a live process.
    EndpointTableFull {
        /// Segment name.
        name: String,
        /// Size of the table.
        capacity: u32,
    },
    /// Another system call failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// Segment name (may be empty for anonymous segments).
        name: String,
        /// The OS error.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName { name, reason } => write!(
                f,
                "invalid segment name {name:?}: {reason}; use a name like \"/orders\" (one leading '/', no other '/', at most 255 bytes)"
            ),
            Error::InvalidArgument(s) => write!(f, "invalid argument: {s}"),
            Error::AlreadyExists { name, stale: true } => write!(
                f,
                "segment '{name}' already exists and every process attached to it is dead; remove it with `shmlane rm {name}` (or `shmlane gc`), or create with `reclaim_stale(true)`"
            ),
            Error::AlreadyExists { name, stale: false } => write!(
                f,
                "segment '{name}' already exists and is in use; open it instead, or pick another name"
            ),
            Error::NotFound { name } => write!(
                f,
                "no segment named '{name}' in /dev/shm; create it first (or check the name)"
            ),
            Error::PermissionDenied { name } => write!(
                f,
                "permission denied opening segment '{name}'; it belongs to another user or its mode does not allow this one (see `shmlane ls`; create it with a wider mode to share across users)"
            ),
            Error::NoSpace { name, bytes } => write!(
                f,
                "no space for segment '{name}' ({bytes} bytes): /dev/shm or the memory limit is full; free space (`shmlane gc`, `df -h /dev/shm`) or ask for a smaller capacity"
            ),
            Error::AbiMismatch { name, found, expected } => write!(
                f,
                "segment '{name}' was created by ABI version {found}, this library speaks {expected}; remove it with `shmlane rm {name}` and recreate it"
            ),
            Error::KindMismatch { name, found, expected } => write!(
                f,
                "segment '{name}' holds a {found} channel, not a {expected} channel"
            ),
            Error::TypeMismatch { name, found, expected } => write!(
                f,
                "segment '{name}' was created for elements of size {} align {} (type tag {:#x}), but this endpoint uses size {} align {} (type tag {:#x}); open it with the same element type",
                found.size, found.align, found.tag, expected.size, expected.align, expected.tag
            ),
            Error::Truncated { name, expected, actual } => write!(
                f,
                "segment '{name}' is {actual} bytes but must be {expected}; it was truncated or is not a shmlane segment; remove it with `shmlane rm {name}`"
            ),
            Error::Corrupt { name, detail } => write!(
                f,
                "segment '{name}' is corrupt: {detail}; remove it with `shmlane rm {name}`"
            ),
            Error::NotInitialized { name } => write!(
                f,
                "segment '{name}' is still being initialised by its creator (or the creator died while creating it); retry, or remove it with `shmlane rm {name}`"
            ),
            Error::EndpointBusy { name, role, pid } => write!(
                f,
                "the {role} of segment '{name}' is attached in live process {pid}; only one {role} may be attached at a time"
            ),
            Error::EndpointTableFull { name, capacity } => write!(
                f,
                "all {capacity} endpoint entries of segment '{name}' are held by live processes; create the segment with a larger endpoint table"
            ),
            Error::Io { op, name, source } => write!(f, "{op} of segment '{name}' failed: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Where in a segment corruption was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corruption {
    /// Byte offset in the segment (or index value) at which it was found.
    pub offset: u64,
    /// What was wrong.
    pub what: &'static str,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment corrupt at {:#x}: {}", self.offset, self.what)
    }
}

macro_rules! display_common {
    ($f:expr, $self:expr, $ty:ident, $($extra:tt)*) => {
        match $self {
            $ty::Disconnected { .. } => $f.write_str("the other side closed the channel"),
            $ty::PeerDied { pid, .. } => write!($f, "the peer process {pid} died"),
            $ty::Corrupt { corruption, .. } => write!($f, "{corruption}"),
            $($extra)*
        }
    };
}

/// Error of a non-blocking send or push.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The ring is full; the value is handed back.
    Full(T),
    /// No receiver is attached because the last one closed cleanly.
    Disconnected(T),
    /// The receiver's process died without closing.
    PeerDied {
        /// The value not sent.
        value: T,
        /// Pid of the dead process.
        pid: u32,
    },
    /// The control words are inconsistent (another process scribbled on
    /// the segment).
    Corrupt {
        /// The value not sent.
        value: T,
        /// Where.
        corruption: Corruption,
    },
    /// The message is longer than the ring's maximum message size; nothing
    /// was written. Retrying cannot help: split the message or create the
    /// ring with a larger `max_message`.
    TooLarge {
        /// The value not sent.
        value: T,
        /// Length of the message in bytes.
        len: usize,
        /// Largest message the ring accepts.
        max: usize,
    },
}

/// Error of a blocking send or push.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendError<T> {
    /// No receiver is attached because the last one closed cleanly.
    Disconnected(T),
    /// The receiver's process died without closing.
    PeerDied {
        /// The value not sent.
        value: T,
        /// Pid of the dead process.
        pid: u32,
    },
    /// The segment is corrupt.
    Corrupt {
        /// The value not sent.
        value: T,
        /// Where.
        corruption: Corruption,
    },
    /// The message is longer than the ring's maximum message size; nothing
    /// was written. Retrying cannot help: split the message or create the
    /// ring with a larger `max_message`.
    TooLarge {
        /// The value not sent.
        value: T,
        /// Length of the message in bytes.
        len: usize,
        /// Largest message the ring accepts.
        max: usize,
    },
}

/// Error of a send or push with a timeout.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendTimeoutError<T> {
    /// The ring stayed full until the deadline.
    Timeout(T),
    /// No receiver is attached because the last one closed cleanly.
    Disconnected(T),
    /// The receiver's process died without closing.
    PeerDied {
        /// The value not sent.
        value: T,
        /// Pid of the dead process.
        pid: u32,
    },
    /// The segment is corrupt.
    Corrupt {
        /// The value not sent.
        value: T,
        /// Where.
        corruption: Corruption,
    },
    /// The message is longer than the ring's maximum message size; nothing
    /// was written. Retrying cannot help: split the message or create the
    /// ring with a larger `max_message`.
    TooLarge {
        /// The value not sent.
        value: T,
        /// Length of the message in bytes.
        len: usize,
        /// Largest message the ring accepts.
        max: usize,
    },
}

/// Error of a non-blocking receive or pop.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing to receive now.
    Empty,
    /// The ring is drained and the sender closed cleanly.
    Disconnected,
    /// The ring is drained and the sender's process died without closing.
    PeerDied {
        /// Pid of the dead process.
        pid: u32,
    },
    /// The segment is corrupt.
    Corrupt {
        /// Where.
        corruption: Corruption,
    },
}

/// Error of a blocking receive or pop.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvError {
    /// The ring is drained and the sender closed cleanly.
    Disconnected,
    /// The ring is drained and the sender's process died without closing.
    PeerDied {
        /// Pid of the dead process.
        pid: u32,
    },
    /// The segment is corrupt.
    Corrupt {
        /// Where.
        corruption: Corruption,
    },
}

/// Error of a receive or pop with a timeout.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvTimeoutError {
    /// Nothing arrived before the deadline.
    Timeout,
    /// The ring is drained and the sender closed cleanly.
    Disconnected,
    /// The ring is drained and the sender's process died without closing.
    PeerDied {
        /// Pid of the dead process.
        pid: u32,
    },
    /// The segment is corrupt.
    Corrupt {
        /// Where.
        corruption: Corruption,
    },
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Disconnected(_) => f.write_str("Disconnected(..)"),
            TrySendError::PeerDied { pid, .. } => write!(f, "PeerDied {{ pid: {pid}, .. }}"),
            TrySendError::Corrupt { corruption, .. } => write!(f, "Corrupt {{ {corruption:?}, .. }}"),
            TrySendError::TooLarge { len, max, .. } => write!(f, "TooLarge {{ len: {len}, max: {max}, .. }}"),
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Disconnected(_) => f.write_str("Disconnected(..)"),
            SendError::PeerDied { pid, .. } => write!(f, "PeerDied {{ pid: {pid}, .. }}"),
            SendError::Corrupt { corruption, .. } => write!(f, "Corrupt {{ {corruption:?}, .. }}"),
            SendError::TooLarge { len, max, .. } => write!(f, "TooLarge {{ len: {len}, max: {max}, .. }}"),
        }
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SendTimeoutError::Disconnected(_) => f.write_str("Disconnected(..)"),
            SendTimeoutError::PeerDied { pid, .. } => write!(f, "PeerDied {{ pid: {pid}, .. }}"),
            SendTimeoutError::Corrupt { corruption, .. } => write!(f, "Corrupt {{ {corruption:?}, .. }}"),
            SendTimeoutError::TooLarge { len, max, .. } => write!(f, "TooLarge {{ len: {len}, max: {max}, .. }}"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display_common!(f, self, TrySendError, TrySendError::Full(_) => f.write_str("the ring is full"), TrySendError::TooLarge { len, max, .. } => too_large(f, *len, *max))
    }
}
impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display_common!(f, self, SendError, SendError::TooLarge { len, max, .. } => too_large(f, *len, *max))
    }
}
impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display_common!(f, self, SendTimeoutError, SendTimeoutError::Timeout(_) => f.write_str("timed out waiting for room in the ring"), SendTimeoutError::TooLarge { len, max, .. } => too_large(f, *len, *max))
    }
}
impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display_common!(f, self, TryRecvError, TryRecvError::Empty => f.write_str("the ring is empty"))
    }
}
impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display_common!(f, self, RecvError,)
    }
}
impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display_common!(f, self, RecvTimeoutError, RecvTimeoutError::Timeout => f.write_str("timed out waiting for a message"))
    }
}

fn too_large(f: &mut fmt::Formatter<'_>, len: usize, max: usize) -> fmt::Result {
    write!(
        f,
        "message of {len} bytes is larger than the ring's maximum of {max} bytes; split it or create the ring with a larger max_message"
    )
}

impl<T> std::error::Error for TrySendError<T> {}
impl<T> std::error::Error for SendError<T> {}
impl<T> std::error::Error for SendTimeoutError<T> {}
impl std::error::Error for TryRecvError {}
impl std::error::Error for RecvError {}
impl std::error::Error for RecvTimeoutError {}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Disconnected(v) => v,
            TrySendError::PeerDied { value, .. }
            | TrySendError::Corrupt { value, .. }
            | TrySendError::TooLarge { value, .. } => value,
        }
    }
    /// Whether the ring was full (the only case in which retrying helps).
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// The same failure as the error of a waiting send: `Full` becomes
    /// `Timeout` (the ring stayed full until the deadline).
    pub(crate) fn into_send_timeout(self) -> SendTimeoutError<T> {
        match self {
            TrySendError::Full(v) => SendTimeoutError::Timeout(v),
            TrySendError::Disconnected(v) => SendTimeoutError::Disconnected(v),
            TrySendError::PeerDied { value, pid } => SendTimeoutError::PeerDied { value, pid },
            TrySendError::Corrupt { value, corruption } => SendTimeoutError::Corrupt { value, corruption },
            TrySendError::TooLarge { value, len, max } => SendTimeoutError::TooLarge { value, len, max },
        }
    }
}

impl TryRecvError {
    /// The same failure as the error of a waiting receive: `Empty` becomes
    /// `Timeout` (the ring stayed empty until the deadline).
    pub(crate) fn into_recv_timeout(self) -> RecvTimeoutError {
        match self {
            TryRecvError::Empty => RecvTimeoutError::Timeout,
            TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            TryRecvError::PeerDied { pid } => RecvTimeoutError::PeerDied { pid },
            TryRecvError::Corrupt { corruption } => RecvTimeoutError::Corrupt { corruption },
        }
    }
}

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendError::Disconnected(v) => v,
            SendError::PeerDied { value, .. }
            | SendError::Corrupt { value, .. }
            | SendError::TooLarge { value, .. } => value,
        }
    }
}

impl<T> SendTimeoutError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(v) | SendTimeoutError::Disconnected(v) => v,
            SendTimeoutError::PeerDied { value, .. }
            | SendTimeoutError::Corrupt { value, .. }
            | SendTimeoutError::TooLarge { value, .. } => value,
        }
    }
}

/// Why the other side can carry no message right now (internal currency
/// of the ring code, converted into the public families above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    Disconnected,
    PeerDied(u32),
    Corrupt(Corruption),
}

#[allow(dead_code)] // each ring uses the conversions it needs
impl Closed {
    pub(crate) fn try_send<T>(self, value: T) -> TrySendError<T> {
        match self {
            Closed::Disconnected => TrySendError::Disconnected(value),
            Closed::PeerDied(pid) => TrySendError::PeerDied { value, pid },
            Closed::Corrupt(corruption) => TrySendError::Corrupt { value, corruption },
        }
    }
    pub(crate) fn send<T>(self, value: T) -> SendError<T> {
        match self {
            Closed::Disconnected => SendError::Disconnected(value),
            Closed::PeerDied(pid) => SendError::PeerDied { value, pid },
            Closed::Corrupt(corruption) => SendError::Corrupt { value, corruption },
        }
    }
    pub(crate) fn send_timeout<T>(self, value: T) -> SendTimeoutError<T> {
        match self {
            Closed::Disconnected => SendTimeoutError::Disconnected(value),
            Closed::PeerDied(pid) => SendTimeoutError::PeerDied { value, pid },
            Closed::Corrupt(corruption) => SendTimeoutError::Corrupt { value, corruption },
        }
    }
    pub(crate) fn try_recv(self) -> TryRecvError {
        match self {
            Closed::Disconnected => TryRecvError::Disconnected,
            Closed::PeerDied(pid) => TryRecvError::PeerDied { pid },
            Closed::Corrupt(corruption) => TryRecvError::Corrupt { corruption },
        }
    }
    pub(crate) fn recv(self) -> RecvError {
        match self {
            Closed::Disconnected => RecvError::Disconnected,
            Closed::PeerDied(pid) => RecvError::PeerDied { pid },
            Closed::Corrupt(corruption) => RecvError::Corrupt { corruption },
        }
    }
    pub(crate) fn recv_timeout(self) -> RecvTimeoutError {
        match self {
            Closed::Disconnected => RecvTimeoutError::Disconnected,
            Closed::PeerDied(pid) => RecvTimeoutError::PeerDied { pid },
            Closed::Corrupt(corruption) => RecvTimeoutError::Corrupt { corruption },
        }
    }
}

/// Result alias for segment operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
