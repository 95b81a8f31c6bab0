//! The endpoint table: who is attached to a segment, and are they alive.
//!
//! Each entry's `owner` word packs a pid with the low 32 bits of that
//! process's start time (clock ticks since boot, `/proc/PID/stat` field 22).
//! A pid alone is not enough: pids are reused, and a new process with the
//! old pid would look alive forever. A holder is *dead* when the pid does not
//! exist, is a zombie, or now belongs to a process with another start time.
//!
//! Entries are claimed and released only by compare-and-swap on `owner`, so
//! two processes can never both believe they hold one entry; a dead
//! holder's entry is taken over with a CAS from its exact old value.
//!
//! Liveness checks cost a `kill(pid, 0)` and a read of `/proc`; they run on
//! slow paths only (attach, and at most once per check interval while
//! blocked). Processes in different pid namespaces cannot check each other;
//! shmlane assumes one pid namespace per host.

use crate::layout::{EndpointEntry, Role};
use crate::sync::Ordering;

/// `owner` value of an entry nobody has attached to yet.
pub const OWNER_NEVER: u64 = 0;
/// `owner` value of an entry whose last holder detached cleanly (pid 0 is
/// never a real holder, so this cannot collide with a token).
pub const OWNER_CLOSED: u64 = 1;

/// This process's owner token (pid and start time).
pub fn self_token() -> u64 {
    let pid = std::process::id();
    #[cfg(miri)]
    let start = 0;
    #[cfg(not(miri))]
    let start = process_start_time(pid).unwrap_or(0);
    token(pid, start)
}

/// Packs a pid and a start time into an owner token.
pub fn token(pid: u32, start_time: u64) -> u64 {
    (u64::from(pid) << 32) | (start_time & 0xffff_ffff)
}

/// The pid in an owner token.
pub fn token_pid(token: u64) -> u32 {
    (token >> 32) as u32
}

/// Start time (clock ticks since boot) and state letter of a process, from
/// `/proc/PID/stat`; `None` when it does not exist.
fn proc_stat(pid: u32) -> Option<(u64, u8)> {
    let text = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or
    // parentheses itself: fields resume after the last ')'.
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&text[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.bytes().next()?;
    // After the state (field 3), field 22 is the 19th further field.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}

/// Start time of `pid` in clock ticks since boot.
pub fn process_start_time(pid: u32) -> Option<u64> {
    proc_stat(pid).map(|(s, _)| s)
}

/// Whether the process named by an owner token is alive (exists, is not a
/// zombie, and has the recorded start time).
pub fn token_alive(token: u64) -> bool {
    let pid = token_pid(token);
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    if pid == std::process::id() {
        // Ourselves (another handle in this process): alive unless the token
        // is from an earlier process that had our pid.
        return token == self_token();
    }
    if cfg!(miri) {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks existence and
    // permission.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return false;
    }
    match proc_stat(pid) {
        None => false,
        Some((_, b'Z' | b'X' | b'x')) => false,
        Some((start, _)) => (start & 0xffff_ffff) == (token & 0xffff_ffff),
    }
}

/// What an entry says about its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// Free; nobody ever attached.
    Never,
    /// Free; the last holder detached cleanly.
    Closed,
    /// Held by this token.
    Held(u64),
}

/// Reads an entry.
#[inline]
pub(crate) fn holder(e: &EndpointEntry) -> Holder {
    // Acquire: pairs with the Release CAS in `claim` / `release`; what the
    // holder published before attaching or detaching is visible.
    match e.owner.load(Ordering::Acquire) {
        OWNER_NEVER => Holder::Never,
        OWNER_CLOSED => Holder::Closed,
        t => Holder::Held(t),
    }
}

/// Result of a successful claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claimed {
    /// Our token, written into the entry.
    pub(crate) token: u64,
    /// The dead process whose place we took, if any.
    pub(crate) took_over_from: Option<u32>,
}

