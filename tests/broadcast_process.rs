//! Broadcast across real processes (`src/broadcast/`): the test binary
//! re-executes itself as subscriber children (see `tests/common`).
//!
//! - Block: one publisher and three subscriber processes; every subscriber
//!   receives every message, intact and in order.
//! - Overwrite: the same shape with a small ring, so subscribers are
//!   lapped: every message a subscriber receives is intact (checksum) and
//!   in order, and received + reported lost = published.
//! - Crash: a subscriber process SIGKILLed under Block (it never reads)
//!   holds the publisher back only until the stall timeout (small here);
//!   then it is evicted and the live subscriber gets everything.

mod common;

use common::{spawn, ChildGuard, Unlink};
use shmlane::broadcast::{Builder, Channel, Policy, RecvError};
use shmlane::{WaitConfig, WaitStrategy};
use std::time::{Duration, Instant};

type M = [u64; 4];

fn message(i: u64) -> M {
    let a = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let b = !i ^ 0x5555_5555_5555_5555;
    [i, a, b, i ^ a ^ b ^ 0x1234_5678]
}

fn intact(m: &M) -> bool {
    m[1] == m[0].wrapping_mul(0x9e37_79b9_7f4a_7c15)
        && m[2] == !m[0] ^ 0x5555_5555_5555_5555
        && m[3] == m[0] ^ m[1] ^ m[2] ^ 0x1234_5678
}

