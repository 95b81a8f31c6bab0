//! Fails when the committed `include/shmlane.h` differs from what cbindgen
//! generates from `src/lib.rs` now. Regenerate with
//! `SHMLANE_BLESS=1 cargo test -p shmlane-ffi --test header`.

use std::path::Path;

#[test]
fn header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen failed");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = dir.join("include/shmlane.h");
    if std::env::var_os("SHMLANE_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/shmlane.h is stale: regenerate it with SHMLANE_BLESS=1 cargo test -p shmlane-ffi --test header"
    );
}
