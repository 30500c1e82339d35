#!/usr/bin/env bash
# Builds the dev cluster's container images without any pull; --load imports them into a containerd.
#
#   tools/images/build.sh [--load CONTAINERD_ADDRESS]
#
# Images: localhost/repairgpt-pause:3.10, localhost/repairgpt-python-standin:bookworm,
# localhost/repairgpt-app:<version> and localhost/repairgpt-operator:<version> (<version> from
# pyproject.toml). Each one is kept as a docker-archive in the cache folder, named after the hash
# of its inputs, and rebuilt only when those inputs change. Progress goes to stderr; the last
# stdout lines are the image refs, one per line. `--load` imports the archives into namespace
# k8s.io of the containerd listening on CONTAINERD_ADDRESS, skipping images it already holds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${REPAIRGPT_IMAGE_CACHE:-$HOME/.cache/repairgpt/images}"
version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/pyproject.toml" | head -n 1)"

pause_ref="localhost/repairgpt-pause:3.10"
# python:3.11-slim cannot be pulled here (no registry is reachable), so the Python images are
# built on a Debian bookworm root file system made from the Debian mirror. The Dockerfiles keep
# python:3.11-slim as their default base for builds that can reach a registry.
standin_ref="localhost/repairgpt-python-standin:bookworm"
app_ref="localhost/repairgpt-app:$version"
operator_ref="localhost/repairgpt-operator:$version"

standin_packages="python3,python3-venv,python-is-python3,ca-certificates,passwd"
# Builds from this image reach PyPI and the Debian mirror through whatever TLS chain the host
# trusts; pip bundles its own CA list, so it is pointed at the system one as well.
standin_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
# docker format keeps the app's HEALTHCHECK, which OCI image configs cannot hold.
bud_flags=(--network host --pull=never --format docker)
host_ca_bundle=/etc/ssl/certs/ca-certificates.crt
host_sources=/etc/apt/sources.list.d/debian.sources
pause_cflags="-static -O2 -Wall -DVERSION=v3.10"

log() { echo "[images] $*" >&2; }
# Tool output is progress too: prefixed, and kept off stdout, which carries only the refs.
indent() { sed -u 's/^/[images]   /' >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-0}"
}

load_address=""
while [ $# -gt 0 ]; do
    case "$1" in
        --load) [ $# -ge 2 ] || usage 2; load_address="$2"; shift 2 ;;
        -h|--help) usage 0 ;;
        *) log "unknown argument: $1"; usage 2 ;;
    esac
done

[ -n "$version" ] || die "no version in $root/pyproject.toml"
for tool in buildah mmdebstrap gcc sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install $tool)"
done
if [ -n "$load_address" ] && ! command -v ctr >/dev/null; then
    die "ctr is not installed (apt-get install containerd)"
fi

mkdir -p "$cache"
# Two callers (make images, the dev cluster) may build at once; buildah storage and the
# archives must not be written by both.
exec 9>"$cache/.lock"
flock 9

work="$(mktemp -d "${TMPDIR:-/tmp}/repairgpt-images.XXXXXX")"
containers=()
cleanup() {
    local c
    for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

sha256_of_text() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# Hashes the files under a folder by relative path and content, so timestamps and the
# checkout's location do not matter.
sha256_of_tree() {
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) \
        | sha256sum | cut -d' ' -f1
}

# name-tag-hash.tar: several versions of one image may sit side by side, old ones are pruned.
archive_for() {
    local ref="$1" key="$2" base
    base="${ref#localhost/}"
    echo "$cache/${base/:/-}-${key:0:16}.tar"
}

prune_old_archives() {
    local ref="$1" keep="$2" base old
    base="${ref#localhost/}"
    for old in "$cache/${base/:/-}"-*.tar; do
        if [ -e "$old" ] && [ "$old" != "$keep" ]; then
            log "removing the outdated $(basename "$old")"
            rm -f "$old" "$old.digest"
        fi
    done
}

