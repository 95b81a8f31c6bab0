//! Bad inputs to segment creation and opening: each gets its own clear
//! error, nothing is left half-made, and nothing is lost. Also modes, stale
//! detection and reclaiming, and the bounded wait for a creator that has
//! not finished initialising.
#![cfg(not(miri))]

mod common;

use common::{role, unique_name, Unlink};
use shmlane::layout::{HEADER_ABI_VERSION_OFFSET, HEADER_KIND_OFFSET};
use shmlane::spsc::{Builder, Channel};
use shmlane::Error;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::time::Duration;

fn shm_path(name: &str) -> String {
    format!("/dev/shm{name}")
}

fn poke(name: &str, offset: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(shm_path(name)).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

#[test]
fn invalid_names_are_refused_with_the_reason() {
    let long = format!("/{}", "a".repeat(256));
    for bad in ["", "noslash", "/", "/a/b", "/..", "/.", long.as_str(), "/nul\0byte"] {
        let e = Channel::<u64>::create(bad, 8).unwrap_err();
        assert!(matches!(e, Error::InvalidName { .. }), "{bad:?}: {e}");
        assert!(e.to_string().contains("invalid segment name"), "{e}");
        assert!(matches!(Channel::<u64>::open(bad), Err(Error::InvalidName { .. })));
    }
    // 255 bytes after the slash is the limit, and is accepted.
    let ok = format!("/{}", "b".repeat(255));
    let _u = Unlink(ok.clone());
    Channel::<u64>::create(&ok, 8).unwrap();
}

#[test]
fn bad_capacity_is_refused() {
    let name = unique_name("cap");
    for cap in [0usize, 3, 1000] {
        let e = Channel::<u64>::create(&name, cap).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        assert!(e.to_string().contains("power of two"), "{e}");
    }
    assert!(
        matches!(Channel::<u64>::open(&name), Err(Error::NotFound { .. })),
        "nothing left behind"
    );
}

#[test]
fn missing_segment_is_not_found() {
    let e = Channel::<u64>::open("/shmlane-test-does-not-exist").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }));
    assert!(matches!(
        shmlane::segment::unlink("/shmlane-test-does-not-exist"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn wrong_element_type_or_size_is_refused() {
    let name = unique_name("type");
    let _u = Unlink(name.clone());
    let ch = Channel::<u64>::create(&name, 8).unwrap();
    let mut tx = ch.producer().unwrap();
    tx.push(42).unwrap();
    for e in [
        Channel::<i64>::open(&name).unwrap_err(),
        Channel::<u32>::open(&name).unwrap_err(),
        Channel::<[u8; 8]>::open(&name).unwrap_err(),
    ] {
        assert!(matches!(e, Error::TypeMismatch { .. }), "{e}");
        assert!(e.to_string().contains("same element type"), "{e}");
    }
    // Nothing lost: the right type still reads the message.
    let mut rx = Channel::<u64>::open(&name).unwrap().consumer().unwrap();
    assert_eq!(rx.try_pop(), Ok(42));
}

#[test]
fn already_exists_live_and_stale() {
    let name = unique_name("exists");
    let _u = Unlink(name.clone());
    let ch = Channel::<u64>::create(&name, 8).unwrap();
    let e = Channel::<u64>::create(&name, 8).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { stale: false, .. }), "{e}");
    assert!(!shmlane::segment::is_stale(&name), "creator alive");
    drop(ch);
    // The creator (this process) is alive: still not stale, reclaim refuses.
    let e = Builder::new().reclaim_stale(true).create::<u64>(&name, 8).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { stale: false, .. }));
}

#[test]
fn stale_segment_is_detected_and_reclaimed() {
    if role().as_deref() == Some("creator") {
        let ch = Channel::<u64>::create(&common::env("SEG"), 8).unwrap();
        let mut tx = ch.producer().unwrap();
        tx.push(1).unwrap();
        std::mem::forget(tx); // exits without detaching, like a crash
        return;
    }
    if role().is_some() {
        return;
    }
    let name = unique_name("stale");
    let _u = Unlink(name.clone());
    let mut child = common::spawn(
        "stale_segment_is_detected_and_reclaimed",
        "creator",
        &[("SEG", name.clone())],
    );
    assert!(child.wait_bounded(Duration::from_secs(30)).success());
    assert!(shmlane::segment::is_stale(&name));
    let e = Channel::<u64>::create(&name, 8).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { stale: true, .. }), "{e}");
    assert!(e.to_string().contains("shmlane rm"), "{e}");
    let ch = Builder::new().reclaim_stale(true).create::<u64>(&name, 16).unwrap();
    assert_eq!(ch.capacity(), 16, "a fresh segment");
}

