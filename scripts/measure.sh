#!/usr/bin/env bash
# `make measure` (issue 14): speed, cost and robustness figures on the local stack, printed as one
# table by scripts/measure.py. Not part of `make test` (it takes several minutes and asserts no
# time). Figures land in .stack/measure/*.json; the table also goes to .stack/measure/table.md.
#   P1 initial sync under the compressed limiter (SCALE_PRODUCTS, default 20 000), then a pass over
#      SCALE_ORDERS orders (default 5 000), on a stack of its own
#   P2 CPU per event (criterion, in-memory adapters)
#   P3 AWS calls per webhook and per order event, and cost per million order events
#   P4 zip size and local cold start (scripts/release.sh; MEASURE_RELEASE=0 skips it)
#   P5 webhook → Hub latency at MEASURE_RATE/s for MEASURE_SECS s (default 10/s for 60 s: the local
#      front, cargo lambda watch with a debug intake on moto, takes about 16 webhooks/s, and at the
#      issue's 50/s its request queue passes 100 and it stops answering altogether)
#   the Python baseline of the intake (tests/baseline_intake.py) on the same moto
#   S1 storm (STORM_CHANGES, default 2 000; the issue's 10 000 takes about 40 minutes here) and S2
#      faults (FAULT_CHANGES, default 500), then S4
#      the security list, on a stack of their own (a 30 s visibility timeout brings a killed
#      processor's batch back soon; 4 instances per function, so a fresh one replaces it)
#   F  flash sales (issue 23): SALE_ORDERS orders (default 300, then 3 000) from a fifth as many
#      customers, webhooks at 50/s, under the documented limiter compressed to 15 calls / 3 s; then
#      a Hub outage of OUTAGE_SECS (default 1 800: 30 minutes) while 20 orders arrive; on a stack
#      of their own
#   S3 cargo fuzz, every target (scripts/fuzz.sh; FUZZ_RUNS per target, default 400 000, or
#      FUZZ_SECS, default 150 s, whichever ends first)
# MEASURE_STAGES="P1 S3" (any of P2 P4 P3 P1 F S S3; P3 includes P5 and the baseline, S is S1, S2
# and S4) runs those stages again and keeps the other figures of the last run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
STARTED=$SECONDS
stage() { echo "== [$((SECONDS - STARTED)) s] $*"; }
"$ROOT/scripts/tools.sh"
export PATH="$ROOT/.tools/venv/bin:$PATH"
PYTHON="$ROOT/.tools/venv/bin/python"
OUT="$ROOT/.stack/measure"
# MEASURE_STAGES (default all: P2 P4 P3 P1 S S3) runs some stages again; the figures of the others
# stay from the last run, and the table is printed from all of them.
STAGES="${MEASURE_STAGES:-P2 P4 P3 P1 F S S3}"
wants() { [[ " $STAGES " == *" $1 "* ]]; }
[ -z "${MEASURE_STAGES:-}" ] && rm -rf "$OUT"
mkdir -p "$OUT"
export MEASURE_OUT="$OUT"
export MEASURE_RATE="${MEASURE_RATE:-10}" STORM_CHANGES="${STORM_CHANGES:-2000}" FAULT_CHANGES="${FAULT_CHANGES:-500}"

if wants P2; then
  stage "P2: criterion benchmarks (in-memory adapters)"
  cargo bench -q -p nhanhvn-shared --features testing --bench intake --bench process 2>&1 | grep -E "time:|^intake|^processor" || true
  for kind in intake processor; do
    for f in target/criterion/"$kind"*/new/estimates.json; do [ -f "$f" ] && cp "$f" "$OUT/bench-$kind.json"; done
  done
fi

if wants P4 && [ "${MEASURE_RELEASE:-1}" != 0 ]; then
  stage "P4: release artefacts (scripts/release.sh)"
  scripts/release.sh 2>&1 | tee "$OUT/release.txt"
fi

stage "build the functions, simulators and tests"
cargo build -q -p connect -p intake -p processor -p reconcile -p replay-dead-letters -p connector-tests --bins
cargo test -q -p connector-tests --features e2e --test e2e --no-run

unset NHANH_API_URL NHANH_OAUTH_URL HUB_API_URL PUBLIC_BASE_URL
export STACK_RELOAD=0 RECONCILE_INTERVAL_SECS=3600
STACK_PID=""
stop_stack() { [ -n "$STACK_PID" ] && { kill -TERM "$STACK_PID" 2>/dev/null || true; wait "$STACK_PID" 2>/dev/null || true; }; STACK_PID=""; }
trap stop_stack EXIT
start_stack() { # NAME BASE_PORT [VAR=VALUE ...]
  local dir="$ROOT/.stack/$1" name="$1" port="$2"
  shift 2
  env "$@" PORT="$port" MOTO_PORT="$((port + 1))" NHANH_SIM_PORT="$((port + 2))" HUB_SIM_PORT="$((port + 3))" BRIDGE_PORT="$((port + 4))" \
    STACK_DIR="$dir" AWS_ACTION_LOG="$dir/aws-actions.jsonl" scripts/stack.sh >"$ROOT/.stack/$name-stack.out" 2>&1 &
  STACK_PID=$!
  for _ in $(seq 1 600); do
    grep -q "ready" "$ROOT/.stack/$name-stack.out" 2>/dev/null && return 0
    kill -0 "$STACK_PID" 2>/dev/null || break
    sleep 0.5
  done
  cat "$ROOT/.stack/$name-stack.out"
  exit 1
}
e2e() { # ENV_FILE TEST
  STACK_ENV_FILE="$1" cargo test -q -p connector-tests --features e2e --test e2e -- --ignored --exact "$2" --nocapture --test-threads=1
}

