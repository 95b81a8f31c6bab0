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
//! handle at most one record read in place. The Rust borrows that tie a
//! [`Grant`] or a [`Record`] to its handle are erased to `'static` and kept
//! next to the handle, whose state lives in a separate heap allocation that
//! never moves; the borrow is always dropped before the handle state (see
//! the `Drop` impls).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]
#![allow(non_camel_case_types)]

use shmlane_core::bytes::{self, Grant, Record};
use shmlane_core::layout::{self, Kind};
use shmlane_core::spsc::{self, RawChannel, RawConsumer, RawProducer};
use shmlane_core::{Error, RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
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
}

use shmlane_status::*;

/// Highest status value of this version.
pub const SHMLANE_STATUS_MAX: i32 = 24;

const STATUS_TEXT: [&CStr; 25] = [
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
pub const SHMLANE_ABI_VERSION: u32 = 1;
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
/// Kind: MPMC ring of fixed-size elements (not available through this ABI).
pub const SHMLANE_KIND_MPMC: u32 = 2;
/// Kind: byte ring, one producer, one consumer.
pub const SHMLANE_KIND_BYTES: u32 = 3;
/// Kind: byte ring, many producers, one consumer.
pub const SHMLANE_KIND_BYTES_MPSC: u32 = 4;
/// Kind: byte ring, many producers, many competing consumers.
pub const SHMLANE_KIND_BYTES_MPMC: u32 = 5;

mod asserts {
    use super::*;
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
    const _: () = assert!(shmlane_status::SHMLANE_PANIC as i32 == SHMLANE_STATUS_MAX);
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
    // Dropped before `c` (declaration order): it borrows `*c`.
    record: Option<Record<'static>>,
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
        // A record read in place is released before its consumer goes.
        self.record = None;
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
    /// `self.record`, which is dropped first) and `self.record` must be None.
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
            // A deadline past what Instant can hold means no deadline.
            Wait::Forever => p.send_timeout_with_type(msg_type, msg, Duration::MAX),
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
            Wait::Forever => prod.claim_timeout(len, Duration::MAX).map_err(send_status),
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
    // SAFETY: `h.record` is None; the borrow is stored only in `h.record`.
    let c = unsafe { h.get_static() };
    let r = match wait_of(timeout_ns) {
        Wait::Try => c.try_read().map_err(try_recv_status),
        Wait::Forever => c.read_timeout(Duration::MAX).map_err(recv_status),
        Wait::For(d) => c.read_timeout(d).map_err(recv_status),
    };
    match r {
        Ok(rec) => {
            h.record = Some(rec);
            SHMLANE_OK
        }
        Err(s) => s,
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
        let s = fetch(h, timeout_ns);
        if s != SHMLANE_OK {
            return s;
        }
        let Some(rec) = h.record.as_ref() else {
            return fail(SHMLANE_PANIC, "internal error: no record after fetch");
        };
        let n = rec.len();
        if n > cap {
            // The record stays held: the next recv/read returns it again.
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
        h.record = None; // releases the space
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

/// Releases the record returned by `shmlane_read` (its pointer becomes
/// invalid). Does not block. `SHMLANE_WRONG_STATE` without a record.
///
/// # Safety
/// `c` is a live consumer handle.
#[no_mangle]
pub unsafe extern "C" fn shmlane_release(c: *mut shmlane_consumer) -> shmlane_status {
    guard(|| {
        non_null!(c);
        // SAFETY: a live handle, used by one thread at a time (contract).
        match unsafe { &mut *c }.record.take() {
            Some(r) => {
                drop(r);
                SHMLANE_OK
            }
            None => fail(SHMLANE_WRONG_STATE, "release without a record"),
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
        if h.record.is_some() {
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
        let r = match wait_of(timeout_ns) {
            Wait::Try => return p.try_push(e).map_or_else(try_send_status, |()| SHMLANE_OK),
            Wait::Forever => p.push_timeout(e, None),
            Wait::For(d) => p.push_timeout(e, Some(d)),
        };
        r.map_or_else(send_status, |()| SHMLANE_OK)
    })
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
        let r = match wait_of(timeout_ns) {
            Wait::Try => c.try_pop(o).map_err(try_recv_status),
            Wait::Forever => c.pop_timeout(o, None).map_err(recv_status),
            Wait::For(d) => c.pop_timeout(o, Some(d)).map_err(recv_status),
        };
        match r {
            // SAFETY: non-null and writable (contract).
            Ok(()) => unsafe { put(len, n) },
            Err(s) => s,
        }
    })
}
