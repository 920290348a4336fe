#!/usr/bin/env bash
# Copies the generated CRDs and the manager's RBAC rules into the Helm chart, which cannot read
# files outside its own folder. `make manifests` runs it; `make verify` fails when it was not run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
chart="${root}/charts/kizuna"
rm -f "${chart}"/crds/*.yaml
cp "${root}"/config/crd/bases/*.yaml "${chart}/crds/"
cp "${root}/config/rbac/role.yaml" "${chart}/files/manager-role.yaml"