/// Waits (bounded) until `n` subscribers are attached.
fn wait_subscribers(ch: &Channel<M>, n: u32, children: &mut [ChildGuard]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while ch.stats().subscribers < n {
        for c in children.iter_mut() {
            if let Some(st) = c.0.as_mut().unwrap().try_wait().unwrap() {
                panic!("subscriber child exited early: {st}");
            }
        }
        assert!(Instant::now() < deadline, "subscribers did not attach");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Child: subscribe, then receive until Disconnected, checking every
/// message; under Block expects all of 0..n, under Overwrite checks
/// received + lost == n.
fn subscriber_child() {
    let name = common::env("BCAST_NAME");
    let n: u64 = common::env("BCAST_N").parse().unwrap();
    let ch = Channel::<M>::open(&name).unwrap();
    let mut s = ch.subscribe().unwrap();
    s.set_wait_config(WaitConfig {
        strategy: WaitStrategy::SpinThenPark(Duration::from_micros(20)),
        check_interval: Duration::from_millis(20),
    });
    let block = ch.policy() == Policy::Block;
    let (mut received, mut lost, mut next) = (0u64, 0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match s.recv_timeout(Duration::from_secs(30)) {
            Ok(m) => {
                assert!(intact(&m), "torn message {m:?}");
                if block {
                    assert_eq!(m[0], next, "out of order or missing");
                } else {
                    assert!(m[0] >= next, "out of order: {} after {}", m[0], next);
                }
                next = m[0] + 1;
                received += 1;
            }
            Err(shmlane::broadcast::RecvTimeoutError::Lagged(k)) => {
                assert!(!block, "lagged under Block");
                lost += k;
            }
            Err(shmlane::broadcast::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("{e:?}"),
        }
        assert!(Instant::now() < deadline);
    }
    assert_eq!(received + lost, n, "received {received} + lost {lost}");
    if block {
        assert_eq!(received, n);
    }
    println!("subscriber received {received} lost {lost}");
}

fn fan_out(policy: Policy, cap: usize, n: u64, test: &str) {
    let name = common::unique_name(if policy == Policy::Block { "bcb" } else { "bco" });
    let _u = Unlink(name.clone());
    let ch = Builder::new().capacity(cap).policy(policy).create::<M>(&name).unwrap();
    let env = [("BCAST_NAME", name.clone()), ("BCAST_N", n.to_string())];
    let mut children: Vec<ChildGuard> = (0..3).map(|_| spawn(test, "sub", &env)).collect();
    wait_subscribers(&ch, 3, &mut children);
    let mut tx = ch.publisher().unwrap();
    tx.set_wait_config(WaitConfig {
        strategy: WaitStrategy::SpinThenPark(Duration::from_micros(20)),
        check_interval: Duration::from_millis(20),
    });
    for i in 0..n {
        tx.send(message(i)).unwrap();
    }
    drop(tx);
    for c in &mut children {
        assert!(c.wait_bounded(Duration::from_secs(60)).success(), "a subscriber failed");
    }
    let st = ch.stats();
    assert_eq!(st.published, n);
    if policy == Policy::Block {
        assert_eq!(st.lost, 0);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn block_three_subscriber_processes_get_everything_in_order() {
    if common::role().is_some() {
        return subscriber_child();
    }
    fan_out(
        Policy::Block,
        64,
        50_000,
        "block_three_subscriber_processes_get_everything_in_order",
    );
}

#[test]
#[cfg_attr(miri, ignore)]
fn overwrite_three_subscriber_processes_intact_and_accounted() {
    if common::role().is_some() {
        return subscriber_child();
    }
    fan_out(
        Policy::Overwrite,
        8,
        50_000,
        "overwrite_three_subscriber_processes_intact_and_accounted",
    );
}

#[test]
#[cfg_attr(miri, ignore)]
fn killed_subscriber_does_not_stop_the_publisher_beyond_the_stall() {
    if common::role().is_some() {
        // Subscribe and never read; the parent SIGKILLs us.
        let ch = Channel::<M>::open(&common::env("BCAST_NAME")).unwrap();
        let _s = ch.subscribe().unwrap();
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let name = common::unique_name("bck");
    let _u = Unlink(name.clone());
    let stall = Duration::from_millis(100);
    let ch = Builder::new()
        .capacity(8)
        .policy(Policy::Block)
        .stall_timeout(stall)
        .create::<M>(&name)
        .unwrap();
    let mut child = vec![spawn(
        "killed_subscriber_does_not_stop_the_publisher_beyond_the_stall",
        "stuck",
        &[("BCAST_NAME", name.clone())],
    )];
    wait_subscribers(&ch, 1, &mut child);
    let mut live = ch.subscribe().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = 0;
        loop {
            match live.recv() {
                Ok(m) => {
                    assert!(intact(&m) && m[0] == got);
                    got += 1;
                }
                Err(RecvError::Disconnected) => return got,
                Err(e) => panic!("{e:?}"),
            }
        }
    });
    let mut tx = ch.publisher().unwrap();
    tx.set_wait_config(WaitConfig {
        strategy: WaitStrategy::Park,
        check_interval: Duration::from_millis(10),
    });
    for i in 0..8 {
        tx.send(message(i)).unwrap();
    }
    // The stuck (alive) subscriber holds the publisher back: never evicted.
    assert!(tx.send_timeout(message(8), stall * 3).is_err());
    assert_eq!(ch.stats().evicted, 0);
    child[0].kill();
    // Dead: evicted after the stall; the bound here is generous for a
    // loaded machine, the point is that it ends.
    let t0 = Instant::now();
    tx.send_timeout(message(8), Duration::from_secs(20))
        .expect("publisher still held back by a dead subscriber");
    println!("publisher resumed {:?} after the kill", t0.elapsed());
    for i in 9..100 {
        tx.send(message(i)).unwrap();
    }
    drop(tx);
    assert_eq!(reader.join().unwrap(), 100);
    let st = ch.stats();
    assert_eq!((st.evicted, st.published), (1, 100));
}

// ---- Byte messages (`broadcast::bytes`): the same three scenarios with
// variable sizes (0..=MAX bytes) whose contents carry their number and a
// checksum.

use shmlane::broadcast::{BytesBuilder, BytesChannel};

const MAX: usize = 100;

fn bytes_message(i: u64) -> Vec<u8> {
    let len = (i.wrapping_mul(37) % (MAX as u64 + 1)) as usize;
    let mut v: Vec<u8> = (0..len)
        .map(|k| (i as usize).wrapping_mul(131).wrapping_add(k * 7) as u8)
        .collect();
    if len >= 8 {
        let sum = fnv(&v[8..]) ^ i;
        v[..8].copy_from_slice(&sum.to_le_bytes());
    }
    v
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3)
    })
}

fn bytes_intact(i: u64, m: &[u8]) -> bool {
    m == bytes_message(i) && (m.len() < 8 || u64::from_le_bytes(m[..8].try_into().unwrap()) == fnv(&m[8..]) ^ i)
}

fn bytes_subscriber_child() {
    let name = common::env("BCAST_NAME");
    let n: u64 = common::env("BCAST_N").parse().unwrap();
    let ch = BytesChannel::open(&name).unwrap();
    let mut s = ch.subscribe().unwrap();
    s.set_wait_config(WaitConfig {
        strategy: WaitStrategy::SpinThenPark(Duration::from_micros(20)),
        check_interval: Duration::from_millis(20),
    });
    let block = ch.policy() == Policy::Block;
    let (mut received, mut lost, mut next) = (0u64, 0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match s.read_timeout(Duration::from_secs(30)) {
            Ok(m) => {
                let i = m.number();
                assert!(bytes_intact(i, &m), "torn message {i}");
                if block {
                    assert_eq!(i, next, "out of order or missing");
                } else {
                    assert!(i >= next, "out of order: {i} after {next}");
                }
                next = i + 1;
                received += 1;
            }
            Err(shmlane::broadcast::RecvTimeoutError::Lagged(k)) => {
                assert!(!block, "lagged under Block");
                lost += k;
            }
            Err(shmlane::broadcast::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("{e:?}"),
        }
        assert!(Instant::now() < deadline);
    }
    assert_eq!(received + lost, n, "received {received} + lost {lost}");
    if block {
        assert_eq!(received, n);
    }
    println!("bytes subscriber received {received} lost {lost}");
}

fn wait_bytes_subscribers(ch: &BytesChannel, n: u32, children: &mut [ChildGuard]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while ch.stats().subscribers < n {
        for c in children.iter_mut() {
            if let Some(st) = c.0.as_mut().unwrap().try_wait().unwrap() {
                panic!("subscriber child exited early: {st}");
            }
        }
        assert!(Instant::now() < deadline, "subscribers did not attach");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn bytes_fan_out(policy: Policy, cap: usize, n: u64, test: &str) {
    let name = common::unique_name(if policy == Policy::Block { "bbb" } else { "bbo" });
    let _u = Unlink(name.clone());
    let ch = BytesBuilder::new()
        .capacity(cap)
        .max_message(MAX)
        .policy(policy)
        .create(&name)
        .unwrap();
    let env = [("BCAST_NAME", name.clone()), ("BCAST_N", n.to_string())];
    let mut children: Vec<ChildGuard> = (0..3).map(|_| spawn(test, "sub", &env)).collect();
    wait_bytes_subscribers(&ch, 3, &mut children);
    let mut tx = ch.publisher().unwrap();
    tx.set_wait_config(WaitConfig {
        strategy: WaitStrategy::SpinThenPark(Duration::from_micros(20)),
        check_interval: Duration::from_millis(20),
    });
    for i in 0..n {
        tx.send(&bytes_message(i)).unwrap();
    }
    drop(tx);
    for c in &mut children {
        assert!(c.wait_bounded(Duration::from_secs(60)).success(), "a subscriber failed");
    }
    let st = ch.stats();
    assert_eq!(st.published, n);
    if policy == Policy::Block {
        assert_eq!(st.lost, 0);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn bytes_block_three_subscriber_processes_get_everything_in_order() {
    if common::role().is_some() {
        return bytes_subscriber_child();
    }
    bytes_fan_out(
        Policy::Block,
        1024,
        30_000,
        "bytes_block_three_subscriber_processes_get_everything_in_order",
    );
}

#[test]
#[cfg_attr(miri, ignore)]
fn bytes_overwrite_three_subscriber_processes_intact_and_accounted() {
    if common::role().is_some() {
        return bytes_subscriber_child();
    }
    bytes_fan_out(
        Policy::Overwrite,
        512,
        30_000,
        "bytes_overwrite_three_subscriber_processes_intact_and_accounted",
    );
}

#[test]
#[cfg_attr(miri, ignore)]
fn bytes_killed_subscriber_is_evicted_after_the_stall() {
    if common::role().is_some() {
        let ch = BytesChannel::open(&common::env("BCAST_NAME")).unwrap();
        let _s = ch.subscribe().unwrap();
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let name = common::unique_name("bbk");
    let _u = Unlink(name.clone());
    let stall = Duration::from_millis(100);
    let ch = BytesBuilder::new()
        .capacity(512)
        .max_message(MAX)
        .policy(Policy::Block)
        .stall_timeout(stall)
        .create(&name)
        .unwrap();
    let mut child = vec![spawn(
        "bytes_killed_subscriber_is_evicted_after_the_stall",
        "stuck",
        &[("BCAST_NAME", name.clone())],
    )];
    wait_bytes_subscribers(&ch, 1, &mut child);
    let mut live = ch.subscribe().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = 0;
        loop {
            match live.read() {
                Ok(m) => {
                    assert!(m.number() == got && bytes_intact(got, &m));
                    got += 1;
                }
                Err(RecvError::Disconnected) => return got,
                Err(e) => panic!("{e:?}"),
            }
        }
    });
    let mut tx = ch.publisher().unwrap();
    tx.set_wait_config(WaitConfig {
        strategy: WaitStrategy::Park,
        check_interval: Duration::from_millis(10),
    });
    let mut i = 0;
    // Fill the ring: the stuck (alive) subscriber holds the publisher back.
    while tx.send_timeout(&bytes_message(i), stall * 3).is_ok() {
        i += 1;
        assert!(i < 1000, "never held back");
    }
    assert_eq!(ch.stats().evicted, 0);
    child[0].kill();
    tx.send_timeout(&bytes_message(i), Duration::from_secs(20))
        .expect("publisher still held back by a dead subscriber");
    for j in i + 1..i + 200 {
        tx.send(&bytes_message(j)).unwrap();
    }
    drop(tx);
    assert_eq!(reader.join().unwrap(), i + 200);
    let st = ch.stats();
    assert_eq!((st.evicted, st.published), (1, i + 200));
}
