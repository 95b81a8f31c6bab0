//! Crash matrix: for every ring kind, producers and consumers (separate
//! processes, re-executions of this binary) run under load while the parent
//! SIGKILLs one of them at a random point, reaps it and starts a
//! replacement, many times over. Afterwards every message is accounted for
//! against what each ring promises in its module docs:
//!
//! - every message whose commit returned is delivered exactly once, intact
//!   (each carries its producer, a sequence number and a checksum over the
//!   rest), and in per-producer order; a producer killed mid-claim never
//!   delivers anything torn;
//! - a killed consumer of a single-consumer ring (spsc, bytes, bytes-mpsc):
//!   what it released is never delivered again; what it was reading in place
//!   and had not released (at most one message here) is delivered to its
//!   successor exactly once (the successor continues from `head`);
//! - a killed consumer of a multi-consumer ring (mpmc, bytes-mpmc): what it
//!   released is never delivered again; what it had taken and not released
//!   is lost (at-most-once for the messages a dead consumer was given),
//!   never delivered twice, and counted in the ring's loss counters;
//! - survivors finish within bounds, and every replacement attaches (taking
//!   over the dead endpoint's entry when there is no other) and continues.
//!
//! Children log to append-only files, one `write(2)` of 16 bytes per
//! message: producers after the commit returned, consumers before the
//! release. So a kill leaves at most one message of the victim unaccounted
//! for on each side, and the checks allow exactly that.
//!
//! `SHMLANE_CRASH_ITERS` (kills per ring kind, default 100) runs more;
//! `SHMLANE_CRASH_SEED` replays a run. The figures (kills, messages) are
//! printed.
#![cfg(not(miri))]

mod common;

use common::{env, role, spawn, unique_name, ChildGuard, Unlink};
use shmlane::layout::Kind;
use shmlane::{RecvError, RecvTimeoutError, TryRecvError, WaitConfig, WaitStrategy};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bound on any child's run and on every wait of the parent.
const LIMIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ring {
    Spsc,
    Mpmc,
    Bytes,
    BytesMpsc,
    BytesMpmc,
}

impl Ring {
    fn name(self) -> &'static str {
        match self {
            Ring::Spsc => "spsc",
            Ring::Mpmc => "mpmc",
            Ring::Bytes => "bytes",
            Ring::BytesMpsc => "bytes-mpsc",
            Ring::BytesMpmc => "bytes-mpmc",
        }
    }

    fn parse(s: &str) -> Ring {
        [Ring::Spsc, Ring::Mpmc, Ring::Bytes, Ring::BytesMpsc, Ring::BytesMpmc]
            .into_iter()
            .find(|r| r.name() == s)
            .unwrap()
    }

    fn producers(self) -> usize {
        match self {
            Ring::Spsc | Ring::Bytes => 1,
            _ => 2,
        }
    }

    /// Competing consumers: a dead one's taken messages are lost.
    fn multi_consumer(self) -> bool {
        matches!(self, Ring::Mpmc | Ring::BytesMpmc)
    }

    fn consumers(self) -> usize {
        if self.multi_consumer() {
            2
        } else {
            1
        }
    }

    fn byte_kind(self) -> Kind {
        match self {
            Ring::BytesMpsc => Kind::BytesMpsc,
            Ring::BytesMpmc => Kind::BytesMpmc,
            _ => Kind::Bytes,
        }
    }
}

/// xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn key(id: u32, seq: u32) -> u64 {
    (u64::from(id) << 32) | u64::from(seq)
}

/// The element of the fixed-size rings: key and three check words.
type Elem = [u64; 4];

fn elem(id: u32, seq: u32) -> Elem {
    let k = key(id, seq);
    [k, mix(k), mix(k ^ 1), mix(k ^ 2)]
}

fn check_elem(e: &Elem) -> (u32, u32) {
    let (id, seq) = ((e[0] >> 32) as u32, e[0] as u32);
    assert_eq!(*e, elem(id, seq), "torn or forged element");
    (id, seq)
}

