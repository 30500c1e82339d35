#!/usr/bin/env bash
# Builds the pinned Prometheus and promtool (from tools/prometheus/go.mod, without the web UI's
# assets) into $REPAIRGPT_PROMETHEUS_CACHE/<version>/bin, skipping binaries already there, and
# prints that folder. The Go toolchain is the one tools/k8s/build.sh picks.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(awk '$1 == "github.com/prometheus/prometheus" {print $2; exit}' "$here/go.mod")"
cache="${REPAIRGPT_PROMETHEUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/repairgpt/prometheus}"
bin="$cache/$version/bin"

log() { printf '[prometheus-build] %s\n' "$*" >&2; }

# One build at a time (parallel test workers): the others wait, then find the binaries.
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9

missing=()
for name in prometheus promtool; do
    [ -x "$bin/$name" ] || missing+=("$name")
done
if [ ${#missing[@]} -eq 0 ]; then
    log "Prometheus $version is cached in $bin"
    echo "$bin"
    exit 0
fi

GO="$(bash "$here/../k8s/build.sh" --print-go)"
log "building Prometheus $version with $("$GO" version) into $bin"
log "the first build takes several minutes; later runs reuse it"
mkdir -p "$bin"
cd "$here"

# The Go module's v0.316.0 is Prometheus 3.16.0.
minor="$(echo "$version" | cut -d. -f2)"
release="3.$((minor - 300)).$(echo "$version" | cut -d. -f3)"
pkg=github.com/prometheus/common/version
ldflags="-s -w -X $pkg.Version=$release -X $pkg.Revision=$version -X $pkg.Branch=release"
ldflags+=" -X $pkg.BuildUser=repairgpt -X $pkg.BuildDate=19700101-00:00:00"

for name in "${missing[@]}"; do
    start=$SECONDS
    log "$name"
    # Built to a temporary name first so that an interrupted build never leaves a broken binary.
    CGO_ENABLED=0 GOFLAGS=-mod=mod "$GO" build -trimpath -tags netgo -ldflags "$ldflags" \
        -o "$bin/.$name.tmp" "github.com/prometheus/prometheus/cmd/$name"
    mv "$bin/.$name.tmp" "$bin/$name"
    log "$name built in $((SECONDS - start)) s"
done
log "done: $bin ($(du -sh "$bin" | cut -f1))"
echo "$bin"
