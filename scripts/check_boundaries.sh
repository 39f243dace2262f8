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

# Parse at the edge (issue 25): untyped JSON stays in the adapters (nhanh/, hub/, store/, web/);
# the use cases and the domain see typed records only.
found="$(grep -rnE '\bValue\b' --include='*.rs' shared/src/services shared/src/domain || true)"
if [ -n "$found" ]; then
  echo "shared/src/services and shared/src/domain must not name serde_json::Value; found:" >&2
  echo "$found" >&2
  exit 1
fi
echo "boundaries: no serde_json::Value in shared/src/services or shared/src/domain"
