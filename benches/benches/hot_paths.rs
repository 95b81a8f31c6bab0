//! criterion micro-benchmarks of the hot paths, in one thread on the heap
//! (`Channel::in_process`), so that a change's cost to the code itself shows
//! in `cargo bench -p shmlane-bench` without the noise of cross-core cache
//! traffic (which `shmlane-bench`, the binary, measures).
//!
//! Each iteration is a push followed by a pop (the ring never fills), or a
//! batch of 64 through the slice and chunk APIs. The `c abi` groups make
//! the same calls through the C ABI's functions (`shmlane-ffi`, called
//! from Rust here: the cost of the boundary, the argument checks and the
//! run-time element size), next to the typed Rust calls.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shmlane::{broadcast, mpmc, spsc};
use shmlane_ffi as c;
use std::ffi::c_void;
use std::hint::black_box;
use std::ptr;

fn spsc_single(c: &mut Criterion) {
    let (mut tx, mut rx) = spsc::channel::<u64>(1024).unwrap();
    let mut g = c.benchmark_group("spsc");
    g.throughput(Throughput::Elements(1));
    g.bench_function("try_push+try_pop u64", |b| {
        let mut i = 0u64;
        b.iter(|| {
            tx.try_push(black_box(i)).unwrap();
            i += 1;
            black_box(rx.try_pop().unwrap())
        })
    });
    g.bench_function("push+pop u64 (blocking API, never blocks)", |b| {
        let mut i = 0u64;
        b.iter(|| {
            tx.push(black_box(i)).unwrap();
            i += 1;
            black_box(rx.pop().unwrap())
        })
    });
    g.bench_function("try_pop on empty", |b| b.iter(|| black_box(rx.try_pop().is_err())));
    g.finish();
}

fn spsc_batch(c: &mut Criterion) {
    let (mut tx, mut rx) = spsc::channel::<u64>(1024).unwrap();
    let items: Vec<u64> = (0..64).collect();
    let mut out = vec![0u64; 64];
    let mut g = c.benchmark_group("spsc batch of 64");
    g.throughput(Throughput::Elements(64));
    g.bench_function("push_slice+try_pop_slice", |b| {
        b.iter(|| {
            tx.push_slice(black_box(&items)).unwrap();
            black_box(rx.try_pop_slice(&mut out).unwrap())
        })
    });
    g.bench_function("reserve/commit + read_chunk/release", |b| {
        b.iter(|| {
            let mut w = tx.reserve(64).unwrap();
            let (a, z) = w.as_mut_slices();
            for (k, x) in a.iter_mut().chain(z.iter_mut()).enumerate() {
                *x = k as u64;
            }
            w.commit_all();
            let r = rx.read_chunk(64).unwrap();
            let (a, z) = r.as_slices();
            black_box(a.iter().chain(z).sum::<u64>())
        })
    });
    g.finish();
}

fn attach(c: &mut Criterion) {
    c.bench_function("spsc in-process channel create + attach both ends", |b| {
        b.iter_batched(|| (), |_| spsc::channel::<u64>(64).unwrap(), BatchSize::SmallInput)
    });
}

fn mpmc_single(c: &mut Criterion) {
    let (mut tx, mut rx) = mpmc::channel::<u64>(1024).unwrap();
    let mut g = c.benchmark_group("mpmc");
    g.throughput(Throughput::Elements(1));
    g.bench_function("try_send+try_recv u64", |b| {
        let mut i = 0u64;
        b.iter(|| {
            tx.try_send(black_box(i)).unwrap();
            i += 1;
            black_box(rx.try_recv().unwrap())
        })
    });
    g.bench_function("send+recv u64 (blocking API, never blocks)", |b| {
        let mut i = 0u64;
        b.iter(|| {
            tx.send(black_box(i)).unwrap();
            i += 1;
            black_box(rx.recv().unwrap())
        })
    });
    g.finish();
    let items: Vec<u64> = (0..64).collect();
    let mut out = vec![0u64; 64];
    let mut g = c.benchmark_group("mpmc batch of 64");
    g.throughput(Throughput::Elements(64));
    g.bench_function("send_slice+try_recv_slice", |b| {
        b.iter(|| {
            tx.send_slice(black_box(&items)).unwrap();
            black_box(rx.try_recv_slice(&mut out).unwrap())
        })
    });
    g.finish();
}

/// The broadcast ring's typed hot paths, one publisher and one subscriber
/// in one thread (so the ring never laps and the publisher is never held
/// back): the cost of the seqlock write and validated read themselves.
fn broadcast_single(c: &mut Criterion) {
    let mut g = c.benchmark_group("broadcast");
    g.throughput(Throughput::Elements(1));
    for policy in [broadcast::Policy::Block, broadcast::Policy::Overwrite] {
        let ch = broadcast::Builder::new()
            .capacity(1024)
            .policy(policy)
            .in_process::<u64>()
            .unwrap();
        let mut tx = ch.publisher().unwrap();
        let mut rx = ch.subscribe().unwrap();
        g.bench_function(format!("try_send+try_recv u64 ({policy:?})"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                tx.try_send(black_box(i)).unwrap();
                i += 1;
                black_box(rx.try_recv().unwrap())
            })
        });
        g.bench_function(format!("try_send+try_read u64 ({policy:?})"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                tx.try_send(black_box(i)).unwrap();
                i += 1;
                black_box(*rx.try_read().unwrap())
            })
        });
    }
    let ch = broadcast::Builder::new()
        .capacity(1024)
        .in_process::<[u64; 4]>()
        .unwrap();
    let mut tx = ch.publisher().unwrap();
    let mut rx = ch.subscribe().unwrap();
    g.bench_function("try_send+try_recv [u64; 4] (Block)", |b| {
        let mut i = 0u64;
        b.iter(|| {
            tx.try_send(black_box([i; 4])).unwrap();
            i += 1;
            black_box(rx.try_recv().unwrap())
        })
    });
    g.bench_function("try_recv on empty", |b| b.iter(|| black_box(rx.try_recv().is_err())));
    g.finish();
}

