//! The multi-producer / multi-consumer `u64` stream shared by every
//! transport that runs the shapes [`Pattern::Throughput`] (1P1C),
//! [`Pattern::Throughput2P1C`] and [`Pattern::Throughput1P2C`]: a transport
//! supplies a [`Tx`] and an [`Rx`] (one `send` / `recv` of one `u64`) and
//! these loops do the tagging, the checks, the timing and the aggregation,
//! across processes ([`run_parent`] / [`run_child`]) or across threads
//! ([`run_threads`]), so that shmlane, its peers and the in-process
//! references are driven by exactly the same code.
//!
//! # Messages
//! Producer `p` sends `tag(p, 0), tag(p, 1), …` (the producer id in the top
//! 8 bits, the sequence number in the low 56) for `warmup + measure` by its
//! own clock, then one end marker `tag(p, END_SEQ)` per consumer. In
//! [`Pattern::Batch`] (1P1C) it sends them `BATCH` at a time with
//! [`Tx::send_all`] and the consumer takes up to `BATCH` per
//! [`Rx::recv_some`], for transports with batch calls.
//!
//! # Checks (every message is checked, none is sampled)
//! - A consumer that is the only one ([`Pattern::Throughput`],
//!   [`Pattern::Throughput2P1C`]) must see each producer's numbers exactly
//!   in order, `0, 1, 2, …`: any loss, duplicate or reorder is a gap.
//! - With several consumers, each sees a subsequence of each producer's
//!   stream: it checks that the numbers of each producer strictly increase
//!   (per-producer FIFO, no duplicate within a consumer) and reports, per
//!   producer, how many it received and their sum. The parent then checks
//!   that, over all consumers, each producer's count equals what it sent and
//!   the sum equals `0 + 1 + … + (sent - 1)`: a lost message changes the
//!   count, a message delivered twice (to two consumers) changes it too, and
//!   a loss hidden by a duplicate changes the sum.
//! - Anything from a producer after one of its end markers, an unknown
//!   producer id, or a run without end markers fails the repetition.
//!
//! # Timing
//! Each consumer measures its own window: it starts `warmup` after the
//! consumer's first message and ends at its first end marker (so the tail,
//! when fewer producers are still running, is not counted). The rate of the
//! repetition is the sum of the consumers' rates. A consumer so slow that
//! its warm-up never ended before the first end marker (a queue that
//! stalls whenever a claimant is descheduled, for example) is measured from
//! its first message instead, so the row shows that rate rather than
//! failing.
//!
//! # Placement
//! Producers run on the child side of the CPU plan, consumers on the parent
//! side. Across processes every producer and every consumer is a child
//! process: the harness only creates the queue, starts them, and waits for
//! their reports (blocked, not polling), so it never runs a peer's code on a
//! hot path and a peer that spins forever on a killed claimant cannot hang
//! it. Across threads the main thread is consumer 0. With two CPUs, 2P1C
//! puts two producers on one CPU and 1P2C two consumers on the other: they
//! time-share it, and the note column says so.

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{ChildCtx, Harness, Side, Spawn};
use crate::measure::{check_mask, RunCfg, Sample, TxMeter};
use crate::sys::{self, bail, Error, Res};
use crate::transports::{Case, Pattern};

/// Bit position of the producer id in a message.
const ID_SHIFT: u32 = 56;
/// Low bits of a message: the sequence number.
const SEQ_MASK: u64 = (1 << ID_SHIFT) - 1;
/// Sequence number of an end marker.
const END_SEQ: u64 = SEQ_MASK;
/// Most producers a case may have.
pub const MAX_PRODUCERS: usize = 8;

/// Message `seq` of producer `p`.
#[inline(always)]
fn tag(p: usize, seq: u64) -> u64 {
    ((p as u64) << ID_SHIFT) | seq
}

/// The sending side of one producer.
///
/// Implementations mark their methods `#[inline(always)]`: the loops below
/// are generic over the transport, and a call left out of line costs every
/// message a call frame (measured on the shmlane MPMC 1P1C row: about a
/// fifth of its rate), which the hand-written loops of the SPSC and raw
/// rows, compared with these, do not pay. The same for [`Rx`].
pub trait Tx {
    /// Sends one `u64`, waiting (spinning or blocking, as the transport
    /// does) while the queue is full.
    fn send(&mut self, v: u64) -> Res<()>;

