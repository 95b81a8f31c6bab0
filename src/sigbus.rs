//! SIGBUS guard: a segment truncated by another process must not kill us.
//!
//! Touching a page of a shared file mapping that lies beyond the file's
//! current end raises SIGBUS. Anonymous segments are memfds sealed against
//! shrinking, so that cannot happen to them; a named segment in /dev/shm can
//! be truncated by any process allowed to write it. shmlane's policy:
//!
//! 1. Every mapping a [`Segment`](crate::segment::Segment) makes is entered
//!    in a fixed-size, lock-free registry.
//! 2. A SIGBUS handler (installed once, the first time a segment is mapped;
//!    set `SHMLANE_NO_SIGBUS_GUARD=1` to opt out) checks the faulting
//!    address. Inside a registered mapping, it maps a private zero page over
//!    the faulting page with `MAP_FIXED` (async-signal-safe: one system call)
//!    and marks the mapping *truncated*; the faulting access then resumes and
//!    reads zeros. Outside our mappings it restores the previous disposition
//!    (or calls the previous handler) so the fault behaves as it would have
//!    without shmlane.
//! 3. Ring handles check the truncated mark on their slow paths and report
//!    the segment as `Corrupt`; zeroed control words also fail the rings'
//!    index validation. So a truncation yields errors and possibly wrong data
//!    of the right size, never a crash.

use crate::sync::global::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Once;

const SLOTS: usize = 1024;

struct Entry {
    start: AtomicUsize,
    len: AtomicUsize,
    truncated: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Entry = Entry {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    truncated: AtomicBool::new(false),
};

static REGISTRY: [Entry; SLOTS] = [EMPTY; SLOTS];
static INSTALL: Once = Once::new();
/// 0: not installed, 1: installed, 2: opted out or failed.
static STATE: AtomicU8 = AtomicU8::new(0);
/// The disposition that was in place before ours (written once, before our
/// handler is installed, then only read).
static mut PREVIOUS: Option<libc::sigaction> = None;

/// A registered mapping; deregistered on drop.
#[derive(Debug)]
pub(crate) struct Guard {
    slot: Option<usize>,
}

impl Guard {
    /// Whether a SIGBUS was absorbed in this mapping (the file was
    /// truncated under it).
    pub(crate) fn truncated(&self) -> bool {
        // Acquire: pairs with the Release store in the handler.
        self.slot.is_some_and(|i| REGISTRY[i].truncated.load(Ordering::Acquire))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let e = &REGISTRY[i];
            // Relaxed: the mapping is unmapped after this, and no access to
            // it can fault any more; a handler reading stale values only
            // finds a range that is no longer touched.
            e.len.store(0, Ordering::Relaxed);
            e.truncated.store(false, Ordering::Relaxed);
            // Release: pairs with the Acquire CAS in `register`: the
            // cleared fields are visible to the next user of the slot.
            e.start.store(0, Ordering::Release);
        }
    }
}

/// Enters `[start, start + len)` in the registry (and installs the handler
/// on first use). A full registry leaves the mapping unguarded.
pub(crate) fn register(start: usize, len: usize) -> Guard {
    install();
    if STATE.load(Ordering::Relaxed) != 1 {
        return Guard { slot: None };
    }
    for (i, e) in REGISTRY.iter().enumerate() {
        // Acquire: pairs with the Release store in Guard::drop.
        if e.start
            .compare_exchange(0, start, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            e.truncated.store(false, Ordering::Relaxed);
            // Release: pairs with the Acquire load of `len` in the handler.
            e.len.store(len, Ordering::Release);
            return Guard { slot: Some(i) };
        }
    }
    Guard { slot: None }
}

fn install() {
    INSTALL.call_once(|| {
        if std::env::var_os("SHMLANE_NO_SIGBUS_GUARD").is_some() {
            STATE.store(2, Ordering::Relaxed);
            return;
        }
        // SAFETY: zeroed sigaction structs are valid; we fill in the handler
        // and flags, read the old disposition into PREVIOUS before any
        // handler of ours can run, and only then install ours.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) != 0 {
                STATE.store(2, Ordering::Relaxed);
                return;
            }
            PREVIOUS = Some(old);
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_sigbus as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut act.sa_mask);
            if libc::sigaction(libc::SIGBUS, &act, std::ptr::null_mut()) != 0 {
                STATE.store(2, Ordering::Relaxed);
                return;
            }
        }
        STATE.store(1, Ordering::Relaxed);
    });
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    // SAFETY: sysconf is async-signal-safe.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    for e in REGISTRY.iter() {
        // Acquire: pairs with the Release stores in `register`.
        let start = e.start.load(Ordering::Acquire);
        let len = e.len.load(Ordering::Acquire);
        if start != 0 && addr >= start && addr - start < len {
            let at = addr & !(page - 1);
            // SAFETY: `at` is a page inside a mapping we own; replacing it
            // with a private zero page is what this guard is for. mmap is
            // async-signal-safe.
            let p = unsafe {
                libc::mmap(
                    at as *mut libc::c_void,
                    page,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                // Release: pairs with the Acquire load in Guard::truncated.
                e.truncated.store(true, Ordering::Release);
                return;
            }
        }
    }
    // Not ours: behave as if we were not here.
    // SAFETY: PREVIOUS was written before this handler was installed and is
    // never written again.
    let prev = unsafe { *std::ptr::addr_of!(PREVIOUS) };
    match prev {
        Some(old)
            if old.sa_sigaction != libc::SIG_DFL
                && old.sa_sigaction != libc::SIG_IGN
                && old.sa_flags & libc::SA_SIGINFO != 0 =>
        {
            // SAFETY: the previous handler was installed with SA_SIGINFO,
            // so it has this signature.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(old.sa_sigaction) };
            f(sig, info, ctx);
        }
        Some(old) if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN => {
            // SAFETY: a plain (non-SA_SIGINFO) handler takes the signal number.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(old.sa_sigaction) };
            f(sig);
        }
        _ => {
            // Restore the default and return: the faulting access runs again
            // and the kernel delivers SIGBUS with the default action.
            // SAFETY: a zeroed sigaction with SIG_DFL is valid; sigaction is
            // async-signal-safe.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            }
        }
    }
}
