//! Hostile peer: an adversary process keeps writing random bytes into every
//! part of a live segment (header, endpoint table, control words, futex
//! words, data) while honest endpoints run. The honest endpoints must never
//! crash, hang or allocate without bound; they may return errors or wrong
//! data of the right size. Every honest call has a deadline, and the test
//! bounds the whole run; the number of operations, errors and bytes
//! scribbled is printed.
#![cfg(not(miri))]

mod common;

use common::{env, role, spawn_piped, unique_name, Unlink};
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

/// Four modes, by seed: 1 and 2 scribble anywhere (biased to the first
/// page), 1 as fast as it can, 2 gently; 3 gently and only in the data area
/// (slots, record headers and payloads, from `data_off`); 4 gently and only
/// in the first page (header, endpoint table, control and futex words).
/// Seeds 5.. repeat the modes with other random streams.
fn adversary(name: &str, seed: u64, data_off: u64) {
    let path = format!("/dev/shm{name}");
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let len = f.metadata().unwrap().len();
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mode = (seed - 1) % 4 + 1;
    let gentle = mode != 1;
    let (lo, hi) = match mode {
        3 => (data_off.min(len - 8), len),
        4 => (0, 4096.min(data_off).min(len)),
        _ => (0, len),
    };
    let start = Instant::now();
    let (mut writes, mut words, mut bytes) = (0u64, 0u64, 0u64);
    while start.elapsed() < RUN {
        // Mostly small writes (words), sometimes a burst; biased to the
        // first pages where header, endpoints and control words live.
        let hot = mode <= 2 && !rng.next().is_multiple_of(4);
        let off = if hot {
            rng.next() % 4096.min(len)
        } else {
            lo + rng.next() % (hi - lo)
        };
        let buf: Vec<u8> = if rng.next().is_multiple_of(3) {
            // An aligned word with a plausible value (a small length, an
            // index near zero, a stamp-like odd number): these pass more
            // checks than random bits and reach deeper.
            let v = match rng.next() % 4 {
                0 => rng.next() % 512,
                1 => (rng.next() % 4096) & !7,
                2 => (rng.next() % 4096) | 1,
                _ => rng.next(),
            };
            let off = off & !7;
            if off + 8 > len {
                continue;
            }
            words += 1;
            f.write_all_at(&v.to_ne_bytes(), off).unwrap();
            writes += 1;
            bytes += 8;
            Vec::new()
        } else {
            let n = if rng.next().is_multiple_of(8) {
                1 + rng.next() % 256
            } else {
                1 + rng.next() % 8
            };
            let n = n.min(hi - off) as usize;
            (0..n).map(|_| rng.next() as u8).collect()
        };
        if !buf.is_empty() {
            f.write_all_at(&buf, off).unwrap();
            writes += 1;
            bytes += buf.len() as u64;
        }
        if gentle {
            // One write per ~100 µs: honest traffic flows between faults.
            std::thread::sleep(Duration::from_micros(100));
        } else if writes.is_multiple_of(64) {
            std::thread::yield_now();
        }
    }
    println!("adversary: {writes} faults injected ({words} plausible words), {bytes} bytes scribbled");
}

fn honest(name: &str) {
    let ch = Channel::<u64>::open(name).unwrap();
    let cfg = honest_cfg();
    let mut tx = ch.producer().unwrap();
    let mut rx = ch.consumer().unwrap();
    tx.set_wait_config(cfg);
    rx.set_wait_config(cfg);
    let stop = Instant::now() + RUN;
    let p = std::thread::spawn(move || {
        let mut buf = [0u64; 64];
        rounds(stop, |ok| {
            let r1 = tx.push_timeout(ok, Duration::from_millis(10)).is_ok();
            let r2 = tx.try_push_slice(&buf).is_ok();
            if let Ok(mut c) = tx.reserve_up_to(16) {
                let (a, b) = c.as_mut_slices();
                a.fill(1);
                b.fill(2);
                c.commit_all();
            }
            buf[0] = buf[0].wrapping_add(1);
            r1 && r2
        })
    });
    let mut out = [0u64; 64];
    let (ok, err) = rounds(stop, |_| {
        let a = rx.pop_timeout(Duration::from_millis(10)).is_ok();
        let b = rx.try_pop_slice(&mut out).is_ok();
        if let Ok(c) = rx.read_chunk(32) {
            let (x, y) = c.as_slices();
            assert!(x.len() + y.len() <= 32);
        }
        a && b
    });
    let (pok, perr) = p.join().unwrap();
    println!("honest: producer {pok} ok / {perr} errors, consumer {ok} ok / {err} errors");
}