    /// Sends all of `vs` in order, with the transport's batch API where it
    /// has one ([`Pattern::Batch`]); by default one by one.
    fn send_all(&mut self, vs: &[u64]) -> Res<()> {
        for &v in vs {
            self.send(v)?;
        }
        Ok(())
    }
}

/// The receiving side of one consumer.
pub trait Rx {
    /// Receives one `u64`, waiting while the queue is empty.
    fn recv(&mut self) -> Res<u64>;

    /// Receives at least one and at most `out.len()` values into the front
    /// of `out`, with the transport's batch API where it has one; by
    /// default one.
    fn recv_some(&mut self, out: &mut [u64]) -> Res<usize> {
        out[0] = self.recv()?;
        Ok(1)
    }
}

/// Messages per `send_all` / most per `recv_some` in [`Pattern::Batch`],
/// as in the SPSC batch rows.
const BATCH: usize = crate::transports::raw_ring::BATCH as usize;

/// `(producers, consumers)` of a shape pattern; [`Pattern::Batch`] is the
/// one-producer one-consumer shape with batched calls.
pub fn shape_of(pattern: Pattern) -> Res<(usize, usize)> {
    match pattern {
        Pattern::Throughput | Pattern::Batch | Pattern::Throughput2P1C | Pattern::Throughput1P2C => {
            Ok(pattern.shape().expect("stream patterns have a shape"))
        }
        p => bail!("pattern {} is not a producer/consumer shape", p.name()),
    }
}

/// What a producer did.
#[derive(Clone, Copy, Debug)]
struct Produced {
    id: usize,
    /// Messages sent, numbered `0 .. sent`.
    sent: u64,
}

impl Produced {
    fn line(&self) -> String {
        format!("produced {} {}", self.id, self.sent)
    }

    fn parse(line: &str) -> Res<Produced> {
        let bad = || Error::new(format!("bad producer report {line:?}"));
        let mut it = line.split_whitespace();
        if it.next() != Some("produced") {
            return Err(bad());
        }
        let id = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let sent = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        Ok(Produced { id, sent })
    }
}

/// What a consumer saw.
#[derive(Clone, Debug)]
struct Consumed {
    /// Messages received in the measured window.
    msgs: u64,
    /// Length of the measured window.
    elapsed_ns: u64,
    /// Per producer: messages received and the (wrapping) sum of their
    /// sequence numbers.
    per: Vec<(u64, u64)>,
}

impl Consumed {
    fn line(&self) -> String {
        let mut s = format!("consumed {} {}", self.msgs, self.elapsed_ns);
        for (n, sum) in &self.per {
            s.push_str(&format!(" {n} {sum}"));
        }
        s
    }

    fn parse(line: &str) -> Res<Consumed> {
        let bad = || Error::new(format!("bad consumer report {line:?}"));
        let mut it = line.split_whitespace();
        if it.next() != Some("consumed") {
            return Err(bad());
        }
        let nums: Vec<u64> = it.map(|x| x.parse().map_err(|_| bad())).collect::<Res<_>>()?;
        if nums.len() < 2 || !nums.len().is_multiple_of(2) || nums.len() > 2 + 2 * MAX_PRODUCERS {
            return Err(bad());
        }
        Ok(Consumed {
            msgs: nums[0],
            elapsed_ns: nums[1],
            per: nums[2..].chunks(2).map(|c| (c[0], c[1])).collect(),
        })
    }
}

/// Producer `id` of a run with `consumers` consumers: sends for
/// `warmup + measure`, then one end marker per consumer.
fn produce(tx: &mut impl Tx, id: usize, consumers: usize, batch: bool, cfg: RunCfg) -> Res<Produced> {
    let meter = TxMeter::start(cfg, 8);
    let mut seq = 0u64;
    if batch {
        let mut buf = [0u64; BATCH];
        while !meter.done(0) {
            for (k, v) in buf.iter_mut().enumerate() {
                *v = tag(id, seq + k as u64);
            }
            tx.send_all(&buf)?;
            seq += BATCH as u64;
        }
    } else {
        while !meter.done(seq) {
            tx.send(tag(id, seq))?;
            seq += 1;
        }
    }
    for _ in 0..consumers {
        tx.send(tag(id, END_SEQ))?;
    }
    Ok(Produced { id, sent: seq })
}

