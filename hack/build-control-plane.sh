#!/usr/bin/env bash
# Builds the parts of a Kubernetes control plane that Kizuna's tests and demo need
# (kube-apiserver, kube-controller-manager, kubectl, etcd) from Go modules, because
# these machines have neither Docker nor access to release downloads.
#
# The binaries are cached outside the repository, keyed by version, and rebuilt only
# when missing. Prints the folder that holds them (KUBEBUILDER_ASSETS) on stdout;
# progress goes to stderr.
#
#   hack/build-control-plane.sh            build what is missing, print the folder
#   hack/build-control-plane.sh --print    print the folder without building
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"
CACHE_ROOT="${KIZUNA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kizuna}"
BIN_DIR="${CACHE_ROOT}/control-plane/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"

log() { echo "build-control-plane: $*" >&2; }
die() { echo "build-control-plane: error: $*" >&2; exit 1; }

if [[ "${1:-}" == "--print" ]]; then
  echo "${BIN_DIR}"
  exit 0
fi

command -v go >/dev/null || die "Go is not installed or not on PATH; install Go 1.26 or newer"

mkdir -p "${BIN_DIR}"

k8s_parts=()
for part in kube-apiserver kube-controller-manager kubectl; do
  [[ -x "${BIN_DIR}/${part}" ]] || k8s_parts+=("${part}")
done

# Version stamps, so that the binaries report their real version (kubectl version,
# the apiserver's /version endpoint).
k8s_minor="${K8S_VERSION#v1.}"
k8s_minor="${k8s_minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${k8s_minor}"
  ldflags+=" -X ${pkg}.gitTreeState=clean"
done

if ((${#k8s_parts[@]} > 0)); then
  # k8s.io/kubernetes replaces its staging modules with local folders that its module
  # zip does not contain, so `go install k8s.io/kubernetes/cmd/...@version` is refused.
  # A throwaway wrapper module pins each staging module to its published version.
  work="${CACHE_ROOT}/control-plane/wrapper-k8s-${K8S_VERSION}"
  mkdir -p "${work}"
  log "building ${k8s_parts[*]} ${K8S_VERSION} (the first build takes about 8 minutes on 2 cores)"

  k8s_gomod="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')"
  [[ -f "${k8s_gomod}" ]] || die "could not download k8s.io/kubernetes@${K8S_VERSION} from the Go module proxy"
  go_line="$(grep -m1 '^go ' "${k8s_gomod}")"
  staging_version="v0.${K8S_VERSION#v1.}"

  {
    echo "module kizuna.local/control-plane-k8s"
    echo
    echo "${go_line}"
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    sed -n 's#^\s*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#replace \1 => \1 '"${staging_version}"'#p' "${k8s_gomod}"
  } > "${work}/go.mod"
  {
    echo "//go:build tools"
    echo
    echo "package tools"
    echo
    echo "import ("
    for part in kube-apiserver kube-controller-manager kubectl; do
      echo "	_ \"k8s.io/kubernetes/cmd/${part}\""
    done
    echo ")"
  } > "${work}/tools.go"

  (
    cd "${work}"
    GOFLAGS=-mod=mod go mod tidy >&2 || die "go mod tidy failed for the Kubernetes wrapper module in ${work}"
    for part in "${k8s_parts[@]}"; do
      log "go build k8s.io/kubernetes/cmd/${part}"
      CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${BIN_DIR}/${part}.tmp" "k8s.io/kubernetes/cmd/${part}" \
        || die "building ${part} failed; see the compiler output above"
      mv "${BIN_DIR}/${part}.tmp" "${BIN_DIR}/${part}"
    done
  )
fi

if [[ ! -x "${BIN_DIR}/etcd" ]]; then
  # etcd's server module is `package main` at its root; its requires are real versions,
  # so a wrapper with one require is enough.
  work="${CACHE_ROOT}/control-plane/wrapper-etcd-${ETCD_VERSION}"
  mkdir -p "${work}"
  log "building etcd ${ETCD_VERSION}"
  cat > "${work}/go.mod" <<MOD
module kizuna.local/control-plane-etcd

go 1.25

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
MOD
  cat > "${work}/tools.go" <<'SRC'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
SRC
  (
    cd "${work}"
    GOFLAGS=-mod=mod go mod tidy >&2 || die "go mod tidy failed for the etcd wrapper module in ${work}"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/etcd.tmp" go.etcd.io/etcd/server/v3 \
      || die "building etcd failed; see the compiler output above"
    mv "${BIN_DIR}/etcd.tmp" "${BIN_DIR}/etcd"
  )
fi

for part in kube-apiserver kube-controller-manager kubectl etcd; do
  [[ -x "${BIN_DIR}/${part}" ]] || die "${part} is missing from ${BIN_DIR} after the build"
done
log "control plane ready in ${BIN_DIR}"
echo "${BIN_DIR}"
