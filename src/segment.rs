//! Shared-memory segments: create, open, unlink, map; anonymous segments
//! passed by file descriptor.
//!
//! A *named* segment is a file in /dev/shm made with `shm_open`. Creation
//! uses `O_CREAT | O_EXCL`, sets the mode explicitly with `fchmod` (0600 by
//! default; the umask does not narrow it), reserves every byte with
//! `posix_fallocate` so that a full /dev/shm is [`Error::NoSpace`] now
//! rather than a SIGBUS later, writes the header in full and publishes
//! `magic` last with a Release store.
//!
//! Opening checks the file size before mapping, waits a bounded time for a
//! creator that has not published `magic` yet, copies the header out once
//! and validates every field against the file size and the layout
//! recomputed from the header's own parameters. After that the handle uses
//! only its validated copy.
//!
//! An *anonymous* segment is a `memfd` sealed against shrinking and
//! growing: it has no name, disappears with its last user, and reaches
//! other processes by inheritance (`fork`, or `exec` of an inheritable fd)
//! or over a unix socket ([`send_fd`], [`recv_fd`]).

use crate::endpoint;
use crate::error::{Error, Result};
use crate::layout::{
    EndpointEntry, Header, HeaderProblem, HeaderSnapshot, Kind, TypeFingerprint, ABI_VERSION, HEADER_SIZE, MAGIC,
    MAX_SEGMENT_LEN,
};
use crate::sync::Ordering;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

/// Longest name `shm_open` accepts after the leading '/' (NAME_MAX).
pub const MAX_NAME_LEN: usize = 255;

/// Options for creating a segment.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// File mode of a named segment (default 0o600: owner only). Use e.g.
    /// 0o660 and a shared group to share across users.
    pub mode: u32,
    /// Size of the endpoint table (default depends on the channel kind).
    pub endpoints: Option<u32>,
    /// When a segment of the same name exists and all its endpoints are
    /// dead, remove it and create anew instead of failing (default false).
    pub reclaim_stale: bool,
    /// How long a consumer waits on a dead producer's claim before skipping
    /// it (rings with claims).
    pub stall_timeout: Duration,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            mode: 0o600,
            endpoints: None,
            reclaim_stale: false,
            stall_timeout: Duration::from_secs(3),
        }
    }
}

/// Options for opening a segment.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How long to wait for a creator that has not finished initialising
    /// the segment (default 1 s).
    pub init_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            init_timeout: Duration::from_secs(1),
        }
    }
}

/// What a ring asks of a new segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub(crate) geometry: crate::layout::Geometry,
    pub(crate) fingerprint: TypeFingerprint,
    pub(crate) flags: u32,
}

/// What a ring expects of a segment it opens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect {
    /// `None` accepts any kind (inspection).
    pub(crate) kind: Option<Kind>,
    pub(crate) control_len: Option<u64>,
    /// Element fingerprint for fixed-size rings; `None` for byte rings.
    pub(crate) fingerprint: Option<TypeFingerprint>,
    /// Required endpoint table size, if fixed by the kind.
    pub(crate) endpoints: Option<u32>,
}

/// A shared mapping, unmapped on drop, guarded against SIGBUS.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
    #[cfg(not(loom))]
    guard: crate::sigbus::Guard,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base/len describe a mapping made by `map` and not unmapped
        // before; no reference into it outlives the owner (handles hold an
        // Arc<Segment>).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// A mapped, validated segment. Unmapped on drop; a named segment stays in
/// /dev/shm until [`unlink`]ed.
pub struct Segment {
    map: Mapping,
    name: String,
    header: HeaderSnapshot,
    fd: Option<OwnedFd>,
}

// SAFETY: the mapping is plain shared memory; all access to it goes through
// atomics or through ring code that owns disjoint slots. The pointer is only
// freed on drop.
unsafe impl Send for Segment {}
// SAFETY: as above; `&Segment` gives out no unsynchronised mutable access.
unsafe impl Sync for Segment {}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name)
            .field("len", &self.map.len)
            .field("header", &self.header)
            .finish()
    }
}

