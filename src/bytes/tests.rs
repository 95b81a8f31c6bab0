//! Unit tests of the byte rings on heap memory (also run under miri).

use super::*;
use crate::error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
use crate::wait::{WaitConfig, WaitStrategy};
use std::collections::VecDeque;
use std::time::Duration;

const KINDS: [Kind; 3] = [Kind::Bytes, Kind::BytesMpsc, Kind::BytesMpmc];

fn b(kind: Kind) -> Builder {
    Builder::new().kind(kind).endpoints(4)
}

/// Deterministic message of length `len` for sequence number `i`.
fn msg(i: u32, len: usize) -> Vec<u8> {
    (0..len).map(|k| (i as usize * 31 + k * 7) as u8).collect()
}

/// A small xorshift generator (tests must be reproducible).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn fifo_random_sizes_with_wraps_types_and_aborts() {
    for kind in KINDS {
        let ch = b(kind).max_message(100).in_process(256).unwrap();
        let (mut tx, mut rx) = (ch.producer().unwrap(), ch.consumer().unwrap());
        let mut model: VecDeque<(u32, Vec<u8>)> = VecDeque::new();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let rounds = if cfg!(miri) { 150 } else { 3000 };
        let mut seq = 0u32;
        for _ in 0..rounds {
            match rng.below(4) {
                0 | 1 => {
                    let len = rng.below(101);
                    let m = msg(seq, len);
                    let abort = rng.below(5) == 0;
                    let mut full_while_empty = false;
                    match tx.try_claim(len) {
                        Ok(mut g) => {
                            assert_eq!(g.len(), len);
                            g.copy_from_slice(&m);
                            if abort {
                                drop(g);
                            } else {
                                g.set_type(seq);
                                g.commit();
                                model.push_back((seq, m));
                            }
                            seq += 1;
                        }
                        Err(TrySendError::Full(())) => full_while_empty = model.is_empty(),
                        Err(e) => panic!("{e:?}"),
                    }
                    if full_while_empty {
                        // Only padding left (aborted MPSC claims): the
                        // consumer skips it, and then there is room.
                        assert_eq!(rx.try_read().unwrap_err(), TryRecvError::Empty);
                        assert!(tx.try_claim(len).is_ok(), "full while empty ({kind})");
                    }
                }
                2 => match rx.try_read() {
                    Ok(r) => {
                        let (ty, m) = model.pop_front().expect("read from an empty model");
                        assert_eq!(r.msg_type(), ty);
                        assert_eq!(&r[..], &m[..]);
                    }
                    Err(TryRecvError::Empty) => assert!(model.is_empty(), "{kind}: empty with {} queued", model.len()),
                    Err(e) => panic!("{e:?}"),
                },
                _ => match rx.try_read_batch(1 + rng.below(4)) {
                    Ok(batch) => {
                        let n = batch.len();
                        let mut seen = 0;
                        for r in &batch {
                            let (ty, m) = model.pop_front().expect("batch longer than model");
                            assert_eq!((r.msg_type(), r.data()), (ty, &m[..]));
                            seen += 1;
                        }
                        assert_eq!(seen, n);
                    }
                    Err(TryRecvError::Empty) => assert!(model.is_empty()),
                    Err(e) => panic!("{e:?}"),
                },
            }
        }
        let mut buf = Vec::new();
        while let Some((_, m)) = model.pop_front() {
            rx.try_recv(&mut buf).unwrap();
            assert_eq!(buf, m);
        }
        assert_eq!(rx.try_recv(&mut buf), Err(TryRecvError::Empty));
        let st = ch.stats();
        assert_eq!(st.depth_bytes, 0);
        assert_eq!(st.sent, st.received);
        assert_eq!(st.lost, 0);
    }
}

