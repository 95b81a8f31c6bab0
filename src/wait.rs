//! Blocking: spin, then sleep on a 32-bit futex word inside the segment.
//!
//! # Contract
//! A [`WaitWord`] sits in shared memory next to the condition it guards (for
//! example "the ring is not empty"). A *waker* changes the condition with a
//! Release store and then calls `WaitWord::wake`; a *waiter* calls
//! `block_on` with a `poll` closure that re-evaluates the condition. The
//! protocol guarantees no lost wake-up: if `poll` returned "not ready" just
//! before the waiter slept, the waker that made it ready will find the
//! waiter counted and issue `FUTEX_WAKE`.
//!
//! # Protocol (an eventcount)
//! ```text
//! waiter                                  waker
//! waiters += 1           (SeqCst)         publish condition   (Release)
//! key = seq              (Acquire)        light_barrier()
//! heavy_barrier()                         if waiters != 0 {
//! if poll() ready { waiters -= 1; done }      seq += 1        (Release)
//! FUTEX_WAIT(seq, key, slice)                 FUTEX_WAKE(seq, all)
//! waiters -= 1; loop                      }
//! ```
//! The two barriers form a Dekker pair: either the waiter's `poll` sees the
//! publication, or the waker sees `waiters != 0`. If the waker's `seq += 1`
//! lands after the waiter read `key`, `FUTEX_WAIT` returns at once because
//! the word no longer equals `key`. The futex is used *without*
//! `FUTEX_PRIVATE_FLAG` because the word lives in memory shared between
//! processes.
//!
//! The barrier pair is asymmetric (`crate::sync::light_barrier`): the
//! waker, on the fast path of every send, pays only a compiler fence and a
//! load of a read-mostly word; the waiter, about to sleep anyway, pays a
//! `membarrier(2)` system call. So a send into a ring whose consumer is
//! awake costs no system call and no fence instruction.
//!
//! Sleeps are cut into slices of at most [`WaitConfig::check_interval`] so
//! that the caller can check whether its peer process is still alive: a
//! dead peer never blocks anyone for longer than one slice.
//!
//! Under loom the futex is modelled by a mutex and a condition variable with
//! the same check-then-sleep atomicity, and time does not exist (deadlines
//! and slices are ignored; models must end by wake-ups).

use crate::sync::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How a blocking call waits for its condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Only spin (with a CPU pause hint), never sleep in the kernel: lowest
    /// latency, burns a core while waiting. Deadlines and peer-death checks
    /// still apply.
    Spin,
    /// Sleep on the futex at once: lowest CPU use, every wake-up costs a
    /// kernel round trip (tens of microseconds).
    Park,
    /// Spin for up to the given time, then sleep. The default spins for
    /// about the cost of one kernel wake-up, the classic competitive bound.
    SpinThenPark(Duration),
}

impl Default for WaitStrategy {
    fn default() -> Self {
        WaitStrategy::SpinThenPark(Duration::from_micros(50))
    }
}

/// Waiting parameters of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitConfig {
    /// Spin, park, or both.
    pub strategy: WaitStrategy,
    /// While blocked, how often to check that the peer process is alive;
    /// also the longest single futex sleep.
    pub check_interval: Duration,
}

impl Default for WaitConfig {
    fn default() -> Self {
        WaitConfig {
            strategy: WaitStrategy::default(),
            check_interval: Duration::from_millis(100),
        }
    }
}

/// A futex word and its sleepers count, placed in shared memory.
///
/// Zeroed memory is a valid, idle `WaitWord`.
#[repr(C)]
#[derive(Debug)]
pub struct WaitWord {
    /// Bumped by every wake that finds sleepers; the futex word.
    seq: AtomicU32,
    /// Number of threads (in any process) between registering and leaving
    /// a sleep.
    waiters: AtomicU32,
    #[cfg(loom)]
    lock: loom::sync::Mutex<()>,
    #[cfg(loom)]
    cv: loom::sync::Condvar,
}

impl WaitWord {
    /// A fresh word (heap construction for tests and loom; segments start
    /// zeroed, which is the same state).
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn new() -> WaitWord {
        WaitWord {
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            #[cfg(loom)]
            lock: loom::sync::Mutex::new(()),
            #[cfg(loom)]
            cv: loom::sync::Condvar::new(),
        }
    }

    /// Wakes every sleeper if there is one. Call after publishing the
    /// condition with a Release store. Costs a load of a read-mostly word
    /// when nobody sleeps.
    #[inline(always)]
    pub(crate) fn wake(&self) {
        crate::sync::light_barrier();
        // Relaxed: ordered after the caller's publication by light_barrier,
        // which pairs with heavy_barrier in `block_on` (Dekker pair).
        if self.waiters.load(Ordering::Relaxed) != 0 {
            self.wake_slow();
        }
    }

