//! Hostile peer: an adversary process keeps writing random bytes into every
//! part of a live segment (header, endpoint table, control words, futex
//! words, data) while honest endpoints run. The honest endpoints must never
//! crash, hang or allocate without bound; they may return errors or wrong
//! data of the right size. Every honest call has a deadline, and the test
//! bounds the whole run; the number of operations, errors and bytes
//! scribbled is printed.
#![cfg(not(miri))]

mod common;

use common::{env, role, spawn, unique_name, Unlink};
use shmlane::spsc::Channel;
use shmlane::{WaitConfig, WaitStrategy};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_millis(1500);

/// xorshift64*: deterministic per seed, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn adversary(name: &str, seed: u64) {
    let path = format!("/dev/shm{name}");
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let len = f.metadata().unwrap().len();
    let mut rng = Rng(seed | 1);
    let gentle = seed.is_multiple_of(2);
    let start = Instant::now();
    let (mut writes, mut bytes) = (0u64, 0u64);
    while start.elapsed() < RUN {
        // Mostly small writes (words), sometimes a burst; biased to the
        // first pages where header, endpoints and control words live.
        let hot = !rng.next().is_multiple_of(4);
        let off = if hot {
            rng.next() % 4096.min(len)
        } else {
            rng.next() % len
        };
        let n = if rng.next().is_multiple_of(8) {
            1 + rng.next() % 256
        } else {
            1 + rng.next() % 8
        };
        let n = n.min(len - off) as usize;
        let buf: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        f.write_all_at(&buf, off).unwrap();
        writes += 1;
        bytes += n as u64;
        if gentle {
            // One write per ~100 µs: honest traffic flows between faults.
            std::thread::sleep(Duration::from_micros(100));
        } else if writes.is_multiple_of(64) {
            std::thread::yield_now();
        }
    }
    println!("adversary: {writes} writes, {bytes} bytes scribbled");
}

fn honest(name: &str) {
    let ch = Channel::<u64>::open(name).unwrap();
    let cfg = WaitConfig {
        strategy: WaitStrategy::SpinThenPark(Duration::from_micros(20)),
        check_interval: Duration::from_millis(5),
    };
    let mut tx = ch.producer().unwrap();
    let mut rx = ch.consumer().unwrap();
    tx.set_wait_config(cfg);
    rx.set_wait_config(cfg);
    let stop = Instant::now() + RUN;
    let p = std::thread::spawn(move || {
        let (mut ok, mut err) = (0u64, 0u64);
        let mut buf = [0u64; 64];
        while Instant::now() < stop {
            let r1 = tx.push_timeout(ok, Duration::from_millis(10)).is_ok();
            let r2 = tx.try_push_slice(&buf).is_ok();
            if let Ok(mut c) = tx.reserve_up_to(16) {
                let (a, b) = c.as_mut_slices();
                a.fill(1);
                b.fill(2);
                c.commit_all();
            }
            buf[0] = buf[0].wrapping_add(1);
            if r1 && r2 {
                ok += 1;
            } else {
                err += 1;
            }
        }
        (ok, err)
    });
    let (mut ok, mut err) = (0u64, 0u64);
    let mut out = [0u64; 64];
    while Instant::now() < stop {
        let a = rx.pop_timeout(Duration::from_millis(10)).is_ok();
        let b = rx.try_pop_slice(&mut out).is_ok();
        if let Ok(c) = rx.read_chunk(32) {
            let (x, y) = c.as_slices();
            assert!(x.len() + y.len() <= 32);
        }
        if a && b {
            ok += 1;
        } else {
            err += 1;
        }
    }
    let (pok, perr) = p.join().unwrap();
    println!("honest: producer {pok} ok / {perr} errors, consumer {ok} ok / {err} errors");
}

