//! C ABI for shmlane (`include/shmlane.h`, generated from this file by
//! cbindgen; `tests/header.rs` fails when the committed header is stale).
//!
//! # Conventions of the ABI
//! - Handles are opaque pointers created by `*_create`/`*_open`/`*_attach`
//!   and destroyed by the matching `*_close` (NULL is accepted and ignored).
//! - Every fallible call returns a [`shmlane_status`]; results go through
//!   out-parameters, which are written only on success unless documented
//!   otherwise (`shmlane_recv` reports the size it needs on
//!   `SHMLANE_BUFFER_TOO_SMALL`).
//! - No Rust panic crosses the boundary: every entry point runs inside
//!   [`std::panic::catch_unwind`] and reports a panic as `SHMLANE_PANIC`
//!   (a bug in this library; the handle involved should be closed).
//! - Timeouts are `int64_t` nanoseconds: 0 tries once, a negative value
//!   waits for ever, a positive value waits at most that long.
//! - The text of the last error of the calling thread is available from
//!   `shmlane_last_error_message`.
//!
//! # Zero-copy in C
//! A producer handle owns at most one outstanding claim and a consumer
//! handle at most one record or batch read in place (likewise an MPMC
//! sender one claim and a receiver one element, a broadcast subscriber one
//! message). The Rust borrows that tie a [`Grant`], [`Record`], [`Batch`],
//! `mpmc::RawWriteClaim`, `mpmc::RawReadClaim`, `broadcast::RawReadGuard`
//! or `broadcast::BytesMessage` to its handle are erased to `'static` and kept next
//! to the handle, whose state lives in a separate heap allocation that
//! never moves; the borrow is always dropped before the handle state (see
//! the `Drop` impls).
//!
//! # Anonymous rings and fds
//! `*_anonymous` creates a sealed memfd segment; `*_fd` hands out a new
//! descriptor without close-on-exec (for a child or a unix socket); and
//! `*_from_fd` duplicates the caller's descriptor, so that ownership never
//! crosses the boundary.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]
#![allow(non_camel_case_types)]

use shmlane_core::broadcast;
use shmlane_core::bytes::{self, Batch, Grant, Record};
use shmlane_core::layout::{self, Kind};
use shmlane_core::mpmc;
use shmlane_core::segment::Segment;
use shmlane_core::spsc::{self, RawChannel, RawConsumer, RawProducer};
use shmlane_core::{
    Error, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError, WaitConfig,
    WaitStrategy,
};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::Duration;

// ---------------------------------------------------------------------------
// Status codes
// ---------------------------------------------------------------------------

/// Result of every fallible call. `SHMLANE_OK` is 0; every other value is a
/// reason the call did not do what was asked. New values may be added at
/// the end in later versions.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum shmlane_status {
    /// Success.
    SHMLANE_OK = 0,
    /// Non-blocking send: the ring has no room now.
    SHMLANE_FULL = 1,
    /// Non-blocking receive: nothing to read now.
    SHMLANE_EMPTY = 2,
    /// The timeout passed before the ring had room / a message.
    SHMLANE_TIMEOUT = 3,
    /// Clean end of stream: the peer closed its handle (receivers see this
    /// only after every message sent before the close).
    SHMLANE_DISCONNECTED = 4,
    /// The peer process died without closing (receivers see this after
    /// draining every committed message).
    SHMLANE_PEER_DIED = 5,
    /// The segment's shared words or header are inconsistent (another
    /// process scribbled on it, or it is not a shmlane segment).
    SHMLANE_CORRUPT = 6,
    /// The message is longer than the ring's maximum message size.
    SHMLANE_TOO_LARGE = 7,
    /// The caller's buffer is too small; the size needed was written to the
    /// length out-parameter and the message stays at the front of the ring.
    SHMLANE_BUFFER_TOO_SMALL = 8,
    /// No segment has this name.
    SHMLANE_NOT_FOUND = 9,
    /// A segment with this name exists already.
    SHMLANE_ALREADY_EXISTS = 10,
    /// The segment exists but this process may not open it.
    SHMLANE_PERMISSION_DENIED = 11,
    /// /dev/shm (or the memory cgroup) has no room for the segment.
    SHMLANE_NO_SPACE = 12,
    /// The segment was created for another element size or alignment.
    SHMLANE_TYPE_MISMATCH = 13,
    /// The segment holds another kind of ring.
    SHMLANE_KIND_MISMATCH = 14,
    /// The segment was created by another version of the layout.
    SHMLANE_ABI_MISMATCH = 15,
    /// The role (SPSC producer, any consumer of SPSC/MPSC) is held by another
    /// live process or handle.
    SHMLANE_ENDPOINT_BUSY = 16,
    /// Every endpoint entry of the segment is taken by a live process.
    SHMLANE_ENDPOINT_TABLE_FULL = 17,
    /// The creator has not finished initialising the segment in time.
    SHMLANE_NOT_INITIALIZED = 18,
    /// The name is not a valid POSIX shared-memory name ("/name", at most
    /// 255 bytes, no other '/'), or is not UTF-8.
    SHMLANE_INVALID_NAME = 19,
    /// An argument is out of range (capacity not a power of two, zero
    /// element size, unknown kind, ...).
    SHMLANE_INVALID_ARGUMENT = 20,
    /// A required pointer argument is NULL.
    SHMLANE_NULL_POINTER = 21,
    /// The call does not fit the handle's state: a claim while a claim is
    /// outstanding, commit/abort without a claim, release without a record,
    /// send/recv while a zero-copy claim or record is outstanding.
    SHMLANE_WRONG_STATE = 22,
    /// Another system call failed (see `shmlane_last_error_message`).
    SHMLANE_IO = 23,
    /// A bug in the library was caught at the boundary (a Rust panic).
    SHMLANE_PANIC = 24,
    /// Broadcast receive: this subscriber fell a ring behind and messages
    /// were overwritten before it read them. Nothing was received; the
    /// number missed was written to the `lost` out-parameter, and the next
    /// receive returns the oldest message still in the ring.
    SHMLANE_LAGGED = 25,
}

use shmlane_status::*;

/// Highest status value of this version.
pub const SHMLANE_STATUS_MAX: i32 = 25;

const STATUS_TEXT: [&CStr; 26] = [
    c"ok",
    c"ring full",
    c"ring empty",
    c"timed out",
    c"disconnected: the peer closed (end of stream)",
    c"the peer process died",
    c"segment corrupt",
    c"message too large for the ring",
    c"buffer too small",
    c"no such segment",
    c"segment already exists",
    c"permission denied",
    c"no space for the segment",
    c"element type mismatch",
    c"ring kind mismatch",
    c"segment ABI version mismatch",
    c"endpoint busy",
    c"endpoint table full",
    c"segment not initialised",
    c"invalid segment name",
    c"invalid argument",
    c"null pointer argument",
    c"call not valid in the handle's state",
    c"system call failed",
    c"internal error (panic caught)",
    c"lagged: messages were overwritten before this subscriber read them",
];

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(msg: String) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|l| *l.borrow_mut() = Some(c));
}

fn fail(status: shmlane_status, msg: impl Into<String>) -> shmlane_status {
    set_last_error(msg.into());
    status
}

fn error_status(e: &Error) -> shmlane_status {
    let s = match e {
        Error::InvalidName { .. } => SHMLANE_INVALID_NAME,
        Error::InvalidArgument(_) => SHMLANE_INVALID_ARGUMENT,
        Error::AlreadyExists { .. } => SHMLANE_ALREADY_EXISTS,
        Error::NotFound { .. } => SHMLANE_NOT_FOUND,
        Error::PermissionDenied { .. } => SHMLANE_PERMISSION_DENIED,
        Error::NoSpace { .. } => SHMLANE_NO_SPACE,
        Error::AbiMismatch { .. } => SHMLANE_ABI_MISMATCH,
        Error::KindMismatch { .. } => SHMLANE_KIND_MISMATCH,
        Error::TypeMismatch { .. } => SHMLANE_TYPE_MISMATCH,
        Error::Truncated { .. } | Error::Corrupt { .. } => SHMLANE_CORRUPT,
        Error::NotInitialized { .. } => SHMLANE_NOT_INITIALIZED,
        Error::EndpointBusy { .. } => SHMLANE_ENDPOINT_BUSY,
        Error::EndpointTableFull { .. } => SHMLANE_ENDPOINT_TABLE_FULL,
        _ => SHMLANE_IO,
    };
    fail(s, e.to_string())
}

fn send_status(e: SendTimeoutError<()>) -> shmlane_status {
    match e {
        SendTimeoutError::Timeout(()) => SHMLANE_TIMEOUT,
        SendTimeoutError::Disconnected(()) => SHMLANE_DISCONNECTED,
        SendTimeoutError::PeerDied { pid, .. } => fail(SHMLANE_PEER_DIED, format!("consumer process {pid} died")),
        SendTimeoutError::Corrupt { corruption, .. } => fail(SHMLANE_CORRUPT, corruption.to_string()),
        SendTimeoutError::TooLarge { len, max, .. } => fail(
            SHMLANE_TOO_LARGE,
            format!("message of {len} bytes; the ring takes at most {max}"),
        ),
    }
}

fn try_send_status(e: TrySendError<()>) -> shmlane_status {
    match e {
        TrySendError::Full(()) => SHMLANE_FULL,
        TrySendError::Disconnected(()) => SHMLANE_DISCONNECTED,
        TrySendError::PeerDied { pid, .. } => send_status(SendTimeoutError::PeerDied { value: (), pid }),
        TrySendError::Corrupt { corruption, .. } => send_status(SendTimeoutError::Corrupt { value: (), corruption }),
        TrySendError::TooLarge { len, max, .. } => send_status(SendTimeoutError::TooLarge { value: (), len, max }),
    }
}

fn recv_status(e: RecvTimeoutError) -> shmlane_status {
    match e {
        RecvTimeoutError::Timeout => SHMLANE_TIMEOUT,
        RecvTimeoutError::Disconnected => SHMLANE_DISCONNECTED,
        RecvTimeoutError::PeerDied { pid } => fail(SHMLANE_PEER_DIED, format!("producer process {pid} died")),
        RecvTimeoutError::Corrupt { corruption } => fail(SHMLANE_CORRUPT, corruption.to_string()),
    }
}

fn send_error_status(e: SendError<()>) -> shmlane_status {
    send_status(match e {
        SendError::Disconnected(()) => SendTimeoutError::Disconnected(()),
        SendError::PeerDied { pid, .. } => SendTimeoutError::PeerDied { value: (), pid },
        SendError::Corrupt { corruption, .. } => SendTimeoutError::Corrupt { value: (), corruption },
        SendError::TooLarge { len, max, .. } => SendTimeoutError::TooLarge { value: (), len, max },
    })
}

fn recv_error_status(e: RecvError) -> shmlane_status {
    match e {
        RecvError::Disconnected => recv_status(RecvTimeoutError::Disconnected),
        RecvError::PeerDied { pid } => recv_status(RecvTimeoutError::PeerDied { pid }),
        RecvError::Corrupt { corruption } => recv_status(RecvTimeoutError::Corrupt { corruption }),
    }
}

fn try_recv_status(e: TryRecvError) -> shmlane_status {
    match e {
        TryRecvError::Empty => SHMLANE_EMPTY,
        TryRecvError::Disconnected => SHMLANE_DISCONNECTED,
        TryRecvError::PeerDied { pid } => recv_status(RecvTimeoutError::PeerDied { pid }),
        TryRecvError::Corrupt { corruption } => recv_status(RecvTimeoutError::Corrupt { corruption }),
    }
}

/// How long a call may wait, decoded from the `timeout_ns` argument.
enum Wait {
    Try,
    Forever,
    For(Duration),
}

fn wait_of(timeout_ns: i64) -> Wait {
    match timeout_ns {
        0 => Wait::Try,
        t if t < 0 => Wait::Forever,
        t => Wait::For(Duration::from_nanos(t as u64)),
    }
}

/// Runs an entry point's body, turning a panic into `SHMLANE_PANIC`.
fn guard(f: impl FnOnce() -> shmlane_status) -> shmlane_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(s) => s,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            fail(SHMLANE_PANIC, format!("internal error: {what}"))
        }
    }
}

macro_rules! non_null {
    ($($p:ident),+) => {
        $(
            if $p.is_null() {
                return fail(SHMLANE_NULL_POINTER, concat!("argument `", stringify!($p), "` is NULL"));
            }
        )+
    };
}

/// Reads a segment name from C.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
unsafe fn name_of<'a>(name: *const c_char) -> Result<&'a str, shmlane_status> {
    if name.is_null() {
        return Err(fail(SHMLANE_NULL_POINTER, "argument `name` is NULL"));
    }
    // SAFETY: the caller passes a NUL-terminated string (function contract).
    let c = unsafe { CStr::from_ptr(name) };
    c.to_str()
        .map_err(|_| fail(SHMLANE_INVALID_NAME, "segment name is not valid UTF-8"))
}

/// Builds a shared slice from C arguments; `len == 0` accepts any pointer.
///
/// # Safety
/// When `len > 0` and `data` is not NULL, `data` points to `len` readable bytes.
unsafe fn slice_of<'a>(data: *const c_void, len: usize) -> Result<&'a [u8], shmlane_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(fail(
            SHMLANE_NULL_POINTER,
            "argument `data` is NULL with a non-zero length",
        ));
    }
    // SAFETY: non-null and `len` readable bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(data as *const u8, len) })
}

/// The `count` elements of `elem` bytes at `elems` of a batch send, as one
/// byte slice (`SHMLANE_INVALID_ARGUMENT` when `count` is 0 or the size
/// overflows).
///
/// # Safety
/// `elems` is non-null and points to `count * elem` readable bytes.
unsafe fn batch_of<'a>(elems: *const c_void, count: usize, elem: usize) -> Result<&'a [u8], shmlane_status> {
    let Some(bytes) = count.checked_mul(elem).filter(|&b| b > 0 && b <= isize::MAX as usize) else {
        return Err(fail(SHMLANE_INVALID_ARGUMENT, format!("batch of {count} elements")));
    };
    // SAFETY: non-null with `count * elem` readable bytes (contract).
    Ok(unsafe { std::slice::from_raw_parts(elems as *const u8, bytes) })
}

// ---------------------------------------------------------------------------
// Version and layout constants
// ---------------------------------------------------------------------------

/// Version of this library, "MAJOR.MINOR.PATCH" (static storage).
#[no_mangle]
pub extern "C" fn shmlane_version() -> *const c_char {
    static V: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    V.as_ptr()
}

/// Segment layout version this library reads and writes (`SHMLANE_ABI_VERSION`
/// of the header it was built with). Compare with the header's constant to
/// detect a header/library mismatch.
#[no_mangle]
pub extern "C" fn shmlane_abi_version() -> u32 {
    layout::ABI_VERSION
}

/// Static text describing `status` (never NULL; "unknown status" for values
/// that are not a `shmlane_status`). Takes an `int` so that any value is safe.
#[no_mangle]
pub extern "C" fn shmlane_strerror(status: c_int) -> *const c_char {
    match usize::try_from(status).ok().and_then(|i| STATUS_TEXT.get(i)) {
        Some(s) => s.as_ptr(),
        None => c"unknown status".as_ptr(),
    }
}

/// Details of the last failure on the calling thread (NUL-terminated,
/// never NULL, "" when none). Valid until the next shmlane call on this
/// thread; copy it to keep it.
#[no_mangle]
pub extern "C" fn shmlane_last_error_message() -> *const c_char {
    LAST_ERROR.with(|l| match &*l.borrow() {
        Some(c) => c.as_ptr(),
        None => c"".as_ptr(),
    })
}

/// `b"SHMLANE\0"` as a little-endian u64, at offset 0 of every segment.
pub const SHMLANE_MAGIC: u64 = 0x00454E414C4D4853;
/// Segment layout version (`shmlane_abi_version()` of a matching library).
pub const SHMLANE_ABI_VERSION: u32 = 3;
/// Size of the fixed header at offset 0.
pub const SHMLANE_HEADER_SIZE: usize = 512;
/// Alignment of every region in a segment.
pub const SHMLANE_REGION_ALIGN: usize = 128;
/// Size of one endpoint table entry.
pub const SHMLANE_ENDPOINT_SIZE: usize = 128;
/// Header: magic (u64).
pub const SHMLANE_HEADER_MAGIC_OFFSET: usize = 0;
/// Header: ABI version (u32).
pub const SHMLANE_HEADER_ABI_VERSION_OFFSET: usize = 8;
/// Header: kind (u32, a `SHMLANE_KIND_*` value).
pub const SHMLANE_HEADER_KIND_OFFSET: usize = 12;
/// Header: total length of the segment (u64).
pub const SHMLANE_HEADER_TOTAL_LEN_OFFSET: usize = 16;
/// Header: capacity (u64: slots, or bytes of record area for byte rings).
pub const SHMLANE_HEADER_CAPACITY_OFFSET: usize = 24;
/// Header: slot size (u32).
pub const SHMLANE_HEADER_SLOT_SIZE_OFFSET: usize = 32;
/// Header: element size (u32).
pub const SHMLANE_HEADER_ELEM_SIZE_OFFSET: usize = 40;
/// Header: element type tag (u64).
pub const SHMLANE_HEADER_TYPE_TAG_OFFSET: usize = 48;
/// Header: maximum message of byte rings (u64).
pub const SHMLANE_HEADER_MAX_MESSAGE_OFFSET: usize = 56;
/// Header: offset of the endpoint table (u64).
pub const SHMLANE_HEADER_ENDPOINTS_OFFSET_OFFSET: usize = 64;
/// Header: number of endpoint entries (u32).
pub const SHMLANE_HEADER_ENDPOINT_COUNT_OFFSET: usize = 72;
/// Header: offset of the control block (u64).
pub const SHMLANE_HEADER_CONTROL_OFFSET_OFFSET: usize = 80;
/// Header: offset of the data area (u64).
pub const SHMLANE_HEADER_DATA_OFFSET_OFFSET: usize = 96;
/// Header: stall timeout in nanoseconds (u64).
pub const SHMLANE_HEADER_STALL_TIMEOUT_OFFSET: usize = 112;
/// Byte rings: bytes of a record header (stamp u64, len u32, type u32).
pub const SHMLANE_RECORD_HEADER_LEN: usize = 16;
/// Byte rings: alignment of every record.
pub const SHMLANE_RECORD_ALIGN: usize = 8;
/// Byte rings: type word of padding records (senders may use any other).
pub const SHMLANE_PADDING_TYPE: u32 = 0xFFFF_FFFF;
/// Byte rings: smallest record area.
pub const SHMLANE_MIN_CAPACITY: usize = 64;
/// Byte rings: offset of `tail` in the control block.
pub const SHMLANE_BYTES_TAIL_OFFSET: usize = 0;
/// Byte rings: offset of `head` in the control block.
pub const SHMLANE_BYTES_HEAD_OFFSET: usize = 128;
/// Byte rings: size of the control block.
pub const SHMLANE_BYTES_CONTROL_LEN: usize = 768;

