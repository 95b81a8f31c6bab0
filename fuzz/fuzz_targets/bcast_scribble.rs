//! A hostile peer scribbles on a broadcast segment (fixed-size or byte
//! messages, Block or Overwrite): after some legitimate traffic, checked
//! against the order it was sent in, any region of the mapped segment (the
//! header, the endpoint table with the subscribers' cursors, the control
//! block, the data area) is overwritten through a second mapping of the
//! segment's file, in full or word by word, and then the publisher and
//! two subscribers keep operating. Every operation must end in an error or
//! a well-formed message (a byte message within `max_message`, fully
//! readable); never a panic, an out-of-bounds access (ASan) or a hang.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shmlane::broadcast::{self, BytesBuilder, BytesChannel, BytesPublisher, BytesSubscriber, Policy};
use shmlane::segment::Segment;
use std::hint::black_box;
use std::os::fd::AsRawFd;
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum Op {
    Send(u16),
    SendBatch(u8),
    Recv(bool),
    /// Read in place (a guard), dropped at once.
    Read(bool),
    Resubscribe(bool),
    SubscribeOldest(bool),
    Republish,
}

#[derive(Arbitrary, Debug)]
enum Scribble {
    /// Fill a region with these bytes, repeated.
    Fill { region: u8, bytes: Vec<u8> },
    /// Overwrite one 8-byte word of a region.
    Poke { region: u8, offset: u32, value: u64 },
    /// Overwrite one byte of a region.
    Byte { region: u8, offset: u32, value: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    bytes: bool,
    overwrite: bool,
    log_cap: u8,
    stall_zero: bool,
    before: Vec<Op>,
    scribbles: Vec<Scribble>,
    after: Vec<Op>,
}

/// A second, writable mapping of a segment's file: the hostile peer's view.
struct Peer {
    base: *mut u8,
    len: usize,
    /// `(offset, length)` of the header, endpoint table, control block and
    /// data area.
    regions: [(usize, usize); 4],
}

impl Peer {
    fn map(seg: &Segment) -> Peer {
        let len = seg.len();
        let fd = seg.fd().expect("anonymous segments have a file");
        // SAFETY: a fresh shared mapping of the whole file; `len` is its size.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap of the segment");
        let p = seg.header().placement;
        let (e, c, d) = (
            p.endpoints_offset as usize,
            p.control_offset as usize,
            p.data_offset as usize,
        );
        Peer {
            base: base.cast(),
            len,
            regions: [(0, e), (e, c - e), (c, d - c), (d, len - d)],
        }
    }

