//! `shmlane-bench`: the side-by-side comparison of shmlane with the hardware
//! limits of this machine and with the transports a user would pick instead.
//!
//! ```text
//! cargo run --release -p shmlane-bench                  # quick run (< 1 min)
//! cargo run --release -p shmlane-bench -- --full        # longer, 5 repetitions
//! cargo run --release -p shmlane-bench -- --filter pipe --json /tmp/bench.json
//! ```
//!
//! Every cross-process case runs in two or more processes: the harness
//! re-executes itself as `shmlane-bench __child …` for the other side(s)
//! (see [`harness`]), and the two sides are pinned to different CPUs
//! (producers on one, consumers on the other). What is measured and why
//! each baseline is fair is written at the top of each module in
//! [`transports`]; how a repetition is timed is in [`measure`].
//!
//! Repetitions run round-robin: round 1 of every case, then round 2, and
//! so on, so that a slow change of the machine (other work; on a VM, the
//! host moving the vCPUs, which changes what a cache line costs between
//! them for seconds at a time: the same SPSC code reads ~30 M or ~170 M
//! msgs/s) weighs on every case alike. A target is judged on the ratio of
//! the two rows' best repetitions (largest rate, smallest latency), the
//! ratio of their medians printed beside it: a repetition here is either
//! at the speed the code and the hardware allow or slowed by the host's
//! placement of the vCPUs, which no change of the code causes, so the best
//! of five compares code with code, while a median tells which placement
//! the majority of repetitions drew (the same pair of rows gave median
//! ratios from 0.24 to 5.3 in successive full runs).
//!
//! Beside them, a target prints *paired runs*: after the rounds, its two
//! cases run back to back (3 pairs in a quick run, 9 in a full one; short
//! runs, the order alternating), and the median and range of the pairs'
//! ratios. The two runs of a pair almost always share a placement, so a
//! pair compares code with code under that placement; but the slow
//! placement compresses ratios towards 1 (every side waits on the same
//! slow line), so a median over pairs of both placements is no verdict on
//! the code at full speed. It tells how far the ratio holds across
//! placements, which the best repetitions cannot.
//!
//! The peer crates (iceoryx2, shaq, ipc-channel) are cargo features, on by
//! default; `--no-default-features` builds without them (their rows are
//! then listed as skipped), which saves most of the build time (iceoryx2
//! alone roughly doubles it).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod harness;
mod measure;
mod plot;
mod report;
mod results;
mod sys;
mod targets;
mod transports;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::harness::{ChildCtx, Harness, Pinning, Watchdog, CHILD_CMD};
use crate::measure::{summarise, Outcome, RunCfg, Sample};
use crate::results::{Metric, Row};
use crate::targets::{Den, Sel, TARGETS};
use crate::transports::{Case, Transport};

/// Compare shmlane with the hardware limits and the OS transports, across
/// processes pinned to different cores.
#[derive(Parser, Debug)]
#[command(name = "shmlane-bench", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Quick run: 3 repetitions (round-robin over the cases) of short runs (the default).
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Full run: 5 repetitions of longer runs (several minutes).
    #[arg(long)]
    full: bool,
    /// Also write the results as JSON lines (transport, pattern, size, metric, value).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run only transports whose name contains this substring (or one of
    /// these comma-separated substrings: `shmlane-broadcast,shmlane-spsc`).
    #[arg(long, value_name = "SUBSTRING[,SUBSTRING…]")]
    filter: Option<String>,
    /// Also write SVG charts (latency percentiles, throughput by size) into DIR.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    #[command(subcommand)]
    internal: Option<Internal>,
}

