#!/usr/bin/env bash
# Puts the prometheus-operator CRDs that RepairGPTInstances use (ServiceMonitor, PodMonitor,
# PrometheusRule) into $REPAIRGPT_PROMETHEUS_OPERATOR_CRDS_CACHE/<version>/ and prints that
# folder. They come from the module zip of github.com/prometheus-operator/prometheus-operator
# (example/prometheus-operator-crd/), fetched through the Go module proxy; a second run reuses
# the cached files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
cache="${REPAIRGPT_PROMETHEUS_OPERATOR_CRDS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/repairgpt/prometheus-operator-crds}"
out="$cache/$version"
kinds=(servicemonitors podmonitors prometheusrules)

log() { printf '[prometheus-operator-crds] %s\n' "$*" >&2; }

complete() {
    local kind
    for kind in "${kinds[@]}"; do
        [ -s "$out/monitoring.coreos.com_$kind.yaml" ] || return 1
    done
}

if ! complete; then
    go="$("$here/../k8s/build.sh" --print-go)"
    log "downloading github.com/prometheus-operator/prometheus-operator@$version"
    # Outside any module: `go mod download` then only needs the module itself.
    dir="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod "$go" mod download -json \
        "github.com/prometheus-operator/prometheus-operator@$version" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
    mkdir -p "$out.tmp"
    for kind in "${kinds[@]}"; do
        cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$out.tmp/"
    done
    chmod u+w "$out.tmp"/*.yaml
    rm -rf "$out"
    mv "$out.tmp" "$out"
fi
printf '%s\n' "$out"