/// The consumer's check and clock; `EXACT` when it is the only consumer.
struct Meter<const EXACT: bool> {
    producers: usize,
    ends_left: usize,
    /// Per producer: the next number expected (`EXACT`) or the smallest
    /// acceptable one; `END_SEQ` once the producer's end marker arrived.
    next: [u64; MAX_PRODUCERS],
    /// Per producer (not `EXACT`): messages received and sum of numbers.
    count: [u64; MAX_PRODUCERS],
    sum: [u64; MAX_PRODUCERS],
    /// Per producer (`EXACT`): messages received before the end marker.
    seen: [u64; MAX_PRODUCERS],
    total: u64,
    /// Messages until the next clock check (1: the first message checks).
    until_tick: u64,
    /// Clock checks are every `every` messages.
    every: u64,
    warmup: Duration,
    first: Option<Instant>,
    start: Option<(Instant, u64)>,
    end: Option<(Instant, u64)>,
}

impl<const EXACT: bool> Meter<EXACT> {
    fn new(producers: usize, cfg: RunCfg) -> Self {
        Meter {
            producers,
            ends_left: producers,
            next: [0; MAX_PRODUCERS],
            count: [0; MAX_PRODUCERS],
            sum: [0; MAX_PRODUCERS],
            seen: [0; MAX_PRODUCERS],
            total: 0,
            until_tick: 1,
            every: check_mask(8) + 1,
            warmup: cfg.warmup,
            first: None,
            start: None,
            end: None,
        }
    }

    /// Accounts for one message; `Ok(true)` once this consumer has its
    /// share of end markers (one per producer).
    #[inline(always)]
    fn on(&mut self, v: u64) -> Res<bool> {
        let p = (v >> ID_SHIFT) as usize;
        let s = v & SEQ_MASK;
        if p < self.producers && s != END_SEQ {
            let ok = if EXACT { s == self.next[p] } else { s >= self.next[p] };
            if ok {
                self.next[p] = s + 1;
                if !EXACT {
                    self.count[p] += 1;
                    self.sum[p] = self.sum[p].wrapping_add(s);
                }
                self.total += 1;
                self.until_tick -= 1;
                if self.until_tick == 0 {
                    self.tick();
                }
                return Ok(false);
            }
        }
        self.slow(p, s)
    }

    #[cold]
    fn tick(&mut self) {
        self.until_tick = self.every;
        if self.start.is_some() || self.end.is_some() {
            return;
        }
        let now = Instant::now();
        match self.first {
            None => self.first = Some(now),
            Some(f) if now >= f + self.warmup => self.start = Some((now, self.total)),
            Some(_) => {}
        }
    }

    #[cold]
    fn slow(&mut self, p: usize, s: u64) -> Res<bool> {
        if p >= self.producers {
            bail!(
                "message from producer {p}, but this case has {} producers",
                self.producers
            );
        }
        if s == END_SEQ {
            if self.end.is_none() {
                self.end = Some((Instant::now(), self.total));
            }
            if self.next[p] != END_SEQ {
                self.seen[p] = self.next[p];
                self.next[p] = END_SEQ;
            }
            if self.ends_left == 0 {
                bail!("more end markers than producers");
            }
            self.ends_left -= 1;
            return Ok(self.ends_left == 0);
        }
        if self.next[p] == END_SEQ {
            bail!("message {s} of producer {p} arrived after its end marker (reordered)");
        }
        if EXACT {
            bail!(
                "message {s} of producer {p} arrived where {} was expected (lost, duplicated or reordered)",
                self.next[p]
            )
        }
        bail!(
            "message {s} of producer {p} arrived after {} (duplicated or reordered)",
            self.next[p] - 1
        )
    }

