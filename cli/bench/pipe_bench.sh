#!/usr/bin/env bash
# Moves N bytes of text lines through three pipes and prints MB/s for each:
#   shmlane:  shmlane send NAME < input  &  shmlane recv NAME > /dev/null
#   pipe:     cat input | cat > /dev/null
#   fifo:     cat input > FIFO  &  cat FIFO > /dev/null   (mkfifo)
# The input (lines of ~100 bytes) is generated once in a temporary file;
# each transfer is timed from start to the reader's exit.
#
# Usage: cli/bench/pipe_bench.sh [--full] [--bytes N] [--capacity SIZE] [--bin PATH]
#   default 256 MiB, --full 1 GiB; builds the release binary unless --bin.
set -euo pipefail

BYTES=$((256 << 20))
CAPACITY=4MiB
BIN=""
while [ $# -gt 0 ]; do
    case "$1" in
        --full) BYTES=$((1 << 30)) ;;
        --bytes) BYTES="$2"; shift ;;
        --capacity) CAPACITY="$2"; shift ;;
        --bin) BIN="$2"; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

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

now() { date +%s.%N; }
rate() { awk -v b="$SIZE" -v s="$1" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }

# Warm the page cache.
cat "$TMP/input" > /dev/null

"$BIN" create "$NAME" --capacity "$CAPACITY"
t0=$(now)
"$BIN" send "$NAME" < "$TMP/input" &
SP=$!
OUT=$("$BIN" recv "$NAME" | wc -c)
wait $SP
t1=$(now)
"$BIN" rm "$NAME"
[ "$OUT" -eq "$SIZE" ] || { echo "shmlane moved $OUT of $SIZE bytes" >&2; exit 1; }
S_SHM=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

t0=$(now)
OUT=$(cat "$TMP/input" | cat | wc -c)
t1=$(now)
[ "$OUT" -eq "$SIZE" ] || exit 1
S_PIPE=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

mkfifo "$TMP/fifo"
t0=$(now)
cat "$TMP/input" > "$TMP/fifo" &
FP=$!
OUT=$(cat "$TMP/fifo" | wc -c)
wait $FP
t1=$(now)
[ "$OUT" -eq "$SIZE" ] || exit 1
S_FIFO=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

echo "moved $SIZE bytes in $LINES lines (shmlane ring $CAPACITY)"
printf '%-8s %8s s %8s MB/s\n' shmlane "$S_SHM" "$(rate "$S_SHM")"
printf '%-8s %8s s %8s MB/s\n' pipe "$S_PIPE" "$(rate "$S_PIPE")"
printf '%-8s %8s s %8s MB/s\n' fifo "$S_FIFO" "$(rate "$S_FIFO")"
awk -v a="$S_SHM" -v p="$S_PIPE" -v f="$S_FIFO" \
    'BEGIN { printf "shmlane / pipe = %.2fx, shmlane / fifo = %.2fx (throughput ratio)\n", p / a, f / a }'