#[test]
fn every_message_is_one_contiguous_slice_across_the_wrap() {
    for kind in KINDS {
        let ch = b(kind).max_message(48).in_process(128).unwrap();
        let (mut tx, mut rx) = (ch.producer().unwrap(), ch.consumer().unwrap());
        // 3 records of 40 bytes (56 with header) leave 16 bytes before the
        // end: the next 40-byte message needs a padding record there.
        for i in 0..40u32 {
            let m = msg(i, 40);
            tx.try_send(&m).unwrap();
            let r = rx.try_read().unwrap();
            assert_eq!(&r[..], &m[..]);
            assert_eq!(r.position() % RECORD_ALIGN as u64, 0);
        }
        // Implicit 8-byte padding: fill to 8 bytes before the end.
        let ch = b(kind).max_message(48).in_process(128).unwrap();
        let (mut tx, mut rx) = (ch.producer().unwrap(), ch.consumer().unwrap());
        tx.try_send(&[1; 48]).unwrap(); // 64
        tx.try_send(&[2; 40]).unwrap(); // 56 -> 120
        assert_eq!(rx.try_read().unwrap().len(), 48);
        assert_eq!(rx.try_read().unwrap().len(), 40);
        tx.try_send(&[3; 8]).unwrap(); // 24 bytes: skips the last 8
        let r = rx.try_read().unwrap();
        assert_eq!((&r[..], r.position()), (&[3u8; 8][..], 128));
    }
}

#[test]
fn zero_length_messages() {
    for kind in KINDS {
        let (mut tx, mut rx) = channel(&b(kind), 64).unwrap();
        tx.send(&[]).unwrap();
        tx.send_with_type(9, &[]).unwrap();
        assert_eq!(rx.try_read().unwrap().len(), 0);
        let r = rx.try_read().unwrap();
        assert_eq!((r.len(), r.msg_type()), (0, 9));
    }
}

#[test]
fn too_large_is_refused_whole() {
    for kind in KINDS {
        let (mut tx, mut rx) = channel(&b(kind).max_message(10), 64).unwrap();
        let big = [7u8; 11];
        assert!(matches!(
            tx.try_send(&big),
            Err(TrySendError::TooLarge { len: 11, max: 10, .. })
        ));
        assert!(matches!(
            tx.send(&big),
            Err(SendError::TooLarge { len: 11, max: 10, .. })
        ));
        assert!(matches!(
            tx.send_timeout(&big, Duration::from_millis(1)),
            Err(SendTimeoutError::TooLarge { len: 11, .. })
        ));
        assert!(matches!(tx.claim(11), Err(SendError::TooLarge { .. })));
        let e = tx.try_send(&big).unwrap_err();
        assert!(e.to_string().contains("11 bytes"), "{e}");
        assert_eq!(rx.try_read().unwrap_err(), TryRecvError::Empty);
        tx.try_send(&big[..10]).unwrap();
        assert_eq!(rx.try_read().unwrap().len(), 10);
    }
}

#[test]
fn full_then_room_after_release() {
    for kind in KINDS {
        let (mut tx, mut rx) = channel(&b(kind).max_message(16), 64).unwrap();
        // 16-byte payload = 32-byte records: two fill the ring.
        tx.try_send(&[1; 16]).unwrap();
        tx.try_send(&[2; 16]).unwrap();
        assert!(matches!(tx.try_send(&[3; 16]), Err(TrySendError::Full(()))));
        assert!(matches!(
            tx.send_timeout(&[3; 16], Duration::from_millis(2)),
            Err(SendTimeoutError::Timeout(()))
        ));
        {
            let r = rx.try_read().unwrap();
            assert_eq!(r[0], 1);
            // Still held in place: no room yet.
            assert!(matches!(tx.try_send(&[3; 16]), Err(TrySendError::Full(()))));
        }
        tx.try_send(&[3; 16]).unwrap();
        assert_eq!(rx.try_read().unwrap()[0], 2);
        assert_eq!(rx.try_read().unwrap()[0], 3);
        assert!(matches!(
            rx.read_timeout(Duration::from_millis(2)),
            Err(RecvTimeoutError::Timeout)
        ));
    }
}

#[test]
fn disconnect_after_drain_both_ways() {
    for kind in KINDS {
        let (mut tx, mut rx) = channel(&b(kind), 256).unwrap();
        tx.send(b"last").unwrap();
        drop(tx);
        let mut buf = Vec::new();
        rx.recv(&mut buf).unwrap();
        assert_eq!(buf, b"last");
        assert_eq!(rx.try_recv(&mut buf), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv(&mut buf), Err(RecvError::Disconnected));
        assert!(matches!(rx.read_batch(4), Err(RecvError::Disconnected)));

        let (mut tx, rx) = channel(&b(kind), 256).unwrap();
        drop(rx);
        if kind == Kind::BytesMpmc {
            // MPMC does not scan for consumers on every send: it finds out
            // once the ring is full.
            while tx.try_send(b"x").is_ok() {}
        }
        assert!(matches!(tx.try_send(b"x"), Err(TrySendError::Disconnected(()))));
        assert!(matches!(tx.send(b"x"), Err(SendError::Disconnected(()))));
    }
}

