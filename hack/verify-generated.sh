#!/usr/bin/env bash
# Fails when generated files (deepcopy, CRDs, RBAC, the chart's copies) do not match what the
# generators make from the current sources. It regenerates them in place, so after a failure the
# tree holds the right files, ready to commit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

generated=(api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml charts/kizuna/crds charts/kizuna/files)
fingerprint() { find "${generated[@]}" -type f -print0 | sort -z | xargs -0 sha256sum; }

before="$(fingerprint)"
make --no-print-directory manifests generate >/dev/null
after="$(fingerprint)"
if [[ "${before}" != "${after}" ]]; then
  echo "generated files were stale and have been regenerated; commit them:" >&2
  diff <(echo "${before}") <(echo "${after}") | sed -n 's/^> [0-9a-f]*  /  /p' >&2
  exit 1
fi

unformatted="$(gofmt -l $(git ls-files --cached --others --exclude-standard '*.go'))"
if [[ -n "${unformatted}" ]]; then
  echo "gofmt would change these files (run make fmt):" >&2
  echo "${unformatted}" >&2
  exit 1
fi
