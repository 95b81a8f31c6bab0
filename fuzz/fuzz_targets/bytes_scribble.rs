//! A hostile peer scribbles on a byte ring: after some legitimate traffic,
//! the control block and the record area are overwritten (in full, or word
//! by word) with arbitrary bytes, then both sides keep operating. Every
//! operation must end in an error or a well-formed record (payload within
//! `max_message`, fully readable); never a panic, an out-of-bounds access
//! (ASan) or a hang.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shmlane::bytes::{Builder, Consumer, Producer};
use shmlane::layout::Kind;
use std::hint::black_box;
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum Op {
    Send(u16, u32),
    Abort(u16),
    Read,
    Recv,
    Batch(u8),
    /// MPMC: a second consumer takes and releases one message.
    Other,
    ReattachConsumer,
    ReattachProducer,
}

#[derive(Arbitrary, Debug)]
enum Scribble {
    /// Fill the control block and the data area with these bytes, repeated.
    Fill { control: Vec<u8>, data: Vec<u8> },
    /// Overwrite one 8-byte word.
    Poke { in_control: bool, offset: u16, value: u64 },
    /// Overwrite one byte.
    Byte { in_control: bool, offset: u16, value: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    kind: u8,
    log_cap: u8,
    stall_zero: bool,
    before: Vec<Op>,
    scribbles: Vec<Scribble>,
    after: Vec<Op>,
}

fn touch(data: &[u8], max: usize) {
    assert!(data.len() <= max, "record of {} bytes above max {max}", data.len());
    black_box(data.iter().fold(0u64, |a, &b| a.wrapping_add(u64::from(b))));
}

fn run(
    ch: &shmlane::bytes::Channel,
    tx: &mut Option<Producer>,
    rx: &mut Option<Consumer>,
    ops: &[Op],
    buf: &mut Vec<u8>,
) {
    let max = ch.max_message();
    for op in ops.iter().take(64) {
        match op {
            Op::Send(len, ty) => {
                if let Some(tx) = tx {
                    let len = usize::from(*len) % (max + 2);
                    let _ = tx.try_send_with_type(ty % 1000, &vec![0x5a; len]);
                }
            }
            Op::Abort(len) => {
                if let Some(tx) = tx {
                    if let Ok(mut g) = tx.try_claim(usize::from(*len) % (max + 1)) {
                        g.fill(0xa5);
                    }
                }
            }
            Op::Read => {
                if let Some(rx) = rx {
                    if let Ok(r) = rx.try_read() {
                        touch(&r, max);
                    }
                }
            }
            Op::Recv => {
                if let Some(rx) = rx {
                    if rx.try_recv(buf).is_ok() {
                        touch(buf, max);
                    }
                }
            }
            Op::Batch(n) => {
                if let Some(rx) = rx {
                    if let Ok(b) = rx.try_read_batch(usize::from(*n) + 1) {
                        let mut k = 0;
                        for r in &b {
                            touch(&r, max);
                            k += 1;
                        }
                        assert!(k <= b.len());
                    }
                }
            }
            Op::Other => {
                if let Ok(mut other) = ch.consumer() {
                    if let Ok(r) = other.try_read() {
                        touch(&r, max);
                    }
                }
            }
            Op::ReattachConsumer => {
                *rx = None;
                *rx = ch.consumer().ok();
            }
            Op::ReattachProducer => {
                *tx = None;
                *tx = ch.producer().ok();
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let cap = 1usize << (6 + input.log_cap % 5);
    let kind = [Kind::Bytes, Kind::BytesMpsc, Kind::BytesMpmc][usize::from(input.kind % 3)];
    let stall = if input.stall_zero {
        Duration::ZERO
    } else {
        Duration::from_secs(3600)
    };
    let ch = Builder::new()
        .kind(kind)
        .endpoints(3)
        .stall_timeout(stall)
        .in_process(cap)
        .unwrap();
    let mut tx = Some(ch.producer().unwrap());
    let mut rx = Some(ch.consumer().unwrap());
    let mut buf = Vec::new();
    run(&ch, &mut tx, &mut rx, &input.before, &mut buf);
    for s in input.scribbles.iter().take(16) {
        // SAFETY: single-threaded: no handle is in use during the call.
        let ok = unsafe {
            ch.__scribble(|c, d| match s {
                Scribble::Fill { control, data } => {
                    if !control.is_empty() {
                        for (i, b) in c.iter_mut().enumerate() {
                            *b = control[i % control.len()];
                        }
                    }
                    if !data.is_empty() {
                        for (i, b) in d.iter_mut().enumerate() {
                            *b = data[i % data.len()];
                        }
                    }
                }
                Scribble::Poke {
                    in_control,
                    offset,
                    value,
                } => {
                    let area = if *in_control { c } else { d };
                    let off = (usize::from(*offset) % area.len()) & !7;
                    area[off..off + 8].copy_from_slice(&value.to_ne_bytes());
                }
                Scribble::Byte {
                    in_control,
                    offset,
                    value,
                } => {
                    let area = if *in_control { c } else { d };
                    let off = usize::from(*offset) % area.len();
                    area[off] = *value;
                }
            })
        };
        assert!(ok);
    }
    run(&ch, &mut tx, &mut rx, &input.after, &mut buf);
});