/// Kind: SPSC ring of fixed-size elements (the `shmlane_fixed_*` calls).
pub const SHMLANE_KIND_SPSC: u32 = 1;
/// Kind: MPMC ring of fixed-size elements (the `shmlane_mpmc_*` calls).
pub const SHMLANE_KIND_MPMC: u32 = 2;
/// Kind: byte ring, one producer, one consumer.
pub const SHMLANE_KIND_BYTES: u32 = 3;
/// Kind: byte ring, many producers, one consumer.
pub const SHMLANE_KIND_BYTES_MPSC: u32 = 4;
/// Kind: byte ring, many producers, many competing consumers.
pub const SHMLANE_KIND_BYTES_MPMC: u32 = 5;
/// Kind: broadcast of fixed-size elements (the `shmlane_bcast_*` calls).
pub const SHMLANE_KIND_BROADCAST: u32 = 6;
/// Kind: broadcast of variable-length byte messages (the `shmlane_bcast_*`
/// calls).
pub const SHMLANE_KIND_BROADCAST_BYTES: u32 = 7;
/// Broadcast: offset of `tail` (u64, messages published; bytes: end of the
/// published records) in the control block.
pub const SHMLANE_BROADCAST_TAIL_OFFSET: usize = 0;
/// Broadcast: offset of the futex word subscribers sleep on.
pub const SHMLANE_BROADCAST_NOT_EMPTY_OFFSET: usize = 128;
/// Broadcast: offset of the futex word a blocked publisher sleeps on.
pub const SHMLANE_BROADCAST_NOT_FULL_OFFSET: usize = 256;
/// Broadcast: offset of the counters (publishers, subscribers, evicted, lost).
pub const SHMLANE_BROADCAST_COUNTERS_OFFSET: usize = 384;
/// Broadcast of fixed-size elements: size of the control block.
pub const SHMLANE_BROADCAST_CONTROL_LEN: usize = 512;
/// Broadcast of byte messages: size of the control block.
pub const SHMLANE_BROADCAST_BYTES_CONTROL_LEN: usize = 640;

mod asserts {
    use super::*;
    use shmlane_core::broadcast as bc;
    use shmlane_core::bytes as b;
    const _: () = assert!(SHMLANE_MAGIC == layout::MAGIC);
    const _: () = assert!(SHMLANE_ABI_VERSION == layout::ABI_VERSION);
    const _: () = assert!(SHMLANE_HEADER_SIZE == layout::HEADER_SIZE);
    const _: () = assert!(SHMLANE_REGION_ALIGN == layout::REGION_ALIGN);
    const _: () = assert!(SHMLANE_ENDPOINT_SIZE == layout::ENDPOINT_SIZE);
    const _: () = assert!(SHMLANE_HEADER_MAGIC_OFFSET == layout::HEADER_MAGIC_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_ABI_VERSION_OFFSET == layout::HEADER_ABI_VERSION_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_KIND_OFFSET == layout::HEADER_KIND_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_TOTAL_LEN_OFFSET == layout::HEADER_TOTAL_LEN_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_CAPACITY_OFFSET == layout::HEADER_CAPACITY_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_SLOT_SIZE_OFFSET == layout::HEADER_SLOT_SIZE_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_ELEM_SIZE_OFFSET == layout::HEADER_ELEM_SIZE_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_TYPE_TAG_OFFSET == layout::HEADER_TYPE_TAG_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_MAX_MESSAGE_OFFSET == layout::HEADER_MAX_MESSAGE_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_ENDPOINTS_OFFSET_OFFSET == layout::HEADER_ENDPOINTS_OFFSET_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_ENDPOINT_COUNT_OFFSET == layout::HEADER_ENDPOINT_COUNT_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_CONTROL_OFFSET_OFFSET == layout::HEADER_CONTROL_OFFSET_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_DATA_OFFSET_OFFSET == layout::HEADER_DATA_OFFSET_OFFSET);
    const _: () = assert!(SHMLANE_HEADER_STALL_TIMEOUT_OFFSET == layout::HEADER_STALL_TIMEOUT_OFFSET);
    const _: () = assert!(SHMLANE_RECORD_HEADER_LEN == b::RECORD_HEADER_LEN);
    const _: () = assert!(SHMLANE_RECORD_ALIGN == b::RECORD_ALIGN);
    const _: () = assert!(SHMLANE_PADDING_TYPE == b::PADDING_TYPE);
    const _: () = assert!(SHMLANE_MIN_CAPACITY == b::MIN_CAPACITY);
    const _: () = assert!(SHMLANE_BYTES_TAIL_OFFSET == b::BYTES_TAIL_OFFSET);
    const _: () = assert!(SHMLANE_BYTES_HEAD_OFFSET == b::BYTES_HEAD_OFFSET);
    const _: () = assert!(SHMLANE_BYTES_CONTROL_LEN == b::BYTES_CONTROL_LEN);
    const _: () = assert!(SHMLANE_KIND_SPSC == Kind::Spsc as u32);
    const _: () = assert!(SHMLANE_KIND_MPMC == Kind::Mpmc as u32);
    const _: () = assert!(SHMLANE_KIND_BYTES == Kind::Bytes as u32);
    const _: () = assert!(SHMLANE_KIND_BYTES_MPSC == Kind::BytesMpsc as u32);
    const _: () = assert!(SHMLANE_KIND_BYTES_MPMC == Kind::BytesMpmc as u32);
    const _: () = assert!(SHMLANE_STATUS_MAX as usize + 1 == STATUS_TEXT.len());
    const _: () = assert!(shmlane_status::SHMLANE_LAGGED as i32 == SHMLANE_STATUS_MAX);
    const _: () = assert!(SHMLANE_KIND_BROADCAST == Kind::Broadcast as u32);
    const _: () = assert!(SHMLANE_KIND_BROADCAST_BYTES == Kind::BroadcastBytes as u32);
    const _: () = assert!(SHMLANE_BROADCAST_TAIL_OFFSET == bc::BROADCAST_TAIL_OFFSET);
    const _: () = assert!(SHMLANE_BROADCAST_NOT_EMPTY_OFFSET == bc::BROADCAST_NOT_EMPTY_OFFSET);
    const _: () = assert!(SHMLANE_BROADCAST_NOT_FULL_OFFSET == bc::BROADCAST_NOT_FULL_OFFSET);
    const _: () = assert!(SHMLANE_BROADCAST_COUNTERS_OFFSET == bc::BROADCAST_COUNTERS_OFFSET);
    const _: () = assert!(SHMLANE_BROADCAST_CONTROL_LEN == bc::BROADCAST_CONTROL_LEN);
    const _: () = assert!(SHMLANE_BROADCAST_BYTES_CONTROL_LEN == bc::bytes::BYTES_CONTROL_LEN);
}

// ---------------------------------------------------------------------------
// Handles
// ---------------------------------------------------------------------------

/// An open byte ring (not attached as either side). Opaque.
pub struct shmlane_channel {
    ch: bytes::Channel,
}

/// The sending side of a byte ring. Opaque.
pub struct shmlane_producer {
    // Dropped before `p` (declaration order): it borrows `*p`.
    grant: Option<Grant<'static>>,
    p: NonNull<bytes::Producer>,
}

/// The receiving side of a byte ring. Opaque.
pub struct shmlane_consumer {
    // Dropped before `c` (declaration order): they borrow `*c`. At most
    // one of `record` and `batch` is Some.
    record: Option<Record<'static>>,
    batch: Option<Batch<'static>>,
    c: NonNull<bytes::Consumer>,
}

/// An open fixed-size SPSC ring (not attached). Opaque.
pub struct shmlane_fixed {
    ch: RawChannel,
}

/// The producer of a fixed-size SPSC ring. Opaque.
pub struct shmlane_fixed_producer {
    p: RawProducer,
}

/// The consumer of a fixed-size SPSC ring. Opaque.
pub struct shmlane_fixed_consumer {
    c: RawConsumer,
}

impl Drop for shmlane_producer {
    fn drop(&mut self) {
        // An outstanding claim is aborted before its producer goes.
        self.grant = None;
        // SAFETY: `p` came from Box::into_raw in shmlane_producer_attach and
        // nothing borrows it any more (the grant is gone).
        drop(unsafe { Box::from_raw(self.p.as_ptr()) });
    }
}

impl Drop for shmlane_consumer {
    fn drop(&mut self) {
        // A record or batch read in place is released before its consumer goes.
        self.record = None;
        self.batch = None;
        // SAFETY: `c` came from Box::into_raw in shmlane_consumer_attach and
        // nothing borrows it any more (the record is gone).
        drop(unsafe { Box::from_raw(self.c.as_ptr()) });
    }
}

impl shmlane_producer {
    /// The producer, unless a claim borrows it.
    fn get(&mut self) -> Result<&mut bytes::Producer, shmlane_status> {
        if self.grant.is_some() {
            return Err(fail(
                SHMLANE_WRONG_STATE,
                "a zero-copy claim is outstanding: commit or abort it first",
            ));
        }
        // SAFETY: `p` is a live Box allocation owned by `self`; no grant
        // borrows it, and `&mut self` makes this the only access.
        Ok(unsafe { &mut *self.p.as_ptr() })
    }
}

impl shmlane_consumer {
    /// The consumer with a lifetime detached from `self`, for a record that
    /// will be stored in `self.record`.
    ///
    /// # Safety
    /// The returned borrow must not outlive `self.c` (it is stored only in
    /// `self.record` or `self.batch`, which are dropped first) and both
    /// must be None.
    unsafe fn get_static(&mut self) -> &'static mut bytes::Consumer {
        // SAFETY: as for `get`; the caller keeps the borrow inside `self`.
        unsafe { &mut *self.c.as_ptr() }
    }
}

/// Writes `v` through an out-pointer and returns OK.
///
/// # Safety
/// `out` is valid for a write of `T`.
unsafe fn put<T>(out: *mut T, v: T) -> shmlane_status {
    // SAFETY: the caller checked `out` for NULL; the C caller passes a
    // pointer valid for writes (function contract).
    unsafe { out.write(v) };
    SHMLANE_OK
}

fn boxed<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

// ---------------------------------------------------------------------------
// Byte rings: channels
// ---------------------------------------------------------------------------

/// Options for creating a byte ring. A zeroed struct means "defaults"
/// (every field's 0 picks the default named below).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmlane_options {
    /// `SHMLANE_KIND_BYTES` (default), `SHMLANE_KIND_BYTES_MPSC` or
    /// `SHMLANE_KIND_BYTES_MPMC`.
    pub kind: u32,
    /// File mode of a named segment (default 0600).
    pub mode: u32,
    /// Largest message in bytes (default: a quarter of the capacity).
    pub max_message: usize,
    /// Entries of the endpoint table for MPSC/MPMC: consumers plus
    /// producers attached at once (default 64, at least 2).
    pub endpoints: u32,
    /// Non-zero: replace a same-named segment whose endpoints are all dead
    /// instead of failing with `SHMLANE_ALREADY_EXISTS`.
    pub reclaim_stale: u32,
    /// How long a consumer waits on a claimed, uncommitted record before it
    /// checks whether its producer died, in nanoseconds (default 3 s).
    pub stall_timeout_ns: u64,
}

fn kind_of(k: u32, default: Option<Kind>) -> Result<Option<Kind>, shmlane_status> {
    match k {
        0 => Ok(default),
        SHMLANE_KIND_BYTES => Ok(Some(Kind::Bytes)),
        SHMLANE_KIND_BYTES_MPSC => Ok(Some(Kind::BytesMpsc)),
        SHMLANE_KIND_BYTES_MPMC => Ok(Some(Kind::BytesMpmc)),
        _ => Err(fail(
            SHMLANE_INVALID_ARGUMENT,
            format!("kind {k} is not a byte-ring kind (SHMLANE_KIND_BYTES, _BYTES_MPSC or _BYTES_MPMC)"),
        )),
    }
}

fn builder_of(o: &shmlane_options) -> Result<bytes::Builder, shmlane_status> {
    let mut b = bytes::Builder::new();
    if let Some(k) = kind_of(o.kind, Some(Kind::Bytes))? {
        b = b.kind(k);
    }
    if o.mode != 0 {
        b = b.mode(o.mode);
    }
    if o.max_message != 0 {
        b = b.max_message(o.max_message);
    }
    if o.endpoints != 0 {
        b = b.endpoints(o.endpoints);
    }
    if o.stall_timeout_ns != 0 {
        b = b.stall_timeout(Duration::from_nanos(o.stall_timeout_ns));
    }
    Ok(b.reclaim_stale(o.reclaim_stale != 0))
}

/// Creates a named byte ring with a record area of `capacity` bytes (a
/// power of two, at least `SHMLANE_MIN_CAPACITY`).
///
/// - `name`: "/name" (POSIX shared-memory name); the segment appears in /dev/shm.
/// - `options`: NULL for defaults (SPSC, max message capacity/4, mode 0600).
/// - `out`: receives the handle; close it with `shmlane_channel_close`.
///   The segment stays until `shmlane_unlink`.
///
/// Does not block. Errors: `SHMLANE_ALREADY_EXISTS`, `SHMLANE_INVALID_NAME`,
/// `SHMLANE_INVALID_ARGUMENT`, `SHMLANE_NO_SPACE`, `SHMLANE_PERMISSION_DENIED`,
/// `SHMLANE_NULL_POINTER`, `SHMLANE_IO`.
///
/// # Safety
/// `name` is a NUL-terminated string; `options` is NULL or points to a
/// `shmlane_options`; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_channel_create(
    name: *const c_char,
    capacity: usize,
    options: *const shmlane_options,
    out: *mut *mut shmlane_channel,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: contract of this function.
        let name = match unsafe { name_of(name) } {
            Ok(n) => n,
            Err(s) => return s,
        };
        // SAFETY: NULL or a valid options struct (contract).
        let opts = unsafe { options.as_ref() }.copied().unwrap_or_default();
        let b = match builder_of(&opts) {
            Ok(b) => b,
            Err(s) => return s,
        };
        match b.create(name, capacity) {
            // SAFETY: `out` is non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_channel { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Opens an existing named byte ring.
///
/// - `kind`: 0 for any byte kind, or the `SHMLANE_KIND_BYTES*` the segment
///   must have (`SHMLANE_KIND_MISMATCH` otherwise).
/// - `out`: receives the handle; close it with `shmlane_channel_close`.
///
/// Waits (briefly, bounded) only for a creator still initialising the
/// segment. Errors: `SHMLANE_NOT_FOUND`, `SHMLANE_KIND_MISMATCH`,
/// `SHMLANE_ABI_MISMATCH`, `SHMLANE_CORRUPT`, `SHMLANE_NOT_INITIALIZED`,
/// `SHMLANE_PERMISSION_DENIED`, `SHMLANE_INVALID_NAME`, `SHMLANE_NULL_POINTER`.
///
/// # Safety
/// `name` is a NUL-terminated string; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_channel_open(
    name: *const c_char,
    kind: u32,
    out: *mut *mut shmlane_channel,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: contract of this function.
        let name = match unsafe { name_of(name) } {
            Ok(n) => n,
            Err(s) => return s,
        };
        let mut b = bytes::Builder::new();
        match kind_of(kind, None) {
            Ok(Some(k)) => b = b.kind(k),
            Ok(None) => {}
            Err(s) => return s,
        }
        match b.open(name) {
            // SAFETY: `out` is non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_channel { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Closes a channel handle (NULL is ignored). Producers and consumers
/// attached through it stay usable: they keep the mapping alive. Does not
/// unlink the segment.
///
/// # Safety
/// `ch` is NULL or a handle from `shmlane_channel_create`/`_open` that is not
/// used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_channel_close(ch: *mut shmlane_channel) {
    let _ = guard(|| {
        if !ch.is_null() {
            // SAFETY: a handle from Box::into_raw, closed once (contract).
            drop(unsafe { Box::from_raw(ch) });
        }
        SHMLANE_OK
    });
}

/// Removes a named segment (any shmlane kind) from /dev/shm. Processes that
/// have it mapped keep using it. Errors: `SHMLANE_NOT_FOUND`,
/// `SHMLANE_INVALID_NAME`, `SHMLANE_PERMISSION_DENIED`, `SHMLANE_NULL_POINTER`.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn shmlane_unlink(name: *const c_char) -> shmlane_status {
    guard(|| {
        // SAFETY: contract of this function.
        let name = match unsafe { name_of(name) } {
            Ok(n) => n,
            Err(s) => return s,
        };
        match shmlane_core::segment::unlink(name) {
            Ok(()) => SHMLANE_OK,
            Err(e) => error_status(&e),
        }
    })
}

/// Geometry of a byte ring.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmlane_info {
    /// A `SHMLANE_KIND_*` value.
    pub kind: u32,
    /// Bytes of the record area.
    pub capacity: usize,
    /// Largest message accepted, in bytes.
    pub max_message: usize,
}

/// Reads the kind, capacity and maximum message size of a byte ring. Does
/// not block; may be called from any thread.
///
/// # Safety
/// `ch` is a live channel handle; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_channel_info(ch: *const shmlane_channel, out: *mut shmlane_info) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        let ch = unsafe { &(*ch).ch };
        let info = shmlane_info {
            kind: ch.kind() as u32,
            capacity: ch.capacity(),
            max_message: ch.max_message(),
        };
        // SAFETY: non-null and writable (contract).
        unsafe { put(out, info) }
    })
}

/// Counters of a byte ring (a snapshot; fields may disagree by a message).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmlane_stats {
    /// A `SHMLANE_KIND_*` value.
    pub kind: u32,
    /// Consumer endpoints held by live processes.
    pub consumers_alive: u32,
    /// Producer endpoints held by live processes (MPMC: producers; SPSC and
    /// MPSC: every non-consumer entry).
    pub producers_alive: u32,
    /// Endpoint entries held by dead processes.
    pub endpoints_dead: u32,
    /// Bytes of the record area.
    pub capacity: u64,
    /// Largest message.
    pub max_message: u64,
    /// Bytes in use now (headers and padding included).
    pub depth_bytes: u64,
    /// Messages committed and not yet received.
    pub depth_records: u64,
    /// Messages committed since creation.
    pub sent: u64,
    /// Payload bytes committed since creation.
    pub sent_bytes: u64,
    /// Messages received since creation.
    pub received: u64,
    /// Payload bytes received since creation.
    pub received_bytes: u64,
    /// Messages abandoned by dead peers and skipped.
    pub lost: u64,
}

/// Reads the counters of a byte ring. Does not block but makes system calls
/// (liveness checks of the endpoint holders); may be called from any thread.
///
/// # Safety
/// `ch` is a live channel handle; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_channel_stats(ch: *const shmlane_channel, out: *mut shmlane_stats) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        let s = unsafe { &(*ch).ch }.stats();
        let st = shmlane_stats {
            kind: s.kind as u32,
            consumers_alive: s.consumers.alive,
            producers_alive: s.producers.alive,
            endpoints_dead: s.consumers.dead + s.producers.dead,
            capacity: s.capacity,
            max_message: s.max_message,
            depth_bytes: s.depth_bytes,
            depth_records: s.depth_records,
            sent: s.sent,
            sent_bytes: s.sent_bytes,
            received: s.received,
            received_bytes: s.received_bytes,
            lost: s.lost,
        };
        // SAFETY: non-null and writable (contract).
        unsafe { put(out, st) }
    })
}

// ---------------------------------------------------------------------------
// Byte rings: producer
// ---------------------------------------------------------------------------

/// Attaches a producer to a byte ring. SPSC: `SHMLANE_ENDPOINT_BUSY` while
/// another live producer is attached (a dead one is taken over). MPSC/MPMC:
/// takes a free endpoint entry (`SHMLANE_ENDPOINT_TABLE_FULL` when none).
///
/// The producer handle is independent of `ch` (it may outlive it). It may
/// be moved between threads but not used by two threads at once. Close it
/// with `shmlane_producer_close`; the consumer then sees
/// `SHMLANE_DISCONNECTED` after the last message (SPSC/MPSC: when no producer
/// is left).
///
/// # Safety
/// `ch` is a live channel handle; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_attach(
    ch: *const shmlane_channel,
    out: *mut *mut shmlane_producer,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        match unsafe { &(*ch).ch }.producer() {
            Ok(p) => {
                let h = shmlane_producer {
                    grant: None,
                    p: NonNull::from(Box::leak(Box::new(p))),
                };
                // SAFETY: non-null and writable (contract).
                unsafe { put(out, boxed(h)) }
            }
            Err(e) => error_status(&e),
        }
    })
}

