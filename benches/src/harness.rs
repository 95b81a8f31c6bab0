//! The process machinery shared by every cross-process transport: the harness
//! re-executes itself as `shmlane-bench __child <transport> <role> …`, hands
//! each child its resources (names and inherited fd numbers on the command
//! line), pins the two sides to different CPUs, synchronises the start with a
//! one-byte handshake over the child's stdin and its control pipe, and always
//! reaps every child within a deadline.
//!
//! Sides: the plan has two CPUs, the *parent side* (where the harness's main
//! thread runs) and the *child side*. [`Harness::spawn`] starts one child on
//! the child side; [`Harness::spawn_n`] starts several, each on the side it
//! asks for ([`Side`]), for cases with more than two processes (several
//! producers on the child side, several consumers on the parent side). With
//! more processes than CPUs, the processes of one side share its CPU and the
//! scheduler time-slices them: [`Pinning::placement`] says so in the table.
//!
//! Handshake: the child sets its resources up, writes `R` to its control
//! pipe and blocks reading one byte from its stdin; the parent waits for `R`
//! (with a timeout) from every child, finishes its own setup and writes `G`
//! to each. Nothing is timed before `G`, and each side's warm-up is excluded
//! by [`crate::measure`]. The control pipe is the child's original stdout;
//! the child moves it to a private descriptor and points its stdout at its
//! stderr, so a library that prints cannot break the handshake. After its
//! run a child may write one report line ([`ChildCtx::report`]) to the
//! control pipe, which the parent reads with [`ChildProc::finish_report`]
//! (counts and times of the child's side, for cases measured in several
//! processes).
//!
//! Never hanging: a [`Watchdog`] runs beside every repetition. When the
//! repetition overruns, it sets the abort flag polled by spin loops, kills
//! every live child, and sends SIGUSR1 to the measuring thread (installed
//! without `SA_RESTART`) until the repetition gives up, so that blocking calls
//! return `EINTR`. Children protect themselves with `PR_SET_PDEATHSIG` and
//! `alarm`.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
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

/// Pids of the live children of the current repetition, for the watchdog.
/// Held under the lock while killing, and a pid is removed under the lock
/// before it is reaped, so the watchdog can never signal a recycled pid.
static LIVE_CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn forget_live(pid: u32) {
    LIVE_CHILDREN.lock().unwrap().retain(|&p| p != pid as i32);
}

/// One of the two sides of the CPU plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The CPU of the harness's main thread (consumers, receivers).
    Parent,
    /// The other CPU (producers, senders, echoers).
    Child,
}

/// The CPU plan. The parent side (the harness's main thread) is pinned by
/// [`Pinning::setup`] itself; children and helper threads pin themselves to
/// the CPU of their side.
#[derive(Clone, Copy, Debug)]
pub struct Pinning {
    /// CPU of the parent side, or `None` when not pinned.
    pub parent: Option<usize>,
    /// CPU of the child side, or `None` when not pinned.
    pub child: Option<usize>,
}

impl Pinning {
    /// Pins the calling (main) thread to the first allowed CPU and reserves
    /// the second for children; with fewer than two CPUs, pins nothing.
    pub fn setup() -> (Pinning, String) {
        let off = Pinning {
            parent: None,
            child: None,
        };
        let cpus = sys::allowed_cpus();
        if cpus.len() < 2 {
            let msg = format!(
                "pinning: off ({} CPU allowed; both sides share it, numbers are not comparable \
                 with a 2-core run)",
                cpus.len()
            );
            return (off, msg);
        }
        match sys::pin_to(cpus[0]) {
            Ok(()) => (
                Pinning {
                    parent: Some(cpus[0]),
                    child: Some(cpus[1]),
                },
                format!(
                    "pinning: parent side on CPU {}, child side on CPU {} (of {} allowed); \
                     multi-producer/consumer cases put producers on the child side and \
                     consumers on the parent side (see the note column)",
                    cpus[0],
                    cpus[1],
                    cpus.len()
                ),
            ),
            Err(e) => (off, format!("pinning: off ({e})")),
        }
    }

    /// CPU of `side`, or `None` when not pinned.
    pub fn cpu(&self, side: Side) -> Option<usize> {
        match side {
            Side::Parent => self.parent,
            Side::Child => self.child,
        }
    }

