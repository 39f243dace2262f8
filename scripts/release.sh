#!/usr/bin/env bash
# `make release`: the deployable artefacts, measured. Builds every function's zip for Lambda
# (`cargo lambda build --release --arm64 --output-format zip`, what the template's
# rust-cargolambda build method runs), prints each zip's size against the 5 MB goal, builds the
# same functions natively to time a local cold start (scripts/coldstart.py, no network), and runs
# `sam validate --lint` offline. Release builds take several minutes each, so this is not part of
# `make test`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/tools.sh"
export PATH="$ROOT/.tools/venv/bin:$PATH"
FUNCTIONS=(connect intake processor reconcile)
PKGS=(); for f in "${FUNCTIONS[@]}"; do PKGS+=(-p "$f"); done

rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

echo "== cargo lambda build --release --arm64 (zip per function)"
start=$(date +%s)
cargo lambda build --release --arm64 --output-format zip "${PKGS[@]}"
echo "built in $(( $(date +%s) - start )) s"

echo "== zip sizes (goal: at most 5 MB each)"
over=0
for f in "${FUNCTIONS[@]}"; do
  zip="target/lambda/$f/bootstrap.zip"
  bytes=$(stat -c %s "$zip")
  awk -v f="$f" -v b="$bytes" -v z="$zip" 'BEGIN { printf "%-10s %8.2f MB  %s\n", f, b / 1048576, z }'
  [ "$bytes" -le $(( 5 * 1024 * 1024 )) ] || over=1
done

echo "== local cold start (native release build of the same code)"
cargo build -q --release "${PKGS[@]}"
"$ROOT/.tools/venv/bin/python" scripts/coldstart.py target/release 7

echo "== sam validate --lint (offline)"
SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$ROOT/.tools/sam/bin/sam" validate --lint --region us-east-1

[ "$over" = 0 ] || { echo "a zip is over 5 MB" >&2; exit 1; }
