#!/usr/bin/env bash
# C and C++ tests of the shmlane C ABI (called by .ci/run).
#
# Builds libshmlane (release) and the Rust peer, checks that include/shmlane.h
# is what cbindgen generates now, compiles the C programs (C99, -Wall -Wextra
# -Werror -pedantic) and the C++ programs (C++17) against the header and both
# the static and the shared library, runs them as separate processes talking
# to Rust processes in both directions (byte, fixed-size, MPMC and broadcast
# rings), runs the unit program and a broadcast publisher and subscriber under
# valgrind, and prints one summary line. Exit status non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."            # ffi/
FFI=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$FFI/../target}
REL=$CARGO_TARGET_DIR/release
OUT=$(mktemp -d)
TAG=shmlane-ffi-$$
pass=0
fail=0
failed=()

cleanup() {
  rm -rf "$OUT"
  rm -f /dev/shm/"$TAG"-* 2>/dev/null || true
}
trap cleanup EXIT

run() { # run NAME CMD...: one test, bounded in time
  local name=$1
  shift
  if [ "$(type -t "$1")" = function ]; then # timeout runs programs only
    set -- bash -c '"$@"' _ "$@"
  fi
  if timeout 60 "$@" >"$OUT/log" 2>&1; then
    pass=$((pass + 1))
    echo "ok   $name"
  else
    fail=$((fail + 1))
    failed+=("$name")
    echo "FAIL $name"
    sed 's/^/     | /' "$OUT/log"
  fi
}

echo "--- building libshmlane (release) and the Rust peer"
cargo build --release -q -p shmlane-ffi || { echo "ffi: build failed"; exit 1; }
run "header is current (cbindgen)" cargo test -q -p shmlane-ffi --test header

CFLAGS=(-std=c99 -Wall -Wextra -Werror -pedantic -I"$FFI/include" -I"$FFI/tests/c")
CXXFLAGS=(-std=c++17 -Wall -Wextra -Werror -I"$FFI/include" -I"$FFI/tests/c")
STATIC=("$REL/libshmlane.a" -lpthread -ldl -lm)
SHARED=(-L"$REL" -lshmlane -Wl,-rpath,"$REL")

for prog in unit consumer producer xproc bcast; do
  run "gcc $prog.c (static)" gcc "${CFLAGS[@]}" "tests/c/$prog.c" "${STATIC[@]}" -o "$OUT/$prog"
  run "gcc $prog.c (shared)" gcc "${CFLAGS[@]}" "tests/c/$prog.c" "${SHARED[@]}" -o "$OUT/$prog-so"
done
if [ -f tests/cpp/wrapper.cpp ]; then
  run "g++ wrapper.cpp (static)" g++ "${CXXFLAGS[@]}" tests/cpp/wrapper.cpp "${STATIC[@]}" -o "$OUT/wrapper"
  run "g++ wrapper.cpp (shared)" g++ "${CXXFLAGS[@]}" tests/cpp/wrapper.cpp "${SHARED[@]}" -o "$OUT/wrapper-so"
  run "g++ mpmc_anon.cpp (static)" g++ "${CXXFLAGS[@]}" tests/cpp/mpmc_anon.cpp "${STATIC[@]}" -o "$OUT/mpmc_anon"
  run "g++ mpmc_anon.cpp (shared)" g++ "${CXXFLAGS[@]}" tests/cpp/mpmc_anon.cpp "${SHARED[@]}" -o "$OUT/mpmc_anon-so"
  run "g++ broadcast.cpp (static)" g++ "${CXXFLAGS[@]}" tests/cpp/broadcast.cpp "${STATIC[@]}" -o "$OUT/broadcast"
  run "g++ broadcast.cpp (shared)" g++ "${CXXFLAGS[@]}" tests/cpp/broadcast.cpp "${SHARED[@]}" -o "$OUT/broadcast-so"
  run "g++ header alone (C++17)" g++ -std=c++17 -Wall -Wextra -Werror -pedantic -I"$FFI/include" \
    -x c++ -fsyntax-only - <<<'#include "shmlane.h"