/// Closes a producer (NULL is ignored), aborting an outstanding claim and
/// releasing its endpoint entry; wakes a waiting consumer.
///
/// # Safety
/// `p` is NULL or a producer handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_close(p: *mut shmlane_producer) {
    let _ = guard(|| {
        if !p.is_null() {
            // SAFETY: a handle from Box::into_raw, closed once (contract).
            drop(unsafe { Box::from_raw(p) });
        }
        SHMLANE_OK
    });
}

/// Sends one message of `len` bytes (copied) with the type word `msg_type`
/// (any value but `SHMLANE_PADDING_TYPE`; receivers get it back).
///
/// `timeout_ns`: 0 tries once (`SHMLANE_FULL` when there is no room), a
/// negative value blocks until there is room, a positive value blocks at
/// most that long (`SHMLANE_TIMEOUT`). `data` may be NULL when `len` is 0.
/// Errors also: `SHMLANE_TOO_LARGE`, `SHMLANE_DISCONNECTED` (the consumer
/// closed), `SHMLANE_PEER_DIED`, `SHMLANE_CORRUPT`, `SHMLANE_WRONG_STATE`
/// (a claim is outstanding), `SHMLANE_INVALID_ARGUMENT` (padding type).
///
/// # Safety
/// `p` is a live producer handle; `data` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn shmlane_send(
    p: *mut shmlane_producer,
    data: *const c_void,
    len: usize,
    msg_type: u32,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(p);
        // SAFETY: contract of this function.
        let msg = match unsafe { slice_of(data, len) } {
            Ok(m) => m,
            Err(s) => return s,
        };
        if msg_type == SHMLANE_PADDING_TYPE {
            return fail(SHMLANE_INVALID_ARGUMENT, "msg_type SHMLANE_PADDING_TYPE is reserved");
        }
        // SAFETY: a live handle, used by one thread at a time (contract).
        let p = match unsafe { &mut *p }.get() {
            Ok(p) => p,
            Err(s) => return s,
        };
        let r = match wait_of(timeout_ns) {
            Wait::Try => {
                return p
                    .try_send_with_type(msg_type, msg)
                    .map_or_else(try_send_status, |()| SHMLANE_OK)
            }
            // No deadline, so no clock read on the fast path.
            Wait::Forever => {
                return p
                    .send_with_type(msg_type, msg)
                    .map_or_else(send_error_status, |()| SHMLANE_OK)
            }
            Wait::For(d) => p.send_timeout_with_type(msg_type, msg, d),
        };
        r.map_or_else(send_status, |()| SHMLANE_OK)
    })
}

/// Claims room for one message of exactly `len` bytes to be written in
/// place (zero-copy). On success `*buf` points to `len` writable bytes
/// inside the shared segment (any alignment of 8 or less holds), valid until
/// `shmlane_commit` or `shmlane_abort` (or `shmlane_producer_close`, which
/// aborts). One claim at a time per producer (`SHMLANE_WRONG_STATE`).
/// `timeout_ns` and the other errors are as for `shmlane_send`. For MPSC,
/// a claim held long blocks the consumer (it waits for it in order).
///
/// # Safety
/// `p` is a live producer handle; `buf` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_claim(
    p: *mut shmlane_producer,
    len: usize,
    timeout_ns: i64,
    buf: *mut *mut c_void,
) -> shmlane_status {
    guard(|| {
        non_null!(p, buf);
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *p };
        if let Err(s) = h.get() {
            return s;
        }
        // SAFETY: `h.p` is the handle's live Box allocation, no grant borrows
        // it (checked above). The 'static borrow is stored only in
        // `h.grant`, which is dropped before `h.p` is freed.
        let prod: &'static mut bytes::Producer = unsafe { &mut *h.p.as_ptr() };
        let r = match wait_of(timeout_ns) {
            Wait::Try => prod.try_claim(len).map_err(try_send_status),
            Wait::Forever => prod.claim(len).map_err(send_error_status),
            Wait::For(d) => prod.claim_timeout(len, d).map_err(send_status),
        };
        match r {
            Ok(mut g) => {
                let ptr = g.as_mut_ptr() as *mut c_void;
                h.grant = Some(g);
                // SAFETY: non-null and writable (contract).
                unsafe { put(buf, ptr) }
            }
            Err(s) => s,
        }
    })
}

/// Publishes the claimed message with the type word `msg_type` (any value
/// but `SHMLANE_PADDING_TYPE`). Does not block. `SHMLANE_WRONG_STATE`
/// without a claim.
///
/// # Safety
/// `p` is a live producer handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_commit(p: *mut shmlane_producer, msg_type: u32) -> shmlane_status {
    guard(|| {
        non_null!(p);
        if msg_type == SHMLANE_PADDING_TYPE {
            return fail(SHMLANE_INVALID_ARGUMENT, "msg_type SHMLANE_PADDING_TYPE is reserved");
        }
        // SAFETY: a live handle, used by one thread at a time (contract).
        match unsafe { &mut *p }.grant.take() {
            Some(mut g) => {
                g.set_type(msg_type);
                g.commit();
                SHMLANE_OK
            }
            None => fail(SHMLANE_WRONG_STATE, "commit without a claim"),
        }
    })
}

/// Gives up the outstanding claim (the space becomes padding the consumer
/// skips). Does not block. `SHMLANE_WRONG_STATE` without a claim.
///
/// # Safety
/// `p` is a live producer handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_abort(p: *mut shmlane_producer) -> shmlane_status {
    guard(|| {
        non_null!(p);
        // SAFETY: a live handle, used by one thread at a time (contract).
        match unsafe { &mut *p }.grant.take() {
            Some(g) => {
                g.abort();
                SHMLANE_OK
            }
            None => fail(SHMLANE_WRONG_STATE, "abort without a claim"),
        }
    })
}

// ---------------------------------------------------------------------------
// Byte rings: consumer
// ---------------------------------------------------------------------------

/// Attaches a consumer to a byte ring. SPSC/MPSC: `SHMLANE_ENDPOINT_BUSY`
/// while another live consumer is attached (a dead one is taken over; the
/// records it was reading are delivered again). MPMC: takes a free entry.
///
/// The handle is independent of `ch`, may be moved between threads but not
/// used by two at once. Close it with `shmlane_consumer_close`.
///
/// # Safety
/// `ch` is a live channel handle; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_attach(
    ch: *const shmlane_channel,
    out: *mut *mut shmlane_consumer,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        match unsafe { &(*ch).ch }.consumer() {
            Ok(c) => {
                let h = shmlane_consumer {
                    record: None,
                    batch: None,
                    c: NonNull::from(Box::leak(Box::new(c))),
                };
                // SAFETY: non-null and writable (contract).
                unsafe { put(out, boxed(h)) }
            }
            Err(e) => error_status(&e),
        }
    })
}

/// Closes a consumer (NULL is ignored), releasing a record read in place
/// and the endpoint entry; producers then see `SHMLANE_DISCONNECTED`.
///
/// # Safety
/// `c` is NULL or a consumer handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_close(c: *mut shmlane_consumer) {
    let _ = guard(|| {
        if !c.is_null() {
            // SAFETY: a handle from Box::into_raw, closed once (contract).
            drop(unsafe { Box::from_raw(c) });
        }
        SHMLANE_OK
    });
}

/// Takes the next record into `h.record` (or keeps the one already there).
fn fetch(h: &mut shmlane_consumer, timeout_ns: i64) -> shmlane_status {
    if h.record.is_some() {
        return SHMLANE_OK;
    }
    if h.batch.is_some() {
        return fail(SHMLANE_WRONG_STATE, "release the batch read in place first");
    }
    // SAFETY: `h.record` and `h.batch` are None; the borrow is stored only
    // in `h.record`.
    match read_one(unsafe { h.get_static() }, timeout_ns) {
        Ok(rec) => {
            h.record = Some(rec);
            SHMLANE_OK
        }
        Err(s) => s,
    }
}

/// Reads the next record as `timeout_ns` says (the status on failure).
#[inline(always)]
fn read_one(c: &'static mut bytes::Consumer, timeout_ns: i64) -> Result<Record<'static>, shmlane_status> {
    match wait_of(timeout_ns) {
        Wait::Try => c.try_read().map_err(try_recv_status),
        Wait::Forever => c.read().map_err(recv_error_status),
        Wait::For(d) => c.read_timeout(d).map_err(recv_status),
    }
}

/// Receives the next message by copy into `buf` (`cap` bytes).
///
/// On success `*len` is the message length and `*msg_type` (if not NULL) its
/// type word. When the message is longer than `cap`, returns
/// `SHMLANE_BUFFER_TOO_SMALL`, writes the needed size to `*len` and leaves
/// the message at the front of the ring (call again with a larger buffer).
/// `buf` may be NULL when `cap` is 0 (to ask for the size).
///
/// `timeout_ns`: 0 tries once (`SHMLANE_EMPTY`), negative blocks until a
/// message or the end of the stream, positive blocks at most that long
/// (`SHMLANE_TIMEOUT`). After every message: `SHMLANE_DISCONNECTED` when the
/// producers closed, `SHMLANE_PEER_DIED` when a producer process died.
/// Also `SHMLANE_CORRUPT`, `SHMLANE_WRONG_STATE` (a record read in place is
/// outstanding).
///
/// # Safety
/// `c` is a live consumer handle; `buf` is valid for `cap` writable bytes;
/// `len` is valid for a write; `msg_type` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_recv(
    c: *mut shmlane_consumer,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    msg_type: *mut u32,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(c, len);
        if cap > 0 && buf.is_null() {
            return fail(SHMLANE_NULL_POINTER, "argument `buf` is NULL with a non-zero capacity");
        }
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *c };
        // The usual case reads, copies and releases the record without
        // storing it in the handle; one returned too large for `buf`, or
        // held by an earlier `shmlane_read`, lives in `h.record`.
        let rec = match h.record.take() {
            Some(rec) => rec,
            None if h.batch.is_some() => return fail(SHMLANE_WRONG_STATE, "release the batch read in place first"),
            // SAFETY: `h.record` and `h.batch` are None; the borrow is
            // stored only in `h.record` (below).
            None => match read_one(unsafe { h.get_static() }, timeout_ns) {
                Ok(rec) => rec,
                Err(s) => return s,
            },
        };
        let n = rec.len();
        if n > cap {
            // The record stays held: the next recv/read returns it again.
            h.record = Some(rec);
            // SAFETY: non-null and writable (contract).
            unsafe { put(len, n) };
            return fail(
                SHMLANE_BUFFER_TOO_SMALL,
                format!("message of {n} bytes, buffer of {cap}"),
            );
        }
        if n > 0 {
            // SAFETY: `buf` has `cap >= n` writable bytes (contract) and
            // cannot overlap the record, which lies in the shared segment
            // the caller does not own.
            unsafe { std::ptr::copy_nonoverlapping(rec.as_ptr(), buf as *mut u8, n) };
        }
        let ty = rec.msg_type();
        drop(rec); // releases the space
        if !msg_type.is_null() {
            // SAFETY: non-null and writable (contract).
            unsafe { msg_type.write(ty) };
        }
        // SAFETY: non-null and writable (contract).
        unsafe { put(len, n) }
    })
}

/// Reads the next message in place (zero-copy): `*data` points to `*len`
/// bytes inside the shared segment, valid until `shmlane_release` (or
/// `shmlane_consumer_close`). The space is not reused before the release,
/// so a producer may block on a full ring meanwhile. `msg_type` may be NULL.
/// One record at a time: calling `shmlane_read` again before the release
/// returns the same record. Timeouts and statuses as for `shmlane_recv`.
///
/// # Safety
/// `c` is a live consumer handle; `data` and `len` are valid for writes;
/// `msg_type` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_read(
    c: *mut shmlane_consumer,
    data: *mut *const c_void,
    len: *mut usize,
    msg_type: *mut u32,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(c, data, len);
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *c };
        let s = fetch(h, timeout_ns);
        if s != SHMLANE_OK {
            return s;
        }
        let Some(rec) = h.record.as_ref() else {
            return fail(SHMLANE_PANIC, "internal error: no record after fetch");
        };
        // SAFETY: all three are non-null or checked, and writable (contract).
        unsafe {
            data.write(rec.as_ptr() as *const c_void);
            len.write(rec.len());
            if !msg_type.is_null() {
                msg_type.write(rec.msg_type());
            }
        }
        SHMLANE_OK
    })
}

/// Releases the record returned by `shmlane_read`, or every message of the
/// batch returned by `shmlane_read_batch` (one update of the read index);
/// their pointers become invalid. Does not block. `SHMLANE_WRONG_STATE`
/// without a record or batch.
///
/// # Safety
/// `c` is a live consumer handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_release(c: *mut shmlane_consumer) -> shmlane_status {
    guard(|| {
        non_null!(c);
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *c };
        if let Some(r) = h.record.take() {
            drop(r);
            return SHMLANE_OK;
        }
        match h.batch.take() {
            Some(b) => {
                drop(b);
                SHMLANE_OK
            }
            None => fail(SHMLANE_WRONG_STATE, "release without a record or batch"),
        }
    })
}

/// Whether the producer side has a live process attached (1) or not (0).
/// Makes system calls; for diagnostics, not for the data path.
/// `SHMLANE_WRONG_STATE` while a record read in place is held.
///
/// # Safety
/// `c` is a live consumer handle; `alive` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_producer_alive(c: *mut shmlane_consumer, alive: *mut i32) -> shmlane_status {
    guard(|| {
        non_null!(c, alive);
        // SAFETY: a live handle, used by one thread at a time (contract);
        // `c` itself is only read through a shared borrow here.
        let h = unsafe { &*c };
        if h.record.is_some() || h.batch.is_some() {
            // The record borrows the consumer mutably; no other borrow of it
            // may exist until it is released.
            return fail(SHMLANE_WRONG_STATE, "release the record read in place first");
        }
        // SAFETY: the handle's live Box allocation, not borrowed by a record
        // (checked above).
        let cons = unsafe { &*h.c.as_ptr() };
        // SAFETY: non-null and writable (contract).
        unsafe { put(alive, i32::from(cons.is_producer_alive())) }
    })
}

// ---------------------------------------------------------------------------
// Fixed-size element rings (SPSC)
// ---------------------------------------------------------------------------

/// Creates a named SPSC ring of `capacity` slots (a power of two) of
/// `elem_size`-byte elements aligned to `elem_align` (a power of two up to
/// `SHMLANE_REGION_ALIGN`; `elem_size` a multiple of it). It interoperates
/// with Rust's `spsc::Channel<T>` for any `Pod` T of that size and alignment.
/// `mode` 0 means 0600. Close with `shmlane_fixed_close`; errors as for
/// `shmlane_channel_create`.
///
/// # Safety
/// `name` is a NUL-terminated string; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_create(
    name: *const c_char,
    capacity: usize,
    elem_size: usize,
    elem_align: usize,
    mode: u32,
    out: *mut *mut shmlane_fixed,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: contract of this function.
        let name = match unsafe { name_of(name) } {
            Ok(n) => n,
            Err(s) => return s,
        };
        let mut b = spsc::Builder::new();
        if mode != 0 {
            b = b.mode(mode);
        }
        match RawChannel::create(&b, name, capacity, elem_size, elem_align) {
            // SAFETY: non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_fixed { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Opens a named fixed-size SPSC ring. `elem_size` 0 accepts any element
/// size; otherwise a ring of another size is `SHMLANE_TYPE_MISMATCH`.
/// A segment of another kind is `SHMLANE_KIND_MISMATCH`.
///
/// # Safety
/// `name` is a NUL-terminated string; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_open(
    name: *const c_char,
    elem_size: usize,
    out: *mut *mut shmlane_fixed,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: contract of this function.
        let name = match unsafe { name_of(name) } {
            Ok(n) => n,
            Err(s) => return s,
        };
        let want = (elem_size != 0).then_some(elem_size);
        match RawChannel::open(&spsc::Builder::new(), name, want) {
            // SAFETY: non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_fixed { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Closes a fixed-size ring handle (NULL is ignored); attached producers
/// and consumers stay usable.
///
/// # Safety
/// `ch` is NULL or a handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_close(ch: *mut shmlane_fixed) {
    let _ = guard(|| {
        if !ch.is_null() {
            // SAFETY: a handle from Box::into_raw, closed once (contract).
            drop(unsafe { Box::from_raw(ch) });
        }
        SHMLANE_OK
    });
}

/// Element size and slot count of a fixed-size ring. Does not block.
///
/// # Safety
/// `ch` is a live handle; `elem_size` and `capacity` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_info(
    ch: *const shmlane_fixed,
    elem_size: *mut usize,
    capacity: *mut usize,
) -> shmlane_status {
    guard(|| {
        non_null!(ch);
        // SAFETY: a live handle (contract).
        let ch = unsafe { &(*ch).ch };
        // SAFETY: each is NULL (skipped) or writable (contract).
        unsafe {
            if !elem_size.is_null() {
                elem_size.write(ch.elem_size());
            }
            if !capacity.is_null() {
                capacity.write(ch.capacity());
            }
        }
        SHMLANE_OK
    })
}

/// Counters of a fixed-size ring.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmlane_fixed_stats {
    /// Number of slots.
    pub capacity: u64,
    /// Elements pushed since creation.
    pub pushed: u64,
    /// Elements popped since creation.
    pub popped: u64,
    /// Elements in the ring now.
    pub depth: u64,
}

/// Reads the counters of a fixed-size ring. Does not block.
///
/// # Safety
/// `ch` is a live handle; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_stats_get(
    ch: *const shmlane_fixed,
    out: *mut shmlane_fixed_stats,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        let s = unsafe { &(*ch).ch }.stats();
        let st = shmlane_fixed_stats {
            capacity: s.capacity,
            pushed: s.pushed,
            popped: s.popped,
            depth: s.depth,
        };
        // SAFETY: non-null and writable (contract).
        unsafe { put(out, st) }
    })
}

