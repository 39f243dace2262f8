#!/usr/bin/env bash
# S3 of `make measure` (issue 14): every `cargo fuzz` target of fuzz/ for FUZZ_RUNS inputs (default
# 400 000 each) or FUZZ_SECS seconds (default 150), whichever ends first: about 5 minutes and 1.25 M
# inputs here (hub_event runs about 350 inputs/s, it drives the processor; the others thousands). Writes
# $MEASURE_OUT/fuzz.json. A crash input is copied into fuzz/regressions/<target>/ (commit it: `make
# test` replays every file there, shared's `fuzzing::tests::saved_fuzz_inputs_still_pass`).
#
# The machine has one stable toolchain and cargo fuzz passes nightly `-Z` flags (sanitizer,
# coverage): RUSTC_BOOTSTRAP=1 lets the stable compiler take them, for this build only.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${MEASURE_OUT:-$ROOT/.stack/measure}"
RUNS="${FUZZ_RUNS:-400000}"
SECS="${FUZZ_SECS:-150}"
CARGO_FUZZ="$ROOT/.tools/cargo-fuzz/bin/cargo-fuzz"
if [ ! -x "$CARGO_FUZZ" ]; then
  echo "fuzz: installing cargo-fuzz 0.13.1 into .tools/cargo-fuzz"
  cargo install -q --locked --root "$ROOT/.tools/cargo-fuzz" cargo-fuzz --version 0.13.1
fi
export RUSTC_BOOTSTRAP=1
cd "$ROOT/fuzz"
TARGETS=(nhanh_webhook nhanh_response hub_event phone)
"$CARGO_FUZZ" build -O
mkdir -p "$OUT"
RESULTS=()
for target in "${TARGETS[@]}"; do
  work="$ROOT/.stack/fuzz/corpus/$target"
  artifacts="$ROOT/fuzz/artifacts/$target"
  mkdir -p "$work" "$artifacts"
  log="$ROOT/.stack/fuzz/$target.log"
  started=$SECONDS
  set +e
  "$CARGO_FUZZ" run -O "$target" "$work" "corpus/$target" -- \
    -runs="$RUNS" -max_total_time="$SECS" -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  secs=$((SECONDS - started))
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  crashes=0
  for crash in "$artifacts"/crash-* "$artifacts"/oom-* "$artifacts"/timeout-*; do
    [ -f "$crash" ] || continue
    crashes=$((crashes + 1))
    mkdir -p "$ROOT/fuzz/regressions/$target"
    cp "$crash" "$ROOT/fuzz/regressions/$target/"
    echo "fuzz: $target found $(basename "$crash"); saved in fuzz/regressions/$target/ (commit it)" >&2
  done
  echo "fuzz: $target: ${runs:-0} inputs in $secs s, exit $status, $crashes crash inputs"
  RESULTS+=("{\"name\": \"$target\", \"runs\": ${runs:-0}, \"secs\": $secs, \"exit\": $status, \"crashes\": $crashes}")
done
( IFS=,; echo "{\"targets\": [${RESULTS[*]}]}" ) >"$OUT/fuzz.json"