int main() { return shmlane_abi_version() == SHMLANE_ABI_VERSION ? 0 : 1; }'
fi

# The README's examples (every ```c and ```cpp block is a program),
# compiled and run as they are written.
awk -v out="$OUT" '/^```c$/{n++;f=1;next} /^```/{f=0} f{print > (out "/readme" n ".c")}' README.md
awk -v out="$OUT" '/^```cpp$/{n++;f=1;next} /^```/{f=0} f{print > (out "/readme" n ".cpp")}' README.md
for src in "$OUT"/readme*.c; do
  b=$(basename "$src" .c)
  run "README C example $b (gcc, static)" gcc "${CFLAGS[@]}" "$src" "${STATIC[@]}" -o "$OUT/$b-c"
  run "README C example $b runs" "$OUT/$b-c"
done
for src in "$OUT"/readme*.cpp; do
  b=$(basename "$src" .cpp)
  run "README C++ example $b (g++, shared)" g++ "${CXXFLAGS[@]}" "$src" "${SHARED[@]}" -o "$OUT/$b-cpp"
  run "README C++ example $b runs" "$OUT/$b-cpp"
done
if command -v pkg-config >/dev/null; then
  run "pkg-config shmlane.pc links" bash -c 'PKG_CONFIG_PATH="$0" gcc -std=c99 -Wall -Werror "$1" -o "$2" \
    $(PKG_CONFIG_PATH="$0" pkg-config --define-variable=libdir="$3" --define-variable=includedir="$0/include" \
      --cflags --libs --static shmlane) -Wl,-rpath,"$3" && "$2"' "$FFI" "$OUT/readme1.c" "$OUT/readme-pc" "$REL"
fi

PEER=$REL/shmlane-ffi-peer
run "C unit + bad arguments (static)" "$OUT/unit" "/$TAG-u1"
run "C unit + bad arguments (shared)" "$OUT/unit-so" "/$TAG-u2"
run "Rust -> C consumer, SPSC, 20000 msgs" "$OUT/consumer" "/$TAG-a" bytes 20000 1 "$PEER"
run "Rust x3 -> C consumer, MPSC (shared lib)" "$OUT/consumer-so" "/$TAG-b" mpsc 10000 3 "$PEER"
run "killed Rust producer -> C sees PEER_DIED" "$OUT/consumer" "/$TAG-c" bytes 1000 1 "$PEER" kill

c_to_rust() { # NAME KIND NPROD COUNT: Rust consumer creates, C producers send
  local name=$1 kind=$2 nprod=$3 count=$4 pids=() rc=0 i
  "$PEER" consume "$name" "$count" "$kind" "$nprod" &
  local rust=$!
  for ((i = 0; i < nprod; i++)); do
    "$OUT/producer" "$name" "$count" "$i" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  wait "$rust" || rc=1
  return $rc
}
c_fixed_to_rust() {
  local rc=0
  "$PEER" fixed-consume "$1" 50000 &
  local rust=$!
  "$OUT/producer-so" "$1" 50000 fixed || rc=1
  wait "$rust" || rc=1
  return $rc
}
c_mpmc_to_rust() { # NAME NPROD: Rust MPMC consumer creates, C producers send (batches, claims)
  local name=$1 nprod=$2 pids=() rc=0 i
  "$PEER" mpmc-consume "$name" 20000 "$nprod" &
  local rust=$!
  for ((i = 0; i < nprod; i++)); do
    "$OUT/xproc-so" mpmc-produce "$name" 20000 "$i" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  wait "$rust" || rc=1
  return $rc
}
export PEER OUT
export -f c_to_rust c_fixed_to_rust c_mpmc_to_rust
run "C -> Rust consumer, SPSC, 20000 msgs" c_to_rust "/$TAG-d" bytes 1 20000
run "C x2 -> Rust consumer, MPSC" c_to_rust "/$TAG-e" mpsc 2 10000
run "C -> Rust, fixed-size SPSC, 50000 elems" c_fixed_to_rust "/$TAG-f"
run "Rust x3 -> C consumer, fixed-size MPMC (batches, in place)" "$OUT/xproc" mpmc-consume "/$TAG-g" 20000 3 "$PEER"
run "C x2 -> Rust consumer, fixed-size MPMC (batches, claims)" c_mpmc_to_rust "/$TAG-h" 2
run "anonymous rings by fd (fork+exec), Rust <-> C, C -> C by inherited fd and over a unix socket" "$OUT/xproc" anon "$PEER"
run "anonymous rings by fd (shared lib)" "$OUT/xproc-so" anon "$PEER"

