#!/usr/bin/env bash
# Moves SIZE bytes of text lines through three pipes and prints MB/s for each:
#   shmlane:  shmlane send NAME < input  &  shmlane recv NAME | SINK
#   pipe:     cat input | cat | SINK
#   fifo:     cat input > FIFO  &  cat FIFO | SINK        (mkfifo)
# The input (lines of ~100 bytes) is generated once in a temporary file and
# read from the page cache; each transfer is timed from its start to the
# sink's exit. Rounds run the three one after the other, so the ratios of a
# round are measured under the same machine load; with several rounds the
# median of each column is printed too.
#
# Every output is checked against the input: by default the sink is `wc -c`
# (the cheapest reader: it only counts) and, after the timed rounds, each
# transport moves the input once more into `cksum`, compared with the
# input's. With --sink cksum the timed output itself goes through `cksum`
# (which then costs about as much CPU as the transports).
#
# With --broadcast N the shmlane transport is a broadcast-bytes channel
# (policy block: lossless) with N `recv` subscribers started before
# `send --wait-subscribers N`: the first feeds SINK, the others each their
# own SINK, whose outputs are checked too.
#
# Usage: cli/bench/pipe_bench.sh [SIZE] [--runs N] [--capacity SIZE] [--sink wc|cksum] [--bin PATH]
#                                [--broadcast N]
#   SIZE: bytes, or with a suffix KiB/MiB/GiB (default 256MiB; --full = 1GiB)
#   --runs N: rounds (default 1)   --capacity: shmlane ring (default 4MiB)
#   builds the release binary unless --bin.
set -euo pipefail

SIZE_ARG=256MiB
CAPACITY=4MiB
RUNS=1
SINK=wc
BIN=""
BCAST=0
while [ $# -gt 0 ]; do
    case "$1" in
        --full) SIZE_ARG=1GiB ;;
        --bytes) SIZE_ARG="$2"; shift ;;
        --runs) RUNS="$2"; shift ;;
        --capacity) CAPACITY="$2"; shift ;;
        --sink) SINK="$2"; shift ;;
        --bin) BIN="$2"; shift ;;
        --broadcast) BCAST="$2"; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) SIZE_ARG="$1" ;;
    esac
    shift
done

bytes_of() {
    local v="$1" n unit
    n="${v%%[!0-9]*}"
    unit="${v#"$n"}"
    [ -n "$n" ] || { echo "bad size '$v'" >&2; exit 2; }
    case "$unit" in
        "") echo "$n" ;;
        K|KiB) echo $((n << 10)) ;;
        M|MiB) echo $((n << 20)) ;;
        G|GiB) echo $((n << 30)) ;;
        *) echo "bad size suffix in '$v' (use KiB, MiB or GiB)" >&2; exit 2 ;;
    esac
}
BYTES=$(bytes_of "$SIZE_ARG")
case "$SINK" in
    wc) SINK_CMD=(wc -c) ;;
    cksum) SINK_CMD=(cksum) ;;
    *) echo "--sink is wc or cksum" >&2; exit 2 ;;
esac
[ "$RUNS" -ge 1 ] 2>/dev/null || { echo "--runs takes a positive count" >&2; exit 2; }
[ "$BCAST" -ge 0 ] 2>/dev/null || { echo "--broadcast takes a count of subscribers" >&2; exit 2; }
if [ "$BCAST" -gt 0 ]; then
    CREATE=(--kind broadcast-bytes --policy block)
    TRANSPORT="broadcast-bytes $CAPACITY (block), $BCAST subscriber(s)"
else
    CREATE=()
    TRANSPORT="ring $CAPACITY"
fi

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -z "$BIN" ]; then
    (cd "$ROOT" && cargo build --release -q -p shmlane-cli)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/shmlane"
fi

TMP="$(mktemp -d)"
NAME="/shmlane-pipebench-$$"
cleanup() { rm -rf "$TMP"; "$BIN" rm "$NAME" 2>/dev/null || true; }
trap cleanup EXIT

# ~100-byte lines: a counter and padding.
PAD=$(printf '%090d' 0)
awk -v n="$BYTES" -v pad="$PAD" 'BEGIN { t = 0; i = 0; while (t < n) { s = sprintf("%09d %s", i++, pad); print s; t += length(s) + 1 } }' > "$TMP/input"
SIZE=$(stat -c %s "$TMP/input")
LINES=$(wc -l < "$TMP/input")
mkfifo "$TMP/fifo"

now() { date +%s.%N; }
rate() { awk -v b="$SIZE" -v s="$1" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }

# Warm the page cache; the reference for every output.
WANT_COUNT="$SIZE"
WANT_CKSUM=$(cksum < "$TMP/input")
if [ "$SINK" = wc ]; then WANT="$WANT_COUNT"; else WANT="$WANT_CKSUM"; fi