/// Attaches the producer of a fixed-size ring (`SHMLANE_ENDPOINT_BUSY` while
/// another live one is attached). Same threading rules as byte producers.
///
/// # Safety
/// `ch` is a live handle; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_producer_attach(
    ch: *const shmlane_fixed,
    out: *mut *mut shmlane_fixed_producer,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        match unsafe { &(*ch).ch }.producer() {
            // SAFETY: non-null and writable (contract).
            Ok(p) => unsafe { put(out, boxed(shmlane_fixed_producer { p })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Attaches the consumer of a fixed-size ring (`SHMLANE_ENDPOINT_BUSY` while
/// another live one is attached).
///
/// # Safety
/// `ch` is a live handle; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_consumer_attach(
    ch: *const shmlane_fixed,
    out: *mut *mut shmlane_fixed_consumer,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        match unsafe { &(*ch).ch }.consumer() {
            // SAFETY: non-null and writable (contract).
            Ok(c) => unsafe { put(out, boxed(shmlane_fixed_consumer { c })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Closes a fixed-size producer (NULL is ignored); the consumer then sees
/// `SHMLANE_DISCONNECTED` after the last element.
///
/// # Safety
/// `p` is NULL or a handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_producer_close(p: *mut shmlane_fixed_producer) {
    let _ = guard(|| {
        if !p.is_null() {
            // SAFETY: a handle from Box::into_raw, closed once (contract).
            drop(unsafe { Box::from_raw(p) });
        }
        SHMLANE_OK
    });
}

/// Closes a fixed-size consumer (NULL is ignored).
///
/// # Safety
/// `c` is NULL or a handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_consumer_close(c: *mut shmlane_fixed_consumer) {
    let _ = guard(|| {
        if !c.is_null() {
            // SAFETY: a handle from Box::into_raw, closed once (contract).
            drop(unsafe { Box::from_raw(c) });
        }
        SHMLANE_OK
    });
}

/// Pushes one element: `len` must equal the element size
/// (`SHMLANE_INVALID_ARGUMENT` otherwise). Timeouts and statuses as for
/// `shmlane_send`.
///
/// # Safety
/// `p` is a live handle; `elem` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_push(
    p: *mut shmlane_fixed_producer,
    elem: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        // Fast path: a free slot and valid arguments; the rest out of line.
        if !p.is_null() && !elem.is_null() {
            // SAFETY: a live handle, used by one thread at a time (contract).
            let h = unsafe { &mut (*p).p };
            // SAFETY: `len` readable bytes at `elem` (contract).
            if len == h.elem_size() && h.push_fast(unsafe { std::slice::from_raw_parts(elem as *const u8, len) }) {
                return SHMLANE_OK;
            }
        }
        // SAFETY: contract of this function.
        unsafe { fixed_push_slow(p, elem, len, timeout_ns) }
    })
}

/// `shmlane_fixed_push` past its fast path: checks, errors, waiting.
///
/// # Safety
/// As for `shmlane_fixed_push`.
#[cold]
#[inline(never)]
unsafe fn fixed_push_slow(
    p: *mut shmlane_fixed_producer,
    elem: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> shmlane_status {
    {
        non_null!(p, elem);
        // SAFETY: a live handle, used by one thread at a time (contract).
        let p = unsafe { &mut (*p).p };
        if len != p.elem_size() {
            return fail(
                SHMLANE_INVALID_ARGUMENT,
                format!("element of {len} bytes for a ring of {}-byte elements", p.elem_size()),
            );
        }
        // SAFETY: non-null with `len` readable bytes (contract).
        let e = unsafe { std::slice::from_raw_parts(elem as *const u8, len) };
        match raw_wait(timeout_ns) {
            None => p.try_push(e).map_or_else(try_send_status, |()| SHMLANE_OK),
            Some(t) => p.push_timeout(e, t).map_or_else(send_status, |()| SHMLANE_OK),
        }
    }
}

/// Pops one element into `out` (`cap` bytes, at least the element size:
/// `SHMLANE_BUFFER_TOO_SMALL` otherwise, with the element size in `*len`).
/// `*len` receives the element size on success. Timeouts and statuses as
/// for `shmlane_recv`.
///
/// # Safety
/// `c` is a live handle; `out` has `cap` writable bytes; `len` is writable.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_pop(
    c: *mut shmlane_fixed_consumer,
    out: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        // Fast path: an element available and valid arguments.
        if !c.is_null() && !out.is_null() && !len.is_null() {
            // SAFETY: a live handle, used by one thread at a time (contract).
            let h = unsafe { &mut (*c).c };
            let n = h.elem_size();
            // SAFETY: `cap >= n` writable bytes at `out` (contract).
            if cap >= n && h.pop_fast(unsafe { std::slice::from_raw_parts_mut(out as *mut u8, n) }) {
                // SAFETY: non-null and writable (contract).
                return unsafe { put(len, n) };
            }
        }
        // SAFETY: contract of this function.
        unsafe { fixed_pop_slow(c, out, cap, len, timeout_ns) }
    })
}

/// `shmlane_fixed_pop` past its fast path: checks, errors, waiting.
///
/// # Safety
/// As for `shmlane_fixed_pop`.
#[cold]
#[inline(never)]
unsafe fn fixed_pop_slow(
    c: *mut shmlane_fixed_consumer,
    out: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: i64,
) -> shmlane_status {
    {
        non_null!(c, out, len);
        // SAFETY: a live handle, used by one thread at a time (contract).
        let c = unsafe { &mut (*c).c };
        let n = c.elem_size();
        if cap < n {
            // SAFETY: non-null and writable (contract).
            unsafe { put(len, n) };
            return fail(
                SHMLANE_BUFFER_TOO_SMALL,
                format!("buffer of {cap} bytes for {n}-byte elements"),
            );
        }
        // SAFETY: non-null with `cap >= n` writable bytes (contract).
        let o = unsafe { std::slice::from_raw_parts_mut(out as *mut u8, n) };
        let r = match raw_wait(timeout_ns) {
            None => c.try_pop(o).map_err(try_recv_status),
            Some(t) => c.pop_timeout(o, t).map_err(recv_status),
        };
        match r {
            // SAFETY: non-null and writable (contract).
            Ok(()) => unsafe { put(len, n) },
            Err(s) => s,
        }
    }
}

/// The `(timeout_ns)` argument as the raw rings' `Option<Duration>`, or
/// `None` for a single try.
fn raw_wait(timeout_ns: i64) -> Option<Option<Duration>> {
    match wait_of(timeout_ns) {
        Wait::Try => None,
        Wait::Forever => Some(None),
        Wait::For(d) => Some(Some(d)),
    }
}

/// Pushes up to `count` elements (`count * elem_size` bytes at `elems`,
/// back to back) with one index update: as many as there is room for, at
/// least one. `*pushed` receives how many (0 on error). Waits for room for
/// the first as `timeout_ns` says (0: `SHMLANE_FULL` when there is none).
/// `count` 0 is `SHMLANE_INVALID_ARGUMENT`. Other statuses as for
/// `shmlane_fixed_push`.
///
/// # Safety
/// `p` is a live handle; `elems` points to `count * elem_size` readable
/// bytes; `pushed` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_push_batch(
    p: *mut shmlane_fixed_producer,
    elems: *const c_void,
    count: usize,
    pushed: *mut usize,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(p, elems, pushed);
        // SAFETY: non-null and writable (contract).
        unsafe { pushed.write(0) };
        // SAFETY: a live handle, used by one thread at a time (contract).
        let p = unsafe { &mut (*p).p };
        let e = p.elem_size();
        // SAFETY: non-null with `count * elem_size` readable bytes (contract).
        let src = match unsafe { batch_of(elems, count, e) } {
            Ok(src) => src,
            Err(st) => return st,
        };
        loop {
            match p.reserve_up_to(count) {
                Ok(mut chunk) => {
                    let n = chunk.len();
                    let (a, b) = chunk.as_mut_slices();
                    a.copy_from_slice(&src[..a.len()]);
                    b.copy_from_slice(&src[a.len()..n * e]);
                    chunk.commit_all();
                    // SAFETY: non-null and writable (contract).
                    return unsafe { put(pushed, n) };
                }
                Err(TrySendError::Full(())) => match raw_wait(timeout_ns) {
                    None => return SHMLANE_FULL,
                    Some(t) => {
                        if let Err(err) = p.wait_for_space(1, t) {
                            return send_status(err);
                        }
                    }
                },
                Err(err) => return try_send_status(err),
            }
        }
    })
}

/// Pops up to `cap / elem_size` elements into `out` with one index update:
/// every element available, at least one. `*popped` receives how many (0
/// on error). Waits for the first as `timeout_ns` says (0:
/// `SHMLANE_EMPTY` when there is none). A buffer smaller than one element
/// is `SHMLANE_BUFFER_TOO_SMALL`. Other statuses as for `shmlane_fixed_pop`.
///
/// # Safety
/// `c` is a live handle; `out` has `cap` writable bytes; `popped` is
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_pop_batch(
    c: *mut shmlane_fixed_consumer,
    out: *mut c_void,
    cap: usize,
    popped: *mut usize,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(c, out, popped);
        // SAFETY: non-null and writable (contract).
        unsafe { popped.write(0) };
        // SAFETY: a live handle, used by one thread at a time (contract).
        let c = unsafe { &mut (*c).c };
        let e = c.elem_size();
        let max = cap / e;
        if max == 0 {
            return fail(
                SHMLANE_BUFFER_TOO_SMALL,
                format!("buffer of {cap} bytes for {e}-byte elements"),
            );
        }
        // SAFETY: non-null with `cap >= max * e` writable bytes (contract).
        let dst = unsafe { std::slice::from_raw_parts_mut(out as *mut u8, max * e) };
        loop {
            let r = c.read_chunk(max).map(|chunk| {
                let (a, b) = chunk.as_slices();
                dst[..a.len()].copy_from_slice(a);
                dst[a.len()..a.len() + b.len()].copy_from_slice(b);
                chunk.len()
                // Dropping the chunk releases all of them: one store of `head`.
            });
            match r {
                // SAFETY: non-null and writable (contract).
                Ok(n) => return unsafe { put(popped, n) },
                Err(TryRecvError::Empty) => match raw_wait(timeout_ns) {
                    None => return SHMLANE_EMPTY,
                    Some(t) => {
                        if let Err(err) = c.wait_for_items(1, t) {
                            return recv_status(err);
                        }
                    }
                },
                Err(err) => return try_recv_status(err),
            }
        }
    })
}

// ---------------------------------------------------------------------------
// Anonymous segments (memfd): create, get the fd, open from an fd
// ---------------------------------------------------------------------------

/// Duplicates a caller's fd (close-on-exec) for the library to own.
fn dup_fd(fd: c_int) -> Result<OwnedFd, shmlane_status> {
    if fd < 0 {
        return Err(fail(
            SHMLANE_INVALID_ARGUMENT,
            format!("fd {fd} is not a file descriptor"),
        ));
    }
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on any integer is safe: it fails with
    // EBADF unless `fd` is open, and otherwise returns a new fd we own.
    let raw = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if raw < 0 {
        let e = std::io::Error::last_os_error();
        let s = if e.raw_os_error() == Some(libc::EBADF) {
            SHMLANE_INVALID_ARGUMENT
        } else {
            SHMLANE_IO
        };
        return Err(fail(s, format!("fd {fd}: {e}")));
    }
    // SAFETY: a fresh fd from fcntl, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Writes a new inheritable fd of an anonymous segment to `out`.
///
/// # Safety
/// `out` is valid for a write.
unsafe fn segment_fd(seg: Option<&Segment>, out: *mut c_int) -> shmlane_status {
    let Some(seg) = seg else {
        return fail(SHMLANE_INVALID_ARGUMENT, "an in-process ring has no fd");
    };
    match seg.inheritable_fd() {
        // SAFETY: writable (contract).
        Ok(fd) => unsafe { put(out, fd.into_raw_fd()) },
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => fail(
            SHMLANE_INVALID_ARGUMENT,
            format!("segment '{}' is named: it has no fd; open it by name", seg.name()),
        ),
        Err(e) => fail(SHMLANE_IO, format!("dup: {e}")),
    }
}

/// Creates an anonymous byte ring (a sealed memfd, no name in /dev/shm;
/// it disappears when the last process holding it closes it). Share it
/// with `shmlane_channel_fd`: the fd survives `fork` and `exec` (pass its
/// number to the child) and can be sent over a unix socket (SCM_RIGHTS);
/// the other process opens it with `shmlane_channel_from_fd`. Arguments
/// and errors as for `shmlane_channel_create` (`options->mode` and
/// `reclaim_stale` do not apply).
///
/// # Safety
/// `options` is NULL or points to a `shmlane_options`; `out` is valid for
/// writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_channel_anonymous(
    capacity: usize,
    options: *const shmlane_options,
    out: *mut *mut shmlane_channel,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: NULL or a valid options struct (contract).
        let opts = unsafe { options.as_ref() }.copied().unwrap_or_default();
        let b = match builder_of(&opts) {
            Ok(b) => b,
            Err(s) => return s,
        };
        match b.anonymous(capacity) {
            // SAFETY: `out` is non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_channel { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Opens an anonymous byte ring from a file descriptor (inherited or
/// received over a unix socket). The library duplicates `fd`: the caller
/// still owns it and may close it after the call. `kind` as for
/// `shmlane_channel_open`. Errors as for `shmlane_channel_open`, and
/// `SHMLANE_INVALID_ARGUMENT` for a negative or closed fd.
///
/// # Safety
/// `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_channel_from_fd(
    fd: c_int,
    kind: u32,
    out: *mut *mut shmlane_channel,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        let mut b = bytes::Builder::new();
        match kind_of(kind, None) {
            Ok(Some(k)) => b = b.kind(k),
            Ok(None) => {}
            Err(s) => return s,
        }
        let fd = match dup_fd(fd) {
            Ok(fd) => fd,
            Err(s) => return s,
        };
        match b.from_fd(fd) {
            // SAFETY: `out` is non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_channel { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Writes to `*fd` a new file descriptor of an anonymous byte ring, without
/// close-on-exec: pass it to a child (fork/exec) or over a unix socket, and
/// close it when done. A named ring is `SHMLANE_INVALID_ARGUMENT` (open it
/// by name).
///
/// # Safety
/// `ch` is a live handle; `fd` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_channel_fd(ch: *const shmlane_channel, fd: *mut c_int) -> shmlane_status {
    guard(|| {
        non_null!(ch, fd);
        // SAFETY: a live handle (contract); `fd` writable.
        unsafe { segment_fd((*ch).ch.segment(), fd) }
    })
}

/// Creates an anonymous fixed-size SPSC ring; see `shmlane_fixed_create`
/// for the arguments and `shmlane_channel_anonymous` for sharing it.
///
/// # Safety
/// `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_anonymous(
    capacity: usize,
    elem_size: usize,
    elem_align: usize,
    out: *mut *mut shmlane_fixed,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        match RawChannel::anonymous(capacity, elem_size, elem_align) {
            // SAFETY: non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_fixed { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Opens an anonymous fixed-size SPSC ring from a file descriptor (the
/// library duplicates it; the caller still owns `fd`). `elem_size` as for
/// `shmlane_fixed_open`.
///
/// # Safety
/// `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_from_fd(
    fd: c_int,
    elem_size: usize,
    out: *mut *mut shmlane_fixed,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        let fd = match dup_fd(fd) {
            Ok(fd) => fd,
            Err(s) => return s,
        };
        match RawChannel::from_fd(fd, (elem_size != 0).then_some(elem_size)) {
            // SAFETY: non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_fixed { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// A new inheritable fd of an anonymous fixed-size SPSC ring; see
/// `shmlane_channel_fd`.
///
/// # Safety
/// `ch` is a live handle; `fd` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_fd(ch: *const shmlane_fixed, fd: *mut c_int) -> shmlane_status {
    guard(|| {
        non_null!(ch, fd);
        // SAFETY: a live handle (contract); `fd` writable.
        unsafe { segment_fd((*ch).ch.segment(), fd) }
    })
}

// ---------------------------------------------------------------------------
// Byte rings: batch reads
// ---------------------------------------------------------------------------

/// One message of a batch read in place (`shmlane_read_batch`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmlane_msg {
    /// The payload, inside the shared segment; valid until `shmlane_release`.
    pub data: *const c_void,
    /// Payload length in bytes.
    pub len: usize,
    /// The sender's type word.
    pub msg_type: u32,
}

/// Reads up to `max` messages in place with one update of the ring's read
/// index: every message readable now (at least one), oldest first, into
/// `msgs[0 .. *count)`. They stay valid, and their space is not reused,
/// until `shmlane_release` releases all of them at once (or
/// `shmlane_consumer_close`). Waits for the first message as `timeout_ns`
/// says; statuses as for `shmlane_read` (`*count` is 0 on error). `max` 0
/// is `SHMLANE_INVALID_ARGUMENT`; a batch or record already held is
/// `SHMLANE_WRONG_STATE`.
///
/// # Safety
/// `c` is a live consumer handle; `msgs` has room for `max` entries;
/// `count` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_read_batch(
    c: *mut shmlane_consumer,
    msgs: *mut shmlane_msg,
    max: usize,
    count: *mut usize,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(c, msgs, count);
        // SAFETY: non-null and writable (contract).
        unsafe { count.write(0) };
        if max == 0 {
            return fail(SHMLANE_INVALID_ARGUMENT, "max is 0");
        }
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *c };
        if h.record.is_some() || h.batch.is_some() {
            return fail(SHMLANE_WRONG_STATE, "release the record or batch read in place first");
        }
        // SAFETY: no record or batch borrows the consumer (checked above);
        // the borrow is stored only in `h.batch`, dropped before `h.c`.
        let cons = unsafe { h.get_static() };
        let r = match wait_of(timeout_ns) {
            Wait::Try => cons.try_read_batch(max).map_err(try_recv_status),
            Wait::Forever => cons.read_batch(max).map_err(recv_error_status),
            Wait::For(d) => cons.read_batch_timeout(max, d).map_err(recv_status),
        };
        let batch = match r {
            Ok(b) => b,
            Err(s) => return s,
        };
        let mut n = 0;
        for (k, m) in batch.iter().take(max).enumerate() {
            let msg = shmlane_msg {
                data: m.data().as_ptr() as *const c_void,
                len: m.len(),
                msg_type: m.msg_type(),
            };
            // SAFETY: `msgs` has room for `max` entries (contract), k < max.
            unsafe { msgs.add(k).write(msg) };
            n = k + 1;
        }
        h.batch = Some(batch);
        // SAFETY: non-null and writable (contract).
        unsafe { put(count, n) }
    })
}

// ---------------------------------------------------------------------------
// Fixed-size element rings (MPMC)
// ---------------------------------------------------------------------------

/// An open fixed-size MPMC ring (not attached). Opaque.
pub struct shmlane_mpmc {
    ch: mpmc::RawChannel,
}

/// A sender of a fixed-size MPMC ring. Opaque.
pub struct shmlane_mpmc_sender {
    // Dropped before `s` (declaration order): it borrows `*s`.
    claim: Option<mpmc::RawWriteClaim<'static>>,
    s: NonNull<mpmc::RawSender>,
}

/// A receiver of a fixed-size MPMC ring. Opaque.
pub struct shmlane_mpmc_receiver {
    // Dropped before `r` (declaration order): it borrows `*r`.
    claim: Option<mpmc::RawReadClaim<'static>>,
    r: NonNull<mpmc::RawReceiver>,
}

impl Drop for shmlane_mpmc_sender {
    fn drop(&mut self) {
        // An outstanding claim becomes a tombstone before its sender goes.
        self.claim = None;
        // SAFETY: `s` came from Box::leak in shmlane_mpmc_sender_attach and
        // nothing borrows it any more (the claim is gone).
        drop(unsafe { Box::from_raw(self.s.as_ptr()) });
    }
}

impl Drop for shmlane_mpmc_receiver {
    fn drop(&mut self) {
        // An element read in place is released before its receiver goes.
        self.claim = None;
        // SAFETY: `r` came from Box::leak in shmlane_mpmc_receiver_attach
        // and nothing borrows it any more (the claim is gone).
        drop(unsafe { Box::from_raw(self.r.as_ptr()) });
    }
}

impl shmlane_mpmc_sender {
    /// The sender, unless a claim borrows it.
    fn get(&mut self) -> Result<&mut mpmc::RawSender, shmlane_status> {
        if self.claim.is_some() {
            return Err(fail(
                SHMLANE_WRONG_STATE,
                "a zero-copy claim is outstanding: commit or abort it first",
            ));
        }
        // SAFETY: a live Box allocation owned by `self`; no claim borrows
        // it, and `&mut self` makes this the only access.
        Ok(unsafe { &mut *self.s.as_ptr() })
    }
}

impl shmlane_mpmc_receiver {
    /// The receiver, unless a claim borrows it.
    fn get(&mut self) -> Result<&mut mpmc::RawReceiver, shmlane_status> {
        if self.claim.is_some() {
            return Err(fail(
                SHMLANE_WRONG_STATE,
                "an element read in place is outstanding: release it first",
            ));
        }
        // SAFETY: as for the sender.
        Ok(unsafe { &mut *self.r.as_ptr() })
    }
}