# Broadcast: C publisher -> 3 Rust subscriber processes and Rust publisher
# -> 3 C subscriber processes, each kind and policy (Block: every message
# once, in order, intact; Overwrite: received + lost = published, in order,
# intact, SHMLANE_LAGGED seen); a killed Rust publisher -> PEER_DIED.
for kind in fixed bytes; do
  for policy in block overwrite; do
    run "bcast: C publisher -> 3 Rust subscribers, $kind, $policy, 20000 msgs" \
      "$OUT/bcast" c2rust $kind $policy "/$TAG-bc-$kind-$policy" 20000 3 "$PEER"
    run "bcast: Rust publisher -> 3 C subscribers, $kind, $policy, 20000 msgs (shared lib)" \
      "$OUT/bcast-so" rust2c $kind $policy "/$TAG-br-$kind-$policy" 20000 3 "$PEER"
  done
  run "bcast: killed Rust publisher -> C subscriber sees PEER_DIED, $kind" \
    "$OUT/bcast" kill $kind "/$TAG-bk-$kind" 3000 "$PEER"
done
if [ -x "$OUT/broadcast" ]; then
  run "C++ broadcast test (static), Rust -> C++ by fd" "$OUT/broadcast" "/$TAG-bx" "$PEER"
  run "C++ broadcast test (shared), Rust -> C++ by fd" "$OUT/broadcast-so" "/$TAG-by" "$PEER"
fi

if [ -x "$OUT/wrapper" ]; then
  run "C++ wrapper test" "$OUT/wrapper" "/$TAG-x" "$PEER"
fi
if [ -x "$OUT/mpmc_anon" ]; then
  run "C++ MPMC, anonymous rings, batches <-> Rust (static)" "$OUT/mpmc_anon" "/$TAG-y" "$PEER"
  run "C++ MPMC, anonymous rings, batches <-> Rust (shared)" "$OUT/mpmc_anon-so" "/$TAG-z" "$PEER"
fi

if command -v valgrind >/dev/null; then
  run "valgrind C unit (full run)" valgrind -q --error-exitcode=1 --leak-check=full "$OUT/unit" "/$TAG-v"
  run "valgrind C anonymous rings, MPMC, batches <- -> Rust" valgrind -q --error-exitcode=1 --leak-check=full \
    "$OUT/xproc" anon "$PEER"
  run "valgrind C consumer <- Rust" valgrind -q --error-exitcode=1 --leak-check=full \
    "$OUT/consumer" "/$TAG-w" bytes 2000 1 "$PEER"
  run "valgrind C broadcast subscriber <- Rust publisher, killed (PEER_DIED)" valgrind -q --error-exitcode=1 \
    --leak-check=full "$OUT/bcast" kill bytes "/$TAG-bv" 2000 "$PEER"
  run "valgrind C broadcast publisher -> 2 Rust subscribers, Overwrite" valgrind -q --error-exitcode=1 \
    --leak-check=full "$OUT/bcast" c2rust fixed overwrite "/$TAG-bw" 2000 2 "$PEER"
else
  fail=$((fail + 1))
  failed+=("valgrind not installed")
fi

echo
if [ "$fail" -eq 0 ]; then
  echo "ffi tests: $pass passed, 0 failed"
else
  echo "ffi tests: $pass passed, $fail FAILED: ${failed[*]}"
  exit 1
fi
