//! Thin, checked wrappers over the Linux calls the harness makes: the error
//! type, CPU pinning, fd reads and writes that honour the watchdog, futex,
//! POSIX shared-memory segments and the safety nets of a child process.
//!
//! This file measures nothing. It exists so that the transport modules read
//! as the algorithm they benchmark, and so that every transport pays exactly
//! the same, minimal wrapper cost around its system calls (one `libc` call per
//! operation, no buffering, no `std::io` retry loops that would hide `EINTR`).

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// An error that ends one repetition (or the child process) with a sentence
/// a person can act on.
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        Error(msg.into())
    }

    /// The last OS error, prefixed with what was being done.
    pub fn last_os(what: &str) -> Self {
        Error(format!("{what}: {}", io::Error::last_os_error()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error(e.to_string())
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Self {
        Error(e.to_string())
    }
}

/// Result of everything in the harness.
pub type Res<T> = Result<T, Error>;

/// `Err(Error)` with a formatted message, returned from the current function.
macro_rules! bail {
    ($($t:tt)*) => { return Err($crate::sys::Error::new(format!($($t)*))) };
}
pub(crate) use bail;

/// Set by the watchdog when the current repetition overran its time limit.
/// Spin loops poll it; blocking calls see it after the `EINTR` that the
/// watchdog's SIGUSR1 causes.
static ABORT: AtomicBool = AtomicBool::new(false);

/// Whether the watchdog has fired for the current repetition.
#[inline]
pub fn aborted() -> bool {
    // Relaxed: a stop request, it publishes no data; a late observation only
    // costs one more spin round before the next poll.
    ABORT.load(Ordering::Relaxed)
}

/// Sets or clears the abort flag (the watchdog sets it, the harness clears it
/// between repetitions).
pub fn set_aborted(v: bool) {
    // Relaxed: see `aborted`.
    ABORT.store(v, Ordering::Relaxed);
}

/// Error for a run the watchdog stopped.
pub fn timeout_error() -> Error {
    Error::new("timed out: the watchdog stopped this run and killed the child")
}

/// Polls [`aborted`] every 4096 calls; for the inner loop of spin waits.
pub struct Spin(u32);

impl Spin {
    /// A fresh spin counter.
    pub fn new() -> Self {
        Spin(0)
    }

    /// One spin iteration: a pause hint, and every 4096 calls an abort check.
    #[inline(always)]
    pub fn spin(&mut self) -> Res<()> {
        std::hint::spin_loop();
        self.0 = self.0.wrapping_add(1);
        if self.0 & 4095 == 0 && aborted() {
            return Err(timeout_error());
        }
        Ok(())
    }
}

/// Decides what to do after a call failed with `errno` (returns `Ok` to retry): retry on a stray
/// `EINTR`, give up when the watchdog fired, report anything else.
#[cold]
pub fn retry_or_fail(what: &str) -> Res<()> {
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINTR) {
        if aborted() {
            return Err(timeout_error());
        }
        return Ok(());
    }
    Err(Error::new(format!("{what}: {e}")))
}

/// Writes all of `buf` to `fd` (a pipe or stream socket), one `write(2)` per
/// partial write.
#[inline]
pub fn write_all(fd: RawFd, buf: &[u8]) -> Res<()> {
    let mut off = 0;
    while off < buf.len() {
        let rest = &buf[off..];
        // SAFETY: `rest` is a live, readable slice of `rest.len()` bytes.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            retry_or_fail("write")?;
            continue;
        }
        off += n as usize;
    }
    Ok(())
}

/// Fills all of `buf` from `fd` (a pipe or stream socket); end of file is an
/// error because every message has a fixed size.
#[inline]
pub fn read_exact(fd: RawFd, buf: &mut [u8]) -> Res<()> {
    let mut off = 0;
    while off < buf.len() {
        let rest = &mut buf[off..];
        // SAFETY: `rest` is a live, writable slice of `rest.len()` bytes.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 {
            retry_or_fail("read")?;
            continue;
        }
        if n == 0 {
            bail!("read: the peer closed the connection mid-run");
        }
        off += n as usize;
    }
    Ok(())
}

