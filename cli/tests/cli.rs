//! Runs the built `shmlane` binary in real processes: line and frame round
//! trips through `send | recv`, the exit codes of `recv` for a producer
//! killed mid-stream, a corrupt segment and a timeout, `send` of a message
//! that is too large, and `ls`/`gc`/`rm` with live, dead, corrupt and
//! foreign files in /dev/shm. On broadcast-bytes channels: one `send` and
//! several `recv` processes each getting every message (block), a lapped
//! `recv` reporting its losses or failing with `--no-loss` (overwrite), the
//! end of the stream for early, late and orphaned subscribers, refused
//! combinations, and `stat`/`ls` showing the subscribers. Names carry the test's pid; every wait is
//! bounded; segments are unlinked and children killed on the way out.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shmlane");
const LIMIT: Duration = Duration::from_secs(60);

/// Unlinks its names and kills its children when dropped.
#[derive(Default)]
struct Cleanup {
    names: Vec<String>,
    children: Vec<Child>,
}

impl Cleanup {
    fn name(&mut self, tag: &str) -> String {
        let n = format!("/shmlane-clitest-{}-{tag}", std::process::id());
        let _ = std::fs::remove_file(shm_path(&n));
        self.names.push(n.clone());
        n
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.names {
            let _ = std::fs::remove_file(shm_path(n));
        }
    }
}

fn shm_path(name: &str) -> String {
    format!("/dev/shm{name}")
}

fn shmlane(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    c
}

fn run(args: &[&str]) -> Output {
    let mut c = shmlane(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, err) = (c.stdout.take().unwrap(), c.stderr.take().unwrap());
    let (o, e) = (reader(out), reader(err));
    let status = wait_bounded(&mut c);
    Output {
        status,
        stdout: o.recv_timeout(LIMIT).unwrap(),
        stderr: e.recv_timeout(LIMIT).unwrap(),
    }
}

/// Reads a pipe to its end on a thread.
fn reader(mut r: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        let _ = tx.send(v);
    });
    rx
}