    /// The check of [`wake`](WaitWord::wake) alone: whether anyone sleeps
    /// (or is about to), after the caller's publication. A caller that
    /// sees true publishes more, then calls [`wake_now`](WaitWord::wake_now).
    #[inline]
    pub(crate) fn sleepers(&self) -> bool {
        crate::sync::light_barrier();
        // Relaxed: as in `wake`.
        self.waiters.load(Ordering::Relaxed) != 0
    }

    /// The waking half of [`wake`](WaitWord::wake), after
    /// [`sleepers`](WaitWord::sleepers) returned true.
    pub(crate) fn wake_now(&self) {
        self.wake_slow();
    }

    /// Wakes every sleeper unconditionally (used when closing a channel).
    pub(crate) fn wake_all(&self) {
        crate::sync::heavy_barrier();
        self.wake_slow();
    }

    #[cold]
    fn wake_slow(&self) {
        // Release: pairs with the Acquire load of `seq` (the key) in
        // `park`; a waiter that reads the new key also sees the condition.
        self.seq.fetch_add(1, Ordering::Release);
        futex_wake(self);
    }

    /// Number of sleepers right now (statistics).
    #[allow(dead_code)]
    pub(crate) fn waiters(&self) -> u32 {
        self.waiters.load(Ordering::Relaxed)
    }

    /// One sleep: register, re-check, sleep until woken or `timeout`.
    /// Returns the poll result if the re-check found the condition ready.
    fn park<R>(&self, timeout: Option<Duration>, poll: &mut impl FnMut(bool) -> Option<R>) -> Option<R> {
        // SeqCst: part of the Dekker pair with the waker's light_barrier +
        // load of `waiters`.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // Acquire: pairs with the Release fetch_add in `wake_slow`.
        let key = self.seq.load(Ordering::Acquire);
        crate::sync::heavy_barrier();
        if let Some(r) = poll(false) {
            // Relaxed: leaving; a waker that still sees us issues one
            // harmless extra FUTEX_WAKE.
            self.waiters.fetch_sub(1, Ordering::Relaxed);
            return Some(r);
        }
        futex_wait(self, key, timeout);
        // Relaxed: as above.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        None
    }
}

/// Polls made before the first clock read of a spinning wait.
#[cfg(not(loom))]
const FAST_POLLS: u32 = 128;

/// Blocks until `poll` returns `Some`, or until `deadline`.
///
/// `poll(expensive)` re-evaluates the condition; `expensive` is true at most
/// once per [`WaitConfig::check_interval`], when the caller should also do
/// its costly checks (is the peer process alive?). Returns `None` on timeout
/// after one last poll.
pub(crate) fn block_on<R>(
    word: &WaitWord,
    cfg: &WaitConfig,
    deadline: Option<Instant>,
    mut poll: impl FnMut(bool) -> Option<R>,
) -> Option<R> {
    if let Some(r) = poll(false) {
        return Some(r);
    }
    block_on_polled(word, cfg, deadline, poll)
}

/// [`block_on`] for a caller that has just polled once itself (with
/// `expensive` false) and found nothing: the same wait, without that first
/// poll. It lets a call try its fast path before setting up the wait (and
/// whatever the poll closure needs), without polling twice in a row.
pub(crate) fn block_on_polled<R>(
    word: &WaitWord,
    cfg: &WaitConfig,
    deadline: Option<Instant>,
    mut poll: impl FnMut(bool) -> Option<R>,
) -> Option<R> {
    #[cfg(loom)]
    {
        let _ = (cfg, deadline);
        loop {
            if let Some(r) = word.park(None, &mut poll) {
                return Some(r);
            }
            if let Some(r) = poll(false) {
                return Some(r);
            }
        }
    }
    #[cfg(not(loom))]
    {
        // A first burst of polls without reading the clock: most waits of a
        // spinning endpoint end within a few hundred nanoseconds, and a clock
        // read on that path would delay seeing the message.
        if cfg.strategy != WaitStrategy::Park {
            for _ in 0..FAST_POLLS {
                crate::sync::spin_hint();
                if let Some(r) = poll(false) {
                    return Some(r);
                }
            }
        }
        let start = Instant::now();
        let mut next_check = start + cfg.check_interval;
        let spin_until = match cfg.strategy {
            WaitStrategy::Spin => None,
            WaitStrategy::Park => Some(start),
            WaitStrategy::SpinThenPark(d) => Some(start + d),
        };
        // Spin phase: poll with a pause hint, look at the clock every 64 polls.
        while spin_until != Some(start) {
            for _ in 0..64 {
                crate::sync::spin_hint();
                if let Some(r) = poll(false) {
                    return Some(r);
                }
            }
            let now = Instant::now();
            if now >= next_check {
                next_check = now + cfg.check_interval;
                if let Some(r) = poll(true) {
                    return Some(r);
                }
            }
            if deadline.is_some_and(|d| now >= d) {
                return poll(true);
            }
            if spin_until.is_some_and(|s| now >= s) {
                break;
            }
        }
        // Park phase: sleep in slices no longer than the check interval.
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return poll(true);
            }
            if now >= next_check {
                next_check = now + cfg.check_interval;
                if let Some(r) = poll(true) {
                    return Some(r);
                }
            }
            let mut slice = next_check.saturating_duration_since(now);
            if let Some(d) = deadline {
                slice = slice.min(d.saturating_duration_since(now));
            }
            if let Some(r) = word.park(Some(slice), &mut poll) {
                return Some(r);
            }
            if let Some(r) = poll(false) {
                return Some(r);
            }
        }
    }
}