#[test]
fn attach_rules() {
    let ch = Channel::in_process(256).unwrap();
    let tx = ch.producer().unwrap();
    assert!(matches!(ch.producer(), Err(Error::EndpointBusy { .. })));
    let rx = ch.consumer().unwrap();
    assert!(matches!(ch.consumer(), Err(Error::EndpointBusy { .. })));
    drop((tx, rx));
    let mut rx = ch.consumer().unwrap();
    let mut tx = ch.producer().unwrap();
    tx.send(b"again").unwrap();
    assert_eq!(&rx.try_read().unwrap()[..], b"again");

    // MPSC: endpoints(4) = the consumer + 3 producers.
    let ch = b(Kind::BytesMpsc).in_process(256).unwrap();
    let ps: Vec<_> = (0..3).map(|_| ch.producer().unwrap()).collect();
    assert!(matches!(
        ch.producer(),
        Err(Error::EndpointTableFull { capacity: 3, .. })
    ));
    drop(ps);
    assert!(ch.producer().is_ok());
}

#[test]
fn builder_validates() {
    let bad = |r: Result<Channel>| assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    bad(Builder::new().in_process(0));
    bad(Builder::new().in_process(32));
    bad(Builder::new().in_process(100));
    bad(Builder::new().max_message(49).in_process(128));
    bad(Builder::new().kind(Kind::Spsc).in_process(128));
    bad(Builder::new().kind(Kind::BytesMpsc).endpoints(1).in_process(128));
    let ch = Builder::new().max_message(48).in_process(128).unwrap();
    assert_eq!((ch.capacity(), ch.max_message(), ch.kind()), (128, 48, Kind::Bytes));
    assert_eq!(Channel::in_process(4096).unwrap().max_message(), 1024);
    assert_eq!(max_message_limit(64), 16);
}

#[test]
fn batch_releases_once_and_spans_padding() {
    for kind in KINDS {
        let ch = b(kind).max_message(32).in_process(128).unwrap();
        let (mut tx, mut rx) = (ch.producer().unwrap(), ch.consumer().unwrap());
        tx.send(&[0; 32]).unwrap();
        tx.send(&[0; 32]).unwrap();
        drop(rx.try_read_batch(2).unwrap()); // head at 96
        for i in 1..=3u8 {
            tx.send(&[i; 8]).unwrap(); // 24-byte records; the 2nd wraps after padding at 120
        }
        let batch = rx.try_read_batch(10).unwrap();
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.payload_bytes(), 24);
        let firsts: Vec<u8> = batch.iter().map(|r| r[0]).collect();
        assert_eq!(firsts, [1, 2, 3]);
        // Iterating twice gives the same records.
        assert_eq!(batch.iter().count(), 3);
        drop(batch);
        assert_eq!(rx.try_read().unwrap_err(), TryRecvError::Empty);
        let st = ch.stats();
        assert_eq!((st.sent, st.received, st.depth_bytes), (5, 5, 0));
    }
}

#[test]
fn mpsc_dead_claim_is_skipped_and_counted() {
    for kind in [Kind::BytesMpsc, Kind::BytesMpmc] {
        dead_claim_is_skipped_and_counted(kind);
    }
}

fn dead_claim_is_skipped_and_counted(kind: Kind) {
    let ch = b(kind).stall_timeout(Duration::ZERO).in_process(256).unwrap();
    let mut rx = ch.consumer().unwrap();
    let mut a = ch.producer().unwrap();
    let mut b2 = ch.producer().unwrap();
    a.send(b"before").unwrap();
    let mut g = a.try_claim(20).unwrap();
    g.copy_from_slice(&[0xEE; 20]);
    g.__crash();
    b2.send(b"after").unwrap();
    assert_eq!(&rx.try_read().unwrap()[..], b"before");
    assert_eq!(&rx.try_read().unwrap()[..], b"after");
    assert_eq!(ch.stats().lost, 1);
    drop(b2);
    // The crashed producer is the last one: PeerDied once drained.
    assert!(matches!(rx.try_read(), Err(TryRecvError::PeerDied { pid: u32::MAX })));
}

