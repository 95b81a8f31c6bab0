//! Exit codes and the error type every command returns.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: input sent and the ring closed; the producer closed and the ring is drained; `--count` reached; stdout closed by its reader; a broadcast `recv` that lost messages without `--no-loss` (reported on stderr) |
//! | 1 | other failure: I/O error, input ends inside a frame, nothing to do |
//! | 2 | usage or open error: bad arguments, no such segment, already exists, wrong kind, permission, endpoint busy, not a shmlane segment |
//! | 3 | the peer process died (recv: the producer or publisher; send: the consumer) |
//! | 4 | the segment is corrupt |
//! | 5 | timeout: no message within `--timeout` |
//! | 6 | a message is larger than the ring's maximum message size |
//! | 7 | send: the consumer closed the ring before all input was sent |
//! | 8 | recv --no-loss: lapped on a broadcast channel (Overwrite): messages were lost |

use std::fmt;

/// Success.
pub const OK: i32 = 0;
/// I/O error or malformed input.
pub const FAILURE: i32 = 1;
/// Usage or open error (clap also exits 2 on usage errors).
pub const USAGE: i32 = 2;
/// The peer process died.
pub const PEER_DIED: i32 = 3;
/// The segment is corrupt.
pub const CORRUPT: i32 = 4;
/// No message within the timeout.
pub const TIMEOUT: i32 = 5;
/// Message larger than the ring's maximum.
pub const TOO_LARGE: i32 = 6;
/// The consumer closed the ring before the input was all sent.
pub const DISCONNECTED: i32 = 7;
/// `recv --no-loss` on a broadcast channel was lapped: messages were lost.
pub const LOST: i32 = 8;

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct Fail {
    /// Exit code.
    pub code: i32,
    /// Message for stderr (empty: print nothing).
    pub msg: String,
}

impl Fail {
    /// A failure with a code and a message.
    pub fn new(code: i32, msg: impl Into<String>) -> Fail {
        Fail { code, msg: msg.into() }
    }

    /// A quiet exit with a code (nothing printed).
    pub fn quiet(code: i32) -> Fail {
        Fail {
            code,
            msg: String::new(),
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// Result of a command.
pub type Res<T> = Result<T, Fail>;

/// Exit code for a library error from create/open/attach.
pub fn code_of(e: &shmlane::Error) -> i32 {
    match e {
        shmlane::Error::Corrupt { .. } | shmlane::Error::Truncated { .. } => CORRUPT,
        _ => USAGE,
    }
}

impl From<shmlane::Error> for Fail {
    fn from(e: shmlane::Error) -> Fail {
        Fail::new(code_of(&e), e.to_string())
    }
}

/// An I/O error: a closed stdout (EPIPE) is a quiet success, anything else
/// exit 1 with `what` and the error.
pub fn io_fail(what: &str, e: std::io::Error) -> Fail {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Fail::quiet(OK)
    } else {
        Fail::new(FAILURE, format!("{what}: {e}"))
    }
}
