//! The `shmlane` command: a shared-memory pipe (`create`, `send`, `recv`)
//! and an inspector for the segments in /dev/shm (`ls`, `stat`, `rm`, `gc`).
//! Exit codes are listed in [`exit`] and in `shmlane --help`.

mod admin;
mod exit;
mod pipe;
mod units;

use clap::{Parser, Subcommand, ValueEnum};
use shmlane::layout::Kind;
use std::time::Duration;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (input sent; producer closed and ring drained; --count reached; stdout closed by its reader;
     also a broadcast recv that lost messages without --no-loss: it says so on stderr)
  1  other failure (I/O error, input ends inside a frame)
  2  usage or open error (bad arguments, no such segment, wrong kind, endpoint busy, not a shmlane segment,
     a broadcast-bytes-only flag on a byte ring)
  3  the peer process died (recv: the producer or publisher; send: the consumer)
  4  the segment is corrupt
  5  timeout: no message within --timeout
  6  a message is larger than the ring's maximum message size
  7  send: the consumer closed the ring before all input was sent
  8  recv --no-loss: lapped on a broadcast-bytes channel (Overwrite), messages were lost";

#[derive(Parser, Debug)]
#[command(name = "shmlane", version, about = "Shared-memory rings between processes: pipe messages, inspect segments", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Channel kinds on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum KindArg {
    /// Variable-length byte messages, one producer, one consumer.
    Bytes,
    /// Byte messages, many producers, one consumer.
    BytesMpsc,
    /// Byte messages, many producers, many consumers.
    BytesMpmc,
    /// Fixed-size elements (u64 unless --elem-size), one producer, one consumer.
    Spsc,
    /// Fixed-size u64 elements, many producers, many consumers.
    Mpmc,
    /// Byte messages, one publisher, every subscriber receives every
    /// message (send publishes, each recv subscribes; see --policy).
    BroadcastBytes,
    /// Fixed-size u64 elements, one publisher, every subscriber receives
    /// every message (for programs using the library; send/recv refuse it:
    /// use broadcast-bytes from the shell).
    Broadcast,
}

impl KindArg {
    fn kind(self) -> Kind {
        match self {
            KindArg::Bytes => Kind::Bytes,
            KindArg::BytesMpsc => Kind::BytesMpsc,
            KindArg::BytesMpmc => Kind::BytesMpmc,
            KindArg::Spsc => Kind::Spsc,
            KindArg::Mpmc => Kind::Mpmc,
            KindArg::BroadcastBytes => Kind::BroadcastBytes,
            KindArg::Broadcast => Kind::Broadcast,
        }
    }
}

/// How messages are delimited on stdin/stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One message per line, newline removed / added.
    Lines,
    /// 4-byte little-endian length, then the message.
    Frames,
}

fn size(s: &str) -> Result<u64, String> {
    units::parse_size(s)
}

fn duration(s: &str) -> Result<Duration, String> {
    units::parse_duration(s)
}

fn octal(s: &str) -> Result<u32, String> {
    let t = s.trim_start_matches("0o");
    let m = u32::from_str_radix(t, 8).map_err(|_| format!("'{s}' is not an octal mode (example: 600, 0660)"))?;
    if m > 0o7777 {
        return Err(format!("mode '{s}' is out of range"));
    }
    Ok(m)
}

#[derive(clap::Args, Debug, Clone)]
struct Shape {
    /// Channel kind.
    #[arg(long, value_enum, default_value = "bytes")]
    kind: KindArg,
    /// Ring size: bytes of record area for byte kinds, broadcast-bytes
    /// included (a power of two; suffixes KiB, MiB, GiB, KB...), number of
    /// elements for spsc/mpmc/broadcast.
    #[arg(long, value_parser = size, default_value = "1MiB")]
    capacity: u64,
    /// Largest message of a byte kind (default: a quarter of the capacity;
    /// at most half of it minus 16 bytes for broadcast-bytes).
    #[arg(long, value_parser = size)]
    max_message: Option<u64>,
    /// File mode of the segment, in octal.
    #[arg(long, value_parser = octal, default_value = "600")]
    mode: u32,
    /// broadcast-bytes and broadcast: what the publisher does when the
    /// slowest subscriber is a ring behind: wait for it (block, the
    /// default: lossless) or overwrite (lossy: a lapped recv reports what it
    /// lost).
    #[arg(long, value_enum)]
    policy: Option<PolicyArg>,
}

/// Broadcast policies on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PolicyArg {
    /// Lossless: the publisher waits for the slowest live subscriber.
    Block,
    /// Lossy: the publisher never waits; lapped subscribers are told what they lost.
    Overwrite,
}

