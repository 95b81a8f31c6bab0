//! Cross-process tests of the MPMC ring on named segments.
//!
//! - `three_producers_two_consumers`: three producer processes (single
//!   sends, batches, write claims) and two consumer processes (single
//!   receives, batches, read claims): every element arrives exactly once,
//!   and each consumer sees each producer's elements in order.
//! - `producer_killed_mid_stream`: three producer processes, one SIGKILLed
//!   in each round, either by itself between claiming and committing a
//!   slot, or by the parent at a random moment. The consumers finish; every
//!   element of the survivors arrives exactly once and in order; the
//!   victim's elements that arrive are exactly a prefix of what it sent
//!   (it sends one element at a time, so at most its one claim in flight is
//!   lost), and the lost count is at most one (exactly one when it died
//!   holding a claim).
//! - `consumer_killed_holding_a_claim`: a consumer process dies holding a
//!   read claim; the producers still finish (the slot is freed after the
//!   stall timeout), the held element is the only one lost, and every other
//!   element arrives exactly once.
//!
//! - `truncated_segment_is_corrupt_not_sigbus`: a segment file truncated
//!   under live endpoints gives `Corrupt` on both sides, not a crash.
//!
//! Children are this test binary re-executed with `--exact <test>` and an
//! environment variable naming their role. Every wait is bounded; segments
//! are unlinked and children killed and reaped on every path.

use shmlane::mpmc::{Builder, Channel};
use shmlane::{RecvError, WaitConfig, WaitStrategy};
use std::collections::HashMap;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ROLE: &str = "SHMLANE_MPMC_ROLE";
const NAME: &str = "SHMLANE_MPMC_NAME";
const ID: &str = "SHMLANE_MPMC_ID";
const COUNT: &str = "SHMLANE_MPMC_COUNT";
const MODE: &str = "SHMLANE_MPMC_MODE";
const KILL_AT: &str = "SHMLANE_MPMC_KILL_AT";
const OUT: &str = "SHMLANE_MPMC_OUT";

const STALL: Duration = Duration::from_millis(200);
/// End reasons a consumer writes first in its output file.
const END_DISCONNECTED: u64 = 1;
const END_PEER_DIED: u64 = 2;

fn var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"))
}

fn fast_checks() -> WaitConfig {
    WaitConfig {
        strategy: WaitStrategy::default(),
        check_interval: Duration::from_millis(20),
    }
}