    /// Applies one scribble. Call only while no handle is in the middle of
    /// an operation (the fuzz target is single-threaded, and no in-place
    /// guard is alive between operations).
    fn scribble(&self, s: &Scribble) {
        let region = |r: u8| self.regions[usize::from(r % 4)];
        // SAFETY: every write below stays inside [base, base + len), a live
        // shared mapping; the handles read this memory only through atomics
        // (or through in-place guards, none of which is alive here).
        unsafe {
            match s {
                Scribble::Fill { region: r, bytes } => {
                    let (off, len) = region(*r);
                    if !bytes.is_empty() {
                        for i in 0..len {
                            self.base.add(off + i).write_volatile(bytes[i % bytes.len()]);
                        }
                    }
                }
                Scribble::Poke {
                    region: r,
                    offset,
                    value,
                } => {
                    let (off, len) = region(*r);
                    if len >= 8 {
                        let at = off + ((*offset as usize % len) & !7).min(len - 8);
                        self.base.add(at).cast::<u64>().write_volatile(*value);
                    }
                }
                Scribble::Byte {
                    region: r,
                    offset,
                    value,
                } => {
                    let (off, len) = region(*r);
                    if len > 0 {
                        self.base.add(off + *offset as usize % len).write_volatile(*value);
                    }
                }
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// The fixed-size kind, with 24-byte elements (three words: a copy can be
/// torn). Before the scribbles, each subscriber that joined at the start
/// and was never replaced must see the sequence numbers in order (Block:
/// without gaps).
fn fixed(input: &Input, policy: Policy, stall: Duration) {
    type E = [u64; 3];
    let cap = 1usize << (1 + input.log_cap % 6);
    let ch = broadcast::Builder::new()
        .capacity(cap)
        .policy(policy)
        .endpoints(4)
        .stall_timeout(stall)
        .anonymous::<E>()
        .unwrap();
    let peer = Peer::map(ch.segment().unwrap());
    let mut tx = Some(ch.publisher().unwrap());
    let mut rx = [Some(ch.subscribe().unwrap()), Some(ch.subscribe().unwrap())];
    let mut next = 0u64;
    // Per subscriber: the next sequence number it must see, while checked.
    let mut expect = [Some(0u64), Some(0u64)];
    let mut phase = |ops: &[Op],
                     checked: bool,
                     tx: &mut Option<broadcast::Publisher<E>>,
                     rx: &mut [Option<broadcast::Subscriber<E>>; 2],
                     expect: &mut [Option<u64>; 2]| {
        for op in ops.iter().take(64) {
            match op {
                Op::Send(_) => {
                    if let Some(tx) = tx {
                        if tx.try_send([next, !next, next]).is_ok() {
                            next += 1;
                        }
                    }
                }
                Op::SendBatch(n) => {
                    if let Some(tx) = tx {
                        let items: Vec<E> = (0..u64::from(*n % 16) + 1)
                            .map(|k| [next + k, !(next + k), next + k])
                            .collect();
                        if let Ok(k) = tx.try_send_slice(&items) {
                            next += k as u64;
                        }
                    }
                }
                Op::Recv(i) | Op::Read(i) => {
                    let i = usize::from(*i);
                    let Some(r) = &mut rx[i] else { continue };
                    let got = if matches!(op, Op::Recv(_)) {
                        r.try_recv()
                    } else {
                        r.try_read().map(|g| *g)
                    };
                    match got {
                        Ok(v) => {
                            black_box(v);
                            if let (true, Some(e)) = (checked, expect[i]) {
                                assert_eq!(v, [v[0], !v[0], v[0]], "torn element delivered");
                                if policy == Policy::Block {
                                    assert_eq!(v[0], e, "Block subscriber out of order");
                                } else {
                                    assert!(v[0] >= e, "Overwrite subscriber went back");
                                }
                                expect[i] = Some(v[0] + 1);
                            }
                        }
                        Err(broadcast::TryRecvError::Lagged(n)) => {
                            if let (true, Some(e)) = (checked, expect[i]) {
                                assert_eq!(policy, Policy::Overwrite, "Lagged under Block");
                                expect[i] = Some(e + n);
                            }
                        }
                        Err(_) => {}
                    }
                }
                Op::Resubscribe(i) | Op::SubscribeOldest(i) => {
                    let i = usize::from(*i);
                    rx[i] = None;
                    rx[i] = if matches!(op, Op::Resubscribe(_)) {
                        ch.subscribe().ok()
                    } else {
                        ch.subscribe_from_oldest().ok()
                    };
                    expect[i] = None;
                }
                Op::Republish => {
                    *tx = None;
                    *tx = ch.publisher().ok();
                }
            }
        }
    };
    phase(&input.before, true, &mut tx, &mut rx, &mut expect);
    for s in input.scribbles.iter().take(16) {
        peer.scribble(s);
    }
    phase(&input.after, false, &mut tx, &mut rx, &mut expect);
}

fn touch(data: &[u8], max: usize) {
    assert!(data.len() <= max, "message of {} bytes above max {max}", data.len());
    black_box(data.iter().fold(0u64, |a, &b| a.wrapping_add(u64::from(b))));
}

/// The byte kind: before the scribbles, messages arrive whole (their first
/// byte repeated), in order.
fn bytes(input: &Input, policy: Policy, stall: Duration) {
    let cap = 1usize << (8 + input.log_cap % 5);
    let ch: BytesChannel = BytesBuilder::new()
        .capacity(cap)
        .max_message(cap / 4)
        .policy(policy)
        .endpoints(4)
        .stall_timeout(stall)
        .anonymous()
        .unwrap();
    let max = ch.max_message();
    let peer = Peer::map(ch.segment().unwrap());
    let mut tx: Option<BytesPublisher> = Some(ch.publisher().unwrap());
    let mut rx: [Option<BytesSubscriber>; 2] = [Some(ch.subscribe().unwrap()), Some(ch.subscribe().unwrap())];
    let mut buf = Vec::new();
    let mut phase =
        |ops: &[Op], checked: bool, tx: &mut Option<BytesPublisher>, rx: &mut [Option<BytesSubscriber>; 2]| {
            for op in ops.iter().take(64) {
                match op {
                    Op::Send(_) | Op::SendBatch(_) => {
                        if let Some(tx) = tx {
                            let len = match op {
                                Op::Send(len) => usize::from(*len) % (max + 2),
                                _ => 1,
                            };
                            let fill = (len % 251) as u8;
                            let _ = tx.try_send_with_type(len as u32 % 1000, &vec![fill; len]);
                        }
                    }
                    Op::Recv(i) => {
                        let Some(r) = &mut rx[usize::from(*i)] else { continue };
                        if r.try_recv(&mut buf).is_ok() {
                            touch(&buf, max);
                            if checked {
                                let fill = (buf.len() % 251) as u8;
                                assert!(buf.iter().all(|&b| b == fill), "torn message delivered");
                            }
                        }
                    }
                    Op::Read(i) => {
                        let Some(r) = &mut rx[usize::from(*i)] else { continue };
                        if let Ok(m) = r.try_read() {
                            touch(m.bytes(), max);
                            if checked && !m.in_place() {
                                let fill = (m.bytes().len() % 251) as u8;
                                assert!(m.bytes().iter().all(|&b| b == fill), "torn message delivered");
                            }
                        }
                    }
                    Op::Resubscribe(i) | Op::SubscribeOldest(i) => {
                        let i = usize::from(*i);
                        rx[i] = None;
                        rx[i] = if matches!(op, Op::Resubscribe(_)) {
                            ch.subscribe().ok()
                        } else {
                            ch.subscribe_from_oldest().ok()
                        };
                    }
                    Op::Republish => {
                        *tx = None;
                        *tx = ch.publisher().ok();
                    }
                }
            }
        };
    phase(&input.before, true, &mut tx, &mut rx);
    for s in input.scribbles.iter().take(16) {
        peer.scribble(s);
    }
    phase(&input.after, false, &mut tx, &mut rx);
}

fuzz_target!(|input: Input| {
    let policy = if input.overwrite {
        Policy::Overwrite
    } else {
        Policy::Block
    };
    let stall = if input.stall_zero {
        Duration::ZERO
    } else {
        Duration::from_secs(3600)
    };
    if input.bytes {
        bytes(&input, policy, stall);
    } else {
        fixed(&input, policy, stall);
    }
});
