#!/usr/bin/env bash
# run_fuzzer.sh <fuzzer> <seed corpus> <work dir> <seconds>: one bounded libFuzzer run (a CTest
# test of label fuzz). The seeds are read, never written: new inputs go to <work dir>/corpus, and
# an input that crashes, leaks or hangs is saved to <work dir>/artifacts/, named in the log.
set -uo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4

# Sanitizer reports stop the run and carry a symbolized stack (llvm-19's symbolizer, scripts/setup).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && [ -x /usr/lib/llvm-19/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-19/bin/llvm-symbolizer
fi

rm -rf "$work/corpus" "$work/artifacts"
mkdir -p "$work/corpus" "$work/artifacts"
# -timeout: an input that runs a minute is a hang (the parsers take microseconds), saved as
# timeout-*; -rss_limit_mb: one that needs 2 GiB is saved as oom-*.
args=(-max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$work/artifacts/")
dict="$(dirname "$0")/dict/$(basename "$seeds").dict"  # tokens of the format, where there is one
[ -f "$dict" ] && args+=(-dict="$dict")
"$fuzzer" "${args[@]}" "$work/corpus" "$seeds"
status=$?
for f in "$work"/artifacts/*; do
  [ -e "$f" ] || continue
  echo "fuzz: $(basename "$fuzzer") saved $f; reproduce with: $fuzzer $f"
  [ "$status" -ne 0 ] || status=1
done
exit "$status"
