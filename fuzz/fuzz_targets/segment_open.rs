//! Opening a segment made of arbitrary bytes: the input becomes the file of
//! an anonymous segment (a memfd), which is then opened as every channel
//! kind and, when the open succeeds, used a little. Every step must end in
//! an error or a working handle; never a panic, an out-of-bounds access
//! (ASan), a SIGBUS or a hang. Inputs that begin with a valid header (made
//! by the seed corpus, or by the fuzzer keeping the magic) reach the
//! field-by-field validation of `HeaderSnapshot::validate` and the rings'
//! own checks.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shmlane::layout::{HEADER_SIZE, MAGIC};
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

fn memfd_with(data: &[u8]) -> OwnedFd {
    // SAFETY: a fresh memfd owned by us; the name is a valid C string.
    let fd = unsafe { libc::memfd_create(c"shmlane-fuzz".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create failed");
    // SAFETY: fd was just created and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut f = std::fs::File::from(owned.try_clone().unwrap());
    f.write_all(data).unwrap();
    owned
}

fn dup(fd: &OwnedFd) -> OwnedFd {
    fd.try_clone().unwrap()
}

fuzz_target!(|input: &[u8]| {
    // Keep the files small: the first 64 KiB of the input, and let the first
    // 8 bytes be forced to the magic half of the time so the fuzzer need not
    // discover it.
    let mut data = input[..input.len().min(1 << 16)].to_vec();
    if data.len() >= HEADER_SIZE && data[0] & 1 == 1 {
        data[..8].copy_from_slice(&MAGIC.to_le_bytes());
    }
    let fd = memfd_with(&data);

    if let Ok(ch) = shmlane::spsc::RawChannel::from_fd(dup(&fd), None) {
        let _ = ch.stats();
        if let (Ok(mut tx), Ok(mut rx)) = (ch.producer(), ch.consumer()) {
            let elem = vec![0xa5u8; ch.elem_size()];
            let mut out = vec![0u8; ch.elem_size()];
            for _ in 0..4 {
                let _ = tx.try_push(&elem);
                let _ = rx.try_pop(&mut out);
            }
            let _ = rx.pop_timeout(&mut out, Some(Duration::ZERO));
        }
    }
    if let Ok(ch) = shmlane::spsc::Channel::<u64>::from_fd(dup(&fd)) {
        if let (Ok(mut tx), Ok(mut rx)) = (ch.producer(), ch.consumer()) {
            let _ = tx.try_push(1);
            let _ = rx.try_pop();
        }
    }
    if let Ok(ch) = shmlane::mpmc::Channel::<u64>::from_fd(dup(&fd)) {
        let _ = ch.stats();
        if let (Ok(mut tx), Ok(mut rx)) = (ch.sender(), ch.receiver()) {
            for i in 0..4 {
                let _ = tx.try_send(i);
                let _ = rx.try_recv();
            }
        }
    }
    if let Ok(ch) = shmlane::mpmc::RawChannel::from_fd(&shmlane::mpmc::Builder::new(), dup(&fd), None) {
        let _ = ch.stats();
        if let (Ok(mut tx), Ok(mut rx)) = (ch.sender(), ch.receiver()) {
            let elems = vec![0xa5u8; 3 * ch.elem_size()];
            let mut out = vec![0u8; 3 * ch.elem_size()];
            let e = ch.elem_size();
            for _ in 0..2 {
                let _ = tx.try_send(&elems[..e]);
                let _ = tx.send_fast(&elems[..e]);
                let _ = tx.try_send_slice(&elems);
                let _ = rx.try_recv(&mut out[..e]);
                let _ = rx.recv_fast(&mut out[..e]);
                let _ = rx.try_recv_slice(&mut out);
                if let Ok(c) = rx.try_claim() {
                    let _ = c.as_slice().len();
                }
            }
        }
    }
    if let Ok(ch) = shmlane::broadcast::RawChannel::from_fd(&shmlane::broadcast::Builder::new(), dup(&fd), None) {
        let _ = (ch.stats(), ch.subscribers());
        if let (Ok(mut tx), Ok(mut a), Ok(mut b)) = (ch.publisher(), ch.subscribe(), ch.subscribe_from_oldest()) {
            let e = ch.elem_size();
            let elems = vec![0xa5u8; 3 * e];
            let mut out = vec![0u8; e];
            for _ in 0..2 {
                let _ = tx.try_send(&elems[..e]);
                let _ = tx.try_send_slice(&elems);
                let _ = a.try_recv(&mut out);
                if let Ok(g) = b.try_read() {
                    assert_eq!(g.as_slice().len(), e);
                }
            }
            let _ = (ch.stats(), ch.subscribers());
        }
    }
    if let Ok(ch) = shmlane::broadcast::BytesBuilder::new().from_fd(dup(&fd)) {
        let _ = (ch.stats(), ch.subscribers());
        let max = ch.max_message();
        if let (Ok(mut tx), Ok(mut a), Ok(mut b)) = (ch.publisher(), ch.subscribe(), ch.subscribe_from_oldest()) {
            let mut buf = Vec::new();
            for n in [0usize, 1, 13, 200] {
                let msg = vec![7u8; n.min(max)];
                let _ = tx.try_send(&msg);
                let _ = tx.try_send_held(&msg);
                tx.flush();
                if a.try_recv(&mut buf).is_ok() {
                    assert!(buf.len() <= max);
                }
                if let Ok(m) = b.try_read() {
                    assert!(m.bytes().len() <= max);
                }
            }
            let _ = (ch.stats(), ch.subscribers());
        }
    }
    if let Ok(ch) = shmlane::bytes::Channel::from_fd(dup(&fd)) {
        let _ = ch.stats();
        if let (Ok(mut tx), Ok(mut rx)) = (ch.producer(), ch.consumer()) {
            let mut buf = Vec::new();
            for n in [0usize, 1, 13, 200] {
                let msg = vec![7u8; n.min(ch.max_message())];
                let _ = tx.try_send(&msg);
                let _ = rx.try_recv(&mut buf);
                assert!(buf.len() <= ch.max_message());
            }
        }
    }
});