/// Runs the child role named in the environment, if any.
fn child() -> bool {
    let Ok(role) = std::env::var(ROLE) else {
        return false;
    };
    if role == "truncate-victim" {
        truncate_victim();
        return true;
    }
    let ch = Channel::<u64>::open(&var(NAME)).unwrap();
    match role.as_str() {
        "producer" => {
            let id: u64 = var(ID).parse().unwrap();
            let n: u64 = var(COUNT).parse().unwrap();
            let kill_at: Option<u64> = std::env::var(KILL_AT).ok().map(|s| s.parse().unwrap());
            let mut tx = ch.sender().unwrap();
            tx.set_wait_config(fast_checks());
            // Generated as sent ("single" streams may be endless).
            let vals = (0..n).map(|i| id << 32 | i);
            match var(MODE).as_str() {
                "single" => {
                    for (i, v) in vals.enumerate() {
                        if kill_at == Some(i as u64) {
                            let mut c = tx.claim_slot().unwrap();
                            *c = v;
                            // Die holding the claim, uncommitted.
                            // SAFETY: plain syscalls; the process ends here.
                            unsafe {
                                libc::kill(libc::getpid(), libc::SIGKILL);
                            }
                            unreachable!("SIGKILL returned");
                        }
                        tx.send(v).unwrap();
                    }
                }
                "batch" => {
                    let vals: Vec<u64> = vals.collect();
                    for c in vals.chunks(7) {
                        tx.send_slice(c).unwrap();
                    }
                }
                "claim" => {
                    for v in vals {
                        let mut c = tx.claim_slot().unwrap();
                        *c = v;
                        c.commit().unwrap();
                    }
                }
                m => panic!("mode {m}"),
            }
        }
        "consumer-victim" => {
            // Receives KILL_AT elements, then dies holding a read claim;
            // reports what it received and what it held.
            let kill_at: usize = var(KILL_AT).parse().unwrap();
            let mut rx = ch.receiver().unwrap();
            rx.set_wait_config(fast_checks());
            let mut got = Vec::new();
            let mut end = END_DISCONNECTED;
            while got.len() < kill_at {
                match rx.recv() {
                    Ok(v) => got.push(v),
                    Err(_) => break,
                }
            }
            let held = if got.len() == kill_at {
                rx.claim_slot().ok().map(|c| {
                    let v = *c;
                    std::mem::forget(c);
                    v
                })
            } else {
                None
            };
            if let Some(v) = held {
                end = v;
            }
            let mut bytes = end.to_le_bytes().to_vec();
            for v in got {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            std::fs::write(var(OUT), bytes).unwrap();
            if held.is_some() {
                // SAFETY: plain syscalls; the process ends here.
                unsafe {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                unreachable!("SIGKILL returned");
            }
        }
        "consumer" => {
            let mode = var(MODE);
            let mut rx = ch.receiver().unwrap();
            rx.set_wait_config(fast_checks());
            let mut got = Vec::new();
            let mut buf = [0u64; 8];
            let end = loop {
                let r = match mode.as_str() {
                    "single" => rx.recv().map(|v| got.push(v)),
                    "batch" => rx.recv_slice(&mut buf).map(|k| got.extend_from_slice(&buf[..k])),
                    "claim" => rx.claim_slot().map(|c| got.push(*c)),
                    m => panic!("mode {m}"),
                };
                match r {
                    Ok(()) => {}
                    Err(RecvError::Disconnected) => break END_DISCONNECTED,
                    Err(RecvError::PeerDied { .. }) => break END_PEER_DIED,
                    Err(e) => panic!("{e:?}"),
                }
            };
            let mut bytes = end.to_le_bytes().to_vec();
            for v in got {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            std::fs::write(var(OUT), bytes).unwrap();
        }
        r => panic!("role {r}"),
    }
    true
}

/// A child process reaped by a helper thread, so that waits can be bounded.
struct Kid {
    pid: u32,
    done: mpsc::Receiver<Output>,
    output: Option<Output>,
}

/// Kills (and so lets the helper threads reap) every child still running,
/// and unlinks the segment, on every path out of a test.
struct Cleanup {
    kids: Vec<Kid>,
    segment: String,
    files: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for k in &mut self.kids {
            if k.output.is_none() {
                // SAFETY: plain syscall; the pid is our unreaped child (its
                // helper thread has not returned), so it cannot be reused.
                unsafe {
                    libc::kill(k.pid as libc::pid_t, libc::SIGKILL);
                }
                let _ = k.done.recv_timeout(Duration::from_secs(10));
            }
        }
        let _ = shmlane::segment::unlink(&self.segment);
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

impl Cleanup {
    fn new(segment: String) -> Cleanup {
        Cleanup {
            kids: Vec::new(),
            segment,
            files: Vec::new(),
        }
    }

    fn spawn(&mut self, test: &str, envs: &[(&str, String)]) -> usize {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", test, "--nocapture", "--test-threads", "1"])
            .env(NAME, &self.segment)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let pid = child.id();
        let (tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output().unwrap());
        });
        self.kids.push(Kid {
            pid,
            done,
            output: None,
        });
        self.kids.len() - 1
    }

    /// Waits for child `i` until `deadline`; panics (after the cleanup
    /// kills everyone) if it does not exit in time.
    fn wait(&mut self, i: usize, deadline: Instant) -> &Output {
        let k = &mut self.kids[i];
        if k.output.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match k.done.recv_timeout(left) {
                Ok(o) => k.output = Some(o),
                Err(_) => panic!("child {} did not finish in time", k.pid),
            }
        }
        k.output.as_ref().unwrap()
    }

    fn wait_ok(&mut self, i: usize, deadline: Instant) {
        let o = self.wait(i, deadline);
        assert!(
            o.status.success(),
            "child failed: {:?}\n{}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    fn kill(&self, i: usize) {
        // SAFETY: plain syscall on our child, not yet reaped by us (the
        // helper thread reaps it only after it exits).
        unsafe {
            libc::kill(self.kids[i].pid as libc::pid_t, libc::SIGKILL);
        }
    }

    fn out_file(&mut self, tag: &str) -> String {
        let f = std::env::temp_dir()
            .join(format!("shmlane-mpmc-{}-{tag}", std::process::id()))
            .display()
            .to_string();
        self.files.push(f.clone());
        f
    }
}

/// A consumer's output: end reason and values.
fn read_out(path: &str) -> (u64, Vec<u64>) {
    let bytes = std::fs::read(path).unwrap();
    let words: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (words[0], words[1..].to_vec())
}

/// Checks per-consumer, per-producer order and no duplicates; returns each
/// producer's received sequence numbers, sorted.
fn by_producer(consumers: &[Vec<u64>]) -> HashMap<u64, Vec<u64>> {
    let mut all: HashMap<u64, Vec<u64>> = HashMap::new();
    for got in consumers {
        let mut last: HashMap<u64, u64> = HashMap::new();
        for &v in got {
            let (id, seq) = (v >> 32, v & 0xffff_ffff);
            if let Some(&prev) = last.get(&id) {
                assert!(seq > prev, "producer {id}: {seq} after {prev} in one consumer");
            }
            last.insert(id, seq);
            all.entry(id).or_default().push(seq);
        }
    }
    for seqs in all.values_mut() {
        seqs.sort_unstable();
        let n = seqs.len();
        seqs.dedup();
        assert_eq!(n, seqs.len(), "duplicates delivered");
    }
    all
}

/// xorshift64*, seeded from the clock (printed for reproduction).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("SHMLANE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        eprintln!("SHMLANE_TEST_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn create(name: &str, cap: usize) -> Channel<u64> {
    Builder::new()
        .capacity(cap)
        .endpoints(16)
        .stall_timeout(STALL)
        .create(name)
        .unwrap()
}

#[test]
#[cfg_attr(miri, ignore)]
fn three_producers_two_consumers() {
    if child() {
        return;
    }
    let test = "three_producers_two_consumers";
    let n: u64 = 20_000;
    let mut c = Cleanup::new(format!("/shmlane-mpmc-proc-{}-a", std::process::id()));
    let ch = create(&c.segment, 64);
    // Held until every producer has exited, so that no consumer sees
    // Disconnected before the last producer attached.
    let guard = ch.sender().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let outs: Vec<String> = (0..2).map(|i| c.out_file(&format!("a{i}"))).collect();
    let consumers: Vec<usize> = ["batch", "claim"]
        .iter()
        .zip(&outs)
        .map(|(m, out)| {
            c.spawn(
                test,
                &[(ROLE, "consumer".into()), (MODE, m.to_string()), (OUT, out.clone())],
            )
        })
        .collect();
    let producers: Vec<usize> = ["single", "batch", "claim"]
        .iter()
        .enumerate()
        .map(|(id, m)| {
            c.spawn(
                test,
                &[
                    (ROLE, "producer".into()),
                    (ID, id.to_string()),
                    (COUNT, n.to_string()),
                    (MODE, m.to_string()),
                ],
            )
        })
        .collect();
    for p in producers {
        c.wait_ok(p, deadline);
    }
    drop(guard);
    let mut got = Vec::new();
    for (k, out) in consumers.into_iter().zip(&outs) {
        c.wait_ok(k, deadline);
        let (end, vals) = read_out(out);
        assert_eq!(end, END_DISCONNECTED);
        got.push(vals);
    }
    assert!(got.iter().all(|g| !g.is_empty()) || n < 100, "both consumers took part");
    let all = by_producer(&got);
    for id in 0..3 {
        assert_eq!(all[&id], (0..n).collect::<Vec<u64>>(), "producer {id}");
    }
    let s = ch.stats();
    assert_eq!((s.sent, s.received, s.lost, s.depth), (3 * n, 3 * n, 0, 0));
    assert_eq!((s.senders, s.receivers), (0, 0));
}

#[test]
#[cfg_attr(miri, ignore)]
fn producer_killed_mid_stream() {
    if child() {
        return;
    }
    let test = "producer_killed_mid_stream";
    let rounds = 20;
    let survivors_n: u64 = 3_000;
    let mut rng = Rng::new();
    let started = Instant::now();
    for round in 0..rounds {
        let mut c = Cleanup::new(format!("/shmlane-mpmc-proc-{}-k{round}", std::process::id()));
        let ch = create(&c.segment, 32);
        let guard = ch.sender().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let outs: Vec<String> = (0..2).map(|i| c.out_file(&format!("k{round}-{i}"))).collect();
        let consumers: Vec<usize> = ["single", "batch"]
            .iter()
            .zip(&outs)
            .map(|(m, out)| {
                c.spawn(
                    test,
                    &[(ROLE, "consumer".into()), (MODE, m.to_string()), (OUT, out.clone())],
                )
            })
            .collect();
        // Even rounds: the victim kills itself holding a claim after
        // `kill_at` elements. Odd rounds: the parent kills it at a random
        // moment of a stream that never ends by itself (a finite one can
        // end before the kill on a fast machine).
        let self_kill = round % 2 == 0;
        let kill_at = rng.below(2_000);
        let mut victim_env = vec![
            (ROLE, "producer".to_string()),
            (ID, "0".to_string()),
            (MODE, "single".to_string()),
            (COUNT, if self_kill { 2_000 } else { u64::from(u32::MAX) }.to_string()),
        ];
        if self_kill {
            victim_env.push((KILL_AT, kill_at.to_string()));
        }
        let victim = c.spawn(test, &victim_env);
        let survivors: Vec<usize> = ["batch", "single"]
            .iter()
            .enumerate()
            .map(|(i, m)| {
                c.spawn(
                    test,
                    &[
                        (ROLE, "producer".into()),
                        (ID, (i + 1).to_string()),
                        (COUNT, survivors_n.to_string()),
                        (MODE, m.to_string()),
                    ],
                )
            })
            .collect();
        if !self_kill {
            // A random moment: not a synchronisation, the victim may be
            // anywhere in its stream (or not started yet).
            std::thread::sleep(Duration::from_micros(5_000 + rng.below(60_000)));
            c.kill(victim);
        }
        let status = c.wait(victim, deadline).status;
        assert!(!status.success(), "victim was not killed: {status:?}");
        for p in survivors {
            c.wait_ok(p, deadline);
        }
        drop(guard);
        let mut got = Vec::new();
        for (k, out) in consumers.into_iter().zip(&outs) {
            c.wait_ok(k, deadline);
            let (end, vals) = read_out(out);
            assert!(end == END_PEER_DIED || end == END_DISCONNECTED);
            got.push(vals);
        }
        let all = by_producer(&got);
        for id in 1..3 {
            assert_eq!(
                all[&id],
                (0..survivors_n).collect::<Vec<u64>>(),
                "round {round}: producer {id}"
            );
        }
        let victim_got = all.get(&0).cloned().unwrap_or_default();
        let m = victim_got.len() as u64;
        assert_eq!(
            victim_got,
            (0..m).collect::<Vec<u64>>(),
            "round {round}: victim's elements are a prefix"
        );
        let s = ch.stats();
        assert!(s.lost_sends <= 1, "round {round}: {s:?}");
        assert_eq!((s.lost_recvs, s.depth), (0, 0), "round {round}: {s:?}");
        assert_eq!(s.received, 2 * survivors_n + m, "round {round}: {s:?}");
        if self_kill {
            assert_eq!((m, s.lost_sends), (kill_at, 1), "round {round}: {s:?}");
        }
        eprintln!(
            "round {round}: {} victim committed {m}, lost {}",
            if self_kill { "self-kill," } else { "parent kill," },
            s.lost_sends
        );
    }
    eprintln!("{rounds} rounds in {:?}", started.elapsed());
}

#[test]
#[cfg_attr(miri, ignore)]
fn consumer_killed_holding_a_claim() {
    if child() {
        return;
    }
    let test = "consumer_killed_holding_a_claim";
    let n: u64 = 3_000;
    let mut rng = Rng::new();
    for round in 0..4 {
        let mut c = Cleanup::new(format!("/shmlane-mpmc-proc-{}-c{round}", std::process::id()));
        let ch = create(&c.segment, 16);
        let guard = ch.sender().unwrap();
        // A live receiver that reads nothing: producers wait for room
        // (instead of seeing only a dead receiver) until the survivor starts.
        let guard_rx = ch.receiver().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let (out_v, out_s) = (c.out_file(&format!("c{round}-v")), c.out_file(&format!("c{round}-s")));
        let kill_at = rng.below(200);
        let victim = c.spawn(
            test,
            &[
                (ROLE, "consumer-victim".into()),
                (KILL_AT, kill_at.to_string()),
                (OUT, out_v.clone()),
            ],
        );
        let producers: Vec<usize> = ["single", "batch"]
            .iter()
            .enumerate()
            .map(|(id, m)| {
                c.spawn(
                    test,
                    &[
                        (ROLE, "producer".into()),
                        (ID, id.to_string()),
                        (COUNT, n.to_string()),
                        (MODE, m.to_string()),
                    ],
                )
            })
            .collect();
        // The victim is the only reader until it dies holding a claim.
        let killed = !c.wait(victim, deadline).status.success();
        let survivor = c.spawn(
            test,
            &[(ROLE, "consumer".into()), (MODE, "batch".into()), (OUT, out_s.clone())],
        );
        // The producers finish although a dead consumer holds a slot.
        for p in producers {
            c.wait_ok(p, deadline);
        }
        drop(guard);
        drop(guard_rx);
        c.wait_ok(survivor, deadline);
        let (held, mut got_v) = read_out(&out_v);
        let (end, got_s) = read_out(&out_s);
        assert_eq!(end, END_DISCONNECTED);
        let s = ch.stats();
        assert!(killed, "round {round}: the victim did not die");
        assert_eq!(got_v.len() as u64, kill_at);
        assert_eq!(s.lost_recvs, 1, "round {round}: {s:?}");
        // The element it held is lost, the others arrive once.
        got_v.push(held);
        let all = by_producer(&[got_v, got_s]);
        for id in 0..2 {
            assert_eq!(all[&id], (0..n).collect::<Vec<u64>>(), "round {round}: producer {id}");
        }
        assert_eq!(
            (s.sent, s.received + s.lost_recvs, s.depth),
            (2 * n, 2 * n, 0),
            "round {round}: {s:?}"
        );
        eprintln!("round {round}: consumer killed holding a claim after {kill_at} elements");
    }
}

/// Creates a segment, truncates its file under live endpoints, and checks
/// that both sides report `Corrupt` (the SIGBUS guard absorbs the faults).
fn truncate_victim() {
    use shmlane::{TryRecvError, TrySendError};
    let name = var(NAME);
    let ch = create(&name, 1 << 12);
    let mut tx = ch.sender().unwrap();
    let mut rx = ch.receiver().unwrap();
    let fast = WaitConfig {
        strategy: WaitStrategy::Park,
        check_interval: Duration::from_millis(1),
    };
    tx.set_wait_config(fast);
    rx.set_wait_config(fast);
    for i in 0..100 {
        tx.send(i).unwrap();
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm{name}"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let (mut rx_corrupt, mut tx_corrupt) = (false, false);
    for _ in 0..500 {
        match rx.try_recv() {
            Err(TryRecvError::Corrupt { .. }) => rx_corrupt = true,
            Ok(_) | Err(TryRecvError::Empty) => {}
            Err(e) => panic!("{e:?}"),
        }
        match tx.try_send(1) {
            Err(TrySendError::Corrupt { .. }) => tx_corrupt = true,
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(e) => panic!("{e:?}"),
        }
        if rx_corrupt && tx_corrupt {
            break;
        }
        // Lets the 1 ms liveness-check interval pass (the check runs at
        // most once per interval); not a synchronisation.
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(rx_corrupt && tx_corrupt, "truncation never reported");
    assert!(matches!(rx.recv(), Err(RecvError::Corrupt { .. })));
}

#[test]
#[cfg_attr(miri, ignore)]
fn truncated_segment_is_corrupt_not_sigbus() {
    if child() {
        return;
    }
    // In a child: were the guard broken, only the child dies.
    let mut c = Cleanup::new(format!("/shmlane-mpmc-proc-{}-t", std::process::id()));
    let k = c.spawn(
        "truncated_segment_is_corrupt_not_sigbus",
        &[(ROLE, "truncate-victim".into())],
    );
    c.wait_ok(k, Instant::now() + Duration::from_secs(30));
}