fn mpmc_builder(capacity: usize, o: &shmlane_options) -> Result<mpmc::Builder, shmlane_status> {
    if o.kind != 0 && o.kind != SHMLANE_KIND_MPMC {
        return Err(fail(
            SHMLANE_INVALID_ARGUMENT,
            format!(
                "kind {} in the options of an MPMC ring (0 or SHMLANE_KIND_MPMC)",
                o.kind
            ),
        ));
    }
    if o.max_message != 0 {
        return Err(fail(
            SHMLANE_INVALID_ARGUMENT,
            "max_message applies to byte rings only (leave it 0)",
        ));
    }
    let mut b = mpmc::Builder::new().capacity(capacity);
    if o.mode != 0 {
        b = b.mode(o.mode);
    }
    if o.endpoints != 0 {
        b = b.endpoints(o.endpoints);
    }
    if o.stall_timeout_ns != 0 {
        b = b.stall_timeout(Duration::from_nanos(o.stall_timeout_ns));
    }
    Ok(b.reclaim_stale(o.reclaim_stale != 0))
}

/// Creates a named MPMC ring of `capacity` slots (a power of two, at least
/// 2) of `elem_size`-byte elements aligned to `elem_align` (a power of two
/// up to `SHMLANE_REGION_ALIGN`; `elem_size` a multiple of it). Any number
/// of senders and receivers attach (up to `options->endpoints`, default
/// 64). It interoperates with Rust's `mpmc::Channel<T>` for any `Pod` T of
/// that size and alignment. `options`: NULL for defaults; `kind` must be 0
/// or `SHMLANE_KIND_MPMC`, `max_message` 0. Close with `shmlane_mpmc_close`;
/// errors as for `shmlane_channel_create`.
///
/// # Safety
/// `name` is a NUL-terminated string; `options` is NULL or points to a
/// `shmlane_options`; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_create(
    name: *const c_char,
    capacity: usize,
    elem_size: usize,
    elem_align: usize,
    options: *const shmlane_options,
    out: *mut *mut shmlane_mpmc,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: contract of this function.
        let name = match unsafe { name_of(name) } {
            Ok(n) => n,
            Err(s) => return s,
        };
        // SAFETY: NULL or a valid options struct (contract).
        let opts = unsafe { options.as_ref() }.copied().unwrap_or_default();
        let b = match mpmc_builder(capacity, &opts) {
            Ok(b) => b,
            Err(s) => return s,
        };
        match mpmc::RawChannel::create(&b, name, elem_size, elem_align) {
            // SAFETY: non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_mpmc { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Creates an anonymous MPMC ring (sealed memfd); arguments as for
/// `shmlane_mpmc_create`, sharing as for `shmlane_channel_anonymous`
/// (`shmlane_mpmc_fd`, `shmlane_mpmc_from_fd`).
///
/// # Safety
/// `options` is NULL or points to a `shmlane_options`; `out` is valid for
/// writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_anonymous(
    capacity: usize,
    elem_size: usize,
    elem_align: usize,
    options: *const shmlane_options,
    out: *mut *mut shmlane_mpmc,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: NULL or a valid options struct (contract).
        let opts = unsafe { options.as_ref() }.copied().unwrap_or_default();
        let b = match mpmc_builder(capacity, &opts) {
            Ok(b) => b,
            Err(s) => return s,
        };
        match mpmc::RawChannel::anonymous(&b, elem_size, elem_align) {
            // SAFETY: non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_mpmc { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Opens a named MPMC ring. `elem_size` 0 accepts any element size;
/// otherwise a ring of another size is `SHMLANE_TYPE_MISMATCH`. A segment
/// of another kind is `SHMLANE_KIND_MISMATCH`; other errors as for
/// `shmlane_channel_open`.
///
/// # Safety
/// `name` is a NUL-terminated string; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_open(
    name: *const c_char,
    elem_size: usize,
    out: *mut *mut shmlane_mpmc,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: contract of this function.
        let name = match unsafe { name_of(name) } {
            Ok(n) => n,
            Err(s) => return s,
        };
        match mpmc::RawChannel::open(&mpmc::Builder::new(), name, (elem_size != 0).then_some(elem_size)) {
            // SAFETY: non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_mpmc { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// Opens an anonymous MPMC ring from a file descriptor (the library
/// duplicates it; the caller still owns `fd`). `elem_size` as for
/// `shmlane_mpmc_open`.
///
/// # Safety
/// `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_from_fd(
    fd: c_int,
    elem_size: usize,
    out: *mut *mut shmlane_mpmc,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        let fd = match dup_fd(fd) {
            Ok(fd) => fd,
            Err(s) => return s,
        };
        match mpmc::RawChannel::from_fd(&mpmc::Builder::new(), fd, (elem_size != 0).then_some(elem_size)) {
            // SAFETY: non-null and writable (contract).
            Ok(ch) => unsafe { put(out, boxed(shmlane_mpmc { ch })) },
            Err(e) => error_status(&e),
        }
    })
}

/// A new inheritable fd of an anonymous MPMC ring; see `shmlane_channel_fd`.
///
/// # Safety
/// `ch` is a live handle; `fd` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_fd(ch: *const shmlane_mpmc, fd: *mut c_int) -> shmlane_status {
    guard(|| {
        non_null!(ch, fd);
        // SAFETY: a live handle (contract); `fd` writable.
        unsafe { segment_fd((*ch).ch.segment(), fd) }
    })
}

/// Closes an MPMC ring handle (NULL is ignored); attached senders and
/// receivers stay usable.
///
/// # Safety
/// `ch` is NULL or a handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_close(ch: *mut shmlane_mpmc) {
    let _ = guard(|| {
        if !ch.is_null() {
            // SAFETY: a handle from Box::into_raw, closed once (contract).
            drop(unsafe { Box::from_raw(ch) });
        }
        SHMLANE_OK
    });
}

/// Element size and slot count of an MPMC ring. Does not block.
///
/// # Safety
/// `ch` is a live handle; `elem_size` and `capacity` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_info(
    ch: *const shmlane_mpmc,
    elem_size: *mut usize,
    capacity: *mut usize,
) -> shmlane_status {
    guard(|| {
        non_null!(ch);
        // SAFETY: a live handle (contract).
        let ch = unsafe { &(*ch).ch };
        // SAFETY: each is NULL (skipped) or writable (contract).
        unsafe {
            if !elem_size.is_null() {
                elem_size.write(ch.elem_size());
            }
            if !capacity.is_null() {
                capacity.write(ch.capacity());
            }
        }
        SHMLANE_OK
    })
}

/// Counters of an MPMC ring (a snapshot; fields may disagree by an element
/// while operations are in flight).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmlane_mpmc_stats {
    /// Number of slots.
    pub capacity: u64,
    /// Elements waiting in the ring.
    pub depth: u64,
    /// Elements committed (or being committed) since creation.
    pub sent: u64,
    /// Elements received (or being received) since creation.
    pub received: u64,
    /// Claims of producers that died before committing, skipped.
    pub lost_sends: u64,
    /// Elements claimed by consumers that died before releasing them.
    pub lost_recvs: u64,
    /// Claims aborted by live senders.
    pub aborted: u64,
    /// Senders attached now (including dead ones not yet replaced).
    pub senders: u32,
    /// Receivers attached now (including dead ones not yet replaced).
    pub receivers: u32,
    /// Size of the endpoint table.
    pub endpoint_capacity: u32,
    /// The segment's stall timeout in nanoseconds.
    pub stall_timeout_ns: u64,
}

/// Reads the counters of an MPMC ring. Does not block, no system call.
///
/// # Safety
/// `ch` is a live handle; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_stats_get(
    ch: *const shmlane_mpmc,
    out: *mut shmlane_mpmc_stats,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        let s = unsafe { &(*ch).ch }.stats();
        let st = shmlane_mpmc_stats {
            capacity: s.capacity,
            depth: s.depth,
            sent: s.sent,
            received: s.received,
            lost_sends: s.lost_sends,
            lost_recvs: s.lost_recvs,
            aborted: s.aborted,
            senders: s.senders,
            receivers: s.receivers,
            endpoint_capacity: s.endpoint_capacity,
            stall_timeout_ns: u64::try_from(s.stall_timeout.as_nanos()).unwrap_or(u64::MAX),
        };
        // SAFETY: non-null and writable (contract).
        unsafe { put(out, st) }
    })
}

/// Attaches a sender (takes a free endpoint entry, or a dead process's:
/// `SHMLANE_ENDPOINT_TABLE_FULL` when none). Same threading rules as byte
/// producers. Close it with `shmlane_mpmc_sender_close`.
///
/// # Safety
/// `ch` is a live handle; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_sender_attach(
    ch: *const shmlane_mpmc,
    out: *mut *mut shmlane_mpmc_sender,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        match unsafe { &(*ch).ch }.sender() {
            Ok(s) => {
                let h = shmlane_mpmc_sender {
                    claim: None,
                    s: NonNull::from(Box::leak(Box::new(s))),
                };
                // SAFETY: non-null and writable (contract).
                unsafe { put(out, boxed(h)) }
            }
            Err(e) => error_status(&e),
        }
    })
}

/// Attaches a receiver; see `shmlane_mpmc_sender_attach`. Receivers
/// compete: each element goes to one of them.
///
/// # Safety
/// `ch` is a live handle; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_receiver_attach(
    ch: *const shmlane_mpmc,
    out: *mut *mut shmlane_mpmc_receiver,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        match unsafe { &(*ch).ch }.receiver() {
            Ok(r) => {
                let h = shmlane_mpmc_receiver {
                    claim: None,
                    r: NonNull::from(Box::leak(Box::new(r))),
                };
                // SAFETY: non-null and writable (contract).
                unsafe { put(out, boxed(h)) }
            }
            Err(e) => error_status(&e),
        }
    })
}

/// Closes a sender (NULL is ignored); an outstanding claim is aborted.
/// Receivers see `SHMLANE_DISCONNECTED` once every sender closed and the
/// ring is drained.
///
/// # Safety
/// `s` is NULL or a handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_sender_close(s: *mut shmlane_mpmc_sender) {
    let _ = guard(|| {
        if !s.is_null() {
            // SAFETY: a handle from Box::into_raw, closed once (contract).
            drop(unsafe { Box::from_raw(s) });
        }
        SHMLANE_OK
    });
}

/// Closes a receiver (NULL is ignored), releasing an element read in
/// place. Senders see `SHMLANE_DISCONNECTED` once every receiver closed.
///
/// # Safety
/// `r` is NULL or a handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_receiver_close(r: *mut shmlane_mpmc_receiver) {
    let _ = guard(|| {
        if !r.is_null() {
            // SAFETY: a handle from Box::into_raw, closed once (contract).
            drop(unsafe { Box::from_raw(r) });
        }
        SHMLANE_OK
    });
}

fn elem_len_check(len: usize, e: usize) -> shmlane_status {
    if len != e {
        return fail(
            SHMLANE_INVALID_ARGUMENT,
            format!("element of {len} bytes for a ring of {e}-byte elements"),
        );
    }
    SHMLANE_OK
}

/// Sends one element (`len` must equal the element size:
/// `SHMLANE_INVALID_ARGUMENT` otherwise). Timeouts and statuses as for
/// `shmlane_send`; `SHMLANE_WRONG_STATE` while a claim is outstanding.
///
/// # Safety
/// `s` is a live handle; `elem` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_send(
    s: *mut shmlane_mpmc_sender,
    elem: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        // Fast path: no claim outstanding, a free slot, valid arguments.
        // SAFETY: a live handle, used by one thread at a time (contract).
        if let Some(h) = unsafe { s.as_mut() }.filter(|h| h.claim.is_none() && !elem.is_null()) {
            // SAFETY: no claim borrows the sender (checked above).
            let tx = unsafe { &mut *h.s.as_ptr() };
            if len == tx.elem_size() {
                // SAFETY: `len` readable bytes at `elem` (contract).
                match tx.send_fast(unsafe { std::slice::from_raw_parts(elem as *const u8, len) }) {
                    Ok(true) => return SHMLANE_OK,
                    Ok(false) => {}
                    Err(corruption) => return fail(SHMLANE_CORRUPT, corruption.to_string()),
                }
            }
        }
        // SAFETY: contract of this function.
        unsafe { mpmc_send_slow(s, elem, len, timeout_ns) }
    })
}

/// `shmlane_mpmc_send` past its fast path: checks, errors, waiting.
///
/// # Safety
/// As for `shmlane_mpmc_send`.
#[cold]
#[inline(never)]
unsafe fn mpmc_send_slow(
    s: *mut shmlane_mpmc_sender,
    elem: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> shmlane_status {
    {
        non_null!(s, elem);
        // SAFETY: a live handle, used by one thread at a time (contract).
        let tx = match unsafe { &mut *s }.get() {
            Ok(t) => t,
            Err(st) => return st,
        };
        let st = elem_len_check(len, tx.elem_size());
        if st != SHMLANE_OK {
            return st;
        }
        // SAFETY: non-null with `len` readable bytes (contract).
        let e = unsafe { std::slice::from_raw_parts(elem as *const u8, len) };
        match raw_wait(timeout_ns) {
            // `shmlane_mpmc_send` tried the inline claim before calling
            // here (it does whenever the checks above pass).
            None => tx.try_send_after_fast(e).map_or_else(try_send_status, |()| SHMLANE_OK),
            Some(t) => tx
                .send_timeout_after_fast(e, t)
                .map_or_else(send_status, |()| SHMLANE_OK),
        }
    }
}

/// Sends up to `count` elements (`count * elem_size` bytes at `elems`,
/// back to back) with one claim (one update of the shared tail): as many as
/// there are free slots, at least one. `*sent` receives how many (0 on
/// error). Waits for room for the first as `timeout_ns` says.
/// `count` 0 is `SHMLANE_INVALID_ARGUMENT`; other statuses as for
/// `shmlane_mpmc_send`.
///
/// # Safety
/// `s` is a live handle; `elems` points to `count * elem_size` readable
/// bytes; `sent` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_send_batch(
    s: *mut shmlane_mpmc_sender,
    elems: *const c_void,
    count: usize,
    sent: *mut usize,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(s, elems, sent);
        // SAFETY: non-null and writable (contract).
        unsafe { sent.write(0) };
        // SAFETY: a live handle, used by one thread at a time (contract).
        let tx = match unsafe { &mut *s }.get() {
            Ok(t) => t,
            Err(st) => return st,
        };
        // SAFETY: non-null with `count * elem_size` readable bytes (contract).
        let src = match unsafe { batch_of(elems, count, tx.elem_size()) } {
            Ok(src) => src,
            Err(st) => return st,
        };
        let r = match raw_wait(timeout_ns) {
            None => tx.try_send_slice(src).map_err(try_send_status),
            Some(t) => tx.send_slice_timeout(src, t).map_err(send_status),
        };
        match r {
            // SAFETY: non-null and writable (contract).
            Ok(n) => unsafe { put(sent, n) },
            Err(st) => st,
        }
    })
}

/// Claims a free slot to write in place (zero-copy): `*slot` points to
/// `elem_size` writable bytes in the shared segment, aligned to the ring's
/// element alignment, valid until `shmlane_mpmc_commit` or
/// `shmlane_mpmc_abort` (or `shmlane_mpmc_sender_close`, which aborts). One
/// claim at a time per sender (`SHMLANE_WRONG_STATE`). An aborted claim
/// never blocks receivers (they pass over it). Timeouts and statuses as for
/// `shmlane_mpmc_send`.
///
/// # Safety
/// `s` is a live handle; `slot` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_claim(
    s: *mut shmlane_mpmc_sender,
    timeout_ns: i64,
    slot: *mut *mut c_void,
) -> shmlane_status {
    guard(|| {
        non_null!(s, slot);
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *s };
        if let Err(st) = h.get() {
            return st;
        }
        // SAFETY: `h.s` is the handle's live Box allocation, not borrowed
        // by a claim (checked above). The 'static borrow is stored only in
        // `h.claim`, which is dropped before `h.s` is freed.
        let tx: &'static mut mpmc::RawSender = unsafe { &mut *h.s.as_ptr() };
        let r = match raw_wait(timeout_ns) {
            None => tx.try_claim().map_err(try_send_status),
            Some(t) => tx.claim_timeout(t).map_err(send_status),
        };
        match r {
            Ok(mut c) => {
                let p = c.as_mut_ptr() as *mut c_void;
                h.claim = Some(c);
                // SAFETY: non-null and writable (contract).
                unsafe { put(slot, p) }
            }
            Err(st) => st,
        }
    })
}

/// Publishes the claimed element. Does not block. `SHMLANE_WRONG_STATE`
/// without a claim; `SHMLANE_CORRUPT` if a receiver judged this process
/// dead and skipped the claim (the element is not delivered).
///
/// # Safety
/// `s` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_commit(s: *mut shmlane_mpmc_sender) -> shmlane_status {
    guard(|| {
        non_null!(s);
        // SAFETY: a live handle, used by one thread at a time (contract).
        match unsafe { &mut *s }.claim.take() {
            Some(c) => match c.commit() {
                Ok(()) => SHMLANE_OK,
                Err(corruption) => fail(SHMLANE_CORRUPT, corruption.to_string()),
            },
            None => fail(SHMLANE_WRONG_STATE, "commit without a claim"),
        }
    })
}

/// Gives up the outstanding claim (receivers pass over the slot; counted
/// in `aborted`). Does not block. `SHMLANE_WRONG_STATE` without a claim.
///
/// # Safety
/// `s` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_abort(s: *mut shmlane_mpmc_sender) -> shmlane_status {
    guard(|| {
        non_null!(s);
        // SAFETY: a live handle, used by one thread at a time (contract).
        match unsafe { &mut *s }.claim.take() {
            Some(c) => {
                drop(c);
                SHMLANE_OK
            }
            None => fail(SHMLANE_WRONG_STATE, "abort without a claim"),
        }
    })
}

/// Receives one element into `out` (`cap` bytes, at least the element
/// size: `SHMLANE_BUFFER_TOO_SMALL` otherwise, with the element size in
/// `*len`). `*len` receives the element size on success. Timeouts and
/// statuses as for `shmlane_recv`; `SHMLANE_WRONG_STATE` while an element
/// read in place is held.
///
/// # Safety
/// `r` is a live handle; `out` has `cap` writable bytes; `len` is writable.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_recv(
    r: *mut shmlane_mpmc_receiver,
    out: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        // Fast path: nothing held in place, an element available, valid
        // arguments.
        // SAFETY: a live handle, used by one thread at a time (contract).
        if let Some(h) = unsafe { r.as_mut() }.filter(|h| h.claim.is_none() && !out.is_null() && !len.is_null()) {
            // SAFETY: no claim borrows the receiver (checked above).
            let rx = unsafe { &mut *h.r.as_ptr() };
            let n = rx.elem_size();
            if cap >= n {
                // SAFETY: `cap >= n` writable bytes at `out` (contract).
                match rx.recv_fast(unsafe { std::slice::from_raw_parts_mut(out as *mut u8, n) }) {
                    // SAFETY: non-null and writable (contract).
                    Ok(true) => return unsafe { put(len, n) },
                    Ok(false) => {}
                    Err(corruption) => return fail(SHMLANE_CORRUPT, corruption.to_string()),
                }
            }
        }
        // SAFETY: contract of this function.
        unsafe { mpmc_recv_slow(r, out, cap, len, timeout_ns) }
    })
}

