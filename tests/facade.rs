//! Only `src/sync.rs` may name `core::sync::atomic` / `std::sync::atomic`
//! or `core::cell::UnsafeCell`: everything else goes through the loom facade,
//! or loom could not see it. (clippy's `disallowed-types` checks types; this
//! test also catches paths used in expressions and `use` lines.)

#[test]
fn only_sync_rs_names_atomics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut stack = vec![root];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("sync.rs") {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for banned in ["sync::atomic", "cell::UnsafeCell"] {
                    if code.contains(banned) {
                        offenders.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(files >= 5, "scanned too few files: {files}");
    assert!(
        offenders.is_empty(),
        "atomics named outside src/sync.rs:\n{}",
        offenders.join("\n")
    );
}
