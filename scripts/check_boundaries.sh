#!/usr/bin/env bash
# The version seam (issue 10, R15): only the Nhanh module (shared/src/nhanh/, which also builds the
# adapters in NhanhClient) may name a version's adapter. Fails, naming each line, when anything
# else does.
set -euo pipefail
cd "$(dirname "$0")/.."
found="$(grep -rnE 'nhanh::(v2|v3)\b|NhanhV[23]Client' --include='*.rs' shared functions tools tests | grep -v '^shared/src/nhanh/' || true)"
if [ -n "$found" ]; then
  echo "only shared/src/nhanh may name a Nhanh API version's adapter; found:" >&2
  echo "$found" >&2
  exit 1
fi
echo "boundaries: no code outside shared/src/nhanh names nhanh::v2 or nhanh::v3"