/// `shmlane_mpmc_recv` past its fast path: checks, errors, waiting.
///
/// # Safety
/// As for `shmlane_mpmc_recv`.
#[cold]
#[inline(never)]
unsafe fn mpmc_recv_slow(
    r: *mut shmlane_mpmc_receiver,
    out: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: i64,
) -> shmlane_status {
    {
        non_null!(r, out, len);
        // SAFETY: a live handle, used by one thread at a time (contract).
        let rx = match unsafe { &mut *r }.get() {
            Ok(x) => x,
            Err(st) => return st,
        };
        let n = rx.elem_size();
        if cap < n {
            // SAFETY: non-null and writable (contract).
            unsafe { put(len, n) };
            return fail(
                SHMLANE_BUFFER_TOO_SMALL,
                format!("buffer of {cap} bytes for {n}-byte elements"),
            );
        }
        // SAFETY: non-null with `cap >= n` writable bytes (contract).
        let o = unsafe { std::slice::from_raw_parts_mut(out as *mut u8, n) };
        let res = match raw_wait(timeout_ns) {
            // `shmlane_mpmc_recv` tried the inline claim before calling
            // here (it does whenever the checks above pass).
            None => rx.try_recv_after_fast(o).map_err(try_recv_status),
            Some(t) => rx.recv_timeout_after_fast(o, t).map_err(recv_status),
        };
        match res {
            // SAFETY: non-null and writable (contract).
            Ok(()) => unsafe { put(len, n) },
            Err(st) => st,
        }
    }
}

/// Receives up to `cap / elem_size` elements into `out` with one claim (one
/// update of the shared head): every element available, at least one,
/// back to back. `*count` receives how many (0 on error). Waits for the
/// first as `timeout_ns` says. A buffer smaller than one element is
/// `SHMLANE_BUFFER_TOO_SMALL`; other statuses as for `shmlane_mpmc_recv`.
///
/// # Safety
/// `r` is a live handle; `out` has `cap` writable bytes; `count` is
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_recv_batch(
    r: *mut shmlane_mpmc_receiver,
    out: *mut c_void,
    cap: usize,
    count: *mut usize,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(r, out, count);
        // SAFETY: non-null and writable (contract).
        unsafe { count.write(0) };
        // SAFETY: a live handle, used by one thread at a time (contract).
        let rx = match unsafe { &mut *r }.get() {
            Ok(x) => x,
            Err(st) => return st,
        };
        let e = rx.elem_size();
        if cap < e {
            return fail(
                SHMLANE_BUFFER_TOO_SMALL,
                format!("buffer of {cap} bytes for {e}-byte elements"),
            );
        }
        // SAFETY: non-null with `cap` writable bytes (contract).
        let o = unsafe { std::slice::from_raw_parts_mut(out as *mut u8, cap - cap % e) };
        let res = match raw_wait(timeout_ns) {
            None => rx.try_recv_slice(o).map_err(try_recv_status),
            Some(t) => rx.recv_slice_timeout(o, t).map_err(recv_status),
        };
        match res {
            // SAFETY: non-null and writable (contract).
            Ok(n) => unsafe { put(count, n) },
            Err(st) => st,
        }
    })
}

/// Reads the oldest element in place (zero-copy): `*elem` points to its
/// `elem_size` bytes in the shared segment, valid until
/// `shmlane_mpmc_release` (or `shmlane_mpmc_receiver_close`). Calling it
/// again before the release returns the same element. Timeouts and
/// statuses as for `shmlane_mpmc_recv`.
///
/// # Safety
/// `r` is a live handle; `elem` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_read(
    r: *mut shmlane_mpmc_receiver,
    elem: *mut *const c_void,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(r, elem);
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *r };
        if let Some(c) = h.claim.as_ref() {
            // SAFETY: non-null and writable (contract).
            return unsafe { put(elem, c.as_ptr() as *const c_void) };
        }
        // SAFETY: the handle's live Box allocation, not borrowed by a claim
        // (checked above); the 'static borrow is stored only in `h.claim`,
        // dropped before `h.r` is freed.
        let rx: &'static mut mpmc::RawReceiver = unsafe { &mut *h.r.as_ptr() };
        let res = match raw_wait(timeout_ns) {
            None => rx.try_claim().map_err(try_recv_status),
            Some(t) => rx.claim_timeout(t).map_err(recv_status),
        };
        match res {
            Ok(c) => {
                let p = c.as_ptr() as *const c_void;
                h.claim = Some(c);
                // SAFETY: non-null and writable (contract).
                unsafe { put(elem, p) }
            }
            Err(st) => st,
        }
    })
}

/// Releases the element read in place by `shmlane_mpmc_read`. Does not
/// block. `SHMLANE_WRONG_STATE` without one; `SHMLANE_CORRUPT` if a sender
/// judged this process dead and reclaimed the slot (what was read may be
/// torn and must be discarded).
///
/// # Safety
/// `r` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_release(r: *mut shmlane_mpmc_receiver) -> shmlane_status {
    guard(|| {
        non_null!(r);
        // SAFETY: a live handle, used by one thread at a time (contract).
        match unsafe { &mut *r }.claim.take() {
            Some(c) => match c.release() {
                Ok(()) => SHMLANE_OK,
                Err(corruption) => fail(SHMLANE_CORRUPT, corruption.to_string()),
            },
            None => fail(SHMLANE_WRONG_STATE, "release without an element read in place"),
        }
    })
}

// ---------------------------------------------------------------------------
// How blocking calls wait
// ---------------------------------------------------------------------------

/// `shmlane_wait.strategy`: spin about 50 µs, then sleep on the futex (the
/// default of every handle).
pub const SHMLANE_WAIT_DEFAULT: u32 = 0;
/// `shmlane_wait.strategy`: only spin, never sleep in the kernel (lowest
/// latency; burns a core while waiting).
pub const SHMLANE_WAIT_SPIN: u32 = 1;
/// `shmlane_wait.strategy`: sleep on the futex at once (lowest CPU use).
pub const SHMLANE_WAIT_PARK: u32 = 2;
/// `shmlane_wait.strategy`: spin for `spin_ns`, then sleep.
pub const SHMLANE_WAIT_SPIN_THEN_PARK: u32 = 3;

/// How the blocking calls of one handle wait (a zeroed struct is the
/// default).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmlane_wait {
    /// A `SHMLANE_WAIT_*` value.
    pub strategy: u32,
    /// `SHMLANE_WAIT_SPIN_THEN_PARK`: how long to spin, in nanoseconds.
    pub spin_ns: u64,
    /// While blocked, how often to check that the peers are alive (and the
    /// longest single sleep), in nanoseconds; 0 for the default (100 ms).
    pub check_interval_ns: u64,
}

/// Decodes a `shmlane_wait` (NULL: the default).
///
/// # Safety
/// `w` is NULL or points to a `shmlane_wait`.
unsafe fn wait_config(w: *const shmlane_wait) -> Result<WaitConfig, shmlane_status> {
    // SAFETY: NULL or valid (contract).
    let w = unsafe { w.as_ref() }.copied().unwrap_or_default();
    let mut cfg = WaitConfig::default();
    cfg.strategy = match w.strategy {
        SHMLANE_WAIT_DEFAULT => cfg.strategy,
        SHMLANE_WAIT_SPIN => WaitStrategy::Spin,
        SHMLANE_WAIT_PARK => WaitStrategy::Park,
        SHMLANE_WAIT_SPIN_THEN_PARK => WaitStrategy::SpinThenPark(Duration::from_nanos(w.spin_ns)),
        s => {
            return Err(fail(
                SHMLANE_INVALID_ARGUMENT,
                format!("wait strategy {s} is not a SHMLANE_WAIT_*"),
            ))
        }
    };
    if w.check_interval_ns != 0 {
        cfg.check_interval = Duration::from_nanos(w.check_interval_ns);
    }
    Ok(cfg)
}

/// Sets how the blocking calls of a byte producer wait.
/// `SHMLANE_WRONG_STATE` while a claim is outstanding. `wait` NULL restores the default.
///
/// # Safety
/// `h` is a live handle used by one thread at a time; `wait` is NULL or
/// points to a `shmlane_wait`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_producer_set_wait(
    h: *mut shmlane_producer,
    wait: *const shmlane_wait,
) -> shmlane_status {
    guard(|| {
        non_null!(h);
        // SAFETY: contract of this function.
        let cfg = match unsafe { wait_config(wait) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *h };
        match h.get() {
            Ok(p) => {
                p.set_wait_config(cfg);
                SHMLANE_OK
            }
            Err(s) => s,
        }
    })
}

/// Sets how the blocking calls of a byte consumer wait.
/// `SHMLANE_WRONG_STATE` while a record or batch read in place is held. `wait` NULL restores the default.
///
/// # Safety
/// `h` is a live handle used by one thread at a time; `wait` is NULL or
/// points to a `shmlane_wait`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_consumer_set_wait(
    h: *mut shmlane_consumer,
    wait: *const shmlane_wait,
) -> shmlane_status {
    guard(|| {
        non_null!(h);
        // SAFETY: contract of this function.
        let cfg = match unsafe { wait_config(wait) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *h };
        if h.record.is_some() || h.batch.is_some() {
            return fail(SHMLANE_WRONG_STATE, "release the record or batch read in place first");
        }
        // SAFETY: no record or batch borrows the consumer (checked above).
        unsafe { h.get_static() }.set_wait_config(cfg);
        SHMLANE_OK
    })
}

/// Sets how the blocking calls of a fixed-size SPSC producer wait. `wait` NULL restores the default.
///
/// # Safety
/// `h` is a live handle used by one thread at a time; `wait` is NULL or
/// points to a `shmlane_wait`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_producer_set_wait(
    h: *mut shmlane_fixed_producer,
    wait: *const shmlane_wait,
) -> shmlane_status {
    guard(|| {
        non_null!(h);
        // SAFETY: contract of this function.
        let cfg = match unsafe { wait_config(wait) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *h };
        h.p.set_wait_config(cfg);
        SHMLANE_OK
    })
}

/// Sets how the blocking calls of a fixed-size SPSC consumer wait. `wait` NULL restores the default.
///
/// # Safety
/// `h` is a live handle used by one thread at a time; `wait` is NULL or
/// points to a `shmlane_wait`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_fixed_consumer_set_wait(
    h: *mut shmlane_fixed_consumer,
    wait: *const shmlane_wait,
) -> shmlane_status {
    guard(|| {
        non_null!(h);
        // SAFETY: contract of this function.
        let cfg = match unsafe { wait_config(wait) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *h };
        h.c.set_wait_config(cfg);
        SHMLANE_OK
    })
}

/// Sets how the blocking calls of an MPMC sender wait.
/// `SHMLANE_WRONG_STATE` while a claim is outstanding. `wait` NULL restores the default.
///
/// # Safety
/// `h` is a live handle used by one thread at a time; `wait` is NULL or
/// points to a `shmlane_wait`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_sender_set_wait(
    h: *mut shmlane_mpmc_sender,
    wait: *const shmlane_wait,
) -> shmlane_status {
    guard(|| {
        non_null!(h);
        // SAFETY: contract of this function.
        let cfg = match unsafe { wait_config(wait) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *h };
        match h.get() {
            Ok(x) => {
                x.set_wait_config(cfg);
                SHMLANE_OK
            }
            Err(st) => st,
        }
    })
}

/// Sets how the blocking calls of an MPMC receiver wait.
/// `SHMLANE_WRONG_STATE` while an element read in place is held. `wait` NULL restores the default.
///
/// # Safety
/// `h` is a live handle used by one thread at a time; `wait` is NULL or
/// points to a `shmlane_wait`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_mpmc_receiver_set_wait(
    h: *mut shmlane_mpmc_receiver,
    wait: *const shmlane_wait,
) -> shmlane_status {
    guard(|| {
        non_null!(h);
        // SAFETY: contract of this function.
        let cfg = match unsafe { wait_config(wait) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *h };
        match h.get() {
            Ok(x) => {
                x.set_wait_config(cfg);
                SHMLANE_OK
            }
            Err(st) => st,
        }
    })
}

// ---------------------------------------------------------------------------
// Broadcast (publish-subscribe): fixed-size elements and byte messages
// ---------------------------------------------------------------------------

/// `shmlane_bcast_options.policy`: lossless; the publisher waits for the
/// slowest live subscriber (the default, also chosen by 0).
pub const SHMLANE_POLICY_BLOCK: u32 = 1;
/// `shmlane_bcast_options.policy`: lossy; the publisher never waits, a
/// subscriber that falls a ring behind gets `SHMLANE_LAGGED`.
pub const SHMLANE_POLICY_OVERWRITE: u32 = 2;
/// `shmlane_bcast_subscribe`: receive what is published from now on.
pub const SHMLANE_BCAST_FROM_NEWEST: u32 = 0;
/// `shmlane_bcast_subscribe`: start with the oldest message still in the ring.
pub const SHMLANE_BCAST_FROM_OLDEST: u32 = 1;

mod bcast_asserts {
    use super::*;
    const _: () = assert!(SHMLANE_POLICY_BLOCK == 1 && SHMLANE_POLICY_OVERWRITE == 2);
}

/// Options for creating a broadcast channel. A zeroed struct means
/// "defaults" (every field's 0 picks the default named below).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmlane_bcast_options {
    /// `SHMLANE_POLICY_BLOCK` (default) or `SHMLANE_POLICY_OVERWRITE`;
    /// stored in the segment.
    pub policy: u32,
    /// File mode of a named segment (default 0600).
    pub mode: u32,
    /// Byte messages only: largest message in bytes (default and maximum:
    /// half the capacity minus `SHMLANE_RECORD_HEADER_LEN`). Must be 0 for
    /// fixed-size elements.
    pub max_message: usize,
    /// Entries of the endpoint table: the publisher plus the subscribers
    /// attached at once (default 64, at least 2).
    pub endpoints: u32,
    /// Non-zero: replace a same-named segment whose endpoints are all dead
    /// instead of failing with `SHMLANE_ALREADY_EXISTS`.
    pub reclaim_stale: u32,
    /// Block: how long a subscriber whose process died may hold the
    /// publisher back before it is evicted, in nanoseconds (default 3 s).
    pub stall_timeout_ns: u64,
}

/// Geometry and settings of a broadcast channel (fixed at creation).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmlane_bcast_info {
    /// `SHMLANE_KIND_BROADCAST` or `SHMLANE_KIND_BROADCAST_BYTES`.
    pub kind: u32,
    /// `SHMLANE_POLICY_BLOCK` or `SHMLANE_POLICY_OVERWRITE`.
    pub policy: u32,
    /// Fixed-size elements: number of slots; byte messages: bytes of the
    /// record area.
    pub capacity: usize,
    /// Fixed-size elements: bytes per element (0 for byte messages).
    pub elem_size: usize,
    /// Fixed-size elements: their alignment (0 for byte messages).
    pub elem_align: usize,
    /// Byte messages: largest message in bytes (0 for fixed-size elements).
    pub max_message: usize,
    /// Size of the endpoint table (the publisher included).
    pub endpoint_capacity: u32,
    /// Block: the stall timeout after which a dead subscriber is evicted.
    pub stall_timeout_ns: u64,
}

/// Counters of a broadcast channel (a snapshot; fields may disagree by a
/// message while one is published).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmlane_bcast_stats {
    /// Messages published since creation.
    pub published: u64,
    /// 1 while a publisher is attached (possibly a dead one not yet
    /// replaced), else 0.
    pub publisher_attached: u32,
    /// Subscribers attached now (including dead ones not yet replaced or
    /// evicted).
    pub subscribers: u32,
    /// Subscribers evicted as dead after holding a Block publisher back for
    /// the stall timeout.
    pub evicted: u64,
    /// Messages reported lost (`SHMLANE_LAGGED`) to all subscribers, ever.
    pub lost: u64,
    /// Largest `published - position` over the subscribers attached now.
    pub max_lag: u64,
}

/// One subscriber's position and counts (`shmlane_bcast_subscribers_get`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmlane_bcast_subscriber_stats {
    /// Index in the endpoint table.
    pub entry: u32,
    /// Process holding it.
    pub pid: u32,
    /// 1 if that process is alive, else 0.
    pub alive: u32,
    /// 1 if the publisher evicted it as dead, else 0.
    pub evicted: u32,
    /// Number of the next message it reads.
    pub position: u64,
    /// Messages published that it has not read yet.
    pub lag: u64,
    /// Messages it received.
    pub received: u64,
    /// Messages it was told it lost (`SHMLANE_LAGGED`).
    pub lost: u64,
}

/// A message read by `shmlane_bcast_read`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmlane_bcast_msg {
    /// The element or payload; valid until `shmlane_bcast_release` (or the
    /// next read, recv or close of the subscriber). Points into the shared
    /// segment when `in_place` is 1, else to a validated copy owned by the
    /// subscriber handle.
    pub data: *const c_void,
    /// Bytes at `data` (the element size, or the message length).
    pub len: usize,
    /// Byte messages: the sender's type word (0 for fixed-size elements).
    pub msg_type: u32,
    /// 1 when `data` points into the shared segment (Block), 0 for a copy.
    pub in_place: u32,
    /// The message's number: messages published before it.
    pub number: u64,
}

/// An open broadcast channel of either kind, not attached. Opaque.
pub struct shmlane_bcast {
    ch: BcastChannel,
}

enum BcastChannel {
    Fixed(broadcast::RawChannel),
    Bytes(broadcast::BytesChannel),
}

/// The publisher of a broadcast channel. Opaque.
pub struct shmlane_bcast_publisher {
    p: BcastPublisher,
}

enum BcastPublisher {
    Fixed(broadcast::RawPublisher),
    Bytes(broadcast::BytesPublisher),
}

/// A subscriber of a broadcast channel. Opaque.
pub struct shmlane_bcast_subscriber {
    // Dropped before `s` (declaration order): it borrows `*s`.
    held: Option<BcastHeld<'static>>,
    s: NonNull<BcastSubscriber>,
}

enum BcastSubscriber {
    Fixed(broadcast::RawSubscriber),
    Bytes(broadcast::BytesSubscriber),
}

/// A message a subscriber handle lends out (`shmlane_bcast_read`).
enum BcastHeld<'a> {
    Fixed(broadcast::RawReadGuard<'a>),
    Bytes(broadcast::BytesMessage<'a>),
}

impl BcastHeld<'_> {
    fn msg(&self) -> shmlane_bcast_msg {
        let (b, ty, in_place, number) = match self {
            BcastHeld::Fixed(g) => (g.as_slice(), 0, g.in_place(), g.position()),
            BcastHeld::Bytes(m) => (m.bytes(), m.ty(), m.in_place(), m.number()),
        };
        shmlane_bcast_msg {
            data: b.as_ptr() as *const c_void,
            len: b.len(),
            msg_type: ty,
            in_place: u32::from(in_place),
            number,
        }
    }
}

impl Drop for shmlane_bcast_subscriber {
    fn drop(&mut self) {
        // A message read in place is released before its subscriber goes.
        self.held = None;
        // SAFETY: `s` came from Box::leak in shmlane_bcast_subscribe and
        // nothing borrows it any more (the held message is gone).
        drop(unsafe { Box::from_raw(self.s.as_ptr()) });
    }
}

impl shmlane_bcast_subscriber {
    /// The subscriber with a lifetime detached from `self`, for a message
    /// that will be stored in `self.held`.
    ///
    /// # Safety
    /// `self.held` is None, and the returned borrow is stored only in
    /// `self.held` (dropped before `self.s`) or dropped before the next
    /// access to `self.s`.
    unsafe fn get_static(&mut self) -> &'static mut BcastSubscriber {
        debug_assert!(self.held.is_none());
        // SAFETY: a live Box allocation owned by `self`, not borrowed by a
        // held message (contract); `&mut self` makes this the only access.
        unsafe { &mut *self.s.as_ptr() }
    }
}

/// `expr?` for the `Result<T, shmlane_status>` helpers inside entry points.
macro_rules! status_try {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(s) => return s,
        }
    };
}

