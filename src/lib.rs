//! # shmlane
//!
//! Lock-free rings in shared memory, for moving messages between processes
//! on one Linux host at the speed of the memory itself.
//!
//! - [`spsc`]: single-producer single-consumer ring of fixed-size `Pod`
//!   elements, with zero-copy chunks and batches.
//! - [`bytes`]: rings of variable-length byte messages (SPSC, MPSC and MPMC),
//!   zero-copy claim/commit and in-place reads.
//! - [`mpmc`]: multi-producer multi-consumer ring of fixed-size `Pod`
//!   elements (Vyukov's per-slot sequence numbers), any number of endpoints
//!   in any processes, dead claimants skipped after a stall timeout.
//! - [`broadcast`]: one publisher, any number of subscribers that each see
//!   every message; lossless (the publisher waits) or lossy (lapped
//!   subscribers learn how many they missed).
//! - Blocking through futex words inside the segment ([`wait`]): spin, then
//!   sleep; no system call when the ring is neither full nor empty.
//! - Named segments in /dev/shm or anonymous memfd segments ([`segment`]),
//!   validated on open; the other process is never trusted.
//!
//! # Two processes
//! ```no_run
//! use shmlane::spsc;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! if std::env::args().nth(1).as_deref() == Some("consumer") {
//!     // Process B: open the ring by name and read until the producer closes.
//!     let mut rx = spsc::Channel::<u64>::open("/demo")?.consumer()?;
//!     while let Ok(v) = rx.pop() {
//!         println!("got {v}");
//!     }
//! } else {
//!     // Process A: create the ring, start B, send, close.
//!     let ch = spsc::Channel::<u64>::create("/demo", 1024)?;
//!     let mut tx = ch.producer()?;
//!     let mut b = std::process::Command::new(std::env::current_exe()?).arg("consumer").spawn()?;
//!     for i in 0..10 {
//!         tx.push(i)?;
//!     }
//!     drop(tx); // B sees Disconnected after the last message.
//!     b.wait()?;
//!     shmlane::segment::unlink("/demo")?;
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub(crate) mod sync;

pub mod broadcast;
pub mod bytes;
pub mod endpoint;
pub mod error;
pub mod inspect;
pub mod layout;
pub mod mpmc;
pub mod segment;
#[cfg(not(loom))]
pub mod sigbus;
pub mod spsc;
pub mod wait;

pub use error::{
    Corruption, Error, RecvError, RecvTimeoutError, Result, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub use wait::{WaitConfig, WaitStrategy};

/// The README's code blocks, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