/// Sends `buf` as one datagram (or eventfd counter value, for 8 bytes).
#[inline]
pub fn send_one(fd: RawFd, buf: &[u8]) -> Res<()> {
    loop {
        // SAFETY: `buf` is a live, readable slice of `buf.len()` bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            retry_or_fail("send")?;
            continue;
        }
        if n as usize != buf.len() {
            bail!("send: wrote {n} of {} bytes of a datagram", buf.len());
        }
        return Ok(());
    }
}

/// Receives one datagram that must be exactly `buf.len()` bytes.
#[inline]
pub fn recv_one(fd: RawFd, buf: &mut [u8]) -> Res<()> {
    loop {
        // SAFETY: `buf` is a live, writable slice of `buf.len()` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            retry_or_fail("recv")?;
            continue;
        }
        if n as usize != buf.len() {
            bail!("recv: got {n} bytes, expected a {}-byte message", buf.len());
        }
        return Ok(());
    }
}

/// A pipe whose two ends are close-on-exec (the child is handed the ends it
/// needs explicitly). Returns `(read end, write end)`.
pub fn pipe() -> Res<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::last_os("pipe2"));
    }
    // SAFETY: pipe2 succeeded, so both are fresh descriptors owned by no one else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A connected pair of unix sockets of `kind` (`SOCK_STREAM` or
/// `SOCK_DGRAM`), close-on-exec.
pub fn socketpair(kind: libc::c_int) -> Res<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
    if rc != 0 {
        return Err(Error::last_os("socketpair"));
    }
    // SAFETY: socketpair succeeded, so both are fresh descriptors owned by no one else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sets an integer socket option.
pub fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> Res<()> {
    // SAFETY: the option value is a live c_int and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(Error::last_os("setsockopt"));
    }
    Ok(())
}

/// Takes ownership of a descriptor number that the parent handed over on the
/// command line.
pub fn inherited_fd(arg: &str) -> Res<OwnedFd> {
    let fd: RawFd = arg
        .parse()
        .map_err(|_| Error::new(format!("bad fd argument {arg:?}")))?;
    // SAFETY: F_GETFD only inspects the descriptor table.
    if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        bail!("fd {fd} was not inherited from the parent");
    }
    // SAFETY: the parent passed this number for this child alone; nothing else
    // in this process knows it, so the OwnedFd is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// CPU seconds used so far by this process (all threads) and its reaped
/// children.
pub fn own_cpu_secs() -> f64 {
    let mut total = 0.0;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: an all-zero rusage is a valid buffer for getrusage to fill.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a live, writable rusage.
        if unsafe { libc::getrusage(who, &mut ru) } == 0 {
            for tv in [ru.ru_utime, ru.ru_stime] {
                total += tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
            }
        }
    }
    total
}

/// CPU seconds all CPUs of the machine have spent busy so far (user, nice,
/// system, irq, softirq and steal in /proc/stat), if readable.
pub fn machine_busy_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| v.get(i).copied().unwrap_or(0.0))
        .sum::<f64>();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(busy / hz)
}

/// The 1-minute load average, if readable.
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The CPUs this process may run on, in increasing order.
pub fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Pins the calling thread to one CPU.
pub fn pin_to(cpu: usize) -> Res<()> {
    let mut set = CpuSet::new();
    set.set(cpu)?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| Error::new(format!("sched_setaffinity(cpu {cpu}): {e}")))
}

/// Installs a do-nothing SIGUSR1 handler *without* `SA_RESTART`, so that the
/// watchdog's SIGUSR1 makes a blocked `read`, `recv`, `mq_receive` or futex
/// wait return `EINTR` instead of hanging the harness.
pub fn install_wake_signal() -> Res<()> {
    extern "C" fn noop(_: libc::c_int) {}
    // SAFETY: an all-zero sigaction is a valid "no flags, empty mask" value.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = noop as *const () as libc::sighandler_t;
    sa.sa_flags = 0;
    // SAFETY: `sa` is initialised; the handler is async-signal-safe (empty).
    if unsafe { libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) } != 0 {
        return Err(Error::last_os("sigaction(SIGUSR1)"));
    }
    Ok(())
}

