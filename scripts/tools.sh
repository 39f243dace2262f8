#!/usr/bin/env bash
# Installs the local tools into .tools/ (ignored by git). Idempotent: a second run only checks.
# Python packages go through uv (see below).
#   moto[server] (DynamoDB + SQS + CloudFormation emulator), cargo-lambda (watch/invoke),
#   cfn-lint 1.53.3 (the last version that runs the SAM transform), aws-sam-cli (sam validate
#   --lint, offline), Debian's Chromium and chromedriver, and axe-core (npm) for the browser tests.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.tools/venv"
# uv (from PyPI) installs the same pinned packages as pip in seconds instead of minutes: a cold
# `make test` spent 190 s here with pip. Its cache sits beside the venvs (one filesystem, hard links).
UV="$ROOT/.tools/uv/bin/uv"
export UV_CACHE_DIR="$ROOT/.tools/uv-cache"
if [ ! -x "$UV" ]; then
  echo "tools: installing uv into $ROOT/.tools/uv"
  python3 -m venv "$ROOT/.tools/uv"
  "$ROOT/.tools/uv/bin/pip" install -q --disable-pip-version-check 'uv==0.13.9'
fi
STAMP="$ROOT/.tools/stamp-v2"
if [ ! -f "$STAMP" ]; then
  echo "tools: creating $VENV"
  rm -rf "$VENV"
  "$UV" venv -q "$VENV"
  "$UV" pip install -q --python "$VENV/bin/python" 'moto[server]==5.2.5' 'cargo-lambda==1.9.2' 'cfn-lint==1.53.3' 'pyyaml>=6'
  touch "$STAMP"
fi
# sam-cli in a venv of its own: it bundles a newer cfn-lint than the pinned one above.
SAM_STAMP="$ROOT/.tools/stamp-sam-v2"
if [ ! -f "$SAM_STAMP" ]; then
  echo "tools: installing aws-sam-cli into $ROOT/.tools/sam (for sam validate --lint)"
  rm -rf "$ROOT/.tools/sam"
  "$UV" venv -q "$ROOT/.tools/sam"
  "$UV" pip install -q --python "$ROOT/.tools/sam/bin/python" 'aws-sam-cli==1.170.0'
  touch "$SAM_STAMP"
fi
# Debian's Chromium and its chromedriver (one package version: they must match) for the browser
# tests, which drive the page through WebDriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "tools: installing Debian chromium and chromium-driver (browser tests)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null) \
      || echo "tools: chromium could not be installed; the browser tests will fail" >&2
  else
    echo "tools: chromium or chromedriver missing and cannot be installed here; the browser tests will fail" >&2
  fi
fi
# axe-core (npm), which the browser tests run in the page in each state.
AXE="$ROOT/.tools/axe/node_modules/axe-core/axe.min.js"
if [ ! -f "$AXE" ]; then
  echo "tools: installing axe-core 4.10.3 from npm into $ROOT/.tools/axe"
  mkdir -p "$ROOT/.tools/axe"
  # A package.json of its own, so npm installs here and not into a package found further up.
  printf '{"private": true}\n' > "$ROOT/.tools/axe/package.json"
  (cd "$ROOT/.tools/axe" && npm install --silent --no-audit --no-fund axe-core@4.10.3 >/dev/null) \
    || echo "tools: axe-core could not be installed; the browser tests will fail" >&2
fi