    /// Where `producers` and `consumers` run, for the note column, e.g.
    /// `2 procs on CPU1 (time-shared) -> 1 proc on CPU0`. `unit` is `proc`
    /// or `thread`. Producers are on the child side, consumers on the parent
    /// side; more than one on a side share its CPU.
    pub fn placement(&self, producers: usize, consumers: usize, unit: &str) -> String {
        let one = |n: usize, side: Side| {
            let plural = if n == 1 { "" } else { "s" };
            match self.cpu(side) {
                Some(c) if n > 1 => format!("{n} {unit}{plural} on CPU{c} (time-shared)"),
                Some(c) => format!("{n} {unit} on CPU{c}"),
                None => format!("{n} {unit}{plural} unpinned"),
            }
        };
        format!("{} -> {}", one(producers, Side::Child), one(consumers, Side::Parent))
    }
}

/// One child of [`Harness::spawn_n`]: its role, its side of the CPU plan,
/// its transport arguments and the descriptors it inherits.
#[derive(Clone, Debug)]
pub struct Spawn {
    /// Role passed to the transport's child side.
    pub role: String,
    /// CPU side the child is pinned to.
    pub side: Side,
    /// Transport-specific arguments.
    pub extra: Vec<String>,
    /// Descriptors the child inherits (same numbers in the child).
    pub fds: Vec<RawFd>,
}

