#!/usr/bin/env bash
# Compares `shmlane` binaries (e.g. built from two commits) on a
# broadcast-bytes channel: each round moves the same input through
#   BIN send NAME --wait-subscribers N  ->  N x (BIN recv NAME | wc -c)
# for every binary in turn (interleaved, so that each round sees the same
# machine load), and prints per run the wall time, MB/s of input and the
# CPU time (task-clock, `perf stat`) of `send` and of the first `recv`;
# then the median of each. Every subscriber's byte count is checked.
#
# Usage: cli/bench/broadcast_compare.sh [--size SIZE] [--rounds R] [--subscribers N]
#                                       [--capacity SIZE] LABEL=BIN...
#   SIZE: bytes or KiB/MiB/GiB (default 256MiB) of ~100-byte lines
#   e.g.  cli/bench/broadcast_compare.sh --subscribers 2 old=/tmp/shmlane-old new=target/release/shmlane
set -euo pipefail

SIZE_ARG=256MiB
ROUNDS=5
SUBS=1
CAPACITY=4MiB
BINS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --size) SIZE_ARG="$2"; shift ;;
        --rounds) ROUNDS="$2"; shift ;;
        --subscribers) SUBS="$2"; shift ;;
        --capacity) CAPACITY="$2"; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *=*) BINS+=("$1") ;;
        *) echo "binaries are given as LABEL=PATH" >&2; exit 2 ;;
    esac
    shift
done
[ "${#BINS[@]}" -ge 1 ] || { echo "give at least one LABEL=BIN" >&2; exit 2; }
[ "$SUBS" -ge 1 ] 2>/dev/null || { echo "--subscribers takes a positive count" >&2; exit 2; }
command -v perf >/dev/null || { echo "needs perf (perf stat -e task-clock)" >&2; exit 2; }

bytes_of() {
    local v="$1" n unit
    n="${v%%[!0-9]*}"
    unit="${v#"$n"}"
    case "$unit" in
        "") echo "$n" ;;
        K|KiB) echo $((n << 10)) ;;
        M|MiB) echo $((n << 20)) ;;
        G|GiB) echo $((n << 30)) ;;
        *) echo "bad size suffix in '$v'" >&2; exit 2 ;;
    esac
}
BYTES=$(bytes_of "$SIZE_ARG")

TMP="$(mktemp -d)"
NAME="/shmlane-bcastcmp-$$"
FIRST_BIN="${BINS[0]#*=}"
cleanup() { "$FIRST_BIN" rm "$NAME" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

PAD=$(printf '%090d' 0)
awk -v n="$BYTES" -v pad="$PAD" 'BEGIN { t = 0; i = 0; while (t < n) { s = sprintf("%09d %s", i++, pad); print s; t += length(s) + 1 } }' > "$TMP/input"
SIZE=$(stat -c %s "$TMP/input")
cat "$TMP/input" > /dev/null

echo "moved $SIZE bytes of lines to $SUBS subscriber(s) (broadcast-bytes $CAPACITY, block), $ROUNDS round(s)"
echo "machine: $(nproc) CPUs, $(uname -r); load before:$(uptime | sed 's/.*load average://')"
: > "$TMP/rows"
for r in $(seq 1 "$ROUNDS"); do
    for lb in "${BINS[@]}"; do
        label="${lb%%=*}" bin="${lb#*=}"
        "$bin" rm "$NAME" 2>/dev/null || true
        "$bin" create "$NAME" --kind broadcast-bytes --capacity "$CAPACITY"
        pids=()
        for i in $(seq 2 "$SUBS"); do
            "$bin" recv "$NAME" | wc -c > "$TMP/count$i" &
            pids+=($!)
        done
        t0=$(date +%s.%N)
        perf stat -x, -e task-clock -o "$TMP/recv.stat" "$bin" recv "$NAME" | wc -c > "$TMP/count1" &
        rp=$!
        perf stat -x, -e task-clock -o "$TMP/send.stat" "$bin" send "$NAME" --wait-subscribers "$SUBS" < "$TMP/input"
        wait "$rp" "${pids[@]}"
        t1=$(date +%s.%N)
        for i in $(seq 1 "$SUBS"); do
            [ "$(cat "$TMP/count$i")" = "$SIZE" ] || { echo "$label: subscriber $i got $(cat "$TMP/count$i") bytes" >&2; exit 1; }
        done
        s=$(grep task-clock "$TMP/send.stat" | cut -d, -f1)
        v=$(grep task-clock "$TMP/recv.stat" | cut -d, -f1)
        awk -v l="$label" -v r="$r" -v a="$t0" -v b="$t1" -v n="$SIZE" -v s="$s" -v v="$v" \
            'BEGIN { w = b - a; printf "%-10s round %2d  %6.3f s  %5.0f MB/s  send %5.0f ms  recv %5.0f ms\n", l, r, w, n / w / 1e6, s, v }' |
            tee -a "$TMP/rows"
    done
done
"$FIRST_BIN" rm "$NAME"
echo "medians:"
for lb in "${BINS[@]}"; do
    label="${lb%%=*}"
    med() { grep "^$label " "$TMP/rows" | awk "{ print \$$1 }" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    printf '%-10s %5.0f MB/s  send %5.0f ms  recv %5.0f ms\n' "$label" "$(med 6)" "$(med 9)" "$(med 12)"
done
echo "load after:$(uptime | sed 's/.*load average://')"