fn io_err(op: &'static str, name: &str, source: io::Error) -> Error {
    Error::Io {
        op,
        name: name.to_owned(),
        source,
    }
}

/// Checks that `name` is a valid POSIX shared-memory name: one leading
/// '/', then 1 to 255 bytes with no '/' and no NUL, not "." or "..".
pub fn validate_name(name: &str) -> Result<CString> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    let Some(rest) = name.strip_prefix('/') else {
        return bad("it must start with '/'");
    };
    if rest.is_empty() {
        return bad("it is empty after the leading '/'");
    }
    if rest.len() > MAX_NAME_LEN {
        return bad("it is longer than 255 bytes (NAME_MAX)");
    }
    if rest.contains('/') {
        return bad("it contains '/' after the first character");
    }
    if rest == "." || rest == ".." {
        return bad("it is '.' or '..'");
    }
    CString::new(name).or(bad("it contains a NUL byte"))
}

fn fstat_len(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open for the duration of the call; st is a valid out pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.st_size as u64)
}

fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
    // SAFETY: a fresh shared mapping of an open fd at an address the kernel
    // chooses; it aliases no Rust object.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(Mapping {
        base: NonNull::new(p.cast()).expect("mmap returned null without MAP_FIXED"),
        len,
        #[cfg(not(loom))]
        guard: crate::sigbus::register(p as usize, len),
    })
}

