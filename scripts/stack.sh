#!/usr/bin/env bash
# The local stack: moto (DynamoDB, SQS, KMS) with the resources of template.yaml, the Nhanh and Hub
# simulators (only for URLs the environment does not set), and every function under
# `cargo lambda watch` on the API Gateway paths at http://127.0.0.1:$PORT.
#
# Prints a line containing "ready" when requests are accepted. Before starting, every port it needs
# is checked: a taken port stops the start with one line naming the port and the variable that
# moves it (a leftover stack is never reused). Ctrl-C, SIGTERM and SIGHUP stop every process it
# started (each runs in its own process group; TERM first, KILL after STOP_GRACE_SECS).
#
# STACK_CONCURRENCY (default 1): instances per function. cargo lambda watch 1.9.2 never replaces an
# instance whose process died, so a stack whose processor is killed on purpose (make measure's S2)
# runs 2 or more: the next invocation then starts a fresh instance, as Lambda would.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

PORT="${PORT:-9000}"
MOTO_PORT="${MOTO_PORT:-4566}"
NHANH_SIM_PORT="${NHANH_SIM_PORT:-9100}"
HUB_SIM_PORT="${HUB_SIM_PORT:-9200}"
BRIDGE_PORT="${BRIDGE_PORT:-9400}"
STOP_GRACE_SECS="${STOP_GRACE_SECS:-3}"
STATE="${STACK_DIR:-$ROOT/.stack}"
LOGS="$STATE/logs"
# Given to the functions only (their AWS calls are checked against their policies).
ACTION_LOG="${AWS_ACTION_LOG:-}"
unset AWS_ACTION_LOG

