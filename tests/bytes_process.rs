//! Byte rings between processes: each test re-executes this test binary
//! as its children (`--exact <test> --nocapture` with `SHMLANE_BYTES_ROLE`
//! set), which open the ring by name or inherit it by fd.
//!
//! - MPSC, three producer processes with random message sizes: every
//!   message arrives intact (checksum) and in per-producer order.
//! - SPSC over an inherited anonymous (memfd) segment: same checks.
//! - SIGKILL of a producer mid-stream (SPSC and MPSC): the consumer gets
//!   every committed message intact and in order, then `PeerDied` with the
//!   child's pid, within a bound; an MPSC claim the child held when it died
//!   is skipped (counted as lost), never delivered torn; a deterministic
//!   variant kills an MPSC producer while it holds a written, uncommitted
//!   claim.
//!
//! Segment names include the pid; guards unlink segments and kill and reap
//! children on every exit path; every wait is bounded.

#![cfg(not(miri))]

use shmlane::bytes::{Builder, Channel};
use shmlane::layout::Kind;
use shmlane::{RecvTimeoutError, SendError};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const ROLE: &str = "SHMLANE_BYTES_ROLE";

/// Kills and reaps its children and unlinks its segment on drop.
struct Guard {
    children: Vec<Child>,
    segment: Option<String>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(n) = &self.segment {
            let _ = shmlane::segment::unlink(n);
        }
    }
}

fn spawn(test: &str, env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child test process")
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Message `seq` of producer `id`: id, seq, body, then an FNV checksum of
/// everything before it. Length from 16 to `max`.
fn make(id: u32, seq: u32, max: usize, rng: &mut u64) -> Vec<u8> {
    let len = 16 + (xorshift(rng) as usize) % (max - 15);
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&id.to_le_bytes());
    m.extend_from_slice(&seq.to_le_bytes());
    while m.len() < len - 8 {
        m.push(xorshift(rng) as u8);
    }
    let sum = fnv(&m);
    m.extend_from_slice(&sum.to_le_bytes());
    m
}

/// Checks a received message; returns (id, seq).
fn check(m: &[u8]) -> (u32, u32) {
    assert!(m.len() >= 16, "short message of {} bytes", m.len());
    let (body, sum) = m.split_at(m.len() - 8);
    assert_eq!(fnv(body), u64::from_le_bytes(sum.try_into().unwrap()), "checksum");
    (
        u32::from_le_bytes(m[..4].try_into().unwrap()),
        u32::from_le_bytes(m[4..8].try_into().unwrap()),
    )
}