/// Writes a new handle made from `r` through `out`, or reports its error.
///
/// # Safety
/// `out` is valid for writing a pointer.
unsafe fn put_handle<T, U>(out: *mut *mut T, r: Result<U, Error>, wrap: impl FnOnce(U) -> T) -> shmlane_status {
    match r {
        // SAFETY: writable (contract).
        Ok(v) => unsafe { put(out, boxed(wrap(v))) },
        Err(e) => error_status(&e),
    }
}

/// Frees a handle made by [`boxed`] (NULL is ignored).
///
/// # Safety
/// `h` is NULL or a handle from `boxed` that is not used again.
unsafe fn close_handle<T>(h: *mut T) {
    let _ = guard(|| {
        if !h.is_null() {
            // SAFETY: a handle from Box::into_raw, closed once (contract).
            drop(unsafe { Box::from_raw(h) });
        }
        SHMLANE_OK
    });
}

fn bcast_policy(p: u32) -> Result<broadcast::Policy, shmlane_status> {
    match p {
        0 | SHMLANE_POLICY_BLOCK => Ok(broadcast::Policy::Block),
        SHMLANE_POLICY_OVERWRITE => Ok(broadcast::Policy::Overwrite),
        _ => Err(fail(
            SHMLANE_INVALID_ARGUMENT,
            format!("policy {p} is not SHMLANE_POLICY_BLOCK or SHMLANE_POLICY_OVERWRITE"),
        )),
    }
}

/// The builder of a fixed-size broadcast channel from C options.
fn bcast_builder(capacity: usize, o: &shmlane_bcast_options) -> Result<broadcast::Builder, shmlane_status> {
    if o.max_message != 0 {
        return Err(fail(
            SHMLANE_INVALID_ARGUMENT,
            "max_message applies to byte broadcast channels only (leave it 0)",
        ));
    }
    let mut b = broadcast::Builder::new()
        .capacity(capacity)
        .policy(bcast_policy(o.policy)?)
        .reclaim_stale(o.reclaim_stale != 0);
    if o.mode != 0 {
        b = b.mode(o.mode);
    }
    if o.endpoints != 0 {
        b = b.endpoints(o.endpoints);
    }
    if o.stall_timeout_ns != 0 {
        b = b.stall_timeout(Duration::from_nanos(o.stall_timeout_ns));
    }
    Ok(b)
}

/// The builder of a byte broadcast channel from C options.
fn bcast_bytes_builder(capacity: usize, o: &shmlane_bcast_options) -> Result<broadcast::BytesBuilder, shmlane_status> {
    let mut b = broadcast::BytesBuilder::new()
        .capacity(capacity)
        .policy(bcast_policy(o.policy)?)
        .reclaim_stale(o.reclaim_stale != 0);
    if o.mode != 0 {
        b = b.mode(o.mode);
    }
    if o.max_message != 0 {
        b = b.max_message(o.max_message);
    }
    if o.endpoints != 0 {
        b = b.endpoints(o.endpoints);
    }
    if o.stall_timeout_ns != 0 {
        b = b.stall_timeout(Duration::from_nanos(o.stall_timeout_ns));
    }
    Ok(b)
}

/// Reads C options (NULL: defaults).
///
/// # Safety
/// `o` is NULL or points to a `shmlane_bcast_options`.
unsafe fn bcast_options(o: *const shmlane_bcast_options) -> shmlane_bcast_options {
    // SAFETY: NULL or valid (contract).
    unsafe { o.as_ref() }.copied().unwrap_or_default()
}

/// Creates a named broadcast channel of fixed-size elements: one publisher,
/// up to `options->endpoints - 1` subscribers in any processes, every
/// subscriber receives every message.
///
/// - `capacity`: slots, a power of two of at least 2.
/// - `elem_size`, `elem_align`: bytes per element and their alignment (a
///   power of two up to `SHMLANE_REGION_ALIGN`; `elem_size` a non-zero
///   multiple of it). The channel interoperates with Rust's
///   `broadcast::Channel<T>` for any `Pod` T of that size and alignment.
/// - `options`: NULL for defaults (Block, 64 endpoints, 3 s stall timeout,
///   mode 0600); `max_message` must be 0.
/// - `out`: receives the handle; close it with `shmlane_bcast_close`. The
///   segment stays until `shmlane_unlink`.
///
/// Does not block; thread-safe. Errors: `SHMLANE_ALREADY_EXISTS`,
/// `SHMLANE_INVALID_NAME`, `SHMLANE_INVALID_ARGUMENT`, `SHMLANE_NO_SPACE`,
/// `SHMLANE_PERMISSION_DENIED`, `SHMLANE_NULL_POINTER`, `SHMLANE_IO`.
///
/// # Safety
/// `name` is a NUL-terminated string; `options` is NULL or points to a
/// `shmlane_bcast_options`; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_create(
    name: *const c_char,
    capacity: usize,
    elem_size: usize,
    elem_align: usize,
    options: *const shmlane_bcast_options,
    out: *mut *mut shmlane_bcast,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: contract of this function.
        let name = status_try!(unsafe { name_of(name) });
        // SAFETY: contract of this function.
        let b = status_try!(bcast_builder(capacity, &unsafe { bcast_options(options) }));
        let r = broadcast::RawChannel::create(&b, name, elem_size, elem_align);
        // SAFETY: `out` is non-null and writable (contract).
        unsafe {
            put_handle(out, r, |c| shmlane_bcast {
                ch: BcastChannel::Fixed(c),
            })
        }
    })
}

/// Creates a named broadcast channel of variable-length byte messages with
/// a record area of `capacity` bytes (a power of two, at least
/// `SHMLANE_MIN_CAPACITY`); each message carries a `uint32_t` type word.
/// `options->max_message` sets the largest message (default and maximum:
/// `capacity / 2 - SHMLANE_RECORD_HEADER_LEN`). Otherwise as for
/// `shmlane_bcast_create`.
///
/// # Safety
/// As for `shmlane_bcast_create`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_bytes_create(
    name: *const c_char,
    capacity: usize,
    options: *const shmlane_bcast_options,
    out: *mut *mut shmlane_bcast,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: contract of this function.
        let name = status_try!(unsafe { name_of(name) });
        // SAFETY: contract of this function.
        let b = status_try!(bcast_bytes_builder(capacity, &unsafe { bcast_options(options) }));
        // SAFETY: `out` is non-null and writable (contract).
        unsafe {
            put_handle(out, b.create(name), |c| shmlane_bcast {
                ch: BcastChannel::Bytes(c),
            })
        }
    })
}

/// Creates an anonymous broadcast channel of fixed-size elements (a sealed
/// memfd, no name in /dev/shm); arguments as for `shmlane_bcast_create`
/// (`options->mode` and `reclaim_stale` do not apply), sharing as for
/// `shmlane_channel_anonymous` (`shmlane_bcast_fd`, `shmlane_bcast_from_fd`).
///
/// # Safety
/// `options` is NULL or points to a `shmlane_bcast_options`; `out` is valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_anonymous(
    capacity: usize,
    elem_size: usize,
    elem_align: usize,
    options: *const shmlane_bcast_options,
    out: *mut *mut shmlane_bcast,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: contract of this function.
        let b = status_try!(bcast_builder(capacity, &unsafe { bcast_options(options) }));
        let r = broadcast::RawChannel::anonymous(&b, elem_size, elem_align);
        // SAFETY: `out` is non-null and writable (contract).
        unsafe {
            put_handle(out, r, |c| shmlane_bcast {
                ch: BcastChannel::Fixed(c),
            })
        }
    })
}

/// Creates an anonymous broadcast channel of byte messages; arguments as
/// for `shmlane_bcast_bytes_create`, sharing as for `shmlane_bcast_anonymous`.
///
/// # Safety
/// As for `shmlane_bcast_anonymous`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_bytes_anonymous(
    capacity: usize,
    options: *const shmlane_bcast_options,
    out: *mut *mut shmlane_bcast,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: contract of this function.
        let b = status_try!(bcast_bytes_builder(capacity, &unsafe { bcast_options(options) }));
        // SAFETY: `out` is non-null and writable (contract).
        unsafe {
            put_handle(out, b.anonymous(), |c| shmlane_bcast {
                ch: BcastChannel::Bytes(c),
            })
        }
    })
}

/// Opens a broadcast channel of the kind asked for: `kind` 0 (either),
/// `SHMLANE_KIND_BROADCAST` or `SHMLANE_KIND_BROADCAST_BYTES`; `elem_size`
/// 0 accepts any element size, otherwise only a fixed-size channel of that
/// size. `fixed` and `bytes` open the segment as each kind.
fn bcast_open_kind(
    kind: u32,
    elem_size: usize,
    fixed: impl FnOnce(Option<usize>) -> Result<broadcast::RawChannel, Error>,
    bytes: impl FnOnce() -> Result<broadcast::BytesChannel, Error>,
) -> Result<BcastChannel, shmlane_status> {
    let want = (elem_size != 0).then_some(elem_size);
    let r = match kind {
        SHMLANE_KIND_BROADCAST => fixed(want).map(BcastChannel::Fixed),
        SHMLANE_KIND_BROADCAST_BYTES if want.is_some() => {
            return Err(fail(
                SHMLANE_INVALID_ARGUMENT,
                "elem_size applies to fixed-size broadcast channels (give 0 with SHMLANE_KIND_BROADCAST_BYTES)",
            ))
        }
        SHMLANE_KIND_BROADCAST_BYTES => bytes().map(BcastChannel::Bytes),
        0 => match fixed(want) {
            Err(Error::KindMismatch { .. }) if want.is_none() => bytes().map(BcastChannel::Bytes),
            r => r.map(BcastChannel::Fixed),
        },
        k => {
            return Err(fail(
                SHMLANE_INVALID_ARGUMENT,
                format!("kind {k} is not a broadcast kind (0, SHMLANE_KIND_BROADCAST or _BROADCAST_BYTES)"),
            ))
        }
    };
    r.map_err(|e| error_status(&e))
}

/// Opens an existing named broadcast channel (its policy and geometry are
/// the creator's).
///
/// - `kind`: 0 for either broadcast kind, or `SHMLANE_KIND_BROADCAST` /
///   `SHMLANE_KIND_BROADCAST_BYTES` (`SHMLANE_KIND_MISMATCH` for a segment
///   of another kind).
/// - `elem_size`: 0 accepts any; otherwise the channel must hold fixed-size
///   elements of this size (`SHMLANE_TYPE_MISMATCH` for another size,
///   `SHMLANE_KIND_MISMATCH` for a byte channel).
/// - `out`: receives the handle; close it with `shmlane_bcast_close`.
///
/// Waits (briefly, bounded) only for a creator still initialising the
/// segment; thread-safe. Errors also: `SHMLANE_NOT_FOUND`,
/// `SHMLANE_ABI_MISMATCH`, `SHMLANE_CORRUPT`, `SHMLANE_NOT_INITIALIZED`,
/// `SHMLANE_PERMISSION_DENIED`, `SHMLANE_INVALID_NAME`,
/// `SHMLANE_INVALID_ARGUMENT` (an unknown kind, or `elem_size` with the
/// byte kind), `SHMLANE_NULL_POINTER`.
///
/// # Safety
/// `name` is a NUL-terminated string; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_open(
    name: *const c_char,
    kind: u32,
    elem_size: usize,
    out: *mut *mut shmlane_bcast,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        // SAFETY: contract of this function.
        let name = status_try!(unsafe { name_of(name) });
        let ch = status_try!(bcast_open_kind(
            kind,
            elem_size,
            |want| broadcast::RawChannel::open(&broadcast::Builder::new(), name, want),
            || broadcast::BytesBuilder::new().open(name),
        ));
        // SAFETY: `out` is non-null and writable (contract).
        unsafe { put(out, boxed(shmlane_bcast { ch })) }
    })
}

/// Opens an anonymous broadcast channel from a file descriptor (inherited
/// or received over a unix socket). The library duplicates `fd`: the
/// caller still owns it. `kind` and `elem_size` as for `shmlane_bcast_open`;
/// `SHMLANE_INVALID_ARGUMENT` for a negative or closed fd.
///
/// # Safety
/// `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_from_fd(
    fd: c_int,
    kind: u32,
    elem_size: usize,
    out: *mut *mut shmlane_bcast,
) -> shmlane_status {
    guard(|| {
        non_null!(out);
        let fd = status_try!(dup_fd(fd));
        let ch = status_try!(bcast_open_kind(
            kind,
            elem_size,
            |want| broadcast::RawChannel::from_fd(&broadcast::Builder::new(), dup_again(&fd)?, want),
            || broadcast::BytesBuilder::new().from_fd(dup_again(&fd)?),
        ));
        // SAFETY: `out` is non-null and writable (contract).
        unsafe { put(out, boxed(shmlane_bcast { ch })) }
    })
}

/// Another close-on-exec descriptor of `fd` (each open attempt consumes one).
fn dup_again(fd: &OwnedFd) -> Result<OwnedFd, Error> {
    fd.try_clone().map_err(|source| Error::Io {
        op: "dup",
        name: String::new(),
        source,
    })
}

/// Writes to `*fd` a new file descriptor of an anonymous broadcast channel,
/// without close-on-exec (see `shmlane_channel_fd`). A named channel is
/// `SHMLANE_INVALID_ARGUMENT` (open it by name).
///
/// # Safety
/// `ch` is a live handle; `fd` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_fd(ch: *const shmlane_bcast, fd: *mut c_int) -> shmlane_status {
    guard(|| {
        non_null!(ch, fd);
        // SAFETY: a live handle (contract).
        let seg = match unsafe { &(*ch).ch } {
            BcastChannel::Fixed(c) => c.segment(),
            BcastChannel::Bytes(c) => c.segment(),
        };
        // SAFETY: `fd` is writable (contract).
        unsafe { segment_fd(seg, fd) }
    })
}

/// Closes a broadcast channel handle (NULL is ignored). Publishers and
/// subscribers attached through it stay usable (they keep the mapping
/// alive). Does not unlink the segment.
///
/// # Safety
/// `ch` is NULL or a handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_close(ch: *mut shmlane_bcast) {
    // SAFETY: contract of this function.
    unsafe { close_handle(ch) }
}

/// Reads the kind, policy and geometry of a broadcast channel. Does not
/// block, no system call; thread-safe.
///
/// # Safety
/// `ch` is a live handle; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_info_get(
    ch: *const shmlane_bcast,
    out: *mut shmlane_bcast_info,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        let info = match unsafe { &(*ch).ch } {
            BcastChannel::Fixed(c) => shmlane_bcast_info {
                kind: SHMLANE_KIND_BROADCAST,
                policy: c.policy().flags(),
                capacity: c.capacity(),
                elem_size: c.elem_size(),
                elem_align: c.elem_align(),
                max_message: 0,
                endpoint_capacity: c.endpoint_capacity() as u32,
                stall_timeout_ns: nanos(c.stall_timeout()),
            },
            BcastChannel::Bytes(c) => {
                let s = c.stats();
                shmlane_bcast_info {
                    kind: SHMLANE_KIND_BROADCAST_BYTES,
                    policy: c.policy().flags(),
                    capacity: c.capacity(),
                    elem_size: 0,
                    elem_align: 0,
                    max_message: c.max_message(),
                    endpoint_capacity: s.endpoint_capacity,
                    stall_timeout_ns: nanos(s.stall_timeout),
                }
            }
        };
        // SAFETY: non-null and writable (contract).
        unsafe { put(out, info) }
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Reads the counters of a broadcast channel (no attach needed). Does not
/// block, no system call; thread-safe.
///
/// # Safety
/// `ch` is a live handle; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_stats_get(
    ch: *const shmlane_bcast,
    out: *mut shmlane_bcast_stats,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        let s = match unsafe { &(*ch).ch } {
            BcastChannel::Fixed(c) => c.stats(),
            BcastChannel::Bytes(c) => c.stats(),
        };
        let st = shmlane_bcast_stats {
            published: s.published,
            publisher_attached: u32::from(s.publisher_attached),
            subscribers: s.subscribers,
            evicted: s.evicted,
            lost: s.lost,
            max_lag: s.max_lag,
        };
        // SAFETY: non-null and writable (contract).
        unsafe { put(out, st) }
    })
}

/// Reads the position, lag and losses of every attached subscriber: writes
/// up to `max` entries to `out` and the number of subscribers attached to
/// `*count` (which may exceed `max`: call again with a larger array). `out`
/// may be NULL when `max` is 0 (to ask for the count). Does not block but
/// makes system calls (a liveness check per subscriber); thread-safe.
///
/// # Safety
/// `ch` is a live handle; `out` has room for `max` entries; `count` is
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_subscribers_get(
    ch: *const shmlane_bcast,
    out: *mut shmlane_bcast_subscriber_stats,
    max: usize,
    count: *mut usize,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, count);
        if max > 0 && out.is_null() {
            return fail(SHMLANE_NULL_POINTER, "argument `out` is NULL with a non-zero max");
        }
        // SAFETY: a live handle (contract).
        let subs = match unsafe { &(*ch).ch } {
            BcastChannel::Fixed(c) => c.subscribers(),
            BcastChannel::Bytes(c) => c.subscribers(),
        };
        for (k, s) in subs.iter().take(max).enumerate() {
            let e = shmlane_bcast_subscriber_stats {
                entry: s.entry,
                pid: s.pid,
                alive: u32::from(s.alive),
                evicted: u32::from(s.evicted),
                position: s.cursor,
                lag: s.lag,
                received: s.received,
                lost: s.lost,
            };
            // SAFETY: `out` has room for `max` entries (contract), k < max.
            unsafe { out.add(k).write(e) };
        }
        // SAFETY: non-null and writable (contract).
        unsafe { put(count, subs.len()) }
    })
}

/// Attaches the publisher of a broadcast channel. `SHMLANE_ENDPOINT_BUSY`
/// while another live publisher is attached; after a dead one, continues
/// from its last published message (a message it was writing is dropped).
///
/// The handle is independent of `ch` (it may outlive it), may be moved
/// between threads but not used by two at once. Close it with
/// `shmlane_bcast_publisher_close`. Does not block.
///
/// # Safety
/// `ch` is a live handle; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_publisher_attach(
    ch: *const shmlane_bcast,
    out: *mut *mut shmlane_bcast_publisher,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        // SAFETY: a live handle (contract).
        let r = match unsafe { &(*ch).ch } {
            BcastChannel::Fixed(c) => c.publisher().map(BcastPublisher::Fixed),
            BcastChannel::Bytes(c) => c.publisher().map(BcastPublisher::Bytes),
        };
        // SAFETY: non-null and writable (contract).
        unsafe { put_handle(out, r, |p| shmlane_bcast_publisher { p }) }
    })
}

/// Closes a publisher (NULL is ignored) and releases its endpoint entry;
/// subscribers see `SHMLANE_DISCONNECTED` once they have read everything.
///
/// # Safety
/// `p` is NULL or a handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_publisher_close(p: *mut shmlane_bcast_publisher) {
    // SAFETY: contract of this function.
    unsafe { close_handle(p) }
}