/// A byte message: the key, then 0..=150 bytes derived from it.
fn payload(id: u32, seq: u32, out: &mut Vec<u8>) {
    let k = key(id, seq);
    let n = (mix(k) % 151) as usize;
    out.clear();
    out.extend_from_slice(&k.to_le_bytes());
    out.extend((0..n).map(|i| (mix(k ^ (i as u64 / 8)) >> (8 * (i % 8))) as u8));
}

fn check_payload(m: &[u8]) -> (u32, u32) {
    assert!(m.len() >= 8, "message of {} bytes", m.len());
    let k = u64::from_le_bytes(m[..8].try_into().unwrap());
    let (id, seq) = ((k >> 32) as u32, k as u32);
    let mut want = Vec::new();
    payload(id, seq, &mut want);
    assert!(m == &want[..], "torn or forged message {id}/{seq}");
    (id, seq)
}

/// An append-only log of 16-byte entries: id, seq, position.
struct Log(std::fs::File);

impl Log {
    fn open(path: &str) -> Log {
        Log(std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap())
    }

    fn put(&mut self, id: u32, seq: u32, pos: u64) {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&id.to_le_bytes());
        b[4..8].copy_from_slice(&seq.to_le_bytes());
        b[8..].copy_from_slice(&pos.to_le_bytes());
        // One write(2) of 16 bytes: a kill lands before or after it.
        self.0.write_all(&b).unwrap();
    }
}

fn read_log(path: &Path) -> Vec<(u32, u32, u64)> {
    let mut v = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        f.read_to_end(&mut v).unwrap();
    }
    assert!(v.len().is_multiple_of(16), "torn log {}", path.display());
    v.chunks(16)
        .map(|c| {
            (
                u32::from_le_bytes(c[..4].try_into().unwrap()),
                u32::from_le_bytes(c[4..8].try_into().unwrap()),
                u64::from_le_bytes(c[8..].try_into().unwrap()),
            )
        })
        .collect()
}

fn log_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len() / 16).unwrap_or(0)
}

fn wait_cfg() -> WaitConfig {
    WaitConfig {
        strategy: WaitStrategy::SpinThenPark(Duration::from_micros(20)),
        check_interval: Duration::from_millis(5),
    }
}