/// The safety nets of a child process: die with the parent, and die anyway
/// after `secs` seconds (SIGALRM's default action), so that no child outlives
/// a crashed or stuck harness.
pub fn child_safety_nets(secs: u32) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) and alarm only change this process's
    // signal disposition; they take plain integers.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        libc::alarm(secs);
    }
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// `FUTEX_WAIT` on a word in shared memory (no `FUTEX_PRIVATE_FLAG`: the
/// word is shared between processes, so the kernel must key it by physical
/// page). Returns when woken, when `*word != expected`, after `timeout`, or
/// on a signal; the caller re-checks the word in every case.
#[inline]
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Res<()> {
    let ts = timespec(timeout);
    // SAFETY: `word` is a live, aligned 32-bit word; `ts` outlives the call;
    // FUTEX_WAIT ignores the last two arguments.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error().raw_os_error();
        match e {
            Some(libc::EAGAIN) | Some(libc::ETIMEDOUT) => {}
            Some(libc::EINTR) if aborted() => return Err(timeout_error()),
            Some(libc::EINTR) => {}
            _ => return Err(Error::last_os("futex wait")),
        }
    }
    Ok(())
}

/// `FUTEX_WAKE` of up to `n` waiters on a shared word.
#[inline]
pub fn futex_wake(word: &AtomicU32, n: i32) -> Res<()> {
    // SAFETY: `word` is a live, aligned 32-bit word; FUTEX_WAKE ignores the
    // timeout and second-word arguments.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if rc < 0 {
        return Err(Error::last_os("futex wake"));
    }
    Ok(())
}

/// A POSIX shared-memory segment (`shm_open` in /dev/shm) mapped
/// `MAP_SHARED` into this process. The creator unlinks the name (at the
/// latest on drop); both sides unmap on drop.
pub struct Shm {
    ptr: NonNull<u8>,
    len: usize,
    name: CString,
    linked: bool,
}

impl Shm {
    /// Creates a new, zero-filled segment of `len` bytes named `name`
    /// (`/something`), failing if the name exists.
    pub fn create(name: &str, len: usize) -> Res<Shm> {
        Self::map(name, len, true)
    }

    /// Maps an existing segment of exactly `len` bytes.
    pub fn open(name: &str, len: usize) -> Res<Shm> {
        Self::map(name, len, false)
    }

    fn map(name: &str, len: usize, create: bool) -> Res<Shm> {
        let cname = CString::new(name).map_err(|_| Error::new("shm name contains NUL"))?;
        let flags = if create {
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL
        } else {
            libc::O_RDWR
        };
        // SAFETY: `cname` is a valid NUL-terminated string.
        let fd = unsafe { libc::shm_open(cname.as_ptr(), flags, 0o600) };
        if fd < 0 {
            return Err(Error::last_os(&format!("shm_open({name})")));
        }
        // SAFETY: shm_open returned a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        if create {
            // SAFETY: plain syscall on our own descriptor.
            if unsafe { libc::ftruncate(raw, len as libc::off_t) } != 0 {
                let e = Error::last_os("ftruncate");
                // SAFETY: `cname` is a valid NUL-terminated string.
                unsafe { libc::shm_unlink(cname.as_ptr()) };
                return Err(e);
            }
        } else {
            // SAFETY: an all-zero stat is a valid buffer for fstat to fill.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: `st` is a live, writable stat buffer.
            if unsafe { libc::fstat(raw, &mut st) } != 0 {
                return Err(Error::last_os("fstat"));
            }
            if st.st_size as usize != len {
                bail!("segment {name} is {} bytes, expected {len}", st.st_size);
            }
        }
        // SAFETY: a fresh shared mapping of `len` bytes of our descriptor; the
        // kernel picks the address, so nothing existing is replaced.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                raw,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            let e = Error::last_os("mmap");
            if create {
                // SAFETY: `cname` is a valid NUL-terminated string.
                unsafe { libc::shm_unlink(cname.as_ptr()) };
            }
            return Err(e);
        }
        Ok(Shm {
            ptr: NonNull::new(p.cast()).expect("mmap returned NULL"),
            len,
            name: cname,
            linked: create,
        })
    }

    /// Removes the name from /dev/shm (the mappings stay valid). Called by
    /// the creator as soon as the child has mapped the segment.
    pub fn unlink(&mut self) {
        if self.linked {
            // SAFETY: `name` is a valid NUL-terminated string.
            unsafe { libc::shm_unlink(self.name.as_ptr()) };
            self.linked = false;
        }
    }

    /// Base address of the mapping (page aligned, `len` bytes).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        self.unlink();
        // SAFETY: unmaps exactly the mapping made in `map`; no reference into
        // it outlives `self` (users borrow from `&self`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