# buildah writes the archive under a temporary name first, so an interrupted export never
# looks like a finished one on the next run.
export_archive() {
    local ref="$1" archive="$2"
    rm -f "$archive.partial" "$archive.digest"
    buildah push --quiet "$ref" "docker-archive:$archive.partial:$ref" >/dev/null
    mv "$archive.partial" "$archive"
    prune_old_archives "$ref" "$archive"
}

# Rebuilding a ref leaves its previous image untagged in buildah storage; without this, every
# source change would keep another few hundred MB there.
image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true; }
remove_replaced() {
    local ref="$1" old="$2"
    if [ -n "$old" ] && [ "$old" != "$(image_id "$ref")" ]; then
        buildah rmi "$old" >/dev/null 2>&1 || true
    fi
}

# True when buildah holds REF built from the inputs hashed to KEY.
buildah_has() {
    local ref="$1" key="$2" label
    label="$(buildah inspect --type image \
        --format '{{index .OCIv1.Config.Labels "io.repairgpt.inputs"}}' "$ref" 2>/dev/null || true)"
    [ "$label" = "$key" ]
}

# True when REF need not be built: its archive is there, or buildah still holds the image made
# from the same inputs (say, after the cache folder was cleared) and it is only exported again.
is_cached() {
    local ref="$1" key="$2" archive="$3"
    if [ -f "$archive" ]; then
        log "$ref: cached ($(basename "$archive"))"
    elif buildah_has "$ref" "$key"; then
        log "$ref: cached in buildah storage, exporting $(basename "$archive")"
        export_archive "$ref" "$archive"
    else
        return 1
    fi
}

find_pause_source() {
    local go dir
    # The Kubernetes build knows which Go it needs and installs one if the machine has none.
    go="$(bash "$root/tools/k8s/build.sh" --print-go 2> >(indent) | tail -n 1)"
    dir="$(cd "$root/tools/k8s" && "$go" mod download -json k8s.io/kubernetes \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -f "$dir/build/pause/linux/pause.c" ] || die "no build/pause/linux/pause.c in $dir"
    echo "$dir/build/pause/linux/pause.c"
}

build_pause() {
    local src key archive c old
    src="$(find_pause_source)"
    key="$(sha256_of_text "pause|$pause_cflags|$(gcc --version | head -n 1)|$(sha256sum <"$src")")"
    archive="$(archive_for "$pause_ref" "$key")"
    if is_cached "$pause_ref" "$key" "$archive"; then
        pause_archive="$archive"
        return
    fi
    log "$pause_ref: compiling $src"
    # shellcheck disable=SC2086 # the flags are one word each on purpose
    gcc $pause_cflags -o "$work/pause" "$src"
    old="$(image_id "$pause_ref")"
    c="$(buildah from scratch)"
    containers+=("$c")
    buildah copy --quiet --chmod 0755 "$c" "$work/pause" /pause >/dev/null
    # The same user and entrypoint as registry.k8s.io/pause.
    buildah config --entrypoint '["/pause"]' --user 65535:65535 \
        --label "io.repairgpt.inputs=$key" "$c"
    buildah commit --quiet --rm "$c" "$pause_ref" >/dev/null
    containers=()
    remove_replaced "$pause_ref" "$old"
    export_archive "$pause_ref" "$archive"
    log "$pause_ref: built"
    pause_archive="$archive"
}