#[test]
fn abi_kind_and_magic_are_checked() {
    let name = unique_name("abi");
    let _u = Unlink(name.clone());
    let _ch = Channel::<u64>::create(&name, 8).unwrap();
    poke(&name, HEADER_ABI_VERSION_OFFSET as u64, &99u32.to_le_bytes());
    let e = Channel::<u64>::open(&name).unwrap_err();
    assert!(matches!(e, Error::AbiMismatch { found: 99, .. }), "{e}");
    assert!(e.to_string().contains("ABI version 99"), "{e}");
    poke(
        &name,
        HEADER_ABI_VERSION_OFFSET as u64,
        &shmlane::layout::ABI_VERSION.to_le_bytes(),
    );
    poke(
        &name,
        HEADER_KIND_OFFSET as u64,
        &(shmlane::layout::Kind::Mpmc as u32).to_le_bytes(),
    );
    assert!(matches!(Channel::<u64>::open(&name), Err(Error::KindMismatch { .. })));
    poke(&name, HEADER_KIND_OFFSET as u64, &999u32.to_le_bytes());
    assert!(matches!(Channel::<u64>::open(&name), Err(Error::Corrupt { .. })));
    poke(&name, 0, b"NOTSHMLN");
    let e = Channel::<u64>::open(&name).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("bad magic"), "{e}");
}

#[test]
fn truncated_and_too_small_segments_are_refused() {
    let name = unique_name("trunc");
    let _u = Unlink(name.clone());
    let _ch = Channel::<u64>::create(&name, 1024).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(shm_path(&name)).unwrap();
    f.set_len(4096).unwrap();
    let e = Channel::<u64>::open(&name).unwrap_err();
    assert!(matches!(e, Error::Truncated { actual: 4096, .. }), "{e}");
    f.set_len(100).unwrap();
    let e = Builder::new()
        .init_timeout(Duration::from_millis(20))
        .open::<u64>(&name)
        .unwrap_err();
    assert!(matches!(e, Error::Truncated { actual: 100, .. }), "{e}");
}

#[test]
fn segment_still_being_initialised_is_a_bounded_wait() {
    let name = unique_name("init");
    let _u = Unlink(name.clone());
    // A creator that made the file but has not sized it yet...
    let f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(shm_path(&name))
        .unwrap();
    let quick = Builder::new().init_timeout(Duration::from_millis(30));
    assert!(matches!(quick.open::<u64>(&name), Err(Error::NotInitialized { .. })));
    // ...or sized it but not published the magic yet.
    f.set_len(1 << 16).unwrap();
    assert!(matches!(quick.open::<u64>(&name), Err(Error::NotInitialized { .. })));
}

#[test]
fn modes_are_exact_regardless_of_umask() {
    let name = unique_name("mode");
    let _u = Unlink(name.clone());
    let _ch = Channel::<u64>::create(&name, 8).unwrap();
    let m = std::fs::metadata(shm_path(&name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(m, 0o600);
    let name2 = unique_name("mode");
    let _u2 = Unlink(name2.clone());
    // SAFETY: umask only changes this process's file creation mask.
    let old = unsafe { libc::umask(0o077) };
    let r = Builder::new().mode(0o640).create::<u64>(&name2, 8);
    // SAFETY: as above, restoring it.
    unsafe { libc::umask(old) };
    r.unwrap();
    let m = std::fs::metadata(shm_path(&name2)).unwrap().permissions().mode() & 0o777;
    assert_eq!(m, 0o640);
}

#[test]
fn permission_denied_names_the_segment() {
    if role().as_deref() == Some("stranger") {
        let e = Channel::<u64>::open(&common::env("SEG")).unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
        assert!(e.to_string().contains(&common::env("SEG")), "{e}");
        return;
    }
    if role().is_some() {
        return;
    }
    let name = unique_name("perm");
    let _u = Unlink(name.clone());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Root bypasses modes: open as another user in a child process.
        let _ch = Channel::<u64>::create(&name, 8).unwrap();
        use std::os::unix::process::CommandExt;
        let st = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "permission_denied_names_the_segment",
                "--test-threads=1",
                "-q",
            ])
            .env(common::ROLE_VAR, "stranger")
            .env("SEG", &name)
            .uid(65534)
            .gid(65534)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    } else {
        let _ch = Builder::new().mode(0o000).create::<u64>(&name, 8).unwrap();
        let e = Channel::<u64>::open(&name).unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
    }
}