#[cfg(not(loom))]
fn futex_wait(word: &WaitWord, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY:
    // - `seq` is a live, 4-byte aligned AtomicU32 for the duration of the call.
    // - No FUTEX_PRIVATE_FLAG: the word lives in memory shared between processes.
    // - The kernel only reads the word and the timespec; EAGAIN (word changed),
    //   EINTR and ETIMEDOUT all mean "return and re-check", so the result is ignored.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.seq.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            core::ptr::null::<u32>(),
            0u32,
        );
    }
}

#[cfg(not(loom))]
fn futex_wake(word: &WaitWord) {
    // SAFETY: as in `futex_wait`; FUTEX_WAKE only reads the address to find
    // the wait queue. Waking i32::MAX sleepers wakes all of them.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.seq.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            core::ptr::null::<libc::timespec>(),
            core::ptr::null::<u32>(),
            0u32,
        );
    }
}

#[cfg(loom)]
fn futex_wait(word: &WaitWord, expected: u32, _timeout: Option<Duration>) {
    let guard = word.lock.lock().unwrap();
    // Acquire: pairs with the Release fetch_add in `wake_slow`.
    if word.seq.load(Ordering::Acquire) == expected {
        drop(word.cv.wait(guard).unwrap());
    }
}

#[cfg(loom)]
fn futex_wake(word: &WaitWord) {
    let _guard = word.lock.lock().unwrap();
    word.cv.notify_all();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn timeout_returns_none_after_deadline() {
        let w = WaitWord::new();
        for strategy in [WaitStrategy::Spin, WaitStrategy::Park, WaitStrategy::default()] {
            let cfg = WaitConfig {
                strategy,
                check_interval: Duration::from_millis(5),
            };
            let t0 = Instant::now();
            let r: Option<()> = block_on(&w, &cfg, Some(t0 + Duration::from_millis(20)), |_| None);
            assert!(r.is_none());
            assert!(t0.elapsed() >= Duration::from_millis(20));
        }
    }

    #[test]
    fn expensive_poll_happens_while_blocked() {
        let w = WaitWord::new();
        let cfg = WaitConfig {
            strategy: WaitStrategy::Park,
            check_interval: Duration::from_millis(2),
        };
        let mut expensive = 0;
        let r = block_on(&w, &cfg, None, |e| {
            if e {
                expensive += 1;
            }
            (expensive == 3).then_some(7)
        });
        assert_eq!(r, Some(7));
    }

    #[test]
    fn wake_reaches_a_parked_thread() {
        for _ in 0..50 {
            let w = Arc::new(WaitWord::new());
            let flag = Arc::new(AtomicBool::new(false));
            let (w2, f2) = (w.clone(), flag.clone());
            let t = std::thread::spawn(move || {
                let cfg = WaitConfig {
                    strategy: WaitStrategy::Park,
                    check_interval: Duration::from_secs(3600),
                };
                // A lost wake-up shows as a timeout (None), not as a hang.
                let deadline = Some(Instant::now() + Duration::from_secs(20));
                // Acquire: pairs with the Release store below.
                block_on(&w2, &cfg, deadline, |_| f2.load(Ordering::Acquire).then_some(()))
            });
            // Release: pairs with the Acquire load in the waiter's poll.
            flag.store(true, Ordering::Release);
            w.wake();
            assert_eq!(t.join().unwrap(), Some(()));
        }
    }
}