fn fallocate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    // SAFETY: plain syscall on an open fd.
    let r = unsafe { libc::posix_fallocate(fd.as_raw_fd(), 0, len as libc::off_t) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

fn now_unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Segment {
    /// Creates a named segment (see the module docs) and runs `init` on it
    /// before publishing it.
    pub(crate) fn create(
        name: &str,
        spec: &Spec,
        opts: &CreateOptions,
        init: impl FnOnce(&Segment),
    ) -> Result<Segment> {
        let cname = validate_name(name)?;
        let placement = spec.geometry.compute().ok_or_else(|| {
            Error::InvalidArgument(format!("segment '{name}' would be larger than {MAX_SEGMENT_LEN} bytes"))
        })?;
        let fd = match shm_create(&cname, opts.mode) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                let stale = is_stale(name);
                if stale && opts.reclaim_stale {
                    unlink(name)?;
                    shm_create(&cname, opts.mode).map_err(|e| create_err(name, e))?
                } else {
                    return Err(Error::AlreadyExists {
                        name: name.to_owned(),
                        stale,
                    });
                }
            }
            Err(e) => return Err(create_err(name, e)),
        };
        let result = (|| {
            // shm_open applied the umask; set the mode asked for exactly.
            // SAFETY: plain syscall on an open fd.
            if unsafe { libc::fchmod(fd.as_raw_fd(), opts.mode as libc::mode_t) } != 0 {
                return Err(io_err("fchmod", name, io::Error::last_os_error()));
            }
            fallocate(fd.as_fd(), placement.total_len).map_err(|e| match e.raw_os_error() {
                Some(libc::ENOSPC) | Some(libc::EFBIG) => Error::NoSpace {
                    name: name.to_owned(),
                    bytes: placement.total_len,
                },
                _ => io_err("posix_fallocate", name, e),
            })?;
            Self::init_mapping(fd, name.to_owned(), spec, placement, false, opts.stall_timeout, init)
        })();
        if result.is_err() {
            let _ = unlink(name);
        }
        result
    }

    /// Creates an anonymous segment backed by a sealed memfd.
    pub(crate) fn create_anonymous(label: &str, spec: &Spec, init: impl FnOnce(&Segment)) -> Result<Segment> {
        Self::create_anonymous_with(label, spec, &CreateOptions::default(), init)
    }

    /// Like [`create_anonymous`](Segment::create_anonymous) with options
    /// (only `stall_timeout` applies: a memfd has no mode or name).
    pub(crate) fn create_anonymous_with(
        label: &str,
        spec: &Spec,
        opts: &CreateOptions,
        init: impl FnOnce(&Segment),
    ) -> Result<Segment> {
        let placement = spec
            .geometry
            .compute()
            .ok_or_else(|| Error::InvalidArgument(format!("segment would be larger than {MAX_SEGMENT_LEN} bytes")))?;
        let name = format!("memfd:{label}");
        let cl = CString::new(format!("shmlane:{label}")).map_err(|_| Error::InvalidName {
            name: label.to_owned(),
            reason: "it contains a NUL byte",
        })?;
        // SAFETY: cl is a valid C string; the flags are valid.
        let raw = unsafe { libc::memfd_create(cl.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
        if raw < 0 {
            return Err(io_err("memfd_create", &name, io::Error::last_os_error()));
        }
        // SAFETY: memfd_create returned a fresh fd that we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        fallocate(fd.as_fd(), placement.total_len).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOSPC) => Error::NoSpace {
                name: name.clone(),
                bytes: placement.total_len,
            },
            _ => io_err("posix_fallocate", &name, e),
        })?;
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: plain fcntl on an open fd.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(io_err("sealing", &name, io::Error::last_os_error()));
        }
        Self::init_mapping(fd, name, spec, placement, true, opts.stall_timeout, init)
    }

    fn init_mapping(
        fd: OwnedFd,
        name: String,
        spec: &Spec,
        placement: crate::layout::Placement,
        keep_fd: bool,
        stall_timeout: Duration,
        init: impl FnOnce(&Segment),
    ) -> Result<Segment> {
        let len = placement.total_len as usize;
        // At least 1 ns: 0 in a header means "not set" (readers use the default).
        let stall_timeout_ns = u64::try_from(stall_timeout.as_nanos()).unwrap_or(u64::MAX).max(1);
        let map = map(fd.as_fd(), len).map_err(|e| io_err("mmap", &name, e))?;
        let g = &spec.geometry;
        let header = HeaderSnapshot {
            geometry: *g,
            placement,
            abi_version: ABI_VERSION,
            elem_size: spec.fingerprint.size,
            elem_align: spec.fingerprint.align,
            type_tag: spec.fingerprint.tag,
            flags: spec.flags,
            stall_timeout_ns,
            creator_pid: std::process::id(),
            creator_start: endpoint::self_token() as u32,
            created_unix_ns: now_unix_ns(),
        };
        crate::sync::register_process();
        let seg = Segment {
            map,
            name,
            header,
            fd: keep_fd.then_some(fd),
        };
        let h = seg.map.base.as_ptr() as *mut Header;
        // SAFETY: the mapping is at least HEADER_SIZE bytes (placement puts
        // the endpoint table after the header), page aligned, and nobody can
        // have validated it yet (magic is still zero); writing plain fields
        // through the raw pointer does not create references to them.
        unsafe {
            (*h).abi_version = ABI_VERSION;
            (*h).kind = g.kind as u32;
            (*h).total_len = placement.total_len;
            (*h).capacity = g.capacity;
            (*h).slot_size = g.slot_size;
            (*h).slot_align = g.slot_align;
            (*h).elem_size = spec.fingerprint.size;
            (*h).elem_align = spec.fingerprint.align;
            (*h).type_tag = spec.fingerprint.tag;
            (*h).max_message = g.max_message;
            (*h).endpoints_offset = placement.endpoints_offset;
            (*h).endpoint_count = g.endpoint_count;
            (*h).flags = spec.flags;
            (*h).control_offset = placement.control_offset;
            (*h).control_len = g.control_len;
            (*h).data_offset = placement.data_offset;
            (*h).data_len = placement.data_len;
            (*h).creator_pid = header.creator_pid;
            (*h).creator_start = header.creator_start;
            (*h).created_unix_ns = header.created_unix_ns;
            (*h).stall_timeout_ns = stall_timeout_ns;
        }
        init(&seg);
        // Release: pairs with the Acquire load of `magic` in `open`; every
        // header field and the initialised control block are visible to an
        // opener that sees MAGIC.
        seg.header_ref().magic.store(MAGIC, Ordering::Release);
        Ok(seg)
    }

    /// Opens a named segment and validates it against `expect`.
    pub(crate) fn open(name: &str, expect: &Expect, opts: &OpenOptions) -> Result<Segment> {
        let cname = validate_name(name)?;
        // SAFETY: cname is a valid C string.
        let raw = unsafe { libc::shm_open(cname.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC, 0) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ENOENT) => Error::NotFound { name: name.to_owned() },
                Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied { name: name.to_owned() },
                _ => io_err("shm_open", name, e),
            });
        }
        // SAFETY: shm_open returned a fresh fd that we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Self::open_fd_inner(fd, name.to_owned(), expect, opts, false)
    }

    /// Opens an anonymous segment from a file descriptor.
    ///
    /// No wait for initialisation: an anonymous segment is complete before
    /// its fd can reach anyone, so a missing magic means "not a segment".
    pub(crate) fn open_fd(fd: OwnedFd, expect: &Expect, opts: &OpenOptions) -> Result<Segment> {
        let name = format!("fd:{}", fd.as_raw_fd());
        let _ = opts;
        let opts = OpenOptions {
            init_timeout: Duration::ZERO,
        };
        Self::open_fd_inner(fd, name, expect, &opts, true)
    }

    fn open_fd_inner(fd: OwnedFd, name: String, expect: &Expect, opts: &OpenOptions, keep_fd: bool) -> Result<Segment> {
        let start = Instant::now();
        // Wait for the creator to size the file.
        let file_len = loop {
            let l = fstat_len(fd.as_fd()).map_err(|e| io_err("fstat", &name, e))?;
            if l >= HEADER_SIZE as u64 {
                break l;
            }
            if start.elapsed() >= opts.init_timeout {
                return Err(if l == 0 {
                    Error::NotInitialized { name }
                } else {
                    Error::Truncated {
                        name,
                        expected: HEADER_SIZE as u64,
                        actual: l,
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if file_len > MAX_SEGMENT_LEN {
            return Err(Error::Corrupt {
                name,
                detail: format!("file is {file_len} bytes, larger than any shmlane segment"),
            });
        }
        crate::sync::register_process();
        let map = map(fd.as_fd(), file_len as usize).map_err(|e| io_err("mmap", &name, e))?;
        let hp = map.base.as_ptr() as *const Header;
        // Wait (bounded) for the creator to publish magic.
        loop {
            // SAFETY: the mapping is at least HEADER_SIZE bytes and starts with
            // a Header; only the atomic `magic` is accessed by reference.
            let magic = unsafe { &(*hp).magic };
            // Acquire: pairs with the Release store of MAGIC in `init_mapping`.
            let m = magic.load(Ordering::Acquire);
            if m == MAGIC {
                break;
            }
            if m != 0 {
                return Err(Error::Corrupt {
                    name,
                    detail: "not a shmlane segment (bad magic)".into(),
                });
            }
            if start.elapsed() >= opts.init_timeout {
                return Err(Error::NotInitialized { name });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: the mapping is at least HEADER_SIZE bytes (checked above).
        let raw = unsafe { HeaderSnapshot::read(hp) };
        let header = HeaderSnapshot::validate(&raw, file_len).map_err(|p| problem_to_error(&name, p))?;
        let seg = Segment {
            map,
            name,
            header,
            fd: keep_fd.then_some(fd),
        };
        seg.check_expect(expect)?;
        Ok(seg)
    }

    fn check_expect(&self, expect: &Expect) -> Result<()> {
        let h = &self.header;
        let name = &self.name;
        if let Some(kind) = expect.kind {
            if h.geometry.kind != kind {
                return Err(Error::KindMismatch {
                    name: name.clone(),
                    found: h.geometry.kind,
                    expected: kind,
                });
            }
        }
        if let Some(len) = expect.control_len {
            if h.geometry.control_len != len {
                return Err(Error::Corrupt {
                    name: name.clone(),
                    detail: format!(
                        "control block is {} bytes, a {} channel's is {len}",
                        h.geometry.control_len, h.geometry.kind
                    ),
                });
            }
        }
        if let Some(n) = expect.endpoints {
            if h.geometry.endpoint_count != n {
                return Err(Error::Corrupt {
                    name: name.clone(),
                    detail: format!("endpoint table has {} entries, expected {n}", h.geometry.endpoint_count),
                });
            }
        }
        if let Some(fp) = expect.fingerprint {
            let found = TypeFingerprint {
                size: h.elem_size,
                align: h.elem_align,
                tag: h.type_tag,
            };
            if !fp.accepts(&found) {
                return Err(Error::TypeMismatch {
                    name: name.clone(),
                    found,
                    expected: fp,
                });
            }
            let slot_ok = h.geometry.slot_size as u64 >= u64::from(fp.size)
                && h.geometry.slot_align >= fp.align
                && h.geometry.slot_size.is_multiple_of(h.geometry.slot_align.max(1));
            if !slot_ok {
                return Err(Error::Corrupt {
                    name: name.clone(),
                    detail: format!(
                        "slot size {} / align {} cannot hold elements of size {} align {}",
                        h.geometry.slot_size, h.geometry.slot_align, fp.size, fp.align
                    ),
                });
            }
        }
        Ok(())
    }

    /// The segment's name (`/name`, or `memfd:…`/`fd:N` when anonymous).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The validated header copy.
    pub fn header(&self) -> &HeaderSnapshot {
        &self.header
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.map.len
    }

    /// True once another process truncated the segment's file under this
    /// mapping and an access faulted (see [`crate::sigbus`]): the segment
    /// must be treated as corrupt.
    pub fn truncated(&self) -> bool {
        #[cfg(not(loom))]
        return self.map.guard.truncated();
        #[cfg(loom)]
        false
    }

    /// Always false: a segment holds at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The file descriptor of an anonymous segment (close-on-exec).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd())
    }

    /// Duplicates the anonymous segment's fd *without* close-on-exec, for a
    /// child started with `exec` to open with `open_fd`. The caller closes
    /// it in the parent after spawning.
    pub fn inheritable_fd(&self) -> io::Result<OwnedFd> {
        let fd = self.fd.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "named segments have no fd; open them by name",
            )
        })?;
        // SAFETY: F_DUPFD (without CLOEXEC) on an open fd returns a new fd we own.
        let raw = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD, 3) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh fd from fcntl.
        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
    }

    fn header_ref(&self) -> &Header {
        // SAFETY: the mapping starts with a Header (HEADER_SIZE bytes, page
        // aligned); only its atomic `magic` is accessed through this
        // reference, the plain fields are read with volatile copies.
        unsafe { &*(self.map.base.as_ptr() as *const Header) }
    }

    /// The endpoint table.
    pub(crate) fn endpoints(&self) -> &[EndpointEntry] {
        let p = &self.header.placement;
        // SAFETY: validated: the table lies inside the mapping, starts on a
        // 128-byte boundary and has endpoint_count entries of atomics, for
        // which every bit pattern is valid.
        unsafe {
            std::slice::from_raw_parts(
                self.map.base.as_ptr().add(p.endpoints_offset as usize) as *const EndpointEntry,
                self.header.geometry.endpoint_count as usize,
            )
        }
    }

    /// Start of the control block (validated: `control_len` bytes inside
    /// the mapping, 128-byte aligned).
    pub(crate) fn control_ptr(&self) -> *mut u8 {
        // SAFETY: control_offset < len, validated by HeaderSnapshot::validate.
        unsafe {
            self.map
                .base
                .as_ptr()
                .add(self.header.placement.control_offset as usize)
        }
    }

    /// Start of the data area (validated: `data_len` bytes inside the
    /// mapping, 128-byte aligned).
    pub(crate) fn data_ptr(&self) -> *mut u8 {
        // SAFETY: data_offset <= len, validated by HeaderSnapshot::validate.
        unsafe { self.map.base.as_ptr().add(self.header.placement.data_offset as usize) }
    }
}

fn problem_to_error(name: &str, p: HeaderProblem) -> Error {
    let name = name.to_owned();
    match p {
        HeaderProblem::Abi(found) => Error::AbiMismatch {
            name,
            found,
            expected: ABI_VERSION,
        },
        HeaderProblem::UnknownKind(k) => Error::Corrupt {
            name,
            detail: format!("unknown channel kind {k}"),
        },
        HeaderProblem::Field(detail) => Error::Corrupt { name, detail },
        HeaderProblem::Truncated { declared, actual } => Error::Truncated {
            name,
            expected: declared,
            actual,
        },
    }
}

fn shm_create(cname: &CString, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: cname is a valid C string; O_EXCL makes this create or fail.
    let raw = unsafe {
        libc::shm_open(
            cname.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            mode as libc::mode_t,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd from shm_open.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn create_err(name: &str, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied { name: name.to_owned() },
        Some(libc::ENOSPC) => Error::NoSpace {
            name: name.to_owned(),
            bytes: 0,
        },
        Some(libc::ENAMETOOLONG) => Error::InvalidName {
            name: name.to_owned(),
            reason: "it is too long for this system",
        },
        _ => io_err("shm_open", name, e),
    }
}

/// Removes a named segment from /dev/shm. Processes that have it mapped
/// keep using it; new opens fail with [`Error::NotFound`].
pub fn unlink(name: &str) -> Result<()> {
    let cname = validate_name(name)?;
    // SAFETY: cname is a valid C string.
    if unsafe { libc::shm_unlink(cname.as_ptr()) } != 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ENOENT) => Error::NotFound { name: name.to_owned() },
            Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied { name: name.to_owned() },
            _ => io_err("shm_unlink", name, e),
        });
    }
    Ok(())
}