/// Child: attach as a producer and send `count` messages (0 = until the
/// consumer is gone or 60 s pass).
fn child_producer(ch: Channel) {
    let id: u32 = env("SHMLANE_BYTES_ID").unwrap().parse().unwrap();
    let count: u32 = env("SHMLANE_BYTES_COUNT").unwrap().parse().unwrap();
    let mut tx = ch.producer().unwrap();
    if let Some(n) = env("SHMLANE_BYTES_PRODUCERS") {
        // Start together: a producer that finished before another attached
        // would let the consumers see "every producer came and went". Count
        // the entries ever held, not the live ones: the first producer may
        // finish and detach before the last one looks.
        let n: u32 = n.parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let attached_ever = || {
            let c = ch.stats().producers;
            c.alive + c.dead + c.free - c.never
        };
        while attached_ever() < n {
            assert!(Instant::now() < deadline, "the other producers never attached");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut rng = 0x1234_5678_9abc_def1u64 ^ (u64::from(id) << 40) ^ u64::from(std::process::id());
    let max = ch.max_message();
    let start = Instant::now();
    let mut seq = 0u32;
    while (count == 0 || seq < count) && start.elapsed() < Duration::from_secs(60) {
        let m = make(id, seq, max, &mut rng);
        // Zero-copy for odd messages, copying for even ones.
        let r = if seq % 2 == 1 {
            tx.claim(m.len()).map(|mut g| {
                g.copy_from_slice(&m);
                g.commit();
            })
        } else {
            tx.send(&m)
        };
        match r {
            Ok(()) => seq += 1,
            Err(SendError::Disconnected(())) if count == 0 => return,
            Err(e) => panic!("child {id}: {e:?}"),
        }
    }
    if env("SHMLANE_BYTES_HOLD").is_some() {
        // Claim one more message, write it, and never commit: the parent
        // kills us while we hold the claim.
        let m = make(id, seq, max, &mut rng);
        let mut g = tx.claim(m.len()).unwrap();
        g.copy_from_slice(&m);
        std::thread::sleep(Duration::from_secs(60));
        g.commit();
    }
}

/// Reads until `want` messages of `producers` producers arrived, checking
/// content and per-producer order.
fn consume(rx: &mut shmlane::bytes::Consumer, producers: usize, want: u64) {
    let mut next = vec![0u32; producers];
    let mut got = 0u64;
    while got < want {
        let batch = rx
            .read_batch_timeout(32, Duration::from_secs(30))
            .expect("messages keep coming");
        for r in &batch {
            let (id, seq) = check(&r);
            assert_eq!(seq, next[id as usize], "producer {id} out of order");
            next[id as usize] += 1;
            got += 1;
        }
    }
}

#[test]
fn mpsc_three_producer_processes() {
    const TEST: &str = "mpsc_three_producer_processes";
    if env(ROLE).as_deref() == Some("producer") {
        child_producer(Channel::open(&env("SHMLANE_BYTES_SEG").unwrap()).unwrap());
        return;
    }
    let name = format!("/shmlane-bytes-mpsc-{}", std::process::id());
    let ch = Builder::new()
        .kind(Kind::BytesMpsc)
        .endpoints(8)
        .max_message(700)
        .create(&name, 4096)
        .unwrap();
    let mut guard = Guard {
        children: Vec::new(),
        segment: Some(name.clone()),
    };
    let mut rx = ch.consumer().unwrap();
    let per = 3000u32;
    for id in 0..3u32 {
        guard.children.push(spawn(
            TEST,
            &[
                (ROLE, "producer".into()),
                ("SHMLANE_BYTES_SEG", name.clone()),
                ("SHMLANE_BYTES_ID", id.to_string()),
                ("SHMLANE_BYTES_COUNT", per.to_string()),
                ("SHMLANE_BYTES_PRODUCERS", "3".into()),
            ],
        ));
    }
    consume(&mut rx, 3, 3 * u64::from(per));
    for c in &mut guard.children {
        assert!(c.wait().unwrap().success(), "a producer process failed");
    }
    guard.children.clear();
    assert_eq!(
        rx.read_timeout(Duration::from_secs(10)).map(|r| r.len()),
        Err(RecvTimeoutError::Disconnected)
    );
    let st = ch.stats();
    assert_eq!((st.sent, st.received, st.lost), (3 * 3000, 3 * 3000, 0));
}

#[test]
fn spsc_over_inherited_memfd() {
    const TEST: &str = "spsc_over_inherited_memfd";
    if env(ROLE).as_deref() == Some("producer") {
        let fd: i32 = env("SHMLANE_BYTES_FD").unwrap().parse().unwrap();
        // SAFETY: the parent left this fd open (not close-on-exec) for us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        child_producer(Channel::from_fd(fd).unwrap());
        return;
    }
    let ch = Builder::new().max_message(1000).anonymous(8192).unwrap();
    let fd = ch.segment().unwrap().inheritable_fd().unwrap();
    let mut rx = ch.consumer().unwrap();
    let mut guard = Guard {
        children: vec![spawn(
            TEST,
            &[
                (ROLE, "producer".into()),
                ("SHMLANE_BYTES_FD", fd.as_raw_fd().to_string()),
                ("SHMLANE_BYTES_ID", "0".into()),
                ("SHMLANE_BYTES_COUNT", "5000".into()),
            ],
        )],
        segment: None,
    };
    drop(fd);
    consume(&mut rx, 1, 5000);
    assert!(guard.children[0].wait().unwrap().success());
    guard.children.clear();
    assert_eq!(
        rx.read_timeout(Duration::from_secs(10)).map(|r| r.len()),
        Err(RecvTimeoutError::Disconnected)
    );
}

/// A producer is SIGKILLed while streaming: the consumer gets an unbroken,
/// intact prefix of its messages (at least all it had counted as sent
/// before the kill), then `PeerDied` with its pid.
fn killed_producer(kind: Kind, test: &str) {
    if env(ROLE).as_deref() == Some("producer") {
        child_producer(Channel::open(&env("SHMLANE_BYTES_SEG").unwrap()).unwrap());
        return;
    }
    let name = format!("/shmlane-bytes-kill-{}-{}", kind.name(), std::process::id());
    let ch = Builder::new()
        .kind(kind)
        .endpoints(4)
        .max_message(500)
        .stall_timeout(Duration::from_millis(200))
        .create(&name, 2048)
        .unwrap();
    let mut guard = Guard {
        children: Vec::new(),
        segment: Some(name.clone()),
    };
    let mut rx = ch.consumer().unwrap();
    rx.set_wait_config(shmlane::WaitConfig {
        check_interval: Duration::from_millis(20),
        ..Default::default()
    });
    guard.children.push(spawn(
        test,
        &[
            (ROLE, "producer".into()),
            ("SHMLANE_BYTES_SEG", name.clone()),
            ("SHMLANE_BYTES_ID", "0".into()),
            ("SHMLANE_BYTES_COUNT", "0".into()),
        ],
    ));
    let pid = guard.children[0].id();
    let mut next = 0u32;
    let mut sent_at_kill = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let outcome = loop {
        assert!(Instant::now() < deadline, "no PeerDied within the bound");
        if sent_at_kill.is_none() && next >= 2000 {
            sent_at_kill = Some(ch.stats().sent);
            guard.children[0].kill().unwrap();
            guard.children[0].wait().unwrap();
        }
        match rx.read_timeout(Duration::from_secs(20)) {
            Ok(r) => {
                let (id, seq) = check(&r);
                assert_eq!((id, seq), (0, next), "order");
                next += 1;
            }
            Err(e) => break e,
        }
    };
    guard.children.clear();
    assert_eq!(outcome, RecvTimeoutError::PeerDied { pid });
    let sent_at_kill = sent_at_kill.expect("killed");
    let st = ch.stats();
    eprintln!("{test}: received {next}, sent before the kill {sent_at_kill}, final {st:?}");
    assert!(
        u64::from(next) >= sent_at_kill,
        "lost committed messages: got {next}, {sent_at_kill} were counted as sent"
    );
    assert_eq!(st.received, u64::from(next));
    // The counter is stored just after a commit: a kill in between leaves it one behind.
    assert!(st.received <= st.sent + 1, "{st:?}");
    if kind == Kind::Bytes {
        assert_eq!(st.lost, 0);
    } else {
        assert!(st.lost <= 1, "{st:?}");
    }
    assert_eq!(st.producers.dead, 1);
}

#[test]
fn spsc_killed_producer() {
    killed_producer(Kind::Bytes, "spsc_killed_producer");
}

#[test]
fn mpsc_killed_producer() {
    killed_producer(Kind::BytesMpsc, "mpsc_killed_producer");
}

#[test]
fn mpsc_producer_killed_holding_a_claim() {
    const TEST: &str = "mpsc_producer_killed_holding_a_claim";
    if env(ROLE).as_deref() == Some("producer") {
        child_producer(Channel::open(&env("SHMLANE_BYTES_SEG").unwrap()).unwrap());
        return;
    }
    let name = format!("/shmlane-bytes-hold-{}", std::process::id());
    let ch = Builder::new()
        .kind(Kind::BytesMpsc)
        .endpoints(4)
        .max_message(300)
        .stall_timeout(Duration::from_millis(100))
        .create(&name, 4096)
        .unwrap();
    let mut guard = Guard {
        children: Vec::new(),
        segment: Some(name.clone()),
    };
    let mut rx = ch.consumer().unwrap();
    rx.set_wait_config(shmlane::WaitConfig {
        check_interval: Duration::from_millis(20),
        ..Default::default()
    });
    guard.children.push(spawn(
        TEST,
        &[
            (ROLE, "producer".into()),
            ("SHMLANE_BYTES_SEG", name.clone()),
            ("SHMLANE_BYTES_ID", "0".into()),
            ("SHMLANE_BYTES_COUNT", "500".into()),
            ("SHMLANE_BYTES_HOLD", "1".into()),
        ],
    ));
    let pid = guard.children[0].id();
    consume(&mut rx, 1, 500);
    // Wait (bounded) until the held claim is visible: tail beyond head.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = ch.stats();
        if st.tail != st.head {
            break;
        }
        assert!(Instant::now() < deadline, "the child never claimed");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Still held: nothing to read, and the claimant is alive.
    assert!(matches!(
        rx.read_timeout(Duration::from_millis(300)).map(|r| r.len()),
        Err(RecvTimeoutError::Timeout)
    ));
    guard.children[0].kill().unwrap();
    guard.children[0].wait().unwrap();
    guard.children.clear();
    assert_eq!(
        rx.read_timeout(Duration::from_secs(30)).map(|r| r.to_vec()),
        Err(RecvTimeoutError::PeerDied { pid })
    );
    let st = ch.stats();
    assert_eq!((st.sent, st.received, st.lost, st.depth_bytes), (500, 500, 1, 0));
}

/// Child consumer: reads until `Disconnected` and prints one line per
/// message ("id seq") on stdout; with `SHMLANE_BYTES_HOLD`, reads one
/// message and holds it until killed.
fn child_consumer(ch: Channel) {
    let mut rx = ch.consumer().unwrap();
    if env("SHMLANE_BYTES_HOLD").is_some() {
        let r = rx.read_timeout(Duration::from_secs(30)).unwrap();
        check(&r);
        println!("HOLDING");
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let mut out = String::new();
    loop {
        match rx.read_batch_timeout(4, Duration::from_secs(30)) {
            Ok(b) => {
                for r in &b {
                    let (id, seq) = check(&r);
                    out.push_str(&format!("{id} {seq}\n"));
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("child consumer: {e:?}"),
        }
    }
    print!("BEGIN\n{out}END\n");
}

#[test]
fn mpmc_competing_consumer_processes() {
    const TEST: &str = "mpmc_competing_consumer_processes";
    match env(ROLE).as_deref() {
        Some("producer") => return child_producer(Channel::open(&env("SHMLANE_BYTES_SEG").unwrap()).unwrap()),
        Some("consumer") => return child_consumer(Channel::open(&env("SHMLANE_BYTES_SEG").unwrap()).unwrap()),
        _ => {}
    }
    let name = format!("/shmlane-bytes-mpmc-{}", std::process::id());
    let ch = Builder::new()
        .kind(Kind::BytesMpmc)
        .endpoints(8)
        .max_message(400)
        .create(&name, 4096)
        .unwrap();
    let mut guard = Guard {
        children: Vec::new(),
        segment: Some(name.clone()),
    };
    // Attach before the producers start, so that `Disconnected` means
    // "every producer came and went".
    let mut rx = ch.consumer().unwrap();
    let mut child_rx = Command::new(std::env::current_exe().unwrap());
    child_rx
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(ROLE, "consumer")
        .env("SHMLANE_BYTES_SEG", &name)
        .stdout(std::process::Stdio::piped());
    let consumer_child = child_rx.spawn().unwrap();
    let per = 2000u32;
    for id in 0..2u32 {
        guard.children.push(spawn(
            TEST,
            &[
                (ROLE, "producer".into()),
                ("SHMLANE_BYTES_SEG", name.clone()),
                ("SHMLANE_BYTES_ID", id.to_string()),
                ("SHMLANE_BYTES_COUNT", per.to_string()),
                ("SHMLANE_BYTES_PRODUCERS", "2".into()),
            ],
        ));
    }
    let mut mine = vec![Vec::new(); 2];
    loop {
        match rx.read_timeout(Duration::from_secs(30)) {
            Ok(r) => {
                let (id, seq) = check(&r);
                mine[id as usize].push(seq);
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    for c in &mut guard.children {
        assert!(c.wait().unwrap().success(), "a producer failed");
    }
    guard.children.clear();
    let output = consumer_child.wait_with_output().unwrap();
    assert!(output.status.success(), "the child consumer failed");
    let text = String::from_utf8(output.stdout).unwrap();
    let body = text
        .split("BEGIN\n")
        .nth(1)
        .and_then(|t| t.split("END\n").next())
        .expect("child report");
    let mut theirs = vec![Vec::new(); 2];
    for line in body.lines() {
        let mut it = line.split(' ').map(|x| x.parse::<u32>().unwrap());
        let (id, seq) = (it.next().unwrap(), it.next().unwrap());
        theirs[id as usize].push(seq);
    }
    eprintln!(
        "{TEST}: parent took {}, child took {}",
        mine.iter().map(Vec::len).sum::<usize>(),
        theirs.iter().map(Vec::len).sum::<usize>()
    );
    for id in 0..2 {
        for v in [&mine[id], &theirs[id]] {
            assert!(
                v.windows(2).all(|w| w[0] < w[1]),
                "a consumer saw producer {id} out of order"
            );
        }
        let mut all: Vec<u32> = mine[id].iter().chain(&theirs[id]).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..per).collect::<Vec<_>>(), "producer {id}: lost or duplicated");
    }
    let st = ch.stats();
    assert_eq!((st.sent, st.received, st.lost), (4000, 4000, 0));
}

#[test]
fn mpmc_consumer_killed_holding_a_record() {
    const TEST: &str = "mpmc_consumer_killed_holding_a_record";
    if env(ROLE).as_deref() == Some("consumer") {
        return child_consumer(Channel::open(&env("SHMLANE_BYTES_SEG").unwrap()).unwrap());
    }
    let name = format!("/shmlane-bytes-mpmc-kill-{}", std::process::id());
    let ch = Builder::new()
        .kind(Kind::BytesMpmc)
        .endpoints(4)
        .max_message(100)
        .create(&name, 1024)
        .unwrap();
    let _guard_seg = Guard {
        children: Vec::new(),
        segment: Some(name.clone()),
    };
    let mut tx = ch.producer().unwrap();
    tx.set_wait_config(shmlane::WaitConfig {
        check_interval: Duration::from_millis(20),
        ..Default::default()
    });
    let mut rng = 7u64;
    tx.send(&make(0, 0, 100, &mut rng)).unwrap();
    let mut holder = Command::new(std::env::current_exe().unwrap());
    holder
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(ROLE, "consumer")
        .env("SHMLANE_BYTES_SEG", &name)
        .env("SHMLANE_BYTES_HOLD", "1")
        .stdout(std::process::Stdio::piped());
    let mut child = Guard {
        children: vec![holder.spawn().unwrap()],
        segment: None,
    };
    // Wait (bounded) until the child says it holds message 0.
    let mut line = String::new();
    let stdout = child.children[0].stdout.take().unwrap();
    let mut reader = std::io::BufReader::new(stdout);
    loop {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap() > 0,
            "child exited"
        );
        if line.contains("HOLDING") {
            break;
        }
    }
    // Fill the ring behind the held record; a live holder blocks the space.
    let mut rx = ch.consumer().unwrap();
    let mut seq = 1u32;
    while tx.try_send(&make(0, seq, 100, &mut rng)).is_ok() {
        seq += 1;
    }
    let mut next = 1u32;
    while let Ok(r) = rx.try_read() {
        assert_eq!(check(&r), (0, next));
        next += 1;
    }
    assert_eq!(next, seq);
    assert!(
        tx.try_send(&make(0, seq, 100, &mut rng)).is_err(),
        "space held by a live consumer"
    );
    child.children[0].kill().unwrap();
    child.children[0].wait().unwrap();
    child.children.clear();
    // The producer finds the holder dead (within a check interval) and the
    // record is skipped: sends go on, nothing is delivered twice.
    let m = make(0, seq, 100, &mut rng);
    tx.send_timeout(&m, Duration::from_secs(30))
        .expect("room once the dead holder is skipped");
    assert_eq!(check(&rx.read_timeout(Duration::from_secs(30)).unwrap()), (0, seq));
    let st = ch.stats();
    assert_eq!(st.lost, 1);
    assert_eq!(st.received, u64::from(seq)); // seq - 1 here, 1 by the dead child
}