/// Attaches a subscriber. `from`: `SHMLANE_BCAST_FROM_NEWEST` (receives
/// what is published from now on) or `SHMLANE_BCAST_FROM_OLDEST` (starts
/// with the oldest message still in the ring; messages published before it
/// joined are read while intact, never reported lost, and do not hold a
/// Block publisher back). `SHMLANE_ENDPOINT_TABLE_FULL` when every entry is
/// held by a live endpoint (entries of dead processes are reused).
///
/// The handle is independent of `ch`, may be moved between threads but not
/// used by two at once. Close it with `shmlane_bcast_subscriber_close`.
/// Does not block.
///
/// # Safety
/// `ch` is a live handle; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_subscribe(
    ch: *const shmlane_bcast,
    from: u32,
    out: *mut *mut shmlane_bcast_subscriber,
) -> shmlane_status {
    guard(|| {
        non_null!(ch, out);
        let oldest = match from {
            SHMLANE_BCAST_FROM_NEWEST => false,
            SHMLANE_BCAST_FROM_OLDEST => true,
            f => {
                return fail(
                    SHMLANE_INVALID_ARGUMENT,
                    format!("from {f} is not SHMLANE_BCAST_FROM_NEWEST or _FROM_OLDEST"),
                )
            }
        };
        // SAFETY: a live handle (contract).
        let r = match (unsafe { &(*ch).ch }, oldest) {
            (BcastChannel::Fixed(c), false) => c.subscribe().map(BcastSubscriber::Fixed),
            (BcastChannel::Fixed(c), true) => c.subscribe_from_oldest().map(BcastSubscriber::Fixed),
            (BcastChannel::Bytes(c), false) => c.subscribe().map(BcastSubscriber::Bytes),
            (BcastChannel::Bytes(c), true) => c.subscribe_from_oldest().map(BcastSubscriber::Bytes),
        };
        // SAFETY: non-null and writable (contract).
        unsafe {
            put_handle(out, r, |s| shmlane_bcast_subscriber {
                held: None,
                s: NonNull::from(Box::leak(Box::new(s))),
            })
        }
    })
}

/// Closes a subscriber (NULL is ignored), releasing a message read in
/// place and its endpoint entry (a Block publisher stops waiting for it).
///
/// # Safety
/// `s` is NULL or a handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_subscriber_close(s: *mut shmlane_bcast_subscriber) {
    // SAFETY: contract of this function.
    unsafe { close_handle(s) }
}

fn bcast_kind_mismatch(what: &str, have: &str) -> shmlane_status {
    fail(
        SHMLANE_KIND_MISMATCH,
        format!("{what} on a broadcast channel of {have}"),
    )
}

/// Publishes one fixed-size element: `len` must equal the element size
/// (`SHMLANE_INVALID_ARGUMENT` otherwise). Every subscriber attached will
/// receive it.
///
/// `timeout_ns`: 0 tries once, negative waits as long as it takes, positive
/// at most that long. Only Block waits: while the slowest live subscriber is
/// a ring behind (`SHMLANE_FULL` / `SHMLANE_TIMEOUT`); a dead one is evicted
/// after the stall timeout. Overwrite never waits. There is no "no
/// subscribers" error: publishing to nobody is allowed. Also
/// `SHMLANE_CORRUPT`, and `SHMLANE_KIND_MISMATCH` on a byte channel (use
/// `shmlane_bcast_send`).
///
/// # Safety
/// `p` is a live handle; `elem` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_publish(
    p: *mut shmlane_bcast_publisher,
    elem: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(p, elem);
        // SAFETY: a live handle, used by one thread at a time (contract).
        let tx = match unsafe { &mut (*p).p } {
            BcastPublisher::Fixed(tx) => tx,
            BcastPublisher::Bytes(_) => {
                return bcast_kind_mismatch(
                    "shmlane_bcast_publish (elements)",
                    "byte messages: use shmlane_bcast_send",
                )
            }
        };
        status_try!(elem_len(len, tx.elem_size()));
        // SAFETY: non-null with `len` readable bytes (contract).
        let e = unsafe { std::slice::from_raw_parts(elem as *const u8, len) };
        match raw_wait(timeout_ns) {
            None => tx.try_send(e).map_or_else(try_send_status, |()| SHMLANE_OK),
            Some(t) => tx.send_timeout(e, t).map_or_else(send_status, |()| SHMLANE_OK),
        }
    })
}

fn elem_len(len: usize, e: usize) -> Result<(), shmlane_status> {
    match elem_len_check(len, e) {
        SHMLANE_OK => Ok(()),
        s => Err(s),
    }
}

/// Publishes up to `count` fixed-size elements (`count * elem_size` bytes
/// at `elems`, back to back) with one update of the shared tail: as many as
/// there is room for, at least one (Overwrite: at most a ring's worth).
/// `*published` receives how many (0 on error). Waits for room for the
/// first as `timeout_ns` says. `count` 0 is `SHMLANE_INVALID_ARGUMENT`;
/// other statuses as for `shmlane_bcast_publish`.
///
/// # Safety
/// `p` is a live handle; `elems` points to `count * elem_size` readable
/// bytes; `published` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_publish_batch(
    p: *mut shmlane_bcast_publisher,
    elems: *const c_void,
    count: usize,
    published: *mut usize,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(p, elems, published);
        // SAFETY: non-null and writable (contract).
        unsafe { published.write(0) };
        // SAFETY: a live handle, used by one thread at a time (contract).
        let tx = match unsafe { &mut (*p).p } {
            BcastPublisher::Fixed(tx) => tx,
            BcastPublisher::Bytes(_) => {
                return bcast_kind_mismatch("shmlane_bcast_publish_batch (elements)", "byte messages")
            }
        };
        // SAFETY: non-null with `count * elem_size` readable bytes (contract).
        let src = match unsafe { batch_of(elems, count, tx.elem_size()) } {
            Ok(src) => src,
            Err(st) => return st,
        };
        let r = match raw_wait(timeout_ns) {
            None => tx.try_send_slice(src).map_err(try_send_status),
            Some(t) => tx.send_slice_timeout(src, t).map_err(send_status),
        };
        match r {
            // SAFETY: non-null and writable (contract).
            Ok(n) => unsafe { put(published, n) },
            Err(st) => st,
        }
    })
}

/// Publishes one byte message of `len` bytes (copied) with the type word
/// `msg_type` (any value but `SHMLANE_PADDING_TYPE`). `data` may be NULL
/// when `len` is 0. Timeouts and statuses as for `shmlane_bcast_publish`,
/// and `SHMLANE_TOO_LARGE` above the channel's `max_message` (nothing is
/// published); `SHMLANE_KIND_MISMATCH` on a channel of fixed-size elements.
///
/// # Safety
/// `p` is a live handle; `data` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_send(
    p: *mut shmlane_bcast_publisher,
    data: *const c_void,
    len: usize,
    msg_type: u32,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(p);
        // SAFETY: contract of this function.
        let msg = status_try!(unsafe { slice_of(data, len) });
        if msg_type == SHMLANE_PADDING_TYPE {
            return fail(SHMLANE_INVALID_ARGUMENT, "msg_type SHMLANE_PADDING_TYPE is reserved");
        }
        // SAFETY: a live handle, used by one thread at a time (contract).
        let tx = match unsafe { &mut (*p).p } {
            BcastPublisher::Bytes(tx) => tx,
            BcastPublisher::Fixed(_) => {
                return bcast_kind_mismatch(
                    "shmlane_bcast_send (byte messages)",
                    "fixed-size elements: use shmlane_bcast_publish",
                )
            }
        };
        match wait_of(timeout_ns) {
            Wait::Try => tx
                .try_send_with_type(msg_type, msg)
                .map_or_else(try_send_status, |()| SHMLANE_OK),
            Wait::Forever => tx
                .send_with_type(msg_type, msg)
                .map_or_else(send_error_status, |()| SHMLANE_OK),
            Wait::For(d) => tx
                .send_timeout_with_type(msg_type, msg, d)
                .map_or_else(send_status, |()| SHMLANE_OK),
        }
    })
}

/// The status of a failed broadcast receive; `Lagged(n)` writes `n` to
/// `lost` (when not NULL).
///
/// # Safety
/// `lost` is NULL or valid for a write.
unsafe fn bcast_recv_status(e: broadcast::RecvTimeoutError, lost: *mut u64) -> shmlane_status {
    use broadcast::RecvTimeoutError as E;
    match e {
        E::Timeout => SHMLANE_TIMEOUT,
        E::Lagged(n) => {
            if !lost.is_null() {
                // SAFETY: non-null and writable (contract).
                unsafe { lost.write(n) };
            }
            fail(
                SHMLANE_LAGGED,
                format!(
                    "this subscriber missed {n} messages (overwritten); it continues with the oldest still in the ring"
                ),
            )
        }
        E::Disconnected => SHMLANE_DISCONNECTED,
        E::PeerDied { pid } => fail(SHMLANE_PEER_DIED, format!("publisher process {pid} died")),
        E::Corrupt { corruption } => fail(SHMLANE_CORRUPT, corruption.to_string()),
    }
}

/// As [`bcast_recv_status`] for a non-blocking receive.
///
/// # Safety
/// As for `bcast_recv_status`.
unsafe fn bcast_try_status(e: broadcast::TryRecvError, lost: *mut u64) -> shmlane_status {
    use broadcast::{RecvTimeoutError as T, TryRecvError as E};
    let e = match e {
        E::Empty => return SHMLANE_EMPTY,
        E::Lagged(n) => T::Lagged(n),
        E::Disconnected => T::Disconnected,
        E::PeerDied { pid } => T::PeerDied { pid },
        E::Corrupt { corruption } => T::Corrupt { corruption },
    };
    // SAFETY: contract of this function.
    unsafe { bcast_recv_status(e, lost) }
}

/// Takes the next message into `h.held` (or keeps the one already there).
///
/// # Safety
/// `lost` is NULL or valid for a write.
unsafe fn bcast_fetch(h: &mut shmlane_bcast_subscriber, timeout_ns: i64, lost: *mut u64) -> shmlane_status {
    if h.held.is_some() {
        return SHMLANE_OK;
    }
    // SAFETY: `h.held` is None; the borrow is stored only in `h.held`.
    let sub = unsafe { h.get_static() };
    let w = wait_of(timeout_ns);
    let r = match (sub, w) {
        (BcastSubscriber::Fixed(rx), Wait::Try) => rx.try_read().map(BcastHeld::Fixed).map_err(Ok),
        (BcastSubscriber::Fixed(rx), Wait::Forever) => rx.read_timeout(None).map(BcastHeld::Fixed).map_err(Err),
        (BcastSubscriber::Fixed(rx), Wait::For(d)) => rx.read_timeout(Some(d)).map(BcastHeld::Fixed).map_err(Err),
        (BcastSubscriber::Bytes(rx), Wait::Try) => rx.try_read().map(BcastHeld::Bytes).map_err(Ok),
        (BcastSubscriber::Bytes(rx), Wait::Forever) => {
            rx.read().map(BcastHeld::Bytes).map_err(|e| Err(bcast_timeout_of(e)))
        }
        (BcastSubscriber::Bytes(rx), Wait::For(d)) => rx.read_timeout(d).map(BcastHeld::Bytes).map_err(Err),
    };
    match r {
        Ok(m) => {
            h.held = Some(m);
            SHMLANE_OK
        }
        // SAFETY: contract of this function.
        Err(Ok(e)) => unsafe { bcast_try_status(e, lost) },
        // SAFETY: contract of this function.
        Err(Err(e)) => unsafe { bcast_recv_status(e, lost) },
    }
}

fn bcast_timeout_of(e: broadcast::RecvError) -> broadcast::RecvTimeoutError {
    use broadcast::{RecvError as E, RecvTimeoutError as T};
    match e {
        E::Lagged(n) => T::Lagged(n),
        E::Disconnected => T::Disconnected,
        E::PeerDied { pid } => T::PeerDied { pid },
        E::Corrupt { corruption } => T::Corrupt { corruption },
    }
}

/// Receives the next message by copy into `buf` (`cap` bytes).
///
/// On success `*len` is the element size or message length and
/// `*msg_type` (if not NULL) the message's type word (0 for fixed-size
/// elements). A buffer too small is `SHMLANE_BUFFER_TOO_SMALL` with the
/// size needed in `*len`; nothing is consumed (a byte message stays held:
/// call again with a larger buffer). `buf` may be NULL when `cap` is 0.
///
/// `timeout_ns`: 0 tries once (`SHMLANE_EMPTY`), negative waits until a
/// message or the end of the stream, positive at most that long
/// (`SHMLANE_TIMEOUT`). `SHMLANE_LAGGED` (Overwrite; under Block only after
/// this subscriber was evicted as dead): messages were overwritten before
/// this subscriber read them; nothing is received, the number missed is
/// written to `*lost` (if not NULL; written only with this status), and the
/// next call returns the oldest message still in the ring. After the last
/// message: `SHMLANE_DISCONNECTED` when the publisher closed,
/// `SHMLANE_PEER_DIED` when its process died. Also `SHMLANE_CORRUPT`. A
/// message held by `shmlane_bcast_read` is copied and released.
///
/// # Safety
/// `s` is a live handle; `buf` has `cap` writable bytes; `len` is valid for
/// a write; `msg_type` and `lost` are NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_recv(
    s: *mut shmlane_bcast_subscriber,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    msg_type: *mut u32,
    lost: *mut u64,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(s, len);
        if cap > 0 && buf.is_null() {
            return fail(SHMLANE_NULL_POINTER, "argument `buf` is NULL with a non-zero capacity");
        }
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *s };
        if h.held.is_none() {
            // SAFETY: nothing is held; the borrow ends in this block.
            if let BcastSubscriber::Fixed(rx) = unsafe { h.get_static() } {
                // Elements have a known size: copy straight into `buf`.
                let n = rx.elem_size();
                if cap < n {
                    // SAFETY: non-null and writable (contract).
                    unsafe { put(len, n) };
                    return fail(
                        SHMLANE_BUFFER_TOO_SMALL,
                        format!("buffer of {cap} bytes for {n}-byte elements"),
                    );
                }
                // SAFETY: non-null with `cap >= n` writable bytes (contract).
                let out = unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, n) };
                let r = match raw_wait(timeout_ns) {
                    // SAFETY: `lost` is NULL or writable (contract).
                    None => rx.try_recv(out).map_err(|e| unsafe { bcast_try_status(e, lost) }),
                    // SAFETY: as above.
                    Some(t) => rx
                        .recv_timeout(out, t)
                        .map_err(|e| unsafe { bcast_recv_status(e, lost) }),
                };
                if let Err(st) = r {
                    return st;
                }
                // SAFETY: NULL (skipped) or writable (contract).
                unsafe {
                    if !msg_type.is_null() {
                        msg_type.write(0);
                    }
                    return put(len, n);
                }
            }
        }
        // SAFETY: `lost` is NULL or writable (contract).
        let st = unsafe { bcast_fetch(h, timeout_ns, lost) };
        if st != SHMLANE_OK {
            return st;
        }
        let Some(m) = h.held.as_ref().map(BcastHeld::msg) else {
            return fail(SHMLANE_PANIC, "internal error: no message after fetch");
        };
        if m.len > cap {
            // The message stays held: the next recv or read returns it.
            // SAFETY: non-null and writable (contract).
            unsafe { put(len, m.len) };
            return fail(
                SHMLANE_BUFFER_TOO_SMALL,
                format!("message of {} bytes, buffer of {cap}", m.len),
            );
        }
        if m.len > 0 {
            // SAFETY: `buf` has `cap >= m.len` writable bytes (contract) and
            // does not overlap the message (in the shared segment or the
            // handle's own copy buffer, neither of which the caller owns).
            unsafe { std::ptr::copy_nonoverlapping(m.data as *const u8, buf as *mut u8, m.len) };
        }
        h.held = None; // moves the subscriber past it
                       // SAFETY: NULL (skipped) or writable (contract).
        unsafe {
            if !msg_type.is_null() {
                msg_type.write(m.msg_type);
            }
            put(len, m.len)
        }
    })
}

/// Reads the next message without copying it out (zero copy): `*msg`
/// receives its address, length, type word, number, and whether it is in
/// place. Under Block (`in_place` 1) the data is in the shared segment and
/// this subscriber's position holds the publisher back from overwriting it
/// until `shmlane_bcast_release`. Under Overwrite the publisher never waits
/// and may overwrite the slot at any moment, so the library validates a
/// copy into a buffer owned by the handle (`in_place` 0; also for messages
/// from before a subscriber from the oldest joined). Either way the data
/// stays valid until `shmlane_bcast_release`, the next
/// `shmlane_bcast_recv`, or `shmlane_bcast_subscriber_close`; calling
/// `shmlane_bcast_read` again before the release returns the same message.
/// Timeouts and statuses (`SHMLANE_LAGGED` with `*lost`) as for
/// `shmlane_bcast_recv`. A Block subscriber holding a message long holds
/// the publisher back.
///
/// # Safety
/// `s` is a live handle; `msg` is valid for a write; `lost` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_read(
    s: *mut shmlane_bcast_subscriber,
    msg: *mut shmlane_bcast_msg,
    lost: *mut u64,
    timeout_ns: i64,
) -> shmlane_status {
    guard(|| {
        non_null!(s, msg);
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *s };
        // SAFETY: `lost` is NULL or writable (contract).
        let st = unsafe { bcast_fetch(h, timeout_ns, lost) };
        if st != SHMLANE_OK {
            return st;
        }
        match h.held.as_ref().map(BcastHeld::msg) {
            // SAFETY: non-null and writable (contract).
            Some(m) => unsafe { put(msg, m) },
            None => fail(SHMLANE_PANIC, "internal error: no message after fetch"),
        }
    })
}

/// Releases the message returned by `shmlane_bcast_read` (its pointer
/// becomes invalid) and moves the subscriber past it. Does not block.
/// `SHMLANE_WRONG_STATE` without one.
///
/// # Safety
/// `s` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_release(s: *mut shmlane_bcast_subscriber) -> shmlane_status {
    guard(|| {
        non_null!(s);
        // SAFETY: a live handle, used by one thread at a time (contract).
        match unsafe { &mut *s }.held.take() {
            Some(m) => {
                drop(m);
                SHMLANE_OK
            }
            None => fail(SHMLANE_WRONG_STATE, "release without a message read in place"),
        }
    })
}

/// Sets how the blocking calls of a broadcast publisher wait (`wait` NULL:
/// the default). While blocked (Block) it also checks, at most every
/// `check_interval_ns`, whether the subscribers holding it back are alive.
///
/// # Safety
/// `p` is a live handle used by one thread at a time; `wait` is NULL or
/// points to a `shmlane_wait`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_publisher_set_wait(
    p: *mut shmlane_bcast_publisher,
    wait: *const shmlane_wait,
) -> shmlane_status {
    guard(|| {
        non_null!(p);
        // SAFETY: contract of this function.
        let cfg = status_try!(unsafe { wait_config(wait) });
        // SAFETY: a live handle, used by one thread at a time (contract).
        match unsafe { &mut (*p).p } {
            BcastPublisher::Fixed(tx) => tx.set_wait_config(cfg),
            BcastPublisher::Bytes(tx) => tx.set_wait_config(cfg),
        }
        SHMLANE_OK
    })
}

/// Sets how the blocking calls of a broadcast subscriber wait (`wait`
/// NULL: the default); `check_interval_ns` is also how often a waiting
/// subscriber checks that the publisher is alive (`SHMLANE_PEER_DIED`).
/// `SHMLANE_WRONG_STATE` while a message read in place is held.
///
/// # Safety
/// `s` is a live handle used by one thread at a time; `wait` is NULL or
/// points to a `shmlane_wait`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_bcast_subscriber_set_wait(
    s: *mut shmlane_bcast_subscriber,
    wait: *const shmlane_wait,
) -> shmlane_status {
    guard(|| {
        non_null!(s);
        // SAFETY: contract of this function.
        let cfg = status_try!(unsafe { wait_config(wait) });
        // SAFETY: a live handle, used by one thread at a time (contract).
        let h = unsafe { &mut *s };
        if h.held.is_some() {
            return fail(SHMLANE_WRONG_STATE, "release the message read in place first");
        }
        // SAFETY: nothing is held (checked above); the borrow ends here.
        match unsafe { h.get_static() } {
            BcastSubscriber::Fixed(rx) => rx.set_wait_config(cfg),
            BcastSubscriber::Bytes(rx) => rx.set_wait_config(cfg),
        }
        SHMLANE_OK
    })
}
