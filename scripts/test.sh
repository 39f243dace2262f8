#!/usr/bin/env bash
# What `make test` and CI run: tools, unit tests, template lint, then the end-to-end tests against
# a local stack started on its own ports and stopped afterwards.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
STARTED=$SECONDS
# Each stage prints the seconds elapsed since `make test` began, so a slow stage shows in the CI log.
stage() { echo "== [$((SECONDS - STARTED)) s] $*"; }
mkdir -p "$ROOT/.stack"
# The Python tools and Chromium install (network and disk) while Rust compiles (CPU).
stage "tools, in the background (log: .stack/tools.log)"
"$ROOT/scripts/tools.sh" >"$ROOT/.stack/tools.log" 2>&1 &
TOOLS_PID=$!

stage "the Nhanh version seam, the module graph, file sizes"
scripts/check_boundaries.sh
python3 scripts/check_modules.py
python3 scripts/check_file_sizes.py --self-test

stage "rustfmt"
cargo fmt --all -- --check

# Clippy lints while the code is built, not in a separate check of the whole dependency tree: it
# runs as the compiler of the workspace's own crates (RUSTC_WORKSPACE_WRAPPER, which is what
# `cargo clippy` sets up; CLIPPY_ARGS is how it passes `-D warnings`). Dependencies are compiled
# once, for real; every later build here (the stacks, cargo lambda) inherits the same setting and
# reuses the artefacts. The test crate turns on the fixtures feature, so the benchmarks are built
# and linted too.
stage "build and lint (clippy -D warnings) every target"
export RUSTC_WORKSPACE_WRAPPER
RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
[ -x "$RUSTC_WORKSPACE_WRAPPER" ] || { echo "clippy-driver not found (rustup component add clippy)" >&2; exit 1; }
# The gate must be able to fail: a scratch crate with one clippy warning must not build this way.
LINT_PROBE="$ROOT/.stack/lint-probe"
rm -rf "$LINT_PROBE" && mkdir -p "$LINT_PROBE/src"
printf '[package]\nname = "lint-probe"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n' >"$LINT_PROBE/Cargo.toml"
printf 'fn one() -> u8 {\n    return 1;\n}\nfn main() {\n    println!("{}", one());\n}\n' >"$LINT_PROBE/src/main.rs"
if cargo build -q --manifest-path "$LINT_PROBE/Cargo.toml" --target-dir "$LINT_PROBE/target" 2>/dev/null; then
  echo "lint gate: a crate with a clippy warning built: the gate is blind" >&2
  exit 1
fi
cargo build -q --workspace --bins
cargo test -q --workspace --all-targets --features connector-tests/e2e --no-run

stage "unit tests"
# Only the libraries hold unit tests (the function mains are wiring).
cargo test -q --workspace --lib

stage "waiting for the tools"
if ! wait "$TOOLS_PID"; then cat "$ROOT/.stack/tools.log"; exit 1; fi
cat "$ROOT/.stack/tools.log"
export PATH="$ROOT/.tools/venv/bin:$PATH"
PYTHON="$ROOT/.tools/venv/bin/python"

# On ports of its own (9500+), beside the end-to-end stacks; its result is awaited at the end.
stage "the local stack starts, refuses taken ports and stops cleanly (in the background)"
"$PYTHON" tests/stack_lifecycle.py >"$ROOT/.stack/lifecycle.out" 2>&1 &
LIFECYCLE_PID=$!