    fn finish(self) -> Res<Consumed> {
        let Some((t1, n1)) = self.end else {
            bail!("no end marker after {} messages", self.total);
        };
        // Without a finished warm-up (a stalling queue), from the first
        // message on (it is not counted: the window starts at its arrival).
        let (t0, n0) = match (self.start, self.first) {
            (Some(s), _) => s,
            (None, Some(f)) => (f, 1),
            (None, None) => bail!("an end marker before any message"),
        };
        let per = (0..self.producers)
            .map(|p| {
                if EXACT {
                    // Numbers 0 .. seen, each once.
                    let n = self.seen[p];
                    (n, tri(n))
                } else {
                    (self.count[p], self.sum[p])
                }
            })
            .collect();
        Ok(Consumed {
            msgs: n1.saturating_sub(n0),
            elapsed_ns: t1.duration_since(t0).as_nanos() as u64,
            per,
        })
    }
}

/// `0 + 1 + … + (n - 1)`, wrapping.
fn tri(n: u64) -> u64 {
    if n.is_multiple_of(2) {
        (n / 2).wrapping_mul(n.wrapping_sub(1))
    } else {
        n.wrapping_mul((n - 1) / 2)
    }
}

/// One consumer of a run with `producers` producers and `consumers`
/// consumers, until it has its share of end markers.
fn consume(rx: &mut impl Rx, producers: usize, consumers: usize, batch: bool, cfg: RunCfg) -> Res<Consumed> {
    fn go<const EXACT: bool>(rx: &mut impl Rx, producers: usize, batch: bool, cfg: RunCfg) -> Res<Consumed> {
        let mut m = Meter::<EXACT>::new(producers, cfg);
        if batch {
            let mut buf = [0u64; BATCH];
            loop {
                let n = rx.recv_some(&mut buf)?;
                for (k, &v) in buf[..n].iter().enumerate() {
                    if m.on(v)? {
                        if k + 1 != n {
                            bail!("{} messages after this consumer's last end marker", n - k - 1);
                        }
                        return m.finish();
                    }
                }
            }
        }
        loop {
            let v = rx.recv()?;
            if m.on(v)? {
                return m.finish();
            }
        }
    }
    if producers == 1 && consumers == 1 && !batch {
        consume_1p1c(rx, cfg)
    } else if consumers == 1 {
        go::<true>(rx, producers, batch, cfg)
    } else {
        go::<false>(rx, producers, batch, cfg)
    }
}

/// The consumer of a 1P1C stream: the checks and the clock of
/// `Meter::<true>` with its one producer, whose messages are `0, 1, 2, …`
/// (producer id 0), with the next number and the messages left until the
/// next clock check held in locals across `recv`: per message, one compare,
/// two register updates and a branch, as in the loop of the SPSC row
/// (`measure::RxMeter`) that the 1P1C rows are compared with. Anything
/// else (a clock check, the end marker, a gap) goes through the meter.
fn consume_1p1c(rx: &mut impl Rx, cfg: RunCfg) -> Res<Consumed> {
    let mut m = Meter::<true>::new(1, cfg);
    let (mut next, mut until_tick) = (m.next[0], m.until_tick);
    loop {
        let v = rx.recv()?;
        if v == next && until_tick > 1 {
            next += 1;
            until_tick -= 1;
            continue;
        }
        // Every message so far came from producer 0, in order.
        (m.next[0], m.total, m.until_tick) = (next, next, until_tick);
        if m.on(v)? {
            return m.finish();
        }
        (next, until_tick) = (m.next[0], m.until_tick);
    }
}

/// Checks that every message of every producer was received exactly once
/// over all consumers, and sums the consumers' rates.
fn aggregate(produced: &[Produced], consumed: &[Consumed]) -> Res<Sample> {
    for (p, pr) in produced.iter().enumerate() {
        if pr.id != p {
            bail!("producer report {} where {p} was expected", pr.id);
        }
        let (mut n, mut sum) = (0u64, 0u64);
        for c in consumed {
            let (cn, cs) = c.per.get(p).copied().unwrap_or((0, 0));
            n += cn;
            sum = sum.wrapping_add(cs);
        }
        if n != pr.sent {
            bail!(
                "producer {p} sent {} messages, the consumers received {n} (lost or duplicated)",
                pr.sent
            );
        }
        if sum != tri(pr.sent) {
            bail!("producer {p}: the consumers received {n} messages but not each of 0..{n} once");
        }
    }
    let mut rate = 0.0;
    let mut msgs = 0u64;
    for c in consumed {
        if c.elapsed_ns == 0 {
            bail!("a consumer measured an empty window");
        }
        rate += c.msgs as f64 / (c.elapsed_ns as f64 * 1e-9);
        msgs += c.msgs;
    }
    if rate <= 0.0 {
        bail!("no message was received in the measured window");
    }
    // A sample of `msgs` messages in the time that makes msgs / elapsed the
    // summed rate.
    Ok(Sample::Throughput {
        msgs,
        elapsed: Duration::from_secs_f64(msgs as f64 / rate),
    })
}