/// Waits for a child at most LIMIT, killing it when it overstays.
fn wait_bounded(c: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > LIMIT {
            let _ = c.kill();
            let _ = c.wait();
            panic!("child {} did not exit within {LIMIT:?}", c.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn create(name: &str, extra: &[&str]) {
    let mut args = vec!["create", name];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(
        o.status.success(),
        "create failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `send NAME args` with `input` on stdin, piped into `recv NAME rargs`;
/// returns recv's output and both exit statuses.
fn pipe_through(name: &str, sargs: &[&str], rargs: &[&str], input: Vec<u8>) -> (Vec<u8>, ExitStatus, ExitStatus) {
    let mut ra = vec!["recv", name];
    ra.extend_from_slice(rargs);
    let mut recv = shmlane(&ra).stdout(Stdio::piped()).spawn().unwrap();
    let out = reader(recv.stdout.take().unwrap());
    let mut sa = vec!["send", name];
    sa.extend_from_slice(sargs);
    let mut send = shmlane(&sa).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = send.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let ss = wait_bounded(&mut send);
    let rs = wait_bounded(&mut recv);
    writer.join().unwrap();
    (out.recv_timeout(LIMIT).unwrap(), ss, rs)
}

#[test]
fn a_million_lines_arrive_intact() {
    let mut cl = Cleanup::default();
    let name = cl.name("lines");
    create(&name, &["--capacity", "256KiB"]);
    let mut input = Vec::new();
    for i in 1..=1_000_000u32 {
        writeln!(input, "{i}").unwrap();
    }
    let (out, ss, rs) = pipe_through(&name, &[], &[], input.clone());
    assert_eq!((ss.code(), rs.code()), (Some(0), Some(0)));
    assert_eq!(out.len(), input.len());
    assert!(out == input, "output differs from input");
}

#[test]
fn each_line_is_one_message_as_sent_crlf_and_empty_lines_kept() {
    let mut cl = Cleanup::default();
    let name = cl.name("records");
    create(&name, &["--capacity", "64KiB"]);
    // Empty lines, a CRLF line (the \r stays), a last line without newline.
    send_lines(&name, b"a\r\n\n\nb c\n\r\nlast");
    // Read the ring with the library, as any other consumer would.
    let ch = shmlane::bytes::Channel::open(&name).unwrap();
    let mut rx = ch.consumer().unwrap();
    let mut got = Vec::new();
    let mut buf = Vec::new();
    loop {
        match rx.recv_timeout(&mut buf, LIMIT) {
            Ok(()) => got.push(buf.clone()),
            Err(shmlane::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    let want: Vec<&[u8]> = vec![b"a\r", b"", b"", b"b c", b"\r", b"last"];
    assert_eq!(got, want);
}

#[test]
fn lines_longer_than_the_read_block_and_no_final_newline() {
    let mut cl = Cleanup::default();
    let name = cl.name("long");
    create(&name, &["--capacity", "16MiB", "--max-message", "3MiB"]);
    // send reads 1 MiB at a time; a 2.5 MiB line spans several reads.
    let mut input = b"first\n\n".to_vec();
    input.extend((0..(5usize << 19)).map(|i| b'a' + (i % 26) as u8));
    input.extend_from_slice(b"\r\nshort\n\nno newline at the end");
    let (out, ss, rs) = pipe_through(&name, &[], &[], input.clone());
    assert_eq!((ss.code(), rs.code()), (Some(0), Some(0)));
    // recv ends every message with a newline.
    input.push(b'\n');
    assert_eq!(out.len(), input.len());
    assert!(out == input, "output differs from input");
}

#[test]
fn binary_frames_round_trip() {
    let mut cl = Cleanup::default();
    let name = cl.name("frames");
    create(&name, &["--capacity", "64KiB", "--max-message", "4KiB"]);
    let mut input = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..5000u32 {
        let len = (i as usize * 37) % 4097;
        input.extend_from_slice(&(len as u32).to_le_bytes());
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            input.push(x as u8); // includes 0x00 and b'\n'
        }
    }
    let (out, ss, rs) = pipe_through(&name, &["--frames"], &["--frames"], input.clone());
    assert_eq!((ss.code(), rs.code()), (Some(0), Some(0)));
    assert!(out == input, "frames differ ({} vs {} bytes)", out.len(), input.len());
}

#[test]
fn recv_reports_a_killed_producer_after_printing_what_it_committed() {
    let mut cl = Cleanup::default();
    let name = cl.name("killed");
    create(&name, &["--capacity", "64KiB"]);
    let mut recv = shmlane(&["recv", &name]).stdout(Stdio::piped()).spawn().unwrap();
    let mut rout = recv.stdout.take().unwrap();
    let mut send = shmlane(&["send", &name]).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = send.stdin.take().unwrap();
    let mut expected = Vec::new();
    for i in 0..1000 {
        writeln!(expected, "committed {i}").unwrap();
    }
    stdin.write_all(&expected).unwrap();
    stdin.flush().unwrap();
    // recv flushes when the ring runs empty: read until every line is here.
    let (tx, rx) = mpsc::channel();
    let want = expected.len();
    let t = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        while got.len() < want {
            match rout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        tx.send(got.clone()).unwrap();
        let mut rest = Vec::new();
        let _ = rout.read_to_end(&mut rest);
        rest
    });
    let got = rx.recv_timeout(LIMIT).expect("recv printed the committed lines");
    assert!(got == expected);
    // Mid-stream: stdin still open, more to come. Kill the sender.
    send.kill().unwrap();
    let _ = send.wait();
    let rs = wait_bounded(&mut recv);
    drop(stdin);
    let rest = t.join().unwrap();
    assert_eq!(rs.code(), Some(3), "recv exit code for a dead producer");
    assert!(rest.is_empty(), "nothing after the committed lines");
    cl.children.push(recv);
    cl.children.push(send);
}

fn write_at(name: &str, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(shm_path(name)).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

fn read_u64_at(name: &str, offset: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(shm_path(name)).unwrap();
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, offset).unwrap();
    u64::from_le_bytes(b)
}

fn send_lines(name: &str, text: &[u8]) {
    let mut send = shmlane(&["send", name]).stdin(Stdio::piped()).spawn().unwrap();
    send.stdin.take().unwrap().write_all(text).unwrap();
    assert_eq!(wait_bounded(&mut send).code(), Some(0));
}

#[test]
fn recv_reports_a_scribbled_header_as_corrupt() {
    let mut cl = Cleanup::default();
    let name = cl.name("corrupt-header");
    create(&name, &["--capacity", "4KiB"]);
    send_lines(&name, b"a\nb\n");
    // capacity (offset 24) no longer a power of two.
    write_at(
        &name,
        shmlane::layout::HEADER_CAPACITY_OFFSET as u64,
        &3u64.to_le_bytes(),
    );
    let o = run(&["recv", &name, "--timeout", "5s"]);
    assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn recv_reports_scribbled_control_words_as_corrupt() {
    let mut cl = Cleanup::default();
    let name = cl.name("corrupt-control");
    create(&name, &["--capacity", "4KiB"]);
    send_lines(&name, b"a\nb\nc\n");
    let ctl = read_u64_at(&name, shmlane::layout::HEADER_CONTROL_OFFSET_OFFSET as u64);
    // tail far beyond head + capacity.
    let tail = ctl + shmlane::bytes::BYTES_TAIL_OFFSET as u64;
    write_at(&name, tail, &(1u64 << 40).to_le_bytes());
    let o = run(&["recv", &name, "--timeout", "5s"]);
    assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn recv_times_out_with_its_own_code() {
    let mut cl = Cleanup::default();
    let name = cl.name("timeout");
    create(&name, &["--capacity", "4KiB"]);
    let o = run(&["recv", &name, "--timeout", "300ms"]);
    assert_eq!(o.status.code(), Some(5), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty());
}

#[test]
fn usage_and_open_errors_exit_2() {
    let mut cl = Cleanup::default();
    let name = cl.name("missing");
    assert_eq!(run(&["recv", &name]).status.code(), Some(2));
    assert_eq!(run(&["send", &name]).status.code(), Some(2));
    assert_eq!(run(&["create", &name, "--capacity", "12XB"]).status.code(), Some(2));
    let o = run(&[
        "create",
        &name,
        "--kind",
        "spsc",
        "--capacity",
        "64",
        "--policy",
        "block",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--policy"));
    let o = run(&["send", &name, "--create", "--kind", "broadcast", "--capacity", "64"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--kind broadcast-bytes"));
    assert!(!std::path::Path::new(&shm_path(&name)).exists());
}

/// The text after `"key":` in a JSON line (up to the next ',' or '}').
fn json_field<'a>(json: &'a str, key: &str) -> &'a str {
    let k = format!("\"{key}\":");
    let at = json.find(&k).unwrap_or_else(|| panic!("no {key} in {json}")) + k.len();
    let rest = &json[at..];
    &rest[..rest.find([',', '}']).unwrap_or(rest.len())]
}

#[test]
fn stat_and_ls_show_broadcast_subscribers() {
    use shmlane::broadcast::{Builder, Policy};
    let mut cl = Cleanup::default();
    let name = cl.name("bcast");
    let ch = Builder::new()
        .capacity(8)
        .policy(Policy::Block)
        .create::<u64>(&name)
        .unwrap();
    let mut tx = ch.publisher().unwrap();
    let mut rx = ch.subscribe().unwrap();
    for i in 0..5u64 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(rx.try_recv(), Ok(1));

    let o = run(&["stat", &name, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json = String::from_utf8(o.stdout).unwrap();
    let json = json.trim();
    assert_eq!(json_field(json, "kind"), "\"broadcast\"");
    assert_eq!(json_field(json, "policy"), "\"block\"");
    assert_eq!(json_field(json, "published"), "5");
    assert_eq!(json_field(json, "publisher_attached"), "true");
    assert_eq!(json_field(json, "subscribers"), "1");
    assert_eq!(json_field(json, "max_lag"), "3");
    assert_eq!(json_field(json, "evicted"), "0");
    let list = &json[json.find("\"subscriber_list\":[").expect("subscriber list")..];
    assert_eq!(json_field(list, "pid"), std::process::id().to_string());
    assert_eq!(json_field(list, "alive"), "true");
    assert_eq!(json_field(list, "cursor"), "2");
    assert_eq!(json_field(list, "lag"), "3");
    assert_eq!(json_field(list, "received"), "2");
    assert_eq!(json_field(list, "lost"), "0");
    assert_eq!(json_field(list, "evicted"), "false");

    let o = run(&["stat", &name]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("cursor 2 lag 3 received 2 lost 0"), "{text}");

    let prefix = name.trim_start_matches('/');
    let o = run(&["ls", "--prefix", prefix]);
    let text = String::from_utf8(o.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("broadcast"), "{line}");
    assert!(line.contains("1 subscribers, 5 published, 0 evicted"), "{line}");

    // send/recv refuse it with a clear message pointing at the byte kind.
    for cmd in ["recv", "send"] {
        let o = run(&[cmd, &name]);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("u64 elements") && err.contains("--kind broadcast-bytes"),
            "{err}"
        );
    }
    drop((tx, rx));

    // A broadcast ring created from the shell, for programs using the library.
    let made = cl.name("bcast-made");
    let o = run(&[
        "create",
        &made,
        "--kind",
        "broadcast",
        "--capacity",
        "16",
        "--policy",
        "overwrite",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ch = Builder::new().open::<u64>(&made).unwrap();
    assert_eq!((ch.capacity(), ch.policy()), (16, Policy::Overwrite));
    let o = run(&["stat", &made, "--json"]);
    let json = String::from_utf8(o.stdout).unwrap();
    assert_eq!(json_field(json.trim(), "subscribers"), "0");
    assert!(json.contains("\"subscriber_list\":[]"), "{json}");
}

#[test]
fn count_stops_early_and_too_large_is_refused() {
    let mut cl = Cleanup::default();
    let name = cl.name("count");
    create(&name, &["--capacity", "4KiB", "--max-message", "16"]);
    send_lines(&name, b"1\n2\n3\n4\n");
    let o = run(&["recv", &name, "--count", "2"]);
    assert_eq!((o.status.code(), &o.stdout[..]), (Some(0), &b"1\n2\n"[..]));
    let mut send = shmlane(&["send", &name])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = reader(send.stderr.take().unwrap());
    send.stdin.take().unwrap().write_all(&[b'x'; 100]).unwrap();
    assert_eq!(wait_bounded(&mut send).code(), Some(6));
    assert!(String::from_utf8_lossy(&err.recv_timeout(LIMIT).unwrap()).contains("larger than"));
}

#[test]
fn ls_gc_rm_tell_live_dead_corrupt_and_foreign_apart() {
    let mut cl = Cleanup::default();
    let live = cl.name("gc-live");
    let dead = cl.name("gc-dead");
    let bad = cl.name("gc-corrupt");
    let foreign = cl.name("gc-foreign");
    let prefix = format!("shmlane-clitest-{}-gc-", std::process::id());
    create(&live, &["--capacity", "4KiB"]);
    let fresh = cl.name("gc-fresh");
    create(&fresh, &["--kind", "mpmc", "--capacity", "64"]); // nobody attached yet: kept
    create(&dead, &["--capacity", "4KiB"]);
    // A sender attaches and leaves (empty input): creator and endpoints are
    // gone, so the segment is stale.
    assert_eq!(run(&["send", &dead]).status.code(), Some(0));
    create(&bad, &["--capacity", "4KiB"]);
    write_at(
        &bad,
        shmlane::layout::HEADER_CAPACITY_OFFSET as u64,
        &3u64.to_le_bytes(),
    );
    std::fs::write(shm_path(&foreign), b"not a shmlane segment, just bytes").unwrap();
    // A live consumer holds an endpoint of `live`.
    cl.children
        .push(shmlane(&["recv", &live]).stdout(Stdio::null()).spawn().unwrap());
    let start = Instant::now();
    while shmlane::segment::inspect(&live).unwrap().endpoints.alive != 1 {
        assert!(start.elapsed() < LIMIT, "recv never attached");
        std::thread::sleep(Duration::from_millis(5));
    }

    let o = run(&["ls", "--prefix", &prefix]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8(o.stdout).unwrap();
    let line = |n: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .map(str::to_owned)
    };
    let l = line(&live).expect("live listed");
    assert!(
        l.contains(" bytes ") && l.contains("1/0") && !l.contains("stale"),
        "{l}"
    );
    let d = line(&dead).expect("dead listed");
    assert!(d.contains(" bytes ") && d.contains("stale"), "{d}");
    let f = line(&fresh).expect("fresh listed");
    assert!(f.contains(" mpmc ") && !f.contains("stale"), "{f}");
    assert!(line(&bad).expect("corrupt listed").contains("corrupt"));
    assert!(line(&foreign).is_none(), "foreign file listed:\n{text}");

    let o = run(&["gc", "--dry-run", "--prefix", &prefix]);
    assert_eq!(String::from_utf8(o.stdout).unwrap(), format!("would remove {dead}\n"));
    let o = run(&["gc", "--prefix", &prefix]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8(o.stdout).unwrap(), format!("removed {dead}\n"));
    for (n, exists) in [
        (&dead, false),
        (&fresh, true),
        (&live, true),
        (&bad, true),
        (&foreign, true),
    ] {
        assert_eq!(std::path::Path::new(&shm_path(n)).exists(), exists, "{n}");
    }

    let o = run(&["rm", &foreign]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a shmlane segment"));
    assert!(std::path::Path::new(&shm_path(&foreign)).exists());
    assert_eq!(run(&["rm", &bad]).status.code(), Some(0));
    assert!(!std::path::Path::new(&shm_path(&bad)).exists());

    let o = run(&["stat", &live, "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let j = String::from_utf8(o.stdout).unwrap();
    assert!(
        j.contains("\"kind\":\"bytes\"") && j.contains("\"endpoints_alive\":1"),
        "{j}"
    );
}

/// A child process killed and reaped when dropped (a failing test leaves
/// no subscriber waiting for a publisher that never comes).
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Kid {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Kid {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// `recv NAME args` with stdout and stderr piped (not read yet).
fn spawn_recv(name: &str, args: &[&str]) -> Kid {
    let mut a = vec!["recv", name];
    a.extend_from_slice(args);
    Kid(shmlane(&a)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap())
}

/// Waits (bounded) until `n` subscribers are attached to a byte broadcast.
fn wait_subscribers(name: &str, n: u32) {
    let start = Instant::now();
    while shmlane::inspect::broadcast(name).unwrap().0.subscribers != n {
        assert!(start.elapsed() < LIMIT, "{n} subscribers never attached to {name}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `send NAME args` with `input` on stdin; returns its status and stderr.
fn send_input(name: &str, args: &[&str], input: Vec<u8>) -> (ExitStatus, String) {
    let mut a = vec!["send", name];
    a.extend_from_slice(args);
    let mut send = shmlane(&a)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = reader(send.stderr.take().unwrap());
    let mut stdin = send.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let status = wait_bounded(&mut send);
    writer.join().unwrap();
    (
        status,
        String::from_utf8_lossy(&err.recv_timeout(LIMIT).unwrap()).into_owned(),
    )
}

/// A child whose stdout and stderr are being read on threads.
struct Reading {
    kid: Kid,
    out: mpsc::Receiver<Vec<u8>>,
    err: mpsc::Receiver<Vec<u8>>,
}

/// Starts reading a child's stdout and stderr.
fn reading(mut kid: Kid) -> Reading {
    let (out, err) = (reader(kid.stdout.take().unwrap()), reader(kid.stderr.take().unwrap()));
    Reading { kid, out, err }
}

impl Reading {
    /// Waits for the child and the ends of its output.
    fn finish(mut self) -> Output {
        let status = wait_bounded(&mut self.kid);
        Output {
            status,
            stdout: self.out.recv_timeout(LIMIT).unwrap(),
            stderr: self.err.recv_timeout(LIMIT).unwrap(),
        }
    }
}

/// Reads a child's stdout and stderr to their ends and waits for it.
fn finish(kid: Kid) -> Output {
    reading(kid).finish()
}

fn numbered_lines(n: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 1..=n {
        writeln!(v, "{i}").unwrap();
    }
    v
}

#[test]
fn broadcast_block_every_recv_gets_every_line_and_frame() {
    let mut cl = Cleanup::default();
    let name = cl.name("bb-block");
    // A small area: the publisher wraps and waits for the slowest reader
    // many times.
    create(
        &name,
        &["--kind", "broadcast-bytes", "--capacity", "64KiB", "--policy", "block"],
    );
    let input = numbered_lines(200_000);
    let subs: Vec<Reading> = (0..3).map(|_| reading(spawn_recv(&name, &[]))).collect();
    let (ss, err) = send_input(&name, &["--wait-subscribers", "3"], input.clone());
    assert_eq!(ss.code(), Some(0), "{err}");
    for c in subs {
        let o = c.finish();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.stdout.len(), input.len());
        assert!(o.stdout == input, "a subscriber's output differs from the input");
        assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    // Frames: any bytes, up to max-message.
    let framed = cl.name("bb-frames");
    let mut input = Vec::new();
    for i in 0..3000u32 {
        let len = (i as usize * 53) % 2049;
        input.extend_from_slice(&(len as u32).to_le_bytes());
        input.extend((0..len).map(|j| (i as usize * 31 + j) as u8));
    }
    create(
        &framed,
        &[
            "--kind",
            "broadcast-bytes",
            "--capacity",
            "16KiB",
            "--max-message",
            "4KiB",
        ],
    );
    let subs: Vec<Reading> = (0..2).map(|_| reading(spawn_recv(&framed, &["--frames"]))).collect();
    wait_subscribers(&framed, 2);
    let (ss, err) = send_input(&framed, &["--frames"], input.clone());
    assert_eq!(ss.code(), Some(0), "{err}");
    for c in subs {
        let o = c.finish();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            o.stdout == input,
            "frames differ ({} vs {} bytes)",
            o.stdout.len(),
            input.len()
        );
    }

    // send --create makes a byte broadcast with the policy asked for (and
    // publishes to nobody).
    let made = cl.name("bb-made");
    let (ss, err) = send_input(
        &made,
        &[
            "--create",
            "--kind",
            "broadcast-bytes",
            "--policy",
            "overwrite",
            "--capacity",
            "8KiB",
        ],
        b"to nobody\n".to_vec(),
    );
    assert_eq!(ss.code(), Some(0), "{err}");
    let o = run(&["stat", &made, "--json"]);
    let json = String::from_utf8(o.stdout).unwrap();
    assert_eq!(json_field(json.trim(), "kind"), "\"broadcast-bytes\"");
    assert_eq!(json_field(json.trim(), "policy"), "\"overwrite\"");
    assert_eq!(json_field(json.trim(), "max_message"), "2048");
    assert_eq!(json_field(json.trim(), "published"), "1");
}

/// The number after `key` in `text` (e.g. "lost 12 messages").
fn number_after(text: &str, key: &str) -> u64 {
    let at = text.find(key).unwrap_or_else(|| panic!("no '{key}' in {text}")) + key.len();
    let digits: String = text[at..].chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after '{key}' in {text}"))
}

#[test]
fn broadcast_overwrite_a_stalled_recv_reports_what_it_lost() {
    let mut cl = Cleanup::default();
    let name = cl.name("bb-over");
    create(
        &name,
        &[
            "--kind",
            "broadcast-bytes",
            "--capacity",
            "64KiB",
            "--policy",
            "overwrite",
        ],
    );
    // Neither recv's stdout is read until the publisher is done: each can
    // hold at most its 1 MiB buffer, the pipe and the 64 KiB ring of the
    // ~6.9 MB published, so both are lapped.
    const N: u32 = 1_000_000;
    let input = numbered_lines(N);
    let lossy = spawn_recv(&name, &[]);
    let strict = spawn_recv(&name, &["--no-loss"]);
    let (ss, err) = send_input(&name, &["--wait-subscribers", "2"], input.clone());
    assert_eq!(ss.code(), Some(0), "{err}");

    let o = finish(lossy);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    // Reports as it goes (each with what it lost since the last), then the
    // total.
    let reported: u64 = err
        .lines()
        .filter(|l| l.contains("lapped by the publisher: lost "))
        .map(|l| number_after(l, "lapped by the publisher: lost "))
        .sum();
    let last = err
        .lines()
        .find(|l| l.contains("messages in all"))
        .unwrap_or_else(|| panic!("no final count in {err}"));
    let (lost, received) = (number_after(last, "lost "), number_after(last, "received "));
    let lines: Vec<u32> = std::str::from_utf8(&o.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(lost > 0, "{err}");
    assert_eq!(reported, lost, "{err}");
    assert_eq!(received, lines.len() as u64, "{err}");
    assert_eq!(lost + received, u64::from(N), "{err}");
    // What arrived is in order, without duplicates, and ends with the last
    // line (still in the ring when the reader got to it). (It may start
    // anywhere: the publisher never waits, and may lap a reader before its
    // first read.)
    assert!(lines.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(lines.last(), Some(&N));

    let o = finish(strict);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(8), "{err}");
    assert!(err.contains("--no-loss"), "{err}");
    // Everything before the loss was written, in order from the first
    // (possibly nothing).
    assert!(input.starts_with(&o.stdout));

    // The channel's counters saw the losses.
    let (s, _) = shmlane::inspect::broadcast(&name).unwrap();
    assert!(s.lost > lost, "{s:?}");
}

#[test]
fn broadcast_end_of_stream_for_late_and_orphaned_recv() {
    let mut cl = Cleanup::default();
    let name = cl.name("bb-end");
    create(&name, &["--kind", "broadcast-bytes", "--capacity", "4KiB"]);
    // A recv attached before the publisher waits for it, and ends when it
    // closes and everything is read; --count stops early.
    let early = spawn_recv(&name, &[]);
    let two = spawn_recv(&name, &["--count", "2"]);
    wait_subscribers(&name, 2);
    let (ss, err) = send_input(&name, &[], b"a\nb\nc\n".to_vec());
    assert_eq!(ss.code(), Some(0), "{err}");
    let o = finish(early);
    assert_eq!((o.status.code(), &o.stdout[..]), (Some(0), &b"a\nb\nc\n"[..]));
    let o = finish(two);
    assert_eq!((o.status.code(), &o.stdout[..]), (Some(0), &b"a\nb\n"[..]));
    // After the publisher left: a new recv ends at once; one from the
    // oldest gets what is still in the ring first.
    let o = run(&["recv", &name, "--timeout", "20s"]);
    assert_eq!((o.status.code(), &o.stdout[..]), (Some(0), &b""[..]));
    let o = run(&["recv", &name, "--from-oldest", "--timeout", "20s"]);
    assert_eq!((o.status.code(), &o.stdout[..]), (Some(0), &b"a\nb\nc\n"[..]));
    // Nothing published within the timeout: exit 5.
    let quiet = cl.name("bb-quiet");
    create(&quiet, &["--kind", "broadcast-bytes", "--capacity", "4KiB"]);
    let o = run(&["recv", &quiet, "--timeout", "200ms"]);
    assert_eq!(o.status.code(), Some(5), "{}", String::from_utf8_lossy(&o.stderr));

    // A publisher killed mid-stream: recv writes what it published, exit 3.
    let killed = cl.name("bb-killed");
    create(&killed, &["--kind", "broadcast-bytes", "--capacity", "64KiB"]);
    let mut recv = spawn_recv(&killed, &[]);
    let mut rout = recv.stdout.take().unwrap();
    let mut send = Kid(shmlane(&["send", &killed, "--wait-subscribers", "1"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap());
    let mut stdin = send.stdin.take().unwrap();
    let expected = numbered_lines(1000);
    stdin.write_all(&expected).unwrap();
    stdin.flush().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let start = Instant::now();
    while got.len() < expected.len() {
        assert!(start.elapsed() < LIMIT, "recv did not print the published lines");
        match rout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(got == expected);
    send.kill().unwrap();
    let _ = send.wait();
    let rs = wait_bounded(&mut recv);
    drop(stdin);
    let mut rest = Vec::new();
    let _ = rout.read_to_end(&mut rest);
    assert_eq!(rs.code(), Some(3), "recv exit code for a dead publisher");
    assert!(rest.is_empty());
}

#[test]
fn broadcast_bad_combinations_exit_2() {
    let mut cl = Cleanup::default();
    let name = cl.name("bb-bad");
    let refused = |args: &[&str], says: &str| {
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    refused(
        &["create", &name, "--kind", "bytes", "--policy", "overwrite"],
        "--policy",
    );
    refused(
        &["create", &name, "--kind", "broadcast-bytes", "--capacity", "1000"],
        "power of two",
    );
    refused(
        &[
            "create",
            &name,
            "--kind",
            "broadcast-bytes",
            "--capacity",
            "4KiB",
            "--max-message",
            "4KiB",
        ],
        "max_message",
    );
    refused(
        &["create", &name, "--kind", "broadcast-bytes", "--elem-size", "8"],
        "--elem-size",
    );
    refused(
        &["send", &name, "--create", "--kind", "bytes", "--policy", "block"],
        "--policy",
    );
    assert!(!std::path::Path::new(&shm_path(&name)).exists());

    // Broadcast-only flags on a byte ring.
    let ring = cl.name("bb-ring");
    create(&ring, &["--capacity", "4KiB"]);
    refused(
        &["recv", &ring, "--from-oldest"],
        "--from-oldest applies to broadcast-bytes",
    );
    refused(&["recv", &ring, "--no-loss"], "--no-loss applies to broadcast-bytes");
    refused(
        &["send", &ring, "--wait-subscribers", "1"],
        "--wait-subscribers applies",
    );

    // A second publisher while one is attached.
    let bb = cl.name("bb-busy");
    create(&bb, &["--kind", "broadcast-bytes", "--capacity", "4KiB"]);
    let mut first = Kid(shmlane(&["send", &bb]).stdin(Stdio::piped()).spawn().unwrap());
    let start = Instant::now();
    while !shmlane::inspect::broadcast(&bb).unwrap().0.publisher_attached {
        assert!(start.elapsed() < LIMIT, "send never attached");
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = run(&["send", &bb]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    drop(first.stdin.take());
    assert_eq!(wait_bounded(&mut first).code(), Some(0));
}

#[test]
fn stat_and_ls_show_byte_broadcast_subscribers() {
    let mut cl = Cleanup::default();
    let name = cl.name("bb-stat");
    create(
        &name,
        &[
            "--kind",
            "broadcast-bytes",
            "--capacity",
            "64KiB",
            "--policy",
            "overwrite",
        ],
    );
    let subs: Vec<Kid> = (0..2).map(|_| spawn_recv(&name, &[])).collect();
    wait_subscribers(&name, 2);
    let o = run(&["stat", &name, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json = String::from_utf8(o.stdout).unwrap();
    let json = json.trim();
    assert_eq!(json_field(json, "kind"), "\"broadcast-bytes\"");
    assert_eq!(json_field(json, "policy"), "\"overwrite\"");
    assert_eq!(json_field(json, "subscribers"), "2");
    assert_eq!(json_field(json, "published"), "0");
    for c in &subs {
        assert!(json.contains(&format!("\"pid\":{},\"alive\":true", c.id())), "{json}");
    }
    let o = run(&["stat", &name]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("subscriber ")).count(),
        2,
        "{text}"
    );
    let prefix = name.trim_start_matches('/');
    let o = run(&["ls", "--prefix", prefix]);
    let text = String::from_utf8(o.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("broadcast-bytes") && line.contains("64KiB"), "{line}");
    assert!(
        line.contains("(overwrite, 2 subscribers, 0 published, 0 evicted)"),
        "{line}"
    );

    let (ss, err) = send_input(&name, &[], b"x\ny\n".to_vec());
    assert_eq!(ss.code(), Some(0), "{err}");
    for c in subs {
        let o = finish(c);
        assert_eq!((o.status.code(), &o.stdout[..]), (Some(0), &b"x\ny\n"[..]));
    }
    let o = run(&["stat", &name, "--json"]);
    let json = String::from_utf8(o.stdout).unwrap();
    assert_eq!(json_field(json.trim(), "published"), "2");
    assert_eq!(json_field(json.trim(), "subscribers"), "0");
}
