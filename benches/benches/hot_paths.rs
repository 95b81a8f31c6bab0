//! criterion micro-benchmarks of the hot paths, in one thread on the heap
//! (`Channel::in_process`), so that a change's cost to the code itself shows
//! in `cargo bench -p shmlane-bench` without the noise of cross-core cache
//! traffic (which `shmlane-bench`, the binary, measures).
//!
//! Each iteration is a push followed by a pop (the ring never fills), or a
//! batch of 64 through the slice and chunk APIs.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shmlane::spsc;
use std::hint::black_box;

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

criterion_group!(benches, spsc_single, spsc_batch, attach);
criterion_main!(benches);
