//! The process machinery shared by every cross-process transport: the harness
//! re-executes itself as `shmlane-bench __child <transport> <role> …`, hands
//! the child its resources (names and inherited fd numbers on the command
//! line), pins both sides to different CPUs, synchronises the start with a
//! one-byte handshake over the child's stdin/stdout, and always reaps the
//! child within a deadline.
//!
//! Handshake: the child sets its resources up, writes `R` to its stdout and
//! blocks reading one byte from its stdin; the parent waits for `R` (with a
//! timeout), finishes its own setup and writes `G`. Nothing is timed before
//! `G`, and each side's warm-up is excluded by [`crate::measure`].
//!
//! Never hanging: a [`Watchdog`] runs beside every repetition. When the
//! repetition overruns, it sets the abort flag polled by spin loops, kills the
//! child, and sends SIGUSR1 to the measuring thread (installed without
//! `SA_RESTART`) until the repetition gives up, so that blocking calls return
//! `EINTR`. The child protects itself with `PR_SET_PDEATHSIG` and `alarm`.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::measure::RunCfg;
use crate::sys::{self, bail, Error, Res};
use crate::transports::{Case, Pattern};

/// Name of the hidden subcommand that runs the other side of a case.
pub const CHILD_CMD: &str = "__child";

/// How long a child may take to start up and say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Slack on top of `warmup + measure` before a repetition is declared hung.
const RUN_SLACK: Duration = Duration::from_secs(15);

/// Pid of the live child of the current repetition, for the watchdog. Held
/// under the lock while killing, and cleared under the lock before reaping,
/// so the watchdog can never signal a recycled pid.
static LIVE_CHILD: Mutex<Option<i32>> = Mutex::new(None);

/// Where children run; the parent side (the harness's main thread) is
/// pinned by [`Pinning::setup`] itself.
#[derive(Clone, Copy, Debug)]
pub struct Pinning {
    /// CPU of the child side, or `None` when not pinned.
    pub child: Option<usize>,
}

impl Pinning {
    /// Pins the calling (main) thread to the first allowed CPU and reserves
    /// the second for children; with fewer than two CPUs, pins nothing.
    pub fn setup() -> (Pinning, String) {
        let cpus = sys::allowed_cpus();
        if cpus.len() < 2 {
            let msg = format!(
                "pinning: off ({} CPU allowed; both sides share it, numbers are not comparable \
                 with a 2-core run)",
                cpus.len()
            );
            return (Pinning { child: None }, msg);
        }
        match sys::pin_to(cpus[0]) {
            Ok(()) => (
                Pinning { child: Some(cpus[1]) },
                format!(
                    "pinning: parent side on CPU {}, child side on CPU {} (of {} allowed)",
                    cpus[0],
                    cpus[1],
                    cpus.len()
                ),
            ),
            Err(e) => (Pinning { child: None }, format!("pinning: off ({e})")),
        }
    }
}

/// The parent side's view of the harness, handed to `Transport::run`.
pub struct Harness {
    /// CPU plan.
    pub pin: Pinning,
    counter: u64,
}

impl Harness {
    /// A harness with this CPU plan.
    pub fn new(pin: Pinning) -> Self {
        Harness { pin, counter: 0 }
    }

    /// A name unique to this process and call, e.g. `/shmlane-bench-123-7`,
    /// for a /dev/shm segment, a message queue or a socket file.
    pub fn unique(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}shmlane-bench-{}-{}", std::process::id(), self.counter)
    }

    /// Starts the other side of `case` as a child process running
    /// `transport`'s child code in `role`, with `extra` arguments and the
    /// descriptors `fds` inherited (their numbers are the same in the child).
    /// Returns once the child has said it is ready.
    pub fn spawn(
        &mut self,
        transport: &str,
        role: &str,
        case: &Case,
        extra: &[String],
        fds: &[RawFd],
    ) -> Res<ChildProc> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.arg(CHILD_CMD)
            .arg(transport)
            .arg(role)
            .arg(match self.pin.child {
                Some(c) => c.to_string(),
                None => "-".into(),
            })
            .arg(case.pattern.name())
            .arg(case.size.to_string())
            .arg(case.cfg.warmup.as_nanos().to_string())
            .arg(case.cfg.measure.as_nanos().to_string())
            .arg(run_timeout(case.cfg).as_secs().to_string())
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let keep: Vec<RawFd> = fds.to_vec();
        // SAFETY: the closure runs between fork and exec and only calls
        // fcntl, which is async-signal-safe; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &keep {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        *LIVE_CHILD.lock().unwrap() = Some(child.id() as i32);
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut proc = ChildProc {
            child,
            stdin,
            stdout,
            reaped: false,
            deadline: Instant::now() + READY_TIMEOUT + run_timeout(case.cfg),
        };
        proc.wait_ready()?;
        Ok(proc)
    }
}

/// Longest a repetition of `cfg` may take before the watchdog stops it.
pub fn run_timeout(cfg: RunCfg) -> Duration {
    cfg.warmup + cfg.measure + RUN_SLACK
}

/// A running child process. Dropping it kills and reaps the child.
pub struct ChildProc {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    reaped: bool,
    deadline: Instant,
}