# The three transfers: each prints what its sink printed.
# (The ring is created before and removed after the timed part.)
run_shmlane() {
    if [ "$BCAST" -eq 0 ]; then
        "$BIN" send "$NAME" < "$TMP/input" &
        local sp=$!
        "$BIN" recv "$NAME" | "$@"
        wait $sp
        return
    fi
    # Broadcast: the extra subscribers write their sink's output to files.
    local pids=() i
    for i in $(seq 2 "$BCAST"); do
        "$BIN" recv "$NAME" | "$@" > "$TMP/extra$i" &
        pids+=($!)
    done
    "$BIN" send "$NAME" --wait-subscribers "$BCAST" < "$TMP/input" &
    local sp=$!
    "$BIN" recv "$NAME" | "$@"
    wait $sp "${pids[@]}"
}
# Checks the extra subscribers' sink outputs against $1.
check_extras() {
    local i got
    for i in $(seq 2 "$BCAST"); do
        got=$(cat "$TMP/extra$i")
        [ "$got" = "$1" ] || { echo "shmlane subscriber $i: the sink printed '$got', expected '$1'" >&2; exit 1; }
    done
}
run_pipe() { cat "$TMP/input" | cat | "$@"; }
run_fifo() {
    cat "$TMP/input" > "$TMP/fifo" &
    local fp=$!
    cat "$TMP/fifo" | "$@"
    wait $fp
}

# Times one transfer; sets T (seconds) and checks the sink's output.
timed() {
    local what="$1" t0 t1 got
    [ "$what" != shmlane ] || "$BIN" create "$NAME" --capacity "$CAPACITY" "${CREATE[@]}"
    t0=$(now)
    got=$("run_$what" "${SINK_CMD[@]}")
    t1=$(now)
    [ "$what" != shmlane ] || "$BIN" rm "$NAME"
    [ "$got" = "$WANT" ] || { echo "$what: the sink printed '$got', expected '$WANT'" >&2; exit 1; }
    [ "$what" != shmlane ] || check_extras "$WANT"
    T=$(secs "$t0" "$t1")
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "moved $SIZE bytes in $LINES lines (shmlane $TRANSPORT, sink: ${SINK_CMD[*]}), $RUNS round(s)"
echo "machine: $(nproc) CPUs, $(uname -r); load before:$(uptime | sed 's/.*load average://')"
printf '%-6s %10s %10s %10s %14s %14s\n' round shmlane pipe fifo shmlane/pipe shmlane/fifo
: > "$TMP/rows"
for r in $(seq 1 "$RUNS"); do
    timed shmlane; S_SHM=$T
    timed pipe; S_PIPE=$T
    timed fifo; S_FIFO=$T
    R_SHM=$(rate "$S_SHM"); R_PIPE=$(rate "$S_PIPE"); R_FIFO=$(rate "$S_FIFO")
    echo "$R_SHM $R_PIPE $R_FIFO" >> "$TMP/rows"
    awk -v r="$r" -v a="$R_SHM" -v p="$R_PIPE" -v f="$R_FIFO" \
        'BEGIN { printf "%-6s %5d MB/s %5d MB/s %5d MB/s %13.2fx %13.2fx\n", r, a, p, f, a / p, a / f }'
done
if [ "$RUNS" -gt 1 ]; then
    M_SHM=$(cut -d' ' -f1 "$TMP/rows" | median)
    M_PIPE=$(cut -d' ' -f2 "$TMP/rows" | median)
    M_FIFO=$(cut -d' ' -f3 "$TMP/rows" | median)
    awk -v a="$M_SHM" -v p="$M_PIPE" -v f="$M_FIFO" \
        'BEGIN { printf "%-6s %5d MB/s %5d MB/s %5d MB/s %13.2fx %13.2fx\n", "median", a, p, f, a / p, a / f }'
    # The median of each round's own ratio (the figure least sensitive to
    # load changes between rounds).
    awk '{ print $1 / $2 }' "$TMP/rows" | median | xargs printf 'median of the per-round ratios: shmlane/pipe %.2fx'
    awk '{ print $1 / $3 }' "$TMP/rows" | median | xargs printf ', shmlane/fifo %.2fx\n'
fi
echo "load after:$(uptime | sed 's/.*load average://')"

if [ "$SINK" = wc ]; then
    # Content check, untimed: each transport once more into cksum.
    for what in shmlane pipe fifo; do
        [ "$what" != shmlane ] || "$BIN" create "$NAME" --capacity "$CAPACITY" "${CREATE[@]}"
        got=$("run_$what" cksum)
        [ "$what" != shmlane ] || "$BIN" rm "$NAME"
        [ "$got" = "$WANT_CKSUM" ] || { echo "$what: cksum '$got', input '$WANT_CKSUM'" >&2; exit 1; }
        [ "$what" != shmlane ] || check_extras "$WANT_CKSUM"
    done
fi
echo "outputs identical to the input (cksum $WANT_CKSUM)"
