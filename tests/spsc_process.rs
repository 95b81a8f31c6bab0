//! Cross-process SPSC tests with real child processes (the test binary
//! re-executes itself): ordered delivery of 10 million u64s, SIGKILL of a
//! producer mid-stream (the consumer gets every committed message, then
//! `PeerDied` within a bound), SIGKILL of a consumer (a blocked producer gets
//! `PeerDied`), take-over of a dead producer's place, and anonymous segments
//! passed by inherited fd and over a unix socket.
#![cfg(not(miri))]

mod common;

use common::{env, role, spawn, unique_name, Unlink};
use shmlane::spsc::Channel;
use shmlane::{Error, RecvError, RecvTimeoutError, SendError};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

const TEN_MILLION: u64 = 10_000_000;
const BOUND: Duration = Duration::from_secs(20);

/// Consumer side of `ten_million_in_order`: exits 0 only if it saw every
/// value once, in order, and then a clean disconnect.
fn consume_in_order(name: &str, n: u64) {
    let mut rx = Channel::<u64>::open(name).unwrap().consumer().unwrap();
    let mut next = 0u64;
    let mut buf = vec![0u64; 1024];
    while next < n {
        if next.is_multiple_of(2) {
            let k = rx.pop_slice(&mut buf).unwrap();
            for v in &buf[..k] {
                assert_eq!(*v, next, "out of order or lost");
                next += 1;
            }
        } else {
            assert_eq!(rx.pop().unwrap(), next);
            next += 1;
        }
    }
    assert_eq!(rx.pop_timeout(BOUND), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn ten_million_in_order() {
    if role().as_deref() == Some("consumer") {
        return consume_in_order(&env("SEG"), TEN_MILLION);
    }
    if role().is_some() {
        return;
    }
    let name = unique_name("10m");
    let _u = Unlink(name.clone());
    let ch = Channel::<u64>::create(&name, 1 << 14).unwrap();
    let mut tx = ch.producer().unwrap();
    let mut child = spawn("ten_million_in_order", "consumer", &[("SEG", name.clone())]);
    // Half one by one, half in batches.
    let half = TEN_MILLION / 2;
    for i in 0..half {
        tx.push(i).unwrap();
    }
    let batch: Vec<u64> = (0..1000).collect();
    let mut i = half;
    while i < TEN_MILLION {
        let k = (TEN_MILLION - i).min(1000);
        let items: Vec<u64> = batch[..k as usize].iter().map(|b| b + i).collect();
        tx.push_slice(&items).unwrap();
        i += k;
    }
    drop(tx);
    assert!(child.wait_bounded(Duration::from_secs(120)).success());
    let s = ch.stats();
    assert_eq!((s.pushed, s.popped, s.depth), (TEN_MILLION, TEN_MILLION, 0));
}

/// Producer child: pushes 0, 1, 2, … until killed; prints "started" first.
fn produce_forever(name: &str, pause_after: Option<u64>) {
    let mut tx = Channel::<u64>::open(name).unwrap().producer().unwrap();
    println!("started");
    std::io::stdout().flush().unwrap();
    let mut i = 0u64;
    loop {
        if Some(i) == pause_after {
            std::thread::sleep(Duration::from_secs(3600));
        }
        tx.push(i).unwrap();
        i += 1;
    }
}

fn spawn_with_stdout(test: &str, role: &str, name: &str) -> (common::ChildGuard, BufReader<std::process::ChildStdout>) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1", "-q"])
        .env(common::ROLE_VAR, role)
        .env("SEG", name)
        .stdout(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (common::ChildGuard(Some(child)), out)
}

fn wait_line(out: &mut BufReader<std::process::ChildStdout>, want: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child exited before '{want}'");
        if line.trim() == want {
            return;
        }
    }
}

#[test]
fn killed_producer_gives_committed_then_peer_died() {
    match role().as_deref() {
        Some("producer") => return produce_forever(&env("SEG"), None),
        Some("pausing") => return produce_forever(&env("SEG"), Some(1000)),
        Some(_) => return,
        None => {}
    }
    // Kill while streaming (consumer mostly busy) and while the consumer is
    // blocked on an empty ring (producer paused).
    for (round, kind) in ["producer", "pausing", "producer", "pausing", "producer"]
        .iter()
        .enumerate()
    {
        let name = unique_name("kill");
        let _u = Unlink(name.clone());
        let ch = Channel::<u64>::create(&name, 256).unwrap();
        let mut rx = ch.consumer().unwrap();
        let (mut child, mut out) = spawn_with_stdout("killed_producer_gives_committed_then_peer_died", kind, &name);
        let pid = child.pid();
        wait_line(&mut out, "started");
        // Read some, then kill at a varying moment from another thread.
        let before = 500 + 300 * round as u64;
        let mut next = 0u64;
        while next < before.min(900) {
            assert_eq!(rx.pop_timeout(BOUND), Ok(next));
            next += 1;
        }
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5 * round as u64));
            child.kill();
        });
        let err = loop {
            match rx.pop_timeout(BOUND) {
                Ok(v) => {
                    assert_eq!(v, next, "lost or duplicated across the kill");
                    next += 1;
                }
                Err(e) => break e,
            }
        };
        killer.join().unwrap();
        assert_eq!(err, RecvTimeoutError::PeerDied { pid }, "after {next} messages");
        // Everything the producer committed was delivered.
        assert_eq!(ch.stats().pushed, next);
        assert_eq!(ch.stats().depth, 0);
    }
}

/// Consumer child: pops 10 and then sleeps holding the consumer place.
fn consume_then_hang(name: &str) {
    let mut rx = Channel::<u64>::open(name).unwrap().consumer().unwrap();
    for i in 0..10 {
        assert_eq!(rx.pop().unwrap(), i);
    }
    println!("started");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(3600));
}