impl Spawn {
    /// A child in `role` on `side` with transport arguments `extra` and no
    /// inherited descriptors.
    pub fn new(role: impl Into<String>, side: Side, extra: Vec<String>) -> Spawn {
        Spawn {
            role: role.into(),
            side,
            extra,
            fds: Vec::new(),
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
    /// `transport`'s child code in `role`, on the child side of the CPU plan,
    /// with `extra` arguments and the descriptors `fds` inherited (their
    /// numbers are the same in the child). Returns once the child has said
    /// it is ready.
    pub fn spawn(
        &mut self,
        transport: &str,
        role: &str,
        case: &Case,
        extra: &[String],
        fds: &[RawFd],
    ) -> Res<ChildProc> {
        let spec = Spawn {
            role: role.to_string(),
            side: Side::Child,
            extra: extra.to_vec(),
            fds: fds.to_vec(),
        };
        let mut child = self.start(transport, case, &spec)?;
        child.wait_ready()?;
        Ok(child)
    }

    /// Starts one child per entry of `specs`, each pinned to the CPU of its
    /// side, and returns once every one has said it is ready (all are
    /// started before the first is waited for, so their set-ups overlap).
    /// If any fails to start, the others are killed and reaped.
    pub fn spawn_n(&mut self, transport: &str, case: &Case, specs: &[Spawn]) -> Res<Children> {
        let mut kids = Vec::with_capacity(specs.len());
        for spec in specs {
            kids.push(self.start(transport, case, spec)?);
        }
        for k in &mut kids {
            k.wait_ready()?;
        }
        Ok(Children(kids))
    }

    /// Starts one child (not yet waited for).
    fn start(&mut self, transport: &str, case: &Case, spec: &Spawn) -> Res<ChildProc> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.arg(CHILD_CMD)
            .arg(transport)
            .arg(&spec.role)
            .arg(match self.pin.cpu(spec.side) {
                Some(c) => c.to_string(),
                None => "-".into(),
            })
            .arg(case.pattern.name())
            .arg(case.size.to_string())
            .arg(case.cfg.warmup.as_nanos().to_string())
            .arg(case.cfg.measure.as_nanos().to_string())
            .arg(run_timeout(case.cfg).as_secs().to_string())
            .args(&spec.extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let keep: Vec<RawFd> = spec.fds.clone();
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
        LIVE_CHILDREN.lock().unwrap().push(child.id() as i32);
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        Ok(ChildProc {
            child,
            stdin,
            stdout,
            reaped: false,
            deadline: Instant::now() + READY_TIMEOUT + run_timeout(case.cfg),
        })
    }
}

/// The children of one case started by [`Harness::spawn_n`], in the order
/// of their specs. Dropping it kills and reaps every child still running.
pub struct Children(Vec<ChildProc>);

impl Children {
    /// Releases every child into its measured run.
    pub fn go(&mut self) -> Res<()> {
        for k in &mut self.0 {
            k.go()?;
        }
        Ok(())
    }

    /// Waits (bounded) for every child to exit, checks each succeeded, and
    /// returns their report lines in spec order. On the first failure the
    /// remaining children are killed and reaped (by drop).
    pub fn finish_reports(self) -> Res<Vec<String>> {
        self.0.into_iter().map(ChildProc::finish_report).collect()
    }
}

/// Longest a repetition of `cfg` may take before the watchdog stops it.
pub fn run_timeout(cfg: RunCfg) -> Duration {
    cfg.warmup + cfg.measure + RUN_SLACK
}

/// A running child process. Dropping it kills and reaps the child.
///
/// `stdout` is the child's control pipe (see the module docs).
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
    pub fn finish(self) -> Res<()> {
        self.finish_report().map(drop)
    }

    /// Waits (bounded) for the child to exit, checks it succeeded, and
    /// returns what it wrote with [`ChildCtx::report`] (empty if nothing).
    ///
    /// Blocks reading the control pipe until the child closes it (when it
    /// exits), so a parent that only waits for its children takes no CPU
    /// from them; the read is bounded because the watchdog kills every
    /// child of an overrunning repetition, which closes the pipe.
    pub fn finish_report(mut self) -> Res<String> {
        let mut out = Vec::new();
        let read = self.stdout.read_to_end(&mut out);
        loop {
            // Reap and forget the pid under the lock, so that the watchdog
            // (which kills under the same lock) never sees a reaped pid.
            let exited = {
                let mut live = LIVE_CHILDREN.lock().unwrap();
                let st = self.child.try_wait()?;
                if st.is_some() {
                    self.reaped = true;
                    live.retain(|&p| p != self.child.id() as i32);
                }
                st
            };
            if let Some(status) = exited {
                if status.success() {
                    if read.is_err() {
                        return Err(self.with_stderr("reading the child's report failed".into()));
                    }
                    return match String::from_utf8(out) {
                        Ok(s) => Ok(s.trim().to_string()),
                        Err(_) => Err(self.with_stderr("child wrote a report that is not UTF-8".into())),
                    };
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
            // Kill before forgetting: the pid is still ours (unreaped).
            let _ = self.child.kill();
            forget_live(self.child.id());
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
            for &pid in LIVE_CHILDREN.lock().unwrap().iter() {
                // SAFETY: `pid` is an unreaped child of ours (see
                // LIVE_CHILDREN); kill takes plain integers.
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
    /// The control pipe to the parent (the original stdout).
    ctl: File,
    ready: bool,
}

/// Moves this process's stdout (the control pipe to the parent) to a
/// private close-on-exec descriptor and points stdout at stderr, so that
/// nothing printed by the code under test reaches the control pipe.
fn take_control_pipe() -> Res<File> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) only creates a new descriptor.
    let ctl = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) };
    if ctl < 0 {
        return Err(Error::last_os("__child: dup(stdout)"));
    }
    // SAFETY: `ctl` is a fresh descriptor that nothing else owns.
    let ctl = unsafe { File::from_raw_fd(ctl) };
    // SAFETY: dup2 of two descriptors this process has open; replacing fd 1
    // is intended (Rust's stdout writes to fd 1 unbuffered-by-line and
    // nothing of ours holds a buffered copy yet).
    if unsafe { libc::dup2(2, 1) } < 0 {
        return Err(Error::last_os("__child: dup2(stderr, stdout)"));
    }
    Ok(ctl)
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
        let ctl = take_control_pipe()?;
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
            ctl,
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
        self.ctl.write_all(b"R")?;
        let mut b = [0u8; 1];
        match std::io::stdin().lock().read(&mut b) {
            Ok(1) if b[0] == b'G' => Ok(()),
            _ => bail!("__child: the parent went away before the start"),
        }
    }

    /// Sends the parent one report line (no newline inside), read by
    /// [`ChildProc::finish_report`] after this process exits.
    pub fn report(&mut self, line: &str) -> Res<()> {
        debug_assert!(!line.contains('\n'));
        self.ctl.write_all(line.as_bytes())?;
        self.ctl.write_all(b"\n")?;
        Ok(())
    }
}