/// Role of a child process: `producer-<id>` or `consumer-<id>` (consumers
/// are numbered for the command line only: they are interchangeable).
enum Role {
    Producer(usize),
    Consumer,
}

fn role_of(s: &str) -> Res<Role> {
    let bad = || Error::new(format!("unknown role {s:?}"));
    let (kind, id) = s.split_once('-').ok_or_else(bad)?;
    let id: usize = id.parse().map_err(|_| bad())?;
    match kind {
        "producer" => Ok(Role::Producer(id)),
        "consumer" => Ok(Role::Consumer),
        _ => Err(bad()),
    }
}

/// Parent side of one repetition across processes. The transport has
/// created its queue and passes the arguments a child needs to open it
/// (`extra`); this starts the producers (child side) and the consumers
/// (parent side), calls `opened` once every child is ready (to unlink
/// names), releases them, waits for their reports and checks them.
pub fn run_parent(
    h: &mut Harness,
    transport: &str,
    case: &Case,
    extra: &[String],
    opened: impl FnOnce(),
) -> Res<Sample> {
    let (producers, consumers) = shape_of(case.pattern)?;
    let mut specs = Vec::with_capacity(producers + consumers);
    for id in 0..producers {
        specs.push(Spawn::new(format!("producer-{id}"), Side::Child, extra.to_vec()));
    }
    for id in 0..consumers {
        specs.push(Spawn::new(format!("consumer-{id}"), Side::Parent, extra.to_vec()));
    }
    let mut kids = h.spawn_n(transport, case, &specs)?;
    opened();
    kids.go()?;
    let reports = kids.finish_reports()?;
    let produced = reports[..producers]
        .iter()
        .map(|l| Produced::parse(l))
        .collect::<Res<Vec<_>>>()?;
    let consumed = reports[producers..]
        .iter()
        .map(|l| Consumed::parse(l))
        .collect::<Res<Vec<_>>>()?;
    aggregate(&produced, &consumed)
}

/// Child side: opens a producer with `tx` or a consumer with `rx` (as the
/// role says), says ready, runs, and reports to the parent.
pub fn run_child<T: Tx, R: Rx>(
    ctx: &mut ChildCtx,
    tx: impl FnOnce(&ChildCtx) -> Res<T>,
    rx: impl FnOnce(&ChildCtx) -> Res<R>,
) -> Res<()> {
    let (producers, consumers) = shape_of(ctx.case.pattern)?;
    let batch = ctx.case.pattern == Pattern::Batch;
    match role_of(&ctx.role)? {
        Role::Producer(id) => {
            let mut t = tx(ctx)?;
            ctx.ready()?;
            let r = produce(&mut t, id, consumers, batch, ctx.case.cfg)?;
            drop(t);
            ctx.report(&r.line())
        }
        Role::Consumer => {
            let mut r = rx(ctx)?;
            ctx.ready()?;
            let c = consume(&mut r, producers, consumers, batch, ctx.case.cfg)?;
            drop(r);
            ctx.report(&c.line())
        }
    }
}