fn ok(s: c::shmlane_status) {
    assert_eq!(s, c::shmlane_status::SHMLANE_OK);
}

/// The C calls of the c-abi benchmark loops (blocking forms, timeout -1,
/// that never block here), one thread, anonymous rings.
fn c_abi(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("c abi");
    g.throughput(Throughput::Elements(1));
    let mut n = 0usize;
    // SAFETY (whole function): handles come from the create/attach calls
    // checked by `ok`, are used by this thread only and closed at the end;
    // every pointer argument points to a live local of the size passed.
    unsafe {
        let (mut f, mut fp, mut fc) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        ok(c::shmlane_fixed_anonymous(1024, 8, 8, &mut f));
        ok(c::shmlane_fixed_producer_attach(f, &mut fp));
        ok(c::shmlane_fixed_consumer_attach(f, &mut fc));
        g.bench_function("shmlane_fixed_push+pop u64", |b| {
            let (mut i, mut o) = (0u64, 0u64);
            b.iter(|| {
                ok(c::shmlane_fixed_push(fp, &i as *const u64 as *const c_void, 8, -1));
                i += 1;
                ok(c::shmlane_fixed_pop(
                    fc,
                    &mut o as *mut u64 as *mut c_void,
                    8,
                    &mut n,
                    -1,
                ));
                black_box(o)
            })
        });
        c::shmlane_fixed_producer_close(fp);
        c::shmlane_fixed_consumer_close(fc);
        c::shmlane_fixed_close(f);

        let (mut m, mut tx, mut rx) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        ok(c::shmlane_mpmc_anonymous(1024, 8, 8, ptr::null(), &mut m));
        ok(c::shmlane_mpmc_sender_attach(m, &mut tx));
        ok(c::shmlane_mpmc_receiver_attach(m, &mut rx));
        g.bench_function("shmlane_mpmc_send+recv u64", |b| {
            let (mut i, mut o) = (0u64, 0u64);
            b.iter(|| {
                ok(c::shmlane_mpmc_send(tx, &i as *const u64 as *const c_void, 8, -1));
                i += 1;
                ok(c::shmlane_mpmc_recv(
                    rx,
                    &mut o as *mut u64 as *mut c_void,
                    8,
                    &mut n,
                    -1,
                ));
                black_box(o)
            })
        });
        c::shmlane_mpmc_sender_close(tx);
        c::shmlane_mpmc_receiver_close(rx);
        c::shmlane_mpmc_close(m);

        let (mut ch, mut p, mut q) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        ok(c::shmlane_channel_anonymous(1 << 16, ptr::null(), &mut ch));
        ok(c::shmlane_producer_attach(ch, &mut p));
        ok(c::shmlane_consumer_attach(ch, &mut q));
        let msg = [0x5au8; 64];
        let mut buf = [0u8; 256];
        g.bench_function("shmlane_send+recv 64 B", |b| {
            b.iter(|| {
                ok(c::shmlane_send(p, msg.as_ptr() as *const c_void, 64, 0, -1));
                let s = c::shmlane_recv(q, buf.as_mut_ptr() as *mut c_void, 256, &mut n, ptr::null_mut(), -1);
                ok(s);
                black_box(buf[7])
            })
        });
        c::shmlane_producer_close(p);
        c::shmlane_consumer_close(q);
        c::shmlane_channel_close(ch);

        let (mut b, mut bp, mut bs) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        ok(c::shmlane_bcast_anonymous(1024, 8, 8, ptr::null(), &mut b));
        ok(c::shmlane_bcast_publisher_attach(b, &mut bp));
        ok(c::shmlane_bcast_subscribe(b, c::SHMLANE_BCAST_FROM_NEWEST, &mut bs));
        g.bench_function("shmlane_bcast_publish+recv u64 (Block)", |bch| {
            let (mut i, mut o) = (0u64, 0u64);
            bch.iter(|| {
                ok(c::shmlane_bcast_publish(bp, &i as *const u64 as *const c_void, 8, -1));
                i += 1;
                ok(c::shmlane_bcast_recv(
                    bs,
                    &mut o as *mut u64 as *mut c_void,
                    8,
                    &mut n,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    -1,
                ));
                black_box(o)
            })
        });
        c::shmlane_bcast_publisher_close(bp);
        c::shmlane_bcast_subscriber_close(bs);
        c::shmlane_bcast_close(b);
    }
    // The Rust calls of the shmlane-bytes row, for comparison.
    let ch = shmlane::bytes::Channel::in_process(1 << 16).unwrap();
    let (mut p, mut q) = (ch.producer().unwrap(), ch.consumer().unwrap());
    let msg = [0x5au8; 64];
    let mut buf = [0u8; 64];
    g.bench_function("Rust bytes send + read/copy 64 B", |b| {
        b.iter(|| {
            p.send(&msg).unwrap();
            let r = q.read().unwrap();
            buf.copy_from_slice(&r);
            black_box(buf[7])
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    spsc_single,
    spsc_batch,
    mpmc_single,
    broadcast_single,
    c_abi,
    attach
);
criterion_main!(benches);
