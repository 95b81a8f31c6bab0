//! Helpers for tests that run real child processes: the test binary
//! re-executes itself with `--exact <test>` and an environment variable that
//! selects the child's role.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the role a re-executed test binary plays.
pub const ROLE_VAR: &str = "SHMLANE_TEST_ROLE";

/// The role this process plays, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// A unique segment name for this test and process.
pub fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "/shmlane-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Unlinks the named segment when dropped.
pub struct Unlink(pub String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = shmlane::segment::unlink(&self.0);
    }
}

/// A child process killed and reaped when dropped.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Waits at most `limit` for the child to exit; kills it and panics
    /// otherwise. Returns its exit status.
    pub fn wait_bounded(&mut self, limit: Duration) -> std::process::ExitStatus {
        let child = self.0.as_mut().unwrap();
        let start = Instant::now();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.0 = None;
                return st;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                self.0 = None;
                panic!("child did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends SIGKILL and reaps.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Re-executes this test binary to run `test` as `role`, with extra
/// environment variables.
pub fn spawn(test: &str, role: &str, env: &[(&str, String)]) -> ChildGuard {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .stdin(Stdio::null())
        .stdout(if std::env::var_os("SHMLANE_TEST_CHILD_OUTPUT").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    for (k, v) in env {
        cmd.env(k, v);
    }
    ChildGuard(Some(cmd.spawn().expect("spawn child test process")))
}

/// Like [`spawn`], but with the child's standard output piped: read it
/// with [`ChildGuard::wait_output`] (children print their figures there).
pub fn spawn_piped(test: &str, role: &str, env: &[(&str, String)]) -> ChildGuard {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    ChildGuard(Some(cmd.spawn().expect("spawn child test process")))
}

impl ChildGuard {
    /// Waits at most `limit` for a child made by [`spawn_piped`] and returns
    /// its exit status and its output. (The child's output must stay below a
    /// pipe's buffer: a few lines.)
    pub fn wait_output(&mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        use std::io::Read;
        let mut out = self.0.as_mut().unwrap().stdout.take();
        let st = self.wait_bounded(limit);
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        (st, s)
    }
}

/// Reads an environment variable set by the parent.
pub fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} not set by parent"))
}
