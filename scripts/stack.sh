#!/usr/bin/env bash
# The local stack: moto (DynamoDB, SQS) with the resources of template.yaml, the Nhanh and Hub
# simulators (only for URLs the environment does not set), and every function under
# `cargo lambda watch` on the API Gateway paths at http://127.0.0.1:$PORT.
# Prints a line containing "ready" when requests are accepted; stops all it started on Ctrl-C/TERM.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/tools.sh"
export PATH="$ROOT/.tools/venv/bin:$PATH"

PORT="${PORT:-9000}"
MOTO_PORT="${MOTO_PORT:-4566}"
NHANH_SIM_PORT="${NHANH_SIM_PORT:-9100}"
HUB_SIM_PORT="${HUB_SIM_PORT:-9200}"
BRIDGE_PORT="${BRIDGE_PORT:-9400}"
STATE="${STACK_DIR:-$ROOT/.stack}"
LOGS="$STATE/logs"
mkdir -p "$LOGS"
rm -f "$STATE/env" "$LOGS"/*.log

PIDS=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  echo "stack: stopped"
}
trap cleanup INT TERM EXIT

start() { # name, command...
  local name="$1"; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 &
  PIDS+=("$!")
}

wait_http() { # url, seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  echo "stack: $1 did not answer in $2 s" >&2
  return 1
}

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"

start moto moto_server -H 127.0.0.1 -p "$MOTO_PORT"
wait_http "$AWS_ENDPOINT_URL/moto-api/" 30
RESOURCES="$("$ROOT/.tools/venv/bin/python" scripts/create_resources.py template.yaml "$AWS_ENDPOINT_URL" local \
  "QueueVisibilitySecs=${QUEUE_VISIBILITY_SECS:-180}" "MaxReceiveCount=${MAX_RECEIVE_COUNT:-5}")"
TABLE_NAME="$(echo "$RESOURCES" | sed -n 's/^ConnectorTable=//p')"
QUEUE_URL="$(echo "$RESOURCES" | sed -n 's/^WorkQueue=//p')"
DLQ_URL="$(echo "$RESOURCES" | sed -n 's/^DeadLetterQueue=//p')"
[ -n "$TABLE_NAME" ] && [ -n "$QUEUE_URL" ] || { echo "stack: resources were not created: $RESOURCES" >&2; exit 1; }

echo "stack: building functions and simulators"
cargo build -q -p connect -p intake -p processor -p reconcile -p replay-dead-letters -p connector-tests --bins

export HUB_SERVICE_TOKEN="${HUB_SERVICE_TOKEN:-local-service-token}"
export HUB_WEBHOOK_SECRET="${HUB_WEBHOOK_SECRET:-local-hub-webhook-secret}"
if [ -z "${LOCAL_DATA_KEY:-}" ] && [ -z "${KMS_KEY_ID:-}" ]; then
  [ -f "$STATE/data.key" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE/data.key"
  LOCAL_DATA_KEY="$(cat "$STATE/data.key")"
fi
DEMO_ACCOUNT="${DEMO_ACCOUNT:-385}"
DEMO_SESSION="${DEMO_SESSION:-demo-admin-session}"
if [ -z "${NHANH_API_URL:-}" ]; then
  NHANH_API_URL="http://127.0.0.1:$NHANH_SIM_PORT"
  NHANH_OAUTH_URL="${NHANH_OAUTH_URL:-$NHANH_API_URL/oauth}"
  NHANH_SIM_ADDR="127.0.0.1:$NHANH_SIM_PORT" NHANH_SIM_DEMO_APP_ID=1001 NHANH_SIM_DEMO_SECRET=demo-secret-key \
    NHANH_SIM_DEMO_BUSINESS_ID=20001 NHANH_SIM_RETRY_MS="${NHANH_SIM_RETRY_MS:-300000,600000,1800000}" \
    start nhanh-sim target/debug/nhanh-sim
  wait_http "$NHANH_API_URL/_sim/calls" 30
  NHANH_SIM_URL="$NHANH_API_URL"
fi
if [ -z "${HUB_API_URL:-}" ]; then
  HUB_API_URL="http://127.0.0.1:$HUB_SIM_PORT"
  HUB_SIM_ADDR="127.0.0.1:$HUB_SIM_PORT" HUB_SIM_DEMO_SESSION="$DEMO_SESSION" HUB_SIM_DEMO_ACCOUNT="$DEMO_ACCOUNT" \
    start hub-sim target/debug/hub-sim
  wait_http "$HUB_API_URL/_sim/requests" 30
  HUB_SIM_URL="$HUB_API_URL"
fi
PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"

ENV_ARGS=()
for name in TABLE_NAME QUEUE_URL PUBLIC_BASE_URL NHANH_API_URL NHANH_OAUTH_URL HUB_API_URL HUB_SERVICE_TOKEN HUB_WEBHOOK_SECRET \
            LOCAL_DATA_KEY KMS_KEY_ID AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION PASS_BUDGET_SECS; do
  value="${!name:-}"
  [ -n "$value" ] && ENV_ARGS+=(--env-var "$name=$value")
done
ENV_ARGS+=(--env-var "RUST_LOG=${RUST_LOG:-info}")
start functions cargo lambda watch -A 127.0.0.1 -P "$PORT" "${ENV_ARGS[@]}"
wait_http "http://127.0.0.1:$PORT/nhanhvn/connections/warmup" 300
# Build and start each function once so the first real request does not wait for it.
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/nhanhvn/hook/0" -d '{}' || true
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/2015-03-31/functions/processor/invocations" -d '{"Records":[]}' || true
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/2015-03-31/functions/reconcile/invocations" -d '{}' || true
QUEUE_NAME="${QUEUE_URL##*/}"
rm -f "$STATE/tap.jsonl"
QUEUE_URL="$QUEUE_URL" QUEUE_ARN="arn:aws:sqs:us-east-1:123456789012:$QUEUE_NAME" LAMBDA_URL="http://127.0.0.1:$PORT" \
  BRIDGE_ADDR="127.0.0.1:$BRIDGE_PORT" TAP_FILE="$STATE/tap.jsonl" RECONCILE_INTERVAL_SECS="${RECONCILE_INTERVAL_SECS:-60}" \
  start bridge target/debug/queue-bridge

cat >"$STATE/env" <<ENV
CONNECTOR_URL=http://127.0.0.1:$PORT
NHANH_SIM_URL=${NHANH_SIM_URL:-}
HUB_SIM_URL=${HUB_SIM_URL:-}
HUB_SERVICE_TOKEN=$HUB_SERVICE_TOKEN
HUB_WEBHOOK_SECRET=$HUB_WEBHOOK_SECRET
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
TABLE_NAME=$TABLE_NAME
QUEUE_URL=$QUEUE_URL
DLQ_URL=$DLQ_URL
BRIDGE_URL=http://127.0.0.1:$BRIDGE_PORT
TAP_FILE=$STATE/tap.jsonl
LOG_DIR=$LOGS
ENV

echo "stack: ready on http://127.0.0.1:$PORT (logs in $LOGS)"
if [ -n "${HUB_SIM_URL:-}" ] && [ -n "${NHANH_SIM_URL:-}" ]; then
  echo "stack: open http://127.0.0.1:$PORT/nhanhvn/connect/$DEMO_ACCOUNT?session=$DEMO_SESSION to connect"
  echo "stack: demo Nhanh app: App Id 1001, Secret Key demo-secret-key (business 20001)"
fi
wait