# Two stacks on their own ports, side by side: the suite's, and one for the 2 000-product initial
# sync alone. The latter leaves ~8 000 items in its table, and moto deep-copies the whole table on
# every TransactWriteItems, which would slow (and, concurrently, crash) the other tests' connects;
# on a moto of its own it runs while the suite does, instead of after it.
stage "end-to-end tests on two local stacks (the suite; the 2 000-product initial sync)"
unset NHANH_API_URL NHANH_OAUTH_URL HUB_API_URL PUBLIC_BASE_URL
export STACK_RELOAD=0 NHANH_SIM_RETRY_MS="200,400,800" QUEUE_VISIBILITY_SECS=2 RECONCILE_INTERVAL_SECS=3600 PASS_BUDGET_SECS=1
# Retries start 1 s apart (not 10 s) and double, so faulted records come back within a test's patience.
export RETRY_BASE_SECS=1
# The Hub probe of an outage calls every 2 s (not 10 s).
export HUB_PROBE_SECS=2
STACK_PIDS=()
stop_stacks() {
  for pid in "${STACK_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${STACK_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_stacks EXIT
# start_stack NAME BASE_PORT MOTO_PORT: the stack in .stack/NAME; only the functions record their
# AWS calls (not this script, the tests or the bridge), in .stack/NAME/aws-actions.jsonl.
start_stack() {
  local dir="$ROOT/.stack/$1"
  PORT="$2" MOTO_PORT="$3" NHANH_SIM_PORT="$(($2 + 10))" HUB_SIM_PORT="$(($2 + 20))" BRIDGE_PORT="$(($2 + 30))" \
    STACK_DIR="$dir" AWS_ACTION_LOG="$dir/aws-actions.jsonl" scripts/stack.sh >"$ROOT/.stack/$1-stack.out" 2>&1 &
  STACK_PIDS+=("$!")
}
wait_ready() { # NAME
  for _ in $(seq 1 600); do
    grep -q "ready" "$ROOT/.stack/$1-stack.out" 2>/dev/null && { cp "$ROOT/.stack/$1/env" "$ROOT/.stack/$1/env.saved"; return 0; }
    sleep 0.5
  done
  cat "$ROOT/.stack/$1-stack.out"
  exit 1
}
start_stack test "${TEST_PORT:-9300}" "${TEST_MOTO_PORT:-4599}"
# The sync's pages chain within a 10 s budget there (the suite's 1 s budget tests continuations).
PASS_BUDGET_SECS=10 start_stack scale "${TEST_SCALE_PORT:-9340}" "${TEST_SCALE_MOTO_PORT:-4598}"
# The template lint runs while the stacks start.
stage "cfn-lint template.yaml, sam validate --lint, the operations check"
cfn-lint template.yaml
SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$ROOT/.tools/sam/bin/sam" validate --lint --region us-east-1
# Issue 24: alarms, log groups with retention, the retained table and key, the runbook's sections
# (and that the check refuses a template without each).
"$PYTHON" scripts/check_template.py template.yaml docs/operations.md --self-test

wait_ready test
wait_ready scale
SCALE_TEST=sync::initial_sync_under_a_compressed_limiter_makes_no_call_while_locked
# The Hub outage test parks every account's records, so it runs alone, after the sync, on its stack.
OUTAGE_TEST=process::a_hub_outage_parks_records_and_everything_applies_once_it_answers
( STACK_ENV_FILE="$ROOT/.stack/scale/env" cargo test -q -p connector-tests --features e2e --test e2e -- --exact "$SCALE_TEST" --nocapture \
  && STACK_ENV_FILE="$ROOT/.stack/scale/env" cargo test -q -p connector-tests --features e2e --test e2e -- --exact "$OUTAGE_TEST" --ignored ) \
  >"$ROOT/.stack/scale-test.out" 2>&1 &
SCALE_PID=$!
SUITE_STATUS=0
STACK_ENV_FILE="$ROOT/.stack/test/env" cargo test -q -p connector-tests --features e2e --test e2e -- --test-threads=6 --skip "$SCALE_TEST" \
  || SUITE_STATUS=$?
stage "end-to-end: the 2 000-product initial sync, then the Hub outage (their own stack)"
SCALE_STATUS=0
wait "$SCALE_PID" || SCALE_STATUS=$?
cat "$ROOT/.stack/scale-test.out"
LIFECYCLE_STATUS=0
wait "$LIFECYCLE_PID" || LIFECYCLE_STATUS=$?
cat "$ROOT/.stack/lifecycle.out"
[ "$SUITE_STATUS" = 0 ] && [ "$SCALE_STATUS" = 0 ] && [ "$LIFECYCLE_STATUS" = 0 ] || exit 1

# moto does not enforce IAM: every AWS call the functions made above must be allowed by their own
# policy in template.yaml. The second run proves the check can fail: without the processor's
# sqs:SendMessage (the gap of issue 9) it must refuse.
stage "IAM: recorded AWS calls against template.yaml"
stop_stacks
for name in test scale; do
  "$PYTHON" scripts/check_iam.py template.yaml "$ROOT/.stack/$name/aws-actions.jsonl" "$ROOT/.stack/$name/env.saved"
done
if "$PYTHON" scripts/check_iam.py template.yaml "$ROOT/.stack/test/aws-actions.jsonl" "$ROOT/.stack/test/env.saved" \
     --without ProcessorFunction:sqs:SendMessage >/dev/null; then
  echo "IAM check passed with the processor's sqs:SendMessage removed: the check is blind" >&2
  exit 1
fi
echo "iam: without ProcessorFunction's sqs:SendMessage the check fails, as it must"
# Issue 22: each function's role and the key policy allow KMS only for its own sealed fields; the
# internet-facing intake opens verify tokens, never a Secret Key or an access token.
for field in secret_key access_token; do
  if "$PYTHON" scripts/check_iam.py template.yaml --can intake kms:Decrypt "acct/probe/$field"; then
    echo "intake may decrypt a $field: the KMS encryption-context conditions are missing" >&2
    exit 1
  fi
done
"$PYTHON" scripts/check_iam.py template.yaml --can intake kms:Decrypt acct/probe/verify_token
stage "done"