/// Runs `round` until `stop`: a round that returns true counts as ok, any
/// other as an error; `round` gets the ok count so far. Returns both counts.
fn rounds(stop: Instant, mut round: impl FnMut(u64) -> bool) -> (u64, u64) {
    let (mut ok, mut err) = (0, 0);
    while Instant::now() < stop {
        if round(ok) {
            ok += 1;
        } else {
            err += 1;
        }
    }
    (ok, err)
}

/// How every honest endpoint waits: a short spin, then sleep; peers'
/// liveness checked often.
fn honest_cfg() -> WaitConfig {
    WaitConfig {
        strategy: WaitStrategy::SpinThenPark(Duration::from_micros(20)),
        check_interval: Duration::from_millis(5),
    }
}

/// In a child process of these tests, plays its role (the adversary, or
/// the honest side `honest`) and returns true; in the test process itself,
/// returns false.
fn child(honest: fn(&str)) -> bool {
    match role().as_deref() {
        Some("adversary") => adversary(&env("SEG"), env("SEED").parse().unwrap(), env("DATA").parse().unwrap()),
        Some("honest") => honest(&env("SEG")),
        Some(_) => {}
        None => return false,
    }
    true
}

/// Runs the honest child and then the adversary child against a fresh
/// segment `create`d by the parent, for several seeds; `attached` says when
/// the honest side has attached (scribbling starts only then: an open of an
/// already-scribbled header is refused, rightly). Prints the figures both
/// children report.
fn run_hostile<C>(test: &str, create: impl Fn(&str) -> C, data_off: impl Fn(&C) -> u64, attached: impl Fn(&C) -> bool) {
    // SHMLANE_HOSTILE_SEEDS runs more seeds (default 4: each mode once).
    let seeds: u64 = std::env::var("SHMLANE_HOSTILE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    for seed in 1..=seeds {
        let name = unique_name("hostile");
        let _u = Unlink(name.clone());
        let ch = create(&name);
        let env = [
            ("SEG", name.clone()),
            ("SEED", seed.to_string()),
            ("DATA", data_off(&ch).to_string()),
        ];
        let mut h = spawn_piped(test, "honest", &env);
        let t0 = Instant::now();
        while !attached(&ch) {
            assert!(t0.elapsed() < Duration::from_secs(30), "honest side never attached");
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut a = spawn_piped(test, "adversary", &env);
        let (ha, oa) = a.wait_output(Duration::from_secs(30));
        let (hh, oh) = h.wait_output(Duration::from_secs(30));
        assert!(ha.success(), "adversary failed: {ha:?}\n{oa}");
        assert!(
            hh.success(),
            "honest endpoints crashed or failed (seed {seed}): {hh:?}\n{oh}"
        );
        // The figures follow the harness's "test NAME ... " on its line.
        let figures: Vec<&str> = oa
            .lines()
            .chain(oh.lines())
            .filter_map(|l| l.find("adversary:").or_else(|| l.find("honest")).map(|i| &l[i..]))
            .collect();
        for l in &figures {
            println!("{test} seed {seed}: {l}");
        }
        assert_eq!(figures.len(), 2, "children printed no figures:\n{oa}\n{oh}");
    }
}

#[test]
fn spsc_survives_a_scribbling_peer() {
    if child(honest) {
        return;
    }
    run_hostile(
        "spsc_survives_a_scribbling_peer",
        |name| Channel::<u64>::create(name, 64).unwrap(),
        |ch| ch.segment().unwrap().header().placement.data_offset,
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
    let cfg = honest_cfg();
    let stop = Instant::now() + RUN;
    let mut threads = Vec::new();
    for _ in 0..2 {
        let mut tx = ch.sender().unwrap();
        tx.set_wait_config(cfg);
        threads.push(std::thread::spawn(move || {
            let buf = [7u64; 16];
            rounds(stop, |ok| {
                let a = tx.send_timeout(ok, Duration::from_millis(10)).is_ok();
                let b = tx.try_send_slice(&buf).is_ok();
                if let Ok(mut c) = tx.try_claim() {
                    *c = 3;
                    let _ = c.commit();
                }
                a && b
            })
        }));
    }
    for _ in 0..2 {
        let mut rx = ch.receiver().unwrap();
        rx.set_wait_config(cfg);
        threads.push(std::thread::spawn(move || {
            let mut out = [0u64; 16];
            rounds(stop, |_| {
                let a = rx.recv_timeout(Duration::from_millis(10)).is_ok();
                let b = rx.try_recv_slice(&mut out).is_ok();
                if let Ok(c) = rx.try_claim() {
                    let _ = *c;
                    let _ = c.release();
                }
                a && b
            })
        }));
    }
    let r: Vec<(u64, u64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    println!("honest mpmc (ok, errors) per endpoint: {r:?}");
}

#[test]
fn mpmc_survives_a_scribbling_peer() {
    if child(honest_mpmc) {
        return;
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
        |ch| ch.segment().unwrap().header().placement.data_offset,
        |ch| {
            let s = ch.stats();
            s.senders >= 2 && s.receivers >= 2
        },
    );
}

/// Lengths the honest byte producers send: a spread from empty to the
/// maximum, deterministic.
fn msg_len(i: u64, max: usize) -> usize {
    match i % 5 {
        0 => 0,
        1 => 1 + (i as usize % 15),
        2 => max,
        _ => (i as usize).wrapping_mul(2_654_435_761) % (max + 1),
    }
}

fn honest_bytes(name: &str) {
    use shmlane::bytes::Channel as Bytes;
    use shmlane::layout::Kind;
    let ch = Bytes::open(name).unwrap();
    let max = ch.max_message();
    let cfg = honest_cfg();
    let (producers, consumers) = match ch.kind() {
        Kind::Bytes => (1, 1),
        Kind::BytesMpsc => (2, 1),
        _ => (2, 2),
    };
    let stop = Instant::now() + RUN;
    let t = Duration::from_millis(10);
    let mut threads = Vec::new();
    for _ in 0..producers {
        let mut tx = ch.producer().unwrap();
        tx.set_wait_config(cfg);
        threads.push(std::thread::spawn(move || {
            let (mut ops, mut err) = (0u64, 0u64);
            let payload = vec![0x5au8; max];
            let mut i = 0u64;
            while Instant::now() < stop {
                i += 1;
                let n = msg_len(i, max);
                let mut r = [
                    tx.send_timeout(&payload[..n], t).is_ok(),
                    tx.try_send_with_type((i % 1000) as u32, &payload[..n / 2]).is_ok(),
                    true,
                    true,
                ];
                match tx.try_claim(n) {
                    Ok(mut g) => {
                        assert_eq!(g.len(), n, "a grant of the wrong size");
                        g.fill(0xa5);
                        g.set_type(7);
                        g.commit();
                    }
                    Err(_) => r[2] = false,
                }
                match tx.claim_timeout(n / 3, t) {
                    Ok(mut g) => {
                        g.fill(1);
                        // Dropped: an aborted claim becomes padding.
                    }
                    Err(_) => r[3] = false,
                }
                // Oversized: refused whatever the segment says.
                assert!(tx.try_send(&vec![0; max + 1]).is_err());
                ops += 5;
                err += r.iter().filter(|ok| !**ok).count() as u64;
            }
            (ops, err, 0)
        }));
    }
    for _ in 0..consumers {
        let mut rx = ch.consumer().unwrap();
        rx.set_wait_config(cfg);
        threads.push(std::thread::spawn(move || {
            let (mut ops, mut err, mut got) = (0u64, 0u64, 0u64);
            let mut buf = Vec::new();
            while Instant::now() < stop {
                let mut ok = 0;
                if let Ok(r) = rx.read_timeout(t) {
                    assert!(r.len() <= max, "record of {} bytes above max {max}", r.len());
                    std::hint::black_box(r.iter().fold(0u8, |a, b| a ^ b));
                    ok += 1;
                }
                if rx.try_recv(&mut buf).is_ok() {
                    ok += 1;
                }
                if rx.recv_timeout(&mut buf, t).is_ok() {
                    ok += 1;
                }
                assert!(
                    buf.len() <= max && buf.capacity() <= 2 * max.max(64),
                    "unbounded buffer"
                );
                if let Ok(b) = rx.try_read_batch(8) {
                    let mut k = 0;
                    for m in &b {
                        assert!(m.len() <= max);
                        k += 1;
                    }
                    assert!(k <= b.len() && b.len() <= 8);
                    ok += 1;
                }
                if let Ok(b) = rx.read_batch_timeout(usize::MAX, t) {
                    let k = b.iter().map(|m| assert!(m.len() <= max)).count();
                    assert!(k <= b.len());
                    ok += 1;
                }
                ops += 5;
                got += ok;
                err += 5 - ok;
            }
            (ops, err, got)
        }));
    }
    let r: Vec<(u64, u64, u64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ops: u64 = r.iter().map(|x| x.0).sum();
    let errs: u64 = r.iter().map(|x| x.1).sum();
    let got: u64 = r.iter().map(|x| x.2).sum();
    println!(
        "honest {}: {ops} operations ({got} successful reads), {errs} errors or empty/full; per endpoint (ops, errors, reads) {r:?}",
        ch.kind()
    );
}

fn bytes_hostile(test: &str, kind: shmlane::layout::Kind) {
    if child(honest_bytes) {
        return;
    }
    let (want_p, want_c) = match kind {
        shmlane::layout::Kind::Bytes => (1, 1),
        shmlane::layout::Kind::BytesMpsc => (2, 1),
        _ => (2, 2),
    };
    run_hostile(
        test,
        |name| {
            shmlane::bytes::Builder::new()
                .kind(kind)
                .endpoints(6)
                .max_message(200)
                .stall_timeout(Duration::from_millis(20))
                .create(name, 1024)
                .unwrap()
        },
        |ch| ch.segment().unwrap().header().placement.data_offset,
        |ch| {
            let s = ch.stats();
            s.producers.alive >= want_p && s.consumers.alive >= want_c
        },
    );
}

#[test]
fn bytes_spsc_survives_a_scribbling_peer() {
    bytes_hostile("bytes_spsc_survives_a_scribbling_peer", shmlane::layout::Kind::Bytes);
}

#[test]
fn bytes_mpsc_survives_a_scribbling_peer() {
    bytes_hostile(
        "bytes_mpsc_survives_a_scribbling_peer",
        shmlane::layout::Kind::BytesMpsc,
    );
}

#[test]
fn bytes_mpmc_survives_a_scribbling_peer() {
    bytes_hostile(
        "bytes_mpmc_survives_a_scribbling_peer",
        shmlane::layout::Kind::BytesMpmc,
    );
}

/// Honest broadcast endpoints: a publisher (single and batch sends) and
/// two subscribers (copies with a deadline, in-place reads, closures), on
/// whichever policy the segment was created with.
fn honest_bcast(name: &str) {
    let ch = shmlane::broadcast::Channel::<[u64; 3]>::open(name).unwrap();
    let cfg = honest_cfg();
    let stop = Instant::now() + RUN;
    let mut tx = ch.publisher().unwrap();
    tx.set_wait_config(cfg);
    let mut threads = vec![std::thread::spawn(move || {
        let batch = [[5u64; 3]; 8];
        rounds(stop, |ok| {
            let a = tx.send_timeout([ok, !ok, ok], Duration::from_millis(10)).is_ok();
            let b = tx.try_send_slice(&batch).is_ok();
            a && b
        })
    })];
    for _ in 0..2 {
        let mut rx = ch.subscribe().unwrap();
        rx.set_wait_config(cfg);
        threads.push(std::thread::spawn(move || {
            rounds(stop, |_| {
                let a = rx.recv_timeout(Duration::from_millis(10)).is_ok();
                let b = rx.try_read().map(|g| std::hint::black_box(*g)).is_ok();
                let c = rx.try_recv_with(|v| v[0] ^ v[1]).is_ok();
                a && b && c
            })
        }));
    }
    let r: Vec<(u64, u64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    println!("honest broadcast ({:?}) (ok, errors) per endpoint: {r:?}", ch.policy());
}

/// Honest byte-broadcast endpoints: a publisher (sends of every length up
/// to the maximum, held messages) and two subscribers (copies with a
/// deadline, in-place reads), every message no longer than the maximum.
fn honest_bcast_bytes(name: &str) {
    let ch = shmlane::broadcast::BytesChannel::open(name).unwrap();
    let max = ch.max_message();
    let cfg = honest_cfg();
    let stop = Instant::now() + RUN;
    let mut tx = ch.publisher().unwrap();
    tx.set_wait_config(cfg);
    let mut threads = vec![std::thread::spawn(move || {
        let payload = vec![0x3cu8; max];
        let mut i = 0u64;
        rounds(stop, |_| {
            i += 1;
            let len = msg_len(i, max);
            let a = tx.send_timeout(&payload[..len], Duration::from_millis(10)).is_ok();
            let b = tx.try_send_held(&payload[..len / 2]).is_ok();
            tx.flush();
            a && b
        })
    })];
    for _ in 0..2 {
        let mut rx = ch.subscribe().unwrap();
        rx.set_wait_config(cfg);
        threads.push(std::thread::spawn(move || {
            let mut buf = Vec::new();
            rounds(stop, |_| {
                let a = rx.recv_timeout(&mut buf, Duration::from_millis(10)).is_ok();
                assert!(buf.len() <= max, "message of {} bytes above max {max}", buf.len());
                let b = match rx.try_read() {
                    Ok(m) => {
                        assert!(
                            m.bytes().len() <= max,
                            "message of {} bytes above max {max}",
                            m.bytes().len()
                        );
                        std::hint::black_box(m.bytes().iter().map(|&x| u64::from(x)).sum::<u64>());
                        true
                    }
                    Err(_) => false,
                };
                a && b
            })
        }));
    }
    let r: Vec<(u64, u64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    println!(
        "honest broadcast bytes ({:?}) (ok, errors) per endpoint: {r:?}",
        ch.policy()
    );
}

/// The policy of the `n`th segment a broadcast test creates: seeds
/// alternate Block and Overwrite, so each policy meets two of the four
/// adversary modes.
fn bcast_policy(n: &std::cell::Cell<u32>) -> shmlane::broadcast::Policy {
    n.set(n.get() + 1);
    if n.get() % 2 == 1 {
        shmlane::broadcast::Policy::Block
    } else {
        shmlane::broadcast::Policy::Overwrite
    }
}

#[test]
fn broadcast_survives_a_scribbling_peer() {
    if child(honest_bcast) {
        return;
    }
    let made = std::cell::Cell::new(0);
    run_hostile(
        "broadcast_survives_a_scribbling_peer",
        |name| {
            shmlane::broadcast::Builder::new()
                .capacity(64)
                .endpoints(6)
                .policy(bcast_policy(&made))
                .stall_timeout(Duration::from_millis(20))
                .create::<[u64; 3]>(name)
                .unwrap()
        },
        |ch| ch.segment().unwrap().header().placement.data_offset,
        |ch| {
            let s = ch.stats();
            s.publisher_attached && s.subscribers >= 2
        },
    );
}

#[test]
fn broadcast_bytes_survives_a_scribbling_peer() {
    if child(honest_bcast_bytes) {
        return;
    }
    let made = std::cell::Cell::new(0);
    run_hostile(
        "broadcast_bytes_survives_a_scribbling_peer",
        |name| {
            shmlane::broadcast::BytesBuilder::new()
                .capacity(1024)
                .max_message(200)
                .endpoints(6)
                .policy(bcast_policy(&made))
                .stall_timeout(Duration::from_millis(20))
                .create(name)
                .unwrap()
        },
        |ch| ch.segment().unwrap().header().placement.data_offset,
        |ch| {
            let s = ch.stats();
            s.publisher_attached && s.subscribers >= 2
        },
    );
}