/// One repetition across threads of this process: one thread per producer
/// in `txs` (pinned to the child side), one per consumer in `rxs` but the
/// first (pinned to the parent side), and the calling thread as consumer 0.
pub fn run_threads<T: Tx + Send, R: Rx + Send>(h: &Harness, case: &Case, txs: Vec<T>, rxs: Vec<R>) -> Res<Sample> {
    let (producers, consumers) = shape_of(case.pattern)?;
    if txs.len() != producers || rxs.len() != consumers {
        bail!(
            "{} senders and {} receivers for a {producers}P{consumers}C case",
            txs.len(),
            rxs.len()
        );
    }
    let cfg = case.cfg;
    let batch = case.pattern == Pattern::Batch;
    let (pcpu, ccpu) = (h.pin.child, h.pin.parent);
    let mut rxs = rxs.into_iter();
    let mut first = rxs.next().expect("at least one consumer");
    thread::scope(|s| {
        let prod: Vec<_> = txs
            .into_iter()
            .enumerate()
            .map(|(id, mut t)| {
                s.spawn(move || {
                    if let Some(c) = pcpu {
                        sys::pin_to(c)?;
                    }
                    produce(&mut t, id, consumers, batch, cfg)
                })
            })
            .collect();
        let cons: Vec<_> = rxs
            .map(|mut r| {
                s.spawn(move || {
                    if let Some(c) = ccpu {
                        sys::pin_to(c)?;
                    }
                    consume(&mut r, producers, consumers, batch, cfg)
                })
            })
            .collect();
        let mine = consume(&mut first, producers, consumers, batch, cfg);
        drop(first);
        let mut produced = Vec::new();
        for p in prod {
            produced.push(p.join().map_err(|_| Error::new("producer thread panicked"))??);
        }
        let mut consumed = vec![mine?];
        for c in cons {
            consumed.push(c.join().map_err(|_| Error::new("consumer thread panicked"))??);
        }
        aggregate(&produced, &consumed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RunCfg {
        RunCfg {
            warmup: Duration::ZERO,
            measure: Duration::ZERO,
        }
    }

    #[test]
    fn tri_is_the_sum_below_n() {
        for n in 0..100u64 {
            assert_eq!(tri(n), (0..n).sum::<u64>(), "n = {n}");
        }
    }

    #[test]
    fn exact_meter_rejects_a_gap_and_data_after_the_end() {
        let mut m = Meter::<true>::new(2, cfg());
        assert!(!m.on(tag(0, 0)).unwrap());
        assert!(!m.on(tag(1, 0)).unwrap());
        assert!(m.on(tag(1, 2)).is_err());
        let mut m = Meter::<true>::new(2, cfg());
        assert!(!m.on(tag(0, 0)).unwrap());
        assert!(!m.on(tag(0, END_SEQ)).unwrap());
        assert!(m.on(tag(0, 1)).is_err());
        assert!(Meter::<true>::new(2, cfg()).on(tag(2, 0)).is_err());
    }

    #[test]
    fn gapped_meter_accepts_gaps_but_not_going_back() {
        let mut m = Meter::<false>::new(1, cfg());
        assert!(!m.on(tag(0, 0)).unwrap());
        assert!(!m.on(tag(0, 5)).unwrap());
        assert!(m.on(tag(0, 5)).is_err());
    }

    #[test]
    fn aggregate_catches_loss_and_duplicates_across_consumers() {
        let produced = [Produced { id: 0, sent: 4 }];
        let c = |per: Vec<(u64, u64)>| Consumed {
            msgs: 1,
            elapsed_ns: 1,
            per,
        };
        // 0,2 and 1,3: complete.
        assert!(aggregate(&produced, &[c(vec![(2, 2)]), c(vec![(2, 4)])]).is_ok());
        // 3 lost.
        assert!(aggregate(&produced, &[c(vec![(2, 2)]), c(vec![(1, 1)])]).is_err());
        // 3 lost, 1 delivered twice: the count matches, the sum does not.
        assert!(aggregate(&produced, &[c(vec![(2, 1)]), c(vec![(2, 3)])]).is_err());
    }

    #[test]
    fn reports_round_trip() {
        let p = Produced::parse(&Produced { id: 1, sent: 99 }.line()).unwrap();
        assert_eq!((p.id, p.sent), (1, 99));
        let c = Consumed {
            msgs: 5,
            elapsed_ns: 7,
            per: vec![(1, 2), (3, 4)],
        };
        let d = Consumed::parse(&c.line()).unwrap();
        assert_eq!((d.msgs, d.elapsed_ns, d.per), (5, 7, vec![(1, 2), (3, 4)]));
    }
}
