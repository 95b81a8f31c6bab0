//! `ls`, `stat`, `rm` and `gc`: inspecting and cleaning /dev/shm.
//!
//! A file in /dev/shm is a shmlane segment when its first 8 bytes are the
//! shmlane magic. Other files are ignored by `ls` and `gc` and refused by
//! `rm`. A segment with the right magic whose header does not validate is
//! listed as corrupt; `gc` leaves it alone (it cannot tell who uses it),
//! `rm` removes it.

use crate::exit::{Fail, Res, FAILURE, USAGE};
use crate::units::fmt_size;
use shmlane::broadcast::{Policy, Stats as BroadcastStats, SubscriberStats};
use shmlane::inspect::{self, Counters, Live};
use shmlane::layout::{Kind, MAGIC};
use shmlane::segment;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// Where POSIX shared memory lives on Linux.
pub const SHM_DIR: &str = "/dev/shm";

/// A shmlane file found in /dev/shm.
struct Found {
    name: String,
    uid: u32,
    mode: u32,
}

/// Whether the file starts with the shmlane magic (`None`: unreadable).
fn has_magic(path: &Path) -> Option<bool> {
    let mut f = fs::File::open(path).ok()?;
    let mut m = [0u8; 8];
    match f.read_exact(&mut m) {
        Ok(()) => Some(u64::from_le_bytes(m) == MAGIC),
        Err(_) => Some(false),
    }
}