#[test]
fn mpsc_stall_waits_for_a_live_claimant_then_delivers() {
    let ch = b(Kind::BytesMpsc)
        .stall_timeout(Duration::ZERO)
        .in_process(256)
        .unwrap();
    let mut rx = ch.consumer().unwrap();
    let mut a = ch.producer().unwrap();
    let mut b2 = ch.producer().unwrap();
    let mut g = a.try_claim(4).unwrap();
    b2.send(b"second").unwrap();
    // a is alive: its claim blocks the ring, nothing is skipped.
    for _ in 0..3 {
        assert_eq!(rx.try_read().unwrap_err(), TryRecvError::Empty);
    }
    g.copy_from_slice(b"1st!");
    g.commit();
    assert_eq!(&rx.try_read().unwrap()[..], b"1st!");
    assert_eq!(&rx.try_read().unwrap()[..], b"second");
    assert_eq!(ch.stats().lost, 0);
}

#[test]
fn mpsc_dead_claim_with_wrap_padding_is_skipped_after_the_timeout() {
    let ch = b(Kind::BytesMpsc)
        .max_message(48)
        .stall_timeout(Duration::from_millis(20))
        .in_process(128)
        .unwrap();
    let mut rx = ch.consumer().unwrap();
    rx.set_wait_config(WaitConfig {
        strategy: WaitStrategy::Park,
        check_interval: Duration::from_millis(5),
    });
    let mut a = ch.producer().unwrap();
    let mut b2 = ch.producer().unwrap();
    a.send(&[1; 48]).unwrap(); // [0, 64)
    a.send(&[2; 40]).unwrap(); // [64, 120)
    drop(rx.try_read_batch(2).unwrap());
    let g = a.try_claim(40).unwrap(); // implicit gap [120,128) + [128, 184)
    g.__crash();
    b2.send(&[3; 8]).unwrap();
    let r = rx.read_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(&r[..], &[3; 8]);
    drop(r);
    assert_eq!(ch.stats().lost, 1);
}