/// Runs the honest child and then the adversary child against a fresh
/// segment `create`d by the parent, for several seeds; `attached` says when
/// the honest side has attached (scribbling starts only then: an open of an
/// already-scribbled header is refused, rightly).
fn run_hostile<C>(test: &str, create: impl Fn(&str) -> C, attached: impl Fn(&C) -> bool) {
    for seed in 1..=4u64 {
        let name = unique_name("hostile");
        let _u = Unlink(name.clone());
        let ch = create(&name);
        let env = [("SEG", name.clone()), ("SEED", seed.to_string())];
        let mut h = spawn(test, "honest", &env);
        let t0 = Instant::now();
        while !attached(&ch) {
            assert!(t0.elapsed() < Duration::from_secs(30), "honest side never attached");
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut a = spawn(test, "adversary", &env);
        let ha = a.wait_bounded(Duration::from_secs(30));
        let hh = h.wait_bounded(Duration::from_secs(30));
        assert!(ha.success(), "adversary failed: {ha:?}");
        assert!(hh.success(), "honest endpoints crashed or failed (seed {seed}): {hh:?}");
    }
}

#[test]
fn spsc_survives_a_scribbling_peer() {
    match role().as_deref() {
        Some("adversary") => return adversary(&env("SEG"), env("SEED").parse().unwrap()),
        Some("honest") => return honest(&env("SEG")),
        Some(_) => return,
        None => {}
    }
    run_hostile(
        "spsc_survives_a_scribbling_peer",
        |name| Channel::<u64>::create(name, 64).unwrap(),
        |ch| {
            matches!(
                ch.stats(),
                shmlane::spsc::Stats {
                    producer: shmlane::spsc::Attachment::Attached { .. },
                    consumer: shmlane::spsc::Attachment::Attached { .. },
                    ..
                }
            )
        },
    );
}

fn honest_mpmc(name: &str) {
    let ch = shmlane::mpmc::Channel::<u64>::open(name).unwrap();
    let cfg = WaitConfig {
        strategy: WaitStrategy::SpinThenPark(Duration::from_micros(20)),
        check_interval: Duration::from_millis(5),
    };
    let stop = Instant::now() + RUN;
    let mut threads = Vec::new();
    for _ in 0..2 {
        let mut tx = ch.sender().unwrap();
        tx.set_wait_config(cfg);
        threads.push(std::thread::spawn(move || {
            let (mut ok, mut err) = (0u64, 0u64);
            let buf = [7u64; 16];
            while Instant::now() < stop {
                let a = tx.send_timeout(ok, Duration::from_millis(10)).is_ok();
                let b = tx.try_send_slice(&buf).is_ok();
                if let Ok(mut c) = tx.try_claim() {
                    *c = 3;
                    let _ = c.commit();
                }
                if a && b {
                    ok += 1;
                } else {
                    err += 1;
                }
            }
            (ok, err)
        }));
    }
    for _ in 0..2 {
        let mut rx = ch.receiver().unwrap();
        rx.set_wait_config(cfg);
        threads.push(std::thread::spawn(move || {
            let (mut ok, mut err) = (0u64, 0u64);
            let mut out = [0u64; 16];
            while Instant::now() < stop {
                let a = rx.recv_timeout(Duration::from_millis(10)).is_ok();
                let b = rx.try_recv_slice(&mut out).is_ok();
                if let Ok(c) = rx.try_claim() {
                    let _ = *c;
                    let _ = c.release();
                }
                if a && b {
                    ok += 1;
                } else {
                    err += 1;
                }
            }
            (ok, err)
        }));
    }
    let r: Vec<(u64, u64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    println!("honest mpmc (ok, errors) per endpoint: {r:?}");
}

#[test]
fn mpmc_survives_a_scribbling_peer() {
    match role().as_deref() {
        Some("adversary") => return adversary(&env("SEG"), env("SEED").parse().unwrap()),
        Some("honest") => return honest_mpmc(&env("SEG")),
        Some(_) => return,
        None => {}
    }
    run_hostile(
        "mpmc_survives_a_scribbling_peer",
        |name| {
            shmlane::mpmc::Builder::new()
                .capacity(64)
                .endpoints(8)
                .stall_timeout(Duration::from_millis(50))
                .create::<u64>(name)
                .unwrap()
        },
        |ch| {
            let s = ch.stats();
            s.senders >= 2 && s.receivers >= 2
        },
    );
}
