#!/usr/bin/env bash
# Installs llama.cpp's own `llama-server` (which also speaks Anthropic's Messages API,
# `/v1/messages`) into a virtualenv's bin folder, built from the llama.cpp sources vendored in a
# llama-cpp-python sdist for the same portable x86-64 baseline as install-llama-server.sh.
#
# The binary is built once per version and flag set into a cache folder named after both, and
# linked statically so that it runs from there without the build tree.
#
#   scripts/install-llama-messages-server.sh VENV_DIR
set -euo pipefail

venv="${1:?usage: install-llama-messages-server.sh VENV_DIR}"
# A llama-cpp-python release whose vendored llama.cpp serves /v1/messages (0.3.16's does not).
version="0.3.36"
# x86-64-v3 (AVX2, FMA, F16C), as in install-llama-server.sh: never the build host's own CPU.
flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
flags+=" -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF"
flags+=" -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
flags+=" -DGGML_OPENMP=OFF"
# A self-contained server: no shared libraries, no network client, no web UI (whose prebuilt
# assets would otherwise be downloaded at build time).
flags+=" -DBUILD_SHARED_LIBS=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF"
flags+=" -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
flags+=" -DCMAKE_BUILD_TYPE=Release"

key="$(printf '%s\n' "$version" "$flags" "$(uname -m)" | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/repairgpt/llama-server/$version-$key"
target="$venv/bin/llama-server"
stamp="$venv/.llama-server-$key"

log() { printf '[llama-server] %s\n' "$*" >&2; }

if [ -x "$target" ] && [ -f "$stamp" ]; then
    exit 0
fi

if [ ! -x "$cache/llama-server" ]; then
    log "building llama.cpp's llama-server from llama-cpp-python $version (5 to 15 minutes)"
    log "cmake flags: $flags"
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/llama-server-build.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    "$venv/bin/python" -m pip download --quiet --no-deps --no-binary :all: \
        -d "$tmp" "llama-cpp-python==$version"
    tar -xzf "$tmp"/llama_cpp_python-"$version".tar.gz -C "$tmp"
    src="$tmp/llama_cpp_python-$version/vendor/llama.cpp"
    # shellcheck disable=SC2086 # $flags is a list of words on purpose
    cmake -S "$src" -B "$tmp/build" $flags >"$tmp/configure.log" 2>&1 \
        || { tail -n 40 "$tmp/configure.log" >&2; exit 1; }
    cmake --build "$tmp/build" --target llama-server -j"$(nproc)" >"$tmp/build.log" 2>&1 \
        || { tail -n 40 "$tmp/build.log" >&2; exit 1; }
    mkdir -p "$cache.tmp.$$"
    cp "$tmp/build/bin/llama-server" "$cache.tmp.$$/llama-server"
    rm -rf "$cache"
    mv "$cache.tmp.$$" "$cache"
fi
log "installing llama-server from $cache"
mkdir -p "$venv/bin"
cp "$cache/llama-server" "$target"
rm -f "$venv"/.llama-server-*
touch "$stamp"