/// How long a segment to which no endpoint ever attached is protected from
/// being judged stale after its creation.
pub const FRESH_GRACE: Duration = Duration::from_secs(60);

/// Facts about an existing segment, read without attaching (used by
/// `shmlane ls` and stale detection).
#[derive(Debug, Clone)]
pub struct SegmentInfo {
    /// Validated header.
    pub header: HeaderSnapshot,
    /// Endpoint counts (live, dead, free).
    pub endpoints: endpoint::EndpointCounts,
}

/// Opens any shmlane segment read-only-in-spirit (no attach) and reports its
/// header and endpoint liveness.
pub fn inspect(name: &str) -> Result<SegmentInfo> {
    let seg = Segment::open_any(name, &OpenOptions::default())?;
    Ok(SegmentInfo {
        header: seg.header,
        endpoints: endpoint::count(seg.endpoints()),
    })
}

impl Segment {
    /// Opens a segment of any kind without checking its kind or type.
    pub(crate) fn open_any(name: &str, opts: &OpenOptions) -> Result<Segment> {
        let expect = Expect {
            kind: None,
            control_len: None,
            fingerprint: None,
            endpoints: None,
        };
        Segment::open(name, &expect, opts)
    }
}

impl SegmentInfo {
    /// True when nobody can be using the segment or be about to attach:
    /// no live process holds an endpoint, the creator is dead, and either
    /// some endpoint has attached and left (or died) or the segment is older
    /// than [`FRESH_GRACE`] (so a channel made by one short-lived process,
    /// such as `shmlane create`, for others to open later is not reclaimed
    /// before anyone had a chance to attach).
    pub fn is_stale(&self) -> bool {
        let total = self.endpoints.alive + self.endpoints.dead + self.endpoints.free;
        let ever_attached = self.endpoints.never < total;
        let age = Duration::from_nanos(now_unix_ns().saturating_sub(self.header.created_unix_ns));
        self.endpoints.alive == 0
            && (ever_attached || age >= FRESH_GRACE)
            && !endpoint::token_alive(endpoint::token(
                self.header.creator_pid,
                u64::from(self.header.creator_start),
            ))
    }
}

/// True when the named segment exists, is a shmlane segment, its creator is
/// dead and no live process holds an endpoint. Unreadable, foreign or
/// half-initialised segments are not stale.
pub fn is_stale(name: &str) -> bool {
    match inspect(name) {
        Ok(info) => info.is_stale(),
        Err(_) => false,
    }
}

/// Sends a file descriptor over a unix socket (SCM_RIGHTS).
pub fn send_fd(sock: &std::os::unix::net::UnixStream, fd: BorrowedFd<'_>) -> io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [io::IoSlice::new(b"F")];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map_err(io::Error::from)?;
    Ok(())
}

/// Receives a file descriptor sent with [`send_fd`].
pub fn recv_fd(sock: &std::os::unix::net::UnixStream) -> io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(io::Error::from)?;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel installed this fd in our table for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "no file descriptor in the message",
    ))
}