impl Shape {
    fn args(&self, elem_size: Option<u64>) -> pipe::CreateArgs {
        pipe::CreateArgs {
            kind: self.kind.kind(),
            capacity: self.capacity,
            max_message: self.max_message,
            mode: self.mode,
            elem_size,
            policy: self.policy.map(|p| match p {
                PolicyArg::Block => shmlane::broadcast::Policy::Block,
                PolicyArg::Overwrite => shmlane::broadcast::Policy::Overwrite,
            }),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a named channel in /dev/shm.
    #[command(after_help = EXIT_CODES)]
    Create {
        /// Segment name, e.g. /orders (the leading '/' may be left out).
        name: String,
        #[command(flatten)]
        shape: Shape,
        /// Element size in bytes for --kind spsc (default: 8, a u64).
        #[arg(long, value_parser = size)]
        elem_size: Option<u64>,
    },
    /// Send stdin into a byte ring, or publish it on a broadcast-bytes
    /// channel: one message per line, or per frame.
    ///
    /// On a broadcast-bytes channel every recv attached when a message is
    /// published receives it; with nobody attached it goes to nobody (start
    /// the recv processes first, or use --wait-subscribers). Under the block
    /// policy send waits for the slowest live recv.
    #[command(after_help = EXIT_CODES)]
    Send {
        /// Segment name.
        name: String,
        /// Create the ring (with --kind/--capacity/--max-message/--mode/--policy) unless it exists.
        #[arg(long)]
        create: bool,
        #[command(flatten)]
        shape: Shape,
        /// Input is frames: a 4-byte little-endian length, then that many bytes.
        #[arg(long)]
        frames: bool,
        /// broadcast-bytes: wait until N live subscribers (recv processes)
        /// are attached before publishing the first message.
        #[arg(long, value_name = "N")]
        wait_subscribers: Option<u32>,
    },
    /// Receive messages from a byte ring or a broadcast-bytes channel to
    /// stdout, until the producer (publisher) closes and all is read.
    ///
    /// On a broadcast-bytes channel recv subscribes: it receives every
    /// message published after it attached (--from-oldest: also those still
    /// in the ring). Under the overwrite policy a recv that falls a ring
    /// behind is lapped: it reports the number of messages it lost on
    /// stderr and goes on with the oldest message still in the ring (at the
    /// end it prints the total lost), or with --no-loss exits 8.
    #[command(after_help = EXIT_CODES)]
    Recv {
        /// Segment name.
        name: String,
        /// Stop after N messages.
        #[arg(long)]
        count: Option<u64>,
        /// Fail (exit 5) when no message arrives within this long, e.g. 500ms, 2s.
        #[arg(long, value_parser = duration)]
        timeout: Option<Duration>,
        /// Output frames: a 4-byte little-endian length, then the message.
        #[arg(long)]
        frames: bool,
        /// broadcast-bytes: start with the oldest message still in the ring
        /// (default: the next one published).
        #[arg(long)]
        from_oldest: bool,
        /// broadcast-bytes: exit 8 as soon as messages are lost (lapped
        /// under the overwrite policy) instead of reporting them and going
        /// on.
        #[arg(long)]
        no_loss: bool,
    },
    /// List the shmlane segments in /dev/shm.
    Ls {
        /// Only names starting with this prefix.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Show a segment's header and live counters.
    Stat {
        /// Segment name.
        name: String,
        /// One JSON object (per refresh).
        #[arg(long)]
        json: bool,
        /// Refresh every INTERVAL (default 1s) until interrupted.
        #[arg(long, value_parser = duration, num_args = 0..=1, default_missing_value = "1s")]
        watch: Option<Duration>,
    },
    /// Remove a shmlane segment from /dev/shm (other files are refused).
    Rm {
        /// Segment name.
        name: String,
    },
    /// Remove stale segments: creator dead and no live endpoint.
    Gc {
        /// Only print what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Only names starting with this prefix.
        #[arg(long, default_value = "")]
        prefix: String,
    },
}

fn run(cli: Cli) -> exit::Res<()> {
    match cli.cmd {
        Cmd::Create { name, shape, elem_size } => pipe::create(&admin::norm(&name), &shape.args(elem_size)),
        Cmd::Send {
            name,
            create,
            shape,
            frames,
            wait_subscribers,
        } => {
            let args = shape.args(None);
            pipe::send(
                &admin::norm(&name),
                create.then_some(&args),
                framing(frames),
                wait_subscribers,
            )
        }
        Cmd::Recv {
            name,
            count,
            timeout,
            frames,
            from_oldest,
            no_loss,
        } => pipe::recv(
            &admin::norm(&name),
            &pipe::RecvArgs {
                count,
                timeout,
                framing: framing(frames),
                from_oldest,
                no_loss,
            },
        ),
        Cmd::Ls { prefix } => admin::ls(&prefix),
        Cmd::Stat { name, json, watch } => admin::stat(&name, json, watch),
        Cmd::Rm { name } => admin::rm(&name),
        Cmd::Gc { dry_run, prefix } => admin::gc(dry_run, &prefix),
    }
}

fn framing(frames: bool) -> Framing {
    if frames {
        Framing::Frames
    } else {
        Framing::Lines
    }
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(()) => exit::OK,
        Err(f) => {
            if !f.msg.is_empty() {
                eprintln!("shmlane: {}", f.msg);
            }
            f.code
        }
    };
    std::process::exit(code);
}