impl ChildProc {
    fn wait_ready(&mut self) -> Res<()> {
        let mut pfd = libc::pollfd {
            fd: self.stdout.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let until = Instant::now() + READY_TIMEOUT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.fail("child did not become ready within 10 s"));
            }
            // SAFETY: `pfd` is one live pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
            if rc < 0 {
                if sys::aborted() {
                    return Err(self.fail("timed out waiting for the child"));
                }
                continue;
            }
            if rc > 0 {
                break;
            }
        }
        let mut b = [0u8; 1];
        match self.stdout.read(&mut b) {
            Ok(1) if b[0] == b'R' => Ok(()),
            _ => Err(self.fail("child exited before it was ready")),
        }
    }

    /// Releases the child into its measured run.
    pub fn go(&mut self) -> Res<()> {
        if self.stdin.write_all(b"G").is_err() {
            return Err(self.fail("could not release the child"));
        }
        Ok(())
    }

    /// Waits (bounded) for the child to exit, and checks it succeeded.
    pub fn finish(mut self) -> Res<()> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                *LIVE_CHILD.lock().unwrap() = None;
                if status.success() {
                    return Ok(());
                }
                let msg = format!("child failed ({status})");
                return Err(self.with_stderr(msg));
            }
            if Instant::now() >= self.deadline || sys::aborted() {
                return Err(self.fail("child did not exit in time"));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// Kills and reaps the child, and returns `msg` with its stderr appended.
    fn fail(&mut self, msg: &str) -> Error {
        self.kill_and_reap();
        self.with_stderr(msg.to_string())
    }

    fn with_stderr(&mut self, mut msg: String) -> Error {
        // The child has exited, so reading its stderr to the end terminates.
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let err = err.trim();
        if !err.is_empty() {
            msg.push_str(": ");
            msg.push_str(err);
        }
        Error::new(msg)
    }

    fn kill_and_reap(&mut self) {
        if !self.reaped {
            *LIVE_CHILD.lock().unwrap() = None;
            let _ = self.child.kill();
            // After SIGKILL the wait is bounded.
            let _ = self.child.wait();
            self.reaped = true;
        }
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// Stops a repetition that overruns: see the module docs.
pub struct Watchdog {
    state: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Arms a watchdog for the calling thread that fires after `timeout`.
    pub fn arm(timeout: Duration) -> Watchdog {
        sys::set_aborted(false);
        // SAFETY: pthread_self has no preconditions.
        let target = unsafe { libc::pthread_self() };
        let state = Arc::new((Mutex::new(false), Condvar::new()));
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let (lock, cv) = &*st;
            let guard = lock.lock().unwrap();
            let (mut guard, res) = cv.wait_timeout_while(guard, timeout, |cancelled| !*cancelled).unwrap();
            if !res.timed_out() {
                return;
            }
            sys::set_aborted(true);
            if let Some(pid) = *LIVE_CHILD.lock().unwrap() {
                // SAFETY: `pid` is our unreaped child (see LIVE_CHILD).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            while !*guard {
                // SAFETY: `target` is the measuring thread, which is alive
                // until it cancels this watchdog (it joins us in `drop`).
                unsafe { libc::pthread_kill(target, libc::SIGUSR1) };
                guard = cv.wait_timeout(guard, Duration::from_millis(10)).unwrap().0;
            }
        });
        Watchdog {
            state,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, cv) = &*self.state;
        *lock.lock().unwrap() = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        sys::set_aborted(false);
    }
}

/// The child side's view: its arguments and the handshake.
pub struct ChildCtx {
    /// The case the parent is running.
    pub case: Case,
    /// Role requested by the parent (transport-defined, e.g. `producer`).
    pub role: String,
    /// Transport-specific arguments (names, fd numbers).
    pub extra: Vec<String>,
    ready: bool,
}

impl ChildCtx {
    /// Parses `__child` arguments after the transport name:
    /// `<role> <cpu|-> <pattern> <size> <warmup_ns> <measure_ns> <timeout_s> [extra…]`.
    /// Pins this process and arms its safety nets.
    pub fn from_args(args: &[String]) -> Res<ChildCtx> {
        if args.len() < 7 {
            bail!("__child: expected at least 7 arguments, got {}", args.len());
        }
        let num = |i: usize| -> Res<u64> {
            args[i]
                .parse()
                .map_err(|_| Error::new(format!("__child: bad number {:?}", args[i])))
        };
        let timeout = num(6)?;
        sys::child_safety_nets(timeout.clamp(1, u32::MAX as u64) as u32);
        if args[1] != "-" {
            sys::pin_to(num(1)? as usize)?;
        }
        let pattern =
            Pattern::parse(&args[2]).ok_or_else(|| Error::new(format!("__child: unknown pattern {:?}", args[2])))?;
        Ok(ChildCtx {
            case: Case {
                pattern,
                size: num(3)? as usize,
                cfg: RunCfg {
                    warmup: Duration::from_nanos(num(4)?),
                    measure: Duration::from_nanos(num(5)?),
                },
            },
            role: args[0].clone(),
            extra: args[7..].to_vec(),
            ready: false,
        })
    }

    /// Extra argument `i`, or an error naming what was missing.
    pub fn arg(&self, i: usize) -> Res<&str> {
        self.extra
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| Error::new(format!("__child: missing transport argument {i}")))
    }

    /// Tells the parent this side is set up, and waits for the go.
    pub fn ready(&mut self) -> Res<()> {
        if self.ready {
            return Ok(());
        }
        self.ready = true;
        let mut out = std::io::stdout().lock();
        out.write_all(b"R")?;
        out.flush()?;
        let mut b = [0u8; 1];
        match std::io::stdin().lock().read(&mut b) {
            Ok(1) if b[0] == b'G' => Ok(()),
            _ => bail!("__child: the parent went away before the start"),
        }
    }
}
