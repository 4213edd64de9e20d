#!/usr/bin/env bash
# run.sh FUZZ_BINARY SECONDS [SEED_CORPUS [WORK_DIR]] — runs one libFuzzer
# target for a fixed time on the seed corpus (read only; new inputs go to
# WORK_DIR/corpus), then prints how many inputs ran and fails on any crash,
# leak, timeout or oracle violation (the input is kept in WORK_DIR).
set -euo pipefail
bin=$1
seconds=$2
name=$(basename "$bin")
name=${name#fuzz_}
here=$(cd "$(dirname "$0")" && pwd)
seeds=${3:-$here/corpus/$name}
work=${4:-${TMPDIR:-/tmp}/turf-fuzz-$name}
mkdir -p "$work/corpus"
log="$work/fuzz.log"
touch "$work/.start"
status=0
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
  "$bin" -max_total_time="$seconds" -timeout=20 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" "$seeds" >"$log" 2>&1 || status=$?
runs=$(awk '/stat::number_of_executed_units/{print $2}' "$log" | tail -n1)
crashes=$(find "$work" -maxdepth 1 -newer "$work/.start" \( -name 'crash-*' -o -name 'leak-*' \
  -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
echo "fuzz $name: ${runs:-0} executions in ${seconds} s, exit $status, $crashes crash/leak/timeout input(s) in $work" |
  tee "$work/summary.txt"
if [ "$status" -ne 0 ]; then
  tail -n 60 "$log"
  exit 1
fi
[ "${runs:-0}" -gt 0 ] || { tail -n 40 "$log"; echo "fuzz $name: nothing ran"; exit 1; }