#[test]
fn corrupt_headers_and_indices_are_errors_not_panics() {
    type Scribble = fn(&mut [u8], &mut [u8]);
    let cases: [(&str, Scribble); 5] = [
        ("tail far ahead", |c, _| {
            c[..8].copy_from_slice(&10_000u64.to_ne_bytes())
        }),
        ("length above max", |_, d| {
            d[8..12].copy_from_slice(&1000u32.to_ne_bytes())
        }),
        ("stamp mismatch", |_, d| d[..8].copy_from_slice(&65u64.to_ne_bytes())),
        ("misaligned padding", |_, d| {
            d[8..12].copy_from_slice(&3u32.to_ne_bytes());
            d[12..16].copy_from_slice(&PADDING_TYPE.to_ne_bytes());
        }),
        ("padding past tail", |_, d| {
            d[8..12].copy_from_slice(&200u32.to_ne_bytes());
            d[12..16].copy_from_slice(&PADDING_TYPE.to_ne_bytes());
        }),
    ];
    for (what, f) in cases {
        if cfg!(miri) && what == "stamp mismatch" {
            continue; // Under miri stamps live in a side array (see ring.rs).
        }
        let ch = b(Kind::Bytes).in_process(256).unwrap();
        let (mut tx, mut rx) = (ch.producer().unwrap(), ch.consumer().unwrap());
        tx.send(b"0123456789").unwrap();
        // SAFETY: no handle is in use on another thread.
        assert!(unsafe { ch.__scribble(f) });
        match rx.try_read().map(|r| r.len()) {
            Err(TryRecvError::Corrupt { corruption }) => {
                assert!(corruption.offset < 20_000, "{what}: {corruption}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn producer_sees_corrupt_head() {
    for kind in KINDS {
        let ch = b(kind).in_process(256).unwrap();
        let (mut tx, _rx) = (ch.producer().unwrap(), ch.consumer().unwrap());
        // SAFETY: no handle is in use on another thread.
        unsafe { ch.__scribble(|c, _| c[128..136].copy_from_slice(&5000u64.to_ne_bytes())) };
        let mut result = Ok(());
        for _ in 0..20 {
            result = tx.try_send(&[0; 40]);
            if result.is_err() {
                break;
            }
        }
        assert!(
            matches!(result, Err(TrySendError::Corrupt { .. })),
            "{kind}: {result:?}"
        );
    }
}

#[test]
fn mpmc_unaligned_shared_indices_are_errors() {
    let ch = b(Kind::BytesMpmc).in_process(256).unwrap();
    let mut tx = ch.producer().unwrap();
    let mut rx = ch.consumer().unwrap();
    tx.send(b"abc").unwrap();
    // SAFETY: no handle is in use on another thread.
    unsafe { ch.__scribble(|c, _| c[BYTES_READ_OFFSET..BYTES_READ_OFFSET + 8].copy_from_slice(&3u64.to_ne_bytes())) };
    assert!(matches!(
        rx.try_read().map(|r| r.len()),
        Err(TryRecvError::Corrupt { .. })
    ));
    // SAFETY: as above.
    unsafe { ch.__scribble(|c, _| c[BYTES_HEAD_OFFSET..BYTES_HEAD_OFFSET + 8].copy_from_slice(&5u64.to_ne_bytes())) };
    for _ in 0..20 {
        let _ = tx.try_send(b"more");
    }
}

#[test]
fn corrupt_mpsc_claims_are_errors() {
    let ch = b(Kind::BytesMpsc)
        .stall_timeout(Duration::ZERO)
        .in_process(256)
        .unwrap();
    let mut rx = ch.consumer().unwrap();
    let _p = ch.producer().unwrap();
    // Tail moved by a scribbler: claimed space nobody claimed.
    // SAFETY: no handle is in use on another thread.
    unsafe { ch.__scribble(|c, _| c[..8].copy_from_slice(&64u64.to_ne_bytes())) };
    assert!(matches!(rx.try_read(), Err(TryRecvError::Corrupt { .. })));
}

#[test]
fn stats_count_messages_and_bytes() {
    for kind in KINDS {
        let ch = b(kind).in_process(1024).unwrap();
        let (mut tx, mut rx) = (ch.producer().unwrap(), ch.consumer().unwrap());
        tx.send(b"abc").unwrap();
        tx.send(b"de").unwrap();
        drop(tx.try_claim(5).unwrap());
        let st = ch.stats();
        assert_eq!((st.sent, st.sent_bytes, st.received, st.depth_records), (2, 5, 0, 2));
        assert_eq!(st.kind, kind);
        assert_eq!(st.producers.alive, 1);
        assert_eq!(st.consumers.alive, 1);
        let mut buf = Vec::new();
        rx.recv(&mut buf).unwrap();
        rx.recv(&mut buf).unwrap();
        let st = ch.stats();
        assert_eq!((st.received, st.received_bytes, st.depth_records), (2, 5, 0));
    }
}

#[test]
fn threads_blocking_stream_spsc() {
    let (mut tx, mut rx) = channel(&b(Kind::Bytes).max_message(64), 256).unwrap();
    let n = if cfg!(miri) { 100 } else { 50_000 };
    let t = std::thread::spawn(move || {
        for i in 0..n {
            let m = msg(i, (i as usize * 13) % 65);
            tx.send_with_type(i, &m).unwrap();
        }
    });
    for i in 0..n {
        let r = rx.read().unwrap();
        assert_eq!(r.msg_type(), i);
        assert_eq!(&r[..], &msg(i, (i as usize * 13) % 65)[..]);
    }
    t.join().unwrap();
    assert!(matches!(rx.read(), Err(RecvError::Disconnected)));
}

#[test]
fn threads_mpsc_per_producer_order() {
    let ch = b(Kind::BytesMpsc).max_message(64).in_process(512).unwrap();
    let mut rx = ch.consumer().unwrap();
    let producers = 3u32;
    let n: u32 = if cfg!(miri) { 40 } else { 20_000 };
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let mut tx = ch.producer().unwrap();
            std::thread::spawn(move || {
                for i in 0..n {
                    let len = 8 + (i as usize * 7 + p as usize) % 57;
                    let mut g = tx.claim(len).unwrap();
                    g[..4].copy_from_slice(&p.to_le_bytes());
                    g[4..8].copy_from_slice(&i.to_le_bytes());
                    for (k, x) in g[8..].iter_mut().enumerate() {
                        *x = (i as usize + k) as u8;
                    }
                    if i % 10 == 9 {
                        g.abort();
                        let mut g = tx.claim(len).unwrap();
                        g[..4].copy_from_slice(&p.to_le_bytes());
                        g[4..8].copy_from_slice(&i.to_le_bytes());
                        for (k, x) in g[8..].iter_mut().enumerate() {
                            *x = (i as usize + k) as u8;
                        }
                        g.commit();
                    } else {
                        g.commit();
                    }
                }
            })
        })
        .collect();
    let mut next = vec![0u32; producers as usize];
    let mut total = 0;
    loop {
        let batch = match rx.read_batch(16) {
            Ok(b) => b,
            Err(RecvError::Disconnected) => break,
            Err(e) => panic!("{e:?}"),
        };
        for r in &batch {
            let p = u32::from_le_bytes(r[..4].try_into().unwrap());
            let i = u32::from_le_bytes(r[4..8].try_into().unwrap());
            assert_eq!(i, next[p as usize], "producer {p} out of order");
            assert_eq!(r.len(), 8 + (i as usize * 7 + p as usize) % 57);
            assert!(r[8..].iter().enumerate().all(|(k, &x)| x == (i as usize + k) as u8));
            next[p as usize] += 1;
            total += 1;
        }
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(total, producers * n);
    assert_eq!(ch.stats().lost, 0);
}

#[test]
#[cfg_attr(miri, ignore)]
fn segments_named_and_anonymous() {
    let name = format!("/shmlane-bytes-unit-{}", std::process::id());
    let ch = Builder::new()
        .kind(Kind::BytesMpsc)
        .max_message(100)
        .create(&name, 1024)
        .unwrap();
    let opened = Channel::open(&name).unwrap();
    assert_eq!((opened.kind(), opened.max_message()), (Kind::BytesMpsc, 100));
    assert!(matches!(
        Builder::new().kind(Kind::Bytes).open(&name),
        Err(Error::KindMismatch { .. })
    ));
    assert!(matches!(
        crate::spsc::Channel::<u64>::open(&name),
        Err(Error::KindMismatch { .. })
    ));
    let mut tx = ch.producer().unwrap();
    let mut rx = opened.consumer().unwrap();
    tx.send(b"via segment").unwrap();
    assert_eq!(&rx.try_read().unwrap()[..], b"via segment");
    assert_eq!(opened.stall_timeout(), Duration::from_secs(3));
    crate::segment::unlink(&name).unwrap();

    let spsc_name = format!("/shmlane-bytes-unit-spsc-{}", std::process::id());
    let _s = crate::spsc::Channel::<u64>::create(&spsc_name, 8).unwrap();
    assert!(matches!(Channel::open(&spsc_name), Err(Error::KindMismatch { .. })));
    crate::segment::unlink(&spsc_name).unwrap();

    let ch = Channel::anonymous(4096).unwrap();
    let fd = ch.segment().unwrap().inheritable_fd().unwrap();
    let other = Channel::from_fd(fd).unwrap();
    let mut tx = ch.producer().unwrap();
    let mut rx = other.consumer().unwrap();
    tx.send(b"anon").unwrap();
    assert_eq!(&rx.try_read().unwrap()[..], b"anon");
    // SAFETY: not called: segments refuse.
    assert!(!unsafe { ch.__scribble(|_, _| ()) });
}

#[test]
fn mpmc_consumers_attach_freely_and_release_out_of_order() {
    let ch = b(Kind::BytesMpmc).endpoints(5).max_message(32).in_process(128).unwrap();
    let mut tx = ch.producer().unwrap();
    let mut a = ch.consumer().unwrap();
    let mut c = ch.consumer().unwrap();
    for i in 1..=3u8 {
        tx.send(&[i; 24]).unwrap(); // 40-byte records
    }
    let ra = a.try_read().unwrap();
    assert_eq!(ra[0], 1);
    {
        let rc = c.try_read().unwrap();
        assert_eq!(rc[0], 2);
    } // c releases record 2 before a releases record 1
    assert_eq!(ch.stats().head, 0, "head must wait for record 1");
    assert!(matches!(tx.try_send(&[4; 24]), Err(TrySendError::Full(()))));
    drop(ra);
    assert_eq!(ch.stats().head, 80, "head passes records 1 and 2 together");
    tx.send(&[4; 24]).unwrap();
    assert_eq!(c.try_read().unwrap()[0], 3);
    assert_eq!(a.try_read().unwrap()[0], 4);
    assert_eq!(a.try_read().unwrap_err(), TryRecvError::Empty);
    let st = ch.stats();
    assert_eq!((st.received, st.consumers.alive, st.producers.alive), (4, 2, 1));
}

#[test]
fn mpmc_dead_consumer_holding_a_record_is_skipped() {
    let ch = b(Kind::BytesMpmc).endpoints(4).max_message(32).in_process(128).unwrap();
    let mut tx = ch.producer().unwrap();
    tx.set_wait_config(WaitConfig {
        check_interval: Duration::ZERO,
        ..Default::default()
    });
    let mut dead = ch.consumer().unwrap();
    let mut live = ch.consumer().unwrap();
    tx.send(&[1; 24]).unwrap();
    tx.send(&[2; 24]).unwrap();
    tx.send(&[3; 24]).unwrap();
    Consumer::__crash_holding(dead.try_read().unwrap());
    assert_eq!(live.try_read().unwrap()[0], 2);
    assert_eq!(live.try_read().unwrap()[0], 3);
    // Head is stuck behind the dead consumer's record; a full producer's
    // liveness check finds it dead and releases the record.
    for _ in 0..3 {
        match tx.try_send(&[9; 24]) {
            Ok(()) => {}
            Err(TrySendError::Full(())) => tx.try_send(&[9; 24]).unwrap(),
            Err(e) => panic!("{e:?}"),
        }
    }
    for _ in 0..3 {
        assert_eq!(live.try_read().unwrap()[0], 9);
    }
    assert_eq!(ch.stats().lost, 1);
    drop(dead);
}

#[test]
fn mpmc_dead_taker_at_read_is_resolved_by_consumers() {
    let ch = b(Kind::BytesMpmc).endpoints(4).in_process(256).unwrap();
    let mut tx = ch.producer().unwrap();
    let mut dead = ch.consumer().unwrap();
    let mut live = ch.consumer().unwrap();
    live.set_wait_config(WaitConfig {
        check_interval: Duration::ZERO,
        ..Default::default()
    });
    tx.send(b"one").unwrap();
    tx.send(b"two").unwrap();
    // A taker that died between taking the stamp and moving `read`: take
    // normally, die holding it, then put `read` back.
    let r = dead.try_read().unwrap();
    assert_eq!(&r[..], b"one");
    Consumer::__crash_holding(r);
    // SAFETY: no handle is in use on another thread.
    unsafe { ch.__scribble(|c, _| c[BYTES_READ_OFFSET..BYTES_READ_OFFSET + 8].copy_from_slice(&0u64.to_ne_bytes())) };
    assert_eq!(&live.try_read().unwrap()[..], b"two");
    assert_eq!(ch.stats().lost, 1);
    drop(dead);
}

#[test]
fn threads_mpmc_each_message_exactly_once() {
    let ch = b(Kind::BytesMpmc).endpoints(6).max_message(64).in_process(512).unwrap();
    let producers = 2u32;
    let n: u32 = if cfg!(miri) { 30 } else { 20_000 };
    let prods: Vec<_> = (0..producers)
        .map(|p| {
            let mut tx = ch.producer().unwrap();
            std::thread::spawn(move || {
                for i in 0..n {
                    let len = 8 + (i as usize * 5 + p as usize) % 57;
                    let mut g = tx.claim(len).unwrap();
                    g[..4].copy_from_slice(&p.to_le_bytes());
                    g[4..8].copy_from_slice(&i.to_le_bytes());
                    g[8..].fill(i as u8);
                    g.commit();
                }
            })
        })
        .collect();
    let cons: Vec<_> = (0..2)
        .map(|k| {
            let mut rx = ch.consumer().unwrap();
            std::thread::spawn(move || {
                let mut seen: Vec<Vec<u32>> = vec![Vec::new(); producers as usize];
                let mut check = |r: &[u8]| {
                    let p = u32::from_le_bytes(r[..4].try_into().unwrap());
                    let i = u32::from_le_bytes(r[4..8].try_into().unwrap());
                    assert!(r[8..].iter().all(|&x| x == i as u8), "torn message");
                    seen[p as usize].push(i);
                };
                loop {
                    if k == 0 {
                        match rx.read() {
                            Ok(r) => check(&r),
                            Err(RecvError::Disconnected) => break,
                            Err(e) => panic!("{e:?}"),
                        }
                    } else {
                        match rx.read_batch(8) {
                            Ok(b) => b.iter().for_each(|r| check(&r)),
                            Err(RecvError::Disconnected) => break,
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
                seen
            })
        })
        .collect();
    for p in prods {
        p.join().unwrap();
    }
    let mut all: Vec<Vec<u32>> = vec![Vec::new(); producers as usize];
    for c in cons {
        for (p, v) in c.join().unwrap().into_iter().enumerate() {
            assert!(
                v.windows(2).all(|w| w[0] < w[1]),
                "a consumer saw producer {p} out of order"
            );
            all[p].extend(v);
        }
    }
    for v in &mut all {
        v.sort_unstable();
        assert_eq!(*v, (0..n).collect::<Vec<_>>(), "lost or duplicated");
    }
    let st = ch.stats();
    assert_eq!((st.sent, st.received, st.lost), (2 * u64::from(n), 2 * u64::from(n), 0));
}

#[test]
fn mpmc_disconnect_survives_entry_reuse_by_another_role() {
    // Two entries: the producer's (closed after it leaves) is taken over by
    // the second consumer; the first consumer must still learn that the
    // producer came and went.
    let ch = b(Kind::BytesMpmc).endpoints(2).in_process(256).unwrap();
    let mut tx = ch.producer().unwrap();
    tx.send(b"x").unwrap();
    drop(tx);
    let mut c1 = ch.consumer().unwrap();
    let c2 = ch.consumer().unwrap();
    assert_eq!(&c1.try_read().unwrap()[..], b"x");
    assert_eq!(c1.try_read().unwrap_err(), TryRecvError::Disconnected);
    assert_eq!(c1.read().unwrap_err(), RecvError::Disconnected);
    drop(c2);
}

#[test]
fn held_commits_are_handed_over_by_flush_commit_and_drop() {
    for kind in KINDS {
        let ch = b(kind).max_message(32).in_process(256).unwrap();
        let (mut tx, mut rx) = (ch.producer().unwrap(), ch.consumer().unwrap());
        for i in 0..3u8 {
            let mut g = tx.try_claim(usize::from(i)).unwrap();
            g.fill(i);
            g.commit_held();
        }
        assert_eq!(tx.held(), 3);
        // Counters move at the hand-over; SPSC records stay invisible.
        assert_eq!(ch.stats().sent, 0);
        if kind == Kind::Bytes {
            assert_eq!(rx.try_read().unwrap_err(), TryRecvError::Empty);
            assert_eq!(ch.stats().tail, 0);
        }
        tx.flush();
        assert_eq!(tx.held(), 0);
        let st = ch.stats();
        assert_eq!((st.sent, st.sent_bytes), (3, 3));
        let batch = rx.try_read_batch(10).unwrap();
        let got: Vec<Vec<u8>> = batch.iter().map(|r| r.to_vec()).collect();
        assert_eq!(
            got,
            [vec![], vec![1], vec![2, 2]],
            "{kind}: one record per message, in order"
        );
        drop(batch);

        // A plain commit hands over the held records before it.
        let mut g = tx.try_claim(1).unwrap();
        g[0] = 7;
        g.commit_held();
        tx.send(&[8]).unwrap();
        assert_eq!(tx.held(), 0);
        let batch = rx.try_read_batch(10).unwrap();
        assert_eq!(batch.iter().map(|r| r[0]).collect::<Vec<_>>(), [7, 8]);
        drop(batch);

        // Dropping the producer hands over, then the consumer sees the end.
        let mut g = tx.try_claim(1).unwrap();
        g[0] = 9;
        g.commit_held();
        drop(tx);
        assert_eq!(&rx.try_read().unwrap()[..], [9]);
        assert_eq!(rx.try_read().unwrap_err(), TryRecvError::Disconnected);
        assert_eq!(ch.stats().sent, 6);
    }
}

#[test]
fn a_full_ring_of_held_records_is_flushed_before_waiting() {
    for kind in KINDS {
        let ch = b(kind).max_message(32).in_process(128).unwrap();
        let (mut tx, mut rx) = (ch.producer().unwrap(), ch.consumer().unwrap());
        // 48-byte records: two fit in 128 bytes, the third does not.
        for i in 0..2u8 {
            let mut g = tx.try_claim(32).unwrap();
            g.fill(i);
            g.commit_held();
        }
        assert!(matches!(tx.try_claim(32), Err(TrySendError::Full(()))));
        assert_eq!(tx.held(), 0, "{kind}: the failed claim flushed");
        assert_eq!(rx.try_read_batch(10).unwrap().len(), 2);
        // The blocking claim's wait ends because the consumer was handed
        // the held records and released them.
        for i in 0..2u8 {
            let mut g = tx.try_claim(32).unwrap();
            g.fill(i);
            g.commit_held();
        }
        let t = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(r) = rx.read() {
                got.push(r[0]);
            }
            got
        });
        let mut g = tx.claim_timeout(32, Duration::from_secs(30)).unwrap();
        g.fill(2);
        g.commit_held();
        drop(tx);
        assert_eq!(t.join().unwrap(), [0, 1, 2]);
    }
}
