#!/usr/bin/env bash
# `make screenshots` (issue 26): the connection page in each state (connect form, confirmation,
# syncing, healthy, failing, disconnected), at 1280 px and 390 px, into docs/. It starts a stack
# of its own and runs the browser test that clicks through them (tests/e2e/clicks.rs), with
# SCREENSHOT_DIR pointing at docs/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/tools.sh"
export PATH="$ROOT/.tools/venv/bin:$PATH"
cargo build -q -p connect -p intake -p processor -p reconcile -p connector-tests --bins
cargo test -q -p connector-tests --features e2e --test e2e --no-run
name=screenshots-stack port="${SCREENSHOTS_PORT:-9650}" dir="$ROOT/.stack/screenshots-stack"
rm -rf "$dir"
STACK_RELOAD=0 PORT="$port" MOTO_PORT="$((port + 1))" NHANH_SIM_PORT="$((port + 2))" HUB_SIM_PORT="$((port + 3))" BRIDGE_PORT="$((port + 4))" \
  STACK_DIR="$dir" scripts/stack.sh >"$ROOT/.stack/$name.out" 2>&1 &
STACK_PID=$!
trap 'kill -TERM "$STACK_PID" 2>/dev/null || true; wait "$STACK_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q "ready" "$ROOT/.stack/$name.out" 2>/dev/null && break
  kill -0 "$STACK_PID" 2>/dev/null || { cat "$ROOT/.stack/$name.out"; exit 1; }
  sleep 0.5
done
SCREENSHOT_DIR="$ROOT/docs" STACK_ENV_FILE="$dir/env" \
  cargo test -q -p connector-tests --features e2e --test e2e -- --exact clicks::a_merchant_connects_retries_syncs_and_disconnects_by_clicking
ls -1 "$ROOT"/docs/connection-*.png
