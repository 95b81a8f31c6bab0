//! The one place that names atomics, `UnsafeCell`, fences and spin hints.
//!
//! Under `cfg(loom)` everything comes from [loom] so that the ring algorithms
//! can be model-checked; otherwise it comes from `core`. No other module
//! imports `core::sync::atomic` directly (enforced by the `facade` test in
//! `tests/facade.rs`).
//!
//! Besides re-exports this module provides the two halves of the
//! *asymmetric barrier* used by the wait/wake protocol (see [`crate::wait`]):
//! [`light_barrier`] on the waker's fast path and [`heavy_barrier`] on the
//! sleeper's slow path.

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// A CPU spin hint (`pause` on x86); under loom a yield to the scheduler so
/// that spin loops terminate in a model.
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// Interior-mutable storage for one ring slot.
///
/// In production this is `core::cell::UnsafeCell<T>` behind the same
/// `with`/`with_mut` interface loom's cell has, so the ring code is written
/// once. It has the layout of `T`, which lets an mmap'd slot array be viewed
/// as `[UnsafeCell<T>]`.
#[cfg(not(loom))]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
#[allow(dead_code)]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// The waker's half of the asymmetric barrier: orders the waker's publishing
/// store before its load of a waiters count.
///
/// In production this is only a compiler fence: the matching
/// [`heavy_barrier`] forces a full memory barrier on every CPU that runs a
/// thread of a registered process (`membarrier(2)`), which turns this into a
/// full barrier after the fact. When `membarrier` is unavailable both halves
/// fall back to `fence(SeqCst)`. Under loom and miri, which cannot model
/// `membarrier`, both halves are `fence(SeqCst)`, i.e. the symmetric protocol
/// that the asymmetric one is equivalent to.
#[inline(always)]
pub(crate) fn light_barrier() {
    #[cfg(any(loom, miri))]
    fence(Ordering::SeqCst); // SeqCst: pairs with the fence in heavy_barrier (Dekker).
    #[cfg(not(any(loom, miri)))]
    {
        if membarrier::available() {
            core::sync::atomic::compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst); // SeqCst: pairs with the fence in heavy_barrier (Dekker).
        }
    }
}

/// The sleeper's half of the asymmetric barrier; see [`light_barrier`].
/// Costs a system call (about a microsecond) and is only called on the way
/// to sleep.
pub(crate) fn heavy_barrier() {
    fence(Ordering::SeqCst); // SeqCst: pairs with light_barrier's fence (Dekker).
    #[cfg(not(any(loom, miri)))]
    membarrier::global();
}

/// Registers this process for expedited global memory barriers. Called by
/// every segment open; cheap after the first call.
pub(crate) fn register_process() {
    #[cfg(not(any(loom, miri)))]
    membarrier::available();
}

#[cfg(not(any(loom, miri)))]
mod membarrier {
    use core::sync::atomic::{AtomicU8, Ordering};

    // MEMBARRIER_CMD_* from <linux/membarrier.h>.
    const CMD_QUERY: libc::c_int = 0;
    const CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
    const CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

    const UNKNOWN: u8 = 0;
    const YES: u8 = 1;
    const NO: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    fn membarrier(cmd: libc::c_int) -> libc::c_long {
        // SAFETY: membarrier takes two integer arguments and touches no memory of ours.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_uint, 0 as libc::c_int) }
    }

    /// Whether expedited global barriers work on this kernel, registering
    /// this process on first use.
    ///
    /// The answer must be the same for every process on the host (it is a
    /// property of the kernel, and registration cannot fail once the query
    /// says the command exists), so both sides of a wait/wake pair pick the
    /// same protocol.
    #[inline(always)]
    pub(super) fn available() -> bool {
        // Relaxed: the value is computed identically by any thread; no data hangs on it.
        match STATE.load(Ordering::Relaxed) {
            YES => true,
            NO => false,
            _ => init(),
        }
    }

    #[cold]
    fn init() -> bool {
        let q = membarrier(CMD_QUERY);
        let ok = q >= 0
            && (q & libc::c_long::from(CMD_GLOBAL_EXPEDITED)) != 0
            && membarrier(CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
        // Relaxed: see `available`.
        STATE.store(if ok { YES } else { NO }, Ordering::Relaxed);
        ok
    }

    pub(super) fn global() {
        if available() {
            let r = membarrier(CMD_GLOBAL_EXPEDITED);
            debug_assert_eq!(r, 0, "membarrier(GLOBAL_EXPEDITED) failed after registration");
        }
    }
}

/// Untracked interior-mutable storage with the layout of `T`, for ring
/// slots that are reached through raw pointers (including contiguous
/// multi-slot chunks, which loom's cells cannot provide). Loom does not see
/// accesses to it: pair every access with the slot's [`Track`].
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct SlotCell<T>(core::cell::UnsafeCell<T>);

#[allow(dead_code)]
impl<T> SlotCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Raw pointer to the contents, valid for reads and writes.
    pub(crate) fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// Tells loom about an access to memory it cannot see (a [`SlotCell`]), so
/// that its race detector checks the access's causality. A zero-sized no-op
/// outside loom.
#[derive(Debug, Default)]
pub(crate) struct Track {
    #[cfg(loom)]
    cell: loom::cell::UnsafeCell<()>,
}

#[allow(dead_code)]
impl Track {
    pub(crate) fn new() -> Track {
        Track {
            #[cfg(loom)]
            cell: loom::cell::UnsafeCell::new(()),
        }
    }

    /// Records a read of the tracked memory.
    #[inline(always)]
    pub(crate) fn read(&self) {
        #[cfg(loom)]
        self.cell.with(|_| ());
    }

    /// Records a write of the tracked memory.
    #[inline(always)]
    pub(crate) fn write(&self) {
        #[cfg(loom)]
        self.cell.with_mut(|_| ());
    }
}

/// Atomics for process-global statics that loom cannot model (the SIGBUS
/// guard's registry of mappings). Never used by ring algorithms.
#[cfg(not(loom))]
pub(crate) mod global {
    pub(crate) use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
}