/// Holds a claim open for a while, so that many kills land between a
/// claim and its commit.
fn dawdle() {
    let end = Instant::now() + Duration::from_micros(10);
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// Retries `op` (which returns whether it sent) until it succeeds; a
/// bounded wait for a replacement peer.
fn retry(mut op: impl FnMut() -> bool) {
    let end = Instant::now() + LIMIT;
    while !op() {
        assert!(Instant::now() < end, "could not send for {LIMIT:?}");
    }
}

fn producer_child() {
    let ring = Ring::parse(&env("RING"));
    let seg = env("SEG");
    let id: u32 = env("ID").parse().unwrap();
    let stop = PathBuf::from(env("STOP"));
    let mut log = Log::open(&env("LOG"));
    let t = Duration::from_millis(5);
    let stopped = |seq: u32| seq.is_multiple_of(16) && stop.exists();
    match ring {
        Ring::Spsc => {
            let ch = shmlane::spsc::Channel::<Elem>::open(&seg).unwrap();
            let mut tx = ch.producer().expect("re-attach as the SPSC producer");
            tx.set_wait_config(wait_cfg());
            for seq in 0.. {
                if stopped(seq) {
                    break;
                }
                retry(|| {
                    if seq % 3 == 0 {
                        // Zero copy: reserve, write in place, commit.
                        if let Ok(mut c) = tx.reserve(1) {
                            c.as_mut_slices().0[0] = elem(id, seq);
                            dawdle();
                            c.commit_all();
                            return true;
                        }
                    }
                    tx.push_timeout(elem(id, seq), t).is_ok()
                });
                log.put(id, seq, 0);
            }
        }
        Ring::Mpmc => {
            let ch = shmlane::mpmc::Channel::<Elem>::open(&seg).unwrap();
            let mut tx = ch.sender().expect("attach an MPMC sender");
            tx.set_wait_config(wait_cfg());
            for seq in 0.. {
                if stopped(seq) {
                    break;
                }
                retry(|| {
                    if seq % 3 == 0 {
                        if let Ok(mut c) = tx.try_claim() {
                            *c = elem(id, seq);
                            dawdle();
                            c.commit().expect("commit of a live claim");
                            return true;
                        }
                    }
                    tx.send_timeout(elem(id, seq), t).is_ok()
                });
                log.put(id, seq, 0);
            }
        }
        _ => {
            let ch = shmlane::bytes::Channel::open(&seg).unwrap();
            let mut tx = ch.producer().expect("attach a byte producer");
            tx.set_wait_config(wait_cfg());
            let mut buf = Vec::new();
            for seq in 0.. {
                if stopped(seq) {
                    break;
                }
                payload(id, seq, &mut buf);
                if seq % 7 == 3 {
                    // An aborted claim: padding, never delivered.
                    if let Ok(mut g) = tx.try_claim(buf.len()) {
                        g.copy_from_slice(&buf);
                        g.abort();
                    }
                }
                retry(|| {
                    if seq % 2 == 0 {
                        if let Ok(mut g) = tx.claim_timeout(buf.len(), t) {
                            g.copy_from_slice(&buf);
                            g.set_type(seq);
                            dawdle();
                            g.commit();
                            return true;
                        }
                        return false;
                    }
                    tx.send_timeout_with_type(seq, &buf, t).is_ok()
                });
                log.put(id, seq, 0);
            }
        }
    }
}

/// Whether a consumer that found the ring drained with no producer left
/// should stop: only once the parent says every producer has finished.
fn drained(done: &Path) -> bool {
    if done.exists() {
        return true;
    }
    // Waiting for a replacement producer.
    std::thread::sleep(Duration::from_micros(500));
    false
}

fn consumer_child() {
    let ring = Ring::parse(&env("RING"));
    let seg = env("SEG");
    let done = PathBuf::from(env("DONE"));
    let mut log = Log::open(&env("LOG"));
    let end = Instant::now() + LIMIT;
    match ring {
        Ring::Spsc => {
            let ch = shmlane::spsc::Channel::<Elem>::open(&seg).unwrap();
            let mut rx = ch.consumer().expect("re-attach as the SPSC consumer");
            rx.set_wait_config(wait_cfg());
            // We own head: our position is the released count.
            let mut pos = ch.stats().popped;
            while Instant::now() < end {
                let r = match rx.read_chunk(1) {
                    Ok(c) => {
                        let (id, seq) = check_elem(&c.as_slices().0[0]);
                        log.put(id, seq, pos);
                        dawdle();
                        c.release(1);
                        pos += 1;
                        continue;
                    }
                    Err(e) => e,
                };
                match r {
                    TryRecvError::Empty => {
                        let _ = rx.wait_for_items(1, Some(Duration::from_millis(5)));
                    }
                    TryRecvError::Disconnected | TryRecvError::PeerDied { .. } => {
                        if drained(&done) {
                            return;
                        }
                    }
                    e => panic!("{e:?}"),
                }
            }
        }
        Ring::Mpmc => {
            let ch = shmlane::mpmc::Channel::<Elem>::open(&seg).unwrap();
            let mut rx = ch.receiver().expect("attach an MPMC receiver");
            rx.set_wait_config(wait_cfg());
            while Instant::now() < end {
                match rx.claim_slot() {
                    Ok(c) => {
                        let (id, seq) = check_elem(&c);
                        log.put(id, seq, c.position());
                        dawdle();
                        c.release().expect("release of a live claim");
                    }
                    Err(RecvError::Disconnected | RecvError::PeerDied { .. }) => {
                        if drained(&done) {
                            return;
                        }
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        _ => {
            let ch = shmlane::bytes::Channel::open(&seg).unwrap();
            let mut rx = ch.consumer().expect("re-attach as a byte consumer");
            rx.set_wait_config(wait_cfg());
            while Instant::now() < end {
                match rx.read_timeout(Duration::from_millis(5)) {
                    Ok(r) => {
                        let (id, seq) = check_payload(&r);
                        assert_eq!(r.msg_type(), seq, "type word");
                        log.put(id, seq, r.position());
                        dawdle();
                        drop(r); // releases
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected | RecvTimeoutError::PeerDied { .. }) => {
                        if drained(&done) {
                            return;
                        }
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
    }
    panic!("consumer still running after {LIMIT:?}");
}

/// The parent's handle on the channel under test.
enum Chan {
    Spsc(shmlane::spsc::Channel<Elem>),
    Mpmc(shmlane::mpmc::Channel<Elem>),
    Bytes(shmlane::bytes::Channel),
}

impl Chan {
    fn create(ring: Ring, name: &str) -> Chan {
        let stall = Duration::from_millis(20);
        match ring {
            Ring::Spsc => Chan::Spsc(shmlane::spsc::Channel::create(name, 16).unwrap()),
            Ring::Mpmc => Chan::Mpmc(
                shmlane::mpmc::Builder::new()
                    .capacity(16)
                    .endpoints(6)
                    .stall_timeout(stall)
                    .create(name)
                    .unwrap(),
            ),
            _ => Chan::Bytes(
                shmlane::bytes::Builder::new()
                    .kind(ring.byte_kind())
                    .endpoints(5)
                    .max_message(200)
                    .stall_timeout(stall)
                    .create(name, 1024)
                    .unwrap(),
            ),
        }
    }

    /// The released position (`head`) of a single-consumer ring.
    fn head(&self) -> u64 {
        match self {
            Chan::Spsc(c) => c.stats().popped,
            Chan::Bytes(c) => c.stats().head,
            Chan::Mpmc(_) => unreachable!(),
        }
    }

    /// Messages counted lost by the ring: (dead producers' claims, dead
    /// consumers' takes); bytes rings count both in one figure.
    fn lost(&self) -> (u64, u64) {
        match self {
            Chan::Spsc(_) => (0, 0),
            Chan::Mpmc(c) => {
                let s = c.stats();
                (s.lost_sends, s.lost_recvs)
            }
            Chan::Bytes(c) => (c.stats().lost, 0),
        }
    }
}

/// One process the parent started, and its log.
struct Proc {
    id: u32,
    log: PathBuf,
    child: ChildGuard,
    /// Killed: for a consumer of a single-consumer ring, `head` right after.
    killed: Option<u64>,
}

fn run_matrix(test: &str, ring: Ring) {
    match role().as_deref() {
        Some("producer") => return producer_child(),
        Some("consumer") => return consumer_child(),
        Some(_) => return,
        None => {}
    }
    let kills: u64 = std::env::var("SHMLANE_CRASH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let seed: u64 = std::env::var("SHMLANE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| mix(u64::from(std::process::id()) ^ ring as u64) | 1);
    let mut rng = Rng(seed);
    let name = unique_name(&format!("crash-{}", ring.name()));
    let _unlink = Unlink(name.clone());
    let dir = std::env::temp_dir().join(name.trim_start_matches('/'));
    std::fs::create_dir_all(&dir).unwrap();
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(dir.clone());
    let (stop, done) = (dir.join("stop"), dir.join("done"));
    let ch = Chan::create(ring, &name);
    let start = Instant::now();

    let mut next_id = 0u32;
    let mut start_proc = |role: &str| -> Proc {
        let id = next_id;
        next_id += 1;
        let log = dir.join(format!("{role}-{id}"));
        let env = [
            ("RING", ring.name().to_string()),
            ("SEG", name.clone()),
            ("ID", id.to_string()),
            ("LOG", log.display().to_string()),
            ("STOP", stop.display().to_string()),
            ("DONE", done.display().to_string()),
        ];
        let child = spawn(test, role, &env);
        Proc {
            id,
            log,
            child,
            killed: None,
        }
    };
    let mut producers: Vec<Proc> = (0..ring.producers()).map(|_| start_proc("producer")).collect();
    let mut consumers: Vec<Proc> = (0..ring.consumers()).map(|_| start_proc("consumer")).collect();
    let mut dead_producers = Vec::new();
    let mut dead_consumers = Vec::new();
    let (mut producer_kills, mut consumer_kills) = (0u64, 0u64);

    for k in 0..kills {
        let kill_producer = k % 2 == 0;
        let (live, dead) = if kill_producer {
            (&mut producers, &mut dead_producers)
        } else {
            (&mut consumers, &mut dead_consumers)
        };
        let i = rng.below(live.len() as u64) as usize;
        // A random point: after the victim logged 1 to 40 more messages,
        // plus a random few microseconds.
        let target = log_len(&live[i].log) + 1 + rng.below(40);
        let t0 = Instant::now();
        while log_len(&live[i].log) < target {
            assert!(
                t0.elapsed() < LIMIT,
                "{} made no progress (log {})",
                ring.name(),
                live[i].log.display()
            );
            if let Some(st) = live[i].child.0.as_mut().unwrap().try_wait().unwrap() {
                panic!("{} {} exited early: {st:?}", ring.name(), live[i].log.display());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let spin = Instant::now() + Duration::from_micros(rng.below(300));
        while Instant::now() < spin {
            std::hint::spin_loop();
        }
        let mut victim = live.swap_remove(i);
        victim.child.kill(); // SIGKILL, then reaped
        if kill_producer {
            producer_kills += 1;
        } else {
            consumer_kills += 1;
            if !ring.multi_consumer() {
                // Nobody else moves head until the replacement attaches.
                victim.killed = Some(ch.head());
            }
        }
        if victim.killed.is_none() {
            victim.killed = Some(0);
        }
        dead.push(victim);
        let p = start_proc(if kill_producer { "producer" } else { "consumer" });
        if kill_producer {
            producers.push(p);
        } else {
            consumers.push(p);
        }
    }
    // Let the last replacements work a little, then stop the producers,
    // then the consumers once they have drained the ring.
    for p in &producers {
        let t0 = Instant::now();
        while log_len(&p.log) < 20 {
            assert!(t0.elapsed() < LIMIT, "last producer made no progress");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    std::fs::write(&stop, b"").unwrap();
    for p in &mut producers {
        let st = p.child.wait_bounded(LIMIT);
        assert!(st.success(), "{} producer {} failed: {st:?}", ring.name(), p.id);
    }
    std::fs::write(&done, b"").unwrap();
    for c in &mut consumers {
        let st = c.child.wait_bounded(LIMIT);
        assert!(st.success(), "{} consumer {} failed: {st:?}", ring.name(), c.id);
    }

    // What each producer committed (logged after the commit returned) and
    // whether it was killed (then one more may have been committed).
    let mut committed: HashMap<u32, (u32, bool)> = HashMap::new();
    for p in dead_producers.iter().chain(&producers) {
        let log = read_log(&p.log);
        for (n, &(id, seq, _)) in log.iter().enumerate() {
            assert_eq!((id, seq as usize), (p.id, n), "producer log out of order");
        }
        committed.insert(p.id, (log.len() as u32, p.killed.is_some()));
    }
    // Deliveries, consumer by consumer in the order they ran.
    let mut consumers_in_order: Vec<&Proc> = dead_consumers.iter().chain(&consumers).collect();
    consumers_in_order.sort_by_key(|c| c.id);
    let mut delivered: Vec<(u32, u32, u64)> = Vec::new();
    let mut redelivered = 0u64;
    for c in &consumers_in_order {
        let mut log = read_log(&c.log);
        // Per-producer order within one consumer.
        let mut last: HashMap<u32, u32> = HashMap::new();
        for &(id, seq, _) in &log {
            if let Some(&l) = last.get(&id) {
                assert!(
                    seq > l,
                    "{}: consumer {} got {id}/{seq} after {id}/{l}",
                    ring.name(),
                    c.id
                );
            }
            last.insert(id, seq);
        }
        if let (Some(head), false) = (c.killed, ring.multi_consumer()) {
            // Logged but not released (position at or after head): the
            // successor delivers it again, so it does not count here.
            let keep = log.iter().take_while(|e| e.2 < head).count();
            let unreleased = log.len() - keep;
            assert!(
                unreleased <= 1,
                "{}: {unreleased} messages held at the kill",
                ring.name()
            );
            assert!(
                log[keep..].iter().all(|e| e.2 >= head),
                "{}: released messages after an unreleased one",
                ring.name()
            );
            redelivered += unreleased as u64;
            log.truncate(keep);
        }
        delivered.extend(log);
    }
    // Exactly once.
    let mut seen = HashSet::new();
    for &(id, seq, _) in &delivered {
        assert!(seen.insert((id, seq)), "{}: {id}/{seq} delivered twice", ring.name());
        let (n, killed) = committed[&id];
        assert!(
            seq < n || (killed && seq == n),
            "{}: {id}/{seq} delivered but producer {id} committed {n}",
            ring.name()
        );
    }
    let mut missing = 0u64;
    for (&id, &(n, _)) in &committed {
        for seq in 0..n {
            if !seen.contains(&(id, seq)) {
                missing += 1;
                assert!(
                    ring.multi_consumer(),
                    "{}: committed message {id}/{seq} never delivered",
                    ring.name()
                );
            }
        }
    }
    if ring == Ring::Spsc {
        // One producer at a time: positions are the sequence of commits.
        for (i, w) in delivered.windows(2).enumerate() {
            assert_eq!(w[1].2, w[0].2 + 1, "spsc: delivery {i} skips or repeats a position");
        }
    }
    let (lost_sends, lost_recvs) = ch.lost();
    if ring.multi_consumer() {
        // At most one message taken and not released per killed consumer.
        assert!(
            missing <= consumer_kills,
            "{}: {missing} lost for {consumer_kills} kills",
            ring.name()
        );
        if ring == Ring::Mpmc {
            assert!(lost_recvs <= consumer_kills);
        }
    }
    let total: u32 = committed.values().map(|c| c.0).sum();
    println!(
        "crash matrix {}: seed {seed}, {} kills ({producer_kills} producers, {consumer_kills} consumers), \
         {} messages committed, {} delivered, {redelivered} redelivered to a successor, \
         {missing} lost with a killed consumer, ring counted lost: sends {lost_sends} recvs {lost_recvs}; {:?}",
        ring.name(),
        producer_kills + consumer_kills,
        total,
        delivered.len(),
        start.elapsed()
    );
}

#[test]
fn crash_matrix_spsc() {
    run_matrix("crash_matrix_spsc", Ring::Spsc);
}

#[test]
fn crash_matrix_mpmc() {
    run_matrix("crash_matrix_mpmc", Ring::Mpmc);
}

#[test]
fn crash_matrix_bytes() {
    run_matrix("crash_matrix_bytes", Ring::Bytes);
}

#[test]
fn crash_matrix_bytes_mpsc() {
    run_matrix("crash_matrix_bytes_mpsc", Ring::BytesMpsc);
}

#[test]
fn crash_matrix_bytes_mpmc() {
    run_matrix("crash_matrix_bytes_mpmc", Ring::BytesMpmc);
}
