//! The generic message loops shared by every OS transport (pipe, sockets,
//! eventfd, message queue): a transport supplies one [`Endpoint`] per side
//! and these loops do the streaming, echoing and timing, so every peer is
//! driven by exactly the same code and pays the same (tiny) per-message
//! overhead: one 8-byte sequence-number store before a send and one load and
//! compare after a receive.
//!
//! Roles: in `throughput`, the child sends and the parent receives and
//! measures; in `pingpong`, the parent sends, the child echoes, and the
//! parent records each round trip.

use crate::harness::{ChildCtx, ChildProc};
use crate::measure::{latency_loop, RxMeter, Sample, TxMeter, END};
use crate::sys::{bail, Res};
use crate::transports::{Case, Pattern};

/// One side of a message transport.
pub trait Endpoint {
    /// Sends one message of `msg.len()` bytes (blocking until accepted).
    fn send(&mut self, msg: &[u8]) -> Res<()>;
    /// Receives one message of exactly `buf.len()` bytes (blocking).
    fn recv(&mut self, buf: &mut [u8]) -> Res<()>;
}

#[inline(always)]
fn stamp(buf: &mut [u8], seq: u64) {
    buf[..8].copy_from_slice(&seq.to_le_bytes());
}

#[inline(always)]
fn seq_of(buf: &[u8]) -> u64 {
    u64::from_le_bytes(buf[..8].try_into().expect("messages are at least 8 bytes"))
}

/// Parent side: releases `child` and runs the measuring end of `case` on `ep`.
pub fn run_parent<E: Endpoint>(case: &Case, mut ep: E, mut child: ChildProc) -> Res<Sample> {
    if case.size < 8 {
        bail!("message loops need at least 8 bytes for the sequence number");
    }
    child.go()?;
    let mut buf = vec![0x5au8; case.size];
    let sample = match case.pattern {
        Pattern::Throughput => {
            let mut rx = RxMeter::new(case.cfg, case.size);
            loop {
                ep.recv(&mut buf)?;
                if rx.on_seq(seq_of(&buf))? {
                    break;
                }
            }
            rx.finish()?
        }
        Pattern::PingPong => {
            let s = latency_loop(case.cfg, |seq| {
                stamp(&mut buf, seq);
                ep.send(&buf)?;
                ep.recv(&mut buf)?;
                if seq_of(&buf) != seq {
                    bail!("echo {} for ping {seq}", seq_of(&buf));
                }
                Ok(())
            })?;
            stamp(&mut buf, END);
            ep.send(&buf)?;
            s
        }
        p => bail!("pattern {} is not a message pattern", p.name()),
    };
    child.finish()?;
    Ok(sample)
}

/// Child side: says ready, then sends (throughput) or echoes (ping-pong).
pub fn run_child<E: Endpoint>(ctx: &mut ChildCtx, mut ep: E) -> Res<()> {
    let case = ctx.case;
    let mut buf = vec![0xa5u8; case.size];
    ctx.ready()?;
    match case.pattern {
        Pattern::Throughput => {
            let tx = TxMeter::start(case.cfg, case.size);
            let mut seq = 0u64;
            while !tx.done(seq) {
                stamp(&mut buf, seq);
                ep.send(&buf)?;
                seq += 1;
            }
            stamp(&mut buf, END);
            ep.send(&buf)
        }
        Pattern::PingPong => loop {
            ep.recv(&mut buf)?;
            if seq_of(&buf) == END {
                return Ok(());
            }
            ep.send(&buf)?;
        },
        p => bail!("pattern {} is not a message pattern", p.name()),
    }
}