if wants P3; then
stage "P3, P5 and the baseline on a stack of their own"
start_stack measure-stack "${MEASURE_PORT:-9600}"
ENV_FILE="$ROOT/.stack/measure-stack/env"
e2e "$ENV_FILE" measure::aws_calls_per_order_event || echo "P3 failed (see above)"
e2e "$ENV_FILE" measure::functions_in_process_against_moto || echo "in-process figures failed (see above)"
# In a subshell: the stack's variables must not leak into the next stacks.
(set -a; . "$ENV_FILE"; set +a
  "$PYTHON" tests/baseline_intake.py "$AWS_ENDPOINT_URL" "$TABLE_NAME" "${MEASURE_INTAKE_WEBHOOKS:-500}" "$OUT/baseline.json") \
  || echo "the baseline failed (see above)"
e2e "$ENV_FILE" measure::latency_of_order_webhooks_under_load || echo "P5 failed (see above)"
stop_stack
fi

if wants P1; then
stage "P1: initial sync of ${SCALE_PRODUCTS:-20000} products, then a pass over ${SCALE_ORDERS:-5000} orders, under the compressed limiter (a fresh stack)"
rm -f "$ROOT/.stack/measure-scale/"*-throughput.json "$OUT/initial_sync.json" "$OUT/order_pass.json"
start_stack measure-scale "${MEASURE_SCALE_PORT:-9610}"
SCALE_PRODUCTS="${SCALE_PRODUCTS:-20000}" SCALE_ORDERS="${SCALE_ORDERS:-5000}" STACK_ENV_FILE="$ROOT/.stack/measure-scale/env" \
  cargo test -q -p connector-tests --features e2e --test e2e -- \
  --exact sync::initial_sync_under_a_compressed_limiter_makes_no_call_while_locked --nocapture || echo "P1 failed (see above)"
cp "$ROOT/.stack/measure-scale/initial-sync-throughput.json" "$OUT/initial_sync.json" || true
cp "$ROOT/.stack/measure-scale/order-pass-throughput.json" "$OUT/order_pass.json" || true
"$PYTHON" - "$ROOT/.stack/measure-scale/aws-actions.jsonl" "$OUT/initial_sync_calls.json" <<'PY'
import collections, json, sys
counts = collections.Counter()
for line in open(sys.argv[1]):
    a = json.loads(line)
    counts[a["action"]] += 1
json.dump(counts, open(sys.argv[2], "w"))
PY
stop_stack
fi

if wants F; then
stage "F: flash sales of ${SALE_ORDERS:-300} and 3 000 orders, then a Hub outage of ${OUTAGE_SECS:-1800} s (a fresh stack)"
start_stack measure-sale "${MEASURE_SALE_PORT:-9630}"
ENV_FILE="$ROOT/.stack/measure-sale/env"
SALE_ORDERS="${SALE_ORDERS:-300}" e2e "$ENV_FILE" sale::flash_sale || echo "F (flash sale) failed (see above)"
SALE_ORDERS=3000 e2e "$ENV_FILE" sale::flash_sale || echo "F (bigger sale) failed (see above)"
OUTAGE_SECS="${OUTAGE_SECS:-1800}" e2e "$ENV_FILE" sale::hub_outage || echo "F (Hub outage) failed (see above)"
stop_stack
fi

if wants S; then
stage "S1 storm, S2 faults and S4 the security list on a stack of their own"
start_stack measure-robust "${MEASURE_ROBUST_PORT:-9620}" QUEUE_VISIBILITY_SECS=30 PASS_BUDGET_SECS=10 STACK_CONCURRENCY=4
ENV_FILE="$ROOT/.stack/measure-robust/env"
e2e "$ENV_FILE" robustness::storm_of_duplicated_shuffled_and_dropped_webhooks || echo "S1 failed (see above)"
e2e "$ENV_FILE" robustness::faults_and_a_killed_processor_lose_nothing || echo "S2 failed (see above)"
e2e "$ENV_FILE" security::security_list_is_refused_queues_nothing_and_logs_no_secret || echo "S4 failed (see above)"
stop_stack
fi

if wants S3; then
  stage "S3 cargo fuzz"
  scripts/fuzz.sh || echo "S3 failed (see above)"
fi

stage "the table"
"$PYTHON" scripts/measure.py "$OUT" | tee "$OUT/table.md"