PIDS=()
STOPPING=0
# Every process below this script, found by walking parent links (not by process group: `cargo
# lambda watch` starts each function in a session of its own, and a process that leaves its group
# would outlive a kill of the group).
descendants() {
  local table todo=("$$") found=() p c
  table="$(ps -eo pid=,ppid= 2>/dev/null)" || return 0
  while [ "${#todo[@]}" -gt 0 ]; do
    p="${todo[0]}"; todo=("${todo[@]:1}")
    for c in $(awk -v p="$p" '$2 == p { print $1 }' <<<"$table"); do found+=("$c"); todo+=("$c"); done
  done
  echo "${found[@]}"
}
# Stops everything started here: TERM to every process group started and to every process below
# this script, then KILL whatever is left after the grace time (the tree is taken before the first
# signal, so processes re-parented when their parent dies are still found).
cleanup() {
  local status=$?
  [ "$STOPPING" = 1 ] && return
  STOPPING=1
  trap '' INT TERM HUP PIPE
  local tree
  tree="$(descendants)"
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  # shellcheck disable=SC2086
  [ -n "$tree" ] && { kill -TERM $tree 2>/dev/null || true; }
  local deadline=$(( $(date +%s) + STOP_GRACE_SECS ))
  while [ "$(date +%s)" -le "$deadline" ]; do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    for pid in $tree; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  # shellcheck disable=SC2086
  [ -n "$tree" ] && { kill -KILL $tree 2>/dev/null || true; }
  wait 2>/dev/null || true
  # The reader of this output may be gone (SIGPIPE is ignored above): the stop is done either way.
  [ "${#PIDS[@]}" -gt 0 ] && { echo "stack: stopped" 2>/dev/null || true; }
  exit "$status"
}
# A stop signal ignores further ones before anything else: `make run` gets SIGTERM twice (the
# group's, then make's own forward to its child), and a second `exit` arriving inside the EXIT trap
# ended the script half way through `cleanup`, leaving every process of the stack running (issue 21,
# seen in about one stop in ten of a busy stack).
on_signal() {
  trap '' INT TERM HUP PIPE
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

# Runs a command in the background and waits for it, so a signal is handled at once instead of
# after a long foreground step (bash defers traps until a foreground child ends).
run() { "$@" & wait $!; }

# Stops the start when a port is already listened on (by a leftover stack or another program).
port_free() { # port, variable name
  if ! "$PYTHON" - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
  then
    echo "stack: port $1 is already in use (set $2 to another port, or stop what holds it: a leftover stack is not reused)" >&2
    exit 1
  fi
}

start() { # name, command...
  local name="$1"; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 &
  PIDS+=("$!")
}

wait_http() { # url, seconds, name of the process that must stay alive
  for _ in $(seq 1 $(( $2 * 10 ))); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    if [ -n "${3:-}" ] && ! kill -0 "${PIDS[-1]}" 2>/dev/null; then
      echo "stack: $3 exited before answering; its log ($LOGS/$3.log) ends with:" >&2
      tail -n 5 "$LOGS/$3.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "stack: $1 did not answer in $2 s" >&2
  exit 1
}

run "$ROOT/scripts/tools.sh"
export PATH="$ROOT/.tools/venv/bin:$PATH"
PYTHON="$ROOT/.tools/venv/bin/python"

port_free "$PORT" PORT
port_free "$MOTO_PORT" MOTO_PORT
port_free "$BRIDGE_PORT" BRIDGE_PORT
[ -z "${NHANH_API_URL:-}" ] && port_free "$NHANH_SIM_PORT" NHANH_SIM_PORT
[ -z "${HUB_API_URL:-}" ] && port_free "$HUB_SIM_PORT" HUB_SIM_PORT

mkdir -p "$LOGS"
rm -f "$STATE/env" "$LOGS"/*.log
[ -n "$ACTION_LOG" ] && rm -f "$ACTION_LOG"

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"

# moto with its DynamoDB requests one at a time (scripts/moto_server.py says why).
start moto "$PYTHON" "$ROOT/scripts/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT"
wait_http "$AWS_ENDPOINT_URL/moto-api/" 30 moto
export HUB_SERVICE_TOKEN="${HUB_SERVICE_TOKEN:-local-service-token}"
export HUB_WEBHOOK_SECRET="${HUB_WEBHOOK_SECRET:-local-hub-webhook-secret}"
# One secret per role (issue 22): the admin cookie's key and the status JSON's credential.
export COOKIE_SIGNING_KEY="${COOKIE_SIGNING_KEY:-local-cookie-signing-key-0123456789abcdef}"
export STATUS_API_TOKEN="${STATUS_API_TOKEN:-local-status-api-token-0123456789abcdef}"
# The local stack gives records up after 5 deliveries (the template's default is 1 000): the
# queue's redrive and the processor's MAX_RECEIVE_COUNT must agree, so it is set here, once.
export MAX_RECEIVE_COUNT="${MAX_RECEIVE_COUNT:-5}"
# The secrets go to (moto's) Secrets Manager, as in AWS: the functions get their ids, not values.
RESOURCES="$("$PYTHON" scripts/create_resources.py template.yaml "$AWS_ENDPOINT_URL" local \
  "QueueVisibilitySecs=${QUEUE_VISIBILITY_SECS:-180}" "MaxReceiveCount=$MAX_RECEIVE_COUNT" \
  "HubServiceToken=$HUB_SERVICE_TOKEN" "HubWebhookSecret=$HUB_WEBHOOK_SECRET" \
  "CookieSigningKey=$COOKIE_SIGNING_KEY" "StatusApiToken=$STATUS_API_TOKEN")"
HUB_SERVICE_TOKEN_SECRET_ID="$(echo "$RESOURCES" | sed -n 's/^HubServiceTokenSecret=//p')"
HUB_WEBHOOK_SECRET_SECRET_ID="$(echo "$RESOURCES" | sed -n 's/^HubWebhookSigningSecret=//p')"
COOKIE_SIGNING_KEY_SECRET_ID="$(echo "$RESOURCES" | sed -n 's/^CookieSigningKeySecret=//p')"
STATUS_API_TOKEN_SECRET_ID="$(echo "$RESOURCES" | sed -n 's/^StatusApiTokenSecret=//p')"
TABLE_NAME="$(echo "$RESOURCES" | sed -n 's/^ConnectorTable=//p')"
QUEUE_URL="$(echo "$RESOURCES" | sed -n 's/^WorkQueue=//p')"
DLQ_URL="$(echo "$RESOURCES" | sed -n 's/^DeadLetterQueue=//p')"
[ -n "$TABLE_NAME" ] && [ -n "$QUEUE_URL" ] || { echo "stack: resources were not created: $RESOURCES" >&2; exit 1; }
# Secrets are sealed with the template's KMS key in moto (as in AWS), unless a key is given.
if [ -z "${LOCAL_DATA_KEY:-}" ] && [ -z "${KMS_KEY_ID:-}" ]; then
  KMS_KEY_ID="$(echo "$RESOURCES" | sed -n 's/^DataKey=//p')"
fi

echo "stack: building functions and simulators"
run cargo build -q -p connect -p intake -p processor -p reconcile -p replay-dead-letters -p connector-tests --bins

DEMO_ACCOUNT="${DEMO_ACCOUNT:-385}"
DEMO_SESSION="${DEMO_SESSION:-demo-admin-session}"
if [ -z "${NHANH_API_URL:-}" ]; then
  NHANH_API_URL="http://127.0.0.1:$NHANH_SIM_PORT"
  NHANH_OAUTH_URL="${NHANH_OAUTH_URL:-$NHANH_API_URL/oauth}"
  NHANH_SIM_ADDR="127.0.0.1:$NHANH_SIM_PORT" NHANH_SIM_DEMO_APP_ID=1001 NHANH_SIM_DEMO_SECRET=demo-secret-key \
    NHANH_SIM_DEMO_BUSINESS_ID=20001 NHANH_SIM_RETRY_MS="${NHANH_SIM_RETRY_MS:-300000,600000,1800000}" \
    start nhanh-sim "${CARGO_TARGET_DIR:-target}/debug/nhanh-sim"
  wait_http "$NHANH_API_URL/_sim/calls" 30 nhanh-sim
  NHANH_SIM_URL="$NHANH_API_URL"
fi
if [ -z "${HUB_API_URL:-}" ]; then
  HUB_API_URL="http://127.0.0.1:$HUB_SIM_PORT"
  HUB_SIM_ADDR="127.0.0.1:$HUB_SIM_PORT" HUB_SIM_DEMO_SESSION="$DEMO_SESSION" HUB_SIM_DEMO_ACCOUNT="$DEMO_ACCOUNT" \
    start hub-sim "${CARGO_TARGET_DIR:-target}/debug/hub-sim"
  wait_http "$HUB_API_URL/_sim/requests" 30 hub-sim
  HUB_SIM_URL="$HUB_API_URL"
fi
PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"

ENV_ARGS=()
for name in TABLE_NAME QUEUE_URL PUBLIC_BASE_URL NHANH_API_URL NHANH_OAUTH_URL HUB_API_URL HUB_SERVICE_TOKEN_SECRET_ID \
            HUB_WEBHOOK_SECRET_SECRET_ID COOKIE_SIGNING_KEY_SECRET_ID STATUS_API_TOKEN_SECRET_ID \
            LOCAL_DATA_KEY KMS_KEY_ID AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION PASS_BUDGET_SECS DLQ_URL MAX_RECEIVE_COUNT \
            RETRY_BASE_SECS RETRY_HORIZON_SECS HUB_PROBE_SECS; do
  value="${!name:-}"
  [ -n "$value" ] && ENV_ARGS+=(--env-var "$name=$value")
done
[ -n "$ACTION_LOG" ] && ENV_ARGS+=(--env-var "AWS_ACTION_LOG=$ACTION_LOG")
ENV_ARGS+=(--env-var "RUST_LOG=${RUST_LOG:-info}")
# STACK_RELOAD=0 (the tests' stack): no hot reload, so a file written meanwhile (a git commit, an
# editor) cannot restart the functions in the middle of a test's requests.
[ "${STACK_RELOAD:-1}" = 0 ] && ENV_ARGS+=(--ignore-changes)
ENV_ARGS+=(--concurrency "${STACK_CONCURRENCY:-1}")
# WATCH_LOG: the log filter of `cargo lambda watch` itself (its RUST_LOG; the functions get theirs
# through --env-var above), e.g. `cargo_lambda=debug,tower_http=debug` to see each runtime API call.
start functions env RUST_LOG="${WATCH_LOG:-cargo_lambda=info}" cargo lambda watch -A 127.0.0.1 -P "$PORT" "${ENV_ARGS[@]}"
wait_http "http://127.0.0.1:$PORT/nhanhvn/connections/warmup" 300 functions
# Build and start each function once so the first real request does not wait for it.
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/nhanhvn/hook/0" -d '{}' || true
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/2015-03-31/functions/processor/invocations" -d '{"Records":[]}' || true
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/2015-03-31/functions/reconcile/invocations" -d '{}' || true
QUEUE_NAME="${QUEUE_URL##*/}"
rm -f "$STATE/tap.jsonl"
QUEUE_URL="$QUEUE_URL" QUEUE_ARN="arn:aws:sqs:us-east-1:123456789012:$QUEUE_NAME" LAMBDA_URL="http://127.0.0.1:$PORT" \
  BRIDGE_ADDR="127.0.0.1:$BRIDGE_PORT" TAP_FILE="$STATE/tap.jsonl" RECONCILE_INTERVAL_SECS="${RECONCILE_INTERVAL_SECS:-60}" \
  start bridge "${CARGO_TARGET_DIR:-target}/debug/queue-bridge"