/// Tries to claim one entry for `role`. Fails with the live holder's pid.
pub(crate) fn claim(e: &EndpointEntry, role: Role, me: u64) -> Result<Claimed, u32> {
    // Bounded: a peer scribbling on the word must not keep us here forever.
    for _ in 0..1000 {
        // Acquire: pairs with the Release CAS of the previous holder.
        let cur = e.owner.load(Ordering::Acquire);
        if cur > OWNER_CLOSED && token_alive(cur) {
            return Err(token_pid(cur));
        }
        // AcqRel: Acquire pairs with the previous holder's Release (we
        // continue from what it published); Release publishes our claim.
        if e.owner
            .compare_exchange(cur, me, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // Relaxed: informational (statistics and `shmlane ls`).
            e.role.store(role as u32, Ordering::Relaxed);
            let took_over_from = (cur > OWNER_CLOSED).then(|| token_pid(cur));
            return Ok(Claimed {
                token: me,
                took_over_from,
            });
        }
    }
    // Relaxed: only to name a pid in the error.
    Err(token_pid(e.owner.load(Ordering::Relaxed)))
}

/// Claims the first free or dead entry among `entries` for `role`.
#[allow(dead_code)] // used by the multi-endpoint rings
pub(crate) fn claim_any(entries: &[EndpointEntry], role: Role, me: u64) -> Option<(usize, Claimed)> {
    // First pass: free entries only, so live ones are not checked needlessly.
    for (i, e) in entries.iter().enumerate() {
        // Relaxed: a hint; the CAS in `claim` decides.
        if e.owner.load(Ordering::Relaxed) <= OWNER_CLOSED {
            if let Ok(c) = claim(e, role, me) {
                return Some((i, c));
            }
        }
    }
    for (i, e) in entries.iter().enumerate() {
        if let Ok(c) = claim(e, role, me) {
            return Some((i, c));
        }
    }
    None
}

/// Releases an entry we hold, marking it cleanly closed. Returns false if
/// the entry was no longer ours (taken over after we were presumed dead).
pub(crate) fn release(e: &EndpointEntry, me: u64) -> bool {
    // Release: pairs with the Acquire load in `holder`; everything we
    // published (the last commit) is visible to whoever sees CLOSED.
    e.owner
        .compare_exchange(me, OWNER_CLOSED, Ordering::Release, Ordering::Relaxed)
        .is_ok()
}

/// Counts of an endpoint table's entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointCounts {
    /// Held by a live process.
    pub alive: u32,
    /// Held by a dead process.
    pub dead: u32,
    /// Free.
    pub free: u32,
    /// Free and never attached to (a subset of `free`).
    pub never: u32,
}

/// Counts live, dead and free entries (performs liveness checks).
pub(crate) fn count(entries: &[EndpointEntry]) -> EndpointCounts {
    let mut c = EndpointCounts::default();
    for e in entries {
        match holder(e) {
            Holder::Held(t) if token_alive(t) => c.alive += 1,
            Holder::Held(_) => c.dead += 1,
            Holder::Closed => c.free += 1,
            Holder::Never => {
                c.free += 1;
                c.never += 1;
            }
        }
    }
    c
}

#[cfg(all(test, not(loom), not(miri)))]
mod tests {
    use super::*;

    #[test]
    fn self_is_alive_and_reused_pid_is_not() {
        let me = self_token();
        assert!(token_alive(me));
        // Same pid, other start time: a reused pid.
        assert!(!token_alive(me ^ 1));
        assert!(!token_alive(0));
        assert!(!token_alive(token(u32::MAX, 0)));
    }

    #[test]
    fn zombie_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = process_start_time(pid);
        // Wait until it has exited but is not reaped: it is a zombie.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match proc_stat(pid) {
                Some((_, b'Z')) | None => break,
                _ if std::time::Instant::now() > deadline => panic!("child did not exit"),
                _ => std::thread::yield_now(),
            }
        }
        assert!(!token_alive(token(pid, start.unwrap_or(0))));
        child.wait().unwrap();
    }
}