build_standin() {
    local key archive rootfs c old
    key="$(sha256_of_text "standin|$standin_packages|${standin_env[*]}
        |$(sha256sum <"$host_ca_bundle")|$(sha256sum <"$host_sources")")"
    standin_key="$key"
    archive="$(archive_for "$standin_ref" "$key")"
    if is_cached "$standin_ref" "$key" "$archive"; then
        # The Python builds below start FROM it, so buildah must hold it too.
        if ! buildah_has "$standin_ref" "$key"; then
            log "$standin_ref: restoring it into buildah from the archive"
            buildah pull --quiet "docker-archive:$archive" >/dev/null
        fi
        standin_archive="$archive"
        return
    fi
    log "$standin_ref: mmdebstrap bookworm ($standin_packages)"
    rootfs="$work/standin-rootfs.tar"
    # The host's sources file doubles as the mirror list, so the image's apt uses the same mirror.
    mmdebstrap --quiet --variant=minbase --include="$standin_packages" \
        bookworm "$rootfs" "$host_sources" 2>&1 | indent
    old="$(image_id "$standin_ref")"
    c="$(buildah from scratch)"
    containers+=("$c")
    buildah add --quiet "$c" "$rootfs" / >/dev/null
    buildah copy --quiet --chmod 0644 "$c" "$host_ca_bundle" /etc/ssl/certs/ca-certificates.crt \
        >/dev/null
    buildah config "${standin_env[@]/#/--env=}" --cmd python3 \
        --label "io.repairgpt.inputs=$key" "$c"
    buildah commit --quiet --rm "$c" "$standin_ref" >/dev/null
    containers=()
    remove_replaced "$standin_ref" "$old"
    export_archive "$standin_ref" "$archive"
    log "$standin_ref: built"
    standin_archive="$archive"
}

# build_python_image REF DOCKERFILE PATH... : builds from a context that holds only PATHs, so
# the hash covers exactly what the Dockerfile can COPY.
build_python_image() {
    local ref="$1" dockerfile="$2" context key archive old
    shift 2
    context="$work/context-${ref##*/}"
    mkdir -p "$context"
    tar -C "$root" --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' -cf - "$@" \
        | tar -C "$context" -xf -
    # The base's key is part of the hash: a new stand-in (a new CA bundle, say) means new images.
    key="$(sha256_of_text "$(sha256sum <"$root/$dockerfile")|${bud_flags[*]}
        |PYTHON_IMAGE=$standin_ref|$standin_key|$(sha256_of_tree "$context")")"
    archive="$(archive_for "$ref" "$key")"
    if is_cached "$ref" "$key" "$archive"; then
        python_archive="$archive"
        return
    fi
    log "$ref: buildah bud -f $dockerfile (pip and apt inside the build take a few minutes)"
    old="$(image_id "$ref")"
    buildah bud "${bud_flags[@]}" \
        --build-arg "PYTHON_IMAGE=$standin_ref" \
        --label "io.repairgpt.inputs=$key" \
        -f "$root/$dockerfile" -t "$ref" "$context" 2>&1 | indent
    remove_replaced "$ref" "$old"
    export_archive "$ref" "$archive"
    log "$ref: built"
    python_archive="$archive"
}

# The digest containerd gives an imported archive is remembered next to it, so a later load can
# tell the containerd already holds exactly this image.
load_archive() {
    local ref="$1" archive="$2" want have
    want="$(cat "$archive.digest" 2>/dev/null || true)"
    have="$(ctr -a "$load_address" -n k8s.io images ls 2>/dev/null \
        | awk -v ref="$ref" '$1 == ref {print $3}')"
    if [ -n "$want" ] && [ "$want" = "$have" ]; then
        log "$ref: already in containerd ($have)"
        return
    fi
    log "$ref: importing into containerd at $load_address"
    ctr -a "$load_address" -n k8s.io images import "$archive" 2>&1 | indent
    have="$(ctr -a "$load_address" -n k8s.io images ls \
        | awk -v ref="$ref" '$1 == ref {print $3}')"
    [ -n "$have" ] || die "$ref is not listed by ctr after the import of $archive"
    echo "$have" >"$archive.digest"
}

build_pause
build_standin
build_python_image "$app_ref" Dockerfile.app pyproject.toml README.md app operator contract
app_archive="$python_archive"
build_python_image "$operator_ref" Dockerfile.operator pyproject.toml README.md operator contract
operator_archive="$python_archive"

if [ -n "$load_address" ]; then
    load_archive "$pause_ref" "$pause_archive"
    load_archive "$standin_ref" "$standin_archive"
    load_archive "$app_ref" "$app_archive"
    load_archive "$operator_ref" "$operator_archive"
fi

log "archives in $cache"
printf '%s\n' "$pause_ref" "$standin_ref" "$app_ref" "$operator_ref"