#[test]
fn killed_consumer_unblocks_producer_and_can_be_replaced() {
    if role().as_deref() == Some("consumer") {
        return consume_then_hang(&env("SEG"));
    }
    if role().is_some() {
        return;
    }
    let name = unique_name("killc");
    let _u = Unlink(name.clone());
    let ch = Channel::<u64>::create(&name, 16).unwrap();
    let mut tx = ch.producer().unwrap();
    let (mut child, mut out) = spawn_with_stdout(
        "killed_consumer_unblocks_producer_and_can_be_replaced",
        "consumer",
        &name,
    );
    let pid = child.pid();
    for i in 0..10 {
        tx.push(i).unwrap();
    }
    wait_line(&mut out, "started");
    // While the consumer lives, its place is taken.
    assert!(matches!(ch.consumer(), Err(Error::EndpointBusy { pid: p, .. }) if p == pid));
    // Fill the ring; the producer blocks, then learns the consumer died.
    let mut i = 10;
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        child.kill();
    });
    let err = loop {
        match tx.push(i) {
            Ok(()) => i += 1,
            Err(e) => break e,
        }
    };
    killer.join().unwrap();
    assert!(
        matches!(err, SendError::PeerDied { value, pid: p } if value == i && p == pid),
        "{err:?}"
    );
    assert_eq!(i, 10 + 16, "exactly a ring's worth was pushed");
    // A new consumer takes the dead one's place and continues from its head.
    let mut rx = ch.consumer().unwrap();
    for want in 10..26 {
        assert_eq!(rx.pop_timeout(BOUND), Ok(want));
    }
    tx.push(26).unwrap();
    assert_eq!(rx.pop_timeout(BOUND), Ok(26));
}

#[test]
fn dead_producer_place_is_taken_over_and_continues() {
    if role().as_deref() == Some("producer") {
        return produce_forever(&env("SEG"), Some(100));
    }
    if role().is_some() {
        return;
    }
    let name = unique_name("takeover");
    let _u = Unlink(name.clone());
    let ch = Channel::<u64>::create(&name, 1024).unwrap();
    let (mut child, mut out) = spawn_with_stdout("dead_producer_place_is_taken_over_and_continues", "producer", &name);
    let pid = child.pid();
    wait_line(&mut out, "started");
    let mut rx = ch.consumer().unwrap();
    for i in 0..100 {
        assert_eq!(rx.pop_timeout(BOUND), Ok(i));
    }
    assert!(matches!(ch.producer(), Err(Error::EndpointBusy { pid: p, .. }) if p == pid));
    child.kill();
    let mut tx = ch.producer().expect("take over a dead producer's place");
    for i in 100..200 {
        tx.push(i).unwrap();
    }
    for i in 100..200 {
        assert_eq!(rx.pop_timeout(BOUND), Ok(i));
    }
    drop(tx);
    assert_eq!(rx.pop_timeout(BOUND), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn anonymous_segment_inherited_across_exec() {
    if role().as_deref() == Some("consumer") {
        use std::os::fd::FromRawFd;
        let fd: i32 = env("FD").parse().unwrap();
        // SAFETY: the parent passed this fd to us without close-on-exec and
        // nothing else in this process owns it.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let mut rx = Channel::<u64>::from_fd(owned).unwrap().consumer().unwrap();
        for i in 0..100_000 {
            assert_eq!(rx.pop().unwrap(), i);
        }
        assert_eq!(rx.pop(), Err(RecvError::Disconnected));
        return;
    }
    if role().is_some() {
        return;
    }
    use std::os::fd::AsRawFd;
    let ch = Channel::<u64>::anonymous(64).unwrap();
    let fd = ch.segment().unwrap().inheritable_fd().unwrap();
    let mut tx = ch.producer().unwrap();
    let mut child = spawn(
        "anonymous_segment_inherited_across_exec",
        "consumer",
        &[("FD", fd.as_raw_fd().to_string())],
    );
    drop(fd);
    for i in 0..100_000 {
        tx.push(i).unwrap();
    }
    drop(tx);
    assert!(child.wait_bounded(Duration::from_secs(60)).success());
}

#[test]
fn anonymous_segment_passed_over_unix_socket() {
    if role().as_deref() == Some("consumer") {
        let sock = std::os::unix::net::UnixStream::connect(env("SOCK")).unwrap();
        let fd = shmlane::segment::recv_fd(&sock).unwrap();
        let mut rx = Channel::<u32>::from_fd(fd).unwrap().consumer().unwrap();
        for i in 0..10_000 {
            assert_eq!(rx.pop().unwrap(), i);
        }
        assert_eq!(rx.pop(), Err(RecvError::Disconnected));
        return;
    }
    if role().is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("shmlane-sock-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let listener = std::os::unix::net::UnixListener::bind(&dir).unwrap();
    let ch = Channel::<u32>::anonymous(32).unwrap();
    let mut tx = ch.producer().unwrap();
    let mut child = spawn(
        "anonymous_segment_passed_over_unix_socket",
        "consumer",
        &[("SOCK", dir.to_string_lossy().into_owned())],
    );
    let (sock, _) = listener.accept().unwrap();
    use std::os::fd::AsFd;
    shmlane::segment::send_fd(&sock, ch.segment().unwrap().fd().unwrap().as_fd()).unwrap();
    for i in 0..10_000 {
        tx.push(i).unwrap();
    }
    drop(tx);
    assert!(child.wait_bounded(Duration::from_secs(60)).success());
    let _ = std::fs::remove_file(&dir);
}