/// Every shmlane segment in /dev/shm whose name starts with `/prefix`.
fn scan(prefix: &str) -> Res<Vec<Found>> {
    let prefix = prefix.trim_start_matches('/');
    let dir = fs::read_dir(SHM_DIR).map_err(|e| Fail::new(FAILURE, format!("reading {SHM_DIR}: {e}")))?;
    let mut out = Vec::new();
    for ent in dir.flatten() {
        let Ok(meta) = ent.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let Some(file) = ent.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !file.starts_with(prefix) || has_magic(&ent.path()) != Some(true) {
            continue;
        }
        out.push(Found {
            name: format!("/{file}"),
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// User names by uid, from /etc/passwd (numbers when absent).
fn users() -> HashMap<u32, String> {
    let text = fs::read_to_string("/etc/passwd").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

fn user_of(users: &HashMap<u32, String>, uid: u32) -> String {
    users.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
}

/// Normalises a name given on the command line: `x` means `/x`.
pub fn norm(name: &str) -> String {
    if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/{name}")
    }
}

fn capacity_text(l: &Live) -> String {
    let g = &l.info.header.geometry;
    match g.kind {
        Kind::Bytes | Kind::BytesMpsc | Kind::BytesMpmc | Kind::BroadcastBytes => fmt_size(g.capacity),
        _ => format!("{}x{}B", g.capacity, l.info.header.elem_size),
    }
}

/// Counters and subscribers of a broadcast segment (`None` for other
/// kinds; `inspect::live` reports broadcast counters as `Unsupported`).
fn broadcast_of(name: &str, l: &Live) -> Option<shmlane::Result<(BroadcastStats, Vec<SubscriberStats>)>> {
    matches!(l.info.header.geometry.kind, Kind::Broadcast | Kind::BroadcastBytes).then(|| inspect::broadcast(name))
}

fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::Block => "block",
        Policy::Overwrite => "overwrite",
    }
}

/// `shmlane ls`.
pub fn ls(prefix: &str) -> Res<()> {
    let users = users();
    let found = scan(prefix)?;
    println!(
        "{:<32} {:<15} {:>12} {:>10} {:>10} {:<10} {:>5}",
        "NAME", "KIND", "CAPACITY", "DEPTH", "ALIVE/DEAD", "OWNER", "MODE"
    );
    for f in found {
        let owner = user_of(&users, f.uid);
        match inspect::live(&f.name) {
            Ok(l) => {
                let e = &l.info.endpoints;
                let mut depth = l.counters.depth().map_or("-".to_owned(), |d| d.to_string());
                let mut stale = if l.info.is_stale() { " stale" } else { "" }.to_owned();
                // Broadcast: the depth is the slowest subscriber's lag.
                match broadcast_of(&f.name, &l) {
                    Some(Ok((s, _))) => {
                        depth = s.max_lag.to_string();
                        let _ = write!(
                            stale,
                            "  ({}, {} subscribers, {} published, {} evicted)",
                            policy_name(s.policy),
                            s.subscribers,
                            s.published,
                            s.evicted
                        );
                    }
                    Some(Err(e)) => {
                        let _ = write!(stale, "  (counters unreadable: {e})");
                    }
                    None => {}
                }
                println!(
                    "{:<32} {:<15} {:>12} {:>10} {:>10} {:<10} {:>5o}{stale}",
                    f.name,
                    l.info.header.geometry.kind.name(),
                    capacity_text(&l),
                    depth,
                    format!("{}/{}", e.alive, e.dead),
                    owner,
                    f.mode
                );
            }
            Err(e) => {
                let what = match e {
                    shmlane::Error::Corrupt { .. }
                    | shmlane::Error::Truncated { .. }
                    | shmlane::Error::AbiMismatch { .. } => "corrupt",
                    shmlane::Error::PermissionDenied { .. } => "no-access",
                    shmlane::Error::NotInitialized { .. } => "initialising",
                    _ => "unreadable",
                };
                println!(
                    "{:<32} {:<15} {:>12} {:>10} {:>10} {:<10} {:>5o}  ({e})",
                    f.name, what, "-", "-", "-", owner, f.mode
                );
            }
        }
    }
    Ok(())
}

fn refuse_foreign(name: &str) -> Res<()> {
    let file = name.trim_start_matches('/');
    let path = Path::new(SHM_DIR).join(file);
    if !path.exists() {
        return Err(Fail::new(USAGE, format!("no segment '{name}' in {SHM_DIR}")));
    }
    if has_magic(&path) != Some(true) {
        return Err(Fail::new(
            USAGE,
            format!(
                "'{name}' is not a shmlane segment (no shmlane magic at offset 0); not removing it. \
                 If you are sure, remove {} yourself",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// `shmlane rm`.
pub fn rm(name: &str) -> Res<()> {
    let name = norm(name);
    segment::validate_name(&name)?;
    refuse_foreign(&name)?;
    segment::unlink(&name)?;
    Ok(())
}

/// `shmlane gc`.
pub fn gc(dry_run: bool, prefix: &str) -> Res<()> {
    let mut failed = false;
    for f in scan(prefix)? {
        let Ok(info) = segment::inspect(&f.name) else { continue };
        if !info.is_stale() {
            continue;
        }
        if dry_run {
            println!("would remove {}", f.name);
            continue;
        }
        match segment::unlink(&f.name) {
            Ok(()) => println!("removed {}", f.name),
            Err(shmlane::Error::NotFound { .. }) => {}
            Err(e) => {
                eprintln!("shmlane gc: {e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(Fail::quiet(FAILURE))
    } else {
        Ok(())
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Key/value pairs of a segment: numbers stay numbers in JSON.
enum V {
    N(u64),
    S(String),
    /// Broadcast subscribers: a JSON array of objects, one text line each.
    Subs(Vec<SubscriberStats>),
}

fn fields(name: &str, l: &Live) -> Res<Vec<(&'static str, V)>> {
    use V::{N, S};
    let h = &l.info.header;
    let g = &h.geometry;
    let e = &l.info.endpoints;
    let creator_alive =
        shmlane::endpoint::token_alive(shmlane::endpoint::token(h.creator_pid, u64::from(h.creator_start)));
    let mut v = vec![
        ("name", S(name.to_owned())),
        ("kind", S(g.kind.name().to_owned())),
        ("abi_version", N(u64::from(h.abi_version))),
        ("capacity", N(g.capacity)),
        ("slot_size", N(u64::from(g.slot_size))),
        ("elem_size", N(u64::from(h.elem_size))),
        ("elem_align", N(u64::from(h.elem_align))),
        ("max_message", N(g.max_message)),
        ("total_len", N(h.placement.total_len)),
        ("data_len", N(h.placement.data_len)),
        ("endpoint_count", N(u64::from(g.endpoint_count))),
        ("endpoints_alive", N(u64::from(e.alive))),
        ("endpoints_dead", N(u64::from(e.dead))),
        ("endpoints_free", N(u64::from(e.free))),
        ("creator_pid", N(u64::from(h.creator_pid))),
        ("creator_alive", S(creator_alive.to_string())),
        ("created_unix_ns", N(h.created_unix_ns)),
        ("stall_timeout_ns", N(h.stall_timeout_ns)),
        ("stale", S(l.info.is_stale().to_string())),
    ];
    match l.counters {
        Counters::Bytes(s) => v.extend([
            ("head", N(s.head)),
            ("tail", N(s.tail)),
            ("depth_bytes", N(s.depth_bytes)),
            ("depth", N(s.depth_records)),
            ("sent", N(s.sent)),
            ("sent_bytes", N(s.sent_bytes)),
            ("received", N(s.received)),
            ("received_bytes", N(s.received_bytes)),
            ("lost", N(s.lost)),
            ("consumers_alive", N(u64::from(s.consumers.alive))),
            ("producers_alive", N(u64::from(s.producers.alive))),
        ]),
        Counters::Spsc(s) => v.extend([
            ("depth", N(s.depth)),
            ("pushed", N(s.pushed)),
            ("popped", N(s.popped)),
            ("producer", S(format!("{:?}", s.producer))),
            ("consumer", S(format!("{:?}", s.consumer))),
        ]),
        Counters::Mpmc(s) => v.extend([
            ("depth", N(s.depth)),
            ("sent", N(s.sent)),
            ("received", N(s.received)),
            ("lost_sends", N(s.lost_sends)),
            ("lost_recvs", N(s.lost_recvs)),
            ("aborted", N(s.aborted)),
            ("senders", N(u64::from(s.senders))),
            ("receivers", N(u64::from(s.receivers))),
        ]),
        Counters::Unsupported(_) => {}
    }
    if let Some(b) = broadcast_of(name, l) {
        let (s, subs) = b?;
        v.extend([
            ("policy", S(policy_name(s.policy).to_owned())),
            ("published", N(s.published)),
            ("publisher_attached", S(s.publisher_attached.to_string())),
            ("subscribers", N(u64::from(s.subscribers))),
            ("max_lag", N(s.max_lag)),
            ("lost", N(s.lost)),
            ("evicted", N(s.evicted)),
            ("subscriber_list", V::Subs(subs)),
        ]);
    }
    Ok(v)
}

fn sub_json(s: &SubscriberStats) -> String {
    format!(
        "{{\"entry\":{},\"pid\":{},\"alive\":{},\"cursor\":{},\"lag\":{},\"received\":{},\"lost\":{},\"evicted\":{}}}",
        s.entry, s.pid, s.alive, s.cursor, s.lag, s.received, s.lost, s.evicted
    )
}

fn sub_text(s: &SubscriberStats) -> String {
    format!(
        "entry {} pid {} {} cursor {} lag {} received {} lost {}{}",
        s.entry,
        s.pid,
        if s.alive { "alive" } else { "dead" },
        s.cursor,
        s.lag,
        s.received,
        s.lost,
        if s.evicted { " evicted" } else { "" }
    )
}

fn render(name: &str, l: &Live, json: bool) -> Res<String> {
    let f = fields(name, l)?;
    if json {
        let body: Vec<String> = f
            .iter()
            .map(|(k, v)| match v {
                V::N(n) => format!("\"{k}\":{n}"),
                V::S(s) if s == "true" || s == "false" => format!("\"{k}\":{s}"),
                V::S(s) => format!("\"{k}\":{}", json_str(s)),
                V::Subs(subs) => {
                    let items: Vec<String> = subs.iter().map(sub_json).collect();
                    format!("\"{k}\":[{}]", items.join(","))
                }
            })
            .collect();
        Ok(format!("{{{}}}", body.join(",")))
    } else {
        let mut o = String::new();
        for (k, v) in &f {
            let _ = match v {
                V::N(n) => writeln!(o, "{k:<18} {n}"),
                V::S(s) => writeln!(o, "{k:<18} {s}"),
                V::Subs(subs) if subs.is_empty() => writeln!(o, "{:<18} none", "subscriber"),
                V::Subs(subs) => subs
                    .iter()
                    .try_for_each(|s| writeln!(o, "{:<18} {}", "subscriber", sub_text(s))),
            };
        }
        o.pop();
        Ok(o)
    }
}

/// `shmlane stat`.
pub fn stat(name: &str, json: bool, watch: Option<Duration>) -> Res<()> {
    let name = norm(name);
    loop {
        let l = inspect::live(&name)?;
        println!("{}", render(&name, &l, json)?);
        match watch {
            None => return Ok(()),
            Some(d) => {
                if !json {
                    println!();
                }
                std::thread::sleep(d);
            }
        }
    }
}