wait_http "http://127.0.0.1:$BRIDGE_PORT/" 30 bridge

cat >"$STATE/env" <<ENV
CONNECTOR_URL=http://127.0.0.1:$PORT
NHANH_SIM_URL=${NHANH_SIM_URL:-}
HUB_SIM_URL=${HUB_SIM_URL:-}
HUB_SERVICE_TOKEN=$HUB_SERVICE_TOKEN
STATUS_API_TOKEN=$STATUS_API_TOKEN
HUB_WEBHOOK_SECRET=$HUB_WEBHOOK_SECRET
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
TABLE_NAME=$TABLE_NAME
QUEUE_URL=$QUEUE_URL
DLQ_URL=$DLQ_URL
KMS_KEY_ID=${KMS_KEY_ID:-}
HubServiceTokenSecret=$HUB_SERVICE_TOKEN_SECRET_ID
HubWebhookSigningSecret=$HUB_WEBHOOK_SECRET_SECRET_ID
CookieSigningKeySecret=$COOKIE_SIGNING_KEY_SECRET_ID
StatusApiTokenSecret=$STATUS_API_TOKEN_SECRET_ID
BRIDGE_URL=http://127.0.0.1:$BRIDGE_PORT
TAP_FILE=$STATE/tap.jsonl
LOG_DIR=$LOGS
ENV

echo "stack: ready on http://127.0.0.1:$PORT (logs in $LOGS)"
if [ -n "${HUB_SIM_URL:-}" ] && [ -n "${NHANH_SIM_URL:-}" ]; then
  echo "stack: open http://127.0.0.1:$PORT/nhanhvn/connect/$DEMO_ACCOUNT?session=$DEMO_SESSION to connect"
  echo "stack: demo Nhanh app: App Id 1001, Secret Key demo-secret-key (business 20001)"
fi
# Returns when a signal arrives (the trap then stops everything) or when a process ends.
while true; do
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      echo "stack: a process of the stack ended (see $LOGS); stopping" >&2
      exit 1
    fi
  done
  sleep 1 & wait $!
done