#[derive(Subcommand, Debug)]
enum Internal {
    /// The other side of a cross-process case (started by the harness itself).
    #[command(name = CHILD_CMD, hide = true)]
    Child {
        /// Transport name.
        transport: String,
        /// Role, CPU, pattern, size, durations, timeout, transport arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Durations and repetitions of a run.
struct Mode {
    name: &'static str,
    reps: usize,
    stream: RunCfg,
    pingpong: RunCfg,
    sizes: Vec<usize>,
    /// Paired runs per target (see [`paired_ratios`]).
    pairs: usize,
    /// Durations of a paired run.
    pair_stream: RunCfg,
    pair_pingpong: RunCfg,
}

impl Mode {
    fn quick() -> Mode {
        Mode {
            name: "quick",
            reps: 3,
            stream: RunCfg {
                warmup: Duration::from_millis(20),
                measure: Duration::from_millis(80),
            },
            pingpong: RunCfg {
                warmup: Duration::from_millis(20),
                measure: Duration::from_millis(150),
            },
            sizes: vec![16, 64, 256, 4096, 64 << 10, 1 << 20],
            pairs: 3,
            pair_stream: RunCfg {
                warmup: Duration::from_millis(20),
                measure: Duration::from_millis(80),
            },
            pair_pingpong: RunCfg {
                warmup: Duration::from_millis(20),
                measure: Duration::from_millis(150),
            },
        }
    }

    fn full() -> Mode {
        Mode {
            name: "full",
            reps: 5,
            stream: RunCfg {
                warmup: Duration::from_millis(200),
                measure: Duration::from_secs(1),
            },
            pingpong: RunCfg {
                warmup: Duration::from_millis(200),
                measure: Duration::from_secs(2),
            },
            pairs: 9,
            pair_stream: RunCfg {
                warmup: Duration::from_millis(50),
                measure: Duration::from_millis(250),
            },
            pair_pingpong: RunCfg {
                warmup: Duration::from_millis(50),
                measure: Duration::from_millis(400),
            },
            ..Mode::quick()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Internal::Child { transport, args }) = cli.internal {
        return child_main(&transport, &args);
    }
    let mode = if cli.full { Mode::full() } else { Mode::quick() };
    run(&cli, &mode)
}

/// The child process: run `transport`'s child side; errors go to stderr,
/// which the parent reads.
fn child_main(transport: &str, args: &[String]) -> ExitCode {
    let res = ChildCtx::from_args(args).and_then(|mut ctx| {
        let t =
            transports::find(transport).ok_or_else(|| sys::Error::new(format!("unknown transport {transport:?}")))?;
        t.child(&mut ctx)
            .map_err(|e| sys::Error::new(format!("{} ({}): {e}", transport, ctx.role)))?;
        Ok(())
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("child {e}");
            ExitCode::FAILURE
        }
    }
}

/// A case to run, or a row to report as skipped.
enum Planned {
    Run(&'static dyn Transport, Case),
    Skip(Row),
}

fn plan(mode: &Mode, filter: Option<&str>) -> Vec<Planned> {
    let mut out = Vec::new();
    for t in transports::registry() {
        if filter.is_some_and(|f| !f.split(',').any(|part| !part.is_empty() && t.name().contains(part))) {
            continue;
        }
        for &pattern in t.patterns() {
            let cfg = if pattern.is_latency() {
                mode.pingpong
            } else {
                mode.stream
            };
            for size in t.sizes(pattern, &mode.sizes) {
                match t.supports(pattern, size) {
                    Ok(()) => out.push(Planned::Run(t, Case { pattern, size, cfg })),
                    Err(why) => out.push(Planned::Skip(Row {
                        transport: t.name(),
                        family: t.family(),
                        pattern,
                        size,
                        outcome: Outcome::Skipped(why),
                        other_cpu: None,
                        note: None,
                    })),
                }
            }
        }
    }
    out
}

/// One case being measured: its samples so far, and the CPU time used by
/// everything else on the machine while its repetitions ran.
struct CaseRun {
    t: &'static dyn Transport,
    case: Case,
    samples: Vec<Sample>,
    failed: Option<String>,
    other: OtherSum,
}

impl CaseRun {
    /// Runs one repetition under a watchdog.
    fn rep(&mut self, h: &mut Harness) {
        let load = OtherLoad::start();
        let res = one_rep(self.t, &self.case, h);
        self.other.add(&load);
        match res {
            Ok(s) => self.samples.push(s),
            Err(e) => self.failed = Some(e),
        }
    }

    fn outcome(&self) -> Outcome {
        match &self.failed {
            Some(e) => Outcome::Failed(e.clone()),
            None => summarise(&self.samples, self.case.size),
        }
    }
}

/// Runs one repetition of `case` under a watchdog.
fn one_rep(t: &dyn Transport, case: &Case, h: &mut Harness) -> Result<Sample, String> {
    let _wd = Watchdog::arm(harness::run_timeout(case.cfg));
    t.run(case, h).map_err(|e| e.to_string())
}

/// A sample's value of `metric`.
fn sample_metric(t: &dyn Transport, case: &Case, s: Sample, metric: Metric) -> Option<f64> {
    let row = Row {
        transport: t.name(),
        family: t.family(),
        pattern: case.pattern,
        size: case.size,
        outcome: summarise(&[s], case.size),
        other_cpu: None,
        note: None,
    };
    row.metric(metric).map(|v| v.median)
}

/// The paired runs of the targets: for each target that divides one
/// measured row by another, `mode.pairs` pairs of short runs of the two
/// cases back to back (the order alternating from pair to pair), and the
/// ratio of each pair. The host moves the vCPUs for seconds at a time, so
/// the two runs of a pair almost always share a placement; the rows'
/// repetitions in the rounds are minutes apart. Printed beside each
/// verdict (see the crate docs). `None` for a target whose rows were not
/// both measured (or whose runs failed).
fn paired_ratios(cases: &[CaseRun], h: &mut Harness, mode: &Mode, pb: &ProgressBar) -> Vec<Option<Vec<f64>>> {
    let find = |sel: &Sel| {
        cases.iter().find(|c| {
            c.failed.is_none()
                && c.t.name() == sel.transport
                && c.case.pattern == sel.pattern
                && c.case.size == sel.size
        })
    };
    let mut out = Vec::with_capacity(TARGETS.len());
    for t in TARGETS {
        let Den::Row(den_sel) = t.den else {
            out.push(None);
            continue;
        };
        let (Some(num), Some(den)) = (find(&t.num), find(&den_sel)) else {
            out.push(None);
            continue;
        };
        let short = |c: &CaseRun| Case {
            cfg: if c.case.pattern.is_latency() {
                mode.pair_pingpong
            } else {
                mode.pair_stream
            },
            ..c.case
        };
        let (num_case, den_case) = (short(num), short(den));
        let mut ratios = Vec::with_capacity(mode.pairs);
        for i in 0..mode.pairs {
            pb.set_message(format!("paired runs: {} ({}/{})", t.label, i + 1, mode.pairs));
            let mut run = |c: &CaseRun, case: &Case, metric: Metric| {
                one_rep(c.t, case, h)
                    .ok()
                    .and_then(|s| sample_metric(c.t, case, s, metric))
            };
            let (a, b) = if i % 2 == 0 {
                let a = run(num, &num_case, t.num.metric);
                (a, run(den, &den_case, den_sel.metric))
            } else {
                let b = run(den, &den_case, den_sel.metric);
                (run(num, &num_case, t.num.metric), b)
            };
            if let (Some(a), Some(b)) = (a, b) {
                if b > 0.0 {
                    ratios.push(a / b);
                }
            }
        }
        out.push((!ratios.is_empty()).then_some(ratios));
    }
    out
}

/// Others' CPU use summed over the repetitions of one case.
#[derive(Default)]
struct OtherSum {
    others: f64,
    wall: f64,
    known: bool,
}

impl OtherSum {
    fn add(&mut self, l: &OtherLoad) {
        if let Some(secs) = l.other_secs() {
            self.others += secs;
            self.known = true;
        }
        self.wall += l.wall.elapsed().as_secs_f64();
    }

    /// In percent of one CPU.
    fn percent(&self) -> Option<f64> {
        self.known.then(|| self.others / self.wall.max(1e-3) * 100.0)
    }
}

/// CPU time used on the machine by anything but this harness and its
/// children, over an interval: the interference indicator of the table.
struct OtherLoad {
    wall: Instant,
    busy: Option<f64>,
    own: f64,
}

impl OtherLoad {
    fn start() -> Self {
        OtherLoad {
            wall: Instant::now(),
            busy: sys::machine_busy_secs(),
            own: sys::own_cpu_secs(),
        }
    }

    /// Others' CPU time since `start`, in seconds.
    fn other_secs(&self) -> Option<f64> {
        let busy = sys::machine_busy_secs()? - self.busy?;
        let own = sys::own_cpu_secs() - self.own;
        Some((busy - own).max(0.0))
    }
}

fn one_line(o: &Outcome, one_way: bool) -> String {
    match o {
        Outcome::Throughput { msgs_per_s, .. } => {
            format!("{} msgs/s", report::si(msgs_per_s.median))
        }
        Outcome::Latency { p50, .. } if one_way => format!("one-way p50 {}", report::dur(p50.median)),
        Outcome::Latency { p50, .. } => format!("RTT p50 {}", report::dur(p50.median)),
        Outcome::Skipped(w) => format!("skipped: {w}"),
        Outcome::Failed(w) => format!("FAILED: {w}"),
    }
}

fn run(cli: &Cli, mode: &Mode) -> ExitCode {
    let started = Instant::now();
    if let Err(e) = sys::install_wake_signal() {
        eprintln!("shmlane-bench: {e}");
        return ExitCode::FAILURE;
    }
    let (pin, pin_msg) = Pinning::setup();
    let mut h = Harness::new(pin);
    let planned = plan(mode, cli.filter.as_deref());
    let runs = planned.iter().filter(|p| matches!(p, Planned::Run(..))).count();
    if planned.is_empty() {
        let names: Vec<&str> = transports::registry().iter().map(|t| t.name()).collect();
        eprintln!(
            "shmlane-bench: no transport matches --filter {:?}; transports: {}",
            cli.filter.as_deref().unwrap_or(""),
            names.join(", ")
        );
        return ExitCode::FAILURE;
    }

    println!(
        "shmlane-bench, {} mode: {} repetitions per case; streams {} ms warm-up + {} ms, \
         ping-pong {} ms warm-up + {} ms",
        mode.name,
        mode.reps,
        mode.stream.warmup.as_millis(),
        mode.stream.measure.as_millis(),
        mode.pingpong.warmup.as_millis(),
        mode.pingpong.measure.as_millis()
    );
    println!("{pin_msg}");
    if let Some(l) = sys::loadavg() {
        println!(
            "load average at start: {l:.2} (other work on these CPUs distorts every number; \
             see the other% column)"
        );
    }
    println!();

    let tty = std::io::stderr().is_terminal();
    let pb = if tty {
        let pb = ProgressBar::with_draw_target(Some((runs * mode.reps) as u64), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}").expect("valid progress template"),
        );
        pb
    } else {
        ProgressBar::hidden()
    };

    // Repetitions go round-robin over the cases: the machine's state (other
    // work, and on a VM where the host places the vCPUs, which changes the
    // cost of a cache line moving between them for seconds at a time) then
    // weighs on every case alike, and the ratios of the targets compare
    // cases measured across the same stretch of time.
    let mut cases: Vec<CaseRun> = Vec::with_capacity(runs);
    let mut slots: Vec<Result<usize, Row>> = Vec::with_capacity(planned.len());
    for p in planned {
        match p {
            Planned::Skip(row) => slots.push(Err(row)),
            Planned::Run(t, case) => {
                slots.push(Ok(cases.len()));
                cases.push(CaseRun {
                    t,
                    case,
                    samples: Vec::with_capacity(mode.reps),
                    failed: None,
                    other: OtherSum::default(),
                });
            }
        }
    }
    for rep in 0..mode.reps {
        for (k, c) in cases.iter_mut().enumerate() {
            if c.failed.is_some() {
                pb.inc(1);
                continue;
            }
            let what = format!("{} {} {}", c.t.name(), c.case.pattern.name(), report::size(c.case.size));
            pb.set_message(format!("{what} (round {}/{})", rep + 1, mode.reps));
            c.rep(&mut h);
            pb.inc(1);
            if !tty && (rep + 1 == mode.reps || c.failed.is_some()) {
                eprintln!(
                    "[{}/{runs}] {what}: {}",
                    k + 1,
                    one_line(&c.outcome(), c.case.pattern.is_one_way())
                );
            }
        }
    }
    let rows: Vec<Row> = slots
        .into_iter()
        .map(|slot| match slot {
            Err(row) => row,
            Ok(k) => {
                let c = &cases[k];
                Row {
                    transport: c.t.name(),
                    family: c.t.family(),
                    pattern: c.case.pattern,
                    size: c.case.size,
                    note: c.t.note(c.case.pattern, &h.pin),
                    outcome: c.outcome(),
                    other_cpu: c.other.percent(),
                }
            }
        })
        .collect();
    let paired = paired_ratios(&cases, &mut h, mode, &pb);
    pb.finish_and_clear();

    print!("{}", report::render(&rows, &paired));
    let mut ok = true;
    if let Some(path) = &cli.json {
        match results::write_json(&rows, path) {
            Ok(()) => println!("\njson: {}", path.display()),
            Err(e) => {
                eprintln!("shmlane-bench: writing {}: {e}", path.display());
                ok = false;
            }
        }
    }
    if let Some(dir) = &cli.plot {
        match plot::write(&rows, dir) {
            Ok(files) => {
                for f in files {
                    println!("plot: {}", f.display());
                }
            }
            Err(e) => {
                eprintln!("shmlane-bench: plotting into {}: {e}", dir.display());
                ok = false;
            }
        }
    }
    println!("\nwall time: {:.1} s", started.elapsed().as_secs_f64());
    let failed = rows.iter().any(|r| matches!(r.outcome, Outcome::Failed(_)));
    if failed || !ok {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