#[test]
fn full_dev_shm_is_no_space_at_create() {
    // Ask for more than the whole /dev/shm filesystem: posix_fallocate must
    // refuse at once (tmpfs checks the size before allocating anything).
    // SAFETY: statvfs writes into the zeroed struct we pass.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let path = std::ffi::CString::new("/dev/shm").unwrap();
    // SAFETY: valid C string and out pointer.
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
    let total = st.f_blocks as u64 * st.f_frsize as u64;
    let slots = (total / 8 + 1).next_power_of_two() * 2;
    if slots * 8 > shmlane::layout::MAX_SEGMENT_LEN / 2 {
        eprintln!("skipped: /dev/shm is larger than the largest segment");
        return;
    }
    let name = unique_name("nospace");
    let _u = Unlink(name.clone());
    let e = Channel::<u64>::create(&name, slots as usize).unwrap_err();
    assert!(matches!(e, Error::NoSpace { .. }), "{e}");
    assert!(e.to_string().contains("no space"), "{e}");
    assert!(
        matches!(Channel::<u64>::open(&name), Err(Error::NotFound { .. })),
        "removed after failing"
    );
}

#[test]
fn second_live_attach_is_busy_with_the_holder_pid() {
    let name = unique_name("busy");
    let _u = Unlink(name.clone());
    let ch = Channel::<u64>::create(&name, 8).unwrap();
    let _tx = ch.producer().unwrap();
    let other = Channel::<u64>::open(&name).unwrap();
    let e = other.producer().unwrap_err();
    assert!(
        matches!(e, Error::EndpointBusy { pid, .. } if pid == std::process::id()),
        "{e}"
    );
    assert!(e.to_string().contains("only one producer"), "{e}");
    let _rx = other.consumer().unwrap();
    assert!(matches!(ch.consumer(), Err(Error::EndpointBusy { .. })));
}

#[test]
fn truncated_under_live_endpoints_is_an_error_not_sigbus() {
    // Run in a child so that, were the guard broken, only the child dies
    // (and this test fails on its exit status instead of taking down the
    // whole test binary).
    if role().as_deref() == Some("victim") {
        use shmlane::{TryRecvError, TrySendError, WaitConfig, WaitStrategy};
        let name = common::env("SEG");
        let ch = Channel::<u64>::create(&name, 1 << 12).unwrap();
        let mut tx = ch.producer().unwrap();
        let mut rx = ch.consumer().unwrap();
        let fast = WaitConfig {
            strategy: WaitStrategy::Park,
            check_interval: Duration::from_millis(1),
        };
        tx.set_wait_config(fast);
        rx.set_wait_config(fast);
        for i in 0..100 {
            tx.push(i).unwrap();
        }
        // Another process (simulated by a plain file operation) truncates.
        std::fs::OpenOptions::new()
            .write(true)
            .open(shm_path(&name))
            .unwrap()
            .set_len(0)
            .unwrap();
        // Every access now faults; the guard absorbs it and the next slow
        // path reports corruption.
        let mut saw_corrupt = false;
        for _ in 0..200 {
            std::thread::sleep(Duration::from_millis(2));
            match rx.try_pop() {
                Err(TryRecvError::Corrupt { .. }) => saw_corrupt = true,
                Ok(_) | Err(TryRecvError::Empty) => {}
                Err(e) => panic!("{e:?}"),
            }
            match tx.try_push(1) {
                Err(TrySendError::Corrupt { .. }) => saw_corrupt = true,
                Ok(()) | Err(TrySendError::Full(_)) => {}
                Err(e) => panic!("{e:?}"),
            }
            if saw_corrupt {
                break;
            }
        }
        assert!(saw_corrupt, "truncation never reported");
        assert!(ch.segment().unwrap().truncated());
        // Blocking calls end in the same error (after at most the elements
        // the consumer had already seen published, now read as zeros).
        let r = (0..200)
            .map(|_| rx.pop_timeout(Duration::from_secs(5)))
            .find(|r| r.is_err());
        assert!(
            matches!(r, Some(Err(shmlane::RecvTimeoutError::Corrupt { .. }))),
            "{r:?}"
        );
        println!("survived");
        return;
    }
    if role().is_some() {
        return;
    }
    let name = unique_name("sigbus");
    let _u = Unlink(name.clone());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "truncated_under_live_endpoints_is_an_error_not_sigbus",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(common::ROLE_VAR, "victim")
        .env("SEG", &name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("survived"),
        "child status {:?}\n{}\n{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
}
