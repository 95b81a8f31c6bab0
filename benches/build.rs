//! Compiles the C loops of the `c-abi-*` transports (`c/c_abi.c`) with the
//! `cc` crate. Without a working C compiler the build goes on: the
//! transports are then listed as skipped with the reason (cfg
//! `shmlane_c_abi` unset, `SHMLANE_BENCH_NO_C` holds the error).

fn main() {
    println!("cargo:rustc-check-cfg=cfg(shmlane_c_abi)");
    println!("cargo:rerun-if-changed=c/c_abi.c");
    println!("cargo:rerun-if-changed=../ffi/include/shmlane.h");
    let r = cc::Build::new()
        .file("c/c_abi.c")
        .include("../ffi/include")
        .flag_if_supported("-std=c99")
        .flag_if_supported("-Wall")
        .flag_if_supported("-Wextra")
        .cargo_warnings(false)
        .try_compile("shmlane_bench_c_abi");
    match r {
        Ok(()) => println!("cargo:rustc-cfg=shmlane_c_abi"),
        Err(e) => {
            let why = e.to_string().replace(['\n', '\r'], " ");
            println!("cargo:warning=c-abi benchmark transports disabled: {why}");
            println!("cargo:rustc-env=SHMLANE_BENCH_NO_C={why}");
        }
    }
}
